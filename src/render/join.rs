//! Joining a render's segments into its output: their packets copied in order into one file
//! (stream copy, timestamps kept), written beside the destination and renamed over it when
//! complete.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::ptr;

use anyhow::{bail, Context, Result};
use ffmpeg::ffi;
use ffmpeg::{media, Packet, Rational, Rescale};
use ffmpeg_next as ffmpeg;

/// What [`join`] wrote.
pub struct Joined {
    /// Video frames (packets of the first video stream).
    pub frames: u64,
}

/// Joins `segments` (files of one container, with the same streams, video at `frame_rate`
/// frames a second, else at the average rate of the segment with the most streams) into
/// `destination`, in the container named `format` or guessed from the destination's name. What
/// was at the destination stays as it was until the joined file is complete.
pub fn join(
    segments: &[PathBuf],
    destination: &Path,
    format: Option<&str>,
    frame_rate: Option<f64>,
) -> Result<Joined> {
    let shown = destination.display().to_string();
    let Some(first) = segments.first() else {
        bail!("no video frames to write: '{shown}' was not written");
    };
    let temp = crate::files::temporary_beside(destination);
    let joined = write(segments, first, &temp, destination, format, frame_rate)
        .with_context(|| format!("cannot write '{shown}'"));
    match joined {
        Ok(joined) => {
            std::fs::rename(&temp, destination)
                .with_context(|| format!("cannot put the finished '{shown}' in place"))?;
            Ok(joined)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Writes the joined file to `temp`, its streams laid out as in `first`.
fn write(
    segments: &[PathBuf],
    first: &Path,
    temp: &Path,
    destination: &Path,
    format: Option<&str>,
    frame_rate: Option<f64>,
) -> Result<Joined> {
    // A segment holds only the streams that had packets in it (a sound shorter than the video
    // leaves the last segments without one): the layout is the fullest segment's.
    let mut layout = open(first)?;
    for path in &segments[1..] {
        let segment = open(path)?;
        if segment.nb_streams() > layout.nb_streams() {
            layout = segment;
        }
    }
    let kinds = stream_kinds(&layout);
    let muxer = match format {
        Some(name) => name.to_string(),
        None => muxer_for(destination)?,
    };
    let mut out = ffmpeg::format::output_as(temp, &muxer)?;
    out.set_metadata(layout.metadata().to_owned());
    let video = layout.streams().best(media::Type::Video);
    let frame_rate = frame_rate.or_else(|| video.as_ref().map(|s| f64::from(s.avg_frame_rate())));
    let video = video.map(|s| s.index());
    for stream in layout.streams() {
        let mut copy = out.add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))?;
        copy.set_parameters(stream.parameters());
        copy.set_time_base(stream.time_base());
        copy.set_avg_frame_rate(stream.avg_frame_rate());
        copy.set_rate(stream.rate());
        copy.set_metadata(stream.metadata().to_owned());
        // SAFETY: plain fields of the new stream and a copy of the input stream's side data
        // (the display matrix), which FFmpeg owns from here on.
        unsafe {
            let (from, to) = (stream.as_ptr(), copy.as_mut_ptr());
            (*(*to).codecpar).codec_tag = 0;
            (*to).disposition = (*from).disposition;
            for i in 0..(*from).nb_side_data.max(0) as usize {
                let data = &*(*from).side_data.add(i);
                let target = ffi::av_stream_new_side_data(to, data.type_, data.size);
                if !target.is_null() {
                    ptr::copy_nonoverlapping(data.data, target, data.size);
                }
            }
        }
    }
    out.write_header()?;
    let time_bases: Vec<Rational> = out.streams().map(|s| s.time_base()).collect();
    let clocks: Vec<Clock> = time_bases
        .iter()
        .enumerate()
        .map(|(index, &tb)| Clock::new(tb, frame_rate.filter(|_| Some(index) == video)))
        .collect();
    let mut joiner = Joiner {
        out: &mut out,
        clocks,
        time_bases,
        video,
        frames: 0,
    };
    for path in segments {
        let mut segment = open(path)?;
        let to = output_streams(&stream_kinds(&segment), &kinds)
            .with_context(|| format!("the segment '{}' has other streams", path.display()))?;
        let from: Vec<Rational> = segment.streams().map(|s| s.time_base()).collect();
        // SAFETY: a plain field of the demuxer the context opened.
        let discontinuous =
            unsafe { (*segment.format().as_ptr()).flags } & ffi::AVFMT_TS_DISCONT != 0;
        // The packets before the segment's first video packet, and then the shift of its clock.
        let mut held = Vec::new();
        let mut shift = None;
        let mut packet = Packet::empty();
        loop {
            match packet.read(&mut segment) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read '{}'", path.display()))
                }
            }
            let index = to[packet.stream()];
            packet.rescale_ts(from[packet.stream()], joiner.time_bases[index]);
            packet.set_stream(index);
            let packet = std::mem::replace(&mut packet, Packet::empty());
            match shift {
                Some(shift) => joiner.put(packet, shift)?,
                None if Some(index) == joiner.video => {
                    let found = joiner.shift(&packet, discontinuous);
                    shift = Some(found);
                    for held in held.drain(..) {
                        joiner.put(held, found)?;
                    }
                    joiner.put(packet, found)?;
                }
                None => held.push(packet),
            }
        }
        for held in held {
            joiner.put(held, 0)?;
        }
    }
    let frames = joiner.frames;
    out.write_trailer()?;
    // SAFETY: closing the file the context opened (and nulling it, so it is closed once).
    let closed = unsafe { ffi::avio_closep(&mut (*out.as_mut_ptr()).pb) };
    if closed < 0 {
        return Err(ffmpeg::Error::from(closed).into());
    }
    Ok(Joined { frames })
}

/// Opens a segment for reading.
fn open(path: &Path) -> Result<ffmpeg::format::context::Input> {
    ffmpeg::format::input(path)
        .with_context(|| format!("cannot read the segment '{}'", path.display()))
}

/// Each stream's kind and codec, in order.
fn stream_kinds(file: &ffmpeg::format::context::Input) -> Vec<(media::Type, ffmpeg::codec::Id)> {
    file.streams()
        .map(|s| (s.parameters().medium(), s.parameters().id()))
        .collect()
}

/// For each of a segment's streams, the output stream of the same kind and codec it goes to
/// (in order; an output stream may have none in the segment); none when one has no match.
fn output_streams<K: PartialEq>(segment: &[K], output: &[K]) -> Option<Vec<usize>> {
    let mut taken = vec![false; output.len()];
    segment
        .iter()
        .map(|kind| {
            let j = (0..output.len()).find(|&j| !taken[j] && output[j] == *kind)?;
            taken[j] = true;
            Some(j)
        })
        .collect()
}

/// The joined file being written.
struct Joiner<'a> {
    out: &'a mut ffmpeg::format::context::Output,
    clocks: Vec<Clock>,
    time_bases: Vec<Rational>,
    /// The video stream's index.
    video: Option<usize>,
    /// Video packets written.
    frames: u64,
}

impl Joiner<'_> {
    /// How far (in the video's time base) to move the segment whose first video packet is
    /// `first`. A container whose timestamps may jump (MPEG-PS) shifts a segment's clock when its
    /// first timestamps would fall before its start (the first segment's, by the encoder's delay
    /// and the muxer's preload), so that it overlaps the next one: the next segment is moved to
    /// follow it, and so on. Other containers keep their timestamps.
    fn shift(&self, first: &Packet, discontinuous: bool) -> i64 {
        let Some(clock) = self.video.map(|v| &self.clocks[v]) else {
            return 0;
        };
        match (first.dts().or(first.pts()), clock.last) {
            (Some(start), Some(last)) if discontinuous && start <= last => {
                last + clock.step - start
            }
            _ => 0,
        }
    }

    /// Writes `packet` (in its output stream's time base) moved by `shift` video ticks.
    fn put(&mut self, mut packet: Packet, shift: i64) -> Result<()> {
        let index = packet.stream();
        let video_tb = self
            .video
            .map_or(self.time_bases[index], |v| self.time_bases[v]);
        let moved = shift.rescale(video_tb, self.time_bases[index]);
        packet.set_pts(packet.pts().map(|t| t + moved));
        packet.set_dts(packet.dts().map(|t| t + moved));
        if !self.clocks[index].keep_increasing(&mut packet) {
            return Ok(());
        }
        packet.set_position(-1);
        if Some(index) == self.video {
            self.frames += 1;
        }
        packet.write_interleaved(self.out)?;
        Ok(())
    }
}

/// One output stream's decoding timestamps, as the join writes them.
struct Clock {
    /// The last packet's decoding timestamp.
    last: Option<i64>,
    /// A packet's duration when it does not say (a video frame's, else one tick).
    step: i64,
}

impl Clock {
    /// A clock in `time_base`, for frames at `frame_rate` a second when known.
    fn new(time_base: Rational, frame_rate: Option<f64>) -> Clock {
        let ticks = frame_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| (f64::from(time_base.invert()) / r).round() as i64);
        Clock {
            last: None,
            step: ticks.unwrap_or(1).max(1),
        }
    }

    /// Keeps the stream's decoding timestamps increasing across segments:
    /// - a packet without one (MPEG-PS stamps only the first frame of each of its packs) gets
    ///   the previous packet's plus a duration, as FFmpeg's demuxers derive them;
    /// - a segment whose encoder reorders frames (B-frames) starts decoding before its first
    ///   picture, which can fall before the previous segment's last packet; its first packets
    ///   are moved up to just after it (never past their presentation time).
    ///
    /// A packet that cannot follow (a re-encoded sound's priming, which overlaps the previous
    /// segment's end) is left out: returns whether to keep it.
    fn keep_increasing(&mut self, packet: &mut Packet) -> bool {
        if packet.dts().is_none() {
            if let Some(previous) = self.last {
                let step = if packet.duration() > 0 {
                    packet.duration()
                } else {
                    self.step
                };
                packet.set_dts(Some(previous + step));
            }
        }
        if let (Some(dts), Some(previous)) = (packet.dts(), self.last) {
            if dts <= previous {
                let moved = previous + 1;
                match packet.pts() {
                    Some(pts) if pts < moved => return false,
                    _ => packet.set_dts(Some(moved)),
                }
            }
        }
        if packet.dts().is_some() {
            self.last = packet.dts().max(self.last);
        }
        true
    }
}

/// The name of the muxer FFmpeg picks for `destination`'s extension.
fn muxer_for(destination: &Path) -> Result<String> {
    let name = CString::new(destination.to_string_lossy().as_bytes())?;
    // SAFETY: a valid C string; the result is a static muxer or null.
    let muxer = unsafe { ffi::av_guess_format(ptr::null(), name.as_ptr(), ptr::null()) };
    if muxer.is_null() {
        bail!("no container for its extension");
    }
    // SAFETY: a static muxer's name, a valid C string.
    let name = unsafe { std::ffi::CStr::from_ptr((*muxer).name) };
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_without_a_stream_maps_the_others_by_kind() {
        let output = ["video", "audio", "audio"];
        assert_eq!(output_streams(&["video"], &output), Some(vec![0]));
        assert_eq!(
            output_streams(&["audio", "video"], &output),
            Some(vec![1, 0])
        );
        assert_eq!(output_streams(&output, &output), Some(vec![0, 1, 2]));
        assert_eq!(output_streams(&["video", "video"], &output), None);
        assert_eq!(output_streams(&["subtitle"], &output), None);
    }

    fn packet(pts: Option<i64>, dts: Option<i64>) -> Packet {
        let mut p = Packet::empty();
        p.set_pts(pts);
        p.set_dts(dts);
        p
    }

    #[test]
    fn missing_timestamps_follow_the_packet_before_by_a_frame() {
        // 5 frames a second in MPEG-PS's 90 kHz.
        let mut clock = Clock::new(Rational::new(1, 90_000), Some(5.0));
        let mut first = packet(Some(81_000), Some(45_000));
        assert!(clock.keep_increasing(&mut first));
        let dts: Vec<Option<i64>> = (0..3)
            .map(|_| {
                let mut p = packet(None, None);
                assert!(clock.keep_increasing(&mut p));
                p.dts()
            })
            .collect();
        assert_eq!(dts, [Some(63_000), Some(81_000), Some(99_000)]);
    }

    #[test]
    fn an_overlapping_packet_moves_up_or_is_left_out() {
        let mut clock = Clock::new(Rational::new(1, 1000), None);
        assert!(clock.keep_increasing(&mut packet(Some(100), Some(100))));
        let mut reordered = packet(Some(300), Some(90));
        assert!(clock.keep_increasing(&mut reordered));
        assert_eq!(reordered.dts(), Some(101));
        assert!(
            !clock.keep_increasing(&mut packet(Some(50), Some(50))),
            "a packet shown before the last one cannot follow it"
        );
    }
}
