//! A source FFmpeg decodes: a file, URL, pipe, lavfi graph or capture device.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

use super::FrameSource;
use crate::media::{Ending, Event, Input};

/// An opened [`Input`] as a frame source; with `packets`, its other streams' packets (the sound)
/// come along for the output.
pub struct MediaSource {
    input: Input,
    packets: bool,
}

impl MediaSource {
    /// Frames of `input`, with its other streams' packets when `packets`.
    pub fn new(input: Input, packets: bool) -> MediaSource {
        MediaSource { input, packets }
    }

    /// The input, for its stream information.
    pub fn input(&self) -> &Input {
        &self.input
    }
}

impl FrameSource for MediaSource {
    fn next(&mut self) -> Result<Option<Event>> {
        if self.packets {
            Ok(self.input.next_event()?)
        } else {
            Ok(self.input.next_frame()?.map(Event::Video))
        }
    }

    fn ending(&self) -> Ending {
        self.input.ending().clone()
    }

    fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.input.set_interrupt(stop);
    }
}
