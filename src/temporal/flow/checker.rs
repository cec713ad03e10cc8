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

    /// The slots of a plane of one colour.
    pub(super) fn slots(&self) -> usize {
        (self.h + 2) * self.stride
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
/// colour c. Kept from one level and one flow to the next (see [`Checker::fit`]).
#[derive(Default)]
pub(super) struct Checker {
    pub(super) colour: [Vec<f32>; 2],
}

impl Checker {
    /// Makes room for `grid`, keeping the planes' memory: they may stay longer, from a larger
    /// level (the grid's slots are the first [`Grid::slots`]). Nothing is cleared: every pass
    /// writes the pixels' own slots before they are read.
    pub(super) fn size(&mut self, grid: Grid) {
        for plane in &mut self.colour {
            if plane.len() < grid.slots() {
                plane.resize(grid.slots(), 0.0);
            }
        }
    }

    /// [`Checker::size`], with the slots that no pixel owns zeroed: the padding, which the
    /// pixels at the frame's edges read as their neighbours beyond it.
    pub(super) fn fit(&mut self, grid: Grid) {
        self.size(grid);
        let s = grid.stride;
        for (c, plane) in self.colour.iter_mut().enumerate() {
            plane[..s].fill(0.0);
            plane[(grid.h + 1) * s..grid.slots()].fill(0.0);
            for y in 0..grid.h {
                let row = &mut plane[(y + 1) * s..(y + 2) * s];
                row[0] = 0.0;
                row[1 + grid.len(y, c)..].fill(0.0);
            }
        }
    }

    /// Makes room for `grid`, with every slot 0.
    pub(super) fn clear(&mut self, grid: Grid) {
        self.size(grid);
        for plane in &mut self.colour {
            plane[..grid.slots()].fill(0.0);
        }
    }

    /// Makes room for `grid`, with `f` of the values of `planes` (row-major, of the grid's size) at
    /// every pixel: row y's even pixels are of colour y % 2 and its odd ones of the other. The
    /// padding is left as it was ([`Checker::fit`] first where it is read).
    pub(super) fn split_map<const N: usize>(
        &mut self,
        grid: Grid,
        planes: [&[f32]; N],
        f: impl Fn([f32; N]) -> f32 + Sync,
    ) {
        self.size(grid);
        let [red, black] = &mut self.colour;
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
                let row = planes.map(|p| &p[y * grid.w..(y + 1) * grid.w]);
                let half = grid.w / 2;
                let pairs = row.map(|r| r.as_chunks::<2>().0);
                let (even_row, odd_row) = (&mut even[1..=half], &mut odd[1..=half]);
                for k in 0..half {
                    even_row[k] = f(pairs.map(|p| p[k][0]));
                    odd_row[k] = f(pairs.map(|p| p[k][1]));
                }
                if grid.w % 2 == 1 {
                    even[half + 1] = f(row.map(|r| r[grid.w - 1]));
                }
            });
    }

    /// Adds every pixel's value to `plane` (row-major, of the grid's size).
    pub(super) fn add_to(&self, grid: Grid, plane: &mut Plane) {
        plane
            .data
            .par_chunks_mut(grid.w)
            .with_min_len(rows_per_task(grid.w))
            .enumerate()
            .for_each(|(y, row)| {
                // Row y's even pixels are of colour y % 2, its odd ones of the other.
                let (c, o) = (y % 2, 1 - y % 2);
                let (even, odd) = (
                    grid.own(&self.colour[c], c, y),
                    grid.own(&self.colour[o], o, y),
                );
                for (pair, (e, d)) in row.chunks_exact_mut(2).zip(even.iter().zip(odd)) {
                    pair[0] += e;
                    pair[1] += d;
                }
                if grid.w % 2 == 1 {
                    row[grid.w - 1] += even[grid.w / 2];
                }
            });
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
    /// One checker serves every size in turn, as a workspace's does from level to level, so
    /// what a larger size left in it must not show beyond the frame.
    #[test]
    fn the_red_black_layout_finds_the_adjacent_pixels() {
        let mut split = Checker::default();
        for (w, h) in [(6, 4), (7, 5), (1, 3), (2, 1), (5, 2), (9, 7), (4, 3)] {
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
            split.fit(grid);
            split.split_map(grid, [&plane.data], |[x]| x);
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
