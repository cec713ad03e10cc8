//! Crash-safe, resumable renders: `stylize video` killed (SIGKILL) or interrupted (Ctrl-C) at
//! random moments and resumed with `--resume` ends with the output an uninterrupted render makes
//! (frames and sound identical with ffv1 and copied PCM, timestamps included).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;

/// Thirty seconds of test pattern at 2 frames a second, with a tone: three segments of 20 frames.
const CLIP: &str =
    "testsrc2=size=96x64:rate=2:duration=30[out0];sine=frequency=440:duration=30[out1]";
const FRAMES: usize = 60;

/// `stylize video` of the clip into `out` (in `dir`), lossless, on one thread.
fn render(dir: &Path, out: &str) -> Command {
    render_with(dir, out, "ffv1")
}

/// [`render`] with the video encoder `codec`.
fn render_with(dir: &Path, out: &str, codec: &str) -> Command {
    let style = dir.join("style.png");
    if !style.exists() {
        write_style(&style, 64, 64);
    }
    let mut cmd = stylize();
    cmd.arg("video")
        .args(["--input-format", "lavfi", CLIP, "-o", out])
        .arg("--style")
        .arg(&style)
        .arg("--model")
        .arg(tiny_model())
        .args(["--device", "cpu", "--threads", "1", "-q"])
        .args(["--size", "48", "--iterations", "20,10", "--codec", codec])
        // Every frame its whole budget, so that a render lasts long enough to be interrupted.
        .args(["--tolerance", "0"])
        .current_dir(dir);
    cmd
}

/// FFmpeg's `framemd5` of every decoded video frame and audio packet of `path`: timestamps,
/// durations and a checksum, one line each.
fn frames(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The uninterrupted render's frames, and how long it took.
fn reference() -> &'static (Vec<String>, Duration) {
    static REFERENCE: OnceLock<(Vec<String>, Duration)> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        assert_success(&render(dir.path(), "full.mkv").output().unwrap());
        let took = started.elapsed();
        let found = frames(&dir.path().join("full.mkv"));
        let video = found.iter().filter(|l| l.starts_with("0,")).count();
        assert_eq!(video, FRAMES, "the reference render");
        assert!(found.iter().any(|l| l.starts_with("1,")), "no sound");
        assert!(
            files_in(dir.path()).iter().all(|n| !n.ends_with(".part")),
            "a finished render leaves no work folder: {:?}",
            files_in(dir.path())
        );
        (found, took)
    })
}

/// A small seeded generator (xorshift), for reproducible random moments.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        below.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// The work folder of `out` in `dir`.
fn work(dir: &Path, out: &str) -> PathBuf {
    dir.join(format!(".{out}.part"))
}

/// Waits until `child` has written its first checkpoint (or ended).
fn until_checkpointed(child: &mut Child, dir: &Path, out: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !work(dir, out).join("checkpoint.json").exists() && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Renders `out` with `--resume`, SIGKILLing it at `kills` random moments of `seed`, then lets
/// it finish; returns the frames done at each kill.
fn killed_and_resumed(dir: &Path, out: &str, seed: u64, kills: usize) -> Vec<u64> {
    let (_, took) = reference();
    let mut moments = Moments(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut done = Vec::new();
    for _ in 0..kills {
        let mut child = render(dir, out)
            .arg("--resume")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100) + moments.next(*took));
        child.kill().unwrap();
        child.wait().unwrap();
        let checkpoint = std::fs::read_to_string(work(dir, out).join("checkpoint.json"));
        done.push(checkpoint.map_or(0, |c| {
            let v: serde_json::Value = serde_json::from_str(&c).unwrap();
            v["frames"].as_u64().unwrap()
        }));
    }
    assert_success(&render(dir, out).arg("--resume").output().unwrap());
    done
}

fn assert_like_the_reference(path: &Path) {
    let found = frames(path);
    let (expected, _) = reference();
    assert_eq!(found.len(), expected.len(), "frames and sound packets");
    for (line, (a, b)) in found.iter().zip(expected).enumerate() {
        assert_eq!(a, b, "line {line} of framemd5 differs");
    }
}

#[test]
fn killed_at_random_moments_and_resumed_equals_an_uninterrupted_render() {
    for seed in 1..=5 {
        let dir = tempfile::tempdir().unwrap();
        let done = killed_and_resumed(dir.path(), "out.mkv", seed, 1);
        assert_like_the_reference(&dir.path().join("out.mkv"));
        assert!(
            !work(dir.path(), "out.mkv").exists(),
            "the work folder stayed"
        );
        eprintln!("seed {seed}: killed with {done:?} frames done; resumed output identical");
    }
}

/// The closing figures: ten kills of one render, each resumed.
#[test]
#[ignore = "a minute or two; run with --ignored for the closing figures"]
fn ten_kills_each_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let done = killed_and_resumed(dir.path(), "out.mkv", 42, 10);
    assert_like_the_reference(&dir.path().join("out.mkv"));
    eprintln!("10 kills with {done:?} frames done; resumed output identical");
}

#[test]
fn ctrl_c_then_resume_equals_an_uninterrupted_render() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = render(dir.path(), "out.mkv")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_checkpointed(&mut child, dir.path(), "out.mkv");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume continues"), "{stderr}");
    let partial = frames(&dir.path().join("out.mkv"));
    assert!(!partial.is_empty(), "the interrupted output plays");
    assert!(work(dir.path(), "out.mkv").join("checkpoint.json").exists());

    assert_success(
        &render(dir.path(), "out.mkv")
            .arg("--resume")
            .output()
            .unwrap(),
    );
    assert_like_the_reference(&dir.path().join("out.mkv"));
}

/// Kills a render of `out` (replacing what is there, `-y`) once it has checkpointed; returns the
/// work folder.
fn killed_render(dir: &Path, out: &str) -> PathBuf {
    let mut child = render(dir, out)
        .arg("-y")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until_checkpointed(&mut child, dir, out);
    child.kill().unwrap();
    child.wait().unwrap();
    let folder = work(dir, out);
    assert!(folder.join("checkpoint.json").exists(), "no checkpoint");
    folder
}

/// What the work folder holds: names and contents.
fn contents(folder: &Path) -> Vec<(String, Vec<u8>)> {
    files_in(folder)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(folder.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

#[test]
fn a_changed_setting_refuses_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let folder = killed_render(dir.path(), "out.mkv");
    let before = contents(&folder);
    let result: Output = render(dir.path(), "out.mkv")
        .args(["--resume", "--seed", "7"])
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, "--seed changed");
    assert_eq!(contents(&folder), before, "the work folder was touched");
}

#[test]
fn a_checkpoint_without_resume_refuses_and_says_how_to_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let folder = killed_render(dir.path(), "out.mkv");
    let before = contents(&folder);
    let result = render(dir.path(), "out.mkv").output().unwrap();
    assert_one_line_error(&result, 1, "add --resume to continue it, or remove");
    assert_eq!(contents(&folder), before, "the work folder was touched");
    assert!(
        !dir.path().join("out.mkv").exists(),
        "an output was written"
    );
}

#[test]
fn a_kill_leaves_the_previous_output_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mkv");
    std::fs::write(&out, b"an earlier render").unwrap();
    killed_render(dir.path(), "out.mkv");
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier render");
    assert_success(
        &render(dir.path(), "out.mkv")
            .arg("--resume")
            .output()
            .unwrap(),
    );
    assert_like_the_reference(&out);
}

/// A full disk: the render stops with one line, the earlier file at `-o` stays as it was, nothing
/// half-written is left at `-o`, and once there is room `--resume` completes it like an
/// uninterrupted render. The small disk is a tmpfs mounted in a private mount namespace
/// (`unshare -rm`, no root needed where user namespaces are allowed; skipped with a message where
/// they are not).
#[test]
fn a_full_disk_stops_cleanly_and_resumes_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size=64k tmpfs '{}'",
            disk.display()
        ))
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot mount a tmpfs in a user namespace here (unshare -rm)");
        return;
    }
    // The whole render is about 2.8 MB (mostly PCM sound) in three segments: 1.5 MB holds the
    // first and its checkpoint, not the second.
    let base = render(dir.path(), "unused.mkv");
    let words: Vec<String> = std::iter::once(base.get_program())
        .chain(base.get_args())
        .map(|w| format!("'{}'", w.to_string_lossy()))
        .filter(|w| w != "'-o'" && w != "'unused.mkv'")
        .collect();
    let (run, d, out) = (words.join(" "), disk.display(), dir.path().display());
    let script = format!(
        "cd '{out}'\n\
         mount -t tmpfs -o size=1500k tmpfs '{d}'\n\
         printf 'an earlier render' > '{d}/out.mkv'\n\
         {run} -y -o '{d}/out.mkv' 2> full.err; echo $? > full.code\n\
         cp '{d}/out.mkv' earlier.bin\n\
         ls -A '{d}' > listing\n\
         mount -o remount,size=64m '{d}'\n\
         {run} --resume -o '{d}/out.mkv' 2> resume.err; echo $? > resume.code\n\
         cp '{d}/out.mkv' resumed.mkv\n\
         ls -A '{d}' > listing-after\n"
    );
    let status = Command::new("unshare")
        .args(["-rm", "bash", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let err = read("full.err");
    assert_eq!(read("full.code").trim(), "1", "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("the disk is full"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("earlier.bin")).unwrap(),
        b"an earlier render"
    );
    // Beside the earlier file: only the work folder (no temporary file, no lock).
    assert_eq!(
        read("listing").lines().collect::<Vec<_>>(),
        [".out.mkv.part", "out.mkv"]
    );
    assert_eq!(read("resume.code").trim(), "0", "{}", read("resume.err"));
    assert_eq!(read("listing-after").trim(), "out.mkv");
    assert_like_the_reference(&dir.path().join("resumed.mkv"));
}

/// Frames decoded from the first video stream of `path`, and whether it has sound.
fn count_frames(path: &Path) -> (u64, bool) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_type,nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let video = text
        .lines()
        .find_map(|l| l.strip_prefix("video,"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (video, text.lines().any(|l| l.starts_with("audio,")))
}

/// MPEG-PS stamps only the first frame of each pack, and takes neither PCM nor AAC: its segments
/// are joined with the missing timestamps derived, and the sound is MP2.
#[test]
fn an_mpeg_ps_render_is_killed_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = render_with(dir.path(), "out.mpg", "libx264")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until_checkpointed(&mut child, dir.path(), "out.mpg");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(work(dir.path(), "out.mpg").join("checkpoint.json").exists());
    assert_success(
        &render_with(dir.path(), "out.mpg", "libx264")
            .arg("--resume")
            .output()
            .unwrap(),
    );
    let out = dir.path().join("out.mpg");
    assert_eq!(count_frames(&out), (FRAMES as u64, true));
    assert!(
        !work(dir.path(), "out.mpg").exists(),
        "the work folder stayed"
    );
}

/// A sound shorter than the video leaves the last segments of an MP4 render without a sound
/// track (the muxer writes none without packets): the join still takes them, and the output has
/// every frame and the whole sound.
#[test]
fn a_sound_shorter_than_the_video_joins_from_segments_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let style = dir.path().join("style.png");
    write_style(&style, 64, 64);
    let result = stylize()
        .arg("video")
        .args(["--input-format", "lavfi"])
        .arg("testsrc2=size=96x64:rate=2:duration=24[out0];sine=frequency=440:duration=4[out1]")
        .args(["-o", "out.mp4", "--style"])
        .arg(&style)
        .arg("--model")
        .arg(tiny_model())
        .args(["--device", "cpu", "--threads", "1", "-q"])
        .args(["--size", "48", "--iterations", "4,2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_success(&result);
    let found = frames(&dir.path().join("out.mp4"));
    assert_eq!(found.iter().filter(|l| l.starts_with("0,")).count(), 48);
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=duration",
        ])
        .args(["-of", "csv=p=0", "out.mp4"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let seconds: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!((3.9..4.2).contains(&seconds), "sound of {seconds} s");
}
