//! Reading: decoding, timestamps, ranges, raw frames, pipes and damaged files.

use super::*;

#[test]
fn lavfi_clip_decodes_25_frames_with_timestamps() {
    let mut input = lavfi(CLIP);
    let info = input.video().clone();
    assert_eq!((info.width, info.height), (96, 64));
    assert_eq!(info.frame_rate, Some(Rational::new(25, 1)));
    assert!(input.streams().is_empty());
    let mut frames = Vec::new();
    while let Some(f) = input.next_frame().unwrap() {
        frames.push(f);
    }
    assert_eq!(frames.len(), 25);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.width, f.height, f.data.len()), (96, 64, 96 * 64 * 3));
        assert_eq!(f.index, i as u64);
        let seconds = f.pts.unwrap() as f64 * f64::from(info.time_base);
        assert!(
            (seconds - i as f64 / 25.0).abs() < 1e-6,
            "frame {i} at {seconds}"
        );
    }
    assert_ne!(frames[0].data, frames[24].data, "testsrc2 moves");
    assert!(input.ending().is_clean());
    assert_eq!(input.ending().frames, 25);
    assert!(input.next_frame().unwrap().is_none(), "stays at the end");
}

#[test]
fn raw_rgb_frames_read_exactly_with_input_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.rgb");
    let (w, h) = (8u32, 6u32);
    let frames: Vec<Vec<u8>> = (0..3u8)
        .map(|f| {
            (0..w * h * 3)
                .map(|i| (i as u8).wrapping_mul(7).wrapping_add(f * 50))
                .collect()
        })
        .collect();
    std::fs::write(&path, frames.concat()).unwrap();
    let options: Vec<(String, String)> = [
        ("video_size", "8x6"),
        ("pixel_format", "rgb24"),
        ("framerate", "10"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut input = Input::open(path.to_str().unwrap(), Some("rawvideo"), &options).unwrap();
    assert_eq!(input.video().frame_rate, Some(Rational::new(10, 1)));
    for expected in &frames {
        let frame = input.next_frame().unwrap().expect("a frame");
        assert_eq!((frame.width, frame.height), (w, h));
        assert_eq!(&frame.data, expected, "rgb24 in, rgb24 out: exact");
    }
    assert!(input.next_frame().unwrap().is_none());
    assert!(input.ending().is_clean());
}

#[test]
fn variable_frame_timestamps_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let stamps = [0i64, 1, 3, 7, 8, 20];
    for name in ["vfr.mkv", "vfr.mp4"] {
        let path = dir.path().join(name);
        let mut settings =
            VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25));
        settings.crf = Some(30);
        let mut output = Output::create(path.to_str().unwrap(), None, settings, &[]).unwrap();
        for (i, &pts) in stamps.iter().enumerate() {
            let frame = RgbFrame::new(
                32,
                32,
                vec![(i * 40) as u8; 32 * 32 * 3],
                Some(pts),
                i as u64,
            )
            .unwrap();
            output.write_video(&frame).unwrap();
        }
        output.finish().unwrap();
        let v = probe(&path).streams.remove(0);
        let expected: Vec<f64> = stamps.iter().map(|&t| t as f64 / 25.0).collect();
        assert_eq!(v.times.len(), expected.len(), "{name}");
        for (got, want) in v.times.iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-3,
                "{name}: {:?} != {expected:?}",
                v.times
            );
        }
    }
}

#[test]
fn range_selects_frames_and_restarts_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("clip.mp4");
    transcode(lavfi(CLIP_WITH_SOUND), mp4.to_str().unwrap(), None, |_| {});
    // lavfi cannot seek (frames are dropped), the MP4 can (seek, then drop up to the start).
    for url in [CLIP_WITH_SOUND, mp4.to_str().unwrap()] {
        let mut input = if url == CLIP_WITH_SOUND {
            lavfi(url)
        } else {
            Input::open(url, None, &[]).unwrap()
        };
        input.set_range(Some(0.4), Some(0.2)).unwrap();
        let tb = f64::from(input.video().time_base);
        let mut times = Vec::new();
        let mut audio = 0;
        while let Some(event) = input.next_event().unwrap() {
            match event {
                Event::Video(f) => times.push(f.pts.unwrap() as f64 * tb),
                Event::Packet(p) => {
                    let t =
                        p.packet.pts().unwrap() as f64 * f64::from(input.streams()[0].time_base);
                    assert!((-0.05..0.2).contains(&t), "audio at {t}");
                    audio += 1;
                }
            }
        }
        let expected = [0.0, 0.04, 0.08, 0.12, 0.16];
        assert_eq!(times.len(), 5, "{url}: {times:?}");
        for (got, want) in times.iter().zip(expected) {
            assert!((got - want).abs() < 1e-3, "{url}: {times:?}");
        }
        assert!(audio > 0, "{url}: no audio in the range");
    }
    assert!(lavfi(CLIP).set_range(Some(-1.0), None).is_err());
}

#[test]
fn pipe_containers_nut_y4m_and_raw() {
    let dir = tempfile::tempdir().unwrap();
    let nut = nut_clip(dir.path());
    let p = probe(&nut);
    assert_eq!(video_of(&p).packets, 25);
    assert!(audio_of(&p).is_some(), "nut takes the PCM as it is");

    let y4m = dir.path().join("clip.y4m");
    let output = Output::create(
        y4m.to_str().unwrap(),
        Some("yuv4mpegpipe"),
        VideoSettings::new(96, 64, Some(Rational::new(25, 1)), Rational::new(1, 25)),
        lavfi(CLIP_WITH_SOUND).streams(),
    )
    .unwrap();
    assert_eq!(
        output.encoder(),
        ("wrapped_avframe".to_string(), "yuv420p".to_string())
    );
    assert!(
        matches!(output.stream_plans(), [(1, StreamPlan::Drop(_))]),
        "{:?}",
        output.stream_plans()
    );
    drop(output);
    transcode(
        lavfi(CLIP),
        y4m.to_str().unwrap(),
        Some("yuv4mpegpipe"),
        |_| {},
    );
    let mut frames = 0;
    let mut input = Input::open(y4m.to_str().unwrap(), None, &[]).unwrap();
    while input.next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 25);

    let raw = dir.path().join("clip.raw");
    transcode(lavfi(CLIP), raw.to_str().unwrap(), Some("rawvideo"), |_| {});
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 25 * 96 * 64 * 3 / 2);
}

#[test]
fn truncated_file_gives_what_decodes_and_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mkv");
    transcode(lavfi(CLIP), full.to_str().unwrap(), None, |s| {
        s.codec = Some("ffv1".into());
    });
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let mut input = Input::open(cut.to_str().unwrap(), None, &[]).unwrap();
    let mut frames = 0;
    while input.next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert!((5..25).contains(&frames), "{frames} frames decoded");
    let problem = input.ending().problem().expect("the loss is reported");
    assert!(
        problem.contains("of about 25 frames") || problem.contains("ended"),
        "{problem}"
    );
}

#[test]
fn inputs_and_outputs_can_move_to_other_threads() {
    fn send<T: Send>() {}
    send::<Input>();
    send::<Output>();
    send::<Event>();
    send::<StreamInfo>();
    send::<RgbFrame>();
}

#[test]
fn pipes_in_and_out() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let nut = nut_clip(dir.path());
    let bytes = std::fs::read(&nut).unwrap();

    // In: a non-seekable pipe, as stdin would be.
    let (reader, mut writer) = std::io::pipe().unwrap();
    let feeder = std::thread::spawn(move || writer.write_all(&bytes));
    let input = Input::open(&format!("pipe:{}", reader.as_raw_fd()), Some("nut"), &[]).unwrap();
    // Out: a pipe too, as stdout would be.
    let (mut out_reader, out_writer) = std::io::pipe().unwrap();
    let collector = std::thread::spawn(move || {
        let mut all = Vec::new();
        out_reader.read_to_end(&mut all).map(|_| all)
    });
    let summary = transcode(
        input,
        &format!("pipe:{}", out_writer.as_raw_fd()),
        Some("matroska"),
        |_| {},
    );
    drop(out_writer);
    drop(reader);
    feeder.join().unwrap().unwrap();
    assert_eq!(summary.frames, 25);
    let piped = dir.path().join("piped.mkv");
    std::fs::write(&piped, collector.join().unwrap().unwrap()).unwrap();
    let p = probe(&piped);
    assert_eq!(video_of(&p).packets, 25);
    assert!(audio_of(&p).is_some());

    // MP4 cannot be written to a pipe; the message says what can.
    let (_r, w) = std::io::pipe().unwrap();
    let url = format!("pipe:{}", w.as_raw_fd());
    let settings = VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25));
    let err = Output::create(&url, Some("mp4"), settings, &[])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("pipes take nut, matroska or mpegts"), "{err}");
}

/// The clip with sound in NUT, written in `dir`.
fn nut_clip(dir: &Path) -> std::path::PathBuf {
    let nut = dir.join("clip.nut");
    transcode(
        lavfi(CLIP_WITH_SOUND),
        nut.to_str().unwrap(),
        Some("nut"),
        |_| {},
    );
    nut
}
