//! The image pyramid of the flow: row-major planes of intensities, their sampling, gradients,
//! halving and doubling.

use std::mem::MaybeUninit;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::simd::vectorized;
use crate::temporal::warp::bilinear;

/// A row-major w×h image of `f32`.
#[derive(Clone, Debug, Default)]
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

    /// Makes this plane the image `a` in the flow's intensity scale, in its own memory.
    fn assign_scaled(&mut self, a: ArrayView2<f32>) {
        let (h, w) = a.dim();
        let a = a.as_standard_layout();
        let values = a.as_slice().expect("a standard layout is contiguous");
        self.data.clear();
        self.data
            .extend(values.iter().map(|&x| x * INTENSITY_SCALE));
        (self.w, self.h) = (w, h);
    }

    /// An empty plane in the memory of `array` (its values dropped), which is left empty.
    pub(super) fn reuse(array: &mut Array2<f32>) -> Plane {
        let (mut data, _) = std::mem::take(array).into_raw_vec_and_offset();
        data.clear();
        Plane { w: 0, h: 0, data }
    }

    pub(super) fn into_array(self) -> Array2<f32> {
        Array2::from_shape_vec((self.h, self.w), self.data).expect("a plane holds w·h values")
    }

    #[cfg(test)]
    pub(super) fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    #[inline]
    pub(super) fn sample(&self, x: f32, y: f32) -> f32 {
        bilinear(&self.data, self.w, self.h, x, y)
    }

    /// Makes this plane w×h, keeping its values where it already is (a buffer kept across
    /// calls on frames of one size); zeros otherwise.
    fn fit(&mut self, w: usize, h: usize) {
        if (self.w, self.h) != (w, h) {
            *self = Plane::zeros(w, h);
        }
    }

    /// Writes into `gx` and `gy` the derivatives along x and y by the five-point stencil
    /// (1, −8, 0, 8, −1)/12, with the frame's border repeated.
    pub(super) fn gradient_into(&self, gx: &mut Plane, gy: &mut Plane) {
        for g in [&mut *gx, &mut *gy] {
            g.fit(self.w, self.h);
        }
        gradient_x_into(&self.data, self.w, &mut gx.data);
        gradient_y_into(&self.data, self.w, &mut gy.data);
    }
}

/// `out` = the derivative along x of the `w`-wide row-major image `image` (as
/// [`Plane::gradient_into`]), rows in parallel.
pub(super) fn gradient_x_into(image: &[f32], w: usize, out: &mut [f32]) {
    out.par_chunks_mut(w)
        .with_min_len(rows_per_task(w))
        .enumerate()
        .for_each(|(y, out)| {
            let r = &image[y * w..(y + 1) * w];
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
        });
}

/// `out` = the derivative along y of the `w`-wide row-major image `image` (as
/// [`Plane::gradient_into`]), rows in parallel.
pub(super) fn gradient_y_into(image: &[f32], w: usize, out: &mut [f32]) {
    let h = image.len() / w;
    let row = |y: usize| &image[y * w..(y + 1) * w];
    out.par_chunks_mut(w)
        .with_min_len(rows_per_task(w))
        .enumerate()
        .for_each(|(y, out)| {
            let at = |k: isize| row((y as isize + k).clamp(0, h as isize - 1) as usize);
            stencil(out, [at(-2), at(-1), at(1), at(2)]);
        });
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

/// Pixels below which splitting a pass between threads costs more than it saves: a pass over a
/// plane of twice as many is split (DIS's 128×72 levels of a 512×288 frame in two, as OpenCV's
/// stripes split every pass between its threads).
pub(super) const PIXELS_PER_TASK: usize = 4096;

/// Rows of a `w`-wide plane that one task takes at the least.
pub(super) fn rows_per_task(w: usize) -> usize {
    (PIXELS_PER_TASK / w.max(1)).max(1)
}

/// The `fw`×`fh` image `fine` blurred with [1 2 1]/4 each way and multiplied by `scale`, at its
/// even pixels: coarse pixel i sits on fine 2i. Row by row: the three fine rows blurred
/// vertically into a buffer, then horizontally.
fn downsample_into(fine: &[f32], (fw, fh): (usize, usize), scale: f32, out: &mut Plane) {
    let (w, h) = (fw.div_ceil(2), fh.div_ceil(2));
    let clamp_y = |y: isize| y.clamp(0, fh as isize - 1) as usize;
    let row = |y: usize| &fine[y * fw..(y + 1) * fw];
    let k = scale / 16.0;
    out.fit(w, h);
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
                // Inside (0 < x < fw / 2) the three fine pixels 2x − 1, 2x, 2x + 1 exist.
                let end = fw / 2;
                if end > 1 {
                    halve_row(&mut out[1..end], &column[1..2 * end], k);
                }
                let at = |x: isize| column[x.clamp(0, fw as isize - 1) as usize];
                for x in std::iter::once(0).chain(end.max(1)..w) {
                    let fx = 2 * x as isize;
                    out[x] = (at(fx - 1) + 2.0 * at(fx) + at(fx + 1)) * k;
                }
            },
        );
}

/// `out[i]` = (c[2i] + 2·c[2i + 1] + c[2i + 2]) · k: the [1 2 1] blur of `c` at every other
/// sample (`c` holds 2·len + 1 values). SSE2 (part of x86_64) four outputs at a time, the rest one
/// by one.
pub(super) fn halve_row(out: &mut [f32], c: &[f32], k: f32) {
    let n = out.len();
    let c = &c[..2 * n + 1];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 processor has it.
    let done = unsafe { halve_row_sse2(out, c, k) };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for (i, o) in out.iter_mut().enumerate().skip(done) {
        *o = (c[2 * i] + 2.0 * c[2 * i + 1] + c[2 * i + 2]) * k;
    }
}

/// The first outputs of [`halve_row`], in blocks of four; returns how many it wrote.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn halve_row_sse2(out: &mut [f32], c: &[f32], k: f32) -> usize {
    use std::arch::x86_64::*;
    let (n, vk, two) = (out.len(), _mm_set1_ps(k), _mm_set1_ps(2.0));
    let mut i = 0;
    // Block i reads c[2i..2i + 9), inside `c` (2n + 1 long) while i + 4 ≤ n.
    while i + 4 <= n {
        let p = c[2 * i..2 * i + 9].as_ptr();
        // SAFETY: the nine values from 2i lie inside `c` (sliced just above), the four from i
        // inside `out`; unaligned loads and stores need no alignment.
        unsafe {
            let (a, b) = (_mm_loadu_ps(p), _mm_loadu_ps(p.add(4)));
            let (e, f) = (_mm_loadu_ps(p.add(1)), _mm_loadu_ps(p.add(5)));
            let even = _mm_shuffle_ps::<0b10_00_10_00>(a, b);
            let odd = _mm_shuffle_ps::<0b11_01_11_01>(a, b);
            let next = _mm_shuffle_ps::<0b11_01_11_01>(e, f);
            let sum = _mm_add_ps(_mm_add_ps(even, next), _mm_mul_ps(two, odd));
            _mm_storeu_ps(out.as_mut_ptr().add(i), _mm_mul_ps(sum, vk));
        }
        i += 4;
    }
    i
}

/// The pyramid of `image` (level 0: `image` itself, in the flow's intensity scale; each next one
/// its halving) up to level `levels` − 1, finest first, in `planes` (whose memory is kept from one
/// call to the next); returns the index in `planes` of level `finest` (< `levels`). Level 0 is made
/// only when `finest` is 0: otherwise the first halving reads `image` and scales it at once.
pub(super) fn pyramid_into(
    image: ArrayView2<f32>,
    levels: usize,
    finest: usize,
    planes: &mut Vec<Plane>,
) -> usize {
    let (h, w) = image.dim();
    let first = usize::from(finest > 0);
    planes.resize_with(levels - first, Plane::default);
    if finest == 0 {
        planes[0].assign_scaled(image);
    } else {
        let image = image.as_standard_layout();
        let data = image.as_slice().expect("a standard layout is contiguous");
        downsample_into(data, (w, h), INTENSITY_SCALE, &mut planes[0]);
    }
    for i in 1..planes.len() {
        let (finer, coarser) = planes.split_at_mut(i);
        let fine = &finer[i - 1];
        downsample_into(&fine.data, (fine.w, fine.h), 1.0, &mut coarser[0]);
    }
    finest - first
}

/// A flow component of a coarser level, `factor` (a power of two) times smaller, bilinearly
/// sampled onto a w×h grid and multiplied by `factor`, into `out` (whose memory is kept): fine
/// pixel x sits on coarse x/factor, beyond the last coarse pixel the edge repeats. Row by row: the
/// two coarse rows around the fine one blended into a buffer, then that buffer sampled along the
/// row.
pub(super) fn upsample_into(
    coarse: &Plane,
    (w, h): (usize, usize),
    factor: usize,
    out: &mut Plane,
) {
    let (cw, ch) = (coarse.w, coarse.h);
    let row = |r: usize| &coarse.data[r * cw..(r + 1) * cw];
    let scale = factor as f32;
    // Fractions 0, 1/factor, …: exact for a power of two.
    let steps: Vec<f32> = (0..factor).map(|j| j as f32 / scale).collect();
    // Written row by row without zeroing first: the full-size field is the largest plane.
    let data = &mut out.data;
    data.clear();
    data.reserve(w * h);
    data.spare_capacity_mut()[..w * h]
        .par_chunks_mut(w)
        .with_min_len(rows_per_task(w))
        .enumerate()
        .for_each_init(
            || vec![0f32; cw],
            |mid, (y, out)| {
                let r0 = (y / factor).min(ch - 1);
                let (a, b) = (row(r0), row((r0 + 1).min(ch - 1)));
                let fy = steps[y % factor];
                for ((m, &p), &q) in mid.iter_mut().zip(a).zip(b) {
                    *m = scale * (p + fy * (q - p));
                }
                // The common factors with a constant run length, which the compiler unrolls.
                match factor {
                    2 => sample_row(out, mid, &steps, 2),
                    4 => sample_row(out, mid, &steps, 4),
                    _ => sample_row(out, mid, &steps, factor),
                }
            },
        );
    // SAFETY: the capacity holds w·h values, and every one of the h rows of w was written above.
    unsafe { data.set_len(w * h) };
    (out.w, out.h) = (w, h);
}

/// `out`, a fine row, sampled from the coarse row `mid` that is `factor` times shorter: runs of
/// `factor` pixels between coarse c and c + 1 (at the fractions `steps`), then the edge.
#[inline(always)]
fn sample_row(out: &mut [MaybeUninit<f32>], mid: &[f32], steps: &[f32], factor: usize) {
    let cw = mid.len();
    let steps = &steps[..factor];
    let done = factor * (cw - 1).min(out.len() / factor);
    for (o, pair) in out.chunks_exact_mut(factor).zip(mid.windows(2)) {
        let (p, d) = (pair[0], pair[1] - pair[0]);
        for (o, &f) in o.iter_mut().zip(steps) {
            o.write(p + f * d);
        }
    }
    for (x, o) in out.iter_mut().enumerate().skip(done) {
        let c0 = (x / factor).min(cw - 1);
        let (p, q) = (mid[c0], mid[(c0 + 1).min(cw - 1)]);
        o.write(p + steps[x % factor] * (q - p));
    }
}
