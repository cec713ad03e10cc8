//! `stylize plan` and `stylize join`: a long render cut into segments for a cluster, and the
//! parts put back together.

use std::path::PathBuf;

use clap::Args;

use super::{OverwriteArgs, RenderArgs};

/// `stylize plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The input video: a file every worker can read.
    #[arg(value_name = "INPUT")]
    pub input: String,

    /// The plan to write (JSON).
    #[arg(short, long, value_name = "PLAN")]
    pub output: PathBuf,

    /// Cut the video into this many segments.
    #[arg(long, value_name = "N", conflicts_with = "segment_seconds",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub segments: Option<u32>,

    /// Cut the video into segments of about this many seconds [default: 60].
    #[arg(long, value_name = "S")]
    pub segment_seconds: Option<f64>,

    /// Warm-up frames before each segment's start: they start its warm chain, and the segment
    /// before cross-fades into it over them (docs/CLUSTER.md: 30 frames make the seams as smooth
    /// as the frames around them, 8 leave a visible fade).
    #[arg(long, value_name = "N", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub overlap: u32,

    /// The settings of the render, as `stylize video` takes them: every worker must give the same.
    #[command(flatten)]
    pub render: RenderArgs,

    #[command(flatten)]
    pub overwrite: OverwriteArgs,
}

/// `stylize join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The plan the segments were rendered from.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// The joined video (the container from the extension, or --format).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,

    /// The folder the workers wrote their parts into [default: `parts` beside the plan].
    #[arg(long, value_name = "DIR")]
    pub parts: Option<PathBuf>,

    /// The output container, when its extension does not say (ffmpeg's -f).
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,

    #[command(flatten)]
    pub overwrite: OverwriteArgs,
}
