//! Opening anything FFmpeg opens (a path, a URL, `-` for stdin, a lavfi graph, a camera) and
//! decoding its best video stream to RGB frames, while handing the packets of its audio and
//! subtitle streams on untouched for stream copy.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use ffmpeg::ffi;
use ffmpeg::{codec, color, format::Pixel, media, Rational, Rescale};
use ffmpeg_next as ffmpeg;

use super::scale::{is_jpeg_range, matrix_for, Conversion, Scaler};
use super::{c_string, describe, dictionary, ffmpeg_url, leftovers, seconds, shown, RgbFrame};

/// What is known about the decoded video stream before decoding.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// The stream's index in the input.
    pub index: usize,
    /// The codec's name (`h264`, `rawvideo`, …).
    pub codec: String,
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// The decoder's pixel format.
    pub pixel_format: Pixel,
    /// The average frame rate, else the guessed real base rate (`r_frame_rate`), when known.
    pub frame_rate: Option<Rational>,
    /// The real base frame rate (the lowest rate all timestamps are exact in), when known.
    pub r_frame_rate: Option<Rational>,
    /// The time base of frame timestamps ([`RgbFrame::pts`]).
    pub time_base: Rational,
    /// Duration in seconds, when the input says (the container's when the stream does not).
    pub duration: Option<f64>,
    /// Whether [`duration`](Self::duration) is the video stream's own: a container's spans all
    /// its streams, and audio may last longer or start earlier than the video.
    pub duration_is_the_stream_s: bool,
    /// Number of frames, when the input says.
    pub frames: Option<u64>,
    /// Sample (pixel) aspect ratio; `None` when unknown or square.
    pub sample_aspect_ratio: Option<Rational>,
    /// Display rotation in degrees, counter-clockwise (FFmpeg's `av_display_rotation_get`), when
    /// the stream carries a display matrix.
    pub rotation: Option<f64>,
    /// The display matrix itself (3×3, 16.16 fixed point), to be written to the output unchanged.
    pub display_matrix: Option<[i32; 9]>,
    /// Colour range (limited or full) as tagged.
    pub color_range: color::Range,
    /// YUV matrix as tagged.
    pub color_space: color::Space,
    /// Colour primaries as tagged.
    pub color_primaries: color::Primaries,
    /// Transfer characteristic as tagged.
    pub color_transfer: color::TransferCharacteristic,
}

impl VideoInfo {
    /// The number of frames, or an estimate from the duration and frame rate.
    pub fn estimated_frames(&self) -> Option<u64> {
        self.frames.or_else(|| {
            let rate = f64::from(self.frame_rate?);
            let n = (self.duration? * rate).round();
            (n.is_finite() && n > 0.0).then_some(n as u64)
        })
    }
}

/// An input stream other than the decoded video (audio, subtitles), for stream copy.
#[derive(Clone)]
pub struct StreamInfo {
    /// The stream's index in the input ([`InputPacket::stream`]).
    pub index: usize,
    /// Audio or subtitle.
    pub kind: media::Type,
    /// The codec's name.
    pub codec: String,
    /// Time base of its packets' timestamps.
    pub time_base: Rational,
    /// Duration in seconds, when the input says.
    pub duration: Option<f64>,
    /// Codec parameters, for copying or decoding the stream.
    pub parameters: codec::Parameters,
    /// Stream metadata (language, title, …).
    pub metadata: Vec<(String, String)>,
}

impl std::fmt::Debug for StreamInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamInfo")
            .field("index", &self.index)
            .field("kind", &self.kind)
            .field("codec", &self.codec)
            .field("time_base", &self.time_base)
            .field("duration", &self.duration)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

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

/// How decoding went; complete once [`Input::next_event`] has returned `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ending {
    /// Video frames returned.
    pub frames: u64,
    /// The error that ended reading early (a truncated file, a network or device failure).
    pub read_error: Option<String>,
    /// Video packets or frames the decoder rejected.
    pub decode_errors: u64,
    /// The first decoder error.
    pub first_decode_error: Option<String>,
    /// Frames the decoder marked as damaged (returned anyway).
    pub corrupt_frames: u64,
    /// Whether reading was stopped through [`Input::set_interrupt`].
    pub interrupted: bool,
    /// Frames the input said it had, or that its duration and frame rate promise.
    pub expected_frames: Option<u64>,
    /// Whether `expected_frames` is an estimate from the duration (one frame more or less is
    /// then no loss).
    pub expected_is_estimate: bool,
}

impl Ending {
    /// Whether anything was lost: a read error, decoder errors, damaged frames, or fewer frames
    /// than the input announced (an interruption on request is not a loss).
    pub fn is_clean(&self) -> bool {
        self.problem().is_none()
    }

    /// One line on what was lost, e.g. `read 17 of 25 frames; the input ended early: invalid data
    /// found; 3 packets could not be decoded`; `None` when nothing was.
    pub fn problem(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(expected) = self.expected_frames {
            let slack = u64::from(self.expected_is_estimate);
            if self.frames + slack < expected && !self.interrupted {
                let about = if self.expected_is_estimate {
                    "about "
                } else {
                    ""
                };
                parts.push(format!(
                    "decoded {} of {about}{expected} frames",
                    self.frames
                ));
            }
        }
        if let Some(e) = &self.read_error {
            parts.push(format!("the input ended early: {e}"));
        }
        if self.decode_errors > 0 {
            let first = self
                .first_decode_error
                .as_deref()
                .unwrap_or("unknown error");
            parts.push(format!(
                "{} packet(s) could not be decoded ({first})",
                self.decode_errors
            ));
        }
        if self.corrupt_frames > 0 {
            parts.push(format!("{} frame(s) were damaged", self.corrupt_frames));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
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
    demuxed_all: bool,
    draining: bool,
    done: bool,
    failed_receives: u32,
    ending: Ending,
    interrupt: Option<Arc<AtomicBool>>,
}

impl Input {
    /// Opens `url` (`-` is stdin) with an optional demuxer name (`--input-format`: `rawvideo`,
    /// `lavfi`, `nut`, `yuv4mpegpipe`, `v4l2`, …) and demuxer options (`--input-option K=V`),
    /// finds the best video stream and opens its decoder (threaded).
    pub fn open(url: &str, format: Option<&str>, options: &[(String, String)]) -> Result<Input> {
        super::init()?;
        let shown = shown(url, "stdin");
        let c_url = c_string(&ffmpeg_url(url, "pipe:0"), "input")?;
        let demuxer = match format {
            None => ptr::null(),
            Some(name) => {
                let c_name = c_string(name, "--input-format")?;
                // SAFETY: a valid C string; the result is a static demuxer or null.
                let found = unsafe { ffi::av_find_input_format(c_name.as_ptr()) };
                if found.is_null() {
                    bail!("unknown --input-format '{name}'; `ffmpeg -demuxers` and `ffmpeg -devices` list them");
                }
                found
            }
        };
        let as_format = format.map(|f| format!(" as {f}")).unwrap_or_default();
        let dict = dictionary(options, "--input-option")?;

        let mut raw: *mut ffi::AVFormatContext = ptr::null_mut();
        // SAFETY: the dictionary's ownership passes to `opts`, taken back below.
        let mut opts = unsafe { dict.disown() };
        // SAFETY: `raw` is null (avformat allocates it), the URL and demuxer are valid, `opts` is
        // an owned dictionary that avformat may replace and that is taken back just below. On
        // failure avformat frees the context and nulls `raw`.
        let opened =
            unsafe { ffi::avformat_open_input(&mut raw, c_url.as_ptr(), demuxer, &mut opts) };
        // SAFETY: `opts` is the dictionary avformat returned (or null), owned from here.
        let unused = leftovers(&unsafe { ffmpeg::Dictionary::own(opts) });
        if opened < 0 || raw.is_null() {
            let why = match ffmpeg::Error::from(opened) {
                ffmpeg::Error::InvalidData => {
                    "not a media file FFmpeg can read (or a damaged one)".to_string()
                }
                e => describe(e),
            };
            let hint = if options.is_empty() || opened != ffi::AVERROR(ffi::EINVAL) {
                String::new()
            } else {
                "; check the --input-option values".to_string()
            };
            bail!("cannot open input {shown}{as_format}: {why}{hint}");
        }
        // SAFETY: a context avformat_open_input opened, owned (and closed) by the wrapper.
        let mut ctx = unsafe { ffmpeg::format::context::Input::wrap(raw) };
        if let Some(first) = unused.first() {
            bail!("FFmpeg rejected --input-option {first} for input {shown}: the demuxer has no such option");
        }
        // SAFETY: an open context.
        let found = unsafe { ffi::avformat_find_stream_info(ctx.as_mut_ptr(), ptr::null_mut()) };
        if found < 0 {
            bail!(
                "cannot read input {shown}: {}",
                describe(ffmpeg::Error::from(found))
            );
        }

        // Cover pictures (a video stream of one attached picture) are not the video.
        let is_picture = |s: &ffmpeg::format::stream::Stream| {
            s.disposition()
                .contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
        };
        let best = ctx
            .streams()
            .best(media::Type::Video)
            .filter(|s| !is_picture(s))
            .or_else(|| {
                ctx.streams()
                    .find(|s| s.parameters().medium() == media::Type::Video && !is_picture(s))
            });
        let Some(stream) = best else {
            let pictures = ctx.streams().any(|s| is_picture(&s));
            let only = if pictures {
                " (only a cover picture)"
            } else {
                ""
            };
            bail!("input {shown} has no video stream{only}");
        };
        let index = stream.index();
        let parameters = stream.parameters();
        let video_codec = codec_name(parameters.id());
        if ffmpeg::decoder::find(parameters.id()).is_none() {
            bail!("cannot decode input {shown}: FFmpeg has no decoder for its video codec '{video_codec}'");
        }
        let mut context = codec::context::Context::from_parameters(parameters)
            .map_err(|e| anyhow!("cannot decode input {shown}: {}", describe(e)))?;
        // SAFETY: setting plain fields of a not yet opened codec context: 0 threads means one per
        // core; the packet time base lets the decoder compute frame timestamps.
        unsafe {
            (*context.as_mut_ptr()).thread_count = 0;
            (*context.as_mut_ptr()).pkt_timebase = stream.time_base().into();
        }
        let decoder = context.decoder().video().map_err(|e| {
            anyhow!(
                "cannot open the {video_codec} decoder for input {shown}: {}",
                describe(e)
            )
        })?;
        let video = video_info(&stream, &decoder, video_codec, ctx.duration());
        if video.width == 0 || video.height == 0 {
            bail!("cannot decode input {shown}: its video size is unknown");
        }

        let base = ctx_start_time(&ctx);
        let mut offsets = Vec::new();
        let mut time_bases = Vec::new();
        let mut wanted = Vec::new();
        let mut streams = Vec::new();
        for s in ctx.streams() {
            time_bases.push(s.time_base());
            offsets.push(base.map_or(0, |t| t.rescale(ffi_time_base(), s.time_base())));
            let kind = s.parameters().medium();
            let keep =
                s.index() != index && matches!(kind, media::Type::Audio | media::Type::Subtitle);
            wanted.push(keep);
            if keep {
                streams.push(StreamInfo {
                    index: s.index(),
                    kind,
                    codec: codec_name(s.parameters().id()),
                    time_base: s.time_base(),
                    duration: known(s.duration()).and_then(|d| seconds(d, s.time_base())),
                    parameters: s.parameters(),
                    metadata: s
                        .metadata()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                });
            }
        }
        // Skip the packets of streams nobody reads (other video, data, attachments).
        for (i, keep) in wanted.iter().enumerate() {
            if !keep && i != index {
                if let Some(mut s) = ctx.stream_mut(i) {
                    // SAFETY: setting a plain field of an open stream.
                    unsafe { (*s.as_mut_ptr()).discard = ffi::AVDiscard::AVDISCARD_ALL };
                }
            }
        }

        // A shortfall is a loss only against what the video itself promised: its frame count, its
        // stream's duration, or the container's when nothing else is in it (audio may last longer
        // or start earlier than the video).
        let promised =
            video.frames.is_some() || video.duration_is_the_stream_s || ctx.nb_streams() == 1;
        let ending = Ending {
            expected_frames: video.estimated_frames().filter(|_| promised),
            expected_is_estimate: video.frames.is_none(),
            ..Ending::default()
        };
        Ok(Input {
            ctx,
            decoder,
            shown,
            size: (video.width, video.height),
            video,
            streams,
            offsets,
            time_bases,
            range_start: false,
            wanted,
            scaler: None,
            decoded: ffmpeg::frame::Video::empty(),
            packet: ffmpeg::Packet::empty(),
            pending: None,
            end: None,
            demuxed_all: false,
            draining: false,
            done: false,
            failed_receives: 0,
            ending,
            interrupt: None,
        })
    }

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
            bail!(
                "cannot decode input {} at {width}x{height}: sizes go from 1 to 16384",
                self.shown
            );
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
            bail!("bad --start {start}: it must be a number of seconds, 0 or more");
        }
        if let Some(d) = duration {
            if !(d.is_finite() && d > 0.0) {
                bail!("bad --duration {d}: it must be a positive number of seconds");
            }
        }
        if start > 0.0 {
            let base = ctx_start_time(&self.ctx).unwrap_or(0);
            let target = base + (start * f64::from(ffi::AV_TIME_BASE)) as i64;
            // SAFETY: an open context; a failed seek leaves it where it was.
            let sought = unsafe {
                ffi::avformat_seek_file(self.ctx.as_mut_ptr(), -1, i64::MIN, target, target, 0)
            };
            if sought < 0 {
                tracing::debug!("input {} cannot seek; reading from the start", self.shown);
            } else {
                self.decoder.flush();
            }
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

    /// The next decoded frame or packet of another stream, in input order; `None` at the end.
    ///
    /// Damaged input does not fail this: frames that decode are returned, and what was lost is
    /// counted in [`Input::ending`]. Errors are only for what stops all decoding (a frame that
    /// cannot be converted to RGB).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        const EAGAIN: ffmpeg::Error = ffmpeg::Error::Other { errno: ffi::EAGAIN };
        loop {
            if self.done {
                return Ok(None);
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    self.failed_receives = 0;
                    if let Some(frame) = self.take_frame()? {
                        return Ok(Some(Event::Video(frame)));
                    }
                    continue;
                }
                Err(EAGAIN) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.done = true;
                    continue;
                }
                Err(e) => {
                    self.decode_error(e);
                    self.failed_receives += 1;
                    if self.failed_receives > 1000 {
                        self.done = true;
                    }
                    continue;
                }
            }
            if self.draining {
                // The drained decoder asks for more: nothing more will come.
                self.done = true;
                continue;
            }
            if let Some(packet) = self.pending.take() {
                self.send(packet);
                continue;
            }
            if self.demuxed_all {
                if let Err(e) = self.decoder.send_eof() {
                    tracing::debug!("flushing the decoder of {}: {e}", self.shown);
                }
                self.draining = true;
                continue;
            }
            if self
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
            {
                self.ending.interrupted = true;
                self.demuxed_all = true;
                continue;
            }
            match self.packet.read(&mut self.ctx) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.demuxed_all = true;
                    continue;
                }
                Err(EAGAIN) => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    continue;
                }
                Err(ffmpeg::Error::Exit) => {
                    self.ending.interrupted = true;
                    self.demuxed_all = true;
                    continue;
                }
                Err(e) => {
                    self.ending.read_error = Some(describe(e));
                    self.demuxed_all = true;
                    continue;
                }
            }
            let packet = std::mem::replace(&mut self.packet, ffmpeg::Packet::empty());
            let index = packet.stream();
            if index == self.video.index {
                self.send(packet);
            } else if self.wanted.get(index).copied().unwrap_or(false) {
                if let Some(packet) = self.shift_packet(index, packet) {
                    return Ok(Some(Event::Packet(InputPacket {
                        stream: index,
                        packet,
                    })));
                }
            }
        }
    }

    fn send(&mut self, packet: ffmpeg::Packet) {
        match self.decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(ffmpeg::Error::Other { errno: ffi::EAGAIN }) => self.pending = Some(packet),
            Err(e) => self.decode_error(e),
        }
    }

    fn decode_error(&mut self, e: ffmpeg::Error) {
        self.ending.decode_errors += 1;
        if self.ending.first_decode_error.is_none() {
            self.ending.first_decode_error = Some(describe(e));
        }
        tracing::debug!("decoding {}: {e}", self.shown);
    }

    /// Shifts another stream's packet to count from the start; drops it outside the range.
    fn shift_packet(&self, index: usize, mut packet: ffmpeg::Packet) -> Option<ffmpeg::Packet> {
        let offset = self.offsets[index];
        let pts = packet.pts().map(|t| t - offset);
        let dts = packet.dts().map(|t| t - offset);
        if let (Some(end), Some(t)) = (self.end, pts.or(dts)) {
            if t.rescale(self.time_bases[index], self.video.time_base) >= end {
                return None;
            }
        }
        if self.range_start && pts.or(dts).is_some_and(|t| t < 0) {
            // Before a requested start.
            return None;
        }
        packet.set_pts(pts);
        packet.set_dts(dts);
        packet.set_position(-1);
        Some(packet)
    }

    /// Converts the frame in `self.decoded`; `None` when it falls outside the range.
    fn take_frame(&mut self) -> Result<Option<RgbFrame>> {
        let offset = self.offsets[self.video.index];
        let pts = self.decoded.timestamp().map(|t| t - offset);
        if let Some(t) = pts {
            if self.range_start && t < 0 {
                return Ok(None);
            }
            if self.end.is_some_and(|end| t >= end) {
                self.done = true;
                return Ok(None);
            }
        }
        if self.decoded.is_corrupt() {
            self.ending.corrupt_frames += 1;
        }
        let (width, height) = self.size;
        let src_format = self.decoded.format();
        let conversion = Conversion {
            src: (src_format, self.decoded.width(), self.decoded.height()),
            dst: (Pixel::RGB24, width, height),
            space: matrix_for(
                match self.decoded.color_space() {
                    color::Space::Unspecified => self.video.color_space,
                    space => space,
                },
                self.decoded.width(),
                self.decoded.height(),
            ),
            src_full: self.decoded.color_range() == color::Range::JPEG || is_jpeg_range(src_format),
            dst_full: true,
        };
        let scaler = Scaler::ensure(&mut self.scaler, conversion)
            .map_err(|e| anyhow!("cannot decode input {}: {e}", self.shown))?;
        let mut data = vec![0u8; width as usize * height as usize * 3];
        // SAFETY: the decoded frame's planes and line sizes describe a picture of its format and
        // size; `data` holds `height` rows of `3 * width` bytes.
        unsafe {
            let frame = &*self.decoded.as_ptr();
            let src = [
                frame.data[0] as *const u8,
                frame.data[1] as *const u8,
                frame.data[2] as *const u8,
                frame.data[3] as *const u8,
            ];
            let stride = [
                frame.linesize[0],
                frame.linesize[1],
                frame.linesize[2],
                frame.linesize[3],
            ];
            scaler.run(
                src,
                stride,
                [
                    data.as_mut_ptr(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                ],
                [3 * width as c_int, 0, 0, 0],
            )
        }
        .map_err(|e| anyhow!("cannot decode input {}: {e}", self.shown))?;
        let index = self.ending.frames;
        self.ending.frames += 1;
        Ok(Some(RgbFrame {
            width,
            height,
            data,
            pts,
            index,
        }))
    }
}

/// Everything known about the video stream before decoding.
fn video_info(
    stream: &ffmpeg::format::stream::Stream,
    decoder: &codec::decoder::Video,
    codec: String,
    container_duration: i64,
) -> VideoInfo {
    let rate = |r: Rational| (r.numerator() > 0 && r.denominator() > 0).then_some(r);
    let time_base = stream.time_base();
    let own = known(stream.duration()).and_then(|d| seconds(d, time_base));
    let duration =
        own.or_else(|| known(container_duration).and_then(|d| seconds(d, ffi_time_base())));
    let display_matrix = stream
        .side_data()
        .find(|s| s.kind() == codec::packet::side_data::Type::DisplayMatrix)
        .and_then(|s| {
            let bytes = s.data();
            (bytes.len() >= 36).then(|| {
                let mut m = [0i32; 9];
                for (v, b) in m.iter_mut().zip(bytes.chunks_exact(4)) {
                    *v = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
                }
                m
            })
        });
    // SAFETY: a 9-element matrix.
    let rotation = display_matrix
        .map(|m| unsafe { ffi::av_display_rotation_get(m.as_ptr()) })
        .filter(|r| r.is_finite());
    let sar = decoder.aspect_ratio();
    VideoInfo {
        index: stream.index(),
        codec,
        width: decoder.width(),
        height: decoder.height(),
        pixel_format: decoder.format(),
        frame_rate: rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate())),
        r_frame_rate: rate(stream.rate()),
        time_base,
        duration,
        duration_is_the_stream_s: own.is_some(),
        frames: u64::try_from(stream.frames()).ok().filter(|&n| n > 0),
        sample_aspect_ratio: (sar.numerator() > 0
            && sar.denominator() > 0
            && sar.numerator() != sar.denominator())
        .then_some(sar),
        rotation,
        display_matrix,
        color_range: decoder.color_range(),
        color_space: decoder.color_space(),
        color_primaries: decoder.color_primaries(),
        color_transfer: decoder.color_transfer_characteristic(),
    }
}

fn codec_name(id: codec::Id) -> String {
    id.name().to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn open_err(url: &str, format: Option<&str>, options: &[(&str, &str)]) -> String {
        let options: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match Input::open(url, format, &options) {
            Ok(_) => panic!("opening {url} should fail"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_file() {
        let err = open_err("/nonexistent/clip.mp4", None, &[]);
        assert_eq!(
            err,
            "cannot open input '/nonexistent/clip.mp4': no such file"
        );
    }

    #[test]
    fn file_that_is_not_media() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.mp4");
        std::fs::write(
            &path,
            "these are not the frames you are looking for\n".repeat(50),
        )
        .unwrap();
        let err = open_err(path.to_str().unwrap(), None, &[]);
        assert!(err.starts_with("cannot open input '"), "{err}");
        assert!(
            err.ends_with("': not a media file FFmpeg can read (or a damaged one)"),
            "{err}"
        );
    }

    #[test]
    fn audio_only_file() {
        // A WAV file of 0.1 s of silence, written by hand.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sound.wav");
        let samples = 4410u32;
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + samples * 2).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        for v in [1u16, 1] {
            wav.extend_from_slice(&v.to_le_bytes());
        }
        for v in [44100u32, 88200] {
            wav.extend_from_slice(&v.to_le_bytes());
        }
        for v in [2u16, 16] {
            wav.extend_from_slice(&v.to_le_bytes());
        }
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(samples * 2).to_le_bytes());
        wav.resize(wav.len() + samples as usize * 2, 0);
        std::fs::write(&path, wav).unwrap();
        let err = open_err(path.to_str().unwrap(), None, &[]);
        assert_eq!(
            err,
            format!("input '{}' has no video stream", path.display())
        );
        let err = open_err("sine=duration=0.1", Some("lavfi"), &[]);
        assert_eq!(err, "input 'sine=duration=0.1' has no video stream");
    }

    #[test]
    fn unknown_input_format() {
        let err = open_err("x", Some("no-such-demuxer"), &[]);
        assert!(
            err.starts_with("unknown --input-format 'no-such-demuxer'"),
            "{err}"
        );
    }

    #[test]
    fn input_option_ffmpeg_rejects() {
        let err = open_err("testsrc2=duration=0.1", Some("lavfi"), &[("foo", "bar")]);
        assert_eq!(
            err,
            "FFmpeg rejected --input-option foo=bar for input 'testsrc2=duration=0.1': the demuxer has no such option"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.raw");
        std::fs::write(&path, [0u8; 48]).unwrap();
        let err = open_err(
            path.to_str().unwrap(),
            Some("rawvideo"),
            &[("pixel_format", "nonsense"), ("video_size", "4x4")],
        );
        assert!(
            err.starts_with(&format!(
                "cannot open input '{}' as rawvideo: ",
                path.display()
            )),
            "{err}"
        );
        assert!(err.ends_with("; check the --input-option values"), "{err}");
        let err = open_err("testsrc2", Some("lavfi"), &[("", "x")]);
        assert!(err.starts_with("bad --input-option '=x'"), "{err}");
    }

    #[test]
    fn output_size_is_checked_and_applied() {
        let mut input = Input::open(
            "testsrc2=size=96x64:rate=25:duration=0.2",
            Some("lavfi"),
            &[],
        )
        .unwrap();
        assert!(input.set_output_size(0, 10).is_err());
        input.set_output_size(48, 30).unwrap();
        let frame = input.next_frame().unwrap().unwrap();
        assert_eq!(
            (frame.width, frame.height, frame.data.len()),
            (48, 30, 48 * 30 * 3)
        );
    }

    #[test]
    fn interrupt_flag_ends_reading() {
        let flag = Arc::new(AtomicBool::new(false));
        let mut input = Input::open("testsrc2=size=32x32:rate=25", Some("lavfi"), &[]).unwrap();
        input.set_interrupt(flag.clone());
        assert!(input.next_frame().unwrap().is_some());
        flag.store(true, Ordering::Relaxed);
        let mut more = 0;
        while input.next_frame().unwrap().is_some() {
            more += 1;
            assert!(more < 100, "an endless source stops once interrupted");
        }
        assert!(input.ending().interrupted);
        assert!(input.ending().is_clean(), "{:?}", input.ending().problem());
    }
}
