//! Where the warped previous frame can be trusted: the forward–backward consistency and
//! motion-boundary checks of Ruder et al., "Artistic style transfer for videos" (2016).

use anyhow::{bail, Result};
use ndarray::Array2;
use rayon::prelude::*;

use super::warp::{checked_dim, inside, plain, Taps};
use super::Flow;

/// Per-pixel weights in [0, 1] on the grid of frame t for using frame t−1 warped by `backward`
/// (the flow from t to t−1); `forward` is the flow from t−1 to t.
///
/// A pixel x gets 0 (unreliable) when, with w = backward(x) and ŵ = forward(x + w) (bilinear):
/// - x + w falls outside frame t−1;
/// - the flows disagree (disocclusion): |w + ŵ|² > 0.01 (|w|² + |ŵ|²) + 0.5;
/// - it is on a motion boundary: |∇u|² + |∇v|² > 0.01 |w|² + 0.002, with (u, v) = w and central
///   differences;
///
/// and 1 otherwise.
pub fn reliability(backward: &Flow, forward: &Flow) -> Result<Array2<f32>> {
    let (h, w) = checked_dim(backward)?;
    if checked_dim(forward)? != (h, w) {
        bail!(
            "cannot check a {w}x{h} backward flow against a {}x{} forward flow",
            forward.dim().1,
            forward.dim().0
        );
    }
    let bu = backward.u.as_standard_layout();
    let bv = backward.v.as_standard_layout();
    let fu = forward.u.as_standard_layout();
    let fv = forward.v.as_standard_layout();
    let (bu, bv) = (plain(&bu), plain(&bv));
    let (fu, fv) = (plain(&fu), plain(&fv));
    let mut weights = vec![0f32; h * w];
    if h * w == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    weights.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, out) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let (u, v) = (bu[i], bv[i]);
            let (px, py) = (x as f32 + u, y as f32 + v);
            if !inside(w, h, px, py) {
                continue;
            }
            let taps = Taps::new(w, h, px, py);
            let (fx, fy) = (taps.sample(fu), taps.sample(fv));
            let sum = (u + fx).powi(2) + (v + fy).powi(2);
            let norms = u * u + v * v + fx * fx + fy * fy;
            if sum > 0.01 * norms + 0.5 {
                continue;
            }
            let d =
                |a: &[f32], j0: usize, j1: usize, span: usize| (a[j1] - a[j0]) / span.max(1) as f32;
            let (xl, xr) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let (yu, yd) = (y.saturating_sub(1), (y + 1).min(h - 1));
            let (rl, rr) = (y * w + xl, y * w + xr);
            let (ru, rd) = (yu * w + x, yd * w + x);
            let ux = d(bu, rl, rr, xr - xl);
            let vx = d(bv, rl, rr, xr - xl);
            let uy = d(bu, ru, rd, yd - yu);
            let vy = d(bv, ru, rd, yd - yu);
            if ux * ux + uy * uy + vx * vx + vy * vy > 0.01 * (u * u + v * v) + 0.002 {
                continue;
            }
            *out = 1.0;
        }
    });
    Ok(Array2::from_shape_vec((h, w), weights).expect("h·w weights"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistent_constant_flows_are_reliable_inside_the_frame() {
        let (h, w) = (12, 16);
        let mut backward = Flow::zeros(h, w);
        backward.u.fill(-2.0);
        let mut forward = Flow::zeros(h, w);
        forward.u.fill(2.0);
        let weights = reliability(&backward, &forward).unwrap();
        for ((y, x), &c) in weights.indexed_iter() {
            // x − 2 must lie at or right of −0.5.
            assert_eq!(c, if x >= 2 { 1.0 } else { 0.0 }, "at ({x}, {y})");
        }
    }

    #[test]
    fn inconsistent_flows_are_unreliable() {
        let (h, w) = (8, 8);
        let mut backward = Flow::zeros(h, w);
        backward.v.fill(1.0);
        let forward = backward.clone(); // should be −1 to agree
        let weights = reliability(&backward, &forward).unwrap();
        assert!(weights.iter().all(|&c| c == 0.0));
    }

    #[test]
    fn a_flow_discontinuity_is_a_motion_boundary() {
        let (h, w) = (10, 20);
        let mut backward = Flow::zeros(h, w);
        let mut forward = Flow::zeros(h, w);
        // Right half moves by 0.3 px: consistent, but a step in the flow at x = 10.
        for ((_, x), u) in backward.u.indexed_iter_mut() {
            *u = if x >= 10 { -0.3 } else { 0.0 };
        }
        for ((_, x), u) in forward.u.indexed_iter_mut() {
            *u = if x >= 10 { 0.3 } else { 0.0 };
        }
        let weights = reliability(&backward, &forward).unwrap();
        for y in 0..h {
            assert_eq!(weights[[y, 9]], 0.0);
            assert_eq!(weights[[y, 10]], 0.0);
            assert_eq!(weights[[y, 5]], 1.0);
            assert_eq!(weights[[y, 15]], 1.0);
        }
    }

    #[test]
    fn mismatched_flows_are_an_error() {
        let err = reliability(&Flow::zeros(4, 5), &Flow::zeros(5, 4)).unwrap_err();
        assert!(err.to_string().contains("5x4 backward flow"), "{err}");
    }
}
