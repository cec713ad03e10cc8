//! Temporal coherence for video: dense optical flow between consecutive content frames, warping,
//! and the reliability of a warped frame (after Ruder et al., "Artistic style transfer for
//! videos", 2016). Pure ndarray and rayon, no I/O.
//!
//! # Conventions
//! - A [`Flow`] from frame A to frame B says that pixel x of A shows what B shows at x + w(x);
//!   `u` is the horizontal (x, column) and `v` the vertical (y, row) component, in pixels.
//! - [`warp`]`(image, flow)` samples `image` at x + w(x), so it aligns B with A when given B and
//!   the flow from A to B.
//! - To carry the stylized frame t−1 over to frame t, compute on the *content* frames the flow from
//!   t to t−1 (the *backward* flow) and warp the stylized t−1 by it. Checking that flow needs the
//!   *forward* flow, from t−1 to t. [`motion`] computes both (in parallel) and the weights.
//! - Weights are in [0, 1] on the grid of frame t; 0 marks pixels where frame t−1 cannot be
//!   trusted (disoccluded, on a motion boundary, or carried in from outside the frame).
//! - Compute the flow on content frames of the size being stylized, so that it lines up with the
//!   stylized frames pixel for pixel.
//!
//! # Example
//! ```
//! use ndarray::Array4;
//! use stylize::temporal::{luma, motion, warp, FlowParams};
//!
//! # fn main() -> anyhow::Result<()> {
//! // Content frames t−1 and t, and the stylized frame t−1: 1×3×H×W in [0, 1].
//! let (h, w) = (36, 48);
//! let pattern = |dx: f32| {
//!     Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
//!         0.5 + 0.4 * ((x as f32 - dx) * 0.4 + c as f32).sin() * (y as f32 * 0.3).cos()
//!     })
//! };
//! let (content_prev, content_cur) = (pattern(0.0), pattern(1.0));
//! let stylized_prev = content_prev.clone();
//!
//! let m = motion(
//!     luma(content_prev.view())?.view(),
//!     luma(content_cur.view())?.view(),
//!     &FlowParams::default(),
//! )?;
//! // The stylized frame t−1 carried over to frame t, and where to trust it.
//! let carried = warp(stylized_prev.view(), &m.backward)?.image;
//! assert_eq!(carried.dim(), (1, 3, h, w));
//! assert_eq!(m.weights.dim(), (h, w));
//! # Ok(())
//! # }
//! ```

mod consistency;
mod flow;
mod reliability;
mod warp;

#[cfg(test)]
mod tests;

use anyhow::Result;
use ndarray::{Array2, ArrayView2, ArrayView4};

pub use consistency::warping_error;
pub use flow::{flow, flow_with, luma, Flow, FlowParams, FlowPreset, FlowWorkspace};
pub use reliability::reliability;
pub use warp::{warp, Warped};

/// What [`motion`] finds between two consecutive frames.
#[derive(Clone, Debug, PartialEq)]
pub struct Motion {
    /// The flow from the current frame t to the previous frame t−1: warp frame t−1 by it.
    pub backward: Flow,
    /// The reliability of `backward` on the grid of frame t, in [0, 1] (0: do not use).
    pub weights: Array2<f32>,
}

/// The backward flow from `cur` (frame t) to `prev` (frame t−1) and its reliability weights, from
/// the grayscale content frames (see [`luma`]). The forward and backward flows run in parallel,
/// on one pyramid of each frame.
pub fn motion(prev: ArrayView2<f32>, cur: ArrayView2<f32>, params: &FlowParams) -> Result<Motion> {
    motion_with(prev, cur, params, &mut Default::default())
}

/// [`motion`] in the buffers of `workspaces`: the backward flow's and the forward flow's.
pub fn motion_with(
    prev: ArrayView2<f32>,
    cur: ArrayView2<f32>,
    params: &FlowParams,
    workspaces: &mut [FlowWorkspace; 2],
) -> Result<Motion> {
    let (backward, forward) = flow::flows_both_ways(cur, prev, params, workspaces)?;
    let weights = reliability(backward, forward)?;
    Ok(Motion {
        backward: backward.clone(),
        weights,
    })
}

/// Follows a stream of content frames: each call gives the [`Motion`] from the frame before it
/// (none for the first frame, or after a change of size).
pub struct MotionTracker {
    params: FlowParams,
    previous: Option<Array2<f32>>,
    workspaces: [FlowWorkspace; 2],
}

impl MotionTracker {
    /// A tracker that computes the flow with `params`.
    pub fn new(params: FlowParams) -> MotionTracker {
        MotionTracker {
            params,
            previous: None,
            workspaces: Default::default(),
        }
    }

    /// Goes on after `frame` (1×3×H×W RGB, or 1×1×H×W), as if it had been the last frame given to
    /// [`next`](Self::next) (a resumed render's last frame done).
    pub fn resume_after(&mut self, frame: ArrayView4<f32>) -> Result<()> {
        self.previous = Some(luma(frame)?);
        Ok(())
    }

    /// The motion from the previous frame to `frame` (1×3×H×W RGB, or 1×1×H×W), which becomes
    /// the previous frame of the next call.
    pub fn next(&mut self, frame: ArrayView4<f32>) -> Result<Option<Motion>> {
        let current = luma(frame)?;
        let found = match self.previous.as_ref().filter(|p| p.dim() == current.dim()) {
            Some(previous) => {
                let (p, c) = (previous.view(), current.view());
                Some(motion_with(p, c, &self.params, &mut self.workspaces)?)
            }
            None => None,
        };
        self.previous = Some(current);
        Ok(found)
    }
}
