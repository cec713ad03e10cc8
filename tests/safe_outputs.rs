//! What a run does to files that are already there and to other runs: ffmpeg's -y/-n, the
//! question on a terminal, one writer per output, and signals that leave a playable file or none.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A content image, a style image and the name of the output, in a fresh directory.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        write_content(&dir.path().join("photo.png"), 32, 24);
        write_style(&dir.path().join("style.png"), 32, 32);
        Case { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `stylize image photo.png -s style.png -o out.png` with the tiny model, quick and quiet.
    fn image(&self) -> Command {
        let mut cmd = image_command(
            &self.path("photo.png"),
            &self.path("style.png"),
            &self.path("out.png"),
            &tiny_model(),
        );
        cmd.args(["--size", "32", "--iterations", "2", "--device", "cpu", "-q"]);
        cmd
    }

    /// `stylize video` of a lavfi clip of `seconds` into `out.mp4`, with the tiny model.
    fn video(&self, seconds: u32) -> Command {
        self.video_to(seconds, "out.mp4")
    }

    /// The same into `output`.
    fn video_to(&self, seconds: u32, output: &str) -> Command {
        let mut cmd = stylize();
        cmd.current_dir(self.dir.path())
            .arg("video")
            .args(["--input-format", "lavfi"])
            .arg(format!("testsrc2=size=64x48:rate=5:duration={seconds}"))
            .args(["-s", "style.png", "-o", output, "--model"])
            .arg(tiny_model())
            .args([
                "--device",
                "cpu",
                "--size",
                "32",
                "--iterations",
                "3,2",
                "-q",
            ]);
        cmd
    }
}

/// Runs `command` in a pseudo-terminal (util-linux `script`), typing `answer` into it.
fn on_a_terminal(command: &Command, answer: &str) -> std::process::Output {
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let mut child = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script");
    // Typed once the question is up.
    std::thread::sleep(Duration::from_secs(2));
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    out
}

#[test]
fn existing_outputs_are_replaced_only_with_y() {
    let c = Case::new();
    let out = c.path("out.png");
    std::fs::write(&out, b"an earlier picture").unwrap();
    // Neither -y nor -n, and stdin is no terminal: refused, the file kept.
    let refused = c.image().stdin(Stdio::null()).output().unwrap();
    assert_one_line_error(&refused, 1, "already exists: pass -y to overwrite it");
    let refused = c.image().arg("-n").output().unwrap();
    assert_one_line_error(&refused, 1, "already exists");
    let both = c.image().args(["-y", "-n"]).output().unwrap();
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier picture");
    // --stats is an output like any other.
    let stats = c.path("stats.json");
    std::fs::write(&stats, b"{}").unwrap();
    std::fs::remove_file(&out).unwrap();
    let refused = c.image().arg("--stats").arg(&stats).arg("-y").output();
    assert_success(&refused.unwrap());
    assert!(image::open(&out).is_ok(), "-y did not replace the output");
    std::fs::write(&stats, b"{}").unwrap();
    std::fs::remove_file(&out).unwrap();
    let refused = c.image().arg("--stats").arg(&stats).output().unwrap();
    assert_one_line_error(&refused, 1, "--stats file");
    assert_eq!(std::fs::read(&stats).unwrap(), b"{}");
    // No file was left behind.
    assert_eq!(
        files_in(c.dir.path()),
        ["photo.png", "stats.json", "style.png"]
    );
}

#[test]
fn a_terminal_is_asked_before_a_file_is_replaced() {
    let c = Case::new();
    let out = c.path("out.png");
    std::fs::write(&out, b"an earlier picture").unwrap();
    let declined = on_a_terminal(&c.image(), "n\n");
    let shown = String::from_utf8_lossy(&declined.stdout).into_owned();
    assert!(
        shown.contains(&format!(
            "File '{}' already exists. Overwrite? [y/N]",
            out.display()
        )),
        "{shown}"
    );
    assert!(shown.contains("error: not overwriting"), "{shown}");
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier picture");
    let accepted = on_a_terminal(&c.image(), "y\n");
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stdout)
    );
    assert!(image::open(&out).is_ok(), "'y' did not replace the output");
}

#[test]
fn video_outputs_follow_the_same_rule_and_stdout_never_exists() {
    let c = Case::new();
    let out = c.path("out.mp4");
    std::fs::write(&out, b"an earlier render").unwrap();
    let refused = c.video(1).output().unwrap();
    assert_one_line_error(&refused, 1, "output 'out.mp4' already exists");
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier render");
    let piped = c
        .video_to(1, "-")
        .args(["--format", "nut", "-n"])
        .output()
        .unwrap();
    assert_success(&piped);
    assert!(!piped.stdout.is_empty());
    assert_success(&c.video(1).arg("-y").output().unwrap());
    assert_ne!(std::fs::read(&out).unwrap(), b"an earlier render");
}

#[test]
fn a_second_run_writing_the_same_output_fails_at_once() {
    let c = Case::new();
    let mut first = c
        .video(600)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = c.path(".out.mp4.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lock.exists(), "the first run never locked its output");
    let started = Instant::now();
    let second = c.video(1).arg("-y").output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_one_line_error(&second, 1, "another stylize is writing 'out.mp4'");
    // The first goes on, and ends as Ctrl-C ends it: a playable file, the lock gone.
    let writing = || files_in(c.dir.path()).iter().any(|n| n.ends_with(".part"));
    while !writing() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    interrupt(&first);
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(plays(&c.path("out.mp4")));
    assert_eq!(
        left_beside(c.dir.path()),
        ["out.mp4", "photo.png", "style.png"]
    );
}

/// Sends SIGINT to `child`.
fn interrupt(child: &std::process::Child) {
    signal(child, "INT");
}

fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Sends SIGTERM to `child`, checks that it ended with 130, and returns how long it took to end
/// and what it printed on stderr (`stderr`).
fn terminate(
    mut child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
) -> (Duration, String) {
    let sent = Instant::now();
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    (took, stderr)
}

/// Whether ffprobe decodes at least one video frame of `path`, without errors.
fn plays(path: &Path) -> bool {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let frames: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    out.status.success() && out.stderr.is_empty() && frames > 0
}

/// A render whose first frame is long: the real VGG19 at 512 pixels on one thread, an evaluation
/// taking a second or more, into `out.mp4` (replacing what is there). Returns the child once its
/// first frame's optimization has begun (`RUST_LOG=stylize=debug` says so on stderr), with the
/// rest of its stderr.
fn long_render(c: &Case) -> (std::process::Child, std::thread::JoinHandle<String>) {
    long_render_at(c, "512", "optimizing")
}

/// [`long_render`] at `size` pixels, returned once a debug line holding `until` was written.
fn long_render_at(
    c: &Case,
    size: &str,
    until: &str,
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    let mut child = stylize()
        .current_dir(c.dir.path())
        .env("RUST_LOG", "stylize=debug")
        .arg("video")
        .args([
            "--input-format",
            "lavfi",
            "testsrc2=size=64x48:rate=5:duration=10",
        ])
        .args(["-s", "style.png", "-o", "out.mp4", "-y", "--model"])
        .arg(vgg19_model())
        .args(["--device", "cpu", "--threads", "1", "--size", size])
        .args(["--style-scale", "0.1", "--iterations", "1000,1"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        use std::io::BufRead;
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the render ended before optimizing: {seen}");
        }
        seen.push_str(&line);
        if line.contains(until) {
            break;
        }
    }
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    (child, rest)
}

#[test]
fn sigterm_ends_a_long_evaluation_within_a_second_or_two() {
    let c = Case::new();
    let (child, stderr) = long_render(&c);
    // Well inside the first frame's first evaluations.
    std::thread::sleep(Duration::from_secs(1));
    let (took, stderr) = terminate(child, stderr);
    // About one second is measured (an operator of the evaluation, then the frame written and the
    // file finished); a shared CPU gets some slack. Acted on only between iterations, it took 24 s.
    assert!(took < Duration::from_secs(3), "took {took:?}: {stderr}");
    assert!(stderr.contains("wrote 1 stylized frames"), "{stderr}");
    assert!(plays(&c.path("out.mp4")));
    assert_eq!(
        left_beside(c.dir.path()),
        ["out.mp4", "photo.png", "style.png"]
    );
}

#[test]
fn sigterm_ends_a_long_feature_run_within_a_second_or_two() {
    let c = Case::new();
    // At 512 pixels the first frame's content features alone take a second or more.
    let (child, stderr) = long_render_at(&c, "512", "stylizing");
    std::thread::sleep(Duration::from_millis(500));
    let (took, stderr) = terminate(child, stderr);
    // Acted on only after the features, the optimization would begin (and say so) first.
    assert!(
        !stderr.contains("optimizing"),
        "the features were not interrupted: {stderr}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}: {stderr}");
    assert!(stderr.contains("wrote 1 stylized frames"), "{stderr}");
    assert!(plays(&c.path("out.mp4")));
}

#[test]
fn a_second_ctrl_c_leaves_the_earlier_file_or_a_playable_one() {
    let c = Case::new();
    let out = c.path("out.mp4");
    std::fs::write(&out, b"an earlier render").unwrap();
    let (mut child, stderr) = long_render(&c);
    std::thread::sleep(Duration::from_secs(1));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(20));
    interrupt(&child);
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let kept = std::fs::read(&out).unwrap() == b"an earlier render";
    assert!(kept || plays(&out), "a broken file at -o: {stderr}");
    // Nothing unfinished left behind: no staged file, no lock.
    assert_eq!(
        left_beside(c.dir.path()),
        ["out.mp4", "photo.png", "style.png"]
    );
}

/// The files in `dir`, but for a render's work folder (`.out.mp4.part/`, kept on purpose so that
/// `--resume` can continue): no staged file, no lock.
fn left_beside(dir: &Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .filter(|n| !(n == ".out.mp4.part" && dir.join(n).is_dir()))
        .collect()
}
