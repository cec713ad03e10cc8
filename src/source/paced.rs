//! Playback at the source's own rate: frames are released at their timestamps, as a player
//! shows them, so that a file stands in for a camera.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::FrameSource;
use crate::media::{Ending, Event};

/// `inner`'s frames, each held back until its time has come.
pub struct Paced<S> {
    inner: S,
    /// Seconds per timestamp unit.
    time_base: f64,
    /// When the first frame was released, and its time.
    clock: Option<(Instant, f64)>,
    stop: Arc<AtomicBool>,
}

impl<S: FrameSource> Paced<S> {
    /// Paces `inner`, whose frame timestamps count `time_base` seconds.
    pub fn new(inner: S, time_base: f64) -> Paced<S> {
        Paced {
            inner,
            time_base,
            clock: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<S: FrameSource> FrameSource for Paced<S> {
    fn next(&mut self) -> Result<Option<Event>> {
        let event = self.inner.next()?;
        if let Some(Event::Video(frame)) = &event {
            if let Some(pts) = frame.pts {
                let t = pts as f64 * self.time_base;
                let (start, t0) = *self.clock.get_or_insert((Instant::now(), t));
                let due = start + Duration::from_secs_f64((t - t0).max(0.0));
                while Instant::now() < due && !self.stop.load(Ordering::Relaxed) {
                    thread::sleep((due - Instant::now()).min(Duration::from_millis(20)));
                }
            }
        }
        Ok(event)
    }

    fn ending(&self) -> Ending {
        self.inner.ending()
    }

    fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.stop = stop.clone();
        self.inner.stop_on(stop);
    }
}
