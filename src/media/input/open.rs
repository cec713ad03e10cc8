//! Opening an input, step by step: the demuxer and its options, the URL (`-` is stdin), the
//! stream information, the best video stream and its decoder, and the other streams to hand on.

use std::os::raw::c_int;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg::{codec, media, Rescale};
use ffmpeg_next as ffmpeg;

use super::info::{codec_name, video_info};
use super::{ctx_start_time, ffi_time_base, Ending, Input, Stage, StreamInfo};
use crate::media::error::describe;
use crate::media::{
    c_string, dictionary, ffmpeg_url, leftovers, setting_c_string, shown, Error, Result, Setting,
};

impl Input {
    /// Opens `url` (`-` is stdin) with an optional demuxer name (`rawvideo`, `lavfi`, `nut`,
    /// `yuv4mpegpipe`, `v4l2`, …) and demuxer options (`KEY=VALUE`), finds the best video stream
    /// and opens its decoder (threaded).
    pub fn open(url: &str, format: Option<&str>, options: &[(String, String)]) -> Result<Input> {
        crate::media::init()?;
        let shown = shown(url, "stdin");
        let mut ctx = open_context(url, &shown, format, options)?;
        // SAFETY: an open context.
        let found = unsafe { ffi::avformat_find_stream_info(ctx.as_mut_ptr(), ptr::null_mut()) };
        if found < 0 {
            return Err(Error::ffmpeg(
                format!("cannot read input {shown}"),
                ffmpeg::Error::from(found),
            ));
        }
        let stream = best_video_stream(&ctx, &shown)?;
        let (decoder, video) = open_decoder(&stream, ctx.duration(), &shown)?;
        let index = video.index;
        let base = ctx_start_time(&ctx);
        let mut offsets = Vec::new();
        let mut time_bases = Vec::new();
        let mut wanted = Vec::new();
        let mut streams = Vec::new();
        for s in ctx.streams() {
            time_bases.push(s.time_base());
            offsets.push(base.map_or(0, |t| t.rescale(ffi_time_base(), s.time_base())));
            let keep = s.index() != index
                && matches!(
                    s.parameters().medium(),
                    media::Type::Audio | media::Type::Subtitle
                );
            wanted.push(keep);
            if keep {
                streams.push(StreamInfo::of(&s));
            }
        }
        skip_unread_streams(&mut ctx, &wanted, index);

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
            stage: Stage::Reading,
            failed_receives: 0,
            ending,
            interrupt: None,
        })
    }
}

/// The demuxer named `format`, or null to let FFmpeg guess.
fn find_demuxer(format: Option<&str>) -> Result<*const ffi::AVInputFormat> {
    let Some(name) = format else {
        return Ok(ptr::null());
    };
    let c_name = setting_c_string(name, Setting::InputFormat)?;
    // SAFETY: a valid C string; the result is a static demuxer or null.
    let found = unsafe { ffi::av_find_input_format(c_name.as_ptr()) };
    if found.is_null() {
        return Err(Error::bad_setting(
            Setting::InputFormat,
            "unknown ",
            format!(" '{name}'; `ffmpeg -demuxers` and `ffmpeg -devices` list them"),
        ));
    }
    Ok(found)
}

/// Opens `url` with the demuxer and its options; an option the demuxer did not take is an error.
fn open_context(
    url: &str,
    shown: &str,
    format: Option<&str>,
    options: &[(String, String)],
) -> Result<ffmpeg::format::context::Input> {
    let c_url = c_string(&ffmpeg_url(url, "pipe:0"), "input")?;
    let demuxer = find_demuxer(format)?;
    let dict = dictionary(options, Setting::InputOption)?;

    let mut raw: *mut ffi::AVFormatContext = ptr::null_mut();
    // SAFETY: the dictionary's ownership passes to `opts`, taken back below.
    let mut opts = unsafe { dict.disown() };
    // SAFETY: `raw` is null (avformat allocates it), the URL and demuxer are valid, `opts` is
    // an owned dictionary that avformat may replace and that is taken back just below. On
    // failure avformat frees the context and nulls `raw`.
    let opened = unsafe { ffi::avformat_open_input(&mut raw, c_url.as_ptr(), demuxer, &mut opts) };
    // SAFETY: `opts` is the dictionary avformat returned (or null), owned from here.
    let unused = leftovers(&unsafe { ffmpeg::Dictionary::own(opts) });
    if opened < 0 {
        let as_format = format.map(|f| format!(" as {f}")).unwrap_or_default();
        let context = format!("cannot open input {shown}{as_format}");
        return Err(open_error(context, opened, !options.is_empty()));
    }
    // SAFETY: a context avformat_open_input opened, owned (and closed) by the wrapper.
    let ctx = unsafe { ffmpeg::format::context::Input::wrap(raw) };
    if let Some(first) = unused.first() {
        return Err(Error::bad_setting(
            Setting::InputOption,
            "FFmpeg rejected ",
            format!(" {first} for input {shown}: the demuxer has no such option"),
        ));
    }
    Ok(ctx)
}

/// Why avformat could not open an input (`context` says which): missing, busy, not media, or a
/// bad demuxer option value (when `with_options`).
fn open_error(context: String, code: c_int, with_options: bool) -> Error {
    match ffmpeg::Error::from(code) {
        ffmpeg::Error::Other { errno: ffi::ENOENT } => Error::NotFound { context },
        ffmpeg::Error::InvalidData => Error::Other(format!(
            "{context}: not a media file FFmpeg can read (or a damaged one)"
        )),
        e if with_options && code == ffi::AVERROR(ffi::EINVAL) => Error::bad_setting(
            Setting::InputOption,
            format!("{context}: {}; check the ", describe(e)),
            " values",
        ),
        e => Error::ffmpeg(context, e),
    }
}

/// The video stream to decode: FFmpeg's best, but never a cover picture.
fn best_video_stream<'a>(
    ctx: &'a ffmpeg::format::context::Input,
    shown: &str,
) -> Result<ffmpeg::format::stream::Stream<'a>> {
    let is_picture = |s: &ffmpeg::format::stream::Stream| {
        s.disposition()
            .contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
    };
    ctx.streams()
        .best(media::Type::Video)
        .filter(|s| !is_picture(s))
        .or_else(|| {
            ctx.streams()
                .find(|s| s.parameters().medium() == media::Type::Video && !is_picture(s))
        })
        .ok_or_else(|| Error::NoVideoStream {
            input: shown.to_string(),
            cover_only: ctx.streams().any(|s| is_picture(&s)),
        })
}

/// Opens the decoder of `stream` (one thread per core) and describes the stream, with the
/// container's duration for when the stream has none.
fn open_decoder(
    stream: &ffmpeg::format::stream::Stream,
    container_duration: i64,
    shown: &str,
) -> Result<(codec::decoder::Video, super::VideoInfo)> {
    let parameters = stream.parameters();
    let video_codec = codec_name(parameters.id());
    if ffmpeg::decoder::find(parameters.id()).is_none() {
        return Err(Error::CodecUnsupported {
            input: shown.to_string(),
            codec: video_codec,
        });
    }
    let mut context = codec::context::Context::from_parameters(parameters)
        .map_err(|e| Error::ffmpeg(format!("cannot decode input {shown}"), e))?;
    // SAFETY: setting plain fields of a not yet opened codec context: 0 threads means one per
    // core; the packet time base lets the decoder compute frame timestamps.
    unsafe {
        (*context.as_mut_ptr()).thread_count = 0;
        (*context.as_mut_ptr()).pkt_timebase = stream.time_base().into();
    }
    let decoder = context.decoder().video().map_err(|e| {
        Error::ffmpeg(
            format!("cannot open the {video_codec} decoder for input {shown}"),
            e,
        )
    })?;
    let video = video_info(stream, &decoder, video_codec, container_duration);
    if video.width == 0 || video.height == 0 {
        return Err(Error::Other(format!(
            "cannot decode input {shown}: its video size is unknown"
        )));
    }
    Ok((decoder, video))
}

/// Tells the demuxer to skip the packets of streams nobody reads (other video, data,
/// attachments): all but the `wanted` ones and the decoded video's (`video`).
fn skip_unread_streams(ctx: &mut ffmpeg::format::context::Input, wanted: &[bool], video: usize) {
    for (i, keep) in wanted.iter().enumerate() {
        if !keep && i != video {
            if let Some(mut s) = ctx.stream_mut(i) {
                // SAFETY: setting a plain field of an open stream.
                unsafe { (*s.as_mut_ptr()).discard = ffi::AVDiscard::AVDISCARD_ALL };
            }
        }
    }
}
