//! The option groups that several subcommands flatten in, and their defaults.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::parse::{non_negative, parse_key_value, positive, style_scale};
use crate::model::Device;
use crate::temporal::FlowPreset;

/// How FFmpeg opens the input, in its words.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The input's format (demuxer or device), as `ffmpeg -f FMT -i INPUT`: rawvideo, lavfi, v4l2, nut…
    #[arg(long, value_name = "FMT")]
    pub input_format: Option<String>,

    /// A demuxer or device option, as `ffmpeg -KEY VALUE -i INPUT`; repeat for several.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub input_option: Vec<(String, String)>,
}

/// Demuxer, muxer, encoder and the part of the input to use, in FFmpeg's words.
#[derive(Debug, Args)]
#[command(next_help_heading = "Media")]
pub struct MediaArgs {
    #[command(flatten)]
    pub source: InputArgs,

    /// The output container: mp4, matroska, nut, mpegts, yuv4mpegpipe, rawvideo… [default: from the extension].
    #[arg(long, value_name = "FMT")]
    pub format: Option<String>,

    /// The video encoder [default: libx264 with yuv420p, or the container's own].
    #[arg(long, value_name = "CODEC")]
    pub codec: Option<String>,

    /// Constant rate factor for encoders that have one (lower is better; x264's default is 23).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=63))]
    pub crf: Option<u32>,

    /// Encoder preset (x264: ultrafast … veryslow).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,

    /// An encoder option, as `ffmpeg -KEY VALUE`; repeat for several.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub codec_option: Vec<(String, String)>,

    /// Drop the audio (and every other stream but the video).
    #[arg(long)]
    pub no_audio: bool,

    /// Start this many seconds into the input.
    #[arg(long, value_name = "SECONDS", value_parser = non_negative, allow_negative_numbers = true)]
    pub start: Option<f32>,

    /// Use only this many seconds of the input.
    #[arg(long, value_name = "SECONDS", value_parser = positive, allow_negative_numbers = true)]
    pub duration: Option<f32>,

    /// Stylize at most N frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,
}

/// `--init` for video frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FrameInit {
    /// The previous stylized frame carried along the optical flow of the content (the temporal
    /// loss holds it where the flow can be trusted).
    PrevWarped,
    /// The previous stylized frame as it was (warm start: steadier video, fewer iterations).
    Prev,
    /// The frame's own content (every frame independent).
    Content,
    /// Seeded white noise.
    Noise,
}

/// Coarse-to-fine levels and the stopping rule.
#[derive(Debug, Args)]
#[command(next_help_heading = "Budget")]
pub struct BudgetArgs {
    /// Coarse-to-fine: optimize first at 1/2^(N-1) of --size, then at each doubling up to --size,
    /// each level starting from the one below upsampled; for a video, its first frame only; 1
    /// optimizes at --size only [default: 1 for images and live, 3 for a video's first frame
    /// (fewer where a level would be under 16 pixels)].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub levels: Option<u32>,

    /// Stop a level or a frame early when the loss fell by less than this fraction over its last
    /// 10 iterations (--iterations stays the cap); 0 turns the rule off [default: 0 for images and
    /// a video's first frame, 0.003 for its later frames].
    #[arg(long, value_name = "FRACTION", value_parser = non_negative, allow_negative_numbers = true)]
    pub tolerance: Option<f32>,

    /// How a cold start (an image, a video's or live view's first frame) steps: `bands` weights
    /// large shapes over single pixels, so the picture takes the style in a third to a half of
    /// the iterations; `none` steps every pixel alike [default: bands for images, none for video and
    /// live, whose first frame is measured without them].
    #[arg(long, value_enum, value_name = "bands|none")]
    pub precondition: Option<Precondition>,
}

/// `--precondition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Precondition {
    /// The image stepped with its blurs by tents 5 pixels up to half the picture wide (at most
    /// 513), the wider ones weighted more.
    Bands,
    /// Plain L-BFGS: every pixel stepped alike.
    None,
}

/// How each video frame follows the one before it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Temporal coherence")]
pub struct TemporalArgs {
    /// Optical flow settings, after OpenCV's DIS presets: ultrafast, fast, medium, or quality
    /// (searched and refined at full size) [default: quality for video, fast for live].
    #[arg(long, value_name = "PRESET")]
    pub flow_preset: Option<FlowPreset>,

    /// Where each frame's optimization starts: the previous stylized frame carried along the
    /// optical flow, the previous stylized frame as it was, the frame's content, or noise.
    #[arg(long, value_enum, default_value_t = FrameInit::PrevWarped)]
    pub init: FrameInit,

    /// Weight of the temporal loss (Ruder et al.): how strongly each frame keeps to the previous
    /// stylized frame carried along the optical flow, where that can be trusted; 0 turns it off
    /// [default: 3000; 1000 with live --live].
    #[arg(long, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
    pub temporal_weight: Option<f32>,
}

/// The default `--temporal-weight`: the steadiest of 0, 10³, 3·10³ … 10⁶ by an independent flicker
/// measure on a near-still, a panning and an occluding clip whose style loss stays within 10% of
/// frames stylized independently as well as the first (docs/TEMPORAL.md; 10⁴ costs 10–11% on the
/// pan and the occluding clip).
pub const DEFAULT_TEMPORAL_WEIGHT: f32 = 3e3;
/// The default `--levels` of `stylize image`: one, as the band preconditioner reaches a loss in
/// fewer full-size evaluations alone than under coarse levels (docs/COARSE_TO_FINE.md).
pub const IMAGE_LEVELS: usize = 1;
/// The default `--levels` of a video's first frame: with 865 iterations shared 399, 199, 267
/// (`stylize::split_first_frame`) it costs a third of 1,000 at one scale, and a 300-frame still
/// shot drifts less from it than from those (docs/COARSE_TO_FINE.md).
pub const VIDEO_LEVELS: usize = 3;
/// The default `--levels` of a cold `live` start: one, its 10 or 100 iterations not measured
/// coarse to fine.
pub const LIVE_LEVELS: usize = 1;
/// Over how many iterations `--tolerance` measures the loss's decrease.
pub const TOLERANCE_WINDOW: usize = 10;

/// The default `--content-weight` (neural-style's).
pub const DEFAULT_CONTENT_WEIGHT: f32 = 5.0;
/// The default `--style-weight` (neural-style's).
pub const DEFAULT_STYLE_WEIGHT: f32 = 100.0;

/// Style images and loss weights.
#[derive(Debug, Args)]
#[command(next_help_heading = "Style")]
pub struct StyleArgs {
    /// A style image; repeat for several styles.
    #[arg(short, long = "style", value_name = "IMAGE", required = true)]
    pub styles: Vec<PathBuf>,

    /// Weights for blending several styles, comma-separated, one per --style (default: equal).
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', value_parser = positive, allow_negative_numbers = true)]
    pub style_blend: Vec<f32>,

    /// Size of the style images relative to --size (above 0, at most 10).
    #[arg(long, default_value_t = 1.0, value_name = "SCALE", value_parser = style_scale, allow_negative_numbers = true)]
    pub style_scale: f32,

    /// Weight of the content loss.
    #[arg(long, default_value_t = DEFAULT_CONTENT_WEIGHT, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
    pub content_weight: f32,

    /// Weight of the style loss.
    #[arg(long, default_value_t = DEFAULT_STYLE_WEIGHT, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
    pub style_weight: f32,

    /// Weight of the total-variation (smoothness) loss.
    #[arg(long, default_value_t = 1e-3, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
    pub tv_weight: f32,
}

/// The optimizer.
#[derive(Debug, Args)]
#[command(next_help_heading = "Optimizer")]
pub struct OptimArgs {
    /// The optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerChoice::Lbfgs)]
    pub optimizer: OptimizerChoice,

    /// Adam's learning rate (the image is in [0, 1]).
    #[arg(long, default_value_t = 0.02, value_name = "RATE", value_parser = positive, allow_negative_numbers = true)]
    pub learning_rate: f32,

    /// L-BFGS history length (memory: 2 × N × image size × 4 bytes).
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub lbfgs_history: u32,

    /// Seed for --init noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Where and how the network runs.
#[derive(Debug, Args)]
#[command(next_help_heading = "Engine")]
pub struct EngineArgs {
    /// auto (CUDA if usable, else CPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    pub device: Device,

    /// CPU threads for ONNX Runtime (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Directory of the exported model (manifest.json, features.onnx, loss.onnx) [default: models/vgg19].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Where the optimizer runs: device (its algebra as graphs on the model's device; only scalars
    /// cross to the host), host (in Rust on the CPU) [default: device with CUDA, host on the CPU].
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<EngineKind>,

    /// Arithmetic of CUDA's convolutions and matrix products: tf32 (TensorFloat-32, several times
    /// faster) or fp32 (strict) [default: tf32 with CUDA; the CPU is always fp32].
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<PrecisionChoice>,
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The optimizer's algebra as graphs on the model's device.
    Device,
    /// The optimizer's algebra in Rust on the host.
    Host,
}

/// `--precision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionChoice {
    /// Strict single precision.
    Fp32,
    /// TensorFloat-32 convolutions and matrix products (CUDA only).
    Tf32,
}

/// Progress and statistics.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reporting")]
pub struct ReportArgs {
    /// No progress bar and no notices.
    #[arg(short, long)]
    pub quiet: bool,

    /// Write figures (per-iteration loss terms and timings) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

/// What to do with outputs that already exist, in ffmpeg's words.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OverwriteArgs {
    /// Overwrite output files that exist, without asking.
    #[arg(short = 'y', long, conflicts_with = "no_overwrite")]
    pub overwrite: bool,

    /// Never overwrite output files: stop if one exists. Without -y or -n, stylize asks on a
    /// terminal and refuses otherwise.
    #[arg(short = 'n', long)]
    pub no_overwrite: bool,
}

/// The optimizers on offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerChoice {
    /// Limited-memory BFGS with a line search (best pictures for the evaluations spent).
    Lbfgs,
    /// Adam (cheaper per iteration, needs more of them).
    Adam,
}
