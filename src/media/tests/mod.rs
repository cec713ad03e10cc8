//! Round trips through [`Input`] and [`Output`] on media made with FFmpeg's lavfi sources; the
//! results are checked by probing them with ffmpeg-next directly, not with the code under test.

use std::path::Path;

use ffmpeg::{codec, color, ffi, media, Rational};
use ffmpeg_next as ffmpeg;

use super::*;

mod reading;
mod writing;

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
