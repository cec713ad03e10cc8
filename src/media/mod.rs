//! Video in and out through FFmpeg's libraries (`ffmpeg-next`): opening anything FFmpeg opens and
//! decoding its best video stream to RGB frames ([`Input`]), encoding RGB frames and muxing them
//! with the input's other streams ([`Output`]), and the frame type passed between the pipeline's
//! stages ([`RgbFrame`]).
//!
//! FFmpeg's own log is silent unless `RUST_LOG` enables debug output for this crate when the first
//! input or output is opened; every failure comes back as one `anyhow` line instead.

mod audio;
pub mod frame;
pub mod input;
pub mod output;
mod scale;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};
use ffmpeg_next as ffmpeg;

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
    .map_err(|e| anyhow!(e))
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

/// A C string from a user's argument, or an error naming it.
fn c_string(text: &str, what: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(text)
        .map_err(|_| anyhow!("{what} '{}' contains a NUL byte", text.escape_debug()))
}

/// An FFmpeg options dictionary from `KEY=VALUE` pairs; `flag` names the command-line option in errors.
fn dictionary(options: &[(String, String)], flag: &str) -> Result<ffmpeg::Dictionary<'static>> {
    let mut dict = ffmpeg::Dictionary::new();
    for (key, value) in options {
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            bail!(
                "bad {flag} '{}={}': the key must be non-empty and neither may contain a NUL byte",
                key.escape_debug(),
                value.escape_debug()
            );
        }
        dict.set(key, value);
    }
    Ok(dict)
}

/// The entries FFmpeg left in a dictionary after opening something: the options it did not use.
fn leftovers(dict: &ffmpeg::Dictionary) -> Vec<String> {
    dict.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// FFmpeg's error in the words of the messages (`no such file`, `permission denied`, …).
fn describe(error: ffmpeg::Error) -> String {
    use ffmpeg::Error as E;
    match error {
        E::Other { errno } if errno == ffmpeg::ffi::ENOENT => "no such file".into(),
        E::Other { errno } if errno == ffmpeg::ffi::EACCES => "permission denied".into(),
        E::Other { errno } if errno == ffmpeg::ffi::EISDIR => "it is a directory".into(),
        E::Other { errno } if errno == ffmpeg::ffi::ENOSPC => "no space left on the device".into(),
        E::Other { errno } if errno == ffmpeg::ffi::EPIPE => "the reader closed the pipe".into(),
        E::InvalidData => "invalid data".into(),
        E::ProtocolNotFound => "FFmpeg knows no protocol for this URL".into(),
        E::Eof => "it ended before any data".into(),
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "unknown error".into(),
            }
        }
    }
}

/// A rational as seconds, `None` for 0/0 or a zero denominator.
fn seconds(value: i64, base: ffmpeg::Rational) -> Option<f64> {
    (base.denominator() != 0)
        .then(|| value as f64 * f64::from(base.numerator()) / f64::from(base.denominator()))
}
