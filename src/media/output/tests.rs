//! Creating outputs: the errors of unknown or unfit containers, codecs and options, and that a
//! failed output leaves no file.

use std::path::PathBuf;

use ffmpeg::Rational;
use ffmpeg_next as ffmpeg;

use super::file::local_path;
use super::*;
use crate::media::Setting;

fn settings() -> VideoSettings {
    VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25))
}

fn create_error(url: &str, format: Option<&str>, tweak: impl FnOnce(&mut VideoSettings)) -> Error {
    let mut s = settings();
    tweak(&mut s);
    match Output::create(url, format, s, &[]) {
        Ok(_) => panic!("creating {url} should fail"),
        Err(e) => e,
    }
}

fn create_err(url: &str, format: Option<&str>, tweak: impl FnOnce(&mut VideoSettings)) -> String {
    create_error(url, format, tweak).to_string()
}

/// The setting a [`Error::BadSetting`] names, and its message in plain words.
fn bad_setting(error: Error) -> (Setting, String) {
    let message = error.to_string();
    match error {
        Error::BadSetting { setting, .. } => (setting, message),
        other => panic!("not a bad setting: {other:?}"),
    }
}

#[test]
fn unknown_format_and_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mp4");
    let (setting, err) = bad_setting(create_error(
        path.to_str().unwrap(),
        Some("no-such-muxer"),
        |_| {},
    ));
    assert_eq!(setting, Setting::Format);
    assert!(
        err.starts_with("unknown container format 'no-such-muxer'; `ffmpeg -muxers`"),
        "{err}"
    );
    let path = dir.path().join("x.nosuchext");
    let (setting, err) = bad_setting(create_error(path.to_str().unwrap(), None, |_| {}));
    assert_eq!(setting, Setting::Format);
    assert_eq!(
        err,
        format!(
            "cannot tell the container of '{}' from its extension; use .mp4, .mkv, .mov, .webm, … or container format",
            path.display()
        )
    );
    let (setting, err) = bad_setting(create_error("-", None, |_| {}));
    assert_eq!(setting, Setting::Format);
    assert!(
        err.starts_with("writing to stdout needs container format"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn unknown_or_unfit_codec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mkv");
    let url = path.to_str().unwrap();
    let (setting, err) = bad_setting(create_error(url, None, |s| {
        s.codec = Some("no-such-codec".into())
    }));
    assert_eq!(setting, Setting::Codec);
    assert!(
        err.starts_with("unknown codec 'no-such-codec': FFmpeg has no such encoder"),
        "{err}"
    );
    let (setting, err) = bad_setting(create_error(url, None, |s| s.codec = Some("aac".into())));
    assert_eq!(setting, Setting::Codec);
    assert_eq!(err, "codec 'aac' is not a video encoder");
    let (setting, err) = bad_setting(create_error(
        dir.path().join("x.webm").to_str().unwrap(),
        None,
        |s| s.codec = Some("mpeg4".into()),
    ));
    assert_eq!(setting, Setting::Codec);
    assert_eq!(
        err,
        "the webm container cannot hold mpeg4 video; choose another codec or container format"
    );
    let err = create_err(url, None, |s| s.pixel_format = Some("rgb24".into()));
    assert!(
        err.starts_with("codec libx264 cannot encode pixel format rgb24; it takes yuv420p"),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn rejected_codec_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mkv");
    let url = path.to_str().unwrap();
    let (setting, err) = bad_setting(create_error(url, None, |s| {
        s.codec_options = vec![("nosuch".into(), "1".into())]
    }));
    assert_eq!(setting, Setting::CodecOption);
    assert_eq!(
        err,
        "codec libx264 rejected codec option nosuch=1: it has no such option"
    );
    let (setting, err) = bad_setting(create_error(url, None, |s| {
        s.codec = Some("mpeg4".into());
        s.crf = Some(20);
    }));
    assert_eq!(setting, Setting::Crf);
    assert_eq!(err, "codec mpeg4 rejected crf: it has no such option");
    let (setting, err) = bad_setting(create_error(url, None, |s| {
        s.preset = Some("warp-speed".into())
    }));
    assert_eq!(setting, Setting::Preset);
    assert!(
        err.starts_with("unknown preset 'warp-speed' for libx264; use one of ultrafast, "),
        "{err}"
    );
    let err = create_err(url, None, |s| {
        s.codec_options = vec![("g".into(), "often".into())]
    });
    assert!(
        err.starts_with("cannot open the libx264 encoder with g=often at 32x32: invalid argument"),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn output_in_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("x.mp4");
    let err = create_err(path.to_str().unwrap(), None, |_| {});
    assert_eq!(
        err,
        format!(
            "cannot write '{}': directory '{}' does not exist",
            path.display(),
            dir.path().join("missing").display()
        )
    );
    let err = create_err(dir.path().to_str().unwrap(), Some("mp4"), |_| {});
    assert!(err.ends_with("it is a directory"), "{err}");
}

#[test]
fn header_rejected_by_the_muxer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.y4m");
    let err = create_err(path.to_str().unwrap(), None, |s| {
        s.codec = Some("libx264".into())
    });
    assert!(
        err.starts_with(&format!(
            "cannot write '{}': the yuv4mpegpipe muxer rejected the streams",
            path.display()
        )),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn local_paths_and_urls() {
    assert_eq!(local_path("-"), None);
    assert_eq!(local_path("out.mp4"), Some(PathBuf::from("out.mp4")));
    assert_eq!(
        local_path("file:dir/out.mp4"),
        Some(PathBuf::from("dir/out.mp4"))
    );
    assert_eq!(local_path("udp://127.0.0.1:1234"), None);
    assert_eq!(local_path("pipe:1"), None);
}

#[test]
fn theora_repeats_frames_as_empty_packets() {
    // libtheora sends a frame equal to the one before as an empty packet, which must be muxed.
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.ogv", "x.mkv"] {
        let path = dir.path().join(name);
        let mut s = settings();
        s.codec = Some("libtheora".into());
        let mut output = Output::create(path.to_str().unwrap(), None, s, &[]).unwrap();
        for index in 0..5 {
            let frame = crate::media::RgbFrame {
                width: 32,
                height: 32,
                data: vec![128; 32 * 32 * 3],
                pts: Some(index as i64),
                index,
            };
            output.write_video(&frame).unwrap();
        }
        let summary = output.finish().unwrap();
        assert_eq!(summary.frames, 5, "{name}");
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=codec_name,nb_read_frames"])
            .args(["-of", "csv=p=0"])
            .arg(&path)
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&probe.stdout);
        assert!(shown.trim().starts_with("theora,"), "{name}: {shown}");
    }
}
