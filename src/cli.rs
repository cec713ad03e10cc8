//! The command line: subcommands and the option groups they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::Device;
use crate::temporal::FlowPreset;

/// Paint images and video in the style of an artwork (neural style transfer, Gatys et al.).
#[derive(Debug, Parser)]
#[command(name = "stylize", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stylize one image: optimize it against the content image and the style images.
    #[command(
        after_help = "Example:\n  stylize image photo.jpg --style painting.jpg -o painted.jpg --size 512 --iterations 300"
    )]
    Image(ImageArgs),
    /// Stylize a video (a file, a URL, a device or `-` for stdin) into a video with its sound kept.
    #[command(after_help = "Examples:\n  \
        stylize video clip.mp4 --style painting.jpg -o painted.mp4\n  \
        stylize video --input-format lavfi testsrc2=size=320x240:rate=25:duration=2 -s painting.jpg -o test.mp4\n  \
        ffmpeg -i in.mkv -f nut - | stylize video - -s painting.jpg -o - --format nut | ffplay -\n\n\
        Ctrl-C (or SIGTERM) cuts the frame in hand short, writes it and leaves a playable file; a second Ctrl-C aborts.")]
    Video(VideoArgs),
    /// Show a webcam or any video stylized in a window, live, steered with the keyboard.
    #[command(after_help = LIVE_HELP)]
    Live(LiveArgs),
    /// Measure a stylized video: its flicker (temporal warping error along the original's optical
    /// flow) and, with --style, each frame's style and content loss.
    #[command(after_help = "Examples:\n  \
        stylize metrics --original clip.mp4 --stylized painted.mp4\n  \
        stylize metrics --original clip.mp4 --stylized painted.mp4 --style painting.jpg --json")]
    Metrics(MetricsArgs),
    /// Report ONNX Runtime's version and providers, the GPU, and where each CUDA library comes from:
    /// why `--device cuda` starts or does not.
    #[command(
        after_help = "Where CUDA libraries are looked for, in order: the folders in \
        STYLIZE_CUDA_LIBS (colon-separated), the virtualenv's nvidia/*/lib (the project's .venv, \
        VIRTUAL_ENV), CUDA_HOME and CUDA_PATH, /usr/local/cuda*/lib64, then the loader's own path \
        (LD_LIBRARY_PATH). RUST_LOG=debug shows the same for any command."
    )]
    Doctor,
}

/// `stylize metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The original video (anything `stylize video` reads).
    #[arg(long, value_name = "INPUT")]
    pub original: String,

    /// The stylized video, frame for frame the original's.
    #[arg(long, value_name = "INPUT")]
    pub stylized: String,

    /// A style image: also report each frame's style and content loss; repeat for several (blended
    /// equally, as `stylize video` does).
    #[arg(short, long = "style", value_name = "IMAGE")]
    pub styles: Vec<PathBuf>,

    /// Longest side of the frames compared, in pixels (the stylized video's processing size is the
    /// natural choice).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: u32,

    /// Compare at most N frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,

    /// Print JSON (per frame and the means) instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `stylize live --help`: the keys and examples.
const LIVE_HELP: &str = "Keys in the window:\n  \
    1-9      switch between the --style images (their targets are computed up front)\n  \
    Space    pause / resume\n  \
    V        stylized / side by side / original\n  \
    + -      one more / one fewer iteration per frame (=/+ and - keys, or the keypad's)\n  \
    [ ]      lighter / heavier style weight (x1.5)\n  \
    S        save a PNG screenshot (in --save-dir)\n  \
    R        start / stop recording the stylized stream to an MP4 (in --save-dir)\n  \
    O        show / hide the overlay (displayed fps, latency, iterations per frame)\n  \
    Esc      quit (closing the window too; a recording is finished)\n\n\
    Without --threads, ONNX Runtime gets all cores but one: decoding and the window keep the other.\n\n\
    Examples:\n  \
    stylize live --camera --live --style painting.jpg --style monet.jpg\n  \
    stylize live --camera /dev/video2 --camera-size 640x480 --camera-fps 30 --live -s painting.jpg\n  \
    stylize live clip.mp4 --live -s painting.jpg\n  \
    stylize live --input-format lavfi testsrc2=size=320x240:rate=30 --live -s painting.jpg";

/// `stylize live`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The input: a path, a URL, a device or lavfi graph (with --input-format), or `-` for stdin.
    #[arg(
        value_name = "INPUT",
        required_unless_present = "camera",
        conflicts_with = "camera"
    )]
    pub input: Option<String>,

    /// Open a webcam: v4l2 on Linux [default: /dev/video0], avfoundation on macOS [default: 0],
    /// dshow on Windows (give its name).
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, default_missing_value = "")]
    pub camera: Option<String>,

    /// The size the camera is asked for.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub camera_size: Option<(u32, u32)>,

    /// The frame rate the camera is asked for.
    #[arg(long, value_name = "FPS", value_parser = clap::value_parser!(u32).range(1..=240))]
    pub camera_fps: Option<u32>,

    #[command(flatten)]
    pub source: InputArgs,

    /// Fast enough to feel live on a laptop CPU: the light model (models/vgg19-live: style at
    /// relu1_1–relu3_1, content at relu2_2), --size 112, --iterations 10,2 unless given.
    #[arg(long)]
    pub live: bool,

    /// Longest side of the frames while optimizing [default: 256, or 112 with --live].
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: Option<u32>,

    /// Iterations for the first frame and for every later one [default: 100,10, or 10,2 with --live].
    #[arg(long, value_name = "N|FIRST,REST")]
    pub iterations: Option<Iterations>,

    /// Stop after N displayed frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,

    /// Where screenshots (S) and recordings (R) are saved.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub save_dir: PathBuf,

    #[command(flatten)]
    pub temporal: TemporalArgs,

    #[command(flatten)]
    pub budget: BudgetArgs,

    #[command(flatten)]
    pub style: StyleArgs,

    #[command(flatten)]
    pub optim: OptimArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `stylize video`.
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// The input: a path, a URL, a device or lavfi graph (with --input-format), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: String,

    /// The output: a path (container from the extension) or `-` for stdout (with --format).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: String,

    /// Longest side of the frames while optimizing, in pixels.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: u32,

    /// Size of the output video [default: the input's].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub output_size: Option<(u32, u32)>,

    /// Optimizer iterations: FIRST,REST gives the first frame FIRST and every later frame REST.
    /// A first frame close to convergence keeps a still scene from creeping over hundreds of
    /// frames (docs/TEMPORAL.md); 100,40 is a quicker look.
    #[arg(long, default_value = "1000,40", value_name = "N|FIRST,REST")]
    pub iterations: Iterations,

    /// The stylized first frame, given instead of optimized: an image of the processing size
    /// (e.g. `stylize image` of the first frame at the same --size). Later frames go on from it,
    /// so a clip can be re-run with other settings without repainting its first frame.
    #[arg(long, value_name = "IMAGE")]
    pub first_frame: Option<PathBuf>,

    #[command(flatten)]
    pub temporal: TemporalArgs,

    /// Show the frames in a window while they are encoded (every frame is still written).
    #[arg(long)]
    pub preview: bool,

    #[command(flatten)]
    pub media: MediaArgs,

    #[command(flatten)]
    pub budget: BudgetArgs,

    #[command(flatten)]
    pub style: StyleArgs,

    #[command(flatten)]
    pub optim: OptimArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

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
    /// The previous stylized frame carried along the optical flow of the content; where the flow
    /// cannot be trusted (uncovered areas, motion boundaries), the frame's content.
    PrevWarped,
    /// The previous stylized frame as it was (warm start: steadier video, fewer iterations).
    Prev,
    /// The frame's own content (every frame independent).
    Content,
    /// Seeded white noise.
    Noise,
}

/// `--iterations FIRST,REST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iterations {
    /// For the first frame.
    pub first: u32,
    /// For every later frame.
    pub rest: u32,
}

impl std::str::FromStr for Iterations {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |t: &str| -> Result<u32, String> {
            match t.trim().parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => Ok(n),
                _ => Err(format!("'{t}' is not a number of iterations (1 to 100000)")),
            }
        };
        match s.split_once(',') {
            Some((first, rest)) => Ok(Iterations {
                first: number(first)?,
                rest: number(rest)?,
            }),
            None => {
                let n = number(s)?;
                Ok(Iterations { first: n, rest: n })
            }
        }
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if (16..=16384).contains(&w) && (16..=16384).contains(&h) => Ok((w, h)),
        _ => Err(format!("'{s}' is not a size WxH (16 to 16384 each)")),
    }
}

/// `stylize image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The content image (PNG, JPEG, WebP, BMP, TIFF, GIF).
    #[arg(value_name = "CONTENT")]
    pub content: PathBuf,

    /// Output image; the format follows the extension (.png, .jpg, .webp, .bmp, .tiff).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Longest side of the image while optimizing, in pixels; the output has this size.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: u32,

    /// Optimizer iterations in all, shared among the --levels (at most: see --tolerance); or one
    /// count per level, coarse to fine, comma-separated.
    #[arg(long, default_value = "300", value_name = "N|N,N,...")]
    pub iterations: LevelIterations,

    /// Where the optimization starts: the content image, seeded noise, or an image file.
    #[arg(long, default_value = "content", value_name = "content|noise|PATH")]
    pub init: Init,

    /// Keep the content's colours and transfer only luminance (Gatys et al. 2016).
    #[arg(long)]
    pub original_colors: bool,

    #[command(flatten)]
    pub budget: BudgetArgs,

    #[command(flatten)]
    pub style: StyleArgs,

    #[command(flatten)]
    pub optim: OptimArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `--iterations` of `stylize image`: a total, or one count per level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelIterations {
    /// In all, shared among the levels by the measured rule.
    Total(u32),
    /// For each level, coarse to fine.
    PerLevel(Vec<u32>),
}

impl std::str::FromStr for LevelIterations {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let counts = s
            .split(',')
            .map(|t| match t.trim().parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => Ok(n),
                _ => Err(format!("'{t}' is not a number of iterations (1 to 100000)")),
            })
            .collect::<Result<Vec<u32>, String>>()?;
        Ok(match counts.as_slice() {
            [n] => LevelIterations::Total(*n),
            _ => LevelIterations::PerLevel(counts),
        })
    }
}

/// Coarse-to-fine levels and the stopping rule.
#[derive(Debug, Args)]
#[command(next_help_heading = "Budget")]
pub struct BudgetArgs {
    /// Coarse-to-fine: optimize first at 1/2^(N-1) of --size, then at each doubling up to --size,
    /// each level starting from the one below upsampled; for a video, its first frame only; 1
    /// optimizes at --size only [default: 3 for images (fewer where a level would be under 16
    /// pixels), 1 for video].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub levels: Option<u32>,

    /// Stop a level or a frame early when the loss fell by less than this fraction over its last
    /// 10 iterations (--iterations stays the cap); 0 turns the rule off [default: 0].
    #[arg(long, value_name = "FRACTION", value_parser = non_negative, allow_negative_numbers = true)]
    pub tolerance: Option<f32>,
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
    /// stylized frame carried along the optical flow, where that can be trusted; 0 turns it off.
    #[arg(long, default_value_t = DEFAULT_TEMPORAL_WEIGHT, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
    pub temporal_weight: f32,
}

/// The default `--temporal-weight`: the steadiest of 10³…10⁶ by an independent flicker measure on
/// a near-still, a panning and an occluding clip, at a style loss no worse than independent
/// frames' (docs/TEMPORAL.md).
pub const DEFAULT_TEMPORAL_WEIGHT: f32 = 1e5;
/// The default `--levels` of `stylize image` (where they fit): measured in docs/COARSE_TO_FINE.md.
pub const IMAGE_LEVELS: usize = 3;
/// The default `--levels` of a video's first frame: one, until a pyramid is shown to hold a still
/// shot as well as today's single-scale first frame (docs/COARSE_TO_FINE.md).
pub const VIDEO_LEVELS: usize = 1;
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

/// The optimizers on offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerChoice {
    /// Limited-memory BFGS with a line search (best pictures for the evaluations spent).
    Lbfgs,
    /// Adam (cheaper per iteration, needs more of them).
    Adam,
}

/// `--init`.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Start from the content image.
    Content,
    /// Start from seeded noise.
    Noise,
    /// Start from this image (resized to the content's size).
    Image(PathBuf),
}

impl std::str::FromStr for Init {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "content" => Init::Content,
            "noise" => Init::Noise,
            "" => return Err("give content, noise or an image path".into()),
            path => Init::Image(PathBuf::from(path)),
        })
    }
}

fn parse_finite(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("'{s}' is not a finite number"))
    }
}

fn positive(s: &str) -> Result<f32, String> {
    let v = parse_finite(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be greater than 0"))
    }
}

/// `--style-scale`: a style image of ten times the optimizing size already costs a hundred times its
/// memory; more only exhausts it.
fn style_scale(s: &str) -> Result<f32, String> {
    let v = positive(s)?;
    if v <= 10.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is more than 10 (the style images' size relative to --size)"
        ))
    }
}

fn non_negative(s: &str) -> Result<f32, String> {
    let v = parse_finite(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must not be negative"))
    }
}
