//! DIS's patch search: patches on a grid find their displacement by inverse compositional
//! Gauss–Newton, then are blended into a dense field.

use rayon::prelude::*;

use super::pyramid::{rows_per_task, Plane};
use super::FlowParams;

/// Patches searched by one task at the least: below it, splitting costs more than it saves.
const PATCHES_PER_TASK: usize = 64;

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

/// One patch's template and mean-normalized gradients, reused from patch to patch.
struct Patch {
    gx: Vec<f32>,
    gy: Vec<f32>,
    template: Vec<f32>,
    /// Per-column sums of [`PatchSearch::mismatch`].
    columns: Vec<f32>,
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
        }
    }

    /// The displacement of every patch (row-major over the grid), starting from the dense field
    /// (u, v) at the patch centre.
    pub(super) fn run(&self, u: &Plane, v: &Plane) -> Vec<[f32; 2]> {
        let nx = self.xs.len();
        let n = self.size * self.size;
        (0..self.ys.len() * nx)
            .into_par_iter()
            .with_min_len(PATCHES_PER_TASK)
            .map_init(
                || Patch {
                    gx: Vec::with_capacity(n),
                    gy: Vec::with_capacity(n),
                    template: Vec::with_capacity(n),
                    columns: Vec::new(),
                },
                |patch, k| {
                    let (x0, y0) = (self.xs[k % nx], self.ys[k / nx]);
                    let c = (self.size as f32 - 1.0) / 2.0;
                    let (cx, cy) = (x0 as f32 + c, y0 as f32 + c);
                    let start = [u.sample(cx, cy), v.sample(cx, cy)];
                    self.search(patch, x0, y0, start)
                },
            )
            .collect()
    }

    /// Inverse compositional Gauss–Newton on the mean-normalized patch at (x0, y0).
    fn search(&self, patch: &mut Patch, x0: usize, y0: usize, start: [f32; 2]) -> [f32; 2] {
        let n = self.size * self.size;
        let w = self.i0.w;
        let Patch {
            gx,
            gy,
            template,
            columns,
        } = patch;
        gx.clear();
        gy.clear();
        template.clear();
        for y in y0..y0 + self.size {
            let r = y * w;
            gx.extend_from_slice(&self.i0x.data[r + x0..r + x0 + self.size]);
            gy.extend_from_slice(&self.i0y.data[r + x0..r + x0 + self.size]);
            template.extend_from_slice(&self.i0.data[r + x0..r + x0 + self.size]);
        }
        // Mean normalization: with gradients centred, the residual's mean drops out of the
        // update, so the patch is matched up to an additive brightness change.
        let (mx, my) = (mean(gx), mean(gy));
        gx.iter_mut().for_each(|g| *g -= mx);
        gy.iter_mut().for_each(|g| *g -= my);
        let (mut hxx, mut hxy, mut hyy) = (0f32, 0f32, 0f32);
        for (a, b) in gx.iter().zip(gy.iter()) {
            hxx += a * a;
            hxy += a * b;
            hyy += b * b;
        }
        let det = hxx * hyy - hxy * hxy;
        let trace = hxx + hyy;
        if det <= 1e-4 * trace * trace || trace < 1e-3 * n as f32 {
            return start; // no texture, or an edge only: keep the coarse estimate
        }
        let (ixx, ixy, iyy) = (hyy / det, -hxy / det, hxx / det);
        let [mut u, mut v] = start;
        for _ in 0..self.iterations {
            let (bx, by) = self.mismatch(x0, y0, u, v, template, gx, gy, columns);
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

    /// Σ g·r over the patch at (x0, y0) for both gradients g, where r is the residual of the
    /// second frame displaced by (u, v) against the template. The displacement is the same for the
    /// whole patch, so are the bilinear weights: inside the frame every sample is four loads and
    /// three multiply-adds, without clamping.
    #[allow(clippy::too_many_arguments)]
    fn mismatch(
        &self,
        x0: usize,
        y0: usize,
        u: f32,
        v: f32,
        template: &[f32],
        gx: &[f32],
        gy: &[f32],
        columns: &mut Vec<f32>,
    ) -> (f32, f32) {
        let size = self.size;
        let (fx, fy) = (x0 as f32 + u, y0 as f32 + v);
        let (bx0, by0) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - bx0, fy - by0);
        let (w, h) = (self.i1.w, self.i1.h);
        let inside =
            bx0 >= 0.0 && by0 >= 0.0 && (bx0 as usize + size) < w && (by0 as usize + size) < h;
        let (mut bx, mut by) = (0f32, 0f32);
        if inside {
            let (x, y) = (bx0 as usize, by0 as usize);
            let data = &self.i1.data;
            // Per-column sums, added up at the end: the row loop then has no running sum and
            // vectorizes.
            columns.clear();
            columns.resize(2 * size, 0.0);
            let (cx, cy) = columns.split_at_mut(size);
            for dy in 0..size {
                let top = &data[(y + dy) * w + x..(y + dy) * w + x + size + 1];
                let bottom = &data[(y + dy + 1) * w + x..(y + dy + 1) * w + x + size + 1];
                let k = dy * size;
                let (t, gxr, gyr) = (&template[k..k + size], &gx[k..k + size], &gy[k..k + size]);
                add_row_mismatch(cx, cy, [top, bottom], [ax, ay], t, [gxr, gyr]);
            }
            bx = cx.iter().sum();
            by = cy.iter().sum();
        } else {
            let mut k = 0;
            for dy in 0..size {
                let y = (y0 + dy) as f32 + v;
                for dx in 0..size {
                    let r = self.i1.sample((x0 + dx) as f32 + u, y) - template[k];
                    bx += gx[k] * r;
                    by += gy[k] * r;
                    k += 1;
                }
            }
        }
        (bx, by)
    }

    /// Blends the overlapping patches' displacements into a dense field, each weighted by the
    /// inverse of its brightness mismatch at the pixel. Row by row, patch by patch: a patch's
    /// displacement is the same for all its pixels, and so are its bilinear weights.
    pub(super) fn densify(&self, patches: &[[f32; 2]]) -> (Plane, Plane) {
        let (w, h) = (self.i0.w, self.i0.h);
        let nx = self.xs.len();
        let cover_y = coverage(h, &self.ys, self.size);
        let mut u = Plane::zeros(w, h);
        let mut v = Plane::zeros(w, h);
        u.data
            .par_chunks_mut(w)
            .zip(v.data.par_chunks_mut(w))
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each_init(
                || vec![0f32; w],
                |weights, (y, (ur, vr))| {
                    weights.fill(0.0);
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
        (u, v)
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
        let (bx, by) = (fx.floor(), fy.floor());
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

/// Adds to the column sums (cx, cy) the gradients (gx, gy) × the residual of one patch row: the
/// row between `top` and `bottom` sampled at the offsets (ax, ay), less the template row `t`.
/// The sums are parameters of their own, which tells the compiler that they overlap nothing
/// else: the loop vectorizes.
fn add_row_mismatch(
    cx: &mut [f32],
    cy: &mut [f32],
    [top, bottom]: [&[f32]; 2],
    [ax, ay]: [f32; 2],
    t: &[f32],
    [gx, gy]: [&[f32]; 2],
) {
    let n = cx.len();
    let (cy, t, gx, gy) = (&mut cy[..n], &t[..n], &gx[..n], &gy[..n]);
    let (top, bottom) = (&top[..n + 1], &bottom[..n + 1]);
    for k in 0..n {
        let upper = top[k] + ax * (top[k + 1] - top[k]);
        let lower = bottom[k] + ax * (bottom[k + 1] - bottom[k]);
        let r = upper + ay * (lower - upper) - t[k];
        cx[k] += gx[k] * r;
        cy[k] += gy[k] * r;
    }
}

/// The mean of `x`.
fn mean(x: &[f32]) -> f32 {
    x.iter().sum::<f32>() / x.len() as f32
}
