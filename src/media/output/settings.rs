//! The settings of the video an [`Output`](super::Output) encodes.

use ffmpeg::ffi;
use ffmpeg::{color, Rational};
use ffmpeg_next as ffmpeg;

use crate::media::{Error, Result, VideoInfo};

/// How the video is encoded. [`VideoSettings::like`] fills it from the input's [`VideoInfo`].
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSettings {
    /// Width of the frames given to [`Output::write_video`](super::Output::write_video).
    pub width: u32,
    /// Height of the frames given to [`Output::write_video`](super::Output::write_video).
    pub height: u32,
    /// Nominal frame rate (written to the stream; also the step for frames without timestamps).
    pub frame_rate: Option<Rational>,
    /// Time base of the frames' timestamps; the encoder uses it too, so every timestamp is kept.
    pub time_base: Rational,
    /// Encoder name; default libx264 where the container takes H.264, else the
    /// container's own (rawvideo for `rawvideo`, wrapped_avframe for `yuv4mpegpipe`).
    pub codec: Option<String>,
    /// The encoder's `crf` option.
    pub crf: Option<u32>,
    /// The encoder's `preset` option.
    pub preset: Option<String>,
    /// More encoder options (`KEY=VALUE`); any the encoder does not know is an error.
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

    /// Checks the size and time base, for the output `shown`.
    pub(super) fn check(&self, shown: &str) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::Other(format!(
                "cannot write {shown}: the video size {}x{} is empty",
                self.width, self.height
            )));
        }
        if self.time_base.numerator() <= 0 || self.time_base.denominator() <= 0 {
            return Err(Error::Other(format!(
                "cannot write {shown}: bad time base {}",
                self.time_base
            )));
        }
        Ok(())
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

/// `num/den` reduced to fit 32 bits.
fn reduce(num: i64, den: i64) -> Rational {
    let (mut n, mut d) = (0i32, 1i32);
    // SAFETY: plain integers in, reduced fraction out.
    unsafe { ffi::av_reduce(&mut n, &mut d, num, den, i64::from(i32::MAX)) };
    Rational::new(n, d)
}
