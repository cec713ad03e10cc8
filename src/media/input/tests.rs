//! Opening inputs: the errors of missing, unreadable and unfit inputs and settings, and the
//! output size and interrupt controls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

fn open_error(url: &str, format: Option<&str>, options: &[(&str, &str)]) -> Error {
    let options: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match Input::open(url, format, &options) {
        Ok(_) => panic!("opening {url} should fail"),
        Err(e) => e,
    }
}

fn open_err(url: &str, format: Option<&str>, options: &[(&str, &str)]) -> String {
    open_error(url, format, options).to_string()
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
fn missing_file() {
    let err = open_error("/nonexistent/clip.mp4", None, &[]);
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot open input '/nonexistent/clip.mp4': no such file"
    );
}

#[test]
fn file_that_is_not_media() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.mp4");
    std::fs::write(
        &path,
        "these are not the frames you are looking for\n".repeat(50),
    )
    .unwrap();
    let err = open_err(path.to_str().unwrap(), None, &[]);
    assert!(err.starts_with("cannot open input '"), "{err}");
    assert!(
        err.ends_with("': not a media file FFmpeg can read (or a damaged one)"),
        "{err}"
    );
}

#[test]
fn audio_only_file() {
    // A WAV file of 0.1 s of silence, written by hand.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sound.wav");
    let samples = 4410u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    for v in [44100u32, 88200] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    for v in [2u16, 16] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples * 2).to_le_bytes());
    wav.resize(wav.len() + samples as usize * 2, 0);
    std::fs::write(&path, wav).unwrap();
    let err = open_err(path.to_str().unwrap(), None, &[]);
    assert_eq!(
        err,
        format!("input '{}' has no video stream", path.display())
    );
    let err = open_error("sine=duration=0.1", Some("lavfi"), &[]);
    assert_eq!(
        err,
        Error::NoVideoStream {
            input: "'sine=duration=0.1'".into(),
            cover_only: false
        }
    );
    assert_eq!(
        err.to_string(),
        "input 'sine=duration=0.1' has no video stream"
    );
}

#[test]
fn unknown_input_format() {
    let (setting, err) = bad_setting(open_error("x", Some("no-such-demuxer"), &[]));
    assert_eq!(setting, Setting::InputFormat);
    assert!(
        err.starts_with("unknown input format 'no-such-demuxer'; `ffmpeg -demuxers`"),
        "{err}"
    );
}

#[test]
fn input_option_ffmpeg_rejects() {
    let (setting, err) = bad_setting(open_error(
        "testsrc2=duration=0.1",
        Some("lavfi"),
        &[("foo", "bar")],
    ));
    assert_eq!(setting, Setting::InputOption);
    assert_eq!(
        err,
        "FFmpeg rejected input option foo=bar for input 'testsrc2=duration=0.1': the demuxer has no such option"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.raw");
    std::fs::write(&path, [0u8; 48]).unwrap();
    let (setting, err) = bad_setting(open_error(
        path.to_str().unwrap(),
        Some("rawvideo"),
        &[("pixel_format", "nonsense"), ("video_size", "4x4")],
    ));
    assert_eq!(setting, Setting::InputOption);
    assert!(
        err.starts_with(&format!(
            "cannot open input '{}' as rawvideo: ",
            path.display()
        )),
        "{err}"
    );
    assert!(err.ends_with("; check the input option values"), "{err}");
    let (setting, err) = bad_setting(open_error("testsrc2", Some("lavfi"), &[("", "x")]));
    assert_eq!(setting, Setting::InputOption);
    assert!(err.starts_with("bad input option '=x'"), "{err}");
}

#[test]
fn bad_range() {
    let mut input = Input::open("testsrc2=duration=0.1", Some("lavfi"), &[]).unwrap();
    let (setting, err) = bad_setting(input.set_range(Some(-1.0), None).unwrap_err());
    assert_eq!(setting, Setting::Start);
    assert_eq!(
        err,
        "bad start -1: it must be a number of seconds, 0 or more"
    );
    let (setting, err) = bad_setting(input.set_range(None, Some(0.0)).unwrap_err());
    assert_eq!(setting, Setting::Duration);
    assert_eq!(
        err,
        "bad duration 0: it must be a positive number of seconds"
    );
}

#[test]
fn output_size_is_checked_and_applied() {
    let mut input = Input::open(
        "testsrc2=size=96x64:rate=25:duration=0.2",
        Some("lavfi"),
        &[],
    )
    .unwrap();
    assert!(input.set_output_size(0, 10).is_err());
    input.set_output_size(48, 30).unwrap();
    let frame = input.next_frame().unwrap().unwrap();
    assert_eq!(
        (frame.width, frame.height, frame.data.len()),
        (48, 30, 48 * 30 * 3)
    );
}

#[test]
fn interrupt_flag_ends_reading() {
    let flag = Arc::new(AtomicBool::new(false));
    let mut input = Input::open("testsrc2=size=32x32:rate=25", Some("lavfi"), &[]).unwrap();
    input.set_interrupt(flag.clone());
    assert!(input.next_frame().unwrap().is_some());
    flag.store(true, Ordering::Relaxed);
    let mut more = 0;
    while input.next_frame().unwrap().is_some() {
        more += 1;
        assert!(more < 100, "an endless source stops once interrupted");
    }
    assert!(input.ending().interrupted);
    assert!(input.ending().is_clean(), "{:?}", input.ending().problem());
}
