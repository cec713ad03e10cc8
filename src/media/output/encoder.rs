//! Opening the video encoder: size, time base, colour tags, threads, and the options asked for
//! (crf, preset and the others), each of which the encoder must take.

use std::ptr;

use ffmpeg::ffi;
use ffmpeg::{codec, color, format::Pixel, Rational};
use ffmpeg_next as ffmpeg;

use super::codec::is_rgb;
use super::VideoSettings;
use crate::media::error::describe;
use crate::media::scale::matrix_for;
use crate::media::{dictionary, leftovers, Error, Result, Setting};

/// Opens the encoder at the frames' size and time base or, when it refuses, one pixel smaller
/// (an odd size in a subsampled pixel format: the last column/row is cropped) and/or at a time
/// base of one frame (MPEG-4 Part 2, for one, takes no time base finer than 1/65535). With
/// `frame_clock`, one frame's time base comes first: a container that stamps only some frames
/// (MPEG-PS) leaves players to time the rest by the stream's own rate, which encoders such as
/// libx264 write from the time base. Returns it with the size and time base it encodes at.
pub(super) fn open_encoder(
    codec: &ffmpeg::Codec,
    video: &VideoSettings,
    format: Pixel,
    global_header: bool,
    frame_clock: bool,
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
        match frame_clock {
            true => bases.insert(0, step),
            false => bases.push(step),
        }
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
                    if tb != video.time_base && !frame_clock {
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
    Err(first_error
        .unwrap_or_else(|| Error::Other(format!("cannot open the {} encoder", codec.name()))))
}

/// Opens the encoder at one size and time base.
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
        .map_err(|e| Error::ffmpeg(format!("cannot set up the {name} encoder"), e))?;
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

    let options = options(video, name)?;
    let dict = dictionary(&options, Setting::CodecOption)?;
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
        return Err(Error::Other(format!(
            "cannot open the {name} encoder{given} at {width}x{height}: {}; RUST_LOG=debug shows FFmpeg's reason",
            describe(ffmpeg::Error::from(opened))
        )));
    }
    if let Some(first) = unused.first() {
        return Err(rejected(name, first));
    }
    Ok(codec::encoder::video::Encoder(encoder))
}

/// Adds the video stream to `ctx`: the encoder's parameters and time base, and the frame rate,
/// sample aspect ratio and display matrix of `video`.
pub(super) fn add_video_stream(
    ctx: &mut ffmpeg::format::context::Output,
    codec: ffmpeg::Codec,
    encoder: &codec::encoder::video::Encoder,
    encoder_tb: Rational,
    video: &VideoSettings,
) -> Result<(), ffmpeg::Error> {
    let mut stream = ctx.add_stream(codec)?;
    stream.set_parameters(encoder);
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
    Ok(())
}

/// The encoder options asked for: crf, preset (checked first for x264 and x265, which print
/// their own complaint about an unknown one) and the others.
fn options(video: &VideoSettings, name: &str) -> Result<Vec<(String, String)>> {
    if let (Some(preset), true) = (&video.preset, name.starts_with("libx26")) {
        if !X26X_PRESETS.contains(&preset.as_str()) {
            return Err(Error::bad_setting(
                Setting::Preset,
                "unknown ",
                format!(
                    " '{preset}' for {name}; use one of {}",
                    X26X_PRESETS.join(", ")
                ),
            ));
        }
    }
    let mut options = Vec::new();
    if let Some(crf) = video.crf {
        options.push(("crf".to_string(), crf.to_string()));
    }
    if let Some(preset) = &video.preset {
        options.push(("preset".to_string(), preset.clone()));
    }
    options.extend(video.codec_options.iter().cloned());
    Ok(options)
}

/// The error for an option (`KEY=VALUE`) the encoder `name` did not take, naming the setting it
/// came from.
fn rejected(name: &str, option: &str) -> Error {
    let before = format!("codec {name} rejected ");
    let after = ": it has no such option";
    match option.split('=').next() {
        Some("crf") => Error::bad_setting(Setting::Crf, before, after),
        Some("preset") => Error::bad_setting(Setting::Preset, before, after),
        _ => Error::bad_setting(Setting::CodecOption, before, format!(" {option}{after}")),
    }
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
