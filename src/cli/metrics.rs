//! `stylize metrics`: the flicker and losses of a stylized video.

use std::path::PathBuf;

use clap::Args;

use super::EngineArgs;

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
