//! Writing: containers, sound, sizes, colour tags, time bases and unfinished outputs.

use super::*;

#[test]
fn mp4_with_sine_audio_keeps_frames_rate_duration_and_sound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    let input = lavfi(CLIP_WITH_SOUND);
    assert_eq!(input.streams().len(), 1);
    assert_eq!(input.streams()[0].kind, media::Type::Audio);
    let summary = transcode(input, path.to_str().unwrap(), None, |s| s.crf = Some(18));
    assert_eq!(summary.frames, 25);
    assert!(summary.other_packets > 0);
    assert!((summary.duration.unwrap() - 1.0).abs() < 1e-6);

    let p = probe(&path);
    assert!(p.container.contains("mp4"), "{}", p.container);
    let v = video_of(&p);
    assert_eq!(v.codec, codec::Id::H264);
    assert_eq!((v.width, v.height), (96, 64));
    assert_eq!(
        v.pixel_format,
        ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32
    );
    assert_eq!(v.packets, 25);
    assert_eq!(v.avg_frame_rate, Rational::new(25, 1));
    assert!(
        (v.span - 1.0).abs() < 1e-3, // ±1 frame is what players forgive; it is kept exactly
        "video lasts {}",
        v.span
    );
    let a = audio_of(&p).expect("an audio stream");
    assert_eq!(
        a.codec,
        codec::Id::AAC,
        "PCM does not go into MP4: re-encoded"
    );
    assert!((a.span - 1.0).abs() < 0.05, "audio lasts {}", a.span);

    // The pictures survive (H.264 at crf 18 on a 96x64 test pattern).
    let mut original = lavfi(CLIP);
    let mut again = Input::open(path.to_str().unwrap(), None, &[]).unwrap();
    assert!(again
        .video()
        .duration
        .is_some_and(|d| (d - 1.0).abs() <= 0.04 + 1e-9));
    let mut n = 0;
    while let (Some(a), Some(b)) = (original.next_frame().unwrap(), again.next_frame().unwrap()) {
        assert_eq!(
            a.pts.map(|t| t as f64 * 0.04),
            b.pts.map(|t| t as f64 * f64::from(again.video().time_base))
        );
        let diff = mean_abs_diff(&a.data, &b.data);
        assert!(diff < 6.0, "frame {n} differs by {diff} on average");
        n += 1;
    }
    assert_eq!(n, 25);
}

#[test]
fn aac_audio_is_copied_into_matroska() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("a.mp4");
    transcode(lavfi(CLIP_WITH_SOUND), mp4.to_str().unwrap(), None, |_| {});
    let mkv = dir.path().join("b.mkv");
    let input = Input::open(mp4.to_str().unwrap(), None, &[]).unwrap();
    let streams = input.streams().to_vec();
    let (w, h) = input.output_size();
    let output = Output::create(
        mkv.to_str().unwrap(),
        None,
        VideoSettings::like(input.video(), w, h),
        &streams,
    )
    .unwrap();
    assert_eq!(output.stream_plans(), &[(1, StreamPlan::Copy)]);
    drop(output);
    assert!(
        !mkv.exists(),
        "an output dropped before any frame is removed"
    );

    transcode(input, mkv.to_str().unwrap(), None, |_| {});
    let p = probe(&mkv);
    assert_eq!(p.container, "matroska,webm");
    assert_eq!(video_of(&p).packets, 25);
    let a = audio_of(&p).expect("an audio stream");
    assert_eq!(a.codec, codec::Id::AAC);
    assert_eq!(
        a.packets,
        probe(&mp4).streams[1].packets,
        "every audio packet copied"
    );
    assert!((a.span - 1.0).abs() < 0.05, "audio lasts {}", a.span);
}

#[test]
fn odd_sizes_are_cropped_only_when_the_encoder_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    // testsrc2 rounds sizes down to even ones in yuv420p; in RGB it keeps them.
    let odd = "testsrc2=size=97x63:rate=25:duration=1,format=rgb24";

    let mp4 = dir.path().join("odd.mp4");
    let input = lavfi(odd);
    assert_eq!(input.output_size(), (97, 63));
    let settings = VideoSettings::like(input.video(), 97, 63);
    let output = Output::create(mp4.to_str().unwrap(), None, settings, &[]).unwrap();
    assert_eq!(
        output.encoded_size(),
        (96, 62),
        "libx264 yuv420p needs even sizes"
    );
    drop(output);
    transcode(input, mp4.to_str().unwrap(), None, |_| {});
    let v = probe(&mp4).streams.remove(0);
    assert_eq!((v.width, v.height, v.packets), (96, 62, 25));

    // FFV1 takes odd sizes in yuv420p: nothing is cropped.
    let mkv = dir.path().join("odd.mkv");
    transcode(lavfi(odd), mkv.to_str().unwrap(), None, |s| {
        s.codec = Some("ffv1".into())
    });
    let v = probe(&mkv).streams.remove(0);
    assert_eq!(
        (v.codec, v.width, v.height, v.packets),
        (codec::Id::FFV1, 97, 63, 25)
    );
}

#[test]
fn rotation_sample_aspect_and_full_range_are_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tagged.mp4");
    let mut matrix = [0i32; 9];
    // SAFETY: a 9-element matrix.
    unsafe { ffi::av_display_rotation_set(matrix.as_mut_ptr(), 90.0) };
    // FFmpeg sets clockwise and reads counter-clockwise: -90 here.
    // SAFETY: a 9-element matrix.
    let angle = unsafe { ffi::av_display_rotation_get(matrix.as_ptr()) };
    assert_eq!(angle.abs(), 90.0);
    transcode(lavfi(CLIP), path.to_str().unwrap(), None, |s| {
        s.display_matrix = Some(matrix);
        s.sample_aspect_ratio = Some(Rational::new(4, 3));
        s.color_range = color::Range::JPEG;
    });
    let v = probe(&path).streams.remove(0);
    assert_eq!(v.rotation, Some(angle));
    assert_eq!(v.color_range, color::Range::JPEG);
    let input = Input::open(path.to_str().unwrap(), None, &[]).unwrap();
    assert_eq!(input.video().rotation, Some(angle));
    assert_eq!(input.video().sample_aspect_ratio, Some(Rational::new(4, 3)));
    assert_eq!(input.video().color_range, color::Range::JPEG);
    // And settings made from it carry them on.
    let again = VideoSettings::like(input.video(), 96, 64);
    assert_eq!(again.display_matrix, Some(matrix));
    assert_eq!(again.sample_aspect_ratio, Some(Rational::new(4, 3)));
    // Halving the width doubles the pixel aspect ratio, keeping the picture's shape.
    assert_eq!(
        VideoSettings::like(input.video(), 48, 64).sample_aspect_ratio,
        Some(Rational::new(8, 3))
    );
}

#[test]
fn colours_survive_a_lossless_yuv420p_round_trip_in_both_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let colours: [[u8; 3]; 6] = [
        [200, 30, 60],
        [10, 240, 100],
        [40, 80, 250],
        [128, 128, 128],
        [255, 255, 255],
        [0, 0, 0],
    ];
    for range in [color::Range::MPEG, color::Range::JPEG] {
        let path = dir.path().join(format!("flat-{range:?}.mkv"));
        let mut settings =
            VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25));
        settings.codec_options = vec![("qp".into(), "0".into())];
        settings.color_range = range;
        let mut output = Output::create(path.to_str().unwrap(), None, settings, &[]).unwrap();
        for (i, c) in colours.iter().enumerate() {
            let data: Vec<u8> = (0..32 * 32).flat_map(|_| *c).collect();
            output
                .write_video(&RgbFrame::new(32, 32, data, Some(i as i64), i as u64).unwrap())
                .unwrap();
        }
        output.finish().unwrap();
        let v = probe(&path).streams.remove(0);
        assert_eq!(v.color_range, range);
        let mut input = Input::open(path.to_str().unwrap(), None, &[]).unwrap();
        assert_eq!(
            input.video().color_space,
            color::Space::SMPTE170M,
            "untagged input is BT.601, tagged so"
        );
        for c in colours {
            let frame = input.next_frame().unwrap().unwrap();
            for px in frame.data.chunks_exact(3) {
                let off = px.iter().zip(c).map(|(&a, b)| a.abs_diff(b)).max().unwrap();
                // 8-bit YUV rounding only; a matrix or range mix-up costs tens of levels.
                assert!(off <= 2, "{range:?}: {c:?} came back as {px:?}");
            }
        }
    }
}

#[test]
fn finishing_without_frames_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.mp4");
    let settings = VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 25));
    let output = Output::create(path.to_str().unwrap(), None, settings, &[]).unwrap();
    let names = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let written = names();
    assert!(
        written.len() == 1
            && written[0].starts_with(".empty.mp4.")
            && written[0].ends_with(".part"),
        "the header goes at once to a temporary file beside the destination: {written:?}"
    );
    let err = output.finish().unwrap_err();
    assert!(err.to_string().contains("no video frames"), "{err}");
    assert!(names().is_empty(), "{:?}", names());
}

#[test]
fn wrong_frame_size_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mkv");
    let settings = VideoSettings::new(32, 32, None, Rational::new(1, 25));
    let mut output = Output::create(path.to_str().unwrap(), None, settings, &[]).unwrap();
    let frame = RgbFrame::new(16, 16, vec![0; 16 * 16 * 3], Some(0), 0).unwrap();
    let err = output.write_video(&frame).unwrap_err();
    assert!(
        err.to_string()
            .contains("is 16x16 but the output was set up for 32x32"),
        "{err}"
    );
}

#[test]
fn encoder_that_refuses_the_time_base_gets_one_of_a_frame() {
    // MPEG-4 Part 2 takes no time base finer than 1/65535; MPEG-TS timestamps are in 1/90000.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mpeg4.mkv");
    let mut settings =
        VideoSettings::new(32, 32, Some(Rational::new(25, 1)), Rational::new(1, 90000));
    settings.codec = Some("mpeg4".into());
    let mut output = Output::create(path.to_str().unwrap(), None, settings, &[]).unwrap();
    for i in 0..5u8 {
        let frame = RgbFrame::new(
            32,
            32,
            vec![i * 50; 32 * 32 * 3],
            Some(i64::from(i) * 3600),
            u64::from(i),
        )
        .unwrap();
        output.write_video(&frame).unwrap();
    }
    output.finish().unwrap();
    let v = probe(&path).streams.remove(0);
    assert_eq!(v.codec, codec::Id::MPEG4);
    let expected = [0.0, 0.04, 0.08, 0.12, 0.16];
    assert_eq!(v.times.len(), 5);
    for (got, want) in v.times.iter().zip(expected) {
        assert!((got - want).abs() < 1e-3, "{:?}", v.times);
    }
}

#[test]
fn untagged_hd_is_encoded_and_tagged_bt709_and_sd_bt601() {
    let dir = tempfile::tempdir().unwrap();
    for ((w, h), space) in [
        ((1280, 720), color::Space::BT709),
        ((640, 480), color::Space::SMPTE170M),
    ] {
        let path = dir.path().join(format!("{w}.mkv"));
        let mut settings =
            VideoSettings::new(w, h, Some(Rational::new(25, 1)), Rational::new(1, 25));
        settings.codec_options = vec![
            ("qp".into(), "0".into()),
            ("preset".into(), "ultrafast".into()),
        ];
        let mut output = Output::create(path.to_str().unwrap(), None, settings, &[]).unwrap();
        let colour = [200u8, 30, 60];
        let data: Vec<u8> = (0..w * h).flat_map(|_| colour).collect();
        output
            .write_video(&RgbFrame::new(w, h, data, Some(0), 0).unwrap())
            .unwrap();
        output.finish().unwrap();
        assert_eq!(probe(&path).streams[0].color_space, space, "{w}x{h}");
        let frame = Input::open(path.to_str().unwrap(), None, &[])
            .unwrap()
            .next_frame()
            .unwrap()
            .unwrap();
        let off = frame.data[..3]
            .iter()
            .zip(colour)
            .map(|(&a, b)| a.abs_diff(b))
            .max()
            .unwrap();
        assert!(
            off <= 2,
            "{w}x{h}: {colour:?} came back as {:?}",
            &frame.data[..3]
        );
    }
}

#[test]
fn an_output_dropped_unfinished_keeps_the_frames_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interrupted.mp4");
    let mut input = lavfi(CLIP);
    let (w, h) = input.output_size();
    let mut output = Output::create(
        path.to_str().unwrap(),
        None,
        VideoSettings::like(input.video(), w, h),
        &[],
    )
    .unwrap();
    for _ in 0..10 {
        output
            .write_video(&input.next_frame().unwrap().unwrap())
            .unwrap();
    }
    drop(output);
    let v = probe(&path).streams.remove(0);
    assert_eq!(v.packets, 10, "a playable file with the frames done");
}
