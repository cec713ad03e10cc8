//! Cluster renders: `stylize plan` cuts a clip with sound into segments, `stylize video --plan
//! --segment K` renders each (on a real one-node Slurm cluster too), `stylize join` puts them
//! together; the joined file has the frames, timestamps and sound of a one-piece render. Bad
//! plans, missing segments and a worker killed mid-segment each end as they should; the
//! Kubernetes Job validates against the Kubernetes schemas.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;

/// Frames in the clip: 4 s at 10 frames a second, a key frame every 10.
const FRAMES: usize = 40;

/// A test folder with the clip (testsrc2 and a tone, H.264 and AAC in MP4) and a style image.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=128x72:rate=10:duration=4")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=4"])
        .args([
            "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-c:a", "aac",
        ])
        .arg(dir.path().join("clip.mp4"))
        .status()
        .unwrap();
    assert!(made.success());
    write_style(&dir.path().join("style.png"), 64, 64);
    dir
}

/// The iterations of the tests' renders (FIRST,REST).
const QUICK: &str = "6,3";

/// The settings every command of a test's render takes.
fn settings(input: &str, iterations: &str) -> Vec<String> {
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
fn join(d: &Path) -> Output {
    stylize()
        .args(["join", "plan.json", "-o", "joined.mp4"])
        .current_dir(d)
        .output()
        .unwrap()
}

/// Joins the parts in `d` and checks that the joined video has every frame of the clip.
fn assert_joined_whole(d: &Path) {
    assert_success(&join(d));
    assert_eq!(
        probe(&d.join("joined.mp4"), "v", "packet=pts").len(),
        FRAMES
    );
}

/// `stylize SUBCOMMAND` in `dir` with the clip's settings (`iterations`) and `more`.
fn run_with(dir: &Path, iterations: &str, subcommand: &str, more: &[&str]) -> Output {
    stylize()
        .arg(subcommand)
        .args(settings("clip.mp4", iterations))
        .args(more)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `stylize SUBCOMMAND` in `dir` with the clip's quick settings and `more`.
fn run(dir: &Path, subcommand: &str, more: &[&str]) -> Output {
    run_with(dir, QUICK, subcommand, more)
}

/// Plans the clip in `dir` as `segments` segments with `overlap` warm-up frames.
fn plan(dir: &Path, segments: u32, overlap: u32) {
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
fn segment(dir: &Path, k: usize) -> Output {
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
fn probe(path: &Path, stream: &str, entries: &str) -> Vec<String> {
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
fn duration(path: &Path, stream: &str) -> f64 {
    probe(path, stream, "stream=duration")[0].parse().unwrap()
}

/// Checks `joined` against `whole`: the same video frames at the same timestamps, the same sound
/// packets (timestamps and sizes), the same durations within a frame of sound.
fn assert_same_timing(joined: &Path, whole: &Path) {
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
fn one_piece(dir: &Path) -> PathBuf {
    let out = run(dir, "video", &["-o", "whole.mp4", "-q"]);
    assert_success(&out);
    dir.join("whole.mp4")
}

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
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x72:rate=10:duration=4.1",
        ])
        .args(["-c:v", "libx264", "-g", "10"])
        .arg(d.join("other.mp4"))
        .status()
        .unwrap();
    assert!(made.success());
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

/// A one-node Slurm cluster of its own, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    /// Starts one in `dir`, or says why it cannot.
    fn start(dir: &Path) -> Result<Cluster, String> {
        let missing: Vec<&str> = ["munged", "slurmctld", "slurmd", "sbatch"]
            .into_iter()
            .filter(|t| {
                !Command::new("sh")
                    .args(["-c", &format!("command -v {t}")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} not installed: scripts/setup.sh installs slurmctld slurmd slurm-client munge",
                missing.join(", ")
            ));
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("a local Slurm cluster needs root".into());
        }
        let out = Command::new(root().join("scripts/cluster/local-slurm.sh"))
            .arg("start")
            .arg(dir)
            .arg("2")
            .output()
            .unwrap();
        assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let conf = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .unwrap()
            .to_string();
        Ok(Cluster {
            dir: dir.to_path_buf(),
            conf,
        })
    }

    /// A Slurm client command on this cluster.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/cluster/local-slurm.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn slurm_array_job_renders_and_joins() {
    let dir = setup();
    let d = dir.path();
    let slurm = tempfile::tempdir().unwrap();
    let cluster = match Cluster::start(slurm.path()) {
        Ok(cluster) => cluster,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    plan(d, 4, 3);
    let out = cluster
        .command(
            root()
                .join("scripts/cluster/slurm-render.sbatch")
                .to_str()
                .unwrap(),
        )
        .args(["plan.json", "parts", "joined.mp4", "--"])
        .args(settings("clip.mp4", QUICK))
        .env("STYLIZE", env!("CARGO_BIN_EXE_stylize"))
        .env("SLURM_PARALLEL", "2")
        .env(
            "SBATCH_ARGS",
            format!(
                "--chdir={} --output={}/slurm-%A_%a.out",
                d.display(),
                d.display()
            ),
        )
        .current_dir(d)
        .output()
        .unwrap();
    assert_success(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("(4 segments)"), "{said}");
    let started = Instant::now();
    loop {
        let queue = cluster
            .command("squeue")
            .args(["-h", "-o", "%i %T"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the jobs did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let logs: Vec<String> = files_in(d)
        .into_iter()
        .filter(|n| n.starts_with("slurm-"))
        .map(|n| std::fs::read_to_string(d.join(&n)).unwrap())
        .collect();
    assert_eq!(logs.len(), 5, "four tasks and the join: {logs:?}");
    assert!(
        d.join("joined.mp4").exists(),
        "no joined output; logs: {logs:?}"
    );
    assert_same_timing(&d.join("joined.mp4"), &one_piece(d));
}

#[test]
fn kubernetes_jobs_validate_against_the_schemas() {
    let local = root().join(".venv/bin/kubernetes-validate");
    let validator = if local.exists() {
        local
    } else {
        PathBuf::from("kubernetes-validate")
    };
    let validate = |path: &Path| {
        Command::new(&validator)
            .args(["--strict", "--quiet"])
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("kubernetes-validate: {e}: scripts/setup.sh installs it"))
    };
    let yaml = root().join("scripts/cluster/k8s-render.yaml");
    let out = validate(&yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(text.contains("completionMode: Indexed"));
    assert!(text.contains("--segment\", \"auto\""));
    // The validator catches a broken Job.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text.replace("completions: 4", "completions: four")).unwrap();
    assert!(!validate(&broken).status.success());
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
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x72:rate=10:duration=2",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=128x72:rate=10,trim=duration=2",
        ])
        .args([
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p",
        ])
        .args(["-c:v", "libx264", "-g", "7", "-sc_threshold", "0"])
        .arg(d.join("shots.mp4"))
        .status()
        .unwrap();
    assert!(made.success());
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
