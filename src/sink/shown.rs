//! When each live frame was shown and what it cost: the log behind `live --stats`, kept by the
//! window and by [`Unshown`], the sink of `live --no-window`.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::FrameSink;
use crate::model::LossTerms;
use crate::pipeline::Stylized;

/// One displayed frame, for a live view's `--stats`.
#[derive(Clone, Debug, Serialize)]
pub struct ShownFrame {
    pub frame: u64,
    /// Seconds since the view opened.
    pub shown_at: f64,
    /// From capture to display.
    pub latency_ms: f64,
    pub iterations: usize,
    /// Loss-and-gradient evaluations those iterations took.
    pub evaluations: usize,
    pub stylize_ms: f64,
    /// The loss terms the frame ended at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossTerms>,
}

/// The frames shown so far, timed from when the view opened.
pub struct ShownLog {
    frames: Vec<ShownFrame>,
    started: Instant,
}

/// An empty log whose clock starts now.
impl Default for ShownLog {
    fn default() -> ShownLog {
        ShownLog {
            frames: Vec::new(),
            started: Instant::now(),
        }
    }
}

impl ShownLog {
    /// Logs `frame` as shown now and returns its latency in milliseconds.
    pub fn record(&mut self, frame: &Stylized) -> f64 {
        let latency_ms = frame.captured.elapsed().as_secs_f64() * 1000.0;
        self.frames.push(ShownFrame {
            frame: frame.frame.index,
            shown_at: self.seconds(),
            latency_ms,
            iterations: frame.iterations,
            evaluations: frame.evaluations,
            stylize_ms: frame.seconds * 1000.0,
            loss: frame.loss,
        });
        latency_ms
    }

    /// Seconds since the view opened.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The frames shown so far.
    pub fn frames(&self) -> &[ShownFrame] {
        &self.frames
    }
}

/// A live view without a window: each frame is logged as shown the moment it is ready, nothing
/// is drawn. It times the live loop where no display is (a GPU server).
pub struct Unshown(pub ShownLog);

impl FrameSink for Unshown {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        self.0.record(frame);
        Ok(())
    }
}
