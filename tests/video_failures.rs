//! `stylize video` when something goes wrong: Ctrl-C, broken pipes, bad, damaged or truncated
//! inputs, outputs that must not be overwritten or left half-written.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::video::{lavfi_video, probe, style, video};
use common::*;

/// ffmpeg's arguments for a 4-second H.264 clip with a key frame every 5 frames, to damage.
const H264_CLIP: [&str; 8] = [
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=96x64:rate=10:duration=4",
    "-c:v",
    "libx264",
    "-g",
    "5",
];

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
    ffmpeg(&H264_CLIP, &full);
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
    ffmpeg(&H264_CLIP, &full);
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

#[test]
fn unknown_flow_preset_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = on_pattern(
        dir.path(),
        &style,
        &["-o", "out.mp4", "--flow-preset", "slow"],
    );
    assert_one_line_error(&result, 2, "not a flow preset");
    assert_eq!(files_in(dir.path()), ["style.png"]);
}

#[test]
fn the_output_is_never_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let clip = dir.path().join("clip.mp4");
    ffmpeg(
        &["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=1"],
        &clip,
    );
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
    let result = on_pattern(
        dir.path(),
        &style,
        &["-o", "out.mp4", "--start", "100", "-y"],
    );
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
    let result = on_pattern(
        dir.path(),
        &style,
        &["-o", "out.mp4", "--start", "100", "-y"],
    );
    assert_one_line_error(&result, 1, "no video frames");
    let link = std::fs::read_link(dir.path().join("out.mp4")).expect("still a link");
    assert_eq!(link, Path::new("earlier.mp4"));
    assert_eq!(std::fs::read(&target).unwrap(), b"an earlier render");
}

#[test]
fn a_stats_file_that_cannot_be_written_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = on_pattern(
        dir.path(),
        &style,
        &["-o", "out.mp4", "--stats", "missing/stats.json"],
    );
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
    let mut child = lavfi_video(&style, "testsrc2=size=64x48:rate=5:duration=60")
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

/// `stylize video` in `dir` on a one-second test pattern, with `args`.
fn on_pattern(dir: &Path, style: &Path, args: &[&str]) -> Output {
    lavfi_video(style, "testsrc2=size=64x48:rate=5:duration=1")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}
