//! Helpers of the cluster tests: a clip with sound, its plan, segments and join, and ffprobe's
//! view of the joined file against a one-piece render.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::*;

/// Frames in the clip: 4 s at 10 frames a second, a key frame every 10.
pub const FRAMES: usize = 40;

/// A test folder with the clip (testsrc2 and a tone, H.264 and AAC in MP4) and a style image.
pub fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x72:rate=10:duration=4",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=4",
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
        &dir.path().join("clip.mp4"),
    );
    write_style(&dir.path().join("style.png"), 64, 64);
    dir
}

/// The iterations of the tests' renders (FIRST,REST).
pub const QUICK: &str = "6,3";

/// The settings every command of a test's render takes.
pub fn settings(input: &str, iterations: &str) -> Vec<String> {
    let model = tiny_model().display().to_string();
    let args = [
        input,
        "-s",
        "style.png",
        "--model",
        &model,
        "--size",
        "32",
        "--iterations",
        iterations,
        "--device",
        "cpu",
        "--threads",
        "1",
        // Every frame its whole budget, so that a segment takes as long as the test expects.
        "--tolerance",
        "0",
    ];
    args.iter().map(|s| s.to_string()).collect()
}

/// `stylize join plan.json -o joined.mp4` in `d`.
pub fn join(d: &Path) -> Output {
    stylize()
        .args(["join", "plan.json", "-o", "joined.mp4"])
        .current_dir(d)
        .output()
        .unwrap()
}

/// Joins the parts in `d` and checks that the joined video has every frame of the clip.
pub fn assert_joined_whole(d: &Path) {
    assert_success(&join(d));
    assert_eq!(
        probe(&d.join("joined.mp4"), "v", "packet=pts").len(),
        FRAMES
    );
}

/// `stylize SUBCOMMAND` in `dir` with the clip's settings (`iterations`) and `more`.
pub fn run_with(dir: &Path, iterations: &str, subcommand: &str, more: &[&str]) -> Output {
    stylize()
        .arg(subcommand)
        .args(settings("clip.mp4", iterations))
        .args(more)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `stylize SUBCOMMAND` in `dir` with the clip's quick settings and `more`.
pub fn run(dir: &Path, subcommand: &str, more: &[&str]) -> Output {
    run_with(dir, QUICK, subcommand, more)
}

/// Plans the clip in `dir` as `segments` segments with `overlap` warm-up frames.
pub fn plan(dir: &Path, segments: u32, overlap: u32) {
    let out = run(
        dir,
        "plan",
        &[
            "-o",
            "plan.json",
            "--segments",
            &segments.to_string(),
            "--overlap",
            &overlap.to_string(),
        ],
    );
    assert_success(&out);
}

/// Renders segment `k` of `dir`'s plan into `parts/`.
pub fn segment(dir: &Path, k: usize) -> Output {
    run(
        dir,
        "video",
        &[
            "--plan",
            "plan.json",
            "--segment",
            &k.to_string(),
            "-o",
            "parts/",
            "-q",
        ],
    )
}

/// ffprobe's `entries` of `stream` (v or a) in `path`, one line each.
pub fn probe(path: &Path, stream: &str, entries: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            entries,
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end_matches(',').to_string())
        .collect()
}

/// A stream's duration in seconds.
pub fn duration(path: &Path, stream: &str) -> f64 {
    probe(path, stream, "stream=duration")[0].parse().unwrap()
}

/// Checks `joined` against `whole`: the same video frames at the same timestamps, the same sound
/// packets (timestamps and sizes), the same durations within a frame of sound.
pub fn assert_same_timing(joined: &Path, whole: &Path) {
    let sorted = |p: &Path| {
        let mut pts: Vec<i64> = probe(p, "v", "packet=pts")
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        pts.sort();
        pts
    };
    let (a, b) = (sorted(joined), sorted(whole));
    assert_eq!(a.len(), FRAMES);
    assert_eq!(a, b, "video timestamps");
    assert_eq!(
        probe(joined, "v", "stream=time_base"),
        probe(whole, "v", "stream=time_base")
    );
    let sound = |p: &Path| probe(p, "a", "packet=pts,size");
    assert_eq!(sound(joined), sound(whole), "sound packets");
    assert_eq!(
        sound(whole),
        sound(&joined.with_file_name("clip.mp4")),
        "sound of the input"
    );
    assert!((duration(joined, "v") - duration(whole, "v")).abs() < 1e-6);
    assert!((duration(joined, "a") - duration(whole, "a")).abs() < 0.03);
    // It plays: every frame decodes.
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(joined)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert_success(&decoded);
}

/// The one-piece render of the clip in `dir`.
pub fn one_piece(dir: &Path) -> PathBuf {
    let out = run(dir, "video", &["-o", "whole.mp4", "-q"]);
    assert_success(&out);
    dir.join("whole.mp4")
}
