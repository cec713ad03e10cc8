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
        let Patch { gx, gy, template } = patch;
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
            let (bx, by) = self.mismatch(x0, y0, u, v, template, gx, gy);
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
            for dy in 0..size {
                let top = &data[(y + dy) * w + x..(y + dy) * w + x + size + 1];
                let bottom = &data[(y + dy + 1) * w + x..(y + dy + 1) * w + x + size + 1];
                let k = dy * size;
                let (t, gxr, gyr) = (&template[k..k + size], &gx[k..k + size], &gy[k..k + size]);
                for dx in 0..size {
                    let upper = top[dx] + ax * (top[dx + 1] - top[dx]);
                    let lower = bottom[dx] + ax * (bottom[dx + 1] - bottom[dx]);
                    let r = upper + ay * (lower - upper) - t[dx];
                    bx += gxr[dx] * r;
                    by += gyr[dx] * r;
                }
            }
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
    /// inverse of its brightness mismatch at the pixel.
    pub(super) fn densify(&self, patches: &[[f32; 2]]) -> (Plane, Plane) {
        let (w, h) = (self.i0.w, self.i0.h);
        let nx = self.xs.len();
        let cover_x = coverage(w, &self.xs, self.size);
        let cover_y = coverage(h, &self.ys, self.size);
        let mut u = Plane::zeros(w, h);
        let mut v = Plane::zeros(w, h);
        u.data
            .par_chunks_mut(w)
            .zip(v.data.par_chunks_mut(w))
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each(|(y, (ur, vr))| {
                let (ya, yb) = cover_y[y];
                for x in 0..w {
                    let (xa, xb) = cover_x[x];
                    let i0 = self.i0.at(x, y);
                    let (mut su, mut sv, mut sw) = (0f32, 0f32, 0f32);
                    for py in ya..yb {
                        for [pu, pv] in &patches[py * nx + xa..py * nx + xb] {
                            let d = self.i1.sample(x as f32 + pu, y as f32 + pv) - i0;
                            let weight = 1.0 / d.abs().max(1.0);
                            su += weight * pu;
                            sv += weight * pv;
                            sw += weight;
                        }
                    }
                    ur[x] = su / sw;
                    vr[x] = sv / sw;
                }
            });
        (u, v)
    }
}

/// The mean of `x`.
fn mean(x: &[f32]) -> f32 {
    x.iter().sum::<f32>() / x.len() as f32
}
