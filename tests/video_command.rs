//! `stylize video` end to end: inputs made with FFmpeg's lavfi sources, outputs checked with ffprobe.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::video::{lavfi_video, probe, style, video};
use common::*;

const WITH_AUDIO: &str =
    "testsrc2=size=160x120:rate=25:duration=2[out0];sine=frequency=440:duration=2[out1]";

#[test]
fn lavfi_video_with_sound_keeps_frames_rate_duration_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let result = video(&style(dir.path()))
        .args([
            "--input-format",
            "lavfi",
            WITH_AUDIO,
            "-o",
            out.to_str().unwrap(),
        ])
        .args(["--size", "48", "--iterations", "4,2"])
        .output()
        .unwrap();
    assert_success(&result);
    let (frames, duration, w, h, rate) = probe(&out, "v").expect("a video stream");
    assert_eq!((frames, w, h, rate.as_str()), (50, 160, 120, "25/1"));
    assert!((duration - 2.0).abs() <= 0.04, "video duration {duration}");
    let (_, audio_duration, ..) = probe(&out, "a").expect("an audio stream");
    assert!(
        (audio_duration - 2.0).abs() < 0.1,
        "audio duration {audio_duration}"
    );
}

#[test]
fn output_size_frames_and_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mkv");
    let result = video(&style(dir.path()))
        .args([
            "--input-format",
            "lavfi",
            WITH_AUDIO,
            "-o",
            out.to_str().unwrap(),
        ])
        .args([
            "--size",
            "32",
            "--iterations",
            "2",
            "--output-size",
            "96x72",
        ])
        .args(["--frames", "7", "--no-audio"])
        .output()
        .unwrap();
    assert_success(&result);
    let (frames, _, w, h, _) = probe(&out, "v").expect("a video stream");
    assert_eq!((frames, w, h), (7, 96, 72));
    assert!(
        probe(&out, "a").is_none(),
        "--no-audio kept an audio stream"
    );
}

#[test]
fn ffmpeg_pipes_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let mut source = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x96:rate=10:duration=3",
        ])
        .args(["-f", "nut", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut styl = video(&style)
        .args([
            "-",
            "-o",
            "-",
            "--format",
            "nut",
            "--size",
            "32",
            "--iterations",
            "2",
        ])
        .stdin(source.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sink = dir.path().join("piped.mkv");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "nut", "-i", "-", "-c", "copy", "-y"])
        .arg(&sink)
        .stdin(styl.stdout.take().unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(styl.wait().unwrap().success());
    assert!(source.wait().unwrap().success());
    assert_eq!(probe(&sink, "v").expect("video").0, 30);
}

#[test]
fn raw_frames_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("frames.rgb");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5:duration=2",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
        ],
        &raw,
    );
    let out = dir.path().join("out.y4m");
    let result = video(&style(dir.path()))
        .args([
            "-",
            "--input-format",
            "rawvideo",
            "--input-option",
            "video_size=64x48",
        ])
        .args([
            "--input-option",
            "pixel_format=rgb24",
            "--input-option",
            "framerate=5",
        ])
        .args([
            "-o",
            out.to_str().unwrap(),
            "--size",
            "32",
            "--iterations",
            "2",
        ])
        .stdin(std::fs::File::open(&raw).unwrap())
        .output()
        .unwrap();
    assert_success(&result);
    assert_eq!(probe(&out, "v").expect("video").0, 10);
}

/// Peak resident memory (KiB, as `/usr/bin/time` measures it) of stylizing `frames` frames of a
/// generated 320×240 clip with the tiny model.
fn peak_rss_kib(style: &Path, dir: &Path, frames: u32) -> u64 {
    let out = dir.join(format!("long{frames}.mp4"));
    let video = video(style);
    let result = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib=%M"])
        .arg(video.get_program())
        .args(video.get_args())
        .args(["--input-format", "lavfi", "testsrc2=size=320x240:rate=25"])
        .args(["--frames", &frames.to_string(), "-o", out.to_str().unwrap()])
        .args(["--size", "48", "--iterations", "2,1"])
        .output()
        .expect("/usr/bin/time runs (scripts/setup.sh installs it)");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert_eq!(probe(&out, "v").map(|p| p.0), Some(u64::from(frames)));
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {stderr}"))
}

#[test]
fn memory_stays_flat_however_long_the_video_is() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    // 100 frames fill the encoder's look-ahead and every channel; 2,000 must need no more. The
    // allocator's arenas move the peak by up to ~9 MiB between identical runs when the tests share
    // the cores, hence 8 MiB of slack; keeping one 48×36 frame's planes (20 KiB) a frame adds
    // 43 MiB over the 1,900 frames (a leak injected so failed this test).
    let short = peak_rss_kib(&style, dir.path(), 100);
    let long = peak_rss_kib(&style, dir.path(), 2000);
    assert!(
        long as f64 <= short as f64 * 1.05 + 8192.0,
        "peak RSS grew from {short} KiB (100 frames) to {long} KiB (2,000 frames)"
    );
}

#[test]
fn odd_output_sizes_are_cropped_to_what_the_encoder_takes() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = lavfi_video(&style, "testsrc2=size=64x48:rate=5:duration=0.4")
        .args(["-o", "out.mp4", "--size", "32", "--iterations", "2,1"])
        .args(["--output-size", "81x61"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_success(&result);
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(dir.path().join("out.mp4"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "80,60");
}

#[test]
fn a_gif_output_gets_the_gif_codec() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let result = lavfi_video(&style, "testsrc2=size=64x48:rate=5:duration=0.6")
        .args(["-o", "out.gif", "--size", "32", "--iterations", "2,1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_success(&result);
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_name,nb_read_frames", "-of", "csv=p=0"])
        .arg(dir.path().join("out.gif"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "gif,3");
}

/// An MKV whose sound outlasts its video, or starts before it, is a valid file, not a damaged one.
#[test]
fn audio_longer_than_the_video_or_starting_before_it_is_no_damage() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let cases: [(&str, &[&str]); 2] = [
        ("long_audio.mkv", &[]),
        ("early_audio.mkv", &["-itsoffset", "0.6"]),
    ];
    for (name, video_offset) in cases {
        let sources = [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:v",
            "libx264",
            "-c:a",
            "libvorbis",
        ];
        ffmpeg(&[video_offset, &sources].concat(), &dir.path().join(name));
        let result = video(&style)
            .args([
                name,
                "-o",
                "out.mkv",
                "-y",
                "--size",
                "32",
                "--iterations",
                "2,1",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_success(&result);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!stderr.contains("warning"), "{name}: {stderr}");
    }
}

/// `-o frames/%04d.png`, as ffmpeg users write it: one picture per frame, numbered from 1, at the
/// output size, each stylized (not the input frame) and the run's other figures unchanged.
#[test]
fn numbered_pictures_like_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let pattern = frames.join("%04d.png");
    let source = "testsrc2=size=160x120:rate=25:duration=0.2";
    let result = video(&style(dir.path()))
        .args(["--input-format", "lavfi", source, "-o"])
        .arg(&pattern)
        .args([
            "--size",
            "48",
            "--iterations",
            "6,3",
            "--output-size",
            "96x72",
        ])
        .output()
        .unwrap();
    assert_success(&result);
    assert_eq!(
        files_in(&frames),
        ["0001.png", "0002.png", "0003.png", "0004.png", "0005.png"]
    );
    // The input's own frames, at the same size, to tell the stylized pictures from them.
    let raw = dir.path().join("raw%04d.png");
    ffmpeg(&["-f", "lavfi", "-i", source, "-vf", "scale=96:72"], &raw);
    for n in 1..=5 {
        let picture = image::open(frames.join(format!("{n:04}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(picture.dimensions(), (96, 72));
        let original = image::open(dir.path().join(format!("raw{n:04}.png")))
            .unwrap()
            .to_rgb8();
        let difference: f64 = picture
            .as_raw()
            .iter()
            .zip(original.as_raw())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / picture.as_raw().len() as f64;
        assert!(difference > 10.0, "frame {n} is the input ({difference})");
    }
    // A folder that is not there is refused before any work.
    let missing = dir.path().join("nowhere/%04d.png");
    let result = video(&style(dir.path()))
        .args(["--input-format", "lavfi", source, "-o"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_one_line_error(&result, 1, "does not exist");
}

/// The codec of each stream of `path`, as ffprobe names them.
fn codecs(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// When FFmpeg shows each decoded video frame of `path`, in seconds (its `showinfo` filter).
fn frame_times(path: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-vf", "showinfo", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    String::from_utf8_lossy(&out.stderr)
        .split("pts_time:")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn mpeg_ps_and_ogg_outputs_take_their_own_audio_codec() {
    // lavfi's sine is PCM, which neither MPEG-PS nor Ogg takes.
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let sources = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=5:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
    ];
    let encoders = ["-c:v", "libx264", "-c:a", "aac"];
    ffmpeg(
        &[&sources[..], &encoders].concat(),
        &dir.path().join("aac.mp4"),
    );
    let lavfi = |sound| match sound {
        true => "testsrc2=size=64x48:rate=5:duration=2[out0];sine=duration=2[out1]",
        false => "testsrc2=size=64x48:rate=5:duration=2",
    };
    let cases = [
        ("sound.mpg", true, ["h264", "mp2"].as_slice()),
        ("silent.mpg", false, ["h264"].as_slice()),
        ("aac.mpg", true, ["h264", "mp2"].as_slice()),
        ("sound.ogv", true, ["theora", "vorbis"].as_slice()),
        ("sound.mkv", true, ["h264", "pcm_s16le"].as_slice()),
        ("aac.mkv", true, ["h264", "aac"].as_slice()),
        ("sound.mp4", true, ["h264", "aac"].as_slice()),
    ];
    for (name, sound, expected) in cases {
        let input: &[&str] = match name.starts_with("aac") {
            true => &["aac.mp4"],
            false => &["--input-format", "lavfi", lavfi(sound)],
        };
        let result = video(&style)
            .args(input)
            .args(["-o", name])
            .args(["--size", "32", "--iterations", "2,1"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_success(&result);
        let out = dir.path().join(name);
        assert_eq!(codecs(&out), expected, "{name}");
        let (frames, ..) = probe(&out, "v").expect("the output plays");
        // Theora sends a frame equal to the one before as an empty packet, which Ogg leaves out.
        if !name.ends_with(".ogv") {
            assert_eq!(frames, 10, "{name}");
            // MPEG-PS stamps few frames: a player times the others by the stream's own rate
            // (wrong when it was the MP4's clock, 1/10240 s).
            let times = frame_times(&out);
            assert_eq!(times.len(), 10, "{name}");
            for pair in times.windows(2) {
                assert!((pair[1] - pair[0] - 0.2).abs() < 1e-3, "{name}: {times:?}");
            }
        }
        if sound {
            let (packets, ..) = probe(&out, "a").expect("the sound plays");
            assert!(packets > 0, "{name}");
        }
    }
}
