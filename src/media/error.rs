//! The media layer's errors: one line each, saying what failed and on which input or output,
//! with the cases a caller must tell apart (a missing file, a busy camera, a bad setting) as
//! variants of their own.

use ffmpeg_next as ffmpeg;

/// A result whose error is a media [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong opening, reading or writing media.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input does not exist; `context` is what failed (`cannot open input 'clip.mp4'`).
    #[error("{context}: no such file")]
    NotFound {
        /// What failed, naming the input.
        context: String,
    },
    /// The input has no video stream, or only a cover picture (`cover_only`).
    #[error("input {input} has no video stream{}", if *.cover_only { " (only a cover picture)" } else { "" })]
    NoVideoStream {
        /// The input as messages show it.
        input: String,
        /// Whether its only video is an attached cover picture.
        cover_only: bool,
    },
    /// A device (a camera) is in use by another program.
    #[error("{context}: device or resource busy")]
    DeviceBusy {
        /// What failed, naming the device.
        context: String,
    },
    /// FFmpeg has no decoder for the input's video codec.
    #[error("cannot decode input {input}: FFmpeg has no decoder for its video codec '{codec}'")]
    CodecUnsupported {
        /// The input as messages show it.
        input: String,
        /// The video codec's name.
        codec: String,
    },
    /// FFmpeg gave up on request (an interrupt callback asked it to).
    #[error("{context}: immediate exit requested")]
    Interrupted {
        /// What was interrupted.
        context: String,
    },
    /// A setting is wrong: an unknown name, a value out of range, an option FFmpeg rejected.
    /// The message names the setting in plain words; callers may name it their own way through
    /// [`Message::render`].
    #[error("{}", .message.render(Setting::name))]
    BadSetting {
        /// The setting at fault.
        setting: Setting,
        /// What is wrong with it.
        message: Message,
    },
    /// Anything else, in one line.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A [`BadSetting`](Error::BadSetting) error whose message is `before`, the setting's name,
    /// `after`.
    pub(crate) fn bad_setting(
        setting: Setting,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Error {
        Error::BadSetting {
            setting,
            message: Message::new([before.into().into(), setting.into(), after.into().into()]),
        }
    }

    /// FFmpeg's `error` after `context` (`cannot write 'out.mp4'`): [`Error::DeviceBusy`] and
    /// [`Error::Interrupted`] for what those are, else [`Error::Other`] in the words of
    /// [`describe`].
    pub(crate) fn ffmpeg(context: impl Into<String>, error: ffmpeg::Error) -> Error {
        let context = context.into();
        match error {
            ffmpeg::Error::Other {
                errno: ffmpeg::util::error::EBUSY,
            } => Error::DeviceBusy { context },
            ffmpeg::Error::Exit => Error::Interrupted { context },
            e => Error::Other(format!("{context}: {}", describe(e))),
        }
    }
}

/// A setting the media layer takes from its caller, named in [`Error::BadSetting`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// The output's container format (muxer).
    Format,
    /// The video encoder.
    Codec,
    /// The encoder's constant rate factor.
    Crf,
    /// The encoder's preset.
    Preset,
    /// Another encoder option (`KEY=VALUE`).
    CodecOption,
    /// The input's format (demuxer or device).
    InputFormat,
    /// A demuxer option (`KEY=VALUE`).
    InputOption,
    /// Where decoding starts, in seconds.
    Start,
    /// How long decoding goes on, in seconds.
    Duration,
}

impl Setting {
    /// The setting's name in plain words (`container format`, `codec`, …).
    pub fn name(self) -> &'static str {
        match self {
            Setting::Format => "container format",
            Setting::Codec => "codec",
            Setting::Crf => "crf",
            Setting::Preset => "preset",
            Setting::CodecOption => "codec option",
            Setting::InputFormat => "input format",
            Setting::InputOption => "input option",
            Setting::Start => "start",
            Setting::Duration => "duration",
        }
    }
}

/// A message that names settings, kept in parts so that each caller can name them its own way.
#[derive(Clone, Debug, PartialEq)]
pub struct Message(Vec<Part>);

/// A piece of a [`Message`]: words, or a setting to be named.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Words as they are.
    Text(String),
    /// A setting, named by whoever renders the message.
    Setting(Setting),
}

impl From<String> for Part {
    fn from(text: String) -> Part {
        Part::Text(text)
    }
}

impl From<&str> for Part {
    fn from(text: &str) -> Part {
        Part::Text(text.to_string())
    }
}

impl From<Setting> for Part {
    fn from(setting: Setting) -> Part {
        Part::Setting(setting)
    }
}

impl Message {
    /// A message of these parts, in order.
    pub fn new(parts: impl IntoIterator<Item = Part>) -> Message {
        Message(parts.into_iter().collect())
    }

    /// The message with each setting called what `name` says.
    pub fn render(&self, name: impl Fn(Setting) -> &'static str) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Setting(setting) => name(*setting),
            })
            .collect()
    }
}

/// FFmpeg's error in the words of the messages (`no such file`, `permission denied`, …).
pub(crate) fn describe(error: ffmpeg::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_errors_a_caller_must_tell_apart_have_their_own_case() {
        let context = "cannot open input '/dev/video0' as v4l2";
        let busy = Error::ffmpeg(
            context,
            ffmpeg::Error::Other {
                errno: ffmpeg::util::error::EBUSY,
            },
        );
        assert_eq!(
            busy,
            Error::DeviceBusy {
                context: context.into()
            }
        );
        assert_eq!(
            busy.to_string(),
            "cannot open input '/dev/video0' as v4l2: device or resource busy"
        );
        let stopped = Error::ffmpeg(context, ffmpeg::Error::Exit);
        assert!(matches!(stopped, Error::Interrupted { .. }), "{stopped:?}");
        let denied = Error::ffmpeg(
            context,
            ffmpeg::Error::Other {
                errno: ffmpeg::ffi::EACCES,
            },
        );
        assert_eq!(
            denied,
            Error::Other(format!("{context}: permission denied"))
        );
    }

    #[test]
    fn a_bad_setting_is_named_plainly_or_as_the_caller_says() {
        let error = Error::BadSetting {
            setting: Setting::Codec,
            message: Message::new([
                "choose another ".into(),
                Setting::Codec.into(),
                " or ".into(),
                Setting::Format.into(),
            ]),
        };
        assert_eq!(
            error.to_string(),
            "choose another codec or container format"
        );
        let Error::BadSetting { message, .. } = error else {
            unreachable!()
        };
        assert_eq!(
            message.render(|s| if s == Setting::Codec { "C" } else { "F" }),
            "choose another C or F"
        );
    }
}
