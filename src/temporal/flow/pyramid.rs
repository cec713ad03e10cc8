//! The image pyramid of the flow: row-major planes of intensities, their sampling, gradients,
//! halving and doubling.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::simd::vectorized;
use crate::temporal::warp::bilinear;

/// A row-major w×h image of `f32`.
#[derive(Clone, Debug)]
pub(super) struct Plane {
    pub(super) w: usize,
    pub(super) h: usize,
    pub(super) data: Vec<f32>,
}

/// The scale of intensities inside the flow code: the 0–255 range that DIS's constants assume.
const INTENSITY_SCALE: f32 = 255.0;

impl Plane {
    pub(super) fn zeros(w: usize, h: usize) -> Plane {
        Plane {
            w,
            h,
            data: vec![0.0; w * h],
        }
    }

    pub(super) fn from_view(a: ArrayView2<f32>) -> Plane {
        let (h, w) = a.dim();
        Plane {
            w,
            h,
            data: match a.as_slice() {
                Some(s) => s.iter().map(|&x| x * INTENSITY_SCALE).collect(),
                None => a.iter().map(|&x| x * INTENSITY_SCALE).collect(),
            },
        }
    }

    pub(super) fn into_array(self) -> Array2<f32> {
        Array2::from_shape_vec((self.h, self.w), self.data).expect("a plane holds w·h values")
    }

    /// A plane of the same size whose rows are filled in parallel by `f(y, row)`.
    pub(super) fn map_rows(w: usize, h: usize, f: impl Fn(usize, &mut [f32]) + Sync) -> Plane {
        let mut out = Plane::zeros(w, h);
        out.data
            .par_chunks_mut(w)
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each(|(y, row)| f(y, row));
        out
    }

    #[cfg(test)]
    pub(super) fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    #[inline]
    pub(super) fn sample(&self, x: f32, y: f32) -> f32 {
        bilinear(&self.data, self.w, self.h, x, y)
    }

    /// Blur with [1 2 1]/4 each way, then keep the even pixels: coarse pixel i sits on fine 2i.
    /// Row by row: the three fine rows blurred vertically into a buffer, then horizontally.
    fn downsample(&self) -> Plane {
        let (w, h) = (self.w.div_ceil(2), self.h.div_ceil(2));
        let fw = self.w;
        let clamp_y = |y: isize| y.clamp(0, self.h as isize - 1) as usize;
        let row = |y: usize| &self.data[y * fw..(y + 1) * fw];
        let mut out = Plane::zeros(w, h);
        out.data
            .par_chunks_mut(w)
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each_init(
                || vec![0f32; fw],
                |column, (y, out)| {
                    let fy = 2 * y as isize;
                    let (a, b, c) = (row(clamp_y(fy - 1)), row(clamp_y(fy)), row(clamp_y(fy + 1)));
                    for (((s, &a), &b), &c) in column.iter_mut().zip(a).zip(b).zip(c) {
                        *s = a + 2.0 * b + c;
                    }
                    let at = |x: isize| column[x.clamp(0, fw as isize - 1) as usize];
                    for (x, o) in out.iter_mut().enumerate() {
                        let fx = 2 * x as isize;
                        *o = if x > 0 && 2 * x + 1 < fw {
                            let s = &column[2 * x - 1..2 * x + 2];
                            (s[0] + 2.0 * s[1] + s[2]) / 16.0
                        } else {
                            (at(fx - 1) + 2.0 * at(fx) + at(fx + 1)) / 16.0
                        };
                    }
                },
            );
        out
    }

    /// Derivatives along x and y by the five-point stencil (1, −8, 0, 8, −1)/12, with the frame's
    /// border repeated.
    pub(super) fn gradient(&self) -> (Plane, Plane) {
        (self.gradient_x(), self.gradient_y())
    }

    /// The derivative along x of [`Plane::gradient`].
    pub(super) fn gradient_x(&self) -> Plane {
        let (w, h) = (self.w, self.h);
        Plane::map_rows(w, h, |y, out| {
            let r = &self.data[y * w..(y + 1) * w];
            if w > 4 {
                stencil(
                    &mut out[2..w - 2],
                    [&r[..w - 4], &r[1..w - 3], &r[3..w - 1], &r[4..]],
                );
            }
            let at = |x: isize| r[x.clamp(0, w as isize - 1) as usize];
            for x in (0..w.min(2)).chain(w.saturating_sub(2).max(2)..w) {
                let x = x as isize;
                out[x as usize] =
                    (at(x - 2) - 8.0 * at(x - 1) + 8.0 * at(x + 1) - at(x + 2)) / 12.0;
            }
        })
    }

    /// The derivative along y of [`Plane::gradient`].
    pub(super) fn gradient_y(&self) -> Plane {
        let (w, h) = (self.w, self.h);
        let row = |y: usize| &self.data[y * w..(y + 1) * w];
        Plane::map_rows(w, h, |y, out| {
            let at = |k: isize| row((y as isize + k).clamp(0, h as isize - 1) as usize);
            stencil(out, [at(-2), at(-1), at(1), at(2)]);
        })
    }

    /// The pixelwise mean of this plane and `other` (of the same size).
    pub(super) fn mean_with(&self, other: &Plane) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| 0.5 * (a + b))
                .collect(),
        }
    }
}

/// Three planes of one size, each sampled at (x + u, y + v) for every pixel (bilinear, the
/// position clamped to the frame): the same weights serve all three.
pub(super) fn warped3(planes: [&Plane; 3], u: &Plane, v: &Plane) -> [Plane; 3] {
    let (w, h) = (u.w, u.h);
    let mut out = [(); 3].map(|_| Plane::zeros(w, h));
    let [a, b, c] = &mut out;
    (
        a.data.par_chunks_mut(w),
        b.data.par_chunks_mut(w),
        c.data.par_chunks_mut(w),
    )
        .into_par_iter()
        .with_min_len(rows_per_task(w))
        .enumerate()
        .for_each(|(y, (ra, rb, rc))| {
            let (ur, vr) = (&u.data[y * w..(y + 1) * w], &v.data[y * w..(y + 1) * w]);
            for x in 0..w {
                let px = (x as f32 + ur[x]).clamp(0.0, (w - 1) as f32);
                let py = (y as f32 + vr[x]).clamp(0.0, (h - 1) as f32);
                let (x0, y0) = (px as usize, py as usize);
                let (fx, fy) = (px - x0 as f32, py - y0 as f32);
                let (r0, r1) = (y0 * w, (y0 + 1).min(h - 1) * w);
                let x1 = (x0 + 1).min(w - 1);
                let [i00, i01, i10, i11] = [r0 + x0, r0 + x1, r1 + x0, r1 + x1];
                let sample = |p: &Plane| {
                    let d = &p.data;
                    let top = d[i00] + fx * (d[i01] - d[i00]);
                    let bottom = d[i10] + fx * (d[i11] - d[i10]);
                    top + fy * (bottom - top)
                };
                ra[x] = sample(planes[0]);
                rb[x] = sample(planes[1]);
                rc[x] = sample(planes[2]);
            }
        });
    out
}

vectorized! {
/// `out` = (m2 − 8·m1 + 8·p1 − p2) / 12, element by element: the five-point derivative from the
/// samples two and one before, and one and two after.
fn stencil(out: &mut [f32], around: [&[f32]; 4]) {
    let [m2, m1, p1, p2] = around;
    let n = out.len();
    let (m2, m1, p1, p2) = (&m2[..n], &m1[..n], &p1[..n], &p2[..n]);
    for k in 0..n {
        out[k] = (m2[k] - 8.0 * m1[k] + 8.0 * p1[k] - p2[k]) / 12.0;
    }
}
}

/// Pixels below which splitting a pass between threads costs more than it saves.
pub(super) const PIXELS_PER_TASK: usize = 8192;

/// Rows of a `w`-wide plane that one task takes at the least.
pub(super) fn rows_per_task(w: usize) -> usize {
    (PIXELS_PER_TASK / w.max(1)).max(1)
}

/// `base` and its successive halvings, finest first: `levels` planes in all.
pub(super) fn pyramid(base: Plane, levels: usize) -> Vec<Plane> {
    let mut pyramid = vec![base];
    while pyramid.len() < levels {
        let next = pyramid[pyramid.len() - 1].downsample();
        pyramid.push(next);
    }
    pyramid
}

/// A flow component from the next coarser level, sampled onto a w×h grid and doubled. Fine pixel
/// x sits on coarse x/2: even pixels take a coarse value, odd ones the mean of two (bilinear
/// sampling at half steps, without its general arithmetic).
pub(super) fn upsample(coarse: &Plane, w: usize, h: usize) -> Plane {
    let cw = coarse.w;
    let row = |r: usize| &coarse.data[r * cw..(r + 1) * cw];
    Plane::map_rows(w, h, |y, out| {
        let r0 = (y / 2).min(coarse.h - 1);
        let r1 = if y % 2 == 1 {
            (r0 + 1).min(coarse.h - 1)
        } else {
            r0
        };
        upsample_row(out, row(r0), row(r1));
    })
}

/// One row of [`upsample`] between the coarse rows `a` and `b` (the same row where the fine row
/// sits on one): horizontal halves first, then vertical, as bilinear sampling does them.
fn upsample_row(out: &mut [f32], a: &[f32], b: &[f32]) {
    let lerp = |p: f32, q: f32| p + 0.5 * (q - p);
    let cw = a.len();
    // Pairs of fine pixels (2c, 2c + 1) whose coarse c + 1 exists: no clamping.
    let n = (out.len() / 2).min(cw - 1);
    let (a0, a1, b0, b1) = (&a[..n], &a[1..n + 1], &b[..n], &b[1..n + 1]);
    let pairs = out
        .chunks_exact_mut(2)
        .zip(a0.iter().zip(a1))
        .zip(b0.iter().zip(b1));
    for ((o, (&p, &q)), (&r, &s)) in pairs {
        o[0] = 2.0 * lerp(p, r);
        o[1] = 2.0 * lerp(lerp(p, q), lerp(r, s));
    }
    for (x, o) in out.iter_mut().enumerate().skip(2 * n) {
        let c0 = (x / 2).min(cw - 1);
        let c1 = if x % 2 == 1 { (c0 + 1).min(cw - 1) } else { c0 };
        *o = 2.0 * lerp(lerp(a[c0], a[c1]), lerp(b[c0], b[c1]));
    }
}
