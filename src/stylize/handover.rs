//! The hand-over at the end of a cluster segment: over the next segment's warm-up, a second warm
//! chain runs on the same frames, started exactly as the next segment's worker starts its own
//! (cold at the first, warm after), and the segment's frames cross-fade into it, the weight rising
//! linearly to 1 at the last frame; the next segment then goes on from the picture this one ends
//! with.

use std::ops::ControlFlow;

use anyhow::Result;
use ndarray::Array4;

use super::{FrameStylizer, Iteration};
use crate::temporal::Motion;

/// A hand-over over `length` frames.
pub struct Handover {
    length: u64,
    /// Frames of the second chain so far, and its last.
    done: u64,
    last: Option<Array4<f32>>,
}

impl Handover {
    /// A hand-over over `length` frames (at least 1).
    pub fn new(length: u64) -> Handover {
        Handover {
            length: length.max(1),
            done: 0,
            last: None,
        }
    }

    /// Blends `own`, the frame `stylizer`'s chain has just made (its `frames`th), of `content`
    /// (`motion` from the frame before), with the second chain's: runs that chain one frame,
    /// gives `stylizer` back its own chain, and returns the blend and the iterations spent.
    pub fn blend(
        &mut self,
        stylizer: &mut FrameStylizer,
        frames: u64,
        own: &Array4<f32>,
        content: &Array4<f32>,
        motion: Option<&Motion>,
        on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
    ) -> Result<(Array4<f32>, usize)> {
        match self.last.take() {
            None => stylizer.restart(),
            Some(previous) => stylizer.resume(previous, self.done),
        }
        let (other, outcomes) = stylizer.stylize(content, motion, on_iteration)?;
        stylizer.resume(own.clone(), frames);
        self.done += 1;
        let weight = (self.done as f32 / self.length as f32).min(1.0);
        let blended = own * (1.0 - weight) + &other * weight;
        self.last = Some(other);
        Ok((blended, outcomes.iter().map(|o| o.iterations.len()).sum()))
    }
}
