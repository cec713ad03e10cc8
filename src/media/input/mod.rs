//! Opening anything FFmpeg opens (a path, a URL, `-` for stdin, a lavfi graph, a camera) and
//! decoding its best video stream to RGB frames, while handing the packets of its audio and
//! subtitle streams on untouched for stream copy.
//!
//! [`Input`] is opened in `open.rs` and read in `decode.rs`; `info.rs` describes its streams
//! and `ending.rs` how reading went.

mod decode;
mod ending;
mod info;
mod open;
#[cfg(test)]
mod tests;

use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ffmpeg::ffi;
use ffmpeg::{codec, Rational, Rescale};
use ffmpeg_next as ffmpeg;

pub use ending::Ending;
pub use info::{StreamInfo, VideoInfo};

use super::scale::Scaler;
use super::{Error, Result, RgbFrame, Setting};

/// A packet of one of the [`Input::streams`], timestamps in its stream's time base, counted from
/// the start of the input like the frames'.
pub struct InputPacket {
    /// The input stream's index.
    pub stream: usize,
    /// The packet, ready for [`Output::write_packet`](super::Output::write_packet).
    pub packet: ffmpeg::Packet,
}

/// What the input yields next, in file order.
pub enum Event {
    /// A decoded video frame.
    Video(RgbFrame),
    /// A packet of another stream.
    Packet(InputPacket),
}

/// An opened input with the decoder of its best video stream.
pub struct Input {
    // Declared before `interrupt`, whose flag the context's callback reads: dropped first.
    ctx: ffmpeg::format::context::Input,
    decoder: codec::decoder::Video,
    shown: String,
    video: VideoInfo,
    streams: Vec<StreamInfo>,
    /// Per input stream: the timestamp offset to subtract, in that stream's time base.
    offsets: Vec<i64>,
    /// Per input stream: whether its packets are handed out.
    wanted: Vec<bool>,
    size: (u32, u32),
    scaler: Option<Scaler>,
    decoded: ffmpeg::frame::Video,
    packet: ffmpeg::Packet,
    pending: Option<ffmpeg::Packet>,
    /// Per input stream: its time base.
    time_bases: Vec<Rational>,
    /// Whether a start was requested: frames and packets before it are dropped.
    range_start: bool,
    /// End of the requested range in the video time base (after the offset), if any.
    end: Option<i64>,
    stage: Stage,
    failed_receives: u32,
    ending: Ending,
    interrupt: Option<Arc<AtomicBool>>,
}

/// Where reading stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Packets are being read.
    Reading,
    /// No more packets will be read (the end, a read error, an interruption); the decoder is
    /// told so next.
    Demuxed,
    /// The decoder was told the end; the frames it still holds come out.
    Draining,
    /// Nothing more comes: the decoder is drained, or the range or the decoder ended it.
    Done,
}

impl Input {
    /// The decoded video stream.
    pub fn video(&self) -> &VideoInfo {
        &self.video
    }

    /// The audio and subtitle streams, whose packets [`Input::next_event`] hands out.
    pub fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    /// The input's name as messages show it (`'clip.mp4'`, `stdin`).
    pub fn name(&self) -> &str {
        &self.shown
    }

    /// How decoding went so far; final once [`Input::next_event`] has returned `None`.
    pub fn ending(&self) -> &Ending {
        &self.ending
    }

    /// The size of the RGB frames returned; the video's own size unless set.
    pub fn output_size(&self) -> (u32, u32) {
        self.size
    }

    /// Makes the returned frames `width × height` (Lanczos resampling when it differs).
    pub fn set_output_size(&mut self, width: u32, height: u32) -> Result<()> {
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(Error::Other(format!(
                "cannot decode input {} at {width}x{height}: sizes go from 1 to 16384",
                self.shown
            )));
        }
        self.size = (width, height);
        Ok(())
    }

    /// Restricts decoding to `[start, start + duration)` seconds of the input: seeks to the key
    /// frame before `start` when the input can seek (else reads from the beginning), and drops
    /// frames and packets outside. Timestamps then count from `start`. Call before reading.
    pub fn set_range(&mut self, start: Option<f64>, duration: Option<f64>) -> Result<()> {
        let start = start.unwrap_or(0.0);
        if !(start.is_finite() && start >= 0.0) {
            return Err(Error::bad_setting(
                Setting::Start,
                "bad ",
                format!(" {start}: it must be a number of seconds, 0 or more"),
            ));
        }
        if let Some(d) = duration {
            if !(d.is_finite() && d > 0.0) {
                return Err(Error::bad_setting(
                    Setting::Duration,
                    "bad ",
                    format!(" {d}: it must be a positive number of seconds"),
                ));
            }
        }
        if start > 0.0 {
            self.seek_before(start);
            let shift = (start * f64::from(ffi::AV_TIME_BASE)) as i64;
            for (offset, tb) in self.offsets.iter_mut().zip(&self.time_bases) {
                *offset += shift.rescale(ffi_time_base(), *tb);
            }
            self.range_start = true;
        }
        self.end = duration.map(|d| {
            ((d * f64::from(ffi::AV_TIME_BASE)) as i64)
                .rescale(ffi_time_base(), self.video.time_base)
        });
        self.ending.expected_frames = None;
        Ok(())
    }

    /// Seeks to the key frame at or before `seconds` from the input's start, when the input can
    /// seek (else reading goes on from where it is). Unlike [`Input::set_range`], timestamps keep
    /// counting from the input's start, and nothing is dropped. Call before reading.
    pub fn seek_before(&mut self, seconds: f64) {
        if !(seconds.is_finite() && seconds > 0.0) {
            return;
        }
        let base = ctx_start_time(&self.ctx).unwrap_or(0);
        let target = base + (seconds * f64::from(ffi::AV_TIME_BASE)) as i64;
        // SAFETY: an open context; a failed seek leaves it where it was.
        let sought = unsafe {
            ffi::avformat_seek_file(self.ctx.as_mut_ptr(), -1, i64::MIN, target, target, 0)
        };
        if sought < 0 {
            tracing::debug!("input {} cannot seek; reading from the start", self.shown);
        } else {
            self.decoder.flush();
        }
    }

    /// Whether the frame returned last was a key frame (decoding can start there).
    pub fn last_was_key(&self) -> bool {
        self.decoded.is_key()
    }

    /// Makes the input end once `flag` is set: no packet is read after that (the frames still in
    /// the decoder come out), and reads blocked in FFmpeg's I/O (stdin, files, network) give up.
    /// [`Ending::interrupted`] is then set.
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        extern "C" fn check(opaque: *mut c_void) -> c_int {
            // SAFETY: `opaque` is the `AtomicBool` kept alive by `Input::interrupt`, which
            // outlives the context that calls this.
            let flag = unsafe { &*(opaque as *const AtomicBool) };
            c_int::from(flag.load(Ordering::Relaxed))
        }
        let opaque = Arc::as_ptr(&flag) as *mut c_void;
        self.interrupt = Some(flag);
        // SAFETY: setting the callback of an open context; its `opaque` stays valid (see above).
        unsafe {
            (*self.ctx.as_mut_ptr()).interrupt_callback = ffi::AVIOInterruptCB {
                callback: Some(check),
                opaque,
            };
        }
    }

    /// The next decoded frame, skipping other streams' packets; `None` at the end (see
    /// [`Input::ending`] for how it ended).
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame>> {
        loop {
            match self.next_event()? {
                Some(Event::Video(frame)) => return Ok(Some(frame)),
                Some(Event::Packet(_)) => continue,
                None => return Ok(None),
            }
        }
    }
}

/// A timestamp or duration, `None` for FFmpeg's "unknown".
fn known(value: i64) -> Option<i64> {
    (value != ffi::AV_NOPTS_VALUE).then_some(value)
}

/// The input's start time in microseconds (`AV_TIME_BASE`), when known.
fn ctx_start_time(ctx: &ffmpeg::format::context::Input) -> Option<i64> {
    // SAFETY: reading a plain field of an open context.
    known(unsafe { (*ctx.as_ptr()).start_time })
}

/// FFmpeg's microsecond time base.
fn ffi_time_base() -> Rational {
    Rational::new(1, ffi::AV_TIME_BASE)
}
