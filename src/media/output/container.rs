//! The container: the muxer named or guessed from the file name, and what it can hold.

use std::ffi::CStr;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg::{codec, media};
use ffmpeg_next as ffmpeg;

use crate::media::{c_string, setting_c_string, Error, Result, Setting};

/// The muxer named `format` or, without one, the one for the file name's extension.
pub(super) fn find_muxer(
    url: &str,
    format: Option<&str>,
    shown: &str,
) -> Result<*const ffi::AVOutputFormat> {
    if let Some(name) = format {
        let c_name = setting_c_string(name, Setting::Format)?;
        // SAFETY: a valid C string; the result is a static muxer or null.
        let found = unsafe { ffi::av_guess_format(c_name.as_ptr(), ptr::null(), ptr::null()) };
        if found.is_null() {
            return Err(Error::bad_setting(
                Setting::Format,
                "unknown ",
                format!(" '{name}'; `ffmpeg -muxers` lists them (nut, matroska, mp4, mpegts, …)"),
            ));
        }
        return Ok(found);
    }
    if url == "-" {
        return Err(Error::bad_setting(
            Setting::Format,
            "writing to stdout needs ",
            " (nut, matroska, mpegts, yuv4mpegpipe, …)",
        ));
    }
    let c_name = c_string(url, "output")?;
    // SAFETY: a valid C string; the result is a static muxer or null.
    let found = unsafe { ffi::av_guess_format(ptr::null(), c_name.as_ptr(), ptr::null()) };
    if found.is_null() {
        return Err(Error::bad_setting(
            Setting::Format,
            format!(
                "cannot tell the container of {shown} from its extension; use .mp4, .mkv, .mov, .webm, … or "
            ),
            "",
        ));
    }
    Ok(found)
}

/// A muxing context for `muxer`, writing to `url` once its I/O is opened.
pub(super) fn alloc_context(
    muxer: *const ffi::AVOutputFormat,
    url: &CStr,
    shown: &str,
) -> Result<ffmpeg::format::context::Output> {
    let mut raw = ptr::null_mut();
    // SAFETY: a valid muxer and URL; on success `raw` is a new context owned by the wrapper.
    let made =
        unsafe { ffi::avformat_alloc_output_context2(&mut raw, muxer, ptr::null(), url.as_ptr()) };
    if made < 0 || raw.is_null() {
        return Err(Error::ffmpeg(
            format!("cannot write {shown}"),
            ffmpeg::Error::from(made),
        ));
    }
    // SAFETY: a context just allocated (with no I/O opened yet: its `pb` is null).
    Ok(unsafe { ffmpeg::format::context::Output::wrap(raw) })
}

/// Whether the container can hold `id`: `Some(true)`/`Some(false)` when it says, `None` when
/// it does not know.
pub(super) fn accepts(muxer: *const ffi::AVOutputFormat, id: codec::Id) -> Option<bool> {
    // SAFETY: a static muxer and a codec id.
    match unsafe { ffi::avformat_query_codec(muxer, id.into(), ffi::FF_COMPLIANCE_NORMAL) } {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// The container's default codec of a kind.
pub(super) fn default_codec(muxer: *const ffi::AVOutputFormat, kind: media::Type) -> codec::Id {
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

/// Makes an MP4 or MOV file's movie time scale count every track's ticks (the least common
/// multiple of the tracks' time scales, when it fits in 31 bits), once the header has fixed
/// them. A track that starts after 0 (a segment of a longer render, whose sound starts between
/// two frames) then keeps its exact start: with the muxer's default of 1/1000 s, the edit list
/// rounds it to the millisecond. Other muxers have no such option and are left alone.
pub(super) fn exact_movie_timescale(ctx: &mut ffmpeg::format::context::Output) {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let mut scale: i64 = 1;
    for stream in ctx.streams() {
        let den = i64::from(stream.time_base().denominator());
        if den <= 0 {
            return;
        }
        scale = scale / gcd(scale, den) * den;
        if scale > i64::from(i32::MAX) {
            return;
        }
    }
    // SAFETY: the open context's private data (its muxer's options); a muxer without the option
    // returns an error, which leaves it as it was.
    unsafe {
        let name = c"movie_timescale";
        ffi::av_opt_set_int((*ctx.as_mut_ptr()).priv_data, name.as_ptr(), scale, 0);
    }
}
