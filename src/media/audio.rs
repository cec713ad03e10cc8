//! Re-encoding an audio stream the output container does not take (PCM into MP4, say): decode,
//! convert with a libavfilter graph (sample format, layout, rate, and the encoder's frame size),
//! encode, mux.

use ffmpeg::{codec, filter, format::Sample, ChannelLayout, Rational, Rescale};
use ffmpeg_next as ffmpeg;

use super::{metadata, Error, Result, StreamInfo};

/// Decoder, filter graph and encoder for one audio stream.
pub(crate) struct AudioTranscoder {
    name: String,
    decoder: codec::decoder::Audio,
    encoder: codec::encoder::audio::Encoder,
    /// Built at the first decoded frame, from its actual format.
    graph: Option<filter::Graph>,
    in_time_base: Rational,
    out_index: usize,
    decoded: ffmpeg::frame::Audio,
    filtered: ffmpeg::frame::Audio,
    packet: ffmpeg::Packet,
    /// Where the next frame starts when the decoder gives none (in the encoder's time base).
    next_pts: i64,
}

impl AudioTranscoder {
    /// Opens a decoder for `info` and an `encoder_name` encoder, and adds the output stream.
    pub fn new(
        info: &StreamInfo,
        encoder_name: &str,
        ctx: &mut ffmpeg::format::context::Output,
        global_header: bool,
    ) -> Result<AudioTranscoder> {
        let name = format!(
            "{} audio (stream {}) as {encoder_name}",
            info.codec, info.index
        );
        let fail = |e: ffmpeg::Error| Error::ffmpeg(format!("cannot re-encode {name}"), e);
        let mut context =
            codec::context::Context::from_parameters(info.parameters.clone()).map_err(fail)?;
        // SAFETY: a plain field of a not yet opened context.
        unsafe { (*context.as_mut_ptr()).pkt_timebase = info.time_base.into() };
        let decoder = context.decoder().audio().map_err(fail)?;
        let rate = decoder.rate();
        let channels = i32::from(decoder.channels());
        if rate == 0 || channels == 0 {
            return Err(Error::Other(format!(
                "cannot re-encode {name}: its sample rate or channel count is unknown"
            )));
        }

        let Some(codec) = ffmpeg::encoder::find_by_name(encoder_name) else {
            return Err(Error::Other(format!(
                "cannot re-encode {name}: FFmpeg has no {encoder_name} encoder"
            )));
        };
        let audio = codec.audio().map_err(fail)?;
        let format = audio
            .formats()
            .and_then(|mut f| f.next())
            .unwrap_or(Sample::F32(ffmpeg::format::sample::Type::Planar));
        let out_rate = audio
            .rates()
            .and_then(|rates| rates.min_by_key(|&r| (i64::from(r) - i64::from(rate)).abs()))
            .map_or(rate as i32, |r| r);
        let layout = audio
            .channel_layouts()
            .map(|layouts| layouts.best(channels))
            .unwrap_or_else(|| ChannelLayout::default(channels));

        let mut encoder = codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(fail)?;
        encoder.set_rate(out_rate);
        encoder.set_channel_layout(layout);
        encoder.set_channels(layout.channels());
        encoder.set_format(format);
        encoder.set_bit_rate(64_000 * layout.channels().max(1) as usize);
        encoder.set_time_base(Rational::new(1, out_rate));
        if global_header {
            encoder.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = encoder.open_as(codec).map_err(fail)?;

        let out_index = ctx.nb_streams() as usize;
        let mut stream = ctx.add_stream(codec).map_err(fail)?;
        stream.set_parameters(&encoder);
        stream.set_time_base(Rational::new(1, out_rate));
        stream.set_metadata(metadata(&info.metadata));

        Ok(AudioTranscoder {
            name,
            decoder,
            encoder,
            graph: None,
            in_time_base: info.time_base,
            out_index,
            decoded: ffmpeg::frame::Audio::empty(),
            filtered: ffmpeg::frame::Audio::empty(),
            packet: ffmpeg::Packet::empty(),
            next_pts: 0,
        })
    }

    /// Decodes `packet` and writes whatever encoded packets result; returns how many.
    pub fn push(
        &mut self,
        packet: &ffmpeg::Packet,
        ctx: &mut ffmpeg::format::context::Output,
    ) -> Result<u64> {
        if let Err(e) = self.decoder.send_packet(packet) {
            // A damaged audio packet loses its few milliseconds, not the output.
            tracing::debug!("decoding {}: {e}", self.name);
            return Ok(0);
        }
        self.pump(ctx)
    }

    /// Flushes decoder, filter and encoder; returns how many packets that wrote.
    pub fn finish(&mut self, ctx: &mut ffmpeg::format::context::Output) -> Result<u64> {
        let _ = self.decoder.send_eof();
        let mut written = self.pump(ctx)?;
        if let Some(graph) = self.graph.as_mut() {
            if let Some(mut source) = graph.get("in") {
                let _ = source.source().flush();
            }
            written += self.filter_out(ctx)?;
        }
        let _ = self.encoder.send_eof();
        written += self.write_encoded(ctx)?;
        Ok(written)
    }

    /// Moves decoded frames through the filter into the encoder.
    fn pump(&mut self, ctx: &mut ffmpeg::format::context::Output) -> Result<u64> {
        let mut written = 0;
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            let pts = self.decoded.timestamp();
            self.decoded.set_pts(pts);
            if self.graph.is_none() {
                self.graph = Some(self.make_graph()?);
            }
            if let Some(mut source) = self.graph.as_mut().and_then(|g| g.get("in")) {
                source
                    .source()
                    .add(&self.decoded)
                    .map_err(|e| Error::ffmpeg(format!("cannot re-encode {}", self.name), e))?;
            }
            written += self.filter_out(ctx)?;
        }
        Ok(written)
    }

    fn filter_out(&mut self, ctx: &mut ffmpeg::format::context::Output) -> Result<u64> {
        let mut written = 0;
        let enc_tb = self.encoder.time_base();
        loop {
            let Some(mut sink) = self.graph.as_mut().and_then(|g| g.get("out")) else {
                return Ok(written);
            };
            let sink_tb = sink.sink().time_base();
            if sink.sink().frame(&mut self.filtered).is_err() {
                return Ok(written);
            }
            let pts = match self.filtered.pts() {
                Some(p) => p.rescale(sink_tb, enc_tb),
                None => self.next_pts,
            };
            self.next_pts = pts + self.filtered.samples() as i64;
            self.filtered.set_pts(Some(pts));
            self.encoder
                .send_frame(&self.filtered)
                .map_err(|e| Error::ffmpeg(format!("cannot re-encode {}", self.name), e))?;
            written += self.write_encoded(ctx)?;
        }
    }

    fn write_encoded(&mut self, ctx: &mut ffmpeg::format::context::Output) -> Result<u64> {
        let mut written = 0;
        let enc_tb = self.encoder.time_base();
        let out_tb = ctx.stream(self.out_index).map_or(enc_tb, |s| s.time_base());
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(self.out_index);
            self.packet.rescale_ts(enc_tb, out_tb);
            self.packet
                .write_interleaved(ctx)
                .map_err(|e| Error::ffmpeg(format!("cannot write {}", self.name), e))?;
            written += 1;
        }
        Ok(written)
    }

    /// abuffer (the decoded frames' format) → abuffersink (the encoder's format and frame size).
    fn make_graph(&self) -> Result<filter::Graph> {
        let fail = |e: ffmpeg::Error| Error::ffmpeg(format!("cannot re-encode {}", self.name), e);
        let frame = &self.decoded;
        let layout = if frame.channel_layout().is_empty() {
            ChannelLayout::default(i32::from(frame.channels()))
        } else {
            frame.channel_layout()
        };
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            self.in_time_base.numerator(),
            self.in_time_base.denominator(),
            frame.rate(),
            frame.format().name(),
            layout.bits()
        );
        let (Some(abuffer), Some(abuffersink)) =
            (filter::find("abuffer"), filter::find("abuffersink"))
        else {
            return Err(Error::Other(format!(
                "cannot re-encode {}: FFmpeg lacks the abuffer filters",
                self.name
            )));
        };
        let mut graph = filter::Graph::new();
        graph.add(&abuffer, "in", &args).map_err(fail)?;
        graph.add(&abuffersink, "out", "").map_err(fail)?;
        if let Some(mut out) = graph.get("out") {
            out.set_sample_format(self.encoder.format());
            out.set_channel_layout(self.encoder.channel_layout());
            out.set_sample_rate(self.encoder.rate());
        }
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse("anull"))
            .map_err(fail)?;
        graph.validate().map_err(fail)?;
        let variable = self.encoder.codec().is_some_and(|c| {
            c.capabilities()
                .contains(codec::capabilities::Capabilities::VARIABLE_FRAME_SIZE)
        });
        if !variable && self.encoder.frame_size() > 0 {
            if let Some(mut out) = graph.get("out") {
                out.sink().set_frame_size(self.encoder.frame_size());
            }
        }
        Ok(graph)
    }
}
