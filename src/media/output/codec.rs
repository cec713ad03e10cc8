//! The video codec: the one asked for, checked against the container, or the container's
//! default; and the pixel format it encodes in.

use std::ptr;

use ffmpeg::ffi;
use ffmpeg::{codec, format::Pixel, media};
use ffmpeg_next as ffmpeg;

use super::container::{accepts, default_codec};
use super::VideoSettings;
use crate::media::{Error, Message, Result, Setting};

/// The encoder asked for in `video`, else the container's: libx264 where it takes H.264, its own
/// codec otherwise (rawvideo for `rawvideo`, wrapped_avframe for `yuv4mpegpipe`).
pub(super) fn choose_codec(
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
                    None => {
                        return Err(Error::bad_setting(
                            Setting::Format,
                            format!(
                                "the {container} container holds no video FFmpeg can encode; choose another "
                            ),
                            "",
                        ))
                    }
                }
            } else {
                "libx264".to_string()
            }
        }
    };
    let Some(codec) = ffmpeg::encoder::find_by_name(&name) else {
        return Err(Error::bad_setting(
            Setting::Codec,
            "unknown ",
            format!(" '{name}': FFmpeg has no such encoder; `ffmpeg -encoders` lists them"),
        ));
    };
    if codec.medium() != media::Type::Video {
        return Err(Error::bad_setting(
            Setting::Codec,
            "",
            format!(" '{name}' is not a video encoder"),
        ));
    }
    if accepts(muxer, codec.id()) == Some(false) {
        return Err(Error::BadSetting {
            setting: Setting::Codec,
            message: Message::new([
                format!("the {container} container cannot hold {name} video; choose another ")
                    .into(),
                Setting::Codec.into(),
                " or ".into(),
                Setting::Format.into(),
            ]),
        });
    }
    Ok(codec)
}

/// The pixel format asked for in `video`, if the codec takes it; else yuv420p when it does, else
/// the one nearest to RGB.
pub(super) fn choose_pixel_format(codec: &ffmpeg::Codec, video: &VideoSettings) -> Result<Pixel> {
    let supported: Option<Vec<Pixel>> = codec
        .video()
        .ok()
        .and_then(|v| v.formats())
        .map(|f| f.collect());
    let name = codec.name();
    if let Some(wanted) = &video.pixel_format {
        let Ok(format) = wanted.parse::<Pixel>() else {
            return Err(Error::Other(format!(
                "unknown pixel format '{wanted}'; `ffmpeg -pix_fmts` lists them"
            )));
        };
        if let Some(list) = &supported {
            if !list.contains(&format) {
                let names: Vec<_> = list
                    .iter()
                    .filter_map(|p| p.descriptor())
                    .map(|d| d.name())
                    .collect();
                return Err(Error::Other(format!(
                    "codec {name} cannot encode pixel format {wanted}; it takes {}",
                    names.join(", ")
                )));
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

/// Whether a pixel format is RGB (not YUV).
pub(super) fn is_rgb(format: Pixel) -> bool {
    // SAFETY: a static descriptor or null.
    unsafe {
        let d = ffi::av_pix_fmt_desc_get(format.into());
        !d.is_null() && (*d).flags & ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0
    }
}
