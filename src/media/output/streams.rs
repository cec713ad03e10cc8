//! The input's other streams in the output: copied when the container takes them, audio
//! re-encoded when it does not, anything else left out.

use std::collections::HashMap;

use ffmpeg::ffi;
use ffmpeg::{codec, media, Rational};
use ffmpeg_next as ffmpeg;

use super::container::{accepts, default_codec};
use crate::media::audio::AudioTranscoder;
use crate::media::{metadata, Error, Result, StreamInfo};

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

/// Where the packets of one of the input's other streams go.
pub(super) enum Route {
    /// Into output stream `out`, their timestamps rescaled from `time_base`.
    Copy { out: usize, time_base: Rational },
    /// Through a transcoder.
    Encode(Box<AudioTranscoder>),
}

/// The routes of the input's other streams, by input stream index.
pub(super) type Routes = HashMap<usize, Route>;

/// The routes of the input's other `streams` (by input stream index) and what happens to each:
/// their output streams are added to `ctx`, whose muxer is `muxer` (`container` by name).
pub(super) fn route_streams(
    ctx: &mut ffmpeg::format::context::Output,
    muxer: *const ffi::AVOutputFormat,
    container: &str,
    streams: &[StreamInfo],
    shown: &str,
) -> Result<(Routes, Vec<(usize, StreamPlan)>)> {
    let global_header = ctx
        .format()
        .flags()
        .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
    let mut routes = HashMap::new();
    let mut plans = Vec::new();
    for info in streams {
        let plan = match plan_stream(muxer, info, container) {
            StreamPlan::Copy => {
                let out = add_copy(ctx, info, shown)?;
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
                match AudioTranscoder::new(info, &name, ctx, global_header) {
                    Ok(transcoder) => {
                        tracing::info!(
                            "re-encoding {} audio (stream {}) as {name}: the {container} container does not say it takes it",
                            info.codec,
                            info.index
                        );
                        routes.insert(info.index, Route::Encode(Box::new(transcoder)));
                        StreamPlan::Reencode(name)
                    }
                    Err(e) => StreamPlan::Drop(e.to_string()),
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
    Ok((routes, plans))
}

/// Adds an output stream that copies `info`'s packets; returns its index.
fn add_copy(
    ctx: &mut ffmpeg::format::context::Output,
    info: &StreamInfo,
    shown: &str,
) -> Result<usize> {
    let out = ctx.nb_streams() as usize;
    let mut stream = ctx
        .add_stream(ffmpeg::encoder::find(codec::Id::None))
        .map_err(|e| Error::ffmpeg(format!("cannot write {shown}"), e))?;
    stream.set_parameters(info.parameters.clone());
    stream.set_time_base(info.time_base);
    stream.set_metadata(metadata(&info.metadata));
    // SAFETY: a plain field of the stream's own parameters: let the muxer choose its tag for the
    // codec (the input container's may mean nothing here).
    unsafe { (*(*stream.as_mut_ptr()).codecpar).codec_tag = 0 };
    Ok(out)
}

/// Copy, re-encode or drop one of the input's other streams, by what the container takes.
/// Audio is copied only where the container says it takes the codec: those that cannot say
/// (MPEG-PS, Ogg, MPEG-TS) refuse some codecs or mislabel them, so they get their own.
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
        (_, None) if holds => StreamPlan::Copy,
        (media::Type::Subtitle, _) => StreamPlan::Drop(format!(
            "the {container} container does not take {} subtitles",
            info.codec
        )),
        _ => StreamPlan::Drop(format!("the {container} container does not take it")),
    }
}
