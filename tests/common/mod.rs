//! Helpers shared by the integration tests: the real binary, the exported models, generated images.

#![allow(dead_code)]

pub mod cluster;
pub mod video;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

/// The project's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tiny random-weight model (scripts/setup.sh exports it).
pub fn tiny_model() -> PathBuf {
    root().join("models/tiny")
}

/// The real VGG19 model.
pub fn vgg19_model() -> PathBuf {
    root().join("models/vgg19")
}

/// The `stylize` binary under test.
pub fn stylize() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stylize"));
    cmd.env_remove("RUST_LOG").env_remove("RUST_BACKTRACE");
    cmd
}

/// A smooth colourful photograph stand-in: gradients and a disc.
pub fn write_content(path: &Path, width: u32, height: u32) {
    let img = RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let d = ((fx - 0.5).powi(2) + (fy - 0.5).powi(2)).sqrt();
        if d < 0.25 {
            Rgb([230, 200, 40])
        } else {
            Rgb([(fx * 200.0) as u8 + 20, (fy * 150.0) as u8 + 40, 160])
        }
    });
    img.save(path).expect("write test content image");
}

/// A style stand-in: sharp diagonal stripes in two colours.
pub fn write_style(path: &Path, width: u32, height: u32) {
    let img = RgbImage::from_fn(width, height, |x, y| {
        if ((x + y) / 4) % 2 == 0 {
            Rgb([200, 30, 30])
        } else {
            Rgb([20, 30, 120])
        }
    });
    img.save(path).expect("write test style image");
}

/// Asserts a failed run: the exit code, and one line on stderr that starts with `error:` and contains `needle`.
pub fn assert_one_line_error(output: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(
        lines[0].starts_with("error: "),
        "not an error line: {stderr}"
    );
    assert!(
        lines[0].to_lowercase().contains(&needle.to_lowercase()),
        "'{needle}' not in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
}

/// The names of the files in `dir`.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read test dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `stylize image CONTENT --style STYLE -o OUT --model MODEL`, for a test to add options to.
pub fn image_command(content: &Path, style: &Path, out: &Path, model: &Path) -> Command {
    let mut cmd = stylize();
    cmd.arg("image")
        .arg(content)
        .arg("--style")
        .arg(style)
        .arg("-o")
        .arg(out)
        .arg("--model")
        .arg(model);
    cmd
}

/// Asserts that a run succeeded, showing its stderr when it did not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `ffmpeg -v error ARGS -y OUT` (to make a test's input) and checks that it succeeded.
pub fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(args)
        .arg("-y")
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make {}", out.display());
}

/// The JSON a run wrote to `path` (`--stats`).
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
