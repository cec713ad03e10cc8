//! What is known about an input's streams before decoding: the decoded video stream
//! ([`VideoInfo`]) and the others, whose packets are handed on ([`StreamInfo`]).

use ffmpeg::ffi;
use ffmpeg::{codec, color, format::Pixel, media, Rational};
use ffmpeg_next as ffmpeg;

use super::{ffi_time_base, known};
use crate::media::seconds;

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
    /// The time base of frame timestamps ([`RgbFrame::pts`](crate::media::RgbFrame::pts)).
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
    /// The stream's index in the input ([`InputPacket::stream`](super::InputPacket::stream)).
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

impl StreamInfo {
    /// The stream's information, for `stream` of an open input.
    pub(super) fn of(stream: &ffmpeg::format::stream::Stream) -> StreamInfo {
        StreamInfo {
            index: stream.index(),
            kind: stream.parameters().medium(),
            codec: codec_name(stream.parameters().id()),
            time_base: stream.time_base(),
            duration: known(stream.duration()).and_then(|d| seconds(d, stream.time_base())),
            parameters: stream.parameters(),
            metadata: stream
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// What kind of stream it is, in a word (`audio`, `subtitle`).
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            media::Type::Audio => "audio",
            media::Type::Subtitle => "subtitle",
            _ => "data",
        }
    }
}

/// Everything known about the video stream before decoding.
pub(super) fn video_info(
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

/// A codec's name (`h264`, `aac`, …).
pub(super) fn codec_name(id: codec::Id) -> String {
    id.name().to_string()
}
