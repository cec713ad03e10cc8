//! DIS's patch search: patches on a grid find their displacement by inverse compositional
//! Gauss–Newton, then are blended into a dense field.

use rayon::prelude::*;

use super::pyramid::{rows_per_task, Plane};
use super::FlowParams;

/// Patch positions along one axis: every `stride` pixels, plus a last patch flush with the end.
fn grid(len: usize, size: usize, stride: usize) -> Vec<usize> {
    let mut at: Vec<usize> = (0..=len - size).step_by(stride).collect();
    if at.last() != Some(&(len - size)) {
        at.push(len - size);
    }
    at
}

/// For each pixel along an axis, the range of patch indices that cover it.
fn coverage(len: usize, at: &[usize], size: usize) -> Vec<(usize, usize)> {
    (0..len)
        .map(|p| {
            let first = at.partition_point(|&s| s + size <= p);
            let end = at.partition_point(|&s| s <= p);
            (first, end)
        })
        .collect()
}

/// Stripes of patch rows searched independently, in parallel: a displacement propagates only
/// within its stripe. A fixed count (OpenCV's) keeps the result whatever the number of threads.
const STRIPES: usize = 8;

/// What a patch's search needs of its template besides its pixels: the mean gradient (the
/// residual is matched up to an additive brightness change, so the gradients count centred) and
/// the inverse of the Gauss–Newton Hessian of the centred gradients.
#[derive(Clone, Copy)]
struct Patch {
    x0: usize,
    y0: usize,
    mean: [f32; 2],
    /// (xx, xy, yy); `None` where the patch has no texture or an edge only.
    inverse: Option<[f32; 3]>,
}
/// The mismatch of a patch at one displacement.
struct Mismatch {
    /// Σ g·r for the mean-normalized gradients g along x and y, r the residual.
    b: [f32; 2],
    /// Σ (r − mean r)²: the sum of squared differences up to an additive brightness change.
    ssd: f32,
}

impl Patch {
    /// The patch of `search`'s first frame at (x0, y0).
    fn new(search: &PatchSearch, x0: usize, y0: usize) -> Patch {
        let (size, w) = (search.size, search.i0.w);
        // Σ gx, Σ gy, Σ gx², Σ gx·gy, Σ gy², each in four lanes that the compiler keeps in a
        // vector.
        let [mut sx, mut sy, mut sxx, mut sxy, mut syy] = [[0f32; 4]; 5];
        let mut add = |l: usize, a: f32, b: f32| {
            sx[l] += a;
            sy[l] += b;
            sxx[l] += a * a;
            sxy[l] += a * b;
            syy[l] += b * b;
        };
        for y in y0..y0 + size {
            let r = y * w + x0..y * w + x0 + size;
            let (gx, gy) = (&search.i0x.data[r.clone()], &search.i0y.data[r]);
            let ((gx4, rx), (gy4, ry)) = (gx.as_chunks::<4>(), gy.as_chunks::<4>());
            for (a, b) in gx4.iter().zip(gy4) {
                for l in 0..4 {
                    add(l, a[l], b[l]);
                }
            }
            for (l, (&a, &b)) in rx.iter().zip(ry).enumerate() {
                add(l, a, b);
            }
        }
        let [sx, sy, sxx, sxy, syy] = [sx, sy, sxx, sxy, syy].map(|s| s.iter().sum::<f32>());
        let n = (size * size) as f32;
        let (mx, my) = (sx / n, sy / n);
        let (hxx, hxy, hyy) = (sxx - sx * mx, sxy - sx * my, syy - sy * my);
        let det = hxx * hyy - hxy * hxy;
        let trace = hxx + hyy;
        let flat = det <= 1e-4 * trace * trace || trace < 1e-3 * n;
        Patch {
            x0,
            y0,
            mean: [mx, my],
            inverse: (!flat).then(|| [hyy / det, -hxy / det, hxx / det]),
        }
    }
}

/// Inverse search of one pyramid level.
pub(super) struct PatchSearch<'a> {
    i0: &'a Plane,
    i1: &'a Plane,
    i0x: &'a Plane,
    i0y: &'a Plane,
    xs: Vec<usize>,
    ys: Vec<usize>,
    size: usize,
    iterations: usize,
    propagate: bool,
}

impl<'a> PatchSearch<'a> {
    pub(super) fn new(
        i0: &'a Plane,
        i1: &'a Plane,
        i0x: &'a Plane,
        i0y: &'a Plane,
        params: &FlowParams,
    ) -> Self {
        let size = params.patch_size;
        // Patches must touch or overlap so that every pixel gets a displacement.
        let stride = params.patch_stride.min(size);
        PatchSearch {
            i0,
            i1,
            i0x,
            i0y,
            xs: grid(i0.w, size, stride),
            ys: grid(i0.h, size, stride),
            size,
            iterations: params.patch_iterations,
            propagate: params.spatial_propagation,
        }
    }

    /// The displacement of every patch (row-major over the grid), starting from the dense field
    /// (u, v) at the patch centre. Stripes of patch rows are searched in parallel, each in two
    /// passes, forward then backward, with half the iterations each. With spatial propagation, a
    /// patch first takes the displacement of the patch before it in the pass's order, along its
    /// row or its column, where that one matches it better.
    pub(super) fn run(&self, u: &Plane, v: &Plane) -> Vec<[f32; 2]> {
        let nx = self.xs.len();
        let c = (self.size as f32 - 1.0) / 2.0;
        let mut found: Vec<[f32; 2]> = (self.ys.iter())
            .flat_map(|&y0| self.xs.iter().map(move |&x0| (x0, y0)))
            .map(|(x0, y0)| {
                let (cx, cy) = (x0 as f32 + c, y0 as f32 + c);
                [u.sample(cx, cy), v.sample(cx, cy)]
            })
            .collect();
        let rows = self.ys.len().div_ceil(STRIPES);
        found
            .par_chunks_mut(rows * nx)
            .enumerate()
            .for_each(|(s, stripe)| self.search_stripe(s * rows, stripe));
        found
    }

    /// The two passes of [`PatchSearch::run`] over the stripe of patch rows from `first`.
    fn search_stripe(&self, first: usize, stripe: &mut [[f32; 2]]) {
        let nx = self.xs.len();
        let rows = stripe.len() / nx;
        let patches: Vec<Patch> = (self.ys[first..first + rows].iter())
            .flat_map(|&y0| self.xs.iter().map(move |&x0| Patch::new(self, x0, y0)))
            .collect();
        let iterations = (self.iterations / 2).max(1);
        let mut window = Window::new(self.size);
        for forward in [true, false] {
            for step in 0..rows * nx {
                let k = if forward { step } else { rows * nx - 1 - step };
                let (r, i) = (k / nx, k % nx);
                let (before_in_row, before_in_column) = if forward {
                    ((i > 0).then(|| k - 1), (r > 0).then(|| k - nx))
                } else {
                    ((i + 1 < nx).then(|| k + 1), (r + 1 < rows).then(|| k + nx))
                };
                let patch = &patches[k];
                let mut best = (stripe[k], self.mismatch(patch, &mut window, stripe[k]));
                let candidates =
                    [before_in_row, before_in_column].map(|c| c.filter(|_| self.propagate));
                for candidate in candidates.into_iter().flatten() {
                    let d = stripe[candidate];
                    let m = self.mismatch(patch, &mut window, d);
                    if m.ssd < best.1.ssd {
                        best = (d, m);
                    }
                }
                stripe[k] = self.search(patch, &mut window, best, iterations);
            }
        }
    }

    /// Inverse compositional Gauss–Newton on `patch` from `start` (with its mismatch), for at
    /// most `iterations` steps: it stops where a step no longer lowers the mismatch.
    fn search(
        &self,
        patch: &Patch,
        window: &mut Window,
        (start, mut mismatch): ([f32; 2], Mismatch),
        iterations: usize,
    ) -> [f32; 2] {
        let Some([ixx, ixy, iyy]) = patch.inverse else {
            return start; // no texture, or an edge only: keep the estimate
        };
        let [mut u, mut v] = start;
        let mut last = (start, f32::INFINITY);
        for i in 0..iterations {
            if i > 0 {
                mismatch = self.mismatch(patch, window, [u, v]);
            }
            let Mismatch { b: [bx, by], ssd } = mismatch;
            if ssd >= last.1 {
                [u, v] = last.0; // the last step made it worse: undo it
                break;
            }
            last = ([u, v], ssd);
            let du = ixx * bx + ixy * by;
            let dv = ixy * bx + iyy * by;
            u -= du;
            v -= dv;
            if du * du + dv * dv < 1e-4 {
                break;
            }
        }
        let (du, dv) = (u - start[0], v - start[1]);
        if !(u.is_finite() && v.is_finite()) || du * du + dv * dv > (self.size * self.size) as f32 {
            return start; // diverged: moved farther than a patch
        }
        [u, v]
    }

    /// The mismatch of `patch` against the second frame displaced by (u, v). The displacement
    /// is the same for the whole patch, so are the bilinear weights: every sample is four loads
    /// and three multiply-adds, from the frame itself where the patch's samples lie inside it,
    /// or from `window`, the frame's pixels around them with its edge repeated.
    fn mismatch(&self, patch: &Patch, window: &mut Window, [u, v]: [f32; 2]) -> Mismatch {
        let (size, w, h) = (self.size, self.i1.w, self.i1.h);
        let (x0, y0) = (patch.x0, patch.y0);
        let (fx, fy) = (x0 as f32 + u, y0 as f32 + v);
        let (bx0, by0) = (floor(fx), floor(fy));
        let a = [fx - bx0, fy - by0];
        let inside =
            bx0 >= 0.0 && by0 >= 0.0 && (bx0 as usize + size) < w && (by0 as usize + size) < h;
        let second = if inside {
            let start = by0 as usize * w + bx0 as usize;
            (&self.i1.data[start..], w)
        } else {
            window.fill(self.i1, bx0, by0);
            (&window.data[..], size + 1)
        };
        let at = y0 * w + x0;
        let first = [
            &self.i0.data[at..],
            &self.i0x.data[at..],
            &self.i0y.data[at..],
        ];
        let [sx, sy, sum, squares] = match size {
            8 => patch_sums::<8>(second, a, first, w),
            16 => patch_sums::<16>(second, a, first, w),
            _ => patch_sums_any(size, second, a, first, w),
        };
        let [mx, my] = patch.mean;
        Mismatch {
            b: [sx - mx * sum, sy - my * sum],
            ssd: squares - sum * sum / (size * size) as f32,
        }
    }

    /// Blends the overlapping patches' displacements into a dense field, each weighted by the
    /// inverse of its brightness mismatch at the pixel. Row by row, patch by patch: a patch's
    /// displacement is the same for all its pixels, and so are its bilinear weights. Written
    /// over (u, v), planes of the level's size.
    pub(super) fn densify(&self, patches: &[[f32; 2]], u: &mut Plane, v: &mut Plane) {
        let (w, h) = (self.i0.w, self.i0.h);
        let nx = self.xs.len();
        let cover_y = coverage(h, &self.ys, self.size);
        u.data
            .par_chunks_mut(w)
            .zip(v.data.par_chunks_mut(w))
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each_init(
                || vec![0f32; w],
                |weights, (y, (ur, vr))| {
                    for sums in [&mut *weights, &mut *ur, &mut *vr] {
                        sums.fill(0.0);
                    }
                    let (ya, yb) = cover_y[y];
                    for row in patches.chunks(nx).take(yb).skip(ya) {
                        for (&x0, &[pu, pv]) in self.xs.iter().zip(row) {
                            let span = x0..x0 + self.size;
                            let sums = (&mut ur[span.clone()], &mut vr[span.clone()]);
                            self.blend(x0, y, [pu, pv], sums, &mut weights[span]);
                        }
                    }
                    for ((u, v), s) in ur.iter_mut().zip(vr.iter_mut()).zip(weights.iter()) {
                        *u /= s;
                        *v /= s;
                    }
                },
            );
    }

    /// Adds one patch's displacement (pu, pv), weighted, to the sums of the pixels x0.. of row
    /// y that it covers.
    fn blend(
        &self,
        x0: usize,
        y: usize,
        [pu, pv]: [f32; 2],
        (su, sv): (&mut [f32], &mut [f32]),
        sw: &mut [f32],
    ) {
        let (w, h) = (self.i1.w, self.i1.h);
        let n = sw.len();
        let i0 = &self.i0.data[y * w + x0..y * w + x0 + n];
        let (fx, fy) = (x0 as f32 + pu, y as f32 + pv);
        let (bx, by) = (floor(fx), floor(fy));
        let (ax, ay) = (fx - bx, fy - by);
        let mut add = |k: usize, sample: f32| {
            let weight = 1.0 / (sample - i0[k]).abs().max(1.0);
            su[k] += weight * pu;
            sv[k] += weight * pv;
            sw[k] += weight;
        };
        if bx >= 0.0 && by >= 0.0 && bx as usize + n < w && (by as usize) + 1 < h {
            let start = by as usize * w + bx as usize;
            let top = &self.i1.data[start..start + n + 1];
            let bottom = &self.i1.data[start + w..start + w + n + 1];
            for k in 0..n {
                let upper = top[k] + ax * (top[k + 1] - top[k]);
                let lower = bottom[k] + ax * (bottom[k + 1] - bottom[k]);
                add(k, upper + ay * (lower - upper));
            }
        } else {
            for k in 0..n {
                add(k, self.i1.sample((x0 + k) as f32 + pu, fy));
            }
        }
    }
}

/// The (N + 1)×(N + 1) pixels of a frame from a top-left corner that may lie outside it, each
/// read at the nearest pixel inside: bilinear samples from it equal those of the frame at
/// clamped positions.
struct Window {
    data: Vec<f32>,
    side: usize,
}

impl Window {
    fn new(size: usize) -> Window {
        Window {
            data: vec![0.0; (size + 1) * (size + 1)],
            side: size + 1,
        }
    }

    /// Takes the pixels of `plane` from (x, y) (whole numbers).
    fn fill(&mut self, plane: &Plane, x: f32, y: f32) {
        // Far outside, `as` saturates: still outside.
        let (x, y) = (x as isize, y as isize);
        let clamp = |p: isize, d: usize, n: usize| {
            p.saturating_add(d as isize).clamp(0, n as isize - 1) as usize
        };
        for (dy, row) in self.data.chunks_exact_mut(self.side).enumerate() {
            let src = &plane.data[clamp(y, dy, plane.h) * plane.w..][..plane.w];
            for (dx, o) in row.iter_mut().enumerate() {
                *o = src[clamp(x, dx, plane.w)];
            }
        }
    }
}

/// Σ gx·r, Σ gy·r, Σ r and Σ r² over an N×N patch, r the residual of the second frame sampled at
/// the offsets (ax, ay) against the template, with the gradients gx and gy. `second` is the second
/// frame from the patch's top-left sample and its row stride (N + 1 values a row are read, N + 1
/// rows); `first` the template, gx and gy from the patch's top-left pixel, all `w` wide. SSE2 (part
/// of x86_64) four pixels at a time, or [`patch_sums_any`] elsewhere.
fn patch_sums<const N: usize>(
    second: (&[f32], usize),
    a: [f32; 2],
    first: [&[f32]; 3],
    w: usize,
) -> [f32; 4] {
    // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 processor has it.
    #[cfg(target_arch = "x86_64")]
    return unsafe { patch_sums_sse2::<N>(second, a, first, w) };
    #[cfg(not(target_arch = "x86_64"))]
    return patch_sums_any(N, second, a, first, w);
}

/// [`patch_sums`] with SSE2 vectors of four pixels; N a multiple of 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn patch_sums_sse2<const N: usize>(
    (data, stride): (&[f32], usize),
    [ax, ay]: [f32; 2],
    [t, gx, gy]: [&[f32]; 3],
    w: usize,
) -> [f32; 4] {
    use std::arch::x86_64::*;
    const { assert!(N.is_multiple_of(4), "whole vectors of four") };
    // The last rows read: the second frame's N + 1 values of row N, the template's N of row
    // N − 1. Checked once here, so that the loop needs no checks.
    assert!(
        data.len() > N * stride + N && stride > N,
        "the second frame's patch"
    );
    assert!([t, gx, gy].iter().all(|p| p.len() >= (N - 1) * w + N) && w >= N);
    let (vax, vay) = (_mm_set1_ps(ax), _mm_set1_ps(ay));
    let mut acc = [_mm_setzero_ps(); 4];
    for dy in 0..N {
        let (at, k) = (dy * stride, dy * w);
        for j in (0..N).step_by(4) {
            // SAFETY: dy < N and j + 4 ≤ N, so the values read lie within the bounds asserted
            // above: from `at + j` to `at + stride + j + 5` ≤ N·stride + N + 1 in `data`, from
            // `k + j` to `k + j + 4` ≤ (N − 1)·w + N in the others; unaligned loads need no
            // alignment.
            let (p, q, p1, q1, tj, x, y) = unsafe {
                let (top, bottom) = (
                    data.as_ptr().add(at + j),
                    data.as_ptr().add(at + stride + j),
                );
                (
                    _mm_loadu_ps(top),
                    _mm_loadu_ps(bottom),
                    _mm_loadu_ps(top.add(1)),
                    _mm_loadu_ps(bottom.add(1)),
                    _mm_loadu_ps(t.as_ptr().add(k + j)),
                    _mm_loadu_ps(gx.as_ptr().add(k + j)),
                    _mm_loadu_ps(gy.as_ptr().add(k + j)),
                )
            };
            let upper = _mm_add_ps(p, _mm_mul_ps(vax, _mm_sub_ps(p1, p)));
            let lower = _mm_add_ps(q, _mm_mul_ps(vax, _mm_sub_ps(q1, q)));
            let r = _mm_sub_ps(
                _mm_add_ps(upper, _mm_mul_ps(vay, _mm_sub_ps(lower, upper))),
                tj,
            );
            acc[0] = _mm_add_ps(acc[0], _mm_mul_ps(x, r));
            acc[1] = _mm_add_ps(acc[1], _mm_mul_ps(y, r));
            acc[2] = _mm_add_ps(acc[2], r);
            acc[3] = _mm_add_ps(acc[3], _mm_mul_ps(r, r));
        }
    }
    acc.map(|v| {
        let mut lanes = [0f32; 4];
        // SAFETY: `lanes` holds four f32; the store is unaligned.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().sum()
    })
}

/// [`patch_sums`] for any patch size, one pixel at a time (other sizes and targets, and the
/// reference of the SIMD version's test).
fn patch_sums_any(
    n: usize,
    (data, stride): (&[f32], usize),
    [ax, ay]: [f32; 2],
    [t, gx, gy]: [&[f32]; 3],
    w: usize,
) -> [f32; 4] {
    let mut sums = [0f32; 4];
    for dy in 0..n {
        let at = dy * stride;
        for j in 0..n {
            let (p, q) = (data[at + j], data[at + stride + j]);
            let upper = p + ax * (data[at + j + 1] - p);
            let lower = q + ax * (data[at + stride + j + 1] - q);
            let k = dy * w + j;
            let r = upper + ay * (lower - upper) - t[k];
            sums[0] += gx[k] * r;
            sums[1] += gy[k] * r;
            sums[2] += r;
            sums[3] += r * r;
        }
    }
    sums
}

/// ⌊x⌋ without the library call that `f32::floor` makes where the processor's baseline has no
/// rounding instruction (x86_64's). Beyond 2²³ every `f32` is a whole number already.
#[inline]
fn floor(x: f32) -> f32 {
    if x.abs() < 8_388_608.0 {
        let t = x as i32 as f32;
        if t > x {
            t - 1.0
        } else {
            t
        }
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector kernel gives the scalar one's sums (up to the order of the additions).
    #[test]
    fn the_simd_patch_sums_equal_the_scalar_ones() {
        fn check<const N: usize>() {
            let (w1, w0) = (41, 37);
            let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0).sin();
            let data: Vec<f32> = (0..w1 * 40).map(value).collect();
            let plane = |seed: usize| (0..w0 * 40).map(|i| value(i + seed)).collect::<Vec<_>>();
            let (t, gx, gy) = (plane(5000), plane(9000), plane(13000));
            for (start, a, at) in [
                (0, [0.0, 0.0], 0),
                (3 * w1 + 5, [0.25, 0.7], 2 * w0 + 3),
                (11 * w1 + 17, [0.9, 0.1], 9 * w0 + 1),
            ] {
                let first = [&t[at..], &gx[at..], &gy[at..]];
                let second = (&data[start..], w1);
                let got = patch_sums::<N>(second, a, first, w0);
                let want = patch_sums_any(N, second, a, first, w0);
                for (x, y) in got.iter().zip(want) {
                    assert!(
                        (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                        "N={N}: {got:?} vs {want:?}"
                    );
                }
            }
        }
        check::<8>();
        check::<16>();
    }

    /// The floor without the library agrees with the library's.
    #[test]
    fn floor_agrees_with_the_library() {
        for x in [
            -3.5f32, -3.0, -0.25, -0.0, 0.0, 0.75, 2.0, 7.999, 1e7, -1e7, 3e9, -3e9,
        ] {
            assert_eq!(floor(x), x.floor(), "{x}");
        }
        assert!(floor(f32::NAN).is_nan());
    }

    /// A window over the frame's edge holds the pixels at the clamped positions.
    #[test]
    fn a_window_repeats_the_frame_edge() {
        let mut plane = Plane::zeros(5, 4);
        for (i, v) in plane.data.iter_mut().enumerate() {
            *v = i as f32;
        }
        let mut window = Window::new(2);
        window.fill(&plane, -2.0, 2.0);
        // Rows 2, 3, 3 of columns 0, 0, 0.
        assert_eq!(
            window.data,
            [10.0, 10.0, 10.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0]
        );
        window.fill(&plane, 3.0, -1.0);
        assert_eq!(window.data, [3.0, 4.0, 4.0, 3.0, 4.0, 4.0, 8.0, 9.0, 9.0]);
    }
}
