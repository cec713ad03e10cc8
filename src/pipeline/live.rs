//! The live wiring's stages: a source that plays in real time, and a worker between two
//! latest-frame-wins mailboxes.
//!
//! ```text
//! source thread ──Mailbox<Captured>──▶ stylize thread ──Mailbox<O>──▶ window (calling thread)
//! ```
//! Each mailbox holds one item: a stage that falls behind skips to the newest frame instead of
//! queueing stale ones, so latency stays bounded however long a run lasts. A [`Recorder`] writes
//! what the window shows to a file on a thread of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use crossbeam::channel::{bounded, Sender};
use ffmpeg_next::Rational;
use image::imageops::{self, FilterType};
use image::RgbImage;

use super::handoff::Mailbox;
use crate::media::{Ending, Input, Output, RgbFrame, Summary, VideoSettings};

/// How many frames a recording's encoder may fall behind before frames are left out of it.
const RECORD_DEPTH: usize = 8;

/// A decoded frame and when it was decoded (where its end-to-end latency is counted from).
pub struct Captured {
    /// The frame, at the processing size.
    pub frame: RgbFrame,
    /// When it came out of the decoder.
    pub at: Instant,
}

/// How the source stage ended.
pub struct SourceReport {
    /// Frames decoded (shown or not).
    pub decoded: u64,
    /// How decoding ended.
    pub ending: Ending,
}

/// Starts the source stage: decodes `input`'s video frames into `mailbox` until the input ends,
/// `stop` is set or the mailbox is closed, then closes the mailbox. With `pace`, frames are
/// released at their timestamps (a file plays at its own rate); without, as fast as they come
/// (a camera is paced by itself).
pub fn spawn_source(
    mut input: Input,
    pace: bool,
    mailbox: Arc<Mailbox<Captured>>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<Result<SourceReport>>> {
    input.set_interrupt(stop.clone());
    let time_base = f64::from(input.video().time_base);
    let handle = thread::Builder::new()
        .name("source".into())
        .spawn(move || {
            let result = (|| {
                let mut clock: Option<(Instant, f64)> = None;
                let mut decoded = 0;
                while let Some(frame) = input.next_frame()? {
                    decoded += 1;
                    if pace {
                        if let Some(pts) = frame.pts {
                            let t = pts as f64 * time_base;
                            let (start, t0) = *clock.get_or_insert((Instant::now(), t));
                            let due = start + Duration::from_secs_f64((t - t0).max(0.0));
                            while Instant::now() < due && !stop.load(Ordering::Relaxed) {
                                thread::sleep(
                                    (due - Instant::now()).min(Duration::from_millis(20)),
                                );
                            }
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let captured = Captured {
                        frame,
                        at: Instant::now(),
                    };
                    if !mailbox.put(captured) {
                        break;
                    }
                }
                Ok(SourceReport {
                    decoded,
                    ending: input.ending().clone(),
                })
            })();
            mailbox.close();
            result
        })?;
    Ok(handle)
}

/// Starts a worker stage: takes the newest item from `input`, turns it into an output with
/// `work` (`None` skips it) and puts that in `output`, until `input` is finished, `stop` is set
/// or `output` is closed. Both mailboxes are closed when it ends, so the stages on either side
/// stop too.
pub fn spawn_worker<I, O, F>(
    name: &str,
    input: Arc<Mailbox<I>>,
    output: Arc<Mailbox<O>>,
    stop: Arc<AtomicBool>,
    mut work: F,
) -> Result<JoinHandle<Result<()>>>
where
    I: Send + 'static,
    O: Send + 'static,
    F: FnMut(I) -> Result<Option<O>> + Send + 'static,
{
    let handle = thread::Builder::new().name(name.into()).spawn(move || {
        let result = (|| {
            while let Some(item) = input.take() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(out) = work(item)? {
                    if !output.put(out) {
                        break;
                    }
                }
            }
            Ok(())
        })();
        input.close();
        output.close();
        result
    })?;
    Ok(handle)
}

/// A stylized frame on its way into a recording.
struct ToRecord {
    image: RgbImage,
    /// Milliseconds since the recording started.
    pts: i64,
    index: u64,
}

/// Records a stream of pictures to a video file on its own thread: frames arrive at irregular
/// times and keep them (timestamps in milliseconds), scaled to the recording's size.
pub struct Recorder {
    sender: Sender<ToRecord>,
    encoder: JoinHandle<Result<Summary>>,
    started: Instant,
    sent: u64,
    skipped: u64,
}

impl Recorder {
    /// Creates `path` (container from the extension) for `width × height` frames and starts the
    /// encoder thread.
    pub fn start(path: &str, width: u32, height: u32) -> Result<Recorder> {
        let settings = VideoSettings::new(width, height, None, Rational::new(1, 1000));
        let mut output = Output::create(path, None, settings, &[])?;
        let (w, h) = output.frame_size();
        let (sender, frames) = bounded::<ToRecord>(RECORD_DEPTH);
        let encoder = thread::Builder::new()
            .name("record".into())
            .spawn(move || {
                for frame in frames {
                    let image = if frame.image.dimensions() == (w, h) {
                        frame.image
                    } else {
                        imageops::resize(&frame.image, w, h, FilterType::CatmullRom)
                    };
                    let rgb = RgbFrame::new(w, h, image.into_raw(), Some(frame.pts), frame.index)?;
                    output.write_video(&rgb)?;
                }
                Ok(output.finish()?)
            })?;
        Ok(Recorder {
            sender,
            encoder,
            started: Instant::now(),
            sent: 0,
            skipped: 0,
        })
    }

    /// Hands `image`, shown at `at`, to the encoder; never waits (a frame the encoder has no
    /// room for is left out and counted).
    pub fn push(&mut self, image: &RgbImage, at: Instant) {
        let frame = ToRecord {
            image: image.clone(),
            pts: at.saturating_duration_since(self.started).as_millis() as i64,
            index: self.sent + self.skipped,
        };
        match self.sender.try_send(frame) {
            Ok(()) => self.sent += 1,
            Err(_) => self.skipped += 1,
        }
    }

    /// Finishes the file (it plays) and says what it holds.
    pub fn finish(self) -> Result<(Summary, u64)> {
        drop(self.sender);
        let summary = self
            .encoder
            .join()
            .map_err(|_| anyhow!("internal: the recording thread panicked"))??;
        Ok((summary, self.skipped))
    }
}
