//! A resumed render's source: the events a checkpoint says were done are read and dropped.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

use super::FrameSource;
use crate::media::{Ending, Event, RgbFrame};

/// `inner` less its first `frames` video frames, every packet before the last of them, and the
/// `packets` packets after it (what the render's finished segments already hold).
pub struct Skip<S> {
    inner: S,
    frames: u64,
    packets: u64,
    /// The last frame dropped.
    last: Option<RgbFrame>,
    /// Whether the input ended while skipping.
    ended: bool,
}

impl<S: FrameSource> Skip<S> {
    /// Skips `frames` frames of `inner`, then `packets` packets.
    pub fn new(inner: S, frames: u64, packets: u64) -> Skip<S> {
        Skip {
            inner,
            frames,
            packets,
            last: None,
            ended: false,
        }
    }

    /// Reads and drops what is to be skipped; gives the last frame dropped (the content frame the
    /// next one's motion is from), `None` when there was none.
    pub fn skip(&mut self) -> Result<Option<RgbFrame>> {
        while self.frames > 0 || self.packets > 0 {
            match self.inner.next()? {
                None => {
                    (self.frames, self.packets) = (0, 0);
                    self.ended = true;
                }
                Some(Event::Video(frame)) if self.frames > 0 => {
                    self.frames -= 1;
                    self.last = Some(frame);
                }
                Some(Event::Packet(_)) if self.frames > 0 => {}
                Some(Event::Packet(_)) => self.packets -= 1,
                // Fewer packets than the checkpoint counted: the input changed.
                Some(Event::Video(_)) => {
                    anyhow::bail!("the input differs from the one the checkpoint was made with")
                }
            }
        }
        Ok(self.last.take())
    }
}

impl<S: FrameSource> FrameSource for Skip<S> {
    fn next(&mut self) -> Result<Option<Event>> {
        if self.frames > 0 || self.packets > 0 {
            self.skip()?;
        }
        match self.ended {
            true => Ok(None),
            false => self.inner.next(),
        }
    }

    fn ending(&self) -> Ending {
        self.inner.ending()
    }

    fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.inner.stop_on(stop);
    }
}
