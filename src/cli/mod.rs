//! The command line: subcommands and the option groups they share.

mod image;
mod live;
mod metrics;
mod parse;
mod plan;
mod shared;
mod video;

use clap::{Parser, Subcommand};

pub use image::{ImageArgs, Init, LevelIterations};
pub use live::LiveArgs;
pub use metrics::MetricsArgs;
pub use plan::{JoinArgs, PlanArgs};
pub use shared::{
    BudgetArgs, EngineArgs, EngineKind, FrameInit, InputArgs, MediaArgs, OptimArgs,
    OptimizerChoice, OverwriteArgs, PrecisionChoice, Precondition, ReportArgs, StyleArgs,
    TemporalArgs, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_WEIGHT, DEFAULT_TEMPORAL_WEIGHT,
    IMAGE_LEVELS, LIVE_LEVELS, TOLERANCE_WINDOW, VIDEO_LEVELS,
};
pub use video::{Iterations, RenderArgs, SegmentArgs, SegmentChoice, VideoArgs};

/// A combination of flags that clap cannot check (`live` with ten styles, …): bad usage, exit
/// code 2 like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

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
    #[command(after_help = live::LIVE_HELP)]
    Live(LiveArgs),
    /// Measure a stylized video: its flicker (temporal warping error along the original's optical
    /// flow) and, with --style, each frame's style and content loss.
    #[command(after_help = "Examples:\n  \
        stylize metrics --original clip.mp4 --stylized painted.mp4\n  \
        stylize metrics --original clip.mp4 --stylized painted.mp4 --style painting.jpg --json")]
    Metrics(MetricsArgs),
    /// Cut a long video into segments for a cluster's array job (Slurm, Kubernetes): each worker
    /// renders one with `stylize video --plan PLAN --segment K`, then `stylize join` joins them.
    #[command(after_help = "Example (docs/CLUSTER.md, scripts/cluster/):\n  \
        stylize plan film.mp4 -s painting.jpg --size 512 -o plan.json --segments 100\n  \
        stylize video film.mp4 -s painting.jpg --size 512 --plan plan.json --segment 7 -o parts/\n  \
        stylize join plan.json -o painted.mp4")]
    Plan(PlanArgs),
    /// Join the parts a plan's segments were rendered into: every part must be there and
    /// complete; the packets are copied (no re-encoding), with the original's sound and timing.
    Join(JoinArgs),
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
