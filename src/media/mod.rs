//! Video in and out through FFmpeg's libraries (`ffmpeg-next`): opening anything FFmpeg opens and
//! decoding its best video stream to RGB frames ([`Input`]), encoding RGB frames and muxing them
//! with the input's other streams ([`Output`]), and the frame type passed between the pipeline's
//! stages ([`RgbFrame`]).
//!
//! FFmpeg's own log is silent unless `RUST_LOG` enables debug output for this crate when the first
//! input or output is opened; every failure comes back as one line instead, a typed [`Error`].

mod audio;
pub mod error;
pub mod frame;
pub mod input;
pub mod output;
mod scale;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use ffmpeg_next as ffmpeg;

pub use error::{Error, Message, Part, Result, Setting};
pub use frame::{rgb_to_tensor, tensor_to_rgb, RgbFrame};
pub use input::{Ending, Event, Input, InputPacket, StreamInfo, VideoInfo};
pub use output::{Output, StreamPlan, Summary, VideoSettings};

/// Initializes FFmpeg once (libavdevice included, so `lavfi`, `v4l2` and the other devices can be
/// opened by name) and sets its log level from `tracing`'s: FFmpeg prints nothing unless debug
/// output is enabled. Called by [`Input::open`] and [`Output::create`]; calling it again is free.
pub fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg::init().map_err(|e| format!("cannot initialize FFmpeg: {e}"))?;
        ffmpeg::device::register_all();
        let level = if tracing::enabled!(tracing::Level::TRACE) {
            ffmpeg::log::Level::Debug
        } else if tracing::enabled!(tracing::Level::DEBUG) {
            ffmpeg::log::Level::Info
        } else {
            ffmpeg::log::Level::Quiet
        };
        ffmpeg::log::set_level(level);
        Ok(())
    })
    .clone()
    .map_err(Error::Other)
}

/// FFmpeg's URL for `-` (stdin or stdout), else the argument itself.
fn ffmpeg_url(url: &str, pipe: &str) -> String {
    if url == "-" {
        pipe.to_string()
    } else {
        url.to_string()
    }
}

/// How `url` is shown in messages: `stdin`/`stdout` for `-`, else quoted.
fn shown(url: &str, what_for_dash: &str) -> String {
    if url == "-" {
        what_for_dash.to_string()
    } else {
        format!("'{url}'")
    }
}

/// A C string from a URL, or an error naming `what` it is (`input`, `output`).
fn c_string(text: &str, what: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(text).map_err(|_| {
        Error::Other(format!(
            "{what} '{}' contains a NUL byte",
            text.escape_debug()
        ))
    })
}

/// A C string from the value of a setting, or an error naming the setting.
fn setting_c_string(text: &str, setting: Setting) -> Result<std::ffi::CString> {
    std::ffi::CString::new(text).map_err(|_| {
        Error::bad_setting(
            setting,
            "",
            format!(" '{}' contains a NUL byte", text.escape_debug()),
        )
    })
}

/// An FFmpeg options dictionary from the `KEY=VALUE` pairs of `setting`.
fn dictionary(
    options: &[(String, String)],
    setting: Setting,
) -> Result<ffmpeg::Dictionary<'static>> {
    let mut dict = ffmpeg::Dictionary::new();
    for (key, value) in options {
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            return Err(Error::bad_setting(
                setting,
                "bad ",
                format!(
                    " '{}={}': the key must be non-empty and neither may contain a NUL byte",
                    key.escape_debug(),
                    value.escape_debug()
                ),
            ));
        }
        dict.set(key, value);
    }
    Ok(dict)
}

/// Stream metadata as an FFmpeg dictionary, leaving out what FFmpeg cannot take.
fn metadata(pairs: &[(String, String)]) -> ffmpeg::Dictionary<'static> {
    let mut dict = ffmpeg::Dictionary::new();
    for (k, v) in pairs {
        if !k.is_empty() && !k.contains('\0') && !v.contains('\0') {
            dict.set(k, v);
        }
    }
    dict
}

/// The entries FFmpeg left in a dictionary after opening something: the options it did not use.
fn leftovers(dict: &ffmpeg::Dictionary) -> Vec<String> {
    dict.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A rational as seconds, `None` for 0/0 or a zero denominator.
fn seconds(value: i64, base: ffmpeg::Rational) -> Option<f64> {
    (base.denominator() != 0)
        .then(|| value as f64 * f64::from(base.numerator()) / f64::from(base.denominator()))
}
