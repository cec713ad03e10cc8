//! `stylize video`: a video into a stylized video.

use std::path::PathBuf;

use clap::Args;

use super::parse::parse_size;
use super::{
    BudgetArgs, EngineArgs, MediaArgs, OptimArgs, OverwriteArgs, ReportArgs, StyleArgs,
    TemporalArgs,
};

/// `stylize video`.
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// The input: a path, a URL, a device or lavfi graph (with --input-format), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: String,

    /// The output: a path (container from the extension), `-` for stdout (with --format), or
    /// numbered pictures as ffmpeg writes them (frames/%04d.png, one per frame from 1); with
    /// --plan, the folder of the segments' parts.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: String,

    #[command(flatten)]
    pub render: RenderArgs,

    #[command(flatten)]
    pub cluster: SegmentArgs,

    /// Continue the interrupted or killed render of this output from its checkpoint (kept in
    /// `.OUTPUT.part/` beside it), with the same settings; without a checkpoint, start it.
    #[arg(long)]
    pub resume: bool,

    /// Show the frames in a window while they are encoded (every frame is still written).
    #[arg(long)]
    pub preview: bool,

    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub overwrite: OverwriteArgs,
}

/// The settings of a render that shape its pictures and its file: shared by `video` and `plan`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Longest side of the frames while optimizing, in pixels.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: u32,

    /// Size of the output video [default: the input's].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub output_size: Option<(u32, u32)>,

    /// Optimizer iterations: FIRST,REST gives the first frame FIRST (shared among its --levels,
    /// 6, 3 and 4 shares for three) and every later frame REST. A first frame close to convergence,
    /// and later frames that stop once their loss flattens (--tolerance), keep a still scene from
    /// creeping over hundreds of frames (docs/TEMPORAL.md); 100,40 is a quicker look.
    #[arg(long, default_value = "865,40", value_name = "N|FIRST,REST")]
    pub iterations: Iterations,

    /// The stylized first frame, given instead of optimized: an image of the processing size
    /// (e.g. `stylize image` of the first frame at the same --size). Later frames go on from it,
    /// so a clip can be re-run with other settings without repainting its first frame.
    #[arg(long, value_name = "IMAGE")]
    pub first_frame: Option<PathBuf>,

    #[command(flatten)]
    pub temporal: TemporalArgs,

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
}

/// One segment of a cluster render (`stylize plan`).
#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Render one segment of this plan (made by `stylize plan` with the same settings) into the
    /// -o folder; `stylize join` puts the parts together.
    #[arg(long, value_name = "PLAN", requires = "segment")]
    pub plan: Option<PathBuf>,

    /// The segment to render, from 0: a number, or `auto` for the scheduler's task index
    /// (SLURM_ARRAY_TASK_ID, or JOB_COMPLETION_INDEX on Kubernetes).
    #[arg(long, value_name = "K|auto", requires = "plan")]
    pub segment: Option<SegmentChoice>,
}

/// `--segment K|auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentChoice {
    Index(usize),
    Auto,
}

impl std::str::FromStr for SegmentChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(SegmentChoice::Auto),
            _ => s
                .parse()
                .map(SegmentChoice::Index)
                .map_err(|_| format!("'{s}' is not a segment: give its number (from 0) or auto")),
        }
    }
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
