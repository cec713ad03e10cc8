//! Encoding RGB frames (libx264 and yuv420p unless told otherwise) and muxing them with the
//! input's audio and subtitle streams (copied when the container takes them, audio re-encoded
//! when it does not) into a file, a URL or stdout.
//!
//! Everything that can be checked is checked before the output is touched: the container
//! (`container.rs`), the codec (`codec.rs`) and its options (`encoder.rs`), the streams
//! (`streams.rs`). The file is then opened and the header written; if that fails, or if the
//! output is dropped or finished before any frame was encoded, the file is removed (`file.rs`),
//! so no half-written garbage is left behind. Frames are converted to the encoder's pixel format
//! in `convert.rs`.

mod codec;
mod container;
mod convert;
mod encoder;
mod file;
mod settings;
mod streams;
#[cfg(test)]
mod tests;

use std::os::raw::c_int;

use ffmpeg::ffi;
use ffmpeg::packet::Mut as _;
use ffmpeg::{color, format::Pixel, Rational, Rescale};
use ffmpeg_next as ffmpeg;

pub use settings::VideoSettings;
pub use streams::StreamPlan;

use super::error::describe;
use super::input::{InputPacket, StreamInfo};
use super::scale::Scaler;
use super::{c_string, ffmpeg_url, shown, Error, Result, RgbFrame};
use file::Staged;
use streams::{Route, Routes};

/// What [`Output::finish`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Video frames encoded.
    pub frames: u64,
    /// Seconds from the first frame's timestamp to the end of the last.
    pub duration: Option<f64>,
    /// Packets of other streams written (copied or re-encoded).
    pub other_packets: u64,
    /// Bytes written, when the output is a local file.
    pub bytes: Option<u64>,
}

/// An output being written: video encoder, muxer, and the routes of other streams.
pub struct Output {
    ctx: Option<ffmpeg::format::context::Output>,
    shown: String,
    /// Where a local file is written and where it goes when finished (see [`Staged`]).
    staged: Option<Staged>,
    encoder: ffmpeg::codec::encoder::video::Encoder,
    settings: VideoSettings,
    encoded_size: (u32, u32),
    pixel_format: Pixel,
    full_range: bool,
    space: color::Space,
    scaler: Option<Scaler>,
    picture: ffmpeg::frame::Video,
    packet: ffmpeg::Packet,
    routes: Routes,
    plans: Vec<(usize, StreamPlan)>,
    /// One frame's duration in the frames' time base.
    frame_step: i64,
    /// The encoder's time base: the frames' unless the encoder cannot take it.
    encoder_tb: Rational,
    /// One frame's duration in the encoder's time base.
    encoder_step: i64,
    last_encoder_pts: Option<i64>,
    first_pts: Option<i64>,
    last_pts: Option<i64>,
    frames: u64,
    other_packets: u64,
    finished: bool,
}

impl Output {
    /// Creates `url` (`-` is stdout) with the container named by `format` or guessed from the
    /// file's extension, a video stream for `video`, and the input's other `streams` copied or
    /// re-encoded (pass none to leave them out). The header is written before this returns.
    pub fn create(
        url: &str,
        format: Option<&str>,
        video: VideoSettings,
        streams: &[StreamInfo],
    ) -> Result<Output> {
        super::init()?;
        let shown = shown(url, "stdout");
        let c_url = c_string(&ffmpeg_url(url, "pipe:1"), "output")?;
        video.check(&shown)?;
        let muxer = container::find_muxer(url, format, &shown)?;
        let path = file::local_path(url);
        if let Some(path) = &path {
            file::check_directory(path, &shown)?;
        }
        let staged = path.and_then(Staged::for_destination);
        let c_io_url = match &staged {
            Some(staged) => c_string(&format!("file:{}", staged.temp.display()), "output")?,
            None => c_url.clone(),
        };

        let mut ctx = container::alloc_context(muxer, &c_url, &shown)?;
        let container = ctx.format().name().to_string();
        let global_header = ctx
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let codec = codec::choose_codec(muxer, &video, &container)?;
        let pixel_format = codec::choose_pixel_format(&codec, &video)?;
        // MPEG-PS stamps only the first frame of each pack.
        let frame_clock = matches!(container.as_str(), "mpeg" | "vob" | "dvd" | "svcd" | "vcd");
        let (encoder, encoded_size, encoder_tb) =
            encoder::open_encoder(&codec, &video, pixel_format, global_header, frame_clock)?;
        encoder::add_video_stream(&mut ctx, codec, &encoder, encoder_tb, &video)
            .map_err(|e| Error::ffmpeg(format!("cannot write {shown}"), e))?;
        let (routes, plans) = streams::route_streams(&mut ctx, muxer, &container, streams, &shown)?;

        // Everything is set up: only now is the file created.
        file::open_io(&mut ctx, &c_io_url)
            .map_err(|e| Error::ffmpeg(format!("cannot write {shown}"), e))?;
        let frame_step = video
            .frame_rate
            .filter(|r| r.numerator() > 0 && r.denominator() > 0)
            .map_or(1, |r| 1i64.rescale(r.invert(), video.time_base).max(1));
        let encoder_step = frame_step.rescale(video.time_base, encoder_tb).max(1);
        let space = encoder.colorspace();
        let mut output = Output {
            ctx: Some(ctx),
            shown,
            staged,
            encoder,
            encoded_size,
            pixel_format,
            full_range: video.color_range == color::Range::JPEG,
            space,
            settings: video,
            scaler: None,
            picture: ffmpeg::frame::Video::new(pixel_format, encoded_size.0, encoded_size.1),
            packet: ffmpeg::Packet::empty(),
            routes,
            plans,
            frame_step,
            encoder_tb,
            encoder_step,
            last_encoder_pts: None,
            first_pts: None,
            last_pts: None,
            frames: 0,
            other_packets: 0,
            finished: false,
        };
        // From here on, dropping `output` on an error removes the file.
        output.write_header(&container)?;
        container::exact_movie_timescale(output.ctx_mut()?);
        Ok(output)
    }

    /// Writes the header, which the muxer may refuse for the streams it was given.
    fn write_header(&mut self, container: &str) -> Result<()> {
        let ctx = self.ctx_mut()?;
        if let Err(e) = ctx.write_header() {
            // SAFETY: reading a field of the open I/O context, when there is one.
            let seekable = unsafe {
                let pb = (*ctx.as_ptr()).pb;
                pb.is_null() || (*pb).seekable & ffi::AVIO_SEEKABLE_NORMAL as c_int != 0
            };
            let hint = if seekable {
                ""
            } else {
                "; it may need a file it can seek in: pipes take nut, matroska or mpegts"
            };
            return Err(Error::Other(format!(
                "cannot write {}: the {container} muxer rejected the streams: {}{hint}",
                self.shown,
                describe(e)
            )));
        }
        Ok(())
    }

    /// The size of the frames [`write_video`](Self::write_video) takes.
    pub fn frame_size(&self) -> (u32, u32) {
        (self.settings.width, self.settings.height)
    }

    /// The size frames are encoded at: the frames' own size, less one pixel of width or height
    /// when the encoder cannot take odd sizes in its pixel format (yuv420p with libx264, for
    /// example); the last column or row is then cropped.
    pub fn encoded_size(&self) -> (u32, u32) {
        self.encoded_size
    }

    /// The encoder's name and pixel format (`libx264`, `yuv420p`).
    pub fn encoder(&self) -> (String, String) {
        let name = self
            .encoder
            .codec()
            .map(|c| c.name().to_string())
            .unwrap_or_default();
        (
            name,
            self.pixel_format
                .descriptor()
                .map(|d| d.name().to_string())
                .unwrap_or_default(),
        )
    }

    /// What happens to each of the input's other streams, by input stream index.
    pub fn stream_plans(&self) -> &[(usize, StreamPlan)] {
        &self.plans
    }

    /// Video frames encoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Encodes one frame at its timestamp (`frame.pts`, in [`VideoSettings::time_base`]). A frame
    /// without one, or whose timestamp does not increase, is placed one frame after the last.
    pub fn write_video(&mut self, frame: &RgbFrame) -> Result<()> {
        frame.check()?;
        let (width, height) = (self.settings.width, self.settings.height);
        if (frame.width, frame.height) != (width, height) {
            return Err(Error::Other(format!(
                "cannot write {}: frame {} is {}x{} but the output was set up for {width}x{height}",
                self.shown, frame.index, frame.width, frame.height
            )));
        }
        let pts = match (frame.pts, self.last_pts) {
            (Some(pts), Some(last)) if pts <= last => {
                tracing::debug!(
                    "frame {}: timestamp {pts} does not increase; using {}",
                    frame.index,
                    last + 1
                );
                last + 1
            }
            (Some(pts), _) => pts,
            (None, Some(last)) => last + self.frame_step,
            (None, None) => 0,
        };
        self.convert(frame)?;
        let mut encoder_pts = pts.rescale(self.settings.time_base, self.encoder_tb);
        if let Some(last) = self.last_encoder_pts.filter(|&last| encoder_pts <= last) {
            encoder_pts = last + 1;
        }
        self.picture.set_pts(Some(encoder_pts));
        if let Some(sar) = self.settings.sample_aspect_ratio {
            // SAFETY: a plain field of our own frame.
            unsafe { (*self.picture.as_mut_ptr()).sample_aspect_ratio = sar.into() };
        }
        self.picture.set_color_range(self.encoder.color_range());
        self.picture.set_color_space(self.encoder.colorspace());
        if let Err(e) = self.encoder.send_frame(&self.picture) {
            return Err(Error::Other(format!(
                "cannot encode frame {} for {}: {}",
                frame.index,
                self.shown,
                describe(e)
            )));
        }
        self.first_pts.get_or_insert(pts);
        self.last_pts = Some(pts);
        self.last_encoder_pts = Some(encoder_pts);
        self.frames += 1;
        self.drain_video()
    }

    /// Writes a packet of one of the input's other streams: copied with its timestamps rescaled,
    /// or re-encoded; packets of left-out streams are ignored.
    pub fn write_packet(&mut self, packet: InputPacket) -> Result<()> {
        let InputPacket { stream, mut packet } = packet;
        let shown = self.shown.clone();
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(already_closed(&shown));
        };
        match self.routes.get_mut(&stream) {
            None => Ok(()),
            Some(Route::Copy { out, time_base }) => {
                let out_tb = ctx.stream(*out).map_or(*time_base, |s| s.time_base());
                packet.rescale_ts(*time_base, out_tb);
                packet.set_stream(*out);
                packet.set_position(-1);
                self.other_packets += 1;
                packet
                    .write_interleaved(ctx)
                    .map_err(|e| Error::ffmpeg(format!("cannot write {shown}"), e))
            }
            Some(Route::Encode(transcoder)) => {
                let n = transcoder.push(&packet, ctx)?;
                self.other_packets += n;
                Ok(())
            }
        }
    }

    /// Flushes the encoders, writes the trailer and closes the output. Fails (and removes the
    /// file) when no frame was written.
    pub fn finish(mut self) -> Result<Summary> {
        self.close()?;
        let duration = match (self.first_pts, self.last_pts) {
            (Some(first), Some(last)) => {
                super::seconds(last + self.frame_step - first, self.settings.time_base)
            }
            _ => None,
        };
        let bytes = self
            .staged
            .as_ref()
            .and_then(|s| std::fs::metadata(&s.destination).ok())
            .map(|m| m.len());
        Ok(Summary {
            frames: self.frames,
            duration,
            other_packets: self.other_packets,
            bytes,
        })
    }

    /// Flushes the encoders, writes the trailer, closes the I/O and puts the file in place;
    /// without frames, removes the file instead.
    fn close(&mut self) -> Result<()> {
        self.finished = true;
        if self.frames == 0 {
            self.discard();
            return Err(Error::Other(format!(
                "no video frames to write: {} was not written",
                self.shown
            )));
        }
        if let Err(e) = self.encoder.send_eof() {
            return Err(Error::ffmpeg(
                format!("cannot finish encoding {}", self.shown),
                e,
            ));
        }
        self.drain_video()?;
        let shown = self.shown.clone();
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(already_closed(&shown));
        };
        for route in self.routes.values_mut() {
            if let Route::Encode(transcoder) = route {
                self.other_packets += transcoder.finish(ctx)?;
            }
        }
        ctx.write_trailer()
            .map_err(|e| Error::ffmpeg(format!("cannot finish {shown}"), e))?;
        file::close_io(ctx).map_err(|e| Error::ffmpeg(format!("cannot finish {shown}"), e))?;
        self.ctx = None;
        if let Some(staged) = self.staged.take() {
            staged.commit(&shown)?;
        }
        Ok(())
    }

    /// The muxing context, while the output is open.
    fn ctx_mut(&mut self) -> Result<&mut ffmpeg::format::context::Output> {
        match self.ctx.as_mut() {
            Some(ctx) => Ok(ctx),
            None => Err(already_closed(&self.shown)),
        }
    }

    /// Writes every packet the video encoder has ready.
    fn drain_video(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(already_closed(&shown));
        };
        let stream_tb = ctx.stream(0).map_or(self.encoder_tb, |s| s.time_base());
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => {}
                Err(ffmpeg::Error::Other { errno: ffi::EAGAIN }) | Err(ffmpeg::Error::Eof) => {
                    return Ok(())
                }
                Err(e) => return Err(Error::ffmpeg(format!("cannot encode video for {shown}"), e)),
            }
            if self.packet.duration() <= 0 {
                self.packet.set_duration(self.encoder_step);
            }
            self.packet.set_stream(0);
            self.packet.rescale_ts(self.encoder_tb, stream_tb);
            write_video_packet(&mut self.packet, ctx)
                .map_err(|e| Error::ffmpeg(format!("cannot write {shown}"), e))?;
        }
    }

    /// Closes the output without a trailer and removes the file being written; what was at the
    /// destination before stays as it was.
    fn discard(&mut self) {
        self.ctx = None;
        if let Some(staged) = self.staged.take() {
            staged.remove();
        }
    }
}

impl Drop for Output {
    /// An output dropped unfinished keeps what was encoded, playable (the encoder is flushed and
    /// the trailer written, as far as that goes); one with no frames is removed.
    fn drop(&mut self) {
        if self.finished {
            if self.ctx.is_some() {
                // `close` failed half-way: the file being written is not worth keeping.
                self.discard();
            }
            return;
        }
        if let Err(e) = self.close() {
            tracing::debug!("closing the unfinished {}: {e:#}", self.shown);
        }
    }
}

/// Writes an encoded video packet. An empty one is a frame the encoder repeats (libtheora's
/// duplicate frames), which FFmpeg muxes as it is and ffmpeg-next's wrapper refuses as invalid
/// data, so it goes to FFmpeg directly.
fn write_video_packet(
    packet: &mut ffmpeg::Packet,
    ctx: &mut ffmpeg::format::context::Output,
) -> Result<(), ffmpeg::Error> {
    if packet.size() > 0 {
        return packet.write_interleaved(ctx);
    }
    // SAFETY: an open muxing context and a packet of its stream; FFmpeg takes the packet's
    // (empty) payload and leaves it blank, as `write_interleaved` does.
    let written = unsafe { ffi::av_interleaved_write_frame(ctx.as_mut_ptr(), packet.as_mut_ptr()) };
    match written {
        0.. => Ok(()),
        e => Err(ffmpeg::Error::from(e)),
    }
}

/// The error for writing to an output already closed.
fn already_closed(shown: &str) -> Error {
    Error::Other(format!("cannot write {shown}: it is already closed"))
}
