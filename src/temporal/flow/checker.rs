//! The red–black layout of a pyramid level: the pixels of each colour of the checkerboard in a
//! plane of their own, padded so that every pixel's four neighbours are the same and the shifted
//! slots of the other colour's rows (after OpenCV's `RedBlackBuffer`).

use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelIterator};
use rayon::slice::ParallelSliceMut;

use super::pyramid::{rows_per_task, Plane};

/// The red–black layout of a w×h level. Pixel (x, y) has colour c = (x + y) % 2 and sits in slot
/// x / 2 + 1 of row y + 1 of its colour's plane: a row of zeros above and below and a column on
/// each side give every neighbour a slot. Of the other colour's plane, in the same row, the left
/// neighbour is slot x / 2 + first and the right one x / 2 + first + 1, where first (0 or 1) is
/// the x of the row's first pixel of colour c; the upper and lower ones are slot x / 2 + 1 of the
/// rows above and below.
#[derive(Clone, Copy)]
pub(super) struct Grid {
    pub(super) w: usize,
    pub(super) h: usize,
    /// Slots per row: w / 2 rounded up, plus the two padding columns.
    pub(super) stride: usize,
}

impl Grid {
    pub(super) fn new(w: usize, h: usize) -> Grid {
        Grid {
            w,
            h,
            stride: w.div_ceil(2) + 2,
        }
    }

    /// The x of the first pixel of colour `c` in row `y`.
    #[inline(always)]
    pub(super) fn first(y: usize, c: usize) -> usize {
        (y + c) % 2
    }

    /// How many pixels of colour `c` row `y` holds.
    #[inline(always)]
    pub(super) fn len(&self, y: usize, c: usize) -> usize {
        (self.w + 1 - Self::first(y, c)) / 2
    }

    /// Whether the last pixel of colour `c` in row `y` is in the frame's last column.
    pub(super) fn ends_row(&self, y: usize, c: usize) -> bool {
        let n = self.len(y, c);
        n > 0 && Self::first(y, c) + 2 * (n - 1) == self.w - 1
    }

    /// A plane of one colour, all zeros.
    pub(super) fn plane(&self) -> Vec<f32> {
        vec![0.0; (self.h + 2) * self.stride]
    }

    /// The pixels of colour `c` in row `y` of `plane` (a plane of that colour).
    #[inline(always)]
    pub(super) fn own<'a>(&self, plane: &'a [f32], c: usize, y: usize) -> &'a [f32] {
        let start = (y + 1) * self.stride + 1;
        &plane[start..start + self.len(y, c)]
    }

    /// What [`Grid::own`] gives of a [`Checker`]: its pixels of colour `c` in row `y`.
    #[inline(always)]
    pub(super) fn pixels(self, c: usize, y: usize) -> impl Fn(&Checker) -> &[f32] {
        move |q| self.own(&q.colour[c], c, y)
    }

    /// The left, right, upper and lower neighbours of the pixels of colour `c` in row `y`, from
    /// `other` (the plane of the other colour), each slice aligned with the row's pixels.
    #[inline(always)]
    pub(super) fn neighbours<'a>(&self, other: &'a [f32], c: usize, y: usize) -> [&'a [f32]; 4] {
        let (n, s) = (self.len(y, c), self.stride);
        let row = (y + 1) * s + Self::first(y, c);
        let (up, down) = (y * s + 1, (y + 2) * s + 1);
        [
            &other[row..row + n],
            &other[row + 1..row + 1 + n],
            &other[up..up + n],
            &other[down..down + n],
        ]
    }

    /// The image rows of a plane (padding rows left out), to write in parallel: each item is a
    /// whole padded row, whose pixels are slots 1..=len.
    pub(super) fn rows_mut<'a>(&self, plane: &'a mut [f32]) -> rayon::slice::ChunksMut<'a, f32> {
        plane[self.stride..(self.h + 1) * self.stride].par_chunks_mut(self.stride)
    }
}

/// A quantity over a level in the red–black layout of [`Grid`]: `colour[c]` holds the pixels of
/// colour c.
pub(super) struct Checker {
    pub(super) colour: [Vec<f32>; 2],
}

impl Checker {
    pub(super) fn zeros(grid: Grid) -> Checker {
        Checker {
            colour: [grid.plane(), grid.plane()],
        }
    }

    /// The pixels of `plane` (row-major, of the grid's size), split by colour: row y's even
    /// pixels are of colour y % 2 and its odd ones of the other.
    pub(super) fn split(grid: Grid, plane: &Plane) -> Checker {
        let mut out = Checker::zeros(grid);
        let [red, black] = &mut out.colour;
        (grid.rows_mut(red), grid.rows_mut(black))
            .into_par_iter()
            .with_min_len(rows_per_task(grid.w))
            .enumerate()
            .for_each(|(y, (red, black))| {
                let (even, odd) = if y % 2 == 0 {
                    (red, black)
                } else {
                    (black, red)
                };
                let src = &plane.data[y * grid.w..(y + 1) * grid.w];
                for ((e, o), pair) in even[1..]
                    .iter_mut()
                    .zip(&mut odd[1..])
                    .zip(src.chunks_exact(2))
                {
                    *e = pair[0];
                    *o = pair[1];
                }
                if grid.w % 2 == 1 {
                    even[grid.w / 2 + 1] = src[grid.w - 1];
                }
            });
        out
    }

    /// `f` of `a` and `b`, slot by slot.
    pub(super) fn zip_map(a: &Checker, b: &Checker, f: impl Fn(f32, f32) -> f32) -> Checker {
        Checker {
            colour: [0, 1].map(|c| {
                a.colour[c]
                    .iter()
                    .zip(&b.colour[c])
                    .map(|(&a, &b)| f(a, b))
                    .collect()
            }),
        }
    }

    /// Adds every pixel's value to `plane` (row-major, of the grid's size).
    pub(super) fn add_to(&self, grid: Grid, plane: &mut Plane) {
        for (c, values) in self.colour.iter().enumerate() {
            for y in 0..grid.h {
                let row = &mut plane.data[y * grid.w..(y + 1) * grid.w];
                let own = grid.own(values, c, y);
                for (p, d) in row[Grid::first(y, c)..].iter_mut().step_by(2).zip(own) {
                    *p += d;
                }
            }
        }
    }
}

/// The plane of colour `c`, to write, and that of the other colour, to read.
pub(super) fn own_and_other(colour: &mut [Vec<f32>; 2], c: usize) -> (&mut [f32], &[f32]) {
    let [red, black] = colour;
    if c == 0 {
        (red, black)
    } else {
        (black, red)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split into the red–black layout, every pixel finds itself and, as its neighbours, the
    /// pixels next to it in the frame (0 beyond it); added back, the split is the plane again.
    #[test]
    fn the_red_black_layout_finds_the_adjacent_pixels() {
        for (w, h) in [(6, 4), (7, 5), (1, 3), (2, 1), (5, 2)] {
            let grid = Grid::new(w, h);
            let plane = Plane {
                w,
                h,
                data: (0..w * h).map(|i| i as f32 + 1.0).collect(),
            };
            let value = |x: isize, y: isize| {
                let inside = (0..w as isize).contains(&x) && (0..h as isize).contains(&y);
                if inside {
                    plane.data[y as usize * w + x as usize]
                } else {
                    0.0
                }
            };
            let split = Checker::split(grid, &plane);
            for y in 0..h {
                for c in 0..2 {
                    let own = grid.own(&split.colour[c], c, y);
                    let [l, r, up, down] = grid.neighbours(&split.colour[1 - c], c, y);
                    for (k, &v) in own.iter().enumerate() {
                        let (x, yi) = ((Grid::first(y, c) + 2 * k) as isize, y as isize);
                        let at = format!("({x}, {y}) of {w}×{h}");
                        assert_eq!(v, value(x, yi), "{at}");
                        assert_eq!(l[k], value(x - 1, yi), "left of {at}");
                        assert_eq!(r[k], value(x + 1, yi), "right of {at}");
                        assert_eq!(up[k], value(x, yi - 1), "above {at}");
                        assert_eq!(down[k], value(x, yi + 1), "below {at}");
                    }
                }
            }
            let mut back = Plane::zeros(w, h);
            split.add_to(grid, &mut back);
            assert_eq!(back.data, plane.data, "{w}×{h}");
        }
    }
}
