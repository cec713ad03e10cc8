//! The variational refinement of a level's flow (brightness and gradient constancy, robust
//! penalties, edge-preserving smoothness), solved by red–black SOR.

use rayon::prelude::*;

use super::pyramid::{rows_per_task, Plane, PIXELS_PER_TASK};
use super::FlowParams;

/// ε of the robust penalty Ψ(s²) = √(s² + ε²).
const EPSILON: f32 = 1e-3;
/// ζ of the data terms' normalization by 1/(|∇I|² + ζ²).
const ZETA: f32 = 0.1;
/// Over-relaxation factor of the SOR sweeps.
const OMEGA: f32 = 1.6;

/// Derivative of the robust penalty, Ψ'(s²) = 1 / (2√(s² + ε²)).
#[inline]
fn psi_prime(s2: f32) -> f32 {
    0.5 / (s2 + EPSILON * EPSILON).sqrt()
}

/// One pixel's data terms, linearized about the current flow, with their normalizations.
#[derive(Clone, Copy)]
struct DataTerms {
    /// Ix, Iy, Iz: brightness constancy.
    ix: f32,
    iy: f32,
    iz: f32,
    /// Ixx, Ixy, Iyy, Ixz, Iyz: gradient constancy.
    ixx: f32,
    ixy: f32,
    iyy: f32,
    ixz: f32,
    iyz: f32,
    /// 1/(|∇I|² + ζ²) of brightness constancy and of the two gradient components.
    nb: f32,
    ngx: f32,
    ngy: f32,
}

/// Variational refinement (as in DIS, after Brox et al. 2004): about the current flow (u, v),
/// solves for an increment that lowers
/// δ·Ψ(brightness) + γ·Ψ(gradient) + α·Ψ(|∇u|² + |∇v|²), by fixed-point iterations on the robust
/// weights and red–black SOR on the linear system.
pub(super) fn refine(
    i0: &Plane,
    i1: &Plane,
    i0x: &Plane,
    i0y: &Plane,
    u: &mut Plane,
    v: &mut Plane,
    params: &FlowParams,
) {
    if params.refine_iterations == 0 || i0.w < 2 || i0.h < 2 {
        return;
    }
    let (w, h) = (i0.w, i0.h);
    let (i1x, i1y) = i1.gradient();
    let i1w = i1.warped(u, v);
    let i1wx = i1x.warped(u, v);
    let i1wy = i1y.warped(u, v);
    let ix = i1wx.mean_with(i0x);
    let iy = i1wy.mean_with(i0y);
    let (ixx, ixy) = ix.gradient();
    let (_, iyy) = iy.gradient();
    let zeta2 = ZETA * ZETA;
    let terms: Vec<DataTerms> = (0..w * h)
        .into_par_iter()
        .with_min_len(PIXELS_PER_TASK)
        .map(|i| {
            let (gx, gy) = (ix.data[i], iy.data[i]);
            let (gxx, gxy, gyy) = (ixx.data[i], ixy.data[i], iyy.data[i]);
            DataTerms {
                ix: gx,
                iy: gy,
                iz: i1w.data[i] - i0.data[i],
                ixx: gxx,
                ixy: gxy,
                iyy: gyy,
                ixz: i1wx.data[i] - i0x.data[i],
                iyz: i1wy.data[i] - i0y.data[i],
                nb: 1.0 / (gx * gx + gy * gy + zeta2),
                ngx: 1.0 / (gxx * gxx + gxy * gxy + zeta2),
                ngy: 1.0 / (gxy * gxy + gyy * gyy + zeta2),
            }
        })
        .collect();

    let mut du = vec![0f32; w * h];
    let mut dv = vec![0f32; w * h];
    let mut system = vec![Equation::default(); w * h];
    for _ in 0..params.refine_iterations {
        let smooth = smoothness_weights(u, v, &du, &dv);
        system
            .par_chunks_mut(w)
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each(|(y, row)| {
                for (x, eq) in row.iter_mut().enumerate() {
                    let i = y * w + x;
                    let s = smooth.data[i];
                    let edge = |present: bool, j: usize| {
                        if present {
                            params.alpha * 0.5 * (s + smooth.data[j])
                        } else {
                            0.0
                        }
                    };
                    let weights = [
                        edge(x > 0, i.wrapping_sub(1)),
                        edge(x + 1 < w, i + 1),
                        edge(y > 0, i.wrapping_sub(w)),
                        edge(y + 1 < h, i + w),
                    ];
                    let neighbours = [
                        i - usize::from(x > 0),
                        i + usize::from(x + 1 < w),
                        i - w * usize::from(y > 0),
                        i + w * usize::from(y + 1 < h),
                    ];
                    let [a11, a12, a22, b1, b2] = data_equation(&terms[i], du[i], dv[i], params);
                    let mut cu = -b1;
                    let mut cv = -b2;
                    for (s, j) in weights.iter().zip(neighbours) {
                        cu += s * (u.data[j] - u.data[i]);
                        cv += s * (v.data[j] - v.data[i]);
                    }
                    let sum: f32 = weights.iter().sum();
                    *eq = Equation {
                        a12,
                        cu,
                        cv,
                        inv_u: 1.0 / (a11 + sum),
                        inv_v: 1.0 / (a22 + sum),
                        weights,
                    };
                }
            });
        for _ in 0..params.sor_iterations {
            for colour in 0..2 {
                sor_half_sweep(colour, w, &system, &mut du, &mut dv);
            }
        }
    }
    u.data.iter_mut().zip(&du).for_each(|(a, d)| *a += d);
    v.data.iter_mut().zip(&dv).for_each(|(a, d)| *a += d);
}

/// The linear equations of one pixel's increment (du, dv) within a fixed-point iteration:
/// `du = inv_u · (cu + Σ wₙ duₙ − a12 dv)` and `dv = inv_v · (cv + Σ wₙ dvₙ − a12 du)`.
#[derive(Clone, Copy, Default)]
struct Equation {
    a12: f32,
    /// The data term's constant and the smoothness pull of the current flow, for u and v.
    cu: f32,
    cv: f32,
    /// 1 / (diagonal of the data term + sum of the smoothness weights), for u and v.
    inv_u: f32,
    inv_v: f32,
    /// α × smoothness weights to the left, right, upper and lower neighbours (0 beyond the frame).
    weights: [f32; 4],
}

/// One half of a red–black SOR sweep: every pixel of one colour of the checkerboard
/// (`(x + y) % 2 == colour`), updated from its four neighbours, which are all of the other colour
/// and so fixed during the half sweep. The pixels of one colour are independent: rows run in
/// parallel and a row's updates do not wait on each other.
fn sor_half_sweep(colour: usize, w: usize, system: &[Equation], du: &mut [f32], dv: &mut [f32]) {
    let h = du.len() / w;
    let (pu, pv) = (Shared(du.as_mut_ptr()), Shared(dv.as_mut_ptr()));
    (0..h)
        .into_par_iter()
        .with_min_len(rows_per_task(w))
        .for_each(|y| {
            let (pu, pv) = (&pu, &pv);
            let at = |p: &Shared, i: usize| {
                // SAFETY: `i` < w·h, the length of both slices; reads are of the other colour, which
                // no task of this half sweep writes.
                unsafe { *p.0.add(i) }
            };
            let row = y * w;
            let up = if y > 0 { row - w } else { row };
            let down = if y + 1 < h { row + w } else { row };
            for x in ((y + colour) % 2..w).step_by(2) {
                let eq = &system[row + x];
                let [wl, wr, wu, wd] = eq.weights;
                let (l, r) = (row + x.saturating_sub(1), row + (x + 1).min(w - 1));
                let (i, iu, id) = (row + x, up + x, down + x);
                let nu = wl * at(pu, l) + wr * at(pu, r) + wu * at(pu, iu) + wd * at(pu, id);
                let nv = wl * at(pv, l) + wr * at(pv, r) + wu * at(pv, iu) + wd * at(pv, id);
                let (old_u, old_v) = (at(pu, i), at(pv, i));
                let new_u = (eq.cu + nu - eq.a12 * old_v) * eq.inv_u;
                let new_u = old_u + OMEGA * (new_u - old_u);
                let new_v = (eq.cv + nv - eq.a12 * new_u) * eq.inv_v;
                // SAFETY: pixel i has this half sweep's colour and row y belongs to this task alone.
                unsafe {
                    *pu.0.add(i) = new_u;
                    *pv.0.add(i) = old_v + OMEGA * (new_v - old_v);
                }
            }
        });
}

/// A pointer that the tasks of one SOR half sweep share: each writes only its own pixels.
struct Shared(*mut f32);

// SAFETY: the tasks write disjoint elements and read only elements nobody writes meanwhile
// (see `sor_half_sweep`).
unsafe impl Sync for Shared {}

/// Ψ'(|∇(u + du)|² + |∇(v + dv)|²) per pixel, by forward differences.
fn smoothness_weights(u: &Plane, v: &Plane, du: &[f32], dv: &[f32]) -> Plane {
    let (w, h) = (u.w, u.h);
    Plane::map_rows(w, h, |y, row| {
        for (x, out) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let uf = |j: usize| u.data[j] + du[j];
            let vf = |j: usize| v.data[j] + dv[j];
            let (ux, vx) = if x + 1 < w {
                (uf(i + 1) - uf(i), vf(i + 1) - vf(i))
            } else {
                (0.0, 0.0)
            };
            let (uy, vy) = if y + 1 < h {
                (uf(i + w) - uf(i), vf(i + w) - vf(i))
            } else {
                (0.0, 0.0)
            };
            *out = psi_prime(ux * ux + uy * uy + vx * vx + vy * vy);
        }
    })
}

/// The data term's 2×2 system at a pixel with the robust weights at the current increment:
/// `[a11, a12, a22, b1, b2]` such that the data gradient is A·(du, dv) + b.
#[inline]
fn data_equation(t: &DataTerms, du: f32, dv: f32, params: &FlowParams) -> [f32; 5] {
    let DataTerms {
        ix,
        iy,
        iz,
        ixx,
        ixy,
        iyy,
        ixz,
        iyz,
        nb,
        ngx,
        ngy,
    } = *t;
    // Brightness constancy, normalized by the local gradient.
    let rb = ix * du + iy * dv + iz;
    let wb = params.delta * nb * psi_prime(nb * rb * rb);
    // Gradient constancy, each component normalized by its own gradient.
    let rgx = ixx * du + ixy * dv + ixz;
    let rgy = ixy * du + iyy * dv + iyz;
    let wg = params.gamma * psi_prime(ngx * rgx * rgx + ngy * rgy * rgy);
    let (gx, gy) = (wg * ngx, wg * ngy);
    [
        wb * ix * ix + gx * ixx * ixx + gy * ixy * ixy,
        wb * ix * iy + gx * ixx * ixy + gy * ixy * iyy,
        wb * iy * iy + gx * ixy * ixy + gy * iyy * iyy,
        wb * ix * iz + gx * ixx * ixz + gy * ixy * iyz,
        wb * iy * iz + gx * ixy * ixz + gy * iyy * iyz,
    ]
}
