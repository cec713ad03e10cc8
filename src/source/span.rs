//! A cluster segment's source: the frames of a span of timestamps, and the packets of the other
//! streams (the sound) whose time falls in the segment's share of the input.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;
use ffmpeg_next::Rational;

use super::FrameSource;
use crate::media::{Ending, Event, StreamInfo};

/// Seconds read past the span's end for the packets stored after its last frame.
const PACKET_MARGIN: f64 = 2.0;

/// What a [`Span`] lets through.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Video frames with a timestamp in `[from, to)` (the video's time base).
    pub from: i64,
    pub to: Option<i64>,
    /// Packets whose time in seconds is in `[from, to)`; `None` is open.
    pub packets_from: Option<f64>,
    pub packets_to: Option<f64>,
    /// The number of the first frame let through (frames are numbered from it).
    pub first_index: u64,
}

/// `inner` within `bounds`: what comes before is dropped, and it ends after the span.
pub struct Span<S> {
    inner: S,
    bounds: Bounds,
    video: Rational,
    /// The packets' streams and their time bases.
    time_bases: Vec<(usize, Rational)>,
    /// Frames let through.
    frames: u64,
    /// Whether the last frame has passed (only packets may still come).
    past_frames: bool,
}

impl<S: FrameSource> Span<S> {
    /// `inner`'s frames and packets within `bounds`; `video` is the frames' time base, and
    /// `streams` those of the packets.
    pub fn new(inner: S, bounds: Bounds, video: Rational, streams: &[StreamInfo]) -> Span<S> {
        Span {
            inner,
            bounds,
            video,
            time_bases: streams.iter().map(|s| (s.index, s.time_base)).collect(),
            frames: 0,
            past_frames: false,
        }
    }
}

/// `t` in `base` as seconds.
fn seconds(t: i64, base: Rational) -> f64 {
    t as f64 * f64::from(base)
}

impl<S: FrameSource> FrameSource for Span<S> {
    fn next(&mut self) -> Result<Option<Event>> {
        let b = self.bounds;
        let end_seconds = b.to.map(|t| seconds(t, self.video));
        loop {
            let Some(event) = self.inner.next()? else {
                return Ok(None);
            };
            match event {
                Event::Video(mut frame) => {
                    let pts = frame.pts.unwrap_or(i64::MIN);
                    if b.to.is_some_and(|to| pts >= to) {
                        self.past_frames = true;
                    }
                    let margin = end_seconds.map(|e| e.max(b.packets_to.unwrap_or(e)));
                    if margin.is_some_and(|e| seconds(pts, self.video) >= e + PACKET_MARGIN) {
                        return Ok(None);
                    }
                    if pts >= b.from && !self.past_frames {
                        frame.index = b.first_index + self.frames;
                        self.frames += 1;
                        return Ok(Some(Event::Video(frame)));
                    }
                }
                Event::Packet(packet) => {
                    let base = self.time_bases.iter().find(|(i, _)| *i == packet.stream);
                    let time = packet.packet.pts().or(packet.packet.dts());
                    let at = match (time, base) {
                        (Some(t), Some((_, base))) => seconds(t, *base),
                        _ => continue,
                    };
                    let after_start = b.packets_from.is_none_or(|from| at >= from);
                    let before_end = b.packets_to.is_none_or(|to| at < to);
                    if after_start && before_end {
                        return Ok(Some(Event::Packet(packet)));
                    }
                }
            }
        }
    }

    fn ending(&self) -> Ending {
        self.inner.ending()
    }

    fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.inner.stop_on(stop);
    }
}
