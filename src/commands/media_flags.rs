//! Media errors in the words of the command line: the settings they name become the flags that
//! set them.

use anyhow::Result;

use crate::cli::MediaArgs;
use crate::config::Source;
use crate::media::{self, Input, Setting};
use crate::source::camera::CameraError;

/// Opens `url` as the media flags ask: its format and options, the part of it to use.
pub fn open_input(url: &str, media: &MediaArgs) -> Result<Input> {
    let source = &media.source;
    let mut input = Input::open(url, source.input_format.as_deref(), &source.input_option)
        .map_err(with_flag)?;
    if media.start.is_some() || media.duration.is_some() {
        let (start, duration) = (media.start.map(f64::from), media.duration.map(f64::from));
        input.set_range(start, duration).map_err(with_flag)?;
    }
    Ok(input)
}

/// A live view's input, and how messages name it.
pub fn open_live(source: &Source) -> Result<(Input, String)> {
    match source {
        Source::Camera(camera) => {
            let input = camera.open().map_err(|e| match e {
                CameraError::Missing(_) => {
                    anyhow::anyhow!("{e}; connect a webcam or name another with --camera DEVICE")
                }
                CameraError::Unnamed => anyhow::anyhow!("{e}: --camera NAME"),
                other => other.into(),
            })?;
            Ok((input, camera.shown()))
        }
        Source::Media {
            url,
            format,
            options,
        } => {
            let input = Input::open(url, format.as_deref(), options).map_err(with_flag)?;
            let shown = match url.as_str() {
                "-" => "stdin".to_string(),
                url => format!("input '{url}'"),
            };
            Ok((input, shown))
        }
    }
}

/// `error` as the user sees it: a bad setting named by its flag (`unknown --format 'x'; …`),
/// anything else as the media layer says it.
pub fn with_flag(error: media::Error) -> anyhow::Error {
    match error {
        media::Error::BadSetting { message, .. } => anyhow::anyhow!(message.render(flag)),
        other => other.into(),
    }
}

/// The flag that sets a media setting.
fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Format => "--format",
        Setting::Codec => "--codec",
        Setting::Crf => "--crf",
        Setting::Preset => "--preset",
        Setting::CodecOption => "--codec-option",
        Setting::InputFormat => "--input-format",
        Setting::InputOption => "--input-option",
        Setting::Start => "--start",
        Setting::Duration => "--duration",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Input, Output, VideoSettings};
    use ffmpeg_next::Rational;

    fn open_err(url: &str, format: Option<&str>, options: &[(&str, &str)]) -> String {
        let options: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match Input::open(url, format, &options) {
            Ok(_) => panic!("opening {url} should fail"),
            Err(e) => with_flag(e).to_string(),
        }
    }

    fn create_err(
        url: &str,
        format: Option<&str>,
        tweak: impl FnOnce(&mut VideoSettings),
    ) -> String {
        let mut s = VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25));
        tweak(&mut s);
        match Output::create(url, format, s, &[]) {
            Ok(_) => panic!("creating {url} should fail"),
            Err(e) => with_flag(e).to_string(),
        }
    }

    #[test]
    fn input_settings_are_named_by_their_flags() {
        let err = open_err("x", Some("no-such-demuxer"), &[]);
        assert!(
            err.starts_with("unknown --input-format 'no-such-demuxer'"),
            "{err}"
        );
        let err = open_err("testsrc2=duration=0.1", Some("lavfi"), &[("foo", "bar")]);
        assert_eq!(
            err,
            "FFmpeg rejected --input-option foo=bar for input 'testsrc2=duration=0.1': the demuxer has no such option"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.raw");
        std::fs::write(&path, [0u8; 48]).unwrap();
        let err = open_err(
            path.to_str().unwrap(),
            Some("rawvideo"),
            &[("pixel_format", "nonsense"), ("video_size", "4x4")],
        );
        assert!(err.ends_with("; check the --input-option values"), "{err}");
        let err = open_err("testsrc2", Some("lavfi"), &[("", "x")]);
        assert!(err.starts_with("bad --input-option '=x'"), "{err}");
        let mut input = Input::open("testsrc2=duration=0.1", Some("lavfi"), &[]).unwrap();
        let err = with_flag(input.set_range(Some(-1.0), None).unwrap_err()).to_string();
        assert_eq!(
            err,
            "bad --start -1: it must be a number of seconds, 0 or more"
        );
        let err = with_flag(input.set_range(None, Some(0.0)).unwrap_err()).to_string();
        assert_eq!(
            err,
            "bad --duration 0: it must be a positive number of seconds"
        );
    }

    #[test]
    fn output_settings_are_named_by_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        let err = create_err(path.to_str().unwrap(), Some("no-such-muxer"), |_| {});
        assert!(err.starts_with("unknown --format 'no-such-muxer'"), "{err}");
        let err = create_err("-", None, |_| {});
        assert!(err.starts_with("writing to stdout needs --format"), "{err}");
        let path = dir.path().join("x.nosuchext");
        let err = create_err(path.to_str().unwrap(), None, |_| {});
        assert!(err.ends_with(", … or --format"), "{err}");

        let path = dir.path().join("x.mkv");
        let url = path.to_str().unwrap();
        let err = create_err(url, None, |s| s.codec = Some("no-such-codec".into()));
        assert!(err.starts_with("unknown --codec 'no-such-codec'"), "{err}");
        let err = create_err(url, None, |s| s.codec = Some("aac".into()));
        assert_eq!(err, "--codec 'aac' is not a video encoder");
        let webm = dir.path().join("x.webm");
        let err = create_err(webm.to_str().unwrap(), None, |s| {
            s.codec = Some("mpeg4".into())
        });
        assert!(
            err.ends_with("; choose another --codec or --format"),
            "{err}"
        );
        let err = create_err(url, None, |s| {
            s.codec_options = vec![("nosuch".into(), "1".into())]
        });
        assert_eq!(
            err,
            "codec libx264 rejected --codec-option nosuch=1: it has no such option"
        );
        let err = create_err(url, None, |s| {
            s.codec = Some("mpeg4".into());
            s.crf = Some(20);
        });
        assert_eq!(err, "codec mpeg4 rejected --crf: it has no such option");
        let err = create_err(url, None, |s| s.preset = Some("warp-speed".into()));
        assert!(
            err.starts_with("unknown --preset 'warp-speed' for libx264; use one of ultrafast, "),
            "{err}"
        );
    }

    #[test]
    fn other_errors_are_left_as_they_are() {
        let err = media::Error::NotFound {
            context: "cannot open input 'x.mp4'".into(),
        };
        let shown = with_flag(err.clone());
        assert_eq!(shown.to_string(), "cannot open input 'x.mp4': no such file");
        assert_eq!(shown.downcast_ref::<media::Error>(), Some(&err));
    }
}
