//! `stylize video` end to end: inputs made with FFmpeg's lavfi sources, outputs checked with ffprobe.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// `ffprobe` of one stream kind: (frames counted by decoding, duration, width, height, rate).
fn probe(path: &Path, kind: &str) -> Option<(u64, f64, u32, u32, String)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", kind])
        .args([
            "-show_entries",
            "stream=nb_read_frames,duration,width,height,r_frame_rate",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    let frames = field("nb_read_frames")?.parse().ok()?;
    Some((
        frames,
        field("duration")
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
        field("width").and_then(|w| w.parse().ok()).unwrap_or(0),
        field("height").and_then(|h| h.parse().ok()).unwrap_or(0),
        field("r_frame_rate").unwrap_or_default(),
    ))
}

fn style(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("style.png");
    write_style(&path, 64, 64);
    path
}

/// `stylize video` with the tiny model on the CPU, quietly.
fn video(style: &Path) -> Command {
    let mut cmd = stylize();
    cmd.arg("video").arg("--style").arg(style).args([
        "--model",
        tiny_model().to_str().unwrap(),
        "--device",
        "cpu",
        "-q",
    ]);
    cmd
}

const WITH_AUDIO: &str =
    "testsrc2=size=160x120:rate=25:duration=2[out0];sine=frequency=440:duration=2[out1]";

#[test]
fn lavfi_video_with_sound_keeps_frames_rate_duration_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let result = video(&style(dir.path()))
        .args([
            "--input-format",
            "lavfi",
            WITH_AUDIO,
            "-o",
            out.to_str().unwrap(),
        ])
        .args(["--size", "48", "--iterations", "4,2"])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let (frames, duration, w, h, rate) = probe(&out, "v").expect("a video stream");
    assert_eq!((frames, w, h, rate.as_str()), (50, 160, 120, "25/1"));
    assert!((duration - 2.0).abs() <= 0.04, "video duration {duration}");
    let (_, audio_duration, ..) = probe(&out, "a").expect("an audio stream");
    assert!(
        (audio_duration - 2.0).abs() < 0.1,
        "audio duration {audio_duration}"
    );
}

#[test]
fn output_size_frames_and_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mkv");
    let result = video(&style(dir.path()))
        .args([
            "--input-format",
            "lavfi",
            WITH_AUDIO,
            "-o",
            out.to_str().unwrap(),
        ])
        .args([
            "--size",
            "32",
            "--iterations",
            "2",
            "--output-size",
            "96x72",
        ])
        .args(["--frames", "7", "--no-audio"])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let (frames, _, w, h, _) = probe(&out, "v").expect("a video stream");
    assert_eq!((frames, w, h), (7, 96, 72));
    assert!(
        probe(&out, "a").is_none(),
        "--no-audio kept an audio stream"
    );
}

#[test]
fn ffmpeg_pipes_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let mut source = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x96:rate=10:duration=3",
        ])
        .args(["-f", "nut", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut styl = video(&style)
        .args([
            "-",
            "-o",
            "-",
            "--format",
            "nut",
            "--size",
            "32",
            "--iterations",
            "2",
        ])
        .stdin(source.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sink = dir.path().join("piped.mkv");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "nut", "-i", "-", "-c", "copy", "-y"])
        .arg(&sink)
        .stdin(styl.stdout.take().unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(styl.wait().unwrap().success());
    assert!(source.wait().unwrap().success());
    assert_eq!(probe(&sink, "v").expect("video").0, 30);
}

#[test]
fn raw_frames_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("frames.rgb");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5:duration=2",
        ])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-y"])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("out.y4m");
    let result = video(&style(dir.path()))
        .args([
            "-",
            "--input-format",
            "rawvideo",
            "--input-option",
            "video_size=64x48",
        ])
        .args([
            "--input-option",
            "pixel_format=rgb24",
            "--input-option",
            "framerate=5",
        ])
        .args([
            "-o",
            out.to_str().unwrap(),
            "--size",
            "32",
            "--iterations",
            "2",
        ])
        .stdin(std::fs::File::open(&raw).unwrap())
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(probe(&out, "v").expect("video").0, 10);
}

/// Runs `stylize video` on a 20-second test pattern at `size` with `iterations`, sends it Ctrl-C
/// after 2.5 s and returns what it printed on stderr once it exited with 130. Fails if it is still
/// running 30 s after the signal.
fn interrupted_video(style: &Path, out: &Path, size: &str, iterations: &str) -> String {
    let mut child = video(style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=640x480:rate=25:duration=20",
        ])
        .args(["-o", out.to_str().unwrap()])
        .args(["--size", size, "--iterations", iterations])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let sent = std::time::Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    while child.try_wait().unwrap().is_none() {
        if sent.elapsed().as_secs() > 30 {
            child.kill().unwrap();
            panic!("still running 30 s after Ctrl-C");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(result.status.code(), Some(130), "{stderr}");
    stderr
}

#[test]
fn sigint_finishes_a_playable_file_with_the_frames_done() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("partial.mp4");
    let stderr = interrupted_video(&style(dir.path()), &out, "64", "40");
    assert!(stderr.contains("interrupted: wrote"), "{stderr}");
    let (frames, ..) = probe(&out, "v").expect("the partial file plays");
    assert!((1..500).contains(&frames), "{frames} frames");
    assert!(
        stderr.contains(&format!("wrote {frames} stylized frames")),
        "{stderr}"
    );
}

#[test]
fn sigint_cuts_a_long_first_frame_short_and_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("first.mp4");
    // A first frame that takes minutes (the tiny model converges after thousands of iterations at
    // this size): Ctrl-C must end it where it is, within one iteration, not after it.
    let stderr = interrupted_video(&style(dir.path()), &out, "640", "100000,40");
    assert_eq!(probe(&out, "v").expect("the file plays").0, 1, "{stderr}");
}

#[test]
fn broken_pipe_ends_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = video(&style(dir.path()))
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=96x64:rate=25:duration=20",
        ])
        .args([
            "-o",
            "-",
            "--format",
            "nut",
            "--size",
            "32",
            "--iterations",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let result = child.wait_with_output().unwrap();
    assert_one_line_error(&result, 1, "closed the pipe");
}

/// Runs `stylize video` that must fail, and checks the message and that no output was left.
fn assert_fails(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = video(&style)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, needle);
    assert_eq!(
        files_in(dir.path()),
        ["style.png"],
        "{args:?} left files behind"
    );
}

#[test]
fn bad_inputs_and_outputs() {
    let lavfi = [
        "--input-format",
        "lavfi",
        "testsrc2=size=64x48:rate=5:duration=1",
    ];
    assert_fails(&["missing.mp4", "-o", "out.mp4"], "no such file");
    assert_fails(
        &[
            "--input-format",
            "lavfi",
            "testsrc2=size=200x12:rate=5:duration=1",
            "-o",
            "out.mp4",
            "--size",
            "64",
        ],
        "use --size 267 or more",
    );
    assert_fails(
        &["style.png", "-o", "out.mp4", "--input-format", "nut"],
        "cannot open input",
    );
    assert_fails(
        &[
            "--input-format",
            "lavfi",
            "sine=duration=1",
            "-o",
            "out.mp4",
        ],
        "no video stream",
    );
    assert_fails(
        &[&lavfi[..], &["-o", "out.mp4", "--format", "nosuch"]].concat(),
        "nosuch",
    );
    assert_fails(
        &[&lavfi[..], &["-o", "out.mp4", "--codec", "nosuch"]].concat(),
        "nosuch",
    );
    assert_fails(&[&lavfi[..], &["-o", "out.nosuch"]].concat(), "nosuch");
    assert_fails(&[&lavfi[..], &["-o", "no/dir/out.mp4"]].concat(), "no/dir");
    assert_fails(
        &[
            &lavfi[..],
            &["-o", "out.mp4", "--input-option", "bogus_option=1"],
        ]
        .concat(),
        "bogus_option",
    );
}

#[test]
fn text_file_is_not_media() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notes.mp4"),
        "not a video at all\n".repeat(100),
    )
    .unwrap();
    let result = video(&style(dir.path()))
        .args(["notes.mp4", "-o", "out.mp4"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, "notes.mp4");
    assert!(!dir.path().join("out.mp4").exists());
}

#[test]
fn truncated_video_keeps_what_decodes_and_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mkv");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=96x64:rate=10:duration=4",
        ])
        .args(["-c:v", "libx264", "-g", "5", "-y"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("out.mp4");
    let result = video(&style(dir.path()))
        .arg(&cut)
        .args([
            "-o",
            out.to_str().unwrap(),
            "--size",
            "32",
            "--iterations",
            "1",
        ])
        .output()
        .unwrap();
    let frames = assert_one_warning(&result, &out, "cut.mkv'");
    assert!((6..40).contains(&frames), "{frames} frames");
}

/// Asserts a run that succeeded with one line on stderr, a warning that counts the damaged or
/// missing frames of `input` and says how many frames `out` has (checked by decoding it);
/// returns that count.
fn assert_one_warning(result: &std::process::Output, out: &Path, input: &str) -> u64 {
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("warning: "), "{line}");
    assert!(line.contains(input), "{line}");
    let lost: u64 = line["warning: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"));
    assert!(lost > 0, "{line}");
    assert!(line.contains("damaged or missing"), "{line}");
    let (frames, ..) = probe(out, "v").expect("the output plays");
    assert!(
        line.ends_with(&format!("has {frames} frames")),
        "{line} (the output has {frames})"
    );
    frames
}

#[test]
fn damaged_frames_are_counted_in_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mkv");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=96x64:rate=10:duration=4")
        .args(["-c:v", "libx264", "-g", "5", "-y"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(status.success());
    // Bytes flipped in a third of the way in: macroblocks the decoder patches up.
    let mut bytes = std::fs::read(&full).unwrap();
    let from = bytes.len() / 3;
    for i in (from..from + 2000).step_by(97) {
        bytes[i] ^= 0xff;
    }
    let damaged = dir.path().join("damaged.mkv");
    std::fs::write(&damaged, &bytes).unwrap();
    let out = dir.path().join("out.mp4");
    let result = video(&style(dir.path()))
        .arg(&damaged)
        .arg("-o")
        .arg(&out)
        .args(["--size", "32", "--iterations", "1"])
        .output()
        .unwrap();
    let frames = assert_one_warning(&result, &out, "damaged.mkv'");
    assert!((30..=40).contains(&frames), "{frames} frames");
}

/// Peak resident memory (KiB, as `/usr/bin/time` measures it) of stylizing `frames` frames of a
/// generated 320×240 clip with the tiny model.
fn peak_rss_kib(style: &Path, dir: &Path, frames: u32) -> u64 {
    let out = dir.join(format!("long{frames}.mp4"));
    let video = video(style);
    let result = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib=%M"])
        .arg(video.get_program())
        .args(video.get_args())
        .args(["--input-format", "lavfi", "testsrc2=size=320x240:rate=25"])
        .args(["--frames", &frames.to_string(), "-o", out.to_str().unwrap()])
        .args(["--size", "48", "--iterations", "2,1"])
        .output()
        .expect("/usr/bin/time runs (scripts/setup.sh installs it)");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert_eq!(probe(&out, "v").map(|p| p.0), Some(u64::from(frames)));
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {stderr}"))
}

#[test]
fn memory_stays_flat_however_long_the_video_is() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    // 100 frames fill the encoder's look-ahead and every channel; 1,000 must need no more.
    let short = peak_rss_kib(&style, dir.path(), 100);
    let long = peak_rss_kib(&style, dir.path(), 1000);
    assert!(
        long as f64 <= short as f64 * 1.05 + 2048.0,
        "peak RSS grew from {short} KiB (100 frames) to {long} KiB (1,000 frames)"
    );
}

#[test]
fn unknown_flow_preset_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=1",
        ])
        .args(["-o", "out.mp4", "--flow-preset", "slow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&result, 2, "not a flow preset");
    assert_eq!(files_in(dir.path()), ["style.png"]);
}

#[test]
fn the_output_is_never_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let clip = dir.path().join("clip.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5:duration=1",
        ])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(made.success());
    let kept = std::fs::read(&clip).unwrap();
    for args in [
        vec!["clip.mp4", "-o", "clip.mp4"],
        vec!["clip.mp4", "-o", "out.mp4", "--stats", "clip.mp4"],
    ] {
        let result = video(&style)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_one_line_error(&result, 1, "is the input video");
    }
    assert_eq!(std::fs::read(&clip).unwrap(), kept, "the input was changed");
    assert!(!dir.path().join("out.mp4").exists());
}

#[test]
fn a_failed_run_leaves_what_was_at_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, b"an earlier render").unwrap();
    // A start past the end: no frames to write.
    let result = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=1",
        ])
        .args(["-o", "out.mp4", "--start", "100", "-y"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, "no video frames");
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier render");
    let mut left = files_in(dir.path());
    left.sort();
    assert_eq!(
        left,
        ["out.mp4", "style.png"],
        "a temporary file was left behind"
    );
}

#[test]
fn a_failed_run_leaves_a_link_at_the_output_and_what_it_points_to() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let target = dir.path().join("earlier.mp4");
    std::fs::write(&target, b"an earlier render").unwrap();
    std::os::unix::fs::symlink("earlier.mp4", dir.path().join("out.mp4")).unwrap();
    let result = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=1",
        ])
        .args(["-o", "out.mp4", "--start", "100", "-y"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, "no video frames");
    let link = std::fs::read_link(dir.path().join("out.mp4")).expect("still a link");
    assert_eq!(link, Path::new("earlier.mp4"));
    assert_eq!(std::fs::read(&target).unwrap(), b"an earlier render");
}

#[test]
fn a_stats_file_that_cannot_be_written_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=1",
        ])
        .args(["-o", "out.mp4", "--stats", "missing/stats.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(
        &result,
        1,
        "cannot write statistics to 'missing/stats.json'",
    );
    assert_eq!(files_in(dir.path()), ["style.png"], "a render was made");
}

#[test]
fn a_killed_run_leaves_what_was_at_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, b"an earlier render").unwrap();
    let mut child = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=60",
        ])
        .args(["-o", "out.mp4", "--iterations", "5,5", "-y"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once it is writing, let it go on a moment, then kill it as a crash or a power cut would.
    let partial = || files_in(dir.path()).iter().any(|n| n.ends_with(".part"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !partial() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial(), "the render never started writing");
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier render");
}

#[test]
fn odd_output_sizes_are_cropped_to_what_the_encoder_takes() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=0.4",
        ])
        .args(["-o", "out.mp4", "--size", "32", "--iterations", "2,1"])
        .args(["--output-size", "81x61"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_success(&result);
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(dir.path().join("out.mp4"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "80,60");
}

#[test]
fn a_gif_output_gets_the_gif_codec() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = video(&style)
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=0.6",
        ])
        .args(["-o", "out.gif", "--size", "32", "--iterations", "2,1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_success(&result);
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_name,nb_read_frames", "-of", "csv=p=0"])
        .arg(dir.path().join("out.gif"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "gif,3");
}

/// An MKV whose sound outlasts its video, or starts before it, is a valid file, not a damaged one.
#[test]
fn audio_longer_than_the_video_or_starting_before_it_is_no_damage() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let cases: [(&str, &[&str]); 2] = [
        ("long_audio.mkv", &[]),
        ("early_audio.mkv", &["-itsoffset", "0.6"]),
    ];
    for (name, video_offset) in cases {
        let made = std::process::Command::new("ffmpeg")
            .args(["-v", "error"])
            .args(video_offset)
            .args(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=1"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=3"])
            .args(["-c:v", "libx264", "-c:a", "libvorbis", name])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(made.success());
        let result = video(&style)
            .args([
                name,
                "-o",
                "out.mkv",
                "-y",
                "--size",
                "32",
                "--iterations",
                "2,1",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_success(&result);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!stderr.contains("warning"), "{name}: {stderr}");
    }
}

#[test]
fn first_frame_runs_coarse_to_fine_and_warm_frames_stop_on_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let stats = dir.path().join("stats.json");
    let result = video(&style(dir.path()))
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=160x120:rate=10:duration=1",
        ])
        .args(["-o", out.to_str().unwrap(), "--frames", "4"])
        .args(["--size", "64", "--levels", "2", "--iterations", "20,200"])
        .args(["--tolerance", "0.2", "--stats", stats.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let (frames, _, w, h, _) = probe(&out, "v").expect("a video stream");
    assert_eq!((frames, w, h), (4, 160, 120));
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let frames = stats["frames"].as_array().unwrap();
    let levels = frames[0]["levels"]
        .as_array()
        .expect("the first frame's levels");
    let sizes: Vec<(u64, u64)> = levels
        .iter()
        .map(|l| (l["width"].as_u64().unwrap(), l["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [(32, 24), (64, 48)]);
    for frame in &frames[1..] {
        assert!(frame.get("levels").is_none(), "{frame}");
        assert_eq!(frame["stop"], "tolerance", "{frame}");
        assert!(frame["iterations"].as_u64().unwrap() < 200, "{frame}");
    }
}

/// By default the stopping rule ends the warm frames of a still shot (fresh noise, nothing moves)
/// early, while the first frame runs its whole budget; `--tolerance 0` lets them run on.
#[test]
fn warm_frames_of_a_still_shot_stop_on_the_default_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let run = |extra: &[&str]| {
        let stats = dir.path().join("stats.json");
        let result = video(&style)
            .args(["--input-format", "lavfi"])
            .arg("smptebars=size=160x120:rate=10:duration=0.4,noise=alls=20:allf=t")
            .args(["-o", dir.path().join("out.mp4").to_str().unwrap(), "-y"])
            .args(["--size", "32", "--iterations", "100,200"])
            .args(["--stats", stats.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert_success(&result);
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        let frames = stats["frames"].as_array().unwrap().clone();
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0]["iterations"], 100, "{}", frames[0]);
        assert_eq!(frames[0]["stop"], "iterations", "{}", frames[0]);
        frames[1..]
            .iter()
            .map(|f| {
                (
                    f["stop"].as_str().unwrap().to_owned(),
                    f["iterations"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    // Each warm frame stops early, most on the rule (L-BFGS may see a frame converged first).
    let stops = run(&[]);
    for (stop, iterations) in &stops {
        assert!(
            ["tolerance", "converged"].contains(&stop.as_str()),
            "{stops:?}"
        );
        assert!(*iterations < 200, "{stops:?}");
    }
    assert!(
        stops.iter().any(|(stop, _)| stop == "tolerance"),
        "{stops:?}"
    );
    for (stop, _) in run(&["--tolerance", "0"]) {
        assert_ne!(stop, "tolerance");
    }
}

/// `-o frames/%04d.png`, as ffmpeg users write it: one picture per frame, numbered from 1, at the
/// output size, each stylized (not the input frame) and the run's other figures unchanged.
#[test]
fn numbered_pictures_like_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let pattern = frames.join("%04d.png");
    let source = "testsrc2=size=160x120:rate=25:duration=0.2";
    let result = video(&style(dir.path()))
        .args(["--input-format", "lavfi", source, "-o"])
        .arg(&pattern)
        .args([
            "--size",
            "48",
            "--iterations",
            "6,3",
            "--output-size",
            "96x72",
        ])
        .output()
        .unwrap();
    assert_success(&result);
    assert_eq!(
        files_in(&frames),
        ["0001.png", "0002.png", "0003.png", "0004.png", "0005.png"]
    );
    // The input's own frames, at the same size, to tell the stylized pictures from them.
    let raw = dir.path().join("raw%04d.png");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            source,
            "-vf",
            "scale=96:72",
        ])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(made.success());
    for n in 1..=5 {
        let picture = image::open(frames.join(format!("{n:04}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(picture.dimensions(), (96, 72));
        let original = image::open(dir.path().join(format!("raw{n:04}.png")))
            .unwrap()
            .to_rgb8();
        let difference: f64 = picture
            .as_raw()
            .iter()
            .zip(original.as_raw())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / picture.as_raw().len() as f64;
        assert!(difference > 10.0, "frame {n} is the input ({difference})");
    }
    // A folder that is not there is refused before any work.
    let missing = dir.path().join("nowhere/%04d.png");
    let result = video(&style(dir.path()))
        .args(["--input-format", "lavfi", source, "-o"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, "does not exist");
}

/// The codec of each stream of `path`, as ffprobe names them.
fn codecs(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// When FFmpeg shows each decoded video frame of `path`, in seconds (its `showinfo` filter).
fn frame_times(path: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-vf", "showinfo", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    String::from_utf8_lossy(&out.stderr)
        .split("pts_time:")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn mpeg_ps_and_ogg_outputs_take_their_own_audio_codec() {
    // lavfi's sine is PCM, which neither MPEG-PS nor Ogg takes.
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=64x48:rate=5:duration=2")
        .args(["-f", "lavfi", "-i", "sine=duration=2"])
        .args(["-c:v", "libx264", "-c:a", "aac", "aac.mp4"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(made.success());
    let lavfi = |sound| match sound {
        true => "testsrc2=size=64x48:rate=5:duration=2[out0];sine=duration=2[out1]",
        false => "testsrc2=size=64x48:rate=5:duration=2",
    };
    let cases = [
        ("sound.mpg", true, ["h264", "mp2"].as_slice()),
        ("silent.mpg", false, ["h264"].as_slice()),
        ("aac.mpg", true, ["h264", "mp2"].as_slice()),
        ("sound.ogv", true, ["theora", "vorbis"].as_slice()),
        ("sound.mkv", true, ["h264", "pcm_s16le"].as_slice()),
        ("aac.mkv", true, ["h264", "aac"].as_slice()),
        ("sound.mp4", true, ["h264", "aac"].as_slice()),
    ];
    for (name, sound, expected) in cases {
        let input: &[&str] = match name.starts_with("aac") {
            true => &["aac.mp4"],
            false => &["--input-format", "lavfi", lavfi(sound)],
        };
        let result = video(&style)
            .args(input)
            .args(["-o", name])
            .args(["--size", "32", "--iterations", "2,1"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_success(&result);
        let out = dir.path().join(name);
        assert_eq!(codecs(&out), expected, "{name}");
        let (frames, ..) = probe(&out, "v").expect("the output plays");
        // Theora sends a frame equal to the one before as an empty packet, which Ogg leaves out.
        if !name.ends_with(".ogv") {
            assert_eq!(frames, 10, "{name}");
            // MPEG-PS stamps few frames: a player times the others by the stream's own rate
            // (wrong when it was the MP4's clock, 1/10240 s).
            let times = frame_times(&out);
            assert_eq!(times.len(), 10, "{name}");
            for pair in times.windows(2) {
                assert!((pair[1] - pair[0] - 0.2).abs() < 1e-3, "{name}: {times:?}");
            }
        }
        if sound {
            let (packets, ..) = probe(&out, "a").expect("the sound plays");
            assert!(packets > 0, "{name}");
        }
    }
}
