//! Helpers of the `stylize video` tests: the tiny model's command and ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// `ffprobe` of one stream kind: (frames counted by decoding, duration, width, height, rate).
pub fn probe(path: &Path, kind: &str) -> Option<(u64, f64, u32, u32, String)> {
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

pub fn style(dir: &Path) -> PathBuf {
    let path = dir.join("style.png");
    write_style(&path, 64, 64);
    path
}

/// `stylize video` with the tiny model on the CPU, quietly.
pub fn video(style: &Path) -> Command {
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

/// [`video`] on a lavfi `graph` (`--input-format lavfi`).
pub fn lavfi_video(style: &Path, graph: &str) -> Command {
    let mut cmd = video(style);
    cmd.args(["--input-format", "lavfi", graph]);
    cmd
}
