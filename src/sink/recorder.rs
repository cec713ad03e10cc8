//! A recording of what a live window shows: frames arrive at irregular times and keep them
//! (timestamps in milliseconds), encoded on a thread of their own so the window never waits.

use std::thread::{self, JoinHandle};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use crossbeam::channel::{bounded, Sender};
use ffmpeg_next::Rational;

use super::FrameSink;
use crate::media::{Output, RgbFrame, Summary, VideoSettings};
use crate::pipeline::Stylized;

/// How many frames the encoder may fall behind before frames are left out of the recording.
const DEPTH: usize = 8;

/// Records stylized frames to a video file.
pub struct Recorder {
    sender: Option<Sender<RgbFrame>>,
    encoder: Option<JoinHandle<Result<Summary>>>,
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
        let (sender, frames) = bounded::<RgbFrame>(DEPTH);
        let encoder =
            thread::Builder::new()
                .name("record".into())
                .spawn(move || -> Result<Summary> {
                    for frame in frames {
                        output.write_video(&frame.resized(w, h))?;
                    }
                    Ok(output.finish()?)
                })?;
        Ok(Recorder {
            sender: Some(sender),
            encoder: Some(encoder),
            started: Instant::now(),
            sent: 0,
            skipped: 0,
        })
    }

    /// Finishes the file (it plays) and says what it holds and how many frames were left out.
    pub fn stop(mut self) -> Result<(Summary, u64)> {
        self.close()?
            .context("internal: the recording was already stopped")
    }

    /// Ends the encoder thread, once.
    fn close(&mut self) -> Result<Option<(Summary, u64)>> {
        drop(self.sender.take());
        let Some(encoder) = self.encoder.take() else {
            return Ok(None);
        };
        let summary = encoder
            .join()
            .map_err(|_| anyhow!("internal: the recording thread panicked"))??;
        Ok(Some((summary, self.skipped)))
    }
}

impl FrameSink for Recorder {
    /// Hands the frame to the encoder, timed from when it was captured; never waits (a frame the
    /// encoder has no room for is left out and counted).
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        let mut rgb = frame.frame.clone();
        rgb.pts = Some(
            frame
                .captured
                .saturating_duration_since(self.started)
                .as_millis() as i64,
        );
        rgb.index = self.sent + self.skipped;
        match self.sender.as_ref().map(|s| s.try_send(rgb)) {
            Some(Ok(())) => self.sent += 1,
            _ => self.skipped += 1,
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.close().map(drop)
    }
}
