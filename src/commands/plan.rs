//! `stylize plan`: cuts a video into segments for a cluster's array job and writes the plan the
//! workers (`stylize video --plan --segment K`) and `stylize join` follow.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::media_flags;
use crate::cli::PlanArgs;
use crate::config;
use crate::media::RgbFrame;
use crate::render::{self, Mark, Plan};

/// The longest side frames are compared at to find scene cuts.
const SCENE_SIDE: u32 = 64;

pub(super) fn run(args: &PlanArgs) -> Result<()> {
    let cutting = config::cutting(args)?;
    let input = Path::new(&args.input);
    if !input.is_file() {
        bail!(
            "cannot plan '{}': a plan needs an input file every worker can read",
            args.input
        );
    }
    let output = args.output.as_path();
    let overwrite = config::overwrite(&args.overwrite);
    let _locks = super::check_files(
        output,
        None,
        &[("input video", input)],
        &args.render.style.styles,
        overwrite,
    )?;
    // The settings are checked as `video` checks them, so that a plan no worker can follow is
    // refused here.
    let (engine, _, _) = config::render(&args.render, true)?;
    super::load_styles(&args.render.style.styles)?;
    let fingerprint = super::fingerprint::portable(&args.input, &args.render, &engine.model_dir)?;

    let mut decoder = media_flags::open_input(&args.input, &args.render.media)?;
    let info = decoder.video().clone();
    let time_base = (info.time_base.numerator(), info.time_base.denominator());
    let (w, h) = crate::picture::longest_side(info.width, info.height, SCENE_SIDE);
    decoder.set_output_size(w, h)?;
    let mut marks = Vec::new();
    let mut previous: Option<RgbFrame> = None;
    while let Some(frame) = decoder.next_frame()? {
        let Some(pts) = frame.pts else {
            bail!(
                "cannot plan '{}': frame {} has no timestamp",
                args.input,
                frame.index
            );
        };
        let change = previous.as_ref().map_or(0.0, |p| render::change(p, &frame));
        marks.push(Mark {
            pts,
            key: decoder.last_was_key(),
            change,
        });
        previous = Some(frame);
    }
    if let Some(problem) = decoder.ending().problem() {
        bail!("cannot plan '{}': it is damaged: {problem}", args.input);
    }
    let segments = Plan::cut(&marks, time_base, cutting)
        .with_context(|| format!("cannot plan '{}'", args.input))?;
    let plan = Plan::new(
        &args.input,
        time_base,
        &parts_extension(&args.input, args.render.media.format.as_deref()),
        fingerprint,
        segments,
    );
    plan.save(output)?;
    let cuts = plan.segments.iter().filter(|s| s.scene_cut).count();
    let keys = plan.segments.iter().skip(1).filter(|s| s.key).count();
    eprintln!(
        "wrote {} ({} segments of {} frames: {} cut at key frames, {} at scene cuts; {} warm-up frames each)",
        output.display(),
        plan.segments.len(),
        plan.frames,
        keys,
        cuts,
        args.overlap
    );
    Ok(())
}

/// The parts' extension: the container named by `--format`, else the input's, else Matroska
/// (which takes any codec).
fn parts_extension(input: &str, format: Option<&str>) -> String {
    let from_input = Path::new(input)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match format {
        Some("matroska") => "mkv".into(),
        Some(f) => f.split(',').next().unwrap_or(f).to_string(),
        None => from_input.unwrap_or_else(|| "mkv".into()),
    }
}
