//! The temporal warping error: how much a stylized video flickers where the original's motion says
//! it should not change.

use anyhow::{bail, Result};
use ndarray::ArrayView4;

use super::{warp, Motion};

/// The warping error of stylized frame t against stylized frame t−1: the mean, over the pixels the
/// original video's `motion` (from frame t−1 to frame t) marks reliable and weighted by that
/// reliability, of the squared difference between frame t and frame t−1 warped by the motion,
/// averaged over the colour channels (RGB in [0, 1]). `None` when no pixel is reliable.
pub fn warping_error(
    previous: ArrayView4<f32>,
    current: ArrayView4<f32>,
    motion: &Motion,
) -> Result<Option<f64>> {
    let (n, c, h, w) = current.dim();
    if previous.dim() != current.dim() || n != 1 || motion.weights.dim() != (h, w) {
        bail!(
            "cannot compare frames of {}×{} and {w}×{h} with a {}×{} motion field",
            previous.dim().3,
            previous.dim().2,
            motion.weights.dim().1,
            motion.weights.dim().0
        );
    }
    let warped = warp(previous, &motion.backward)?.image;
    let mut sum = 0.0f64;
    let mut weight = 0.0f64;
    for ((y, x), &r) in motion.weights.indexed_iter() {
        if r <= 0.0 {
            continue;
        }
        let mut squared = 0.0f64;
        for ch in 0..c {
            let d = f64::from(current[[0, ch, y, x]] - warped[[0, ch, y, x]]);
            squared += d * d;
        }
        sum += f64::from(r) * squared / c as f64;
        weight += f64::from(r);
    }
    Ok((weight > 0.0).then(|| sum / weight))
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array4};

    use super::*;
    use crate::temporal::{luma, motion, FlowParams};

    /// A smooth textured frame, shifted right by `dx` pixels.
    fn frame(dx: f32) -> Array4<f32> {
        Array4::from_shape_fn((1, 3, 48, 64), |(_, c, y, x)| {
            let x = x as f32 - dx;
            0.5 + 0.2 * (x * 0.31 + c as f32).sin() * (y as f32 * 0.23).cos()
                + 0.15 * (x * 0.11 - y as f32 * 0.17 + 2.0 * c as f32).sin()
        })
    }

    fn motion_of(prev: &Array4<f32>, cur: &Array4<f32>) -> Motion {
        motion(
            luma(prev.view()).unwrap().view(),
            luma(cur.view()).unwrap().view(),
            &FlowParams::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_static_video_has_no_error() {
        let (a, b) = (frame(0.0), frame(0.0));
        let error = warping_error(a.view(), b.view(), &motion_of(&a, &b)).unwrap();
        assert!(error.unwrap() < 1e-9, "{error:?}");
    }

    #[test]
    fn stylized_frames_that_follow_the_motion_have_no_error() {
        // The original moves 2 px right; the "stylized" frames are another picture moving the same.
        let (a, b) = (frame(0.0), frame(2.0));
        let style = |f: &Array4<f32>| f.mapv(|v| 1.0 - v * v);
        let error = warping_error(style(&a).view(), style(&b).view(), &motion_of(&a, &b))
            .unwrap()
            .unwrap();
        assert!(error < 1e-4, "{error}");
    }

    #[test]
    fn a_known_flicker_gives_its_square() {
        // Stylized frame t is frame t−1 carried along the motion, everywhere 0.1 brighter.
        let (a, b) = (frame(0.0), frame(3.0));
        let m = motion_of(&a, &b);
        let error = warping_error(a.view(), (&b + 0.1).view(), &m)
            .unwrap()
            .unwrap();
        assert!((error - 0.01).abs() < 1e-3, "{error}");
    }

    #[test]
    fn strokes_left_behind_by_motion_are_counted() {
        // The original moves 3 px, the stylized video does not: the error is that of the shift.
        let (a, b) = (frame(0.0), frame(3.0));
        let m = motion_of(&a, &b);
        let error = warping_error(a.view(), a.view(), &m).unwrap().unwrap();
        let (h, w) = (48, 64);
        let mut expected = (0.0, 0.0);
        for y in 0..h {
            for x in 0..w - 3 {
                let r = f64::from(m.weights[[y, x + 3]]);
                let mut d2 = 0.0;
                for c in 0..3 {
                    d2 += f64::from(a[[0, c, y, x + 3]] - a[[0, c, y, x]]).powi(2);
                }
                expected.0 += r * d2 / 3.0;
                expected.1 += r;
            }
        }
        let expected = expected.0 / expected.1;
        assert!(expected > 1e-3, "the test's shift is too small: {expected}");
        assert!(
            (error - expected).abs() < 0.05 * expected,
            "{error} vs {expected}"
        );
    }

    #[test]
    fn no_reliable_pixel_gives_none() {
        let a = frame(0.0);
        let mut m = motion_of(&a, &a);
        m.weights = Array2::zeros((48, 64));
        assert_eq!(warping_error(a.view(), a.view(), &m).unwrap(), None);
    }
}
