//! Where frames come from: anything behind [`FrameSource`] — a file, URL or pipe decoded by
//! FFmpeg ([`MediaSource`]), a camera ([`camera`]), either played at its own rate ([`Paced`]), or a resumed render's
//! rest ([`Skip`]), or a cluster segment's span
//! ([`Span`]).
//! The pipeline only sees the trait.

pub mod camera;
mod media;
mod paced;
mod skip;
mod span;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

pub use media::MediaSource;
pub use paced::Paced;
pub use skip::Skip;
pub use span::{Bounds, Span};

use crate::media::{Ending, Event};

/// A stream of decoded frames (and, from a file, the packets of its other streams, in file order).
pub trait FrameSource: Send {
    /// The next frame or packet; `None` at the end.
    fn next(&mut self) -> Result<Option<Event>>;

    /// How reading went; complete once [`next`](Self::next) has returned `None`.
    fn ending(&self) -> Ending;

    /// Makes a read that waits (a stalled network, a camera) give up soon after `stop` is set.
    fn stop_on(&mut self, stop: Arc<AtomicBool>);
}
