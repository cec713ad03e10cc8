//! Encoding RGB frames (libx264 and yuv420p unless told otherwise) and muxing them with the
//! input's audio and subtitle streams (copied when the container takes them, audio re-encoded
//! when it does not) into a file, a URL or stdout.
//!
//! Everything that can be checked is checked before the output is touched: the container, the
//! codec and its options, the streams. The file is then opened and the header written; if that
//! fails, or if the output is dropped or finished before any frame was encoded, the file is
//! removed, so no half-written garbage is left behind.

use std::collections::HashMap;
use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::ptr;

use anyhow::{anyhow, bail, Result};
use ffmpeg::ffi;
use ffmpeg::{codec, color, format::Pixel, media, Rational, Rescale};
use ffmpeg_next as ffmpeg;

use super::audio::AudioTranscoder;
use super::input::{InputPacket, StreamInfo, VideoInfo};
use super::scale::{matrix_for, Conversion, Scaler};
use super::{c_string, describe, dictionary, ffmpeg_url, leftovers, shown, RgbFrame};

/// How the video is encoded. [`VideoSettings::like`] fills it from the input's [`VideoInfo`].
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSettings {
    /// Width of the frames given to [`Output::write_video`].
    pub width: u32,
    /// Height of the frames given to [`Output::write_video`].
    pub height: u32,
    /// Nominal frame rate (written to the stream; also the step for frames without timestamps).
    pub frame_rate: Option<Rational>,
    /// Time base of the frames' timestamps; the encoder uses it too, so every timestamp is kept.
    pub time_base: Rational,
    /// Encoder name (`--codec`); default libx264 where the container takes H.264, else the
    /// container's own (rawvideo for `rawvideo`, wrapped_avframe for `yuv4mpegpipe`).
    pub codec: Option<String>,
    /// `--crf`: the encoder's `crf` option.
    pub crf: Option<u32>,
    /// `--preset`: the encoder's `preset` option.
    pub preset: Option<String>,
    /// `--codec-option K=V`: more encoder options; any the encoder does not know is an error.
    pub codec_options: Vec<(String, String)>,
    /// Encoder pixel format; default yuv420p when the encoder takes it, else the nearest to RGB.
    pub pixel_format: Option<String>,
    /// Sample (pixel) aspect ratio to tag.
    pub sample_aspect_ratio: Option<Rational>,
    /// Display matrix (rotation) to tag, as read from the input.
    pub display_matrix: Option<[i32; 9]>,
    /// Colour range; unspecified means limited (16–235), what players expect.
    pub color_range: color::Range,
    /// YUV matrix; unspecified means the one players assume for untagged video (BT.709 from
    /// 1280×720 up, BT.601 below), and the output is tagged with it.
    pub color_space: color::Space,
    /// Colour primaries to tag.
    pub color_primaries: color::Primaries,
    /// Transfer characteristic to tag.
    pub color_transfer: color::TransferCharacteristic,
}

impl VideoSettings {
    /// Settings for `width × height` frames with the given timing, everything else default.
    pub fn new(width: u32, height: u32, frame_rate: Option<Rational>, time_base: Rational) -> Self {
        VideoSettings {
            width,
            height,
            frame_rate,
            time_base,
            codec: None,
            crf: None,
            preset: None,
            codec_options: Vec::new(),
            pixel_format: None,
            sample_aspect_ratio: None,
            display_matrix: None,
            color_range: color::Range::Unspecified,
            color_space: color::Space::Unspecified,
            color_primaries: color::Primaries::Unspecified,
            color_transfer: color::TransferCharacteristic::Unspecified,
        }
    }

    /// Settings that keep the input's timing, aspect ratio, rotation and colour tags, for frames
    /// of `width × height` (the sample aspect ratio is adjusted when the shape changes).
    pub fn like(info: &VideoInfo, width: u32, height: u32) -> Self {
        let mut s = VideoSettings::new(width, height, info.frame_rate, info.time_base);
        s.sample_aspect_ratio = info.sample_aspect_ratio.map(|sar| {
            // Keep the display aspect ratio: sar' = sar · (w/h) / (w'/h').
            let (w, h) = (i64::from(info.width), i64::from(info.height));
            let num = i64::from(sar.numerator()) * w * i64::from(height);
            let den = i64::from(sar.denominator()) * h * i64::from(width);
            reduce(num, den)
        });
        s.display_matrix = info.display_matrix;
        s.color_range = info.color_range;
        s.color_space = info.color_space;
        s.color_primaries = info.color_primaries;
        s.color_transfer = info.color_transfer;
        s
    }
}

/// What happens to one of the input's other streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamPlan {
    /// Copied packet for packet.
    Copy,
    /// Decoded and encoded again with this encoder (the container does not take the original).
    Reencode(String),
    /// Left out, for this reason.
    Drop(String),
}

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

enum Route {
    Copy { out: usize, time_base: Rational },
    Encode(Box<AudioTranscoder>),
}

/// An output being written: video encoder, muxer, and the routes of other streams.
pub struct Output {
    ctx: Option<ffmpeg::format::context::Output>,
    shown: String,
    /// Where a local file is written and where it goes when finished (see [`Staged`]).
    staged: Option<Staged>,
    encoder: codec::encoder::video::Encoder,
    settings: VideoSettings,
    encoded_size: (u32, u32),
    pixel_format: Pixel,
    full_range: bool,
    space: color::Space,
    scaler: Option<Scaler>,
    picture: ffmpeg::frame::Video,
    packet: ffmpeg::Packet,
    routes: HashMap<usize, Route>,
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
    /// Creates `url` (`-` is stdout) with the container from `format` (`--format`) or the file's
    /// extension, a video stream for `video`, and the input's other `streams` copied or
    /// re-encoded (pass none for `--no-audio`). The header is written before this returns.
    pub fn create(
        url: &str,
        format: Option<&str>,
        video: VideoSettings,
        streams: &[StreamInfo],
    ) -> Result<Output> {
        super::init()?;
        let shown = shown(url, "stdout");
        let c_url = c_string(&ffmpeg_url(url, "pipe:1"), "output")?;
        if video.width == 0 || video.height == 0 {
            bail!(
                "cannot write {shown}: the video size {}x{} is empty",
                video.width,
                video.height
            );
        }
        if video.time_base.numerator() <= 0 || video.time_base.denominator() <= 0 {
            bail!("cannot write {shown}: bad time base {}", video.time_base);
        }
        let muxer = find_muxer(url, format, &shown)?;
        let path = local_path(url);
        if let Some(path) = &path {
            check_directory(path, &shown)?;
        }
        let staged = path.and_then(Staged::for_destination);
        let c_io_url = match &staged {
            Some(staged) => c_string(&format!("file:{}", staged.temp.display()), "output")?,
            None => c_url.clone(),
        };

        let mut raw = ptr::null_mut();
        // SAFETY: a valid muxer and URL; on success `raw` is a new context owned by the wrapper.
        let made = unsafe {
            ffi::avformat_alloc_output_context2(&mut raw, muxer, ptr::null(), c_url.as_ptr())
        };
        if made < 0 || raw.is_null() {
            bail!(
                "cannot write {shown}: {}",
                describe(ffmpeg::Error::from(made))
            );
        }
        // SAFETY: a context just allocated (with no I/O opened yet: its `pb` is null).
        let mut ctx = unsafe { ffmpeg::format::context::Output::wrap(raw) };
        let container = ctx.format().name().to_string();
        let global_header = ctx
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);

        let codec = choose_codec(muxer, &video, &container)?;
        let pixel_format = choose_pixel_format(&codec, &video)?;
        let (encoder, encoded_size, encoder_tb) =
            open_encoder(&codec, &video, pixel_format, global_header)?;
        let frame_step = video
            .frame_rate
            .filter(|r| r.numerator() > 0 && r.denominator() > 0)
            .map_or(1, |r| 1i64.rescale(r.invert(), video.time_base).max(1));
        let encoder_step = frame_step.rescale(video.time_base, encoder_tb).max(1);
        {
            let mut stream = ctx
                .add_stream(codec)
                .map_err(|e| anyhow!("cannot write {shown}: {}", describe(e)))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(encoder_tb);
            if let Some(rate) = video.frame_rate {
                stream.set_avg_frame_rate(rate);
                stream.set_rate(rate);
            }
            // SAFETY: plain fields and side data of a stream not yet written.
            unsafe {
                let st = stream.as_mut_ptr();
                if let Some(sar) = video.sample_aspect_ratio {
                    (*st).sample_aspect_ratio = sar.into();
                }
                if let Some(matrix) = video.display_matrix {
                    let data = ffi::av_stream_new_side_data(
                        st,
                        ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                        std::mem::size_of_val(&matrix),
                    );
                    if !data.is_null() {
                        ptr::copy_nonoverlapping(
                            matrix.as_ptr().cast::<u8>(),
                            data,
                            std::mem::size_of_val(&matrix),
                        );
                    }
                }
            }
        }

        let mut routes = HashMap::new();
        let mut plans = Vec::new();
        for info in streams {
            let plan = plan_stream(muxer, info, &container);
            let plan = match plan {
                StreamPlan::Copy => {
                    let out = ctx.nb_streams() as usize;
                    let mut stream = ctx
                        .add_stream(ffmpeg::encoder::find(codec::Id::None))
                        .map_err(|e| anyhow!("cannot write {shown}: {}", describe(e)))?;
                    stream.set_parameters(info.parameters.clone());
                    stream.set_time_base(info.time_base);
                    stream.set_metadata(metadata(&info.metadata));
                    // SAFETY: a plain field of the stream's own parameters: let the muxer choose
                    // its tag for the codec (the input container's may mean nothing here).
                    unsafe { (*(*stream.as_mut_ptr()).codecpar).codec_tag = 0 };
                    routes.insert(
                        info.index,
                        Route::Copy {
                            out,
                            time_base: info.time_base,
                        },
                    );
                    StreamPlan::Copy
                }
                StreamPlan::Reencode(name) => {
                    match AudioTranscoder::new(info, &name, &mut ctx, global_header) {
                        Ok(transcoder) => {
                            tracing::info!(
                            "re-encoding {} audio (stream {}) as {name}: the {container} container does not take it",
                            info.codec,
                            info.index
                        );
                            routes.insert(info.index, Route::Encode(Box::new(transcoder)));
                            StreamPlan::Reencode(name)
                        }
                        Err(e) => StreamPlan::Drop(format!("{e:#}")),
                    }
                }
                StreamPlan::Drop(why) => StreamPlan::Drop(why),
            };
            if let StreamPlan::Drop(why) = &plan {
                tracing::warn!(
                    "leaving out {} stream {} ({}): {why}",
                    info.kind_name(),
                    info.index,
                    info.codec
                );
            }
            plans.push((info.index, plan));
        }

        // Everything is set up: only now is the file created.
        // SAFETY: the context's muxer; opening its I/O on the URL it was made for.
        unsafe {
            let raw = ctx.as_mut_ptr();
            if (*(*raw).oformat).flags & ffi::AVFMT_NOFILE == 0 {
                let opened =
                    ffi::avio_open(&mut (*raw).pb, c_io_url.as_ptr(), ffi::AVIO_FLAG_WRITE);
                if opened < 0 {
                    bail!(
                        "cannot write {shown}: {}",
                        describe(ffmpeg::Error::from(opened))
                    );
                }
            }
        }
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
        let ctx = output.ctx_mut()?;
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
            bail!(
                "cannot write {}: the {container} muxer rejected the streams: {}{hint}",
                output.shown,
                describe(e)
            );
        }
        Ok(output)
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
            bail!(
                "cannot write {}: frame {} is {}x{} but the output was set up for {width}x{height}",
                self.shown,
                frame.index,
                frame.width,
                frame.height
            );
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
        let (ew, eh) = self.encoded_size;
        let conversion = Conversion {
            src: (Pixel::RGB24, ew, eh),
            dst: (self.pixel_format, ew, eh),
            space: self.space,
            src_full: true,
            dst_full: self.full_range,
        };
        let scaler = Scaler::ensure(&mut self.scaler, conversion)?;
        // SAFETY: make_writable gives the picture buffers of its own (the encoder may still hold
        // the previous ones); the RGB source has `eh` rows of at least `3 * ew` bytes at a stride
        // of `3 * width` (cropping the last column/row when the encoded size is smaller).
        unsafe {
            let made = ffi::av_frame_make_writable(self.picture.as_mut_ptr());
            if made < 0 {
                bail!(
                    "cannot write {}: {}",
                    self.shown,
                    describe(ffmpeg::Error::from(made))
                );
            }
            let pic = &*self.picture.as_ptr();
            scaler.run(
                [frame.data.as_ptr(), ptr::null(), ptr::null(), ptr::null()],
                [3 * width as c_int, 0, 0, 0],
                [pic.data[0], pic.data[1], pic.data[2], pic.data[3]],
                [
                    pic.linesize[0],
                    pic.linesize[1],
                    pic.linesize[2],
                    pic.linesize[3],
                ],
            )?;
        }
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
            bail!(
                "cannot encode frame {} for {}: {}",
                frame.index,
                self.shown,
                describe(e)
            );
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
            bail!("cannot write {shown}: it is already closed");
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
                    .map_err(|e| anyhow!("cannot write {shown}: {}", describe(e)))
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

    fn close(&mut self) -> Result<()> {
        self.finished = true;
        if self.frames == 0 {
            self.discard();
            bail!("no video frames to write: {} was not written", self.shown);
        }
        if let Err(e) = self.encoder.send_eof() {
            bail!("cannot finish encoding {}: {}", self.shown, describe(e));
        }
        self.drain_video()?;
        let shown = self.shown.clone();
        let Some(ctx) = self.ctx.as_mut() else {
            bail!("cannot write {shown}: it is already closed");
        };
        for route in self.routes.values_mut() {
            if let Route::Encode(transcoder) = route {
                self.other_packets += transcoder.finish(ctx)?;
            }
        }
        ctx.write_trailer()
            .map_err(|e| anyhow!("cannot finish {shown}: {}", describe(e)))?;
        // SAFETY: closing the I/O the context opened, and nulling it so it is closed once.
        let closed = unsafe {
            let raw = ctx.as_mut_ptr();
            if (*(*raw).oformat).flags & ffi::AVFMT_NOFILE == 0 {
                ffi::avio_closep(&mut (*raw).pb)
            } else {
                0
            }
        };
        if closed < 0 {
            bail!(
                "cannot finish {shown}: {}",
                describe(ffmpeg::Error::from(closed))
            );
        }
        self.ctx = None;
        if let Some(staged) = self.staged.take() {
            staged.commit(&shown)?;
        }
        Ok(())
    }

    fn ctx_mut(&mut self) -> Result<&mut ffmpeg::format::context::Output> {
        match self.ctx.as_mut() {
            Some(ctx) => Ok(ctx),
            None => bail!("cannot write {}: it is already closed", self.shown),
        }
    }

    /// Writes every packet the video encoder has ready.
    fn drain_video(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        let Some(ctx) = self.ctx.as_mut() else {
            bail!("cannot write {shown}: it is already closed");
        };
        let stream_tb = ctx.stream(0).map_or(self.encoder_tb, |s| s.time_base());
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => {}
                Err(ffmpeg::Error::Other { errno: ffi::EAGAIN }) | Err(ffmpeg::Error::Eof) => {
                    return Ok(())
                }
                Err(e) => bail!("cannot encode video for {shown}: {}", describe(e)),
            }
            if self.packet.duration() <= 0 {
                self.packet.set_duration(self.encoder_step);
            }
            self.packet.set_stream(0);
            self.packet.rescale_ts(self.encoder_tb, stream_tb);
            self.packet
                .write_interleaved(ctx)
                .map_err(|e| anyhow!("cannot write {shown}: {}", describe(e)))?;
        }
    }

    /// Closes the output without a trailer and removes the file being written; what was at the
    /// destination before stays as it was.
    fn discard(&mut self) {
        self.ctx = None;
        if let Some(staged) = self.staged.take() {
            if let Err(e) = std::fs::remove_file(&staged.temp) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(
                        "cannot remove the unfinished {}: {e}",
                        staged.temp.display()
                    );
                }
            }
        }
    }
}

/// A local file written beside its destination under a temporary name and renamed over it only
/// when finished, so that a failed or killed run never touches what was there before. A
/// destination that exists and is not a regular file (a device, a FIFO) is written in place and
/// never removed.
#[derive(Debug)]
struct Staged {
    temp: PathBuf,
    destination: PathBuf,
}

impl Staged {
    fn for_destination(destination: PathBuf) -> Option<Staged> {
        match std::fs::symlink_metadata(&destination) {
            Ok(m) if !(m.is_file() || m.file_type().is_symlink()) => return None,
            _ => {}
        }
        destination.file_name()?;
        let temp = crate::files::temporary_beside(&destination);
        Some(Staged { temp, destination })
    }

    /// Moves the finished file into place.
    fn commit(self, shown: &str) -> Result<()> {
        std::fs::rename(&self.temp, &self.destination).map_err(|e| {
            anyhow!(
                "cannot put the finished {shown} in place: {e}; it is kept as '{}'",
                self.temp.display()
            )
        })
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

/// The muxer for `--format` or, without it, for the file name's extension.
fn find_muxer(url: &str, format: Option<&str>, shown: &str) -> Result<*const ffi::AVOutputFormat> {
    let found = match format {
        Some(name) => {
            let c_name = c_string(name, "--format")?;
            // SAFETY: a valid C string; the result is a static muxer or null.
            let found = unsafe { ffi::av_guess_format(c_name.as_ptr(), ptr::null(), ptr::null()) };
            if found.is_null() {
                bail!("unknown --format '{name}'; `ffmpeg -muxers` lists them (nut, matroska, mp4, mpegts, …)");
            }
            found
        }
        None => {
            if url == "-" {
                bail!("writing to stdout needs --format (nut, matroska, mpegts, yuv4mpegpipe, …)");
            }
            let c_name = c_string(url, "output")?;
            // SAFETY: a valid C string; the result is a static muxer or null.
            let found = unsafe { ffi::av_guess_format(ptr::null(), c_name.as_ptr(), ptr::null()) };
            if found.is_null() {
                bail!("cannot tell the container of {shown} from its extension; use .mp4, .mkv, .mov, .webm, … or --format");
            }
            found
        }
    };
    Ok(found)
}

/// The local file an output URL names (`-` and other protocols than `file:` name none).
fn local_path(url: &str) -> Option<PathBuf> {
    if url == "-" {
        return None;
    }
    if let Some(rest) = url.strip_prefix("file:") {
        return Some(PathBuf::from(rest));
    }
    match url.find(':') {
        // `proto:…` with a protocol name of two letters or more (so `C:\…` stays a path).
        Some(i)
            if i >= 2
                && url[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') =>
        {
            None
        }
        _ => Some(PathBuf::from(url)),
    }
}

fn check_directory(path: &Path, shown: &str) -> Result<()> {
    if path.is_dir() {
        bail!("cannot write {shown}: it is a directory");
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {shown}: directory '{}' does not exist",
            dir.display()
        );
    }
    Ok(())
}

/// Whether the container can hold `id`: `Some(true)`/`Some(false)` when it says, `None` when
/// it does not know.
fn accepts(muxer: *const ffi::AVOutputFormat, id: codec::Id) -> Option<bool> {
    // SAFETY: a static muxer and a codec id.
    match unsafe { ffi::avformat_query_codec(muxer, id.into(), ffi::FF_COMPLIANCE_NORMAL) } {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// The container's default codec of a kind.
fn default_codec(muxer: *const ffi::AVOutputFormat, kind: media::Type) -> codec::Id {
    // SAFETY: reading fields of a static muxer.
    unsafe {
        match kind {
            media::Type::Video => (*muxer).video_codec.into(),
            media::Type::Audio => (*muxer).audio_codec.into(),
            media::Type::Subtitle => (*muxer).subtitle_codec.into(),
            _ => codec::Id::None,
        }
    }
}

fn choose_codec(
    muxer: *const ffi::AVOutputFormat,
    video: &VideoSettings,
    container: &str,
) -> Result<ffmpeg::Codec> {
    let name = match &video.codec {
        Some(name) => name.clone(),
        None => {
            let own = default_codec(muxer, media::Type::Video);
            let raw = matches!(own, codec::Id::RAWVIDEO | codec::Id::WRAPPED_AVFRAME);
            // Containers that cannot say whether they hold H.264 take it, but for those made
            // for one codec of their own (animated pictures, Ogg).
            let h264 = accepts(muxer, codec::Id::H264).unwrap_or(
                own == codec::Id::H264
                    || !matches!(container, "gif" | "apng" | "webp" | "ogg" | "ogv"),
            );
            if raw || !h264 {
                match ffmpeg::encoder::find(own) {
                    Some(c) => c.name().to_string(),
                    None => bail!("the {container} container holds no video FFmpeg can encode; choose another --format"),
                }
            } else {
                "libx264".to_string()
            }
        }
    };
    let Some(codec) = ffmpeg::encoder::find_by_name(&name) else {
        bail!(
            "unknown --codec '{name}': FFmpeg has no such encoder; `ffmpeg -encoders` lists them"
        );
    };
    if codec.medium() != media::Type::Video {
        bail!("--codec '{name}' is not a video encoder");
    }
    if accepts(muxer, codec.id()) == Some(false) {
        bail!("the {container} container cannot hold {name} video; choose another --codec or --format");
    }
    Ok(codec)
}

fn choose_pixel_format(codec: &ffmpeg::Codec, video: &VideoSettings) -> Result<Pixel> {
    let supported: Option<Vec<Pixel>> = codec
        .video()
        .ok()
        .and_then(|v| v.formats())
        .map(|f| f.collect());
    let name = codec.name();
    if let Some(wanted) = &video.pixel_format {
        let Ok(format) = wanted.parse::<Pixel>() else {
            bail!("unknown pixel format '{wanted}'; `ffmpeg -pix_fmts` lists them");
        };
        if let Some(list) = &supported {
            if !list.contains(&format) {
                let names: Vec<_> = list
                    .iter()
                    .filter_map(|p| p.descriptor())
                    .map(|d| d.name())
                    .collect();
                bail!(
                    "codec {name} cannot encode pixel format {wanted}; it takes {}",
                    names.join(", ")
                );
            }
        }
        return Ok(format);
    }
    let Some(list) = supported.filter(|l| !l.is_empty()) else {
        return Ok(Pixel::YUV420P);
    };
    if list.contains(&Pixel::YUV420P) {
        return Ok(Pixel::YUV420P);
    }
    let mut raw: Vec<ffi::AVPixelFormat> = list.iter().map(|&p| p.into()).collect();
    raw.push(ffi::AVPixelFormat::AV_PIX_FMT_NONE);
    // SAFETY: a NONE-terminated list of pixel formats.
    let best = unsafe {
        ffi::avcodec_find_best_pix_fmt_of_list(
            raw.as_ptr(),
            ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
            0,
            ptr::null_mut(),
        )
    };
    Ok(Pixel::from(best))
}

/// Opens the encoder at the frames' size and time base or, when it refuses, one pixel smaller
/// (an odd size in a subsampled pixel format: the last column/row is cropped) and/or at a time
/// base of one frame (MPEG-4 Part 2, for one, takes no time base finer than 1/65535). Returns it
/// with the size and time base it encodes at.
fn open_encoder(
    codec: &ffmpeg::Codec,
    video: &VideoSettings,
    format: Pixel,
    global_header: bool,
) -> Result<(codec::encoder::video::Encoder, (u32, u32), Rational)> {
    let size = (video.width, video.height);
    let (log_w, log_h) = format
        .descriptor()
        .map_or((0, 0), |d| (d.log2_chroma_w(), d.log2_chroma_h()));
    let even = (
        if log_w > 0 { size.0 & !1 } else { size.0 },
        if log_h > 0 { size.1 & !1 } else { size.1 },
    );
    let mut sizes = vec![size];
    if even != size && even.0 > 0 && even.1 > 0 {
        sizes.push(even);
    }
    let mut bases = vec![video.time_base];
    let one_frame = video
        .frame_rate
        .filter(|r| r.numerator() > 0 && r.denominator() > 0)
        .map(|r| r.invert());
    if let Some(step) = one_frame.filter(|&step| step != video.time_base) {
        bases.push(step);
    }
    let mut first_error = None;
    for &tb in &bases {
        for &wh in &sizes {
            match open_encoder_at(codec, video, format, global_header, wh, tb) {
                Ok(encoder) => {
                    if wh != size {
                        tracing::info!(
                            "{} cannot encode {}x{} in {}; encoding {}x{} (the last column/row cropped)",
                            codec.name(),
                            size.0,
                            size.1,
                            format.descriptor().map_or("this pixel format", |d| d.name()),
                            wh.0,
                            wh.1
                        );
                    }
                    if tb != video.time_base {
                        tracing::info!(
                            "{} cannot take the time base {}; encoding at {tb} (timestamps rounded to it)",
                            codec.name(),
                            video.time_base
                        );
                    }
                    return Ok((encoder, wh, tb));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or_else(|| anyhow!("cannot open the {} encoder", codec.name())))
}

fn open_encoder_at(
    codec: &ffmpeg::Codec,
    video: &VideoSettings,
    format: Pixel,
    global_header: bool,
    (width, height): (u32, u32),
    time_base: Rational,
) -> Result<codec::encoder::video::Encoder> {
    let name = codec.name();
    let mut encoder = codec::context::Context::new_with_codec(*codec)
        .encoder()
        .video()
        .map_err(|e| anyhow!("cannot set up the {name} encoder: {}", describe(e)))?;
    encoder.set_width(width);
    encoder.set_height(height);
    encoder.set_format(format);
    encoder.set_time_base(time_base);
    encoder.set_frame_rate(video.frame_rate);
    if let Some(sar) = video.sample_aspect_ratio {
        encoder.set_aspect_ratio(sar);
    }
    let rgb = format
        .descriptor()
        .is_some_and(|d| d.nb_components() >= 3 && is_rgb(format));
    if !rgb {
        encoder.set_color_range(if video.color_range == color::Range::JPEG {
            color::Range::JPEG
        } else {
            color::Range::MPEG
        });
        encoder.set_colorspace(matrix_for(video.color_space, width, height));
    }
    encoder.set_color_primaries(video.color_primaries);
    encoder.set_color_transfer_characteristic(video.color_transfer);
    if global_header {
        encoder.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    // SAFETY: a plain field of a not yet opened context: one thread per core.
    unsafe { (*encoder.as_mut_ptr()).thread_count = 0 };

    let mut options = Vec::new();
    if let (Some(preset), true) = (&video.preset, name.starts_with("libx26")) {
        // x264 and x265 print their own complaint about an unknown preset: check it here.
        if !X26X_PRESETS.contains(&preset.as_str()) {
            bail!(
                "unknown --preset '{preset}' for {name}; use one of {}",
                X26X_PRESETS.join(", ")
            );
        }
    }
    if let Some(crf) = video.crf {
        options.push(("crf".to_string(), crf.to_string()));
    }
    if let Some(preset) = &video.preset {
        options.push(("preset".to_string(), preset.clone()));
    }
    options.extend(video.codec_options.iter().cloned());
    let dict = dictionary(&options, "--codec-option")?;
    // SAFETY: the dictionary's ownership passes to `opts`, taken back below.
    let mut opts = unsafe { dict.disown() };
    // SAFETY: an allocated, unopened context and its codec; `opts` is an owned dictionary that
    // avcodec may replace and that is taken back just below.
    let opened = unsafe { ffi::avcodec_open2(encoder.as_mut_ptr(), codec.as_ptr(), &mut opts) };
    // SAFETY: `opts` is the dictionary avcodec returned (or null), owned from here.
    let unused = leftovers(&unsafe { ffmpeg::Dictionary::own(opts) });
    if opened < 0 {
        let given = if options.is_empty() {
            String::new()
        } else {
            let list: Vec<_> = options.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(" with {}", list.join(" "))
        };
        bail!(
            "cannot open the {name} encoder{given} at {width}x{height}: {}; RUST_LOG=debug shows FFmpeg's reason",
            describe(ffmpeg::Error::from(opened))
        );
    }
    if let Some(first) = unused.first() {
        let flag = match first.split('=').next() {
            Some("crf") => "--crf".to_string(),
            Some("preset") => "--preset".to_string(),
            _ => format!("--codec-option {first}"),
        };
        bail!("codec {name} rejected {flag}: it has no such option");
    }
    Ok(codec::encoder::video::Encoder(encoder))
}

/// The presets of libx264 and libx265, fastest first.
const X26X_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

fn is_rgb(format: Pixel) -> bool {
    // SAFETY: a static descriptor or null.
    unsafe {
        let d = ffi::av_pix_fmt_desc_get(format.into());
        !d.is_null() && (*d).flags & ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0
    }
}

/// Copy, re-encode or drop one of the input's other streams, by what the container takes.
fn plan_stream(
    muxer: *const ffi::AVOutputFormat,
    info: &StreamInfo,
    container: &str,
) -> StreamPlan {
    let id = info.parameters.id();
    let holds = default_codec(muxer, info.kind) != codec::Id::None;
    match (info.kind, accepts(muxer, id)) {
        (media::Type::Audio, _) if !holds => {
            StreamPlan::Drop(format!("the {container} container holds no audio"))
        }
        (_, Some(true)) => StreamPlan::Copy,
        (_, None) if holds => StreamPlan::Copy,
        (media::Type::Audio, _) => {
            let target = if accepts(muxer, codec::Id::AAC) == Some(true) {
                codec::Id::AAC
            } else {
                default_codec(muxer, media::Type::Audio)
            };
            match ffmpeg::encoder::find(target) {
                Some(c) => StreamPlan::Reencode(c.name().to_string()),
                None => StreamPlan::Drop(format!(
                    "the {container} container does not take {} and FFmpeg has no encoder for its audio",
                    info.codec
                )),
            }
        }
        (media::Type::Subtitle, _) => StreamPlan::Drop(format!(
            "the {container} container does not take {} subtitles",
            info.codec
        )),
        _ => StreamPlan::Drop(format!("the {container} container does not take it")),
    }
}

fn metadata(pairs: &[(String, String)]) -> ffmpeg::Dictionary<'static> {
    let mut dict = ffmpeg::Dictionary::new();
    for (k, v) in pairs {
        if !k.is_empty() && !k.contains('\0') && !v.contains('\0') {
            dict.set(k, v);
        }
    }
    dict
}

/// `num/den` reduced to fit 32 bits.
fn reduce(num: i64, den: i64) -> Rational {
    let (mut n, mut d) = (0i32, 1i32);
    // SAFETY: plain integers in, reduced fraction out.
    unsafe { ffi::av_reduce(&mut n, &mut d, num, den, i64::from(i32::MAX)) };
    Rational::new(n, d)
}

impl StreamInfo {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            media::Type::Audio => "audio",
            media::Type::Subtitle => "subtitle",
            _ => "data",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> VideoSettings {
        VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25))
    }

    fn create_err(
        url: &str,
        format: Option<&str>,
        tweak: impl FnOnce(&mut VideoSettings),
    ) -> String {
        let mut s = settings();
        tweak(&mut s);
        match Output::create(url, format, s, &[]) {
            Ok(_) => panic!("creating {url} should fail"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_format_and_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        let err = create_err(path.to_str().unwrap(), Some("no-such-muxer"), |_| {});
        assert!(err.starts_with("unknown --format 'no-such-muxer'"), "{err}");
        let path = dir.path().join("x.nosuchext");
        let err = create_err(path.to_str().unwrap(), None, |_| {});
        assert!(
            err.starts_with(&format!(
                "cannot tell the container of '{}' from its extension",
                path.display()
            )),
            "{err}"
        );
        let err = create_err("-", None, |_| {});
        assert!(err.starts_with("writing to stdout needs --format"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }

    #[test]
    fn unknown_or_unfit_codec() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mkv");
        let url = path.to_str().unwrap();
        let err = create_err(url, None, |s| s.codec = Some("no-such-codec".into()));
        assert!(err.starts_with("unknown --codec 'no-such-codec'"), "{err}");
        let err = create_err(url, None, |s| s.codec = Some("aac".into()));
        assert_eq!(err, "--codec 'aac' is not a video encoder");
        let err = create_err(url, None, |s| s.pixel_format = Some("rgb24".into()));
        assert!(
            err.starts_with("codec libx264 cannot encode pixel format rgb24; it takes yuv420p"),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn rejected_codec_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mkv");
        let url = path.to_str().unwrap();
        let err = create_err(url, None, |s| {
            s.codec_options = vec![("nosuch".into(), "1".into())]
        });
        assert_eq!(
            err,
            "codec libx264 rejected --codec-option nosuch=1: it has no such option"
        );
        let err = create_err(url, None, |s| {
            s.codec = Some("mpeg4".into());
            s.crf = Some(20);
        });
        assert_eq!(err, "codec mpeg4 rejected --crf: it has no such option");
        let err = create_err(url, None, |s| s.preset = Some("warp-speed".into()));
        assert!(
            err.starts_with("unknown --preset 'warp-speed' for libx264; use one of ultrafast, "),
            "{err}"
        );
        let err = create_err(url, None, |s| {
            s.codec_options = vec![("g".into(), "often".into())]
        });
        assert!(
            err.starts_with(
                "cannot open the libx264 encoder with g=often at 32x32: invalid argument"
            ),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn output_in_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("x.mp4");
        let err = create_err(path.to_str().unwrap(), None, |_| {});
        assert_eq!(
            err,
            format!(
                "cannot write '{}': directory '{}' does not exist",
                path.display(),
                dir.path().join("missing").display()
            )
        );
        let err = create_err(dir.path().to_str().unwrap(), Some("mp4"), |_| {});
        assert!(err.ends_with("it is a directory"), "{err}");
    }

    #[test]
    fn header_rejected_by_the_muxer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.y4m");
        let err = create_err(path.to_str().unwrap(), None, |s| {
            s.codec = Some("libx264".into())
        });
        assert!(
            err.starts_with(&format!(
                "cannot write '{}': the yuv4mpegpipe muxer rejected the streams",
                path.display()
            )),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn local_paths_and_urls() {
        assert_eq!(local_path("-"), None);
        assert_eq!(local_path("out.mp4"), Some(PathBuf::from("out.mp4")));
        assert_eq!(
            local_path("file:dir/out.mp4"),
            Some(PathBuf::from("dir/out.mp4"))
        );
        assert_eq!(local_path("udp://127.0.0.1:1234"), None);
        assert_eq!(local_path("pipe:1"), None);
    }
}
