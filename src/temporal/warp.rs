//! Bilinear backward warping of NCHW tensors by a [`Flow`], and the sampling helpers that the flow
//! and reliability code share.

use anyhow::{bail, Result};
use ndarray::{Array2, Array4, ArrayView4};
use rayon::prelude::*;

use super::Flow;

/// A warped image and where its samples came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Warped {
    /// The warped image, the same shape as the input.
    pub image: Array4<f32>,
    /// `true` where the sample position lay inside the source frame (within the area its pixels
    /// cover, half a pixel beyond the outermost pixel centres); `false` where it fell outside and
    /// the value is the nearest border pixel's.
    pub inside: Array2<bool>,
}

/// Backward warping: `out(x) = image(x + flow(x))`, bilinear, for every plane of an N×C×H×W
/// tensor whose H×W matches the flow.
///
/// To align frame t−1 with frame t, pass frame t−1 and the flow from t to t−1 (the *backward*
/// flow of [`motion`](super::motion)). Samples outside the frame take the nearest border value
/// and are marked in [`Warped::inside`].
pub fn warp(image: ArrayView4<f32>, flow: &Flow) -> Result<Warped> {
    let (n, c, h, w) = image.dim();
    if (h, w) != checked_dim(flow)? {
        bail!(
            "cannot warp a {w}x{h} image by a {}x{} flow field",
            flow.dim().1,
            flow.dim().0
        );
    }
    let image = image.as_standard_layout();
    let (u, v) = (flow.u.as_standard_layout(), flow.v.as_standard_layout());
    let (src, u, v) = (plain(&image), plain(&u), plain(&v));
    let plane = h * w;
    let mut out = vec![0f32; n * c * plane];
    if plane > 0 {
        out.par_chunks_mut(w).enumerate().for_each(|(row, dst)| {
            let (p, y) = (row / h, row % h);
            let src = &src[p * plane..(p + 1) * plane];
            for (x, d) in dst.iter_mut().enumerate() {
                let i = y * w + x;
                *d = bilinear(src, w, h, x as f32 + u[i], y as f32 + v[i]);
            }
        });
    }
    let inside = Array2::from_shape_fn((h, w), |(y, x)| {
        let i = y * w + x;
        inside(w, h, x as f32 + u[i], y as f32 + v[i])
    });
    let image = Array4::from_shape_vec((n, c, h, w), out).expect("n·c·h·w values");
    Ok(Warped { image, inside })
}

/// `(height, width)` of a flow whose two components agree in shape.
pub(crate) fn checked_dim(flow: &Flow) -> Result<(usize, usize)> {
    if flow.u.dim() != flow.v.dim() {
        bail!(
            "a flow field's components differ in shape: u is {:?}, v is {:?}",
            flow.u.dim(),
            flow.v.dim()
        );
    }
    Ok(flow.dim())
}

/// The contiguous data of an array in standard layout.
pub(crate) fn plain<'a, D: ndarray::Dimension>(a: &'a ndarray::CowArray<'_, f32, D>) -> &'a [f32] {
    a.as_slice().expect("standard layout")
}

/// Whether the point (x, y) lies inside a w×h frame: within the area its pixels cover, which
/// reaches half a pixel beyond the outermost pixel centres.
pub(crate) fn inside(w: usize, h: usize, x: f32, y: f32) -> bool {
    x >= -0.5 && y >= -0.5 && x <= w as f32 - 0.5 && y <= h as f32 - 0.5
}

/// Bilinear sample of a w×h row-major plane at (x, y), clamping the position to the frame.
#[inline]
pub(crate) fn bilinear(data: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    Taps::new(w, h, x, y).sample(data)
}

/// Where and how [`bilinear`] samples a w×h plane at one position: found once, applied to every
/// plane of that size sampled there (a frame and its gradients, the two components of a flow).
#[derive(Clone, Copy)]
pub(crate) struct Taps {
    /// The four pixels around the position: top left, top right, bottom left, bottom right.
    at: [usize; 4],
    fx: f32,
    fy: f32,
}

impl Taps {
    /// The taps at (x, y), clamped to the frame.
    #[inline(always)]
    pub(crate) fn new(w: usize, h: usize, x: f32, y: f32) -> Taps {
        let x = x.clamp(0.0, (w - 1) as f32);
        let y = y.clamp(0.0, (h - 1) as f32);
        // In the frame, so through i32 (one instruction) as through usize (saturating).
        let (x0, y0) = (x as i32 as usize, y as i32 as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let x1 = (x0 + 1).min(w - 1);
        let (r0, r1) = (y0 * w, (y0 + 1).min(h - 1) * w);
        Taps {
            at: [r0 + x0, r0 + x1, r1 + x0, r1 + x1],
            fx,
            fy,
        }
    }

    /// The sample of `data` at the taps.
    #[inline(always)]
    pub(crate) fn sample(&self, data: &[f32]) -> f32 {
        let [i00, i01, i10, i11] = self.at;
        let top = data[i00] + self.fx * (data[i01] - data[i00]);
        let bottom = data[i10] + self.fx * (data[i11] - data[i10]);
        top + self.fy * (bottom - top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array4};

    fn ramp(c: usize, h: usize, w: usize) -> Array4<f32> {
        Array4::from_shape_fn((1, c, h, w), |(_, k, y, x)| {
            ((k * 7919 + y * 131 + x * 17) % 97) as f32 / 97.0
        })
    }

    #[test]
    fn warp_by_zero_flow_is_the_identity() {
        let image = ramp(3, 9, 13);
        let warped = warp(image.view(), &Flow::zeros(9, 13)).unwrap();
        assert_eq!(warped.image, image);
        assert!(warped.inside.iter().all(|&i| i));
    }

    #[test]
    fn warp_by_an_integer_flow_is_a_shift() {
        let (h, w) = (10, 12);
        let image = ramp(4, h, w);
        let mut flow = Flow::zeros(h, w);
        flow.u.fill(3.0);
        flow.v.fill(-2.0);
        let warped = warp(image.view(), &flow).unwrap();
        // out(x, y) = image(x + 3, y − 2) where that pixel exists.
        assert_eq!(
            warped.image.slice(s![.., .., 2.., ..w - 3]),
            image.slice(s![.., .., ..h - 2, 3..])
        );
        for ((y, x), &inside) in warped.inside.indexed_iter() {
            assert_eq!(inside, y >= 2 && x + 3 < w, "at ({x}, {y})");
        }
    }

    #[test]
    fn warp_interpolates_between_pixels() {
        let image = Array4::from_shape_fn((1, 1, 4, 6), |(_, _, y, x)| (x + 10 * y) as f32);
        let mut flow = Flow::zeros(4, 6);
        flow.u.fill(0.25);
        flow.v.fill(0.5);
        let warped = warp(image.view(), &flow).unwrap();
        // A linear function is reproduced exactly by bilinear interpolation.
        assert!((warped.image[[0, 0, 1, 2]] - (2.25 + 15.0)).abs() < 1e-5);
    }

    #[test]
    fn warp_rejects_mismatched_sizes() {
        let err = warp(ramp(3, 8, 8).view(), &Flow::zeros(8, 9)).unwrap_err();
        assert!(err.to_string().contains("8x8 image by a 9x8 flow"), "{err}");
        let mut flow = Flow::zeros(8, 8);
        flow.v = ndarray::Array2::zeros((8, 7));
        let err = warp(ramp(3, 8, 8).view(), &flow).unwrap_err();
        assert!(err.to_string().contains("components differ"), "{err}");
    }
}
