//! Cluster renders: `stylize plan` cuts a clip with sound into segments, `stylize video --plan
//! --segment K` renders each (on a real one-node Slurm cluster too), `stylize join` puts them
//! together; the joined file has the frames, timestamps and sound of a one-piece render. Bad
//! plans, missing segments and a worker killed mid-segment each end as they should. The
//! schedulers' files: cluster_schedulers.rs.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::cluster::*;
use common::*;

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn segments_join_into_the_one_piece_render() {
    let dir = setup();
    let d = dir.path();
    plan(d, 4, 3);
    let text = std::fs::read_to_string(d.join("plan.json")).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    let segments = plan["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 4);
    // Cut at the key frames, every 10 frames, each after a warm-up of 3.
    let firsts: Vec<u64> = segments
        .iter()
        .map(|s| s["first"].as_u64().unwrap())
        .collect();
    assert_eq!(firsts, vec![0, 10, 20, 30]);
    assert!(segments[1..]
        .iter()
        .all(|s| s["key"] == true && s["warmup"] == 3));
    assert_eq!(
        plan["fingerprint"]["style image 1"].as_str().unwrap().len(),
        64
    );

    for k in 0..4 {
        assert_success(&segment(d, k));
    }
    // A finished segment is skipped: its part is left as it was.
    let part = d.join("parts/segment-0002.mp4");
    let before = modified(&part);
    let again = segment(d, 2);
    assert_success(&again);
    assert_eq!(modified(&part), before);
    for k in 0..4 {
        let frames = probe(
            &d.join(format!("parts/segment-{k:04}.mp4")),
            "v",
            "packet=pts",
        );
        assert_eq!(frames.len(), 10, "segment {k} keeps its own 10 frames");
    }
    let out = join(d);
    assert_success(&out);
    assert_same_timing(&d.join("joined.mp4"), &one_piece(d));
}

#[test]
fn a_worker_refuses_another_input_other_settings_and_a_bad_segment() {
    let dir = setup();
    let d = dir.path();
    plan(d, 2, 2);
    std::fs::copy(d.join("clip.mp4"), d.join("copy.mp4")).unwrap();
    let worker = |input: &str, more: &[&str], segment: &str| {
        stylize()
            .arg("video")
            .args(settings(input, QUICK))
            .args(more)
            .args(["--plan", "plan.json", "--segment", segment, "-o", "parts/"])
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .current_dir(d)
            .output()
            .unwrap()
    };
    // The same contents under another name is the same input.
    let tail = OutputTail::of(&worker("copy.mp4", &[], "1"));
    assert!(tail.ok, "{}", tail.stderr);
    // Another input (a frame longer).
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x72:rate=10:duration=4.1",
            "-c:v",
            "libx264",
            "-g",
            "10",
        ],
        &d.join("other.mp4"),
    );
    assert_one_line_error(&worker("other.mp4", &[], "0"), 2, "made for another input");
    assert_one_line_error(
        &worker("clip.mp4", &["--style-weight", "7"], "0"),
        2,
        "--style-weight",
    );
    assert_one_line_error(
        &worker("clip.mp4", &[], "2"),
        2,
        "--segment 2 is out of range",
    );
    assert_one_line_error(&worker("clip.mp4", &[], "auto"), 2, "SLURM_ARRAY_TASK_ID");
    assert_one_line_error(&worker("clip.mp4", &[], "x"), 2, "'x' is not a segment");
    let out = join(d);
    assert_one_line_error(&out, 1, "segment 0 of 2 not rendered");
    assert!(!d.join("joined.mp4").exists());
    let bad = run(
        d,
        "plan",
        &["-o", "p.json", "--segments", "2", "--frames", "5"],
    );
    assert_one_line_error(&bad, 2, "leave --frames out");
}

/// A run's exit and stderr.
struct OutputTail {
    ok: bool,
    stderr: String,
}

impl OutputTail {
    fn of(out: &Output) -> OutputTail {
        OutputTail {
            ok: out.status.success(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[test]
fn a_killed_segment_is_redone_and_the_join_names_what_is_missing() {
    let dir = setup();
    let d = dir.path();
    // Many iterations a frame, so that segment 1 can be killed in the middle.
    const SLOW: &str = "6,150";
    let segment = |k: usize| {
        let k = k.to_string();
        run_with(
            d,
            SLOW,
            "video",
            &["--plan", "plan.json", "--segment", &k, "-o", "parts/", "-q"],
        )
    };
    assert_success(&run_with(
        d,
        SLOW,
        "plan",
        &["-o", "plan.json", "--segments", "3", "--overlap", "2"],
    ));
    assert_success(&segment(0));
    assert_success(&segment(2));
    let out = join(d);
    assert_one_line_error(&out, 1, "segment 1 of 3 not rendered");
    assert!(!d.join("joined.mp4").exists());

    // Segment 1 killed while it writes its part.
    let mut child = stylize()
        .arg("video")
        .args(settings("clip.mp4", SLOW))
        .args(["--plan", "plan.json", "--segment", "1", "-o", "parts/"])
        .args(["-q"])
        .current_dir(d)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let partial = loop {
        let found = files_in(&d.join("parts"))
            .into_iter()
            .find(|n| n.starts_with(".segment-0001.mp4.") && n.ends_with(".part"));
        if let Some(name) = found {
            break name;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no partial part appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(d.join("parts").join(&partial).exists());
    assert!(!d.join("parts/segment-0001.mp4").exists());

    // Resubmitted: the finished segments are skipped, the killed one is redone, the join works.
    let finished = modified(&d.join("parts/segment-0000.mp4"));
    for k in 0..3 {
        assert_success(&segment(k));
    }
    assert_eq!(modified(&d.join("parts/segment-0000.mp4")), finished);
    assert!(
        !d.join("parts").join(&partial).exists(),
        "the killed run's file is cleared"
    );
    assert_joined_whole(d);
}

/// The mean absolute change (0 to 255) from each frame of `path` (128×72) to the next.
fn frame_steps(path: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_success(&out);
    let frames: Vec<&[u8]> = out.stdout.chunks_exact(128 * 72 * 3).collect();
    frames
        .windows(2)
        .map(|w| {
            let sum: u64 = w[0]
                .iter()
                .zip(w[1])
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            sum as f64 / w[0].len() as f64
        })
        .collect()
}

#[test]
fn the_hand_over_removes_the_jump_at_the_seam() {
    let dir = setup();
    let d = dir.path();
    let lossless = ["--codec", "ffv1", "--format", "matroska"];
    // Two segments cut at frame 20, joined without and with a 4-frame hand-over.
    let steps = |overlap: &str| {
        let plan = format!("plan-{overlap}.json");
        let parts = format!("parts-{overlap}");
        let out = run(
            d,
            "plan",
            &[
                &["-o", &plan, "--segments", "2", "--overlap", overlap],
                &lossless[..],
            ]
            .concat(),
        );
        assert_success(&out);
        for k in ["0", "1"] {
            let args = [
                &["--plan", &plan, "--segment", k, "-o", &parts, "-q"],
                &lossless[..],
            ]
            .concat();
            assert_success(&run(d, "video", &args));
        }
        let joined = format!("joined-{overlap}.mkv");
        let out = stylize()
            .args(["join", &plan, "--parts", &parts, "-o", &joined])
            .current_dir(d)
            .output()
            .unwrap();
        assert_success(&out);
        frame_steps(&d.join(joined))
    };
    let median = |s: &[f64]| {
        let mut s = s.to_vec();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    // steps[i] is the change from frame i to i + 1: the seam is steps[19].
    let cold = steps("0");
    assert!(
        cold[19] > 5.0 * median(&cold),
        "no jump without the hand-over: {cold:?}"
    );
    let handed = steps("4");
    assert!(
        handed[19] < 2.0 * median(&handed),
        "a jump at the seam: {handed:?}"
    );
    // The fade spreads the jump over its frames.
    let fade = &handed[15..19];
    assert!(
        fade.iter().all(|&s| s < 0.6 * cold[19]),
        "fade {fade:?}, jump {}",
        cold[19]
    );
}

#[test]
fn a_scene_cut_near_the_share_is_preferred_to_a_key_frame() {
    let dir = setup();
    let d = dir.path();
    // Two shots of 2 s (frames 0-19 and 20-39), key frames every 7 frames and none at the cut.
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x72:rate=10:duration=2",
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=128x72:rate=10,trim=duration=2",
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p",
            "-c:v",
            "libx264",
            "-g",
            "7",
            "-sc_threshold",
            "0",
        ],
        &d.join("shots.mp4"),
    );
    let with = |subcommand: &str, more: &[&str]| {
        stylize()
            .arg(subcommand)
            .args(settings("shots.mp4", QUICK))
            .args(more)
            .current_dir(d)
            .output()
            .unwrap()
    };
    assert_success(&with(
        "plan",
        &["-o", "plan.json", "--segments", "2", "--overlap", "3"],
    ));
    let text = std::fs::read_to_string(d.join("plan.json")).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    let second = &plan["segments"][1];
    // The nearest key frame to the share (20) is 21; the scene cut at 20 wins, without warm-up.
    assert_eq!(second["first"], 20, "{second}");
    assert_eq!(second["scene_cut"], true);
    assert_eq!(second["key"], false);
    assert_eq!(second["warmup"], 0);
    // The worker of a segment that starts between key frames decodes from the one before.
    for k in ["0", "1"] {
        assert_success(&with(
            "video",
            &["--plan", "plan.json", "--segment", k, "-o", "parts/", "-q"],
        ));
    }
    assert_joined_whole(d);
}
