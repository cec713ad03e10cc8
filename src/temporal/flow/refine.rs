//! The variational refinement of a level's flow (brightness and gradient constancy, robust
//! penalties, edge-preserving smoothness), solved by red–black SOR.
//!
//! Every per-pixel quantity lives in a [`Checker`]: the pixels of each colour of the checkerboard
//! in a plane of their own, so that a pixel's four neighbours are the same slot and its shifted
//! slots in the rows of the other colour. A half sweep then writes one plane while reading the
//! other, and every pass is a loop over contiguous, equally long row slices that the compiler
//! vectorizes (after OpenCV's `VariationalRefinement` and its `RedBlackBuffer`).

use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelIterator};
use rayon::slice::ParallelSliceMut;

use super::checker::{own_and_other, Checker, Grid};
use super::pyramid::{gradient_x_into, gradient_y_into, rows_per_task, Plane};
use super::simd::{heads, vectorized};
use super::FlowParams;
use crate::temporal::warp::Taps;

/// ε of the robust penalty Ψ(s²) = √(s² + ε²).
const EPSILON: f32 = 1e-3;
/// ζ of the data terms' normalization by 1/(|∇I|² + ζ²).
const ZETA: f32 = 0.1;
/// Over-relaxation factor of the SOR sweeps.
const OMEGA: f32 = 1.6;

/// Derivative of the robust penalty, Ψ'(s²) = 1 / (2√(s² + ε²)).
#[inline(always)]
fn psi_prime(s2: f32) -> f32 {
    0.5 / (s2 + EPSILON * EPSILON).sqrt()
}

/// Every pixel's data terms, linearized about the level's flow, with their normalizations.
#[derive(Default)]
struct DataTerms {
    /// Ix, Iy, Iz: brightness constancy.
    ix: Checker,
    iy: Checker,
    iz: Checker,
    /// Ixx, Ixy, Iyy, Ixz, Iyz: gradient constancy.
    ixx: Checker,
    ixy: Checker,
    iyy: Checker,
    ixz: Checker,
    iyz: Checker,
    /// 1/(|∇I|² + ζ²) of brightness constancy and of the two gradient components.
    nb: Checker,
    ngx: Checker,
    ngy: Checker,
    /// The same terms row-major, before their split, and i1's gradient.
    rows: Rows,
}

/// Row-major planes of the data terms, kept across levels and calls: each holds the values of
/// the largest level so far, of which a level uses the first w·h.
#[derive(Default)]
struct Rows {
    i1x: Vec<f32>,
    i1y: Vec<f32>,
    ix: Vec<f32>,
    iy: Vec<f32>,
    iz: Vec<f32>,
    ixz: Vec<f32>,
    iyz: Vec<f32>,
    ixx: Vec<f32>,
    ixy: Vec<f32>,
    iyy: Vec<f32>,
}

/// The first `n` values of `buffer`, which grows (zero-filled) only past its longest length so
/// far: the caller writes all `n` before reading them.
fn room(buffer: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buffer.len() < n {
        buffer.resize(n, 0.0);
    }
    &mut buffer[..n]
}

impl DataTerms {
    /// The derivatives of the mean of `i0` and `i1` warped back by (u, v), and the differences
    /// of the two.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        grid: Grid,
        i0: &Plane,
        i1: &Plane,
        i0x: &Plane,
        i0y: &Plane,
        u: &Plane,
        v: &Plane,
    ) {
        let (w, n) = (grid.w, grid.w * grid.h);
        let r = &mut self.rows;
        let (i1x, i1y) = (room(&mut r.i1x, n), room(&mut r.i1y, n));
        gradient_x_into(&i1.data, w, i1x);
        gradient_y_into(&i1.data, w, i1y);
        let [ix, iy, iz, ixz, iyz] =
            [&mut r.ix, &mut r.iy, &mut r.iz, &mut r.ixz, &mut r.iyz].map(|b| room(b, n));
        warp_terms(
            [i0, i0x, i0y].map(|p| &p.data[..]),
            [&i1.data, i1x, i1y],
            (u, v),
            [ix, iy, iz, ixz, iyz],
        );
        let [ixx, ixy, iyy] = [&mut r.ixx, &mut r.ixy, &mut r.iyy].map(|b| room(b, n));
        gradient_x_into(&r.ix[..n], w, ixx);
        gradient_y_into(&r.ix[..n], w, ixy);
        gradient_y_into(&r.iy[..n], w, iyy);
        let [ix, iy, iz, ixz, iyz, ixx, ixy, iyy] =
            [&r.ix, &r.iy, &r.iz, &r.ixz, &r.iyz, &r.ixx, &r.ixy, &r.iyy].map(|b| &b[..n]);
        let zeta2 = ZETA * ZETA;
        for (out, plane) in [
            (&mut self.ix, ix),
            (&mut self.iy, iy),
            (&mut self.iz, iz),
            (&mut self.ixx, ixx),
            (&mut self.ixy, ixy),
            (&mut self.iyy, iyy),
            (&mut self.ixz, ixz),
            (&mut self.iyz, iyz),
        ] {
            out.split_map(grid, [plane], |[x]| x);
        }
        for (out, a, b) in [
            (&mut self.nb, ix, iy),
            (&mut self.ngx, ixx, ixy),
            (&mut self.ngy, ixy, iyy),
        ] {
            out.split_map(grid, [a, b], |[a, b]| 1.0 / (a * a + b * b + zeta2));
        }
    }
}

/// The data terms that need i1 warped back by the flow (u, v), row-major, in one pass: with
/// `frame0` = (i0, i0x, i0y) and `frame1` = (i1, i1x, i1y) sampled bilinearly at (x + u, y + v)
/// (clamped to the frame) as (w1, w1x, w1y), `out` = (Ix, Iy, Iz, Ixz, Iyz) =
/// ((w1x + i0x) / 2, (w1y + i0y) / 2, w1 − i0, w1x − i0x, w1y − i0y).
fn warp_terms(
    frame0: [&[f32]; 3],
    frame1: [&[f32]; 3],
    (u, v): (&Plane, &Plane),
    out: [&mut [f32]; 5],
) {
    let (w, h) = (u.w, u.h);
    let [ix, iy, iz, ixz, iyz] = out.map(|o| o.par_chunks_mut(w));
    (ix, iy, iz, ixz, iyz)
        .into_par_iter()
        .with_min_len(rows_per_task(w))
        .enumerate()
        .for_each(|(y, (ix, iy, iz, ixz, iyz))| {
            let span = y * w..(y + 1) * w;
            let (ur, vr) = (&u.data[span.clone()], &v.data[span.clone()]);
            let [a, ax, ay] = frame0.map(|p| &p[span.clone()]);
            let [f1, f1x, f1y] = frame1;
            let (ix, iy, iz) = (&mut ix[..w], &mut iy[..w], &mut iz[..w]);
            let (ixz, iyz) = (&mut ixz[..w], &mut iyz[..w]);
            for x in 0..w {
                let taps = Taps::new(w, h, x as f32 + ur[x], y as f32 + vr[x]);
                let (s, sx, sy) = (taps.sample(f1), taps.sample(f1x), taps.sample(f1y));
                ix[x] = 0.5 * (sx + ax[x]);
                iy[x] = 0.5 * (sy + ay[x]);
                iz[x] = s - a[x];
                ixz[x] = sx - ax[x];
                iyz[x] = sy - ay[x];
            }
        });
}

/// The smoothness term's weights at the current flow: α × the mean of Ψ'(|∇u|² + |∇v|²) at the
/// two ends of each edge, per pixel for the edge to its right and the edge below it (0 where the
/// frame ends).
#[derive(Default)]
struct Edges {
    /// Ψ'(|∇(u + du)|² + |∇(v + dv)|²) per pixel, by forward differences.
    psi: Checker,
    right: Checker,
    down: Checker,
}

impl Edges {
    fn fit(&mut self, grid: Grid) {
        for q in [&mut self.psi, &mut self.right, &mut self.down] {
            q.fit(grid);
        }
    }

    /// The weights at the flow (u + du, v + dv): the level's flow `flow` and the increments
    /// `incr`, added where they are read.
    fn update(&mut self, grid: Grid, flow: [&Checker; 2], incr: [&Checker; 2], alpha: f32) {
        for c in 0..2 {
            grid.rows_mut(&mut self.psi.colour[c])
                .with_min_len(rows_per_task(grid.w))
                .enumerate()
                .for_each(|(y, row)| {
                    // (u, du) then (v, dv): own values, right and lower neighbours.
                    let parts = [flow[0], incr[0], flow[1], incr[1]];
                    let own = parts.map(|q| grid.own(&q.colour[c], c, y));
                    let around = parts.map(|q| grid.neighbours(&q.colour[1 - c], c, y));
                    let right = around.map(|[_, r, _, _]| r);
                    // The last row has no lower neighbour: its vertical differences are 0.
                    let down = if y + 1 < grid.h {
                        around.map(|[_, _, _, d]| d)
                    } else {
                        own
                    };
                    let out = &mut row[1..1 + own[0].len()];
                    psi_row(out, own, right, down);
                    if grid.ends_row(y, c) {
                        // Nor has the last column a right neighbour.
                        let k = out.len() - 1;
                        let at = |q: [&[f32]; 4]| [q[0][k] + q[1][k], q[2][k] + q[3][k]];
                        let ([u, v], [ud, vd]) = (at(own), at(down));
                        let (uy, vy) = (ud - u, vd - v);
                        out[k] = psi_prime(uy * uy + vy * vy);
                    }
                });
        }
        let half = 0.5 * alpha;
        for c in 0..2 {
            let (psi, right, down) = (&self.psi, &mut self.right, &mut self.down);
            let rows = grid.rows_mut(&mut right.colour[c]);
            (rows, grid.rows_mut(&mut down.colour[c]))
                .into_par_iter()
                .with_min_len(rows_per_task(grid.w))
                .enumerate()
                .for_each(|(y, (right, down))| {
                    let own = grid.own(&psi.colour[c], c, y);
                    let [_, next, _, below] = grid.neighbours(&psi.colour[1 - c], c, y);
                    let n = own.len();
                    let (right, down) = (&mut right[1..1 + n], &mut down[1..1 + n]);
                    edges_row(right, down, own, next, below, half);
                    if grid.ends_row(y, c) {
                        right[n - 1] = 0.0;
                    }
                    if y + 1 == grid.h {
                        down.fill(0.0);
                    }
                });
        }
    }
}

vectorized! {
/// Ψ' of one row's forward differences of the flow plus increments: (u, du, v, dv) of the
/// pixels in `own`, of their right and lower neighbours in `right` and `down`.
fn psi_row(out: &mut [f32], own: [&[f32]; 4], right: [&[f32]; 4], down: [&[f32]; 4]) {
    let n = out.len();
    let [u, du, v, dv] = heads(own, n);
    let [ur, dur, vr, dvr] = heads(right, n);
    let [ud, dud, vd, dvd] = heads(down, n);
    for k in 0..n {
        let (u, v) = (u[k] + du[k], v[k] + dv[k]);
        let (ux, vx) = (ur[k] + dur[k] - u, vr[k] + dvr[k] - v);
        let (uy, vy) = (ud[k] + dud[k] - u, vd[k] + dvd[k] - v);
        out[k] = psi_prime(ux * ux + uy * uy + vx * vx + vy * vy);
    }
}
}

vectorized! {
/// One row's edge weights: `half` × (Ψ' of the pixel + Ψ' of its right or lower neighbour).
fn edges_row(
    right: &mut [f32],
    down: &mut [f32],
    own: &[f32],
    next: &[f32],
    below: &[f32],
    half: f32,
) {
    let n = right.len();
    let (down, own, next, below) = (&mut down[..n], &own[..n], &next[..n], &below[..n]);
    for k in 0..n {
        right[k] = half * (own[k] + next[k]);
        down[k] = half * (own[k] + below[k]);
    }
}
}

/// The linear equations of the pixels' increments (du, dv) within a fixed-point iteration:
/// `du = inv_u · (cu + Σ wₙ duₙ − a12 dv)` and `dv = inv_v · (cv + Σ wₙ dvₙ − a12 du)`, with the
/// weights wₙ of [`Edges`].
#[derive(Default)]
struct System {
    a12: Checker,
    /// The data term's constant and the smoothness pull of the level's flow, for u and v.
    cu: Checker,
    cv: Checker,
    /// 1 / (diagonal of the data term + sum of the smoothness weights), for u and v.
    inv_u: Checker,
    inv_v: Checker,
}

impl System {
    fn size(&mut self, grid: Grid) {
        for q in [
            &mut self.a12,
            &mut self.cu,
            &mut self.cv,
            &mut self.inv_u,
            &mut self.inv_v,
        ] {
            q.size(grid);
        }
    }
}

vectorized! {
/// The equations of one row's pixels, from their data `terms` (in the order of [`DataTerms`]),
/// increments (du, dv), edge `weights` (left, right, up, down) and the level's `flow` (u, then
/// v: the pixels' own, then their left, right, upper and lower neighbours'). Each output is a
/// parameter of its own, which tells the compiler that it overlaps nothing else: the loop
/// vectorizes.
#[allow(clippy::too_many_arguments)]
fn equations_row(
    a12: &mut [f32],
    cu: &mut [f32],
    cv: &mut [f32],
    inv_u: &mut [f32],
    inv_v: &mut [f32],
    terms: [&[f32]; 11],
    incr: [&[f32]; 2],
    weights: [&[f32]; 4],
    flow: [[&[f32]; 5]; 2],
    params: &FlowParams,
) {
    let ([du, dv], [u, v]) = (incr, flow);
    let n = a12.len();
    let (cu, cv, inv_u, inv_v) = (&mut cu[..n], &mut cv[..n], &mut inv_u[..n], &mut inv_v[..n]);
    let [ix, iy, iz, ixx, ixy, iyy, ixz, iyz, nb, ngx, ngy] = heads(terms, n);
    let (du, dv) = (&du[..n], &dv[..n]);
    let [wl, wr, wu, wd] = heads(weights, n);
    let [u0, ul, ur, uu, ud] = heads(u, n);
    let [v0, vl, vr, vu, vd] = heads(v, n);
    for k in 0..n {
        // Brightness constancy, normalized by the local gradient.
        let rb = ix[k] * du[k] + iy[k] * dv[k] + iz[k];
        let wb = params.delta * nb[k] * psi_prime(nb[k] * rb * rb);
        // Gradient constancy, each component normalized by its own gradient.
        let rgx = ixx[k] * du[k] + ixy[k] * dv[k] + ixz[k];
        let rgy = ixy[k] * du[k] + iyy[k] * dv[k] + iyz[k];
        let wg = params.gamma * psi_prime(ngx[k] * rgx * rgx + ngy[k] * rgy * rgy);
        let (gx, gy) = (wg * ngx[k], wg * ngy[k]);
        let a11 = wb * ix[k] * ix[k] + gx * ixx[k] * ixx[k] + gy * ixy[k] * ixy[k];
        let a22 = wb * iy[k] * iy[k] + gx * ixy[k] * ixy[k] + gy * iyy[k] * iyy[k];
        let b1 = wb * ix[k] * iz[k] + gx * ixx[k] * ixz[k] + gy * ixy[k] * iyz[k];
        let b2 = wb * iy[k] * iz[k] + gx * ixy[k] * ixz[k] + gy * iyy[k] * iyz[k];
        a12[k] = wb * ix[k] * iy[k] + gx * ixx[k] * ixy[k] + gy * ixy[k] * iyy[k];
        let (l, r, up, down) = (wl[k], wr[k], wu[k], wd[k]);
        let sum = l + r + up + down;
        cu[k] = l * ul[k] + r * ur[k] + up * uu[k] + down * ud[k] - sum * u0[k] - b1;
        cv[k] = l * vl[k] + r * vr[k] + up * vu[k] + down * vd[k] - sum * v0[k] - b2;
        inv_u[k] = 1.0 / (a11 + sum);
        inv_v[k] = 1.0 / (a22 + sum);
    }
}
}

/// The refinement's checkerboards, kept from one level and one flow to the next as OpenCV's DIS
/// object keeps its buffers: each call sizes them to its level (allocating only beyond the
/// largest level so far) and writes every pixel's slot before reading it, so that only the
/// increments and the padding are cleared.
#[derive(Default)]
pub(super) struct RefineWorkspace {
    data: DataTerms,
    /// The level's flow.
    u0: Checker,
    v0: Checker,
    /// The increments (du, dv).
    du: Checker,
    dv: Checker,
    edges: Edges,
    system: System,
}

/// Variational refinement (as in DIS, after Brox et al. 2004): about the current flow (u, v),
/// solves for an increment that lowers
/// δ·Ψ(brightness) + γ·Ψ(gradient) + α·Ψ(|∇u|² + |∇v|²), by fixed-point iterations on the robust
/// weights and red–black SOR on the linear system.
#[allow(clippy::too_many_arguments)]
pub(super) fn refine(
    i0: &Plane,
    i1: &Plane,
    i0x: &Plane,
    i0y: &Plane,
    u: &mut Plane,
    v: &mut Plane,
    params: &FlowParams,
    workspace: &mut RefineWorkspace,
) {
    if params.refine_iterations == 0 || i0.w < 2 || i0.h < 2 {
        return;
    }
    let grid = Grid::new(i0.w, i0.h);
    let RefineWorkspace {
        data,
        u0,
        v0,
        du,
        dv,
        edges,
        system,
    } = workspace;
    data.update(grid, i0, i1, i0x, i0y, u, v);
    for (q, plane) in [(&mut *u0, &*u), (&mut *v0, &*v)] {
        q.fit(grid);
        q.split_map(grid, [&plane.data], |[x]| x);
    }
    du.clear(grid);
    dv.clear(grid);
    edges.fit(grid);
    system.size(grid);
    for _ in 0..params.refine_iterations {
        edges.update(grid, [u0, v0], [du, dv], params.alpha);
        for sweep in 0..params.sor_iterations {
            for c in 0..2 {
                let equations = (sweep == 0).then_some((&*data, [&*u0, &*v0], params));
                sor_half_sweep(grid, c, system, edges, (du, dv), equations);
            }
        }
    }
    du.add_to(grid, u);
    dv.add_to(grid, v);
}

/// What the equations of a fixed-point iteration are made of: the data terms, the level's flow
/// (u, v) and the settings.
type Linearization<'a> = (&'a DataTerms, [&'a Checker; 2], &'a FlowParams);

/// One half of a red–black SOR sweep: every pixel of colour `c`, updated from its four
/// neighbours, which are all of the other colour and so fixed during the half sweep. Rows run
/// in parallel, and a row's pixels do not depend on each other. With `equations` (the first
/// sweep of a fixed-point iteration), each row's equations are written first, from the
/// increments before the update, in the same pass.
fn sor_half_sweep(
    grid: Grid,
    c: usize,
    system: &mut System,
    edges: &Edges,
    (du, dv): (&mut Checker, &mut Checker),
    equations: Option<Linearization>,
) {
    let o = 1 - c;
    let (du_own, du_other) = own_and_other(&mut du.colour, c);
    let (dv_own, dv_other) = own_and_other(&mut dv.colour, c);
    let s = system;
    (
        grid.rows_mut(du_own),
        grid.rows_mut(dv_own),
        grid.rows_mut(&mut s.a12.colour[c]),
        grid.rows_mut(&mut s.cu.colour[c]),
        grid.rows_mut(&mut s.cv.colour[c]),
        grid.rows_mut(&mut s.inv_u.colour[c]),
        grid.rows_mut(&mut s.inv_v.colour[c]),
    )
        .into_par_iter()
        .with_min_len(rows_per_task(grid.w))
        .enumerate()
        .for_each(|(y, (du, dv, a12, cu, cv, inv_u, inv_v))| {
            let own = grid.pixels(c, y);
            let n = grid.len(y, c);
            let (du, dv) = (&mut du[1..1 + n], &mut dv[1..1 + n]);
            let [a12, cu, cv, inv_u, inv_v] = [a12, cu, cv, inv_u, inv_v].map(|r| &mut r[1..1 + n]);
            let [wl, _, _, _] = grid.neighbours(&edges.right.colour[o], c, y);
            let [_, _, wu, _] = grid.neighbours(&edges.down.colour[o], c, y);
            let weights = [wl, own(&edges.right), wu, own(&edges.down)];
            if let Some((d, flow, params)) = equations {
                let terms = [
                    &d.ix, &d.iy, &d.iz, &d.ixx, &d.ixy, &d.iyy, &d.ixz, &d.iyz, &d.nb, &d.ngx,
                    &d.ngy,
                ]
                .map(&own);
                let flow = flow.map(|q| {
                    let [l, r, up, down] = grid.neighbours(&q.colour[o], c, y);
                    [own(q), l, r, up, down]
                });
                equations_row(
                    a12,
                    cu,
                    cv,
                    inv_u,
                    inv_v,
                    terms,
                    [du, dv],
                    weights,
                    flow,
                    params,
                );
            }
            let eq = [&*a12, &*cu, &*cv, &*inv_u, &*inv_v];
            let around = [du_other, dv_other].map(|p| grid.neighbours(p, c, y));
            sor_row(du, dv, eq, weights, around);
        });
}

vectorized! {
/// The SOR update of one row's increments from its equations `eq` (a12, cu, cv, inv_u, inv_v),
/// edge `weights` and the neighbours' increments (du, then dv; left, right, up, down).
fn sor_row(
    du: &mut [f32],
    dv: &mut [f32],
    eq: [&[f32]; 5],
    weights: [&[f32]; 4],
    around: [[&[f32]; 4]; 2],
) {
    let [nu, nv] = around;
    let n = du.len();
    let dv = &mut dv[..n];
    let [a12, cu, cv, inv_u, inv_v] = heads(eq, n);
    let [wl, wr, wu, wd] = heads(weights, n);
    let [ul, ur, uu, ud] = heads(nu, n);
    let [vl, vr, vu, vd] = heads(nv, n);
    for k in 0..n {
        let nu = wl[k] * ul[k] + wr[k] * ur[k] + wu[k] * uu[k] + wd[k] * ud[k];
        let nv = wl[k] * vl[k] + wr[k] * vr[k] + wu[k] * vu[k] + wd[k] * vd[k];
        let (old_u, old_v) = (du[k], dv[k]);
        let new_u = (cu[k] + nu - a12[k] * old_v) * inv_u[k];
        let new_u = old_u + OMEGA * (new_u - old_u);
        let new_v = (cv[k] + nv - a12[k] * new_u) * inv_v[k];
        du[k] = new_u;
        dv[k] = old_v + OMEGA * (new_v - old_v);
    }
}
}
