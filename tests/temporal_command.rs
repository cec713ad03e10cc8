//! Temporal coherence end to end: `stylize metrics` on videos with known flicker, and the
//! flow-warped start of `stylize video` against the unwarped one, on clips made with FFmpeg.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::video::{probe, style, video};
use common::*;

/// A clip in which everything moves: a 160×120 window panning 2 px per frame across a smooth
/// generated texture, `frames` frames at 25 fps.
fn moving_clip(dir: &Path, frames: u32) -> PathBuf {
    let texture = dir.join("texture.png");
    image::RgbImage::from_fn(320, 160, |x, y| {
        let (x, y) = (x as f32, y as f32);
        let wave = |a: f32, b: f32, phase: f32| (a * x + b * y + phase).sin();
        let channel = |c: f32| {
            let v = 0.5
                + 0.2 * wave(0.21, 0.07, c)
                + 0.15 * wave(-0.05, 0.17, 2.0 * c + 1.0)
                + 0.1 * wave(0.11, -0.13, 3.0 - c);
            (v.clamp(0.0, 1.0) * 255.0) as u8
        };
        image::Rgb([channel(0.0), channel(1.0), channel(2.0)])
    })
    .save(&texture)
    .unwrap();
    let path = dir.join("moving.mp4");
    ffmpeg(
        &[
            "-loop",
            "1",
            "-framerate",
            "25",
            "-i",
            texture.to_str().unwrap(),
            "-vf",
            "crop=160:120:x='2*n':y=20,format=yuv420p",
            "-frames:v",
            &frames.to_string(),
            "-c:v",
            "libx264",
            "-crf",
            "12",
        ],
        &path,
    );
    path
}

/// `stylize metrics --json` (at `--size 80` unless `extra` says otherwise): the parsed report.
fn metrics(original: &Path, stylized: &Path, extra: &[&str]) -> serde_json::Value {
    let size = if extra.contains(&"--size") {
        &[][..]
    } else {
        &["--size", "80"][..]
    };
    let out = stylize()
        .args(["metrics", "--json"])
        .args(size)
        .arg("--original")
        .arg(original)
        .arg("--stylized")
        .arg(stylized)
        .args(extra)
        .output()
        .unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("metrics prints JSON")
}

fn mean_error(report: &serde_json::Value) -> f64 {
    report["mean"]["warping_error"]
        .as_f64()
        .expect("a mean warping error")
}

#[test]
fn metrics_of_a_video_against_itself_and_a_lagging_copy() {
    let dir = tempfile::tempdir().unwrap();
    let clip = moving_clip(dir.path(), 12);
    // The original is perfectly coherent with its own motion.
    let same = metrics(&clip, &clip, &[]);
    assert_eq!(same["frames"].as_array().unwrap().len(), 12);
    assert!(mean_error(&same) < 2e-4, "{same}");

    // A copy that holds every other frame twice jumps against the motion: clear flicker.
    let lagging = dir.path().join("lagging.mp4");
    ffmpeg(
        &[
            "-i",
            clip.to_str().unwrap(),
            "-vf",
            "fps=12.5,fps=25",
            "-frames:v",
            "12",
            "-c:v",
            "libx264",
            "-crf",
            "12",
        ],
        &lagging,
    );
    let lag = metrics(&clip, &lagging, &[]);
    assert!(
        mean_error(&lag) > 20.0 * mean_error(&same).max(1e-5),
        "same {same}\nlagging {lag}"
    );
}

#[test]
fn metrics_report_style_and_content_losses_with_a_style() {
    let dir = tempfile::tempdir().unwrap();
    let clip = moving_clip(dir.path(), 12);
    let style = dir.path().join("style.png");
    write_style(&style, 64, 64);
    let model = tiny_model();
    let report = metrics(
        &clip,
        &clip,
        &[
            "--style",
            style.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--device",
            "cpu",
            "--frames",
            "3",
        ],
    );
    let frames = report["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    for f in frames {
        assert!(f["style_loss"].as_f64().unwrap() > 0.0, "{f}");
        // The content target is the original frame itself.
        assert!(f["content_loss"].as_f64().unwrap() < 1e-6, "{f}");
    }
}

#[test]
fn metrics_bad_inputs_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let clip = moving_clip(dir.path(), 12);
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a video").unwrap();
    let cases: [(&Path, &Path, &str); 3] = [
        (&dir.path().join("missing.mp4"), &clip, "missing.mp4"),
        (&clip, &text, "notes.txt"),
        (&clip, &dir.path().join("missing.mp4"), "missing.mp4"),
    ];
    for (original, stylized, needle) in cases {
        let out = stylize()
            .args(["metrics", "--original"])
            .arg(original)
            .arg("--stylized")
            .arg(stylized)
            .output()
            .unwrap();
        assert_one_line_error(&out, 1, needle);
    }
}

#[test]
fn metrics_refuses_videos_of_other_lengths_or_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let clip = moving_clip(dir.path(), 12);
    let derived = |name: &str, args: &[&str]| {
        let path = dir.path().join(name);
        let input = ["-i", clip.to_str().unwrap()];
        ffmpeg(
            &[&input, args, &["-c:v", "libx264", "-crf", "12"]].concat(),
            &path,
        );
        path
    };
    let shorter = derived("shorter.mp4", &["-frames:v", "8"]);
    let larger = derived("larger.mp4", &["-vf", "scale=320:240"]);
    let wider = derived("wider.mp4", &["-vf", "scale=200:120"]);
    let run = |original: &Path, stylized: &Path, extra: &[&str]| {
        stylize()
            .args(["metrics", "--size", "64", "--original"])
            .arg(original)
            .arg("--stylized")
            .arg(stylized)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&clip, &shorter, &[]);
    assert_one_line_error(&out, 1, "moving.mp4' has 12 frames, the other 8");
    assert_one_line_error(&out, 1, "--frames 8");
    let out = run(&shorter, &clip, &[]);
    assert_one_line_error(&out, 1, "the videos differ in length");
    // The first 8 frames, asked for, are compared.
    assert_success(&run(&clip, &shorter, &["--frames", "8"]));
    for other in [&larger, &wider] {
        let out = run(&clip, other, &[]);
        assert_one_line_error(&out, 1, "the videos differ in size: ");
        assert_one_line_error(&out, 1, "is 160x120");
    }
}

/// With the real VGG19 at a small size: painted strokes that stay put while the picture pans
/// (`--init prev`) flicker against the motion; carried along the flow (`prev-warped`) they do not.
#[test]
fn flow_warped_start_flickers_less_than_the_unwarped_one() {
    let dir = tempfile::tempdir().unwrap();
    let clip = moving_clip(dir.path(), 6);
    let style = dir.path().join("style.png");
    write_style(&style, 64, 64);
    let mut errors = Vec::new();
    for init in ["prev", "prev-warped"] {
        let out = dir.path().join(format!("{init}.mp4"));
        let result = stylize()
            .arg("video")
            .arg(&clip)
            .arg("--style")
            .arg(&style)
            .arg("-o")
            .arg(&out)
            .args([
                "--model",
                vgg19_model().to_str().unwrap(),
                "--device",
                "cpu",
            ])
            .args(["--size", "64", "--iterations", "30,8", "--init", init])
            .args(["--temporal-weight", "0", "-q"])
            .output()
            .unwrap();
        assert_success(&result);
        errors.push(mean_error(&metrics(&clip, &out, &["--size", "64"])));
    }
    assert!(
        errors[1] < 0.5 * errors[0],
        "warping error: prev {}, prev-warped {}",
        errors[0],
        errors[1]
    );
}

/// Mean absolute difference (0–255) between the first frame of `video` and `image`, both scaled
/// to the image's size by FFmpeg.
fn first_frame_difference(video: &Path, image: &Path) -> f64 {
    let picture = image::open(image).unwrap().to_rgb8();
    let (w, h) = picture.dimensions();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-frames:v", "1", "-vf", &format!("scale={w}:{h}")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    let sum: f64 = out
        .stdout
        .iter()
        .zip(picture.as_raw())
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
        .sum();
    sum / picture.as_raw().len() as f64
}

/// `--first-frame`: the given picture is the first frame (not optimized: its stats show no
/// iterations), the later frames go on from it; a picture of the wrong size is one line, exit 1.
#[test]
fn a_given_first_frame_is_used_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let clip = moving_clip(dir.path(), 3);
    let style = dir.path().join("style.png");
    write_style(&style, 48, 48);
    // 160×120 at --size 64: 64×48. A picture unlike anything the optimizer would paint.
    let first = dir.path().join("first.png");
    image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([
            (x * 4) as u8,
            (y * 5) as u8,
            if (x / 8 + y / 8) % 2 == 0 { 30 } else { 220 },
        ])
    })
    .save(&first)
    .unwrap();
    let run = |picture: &Path, out: &Path, stats: &Path| {
        stylize()
            .arg("video")
            .arg(&clip)
            .arg("--style")
            .arg(&style)
            .arg("-o")
            .arg(out)
            .arg("--first-frame")
            .arg(picture)
            .args(["--model", tiny_model().to_str().unwrap(), "--device", "cpu"])
            .args(["--size", "64", "--iterations", "50,3", "--crf", "0", "-q"])
            .arg("--stats")
            .arg(stats)
            .output()
            .unwrap()
    };
    let (out, stats) = (dir.path().join("out.mp4"), dir.path().join("stats.json"));
    assert_success(&run(&first, &out, &stats));
    let stats: serde_json::Value = read_json(&stats);
    let iterations: Vec<u64> = stats["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["iterations"].as_u64().unwrap())
        .collect();
    assert_eq!(iterations, [0, 3, 3]);
    // Scaled to 160×120 and back, through yuv420p: within a few levels of the given picture.
    let difference = first_frame_difference(&out, &first);
    assert!(difference < 12.0, "first frame differs by {difference}");

    let small = dir.path().join("small.png");
    image::RgbImage::new(32, 24).save(&small).unwrap();
    let result = run(
        &small,
        &dir.path().join("bad.mp4"),
        &dir.path().join("bad.json"),
    );
    assert_one_line_error(&result, 1, "is 32x24, but the frames are stylized at 64x48");
}

/// `stylize video` of a second of FFmpeg's test pattern (160×120, 10 fps) into `dir`/out.mp4 with
/// `args`; its `--stats`, once it succeeded.
fn on_test_pattern(dir: &Path, args: &[&str]) -> serde_json::Value {
    let stats = dir.join("stats.json");
    let result = video(&style(dir))
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=160x120:rate=10:duration=1",
        ])
        .args(["-o", dir.join("out.mp4").to_str().unwrap()])
        .args(args)
        .args(["--stats", stats.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&result);
    read_json(&stats)
}

#[test]
fn first_frame_runs_coarse_to_fine_and_warm_frames_stop_on_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let stats = on_test_pattern(
        dir.path(),
        &[
            "--frames",
            "4",
            "--size",
            "64",
            "--levels",
            "2",
            "--iterations",
            "20,200",
            "--tolerance",
            "0.2",
        ],
    );
    let (frames, _, w, h, _) = probe(&dir.path().join("out.mp4"), "v").expect("a video stream");
    assert_eq!((frames, w, h), (4, 160, 120));
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

/// By default the first frame runs coarse to fine on three levels, its iterations shared 6, 3, 4
/// (docs/COARSE_TO_FINE.md), each to the end of its share; warm frames run at full size.
#[test]
fn first_frame_defaults_to_three_levels_weighted_to_the_coarsest() {
    let dir = tempfile::tempdir().unwrap();
    let stats = on_test_pattern(
        dir.path(),
        &["--frames", "2", "--size", "128", "--iterations", "26,5"],
    );
    let frames = stats["frames"].as_array().unwrap();
    let levels: Vec<(u64, u64, u64)> = frames[0]["levels"]
        .as_array()
        .expect("the first frame's levels")
        .iter()
        .map(|l| {
            assert_eq!(l["stop"], "iterations", "{l}");
            let field = |k: &str| l[k].as_u64().unwrap();
            (field("width"), field("height"), field("iterations"))
        })
        .collect();
    assert_eq!(levels, [(32, 24, 12), (64, 48, 6), (128, 96, 8)]);
    assert!(frames[1].get("levels").is_none(), "{}", frames[1]);
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
        let stats: serde_json::Value = read_json(&stats);
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
