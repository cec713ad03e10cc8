//! `stylize live`: a webcam or video stylized in a window.

use std::path::PathBuf;

use clap::Args;

use super::parse::parse_size;
use super::video::Iterations;
use super::{BudgetArgs, EngineArgs, InputArgs, OptimArgs, ReportArgs, StyleArgs, TemporalArgs};

/// `stylize live --help`: the keys and examples.
pub(super) const LIVE_HELP: &str = "Keys in the window:\n  \
    1-9      switch between the --style images (their targets are computed up front)\n  \
    Space    pause / resume\n  \
    V        stylized / side by side / original\n  \
    + -      one more / one fewer iteration per frame (=/+ and - keys, or the keypad's)\n  \
    [ ]      lighter / heavier style weight (x1.5)\n  \
    S        save a PNG screenshot (in --save-dir)\n  \
    R        start / stop recording the stylized stream to an MP4 (in --save-dir)\n  \
    O        show / hide the overlay (displayed fps, latency, iterations per frame)\n  \
    Esc      quit (closing the window too; a recording is finished)\n\n\
    Without --threads, ONNX Runtime gets every core (on a busy machine, --threads N below the cores may keep the latency lower).\n\n\
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
    /// relu1_1–relu3_1, content at relu2_2), --size 112, --iterations 10,1 unless given.
    #[arg(long)]
    pub live: bool,

    /// Longest side of the frames while optimizing [default: 256, or 112 with --live].
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: Option<u32>,

    /// Iterations for the first frame and for every later one [default: 100,10, or 10,1 with --live].
    #[arg(long, value_name = "N|FIRST,REST")]
    pub iterations: Option<Iterations>,

    /// Stop after N displayed frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,

    /// Stylize without a window or keys, each frame counted as shown when it is ready: times the
    /// live loop where there is no display (a GPU server), with --frames and --stats.
    #[arg(long)]
    pub no_window: bool,

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
