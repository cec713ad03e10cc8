//! Round trips through [`Input`] and [`Output`] on media made with FFmpeg's lavfi sources; the
//! results are checked by probing them with ffmpeg-next directly, not with the code under test.

use std::path::Path;

use ffmpeg::{codec, color, ffi, media, Rational};
use ffmpeg_next as ffmpeg;

use super::*;

const CLIP: &str = "testsrc2=size=96x64:rate=25:duration=1";
const CLIP_WITH_SOUND: &str = "testsrc2=size=96x64:rate=25:duration=1[out0];sine=frequency=440:sample_rate=44100:duration=1[out1]";

fn lavfi(graph: &str) -> Input {
    Input::open(graph, Some("lavfi"), &[]).unwrap()
}

/// Copies everything from `input` to a new output: frames at the input's size, other streams.
fn transcode(
    mut input: Input,
    url: &str,
    format: Option<&str>,
    tweak: impl FnOnce(&mut VideoSettings),
) -> Summary {
    let (w, h) = input.output_size();
    let mut settings = VideoSettings::like(input.video(), w, h);
    tweak(&mut settings);
    let mut output = Output::create(url, format, settings, input.streams()).unwrap();
    while let Some(event) = input.next_event().unwrap() {
        match event {
            Event::Video(frame) => output.write_video(&frame).unwrap(),
            Event::Packet(packet) => output.write_packet(packet).unwrap(),
        }
    }
    assert!(input.ending().is_clean(), "{:?}", input.ending());
    output.finish().unwrap()
}

/// What a file holds, read with ffmpeg-next alone.
#[derive(Debug)]
struct Probe {
    container: String,
    streams: Vec<ProbedStream>,
}

#[derive(Debug)]
struct ProbedStream {
    kind: media::Type,
    codec: codec::Id,
    width: i32,
    height: i32,
    pixel_format: i32,
    color_range: color::Range,
    color_space: color::Space,
    avg_frame_rate: Rational,
    rotation: Option<f64>,
    packets: usize,
    /// Presentation times of the packets, in seconds, sorted.
    times: Vec<f64>,
    /// From the first packet's start to the last one's end, in seconds.
    span: f64,
}

fn probe(path: &Path) -> Probe {
    let mut ctx = ffmpeg::format::input(path).unwrap();
    let mut streams: Vec<ProbedStream> = ctx
        .streams()
        .map(|s| {
            let p = s.parameters();
            // SAFETY: reading plain fields of the stream's parameters.
            let (width, height, pixel_format, range, space) = unsafe {
                let raw = &*p.as_ptr();
                (
                    raw.width,
                    raw.height,
                    raw.format,
                    raw.color_range,
                    raw.color_space,
                )
            };
            let rotation = s
                .side_data()
                .find(|d| d.kind() == codec::packet::side_data::Type::DisplayMatrix)
                // SAFETY: a display matrix is 9 i32 values.
                .map(|d| unsafe { ffi::av_display_rotation_get(d.data().as_ptr().cast()) });
            ProbedStream {
                kind: p.medium(),
                codec: p.id(),
                width,
                height,
                pixel_format,
                color_range: range.into(),
                color_space: space.into(),
                avg_frame_rate: s.avg_frame_rate(),
                rotation,
                packets: 0,
                times: Vec::new(),
                span: 0.0,
            }
        })
        .collect();
    let bases: Vec<Rational> = ctx.streams().map(|s| s.time_base()).collect();
    let mut ends = vec![f64::MIN; streams.len()];
    for (stream, packet) in ctx.packets() {
        let i = stream.index();
        let tb = f64::from(bases[i]);
        let s = &mut streams[i];
        s.packets += 1;
        if let Some(pts) = packet.pts() {
            s.times.push(pts as f64 * tb);
            ends[i] = ends[i].max((pts + packet.duration()) as f64 * tb);
        }
    }
    for (s, end) in streams.iter_mut().zip(ends) {
        s.times.sort_by(f64::total_cmp);
        s.span = s.times.first().map_or(0.0, |first| end - first);
    }
    Probe {
        container: ctx.format().name().to_string(),
        streams,
    }
}

fn video_of(p: &Probe) -> &ProbedStream {
    p.streams
        .iter()
        .find(|s| s.kind == media::Type::Video)
        .unwrap()
}

fn audio_of(p: &Probe) -> Option<&ProbedStream> {
    p.streams.iter().find(|s| s.kind == media::Type::Audio)
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x.abs_diff(y)))
        .sum::<f64>()
        / a.len() as f64
}

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
fn pipe_containers_nut_y4m_and_raw() {
    let dir = tempfile::tempdir().unwrap();
    let nut = dir.path().join("clip.nut");
    transcode(
        lavfi(CLIP_WITH_SOUND),
        nut.to_str().unwrap(),
        Some("nut"),
        |_| {},
    );
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
    let nut = dir.path().join("clip.nut");
    transcode(
        lavfi(CLIP_WITH_SOUND),
        nut.to_str().unwrap(),
        Some("nut"),
        |_| {},
    );
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
