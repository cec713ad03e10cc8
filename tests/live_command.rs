//! `stylize live` and `stylize video --preview` in a window on a virtual X server (`xvfb-run`),
//! with FFmpeg's lavfi `testsrc2` standing in for the camera; keys are pressed with `xdotool` and
//! the screen is grabbed with ImageMagick's `import` (scripts/setup.sh installs all three).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use image::RgbImage;

const SOURCE: &str = "testsrc2=size=160x120:rate=25";

fn two_styles(dir: &Path) -> (PathBuf, PathBuf) {
    let stripes = dir.join("stripes.png");
    write_style(&stripes, 64, 64);
    let disc = dir.join("disc.png");
    write_content(&disc, 64, 64);
    (stripes, disc)
}

/// `stylize live` on the test pattern with the tiny model, small and quick, as a shell word list.
fn live_command(dir: &Path, extra: &str) -> String {
    let (stripes, disc) = two_styles(dir);
    format!(
        "{} live --input-format lavfi {SOURCE} -s {} -s {} --model {} --device cpu -q \
         --size 64 --iterations 4,2 --style-weight 1000 --save-dir {} --stats {} {extra}",
        env!("CARGO_BIN_EXE_stylize"),
        stripes.display(),
        disc.display(),
        tiny_model().display(),
        dir.display(),
        dir.join("stats.json").display(),
    )
}

/// Runs `script` (bash) inside `xvfb-run` with an 800×600 screen; `press KEY` holds a key for a
/// moment (minifb reads the keys' state once per frame).
fn under_xvfb(script: &str) -> Output {
    let script = format!(
        "set -u\npress() {{ xdotool keydown \"$1\"; sleep 0.5; xdotool keyup \"$1\"; sleep 0.2; }}\n{script}"
    );
    // `xvfb-run -a` takes the first free display from `-n`: tests running at once start apart.
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let first = 100 + std::process::id() % 100 * 10 + RUNS.fetch_add(1, Ordering::SeqCst);
    Command::new("timeout")
        .args(["120", "xvfb-run", "-a", "-n", &first.to_string()])
        .args(["-s", "-screen 0 800x600x24", "bash", "-c"])
        .arg(&script)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("xvfb-run runs (scripts/setup.sh installs xvfb, xdotool and imagemagick)")
}

/// Whether any process still has `marker` on its command line.
fn left_behind(marker: &str) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-a", "-f", marker])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn stats(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("stats.json")).expect("stats.json written");
    serde_json::from_str(&text).expect("stats.json is JSON")
}

/// Files in `dir` named `stylize-*.EXT`.
fn saved(dir: &Path, ext: &str) -> Vec<PathBuf> {
    files_in(dir)
        .into_iter()
        .filter(|n| n.starts_with("stylize-") && n.ends_with(ext))
        .map(|n| dir.join(n))
        .collect()
}

/// Mean absolute difference per channel of two images of the same size, 0–255.
fn difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// Each column's mean colour, as a picture of one row.
fn columns(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    RgbImage::from_fn(w, 1, |x, _| {
        let mut sum = [0u32; 3];
        for y in 0..h {
            for (s, v) in sum.iter_mut().zip(image.get_pixel(x, y).0) {
                *s += u32::from(v);
            }
        }
        image::Rgb(sum.map(|s| (s / h) as u8))
    })
}

/// Standard deviation of an image's values: 0 for a blank picture.
fn spread(image: &RgbImage) -> f64 {
    let raw = image.as_raw();
    let mean = raw.iter().map(|&v| f64::from(v)).sum::<f64>() / raw.len() as f64;
    (raw.iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / raw.len() as f64)
        .sqrt()
}

/// The first frame of the raw test pattern, scaled like the window scales it.
fn raw_pattern(dir: &Path, width: u32, height: u32) -> RgbImage {
    let path = dir.join("pattern.png");
    let scale = format!("scale={width}:{height}");
    ffmpeg(
        &["-f", "lavfi", "-i", SOURCE, "-frames:v", "1", "-vf", &scale],
        &path,
    );
    image::open(&path).unwrap().to_rgb8()
}

/// Frames ffprobe decodes from `path`.
fn frames_in(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn window_shows_stylized_frames_keys_steer_it_and_esc_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = format!(
        "{live} &\npid=$!\necho pid=$pid\n\
         xdotool search --sync --name 'stylize live' >/dev/null\n\
         sleep 4\n\
         press s; sleep 0.5\n\
         import -window root {root}\n\
         press r; sleep 1\n\
         press 2; press equal; press bracketright; press v; sleep 1.5\n\
         press s; sleep 0.5\n\
         press space; sleep 2; press space; sleep 1\n\
         press Escape\n\
         wait $pid; echo exit=$?\n",
        // Unwarped warm start, no temporal loss: the tiny model's style loss is small beside the
        // temporal term, which would hold the picture near the raw pattern this test tells apart.
        live = live_command(d, "--init prev --temporal-weight 0"),
        root = d.join("root.png").display()
    );
    let out = under_xvfb(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("exit=0"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        left_behind(&d.display().to_string()).is_empty(),
        "left behind: {:?}",
        left_behind(&d.display().to_string())
    );

    // It showed frames, with latency measured.
    let stats = stats(d);
    let shown = stats["displayed_frames"].as_u64().unwrap();
    assert!(shown >= 3, "{stats}");
    assert!(stats["latency_ms_median"].as_f64().unwrap() > 0.0);
    // `+` made it one more iteration per frame than --iterations 4,2 gives.
    let frames = stats["frames"].as_array().unwrap();
    assert_eq!(frames[1]["iterations"], 2, "{stats}");
    assert_eq!(frames.last().unwrap()["iterations"], 3, "{stats}");
    // Space paused it for over 2 seconds (the tiny model shows a frame every few tens of ms),
    // and Space again resumed it.
    let gaps: Vec<f64> = frames
        .windows(2)
        .map(|w| w[1]["shown_at"].as_f64().unwrap() - w[0]["shown_at"].as_f64().unwrap())
        .collect();
    let pause = (0..gaps.len())
        .max_by(|&a, &b| gaps[a].total_cmp(&gaps[b]))
        .unwrap();
    assert!(gaps[pause] > 2.0, "no pause: {gaps:?}");
    assert!(
        pause + 3 < gaps.len(),
        "no frames after the pause: {gaps:?}"
    );

    // The X server's screen: the window is there and not blank.
    let root = image::open(d.join("root.png")).unwrap().to_rgb8();
    assert!(spread(&root) > 20.0, "the screen is blank");

    // Two screenshots (S): the stylized view, then side by side after V.
    let shots = saved(d, ".png");
    assert_eq!(shots.len(), 2, "{:?}", files_in(d));
    let first = image::open(&shots[0]).unwrap().to_rgb8();
    let second = image::open(&shots[1]).unwrap().to_rgb8();
    assert_eq!(first.dimensions(), (640, 480));
    assert!(spread(&first) > 20.0, "the screenshot is blank");
    let pattern = raw_pattern(d, 640, 480);
    let stylized = difference(&first, &pattern);
    assert!(
        stylized > 12.0,
        "the screenshot is the raw pattern ({stylized})"
    );
    // Side by side: the left half holds the original at half the scale. The pattern's small
    // parts move, so its colour bars are compared: the mean colour of each column.
    let half = raw_pattern(d, 320, 240);
    let left = image::imageops::crop_imm(&second, 0, 120, 320, 240).to_image();
    let original = difference(&columns(&left), &columns(&half));
    let stylized = difference(&columns(&first), &columns(&pattern));
    eprintln!(
        "difference from the pattern: colour bars: stylized {stylized:.1}, side-by-side original {original:.1}"
    );
    assert!(
        original < stylized / 2.0,
        "left half is not the original ({original} vs {stylized})"
    );

    // R started a recording that Esc finished: a playable file with frames.
    let videos = saved(d, ".mp4");
    assert_eq!(videos.len(), 1, "{:?}", files_in(d));
    assert!(frames_in(&videos[0]) >= 1, "no frames in the recording");
}

#[test]
fn frames_limit_ends_the_run_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = under_xvfb(&format!("{}\necho exit=$?", live_command(d, "--frames 5")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("exit=0"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = stats(d);
    assert_eq!(stats["displayed_frames"], 5);
    assert!(stats["decoded_frames"].as_u64().unwrap() >= 5);
    // Each frame's evaluations (the start, then at least one an iteration) and the loss it
    // ended at, its terms adding up.
    for frame in stats["frames"].as_array().unwrap() {
        let iterations = frame["iterations"].as_u64().unwrap();
        assert!(iterations >= 2, "{frame}");
        assert!(
            frame["evaluations"].as_u64().unwrap() > iterations,
            "{frame}"
        );
        let loss = |term: &str| frame["loss"][term].as_f64().unwrap();
        let terms: f64 = ["content", "style", "tv", "temporal"]
            .map(loss)
            .iter()
            .sum();
        assert!(loss("style") > 0.0, "{frame}");
        assert!((loss("total") - terms).abs() <= 1e-3 * terms, "{frame}");
    }
    assert!(left_behind(&d.display().to_string()).is_empty());
}

#[test]
fn video_preview_still_encodes_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let style = d.join("style.png");
    write_style(&style, 64, 64);
    let out_file = d.join("out.mp4");
    let script = format!(
        "{} video --input-format lavfi testsrc2=size=160x120:rate=25:duration=1 -s {} -o {} \
         --model {} --device cpu -q --size 48 --iterations 4,2 --preview\necho exit=$?",
        env!("CARGO_BIN_EXE_stylize"),
        style.display(),
        out_file.display(),
        tiny_model().display()
    );
    let out = under_xvfb(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("exit=0"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(frames_in(&out_file), 25);
}

/// `stylize live` with the test pattern and the tiny model, outside any X server.
fn live_outside_x(dir: &Path) -> Command {
    let style = dir.join("style.png");
    write_style(&style, 32, 32);
    let mut cmd = stylize();
    cmd.arg("live")
        .arg("--style")
        .arg(&style)
        .args(["--model", tiny_model().to_str().unwrap(), "--device", "cpu"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    cmd
}

#[test]
fn without_a_display_one_line_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = live_outside_x(dir.path())
        .args(["--input-format", "lavfi", SOURCE])
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "no display");
    let out = live_outside_x(dir.path())
        .args(["--input-format", "lavfi", SOURCE])
        .env("DISPLAY", ":4321")
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        1,
        "no display: cannot open a window on X display ':4321'",
    );
    let out = live_outside_x(dir.path())
        .args(["--input-format", "lavfi", SOURCE])
        .args(["-o", "x.mp4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_window_times_the_live_loop_without_a_display() {
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    let out = live_outside_x(dir.path())
        .args([
            "--input-format",
            "lavfi",
            SOURCE,
            "--no-window",
            "--frames",
            "6",
        ])
        .args(["--size", "48", "--iterations", "4,2", "-q", "--stats"])
        .arg(&stats_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = read_json(&stats_path);
    assert_eq!(stats["displayed_frames"], 6);
    let frames = stats["frames"].as_array().unwrap();
    // Shown in order, each after its own stylizing: a latency no shorter than the work.
    let at: Vec<f64> = frames
        .iter()
        .map(|f| f["shown_at"].as_f64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    for frame in frames {
        let latency = frame["latency_ms"].as_f64().unwrap();
        assert!(latency >= frame["stylize_ms"].as_f64().unwrap(), "{frame}");
    }
    assert!(stats["displayed_fps"].as_f64().unwrap() > 0.0);
}

#[test]
fn without_a_camera_one_line_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let out = live_outside_x(dir.path())
        .args(["--camera", "/dev/video-not-there"])
        .env("DISPLAY", ":4321")
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "no camera: /dev/video-not-there does not exist");
    let out = live_outside_x(dir.path())
        .args(["--camera", "/dev/null"])
        .env("DISPLAY", ":4321")
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "cannot open camera '/dev/null' (is it a camera?)");
}

#[test]
fn bad_live_options_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        live_outside_x(dir.path())
            .args(["--input-format", "lavfi", SOURCE])
            .args(args)
            .env("DISPLAY", ":4321")
            .output()
            .unwrap()
    };
    // Bad usage that clap cannot check exits 2, as clap's own; a missing folder is not usage.
    assert_one_line_error(
        &run(&["--style-blend", "1"]),
        2,
        "--style-blend does not apply",
    );
    assert_one_line_error(&run(&["--save-dir", "/nonexistent"]), 1, "--save-dir");
    assert_one_line_error(&run(&["--camera-fps", "30"]), 2, "add --camera");
    let style = dir.path().join("style.png");
    let styles: Vec<&Path> = vec![style.as_path(); 9];
    let mut ten = live_outside_x(dir.path());
    for s in styles {
        ten.arg("-s").arg(s);
    }
    let out = ten
        .args(["--input-format", "lavfi", SOURCE])
        .env("DISPLAY", ":4321")
        .output()
        .unwrap();
    assert_one_line_error(&out, 2, "live takes at most 9 --style images");
}

#[test]
fn a_file_or_pipe_plays_at_its_own_rate_and_ends_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one_second = format!("{SOURCE}:duration=1");
    let lavfi = live_command(d, "--frames 1000").replace(SOURCE, &one_second);
    let piped = format!(
        "ffmpeg -v error -f lavfi -i {one_second} -f nut - | {}",
        live_command(d, "--frames 1000")
            .replace(&format!("--input-format lavfi {SOURCE}"), "-")
            .replace("stats.json", "stats-pipe.json")
    );
    let out = under_xvfb(&format!("{lavfi}\necho exit=$?\n{piped}\necho exit=$?"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("exit=0").count(),
        2,
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["stats.json", "stats-pipe.json"] {
        let text = std::fs::read_to_string(d.join(name)).unwrap();
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(stats["decoded_frames"], 25, "{name}");
        // Paced at 25 frames per second: frame k is released k/25 s after frame 0.
        let frames = stats["frames"].as_array().unwrap();
        let (first, last) = (&frames[0], frames.last().unwrap());
        let apart = last["shown_at"].as_f64().unwrap() - first["shown_at"].as_f64().unwrap();
        let due = (last["frame"].as_f64().unwrap() - first["frame"].as_f64().unwrap()) / 25.0;
        assert!(due >= 0.5, "{name}: {stats}");
        assert!(
            apart > due - 0.1,
            "{name}: shown {apart} s apart, due {due} s apart"
        );
    }
}
