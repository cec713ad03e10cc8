//! The command line: subcommands and the option groups they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::Device;

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

    /// Optimizer iterations.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub iterations: u32,

    /// Where the optimization starts: the content image, seeded noise, or an image file.
    #[arg(long, default_value = "content", value_name = "content|noise|PATH")]
    pub init: Init,

    /// Keep the content's colours and transfer only luminance (Gatys et al. 2016).
    #[arg(long)]
    pub original_colors: bool,

    #[command(flatten)]
    pub style: StyleArgs,

    #[command(flatten)]
    pub optim: OptimArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

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

    /// Size of the style images relative to --size.
    #[arg(long, default_value_t = 1.0, value_name = "SCALE", value_parser = positive, allow_negative_numbers = true)]
    pub style_scale: f32,

    /// Weight of the content loss.
    #[arg(long, default_value_t = 5.0, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
    pub content_weight: f32,

    /// Weight of the style loss.
    #[arg(long, default_value_t = 100.0, value_name = "W", value_parser = non_negative, allow_negative_numbers = true)]
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

fn non_negative(s: &str) -> Result<f32, String> {
    let v = parse_finite(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must not be negative"))
    }
}
