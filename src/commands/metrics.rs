//! `stylize metrics`: how much a stylized video flickers (the temporal warping error of Ruder et
//! al., along the original's optical flow) and, given the style, how well each frame is stylized.

use anyhow::{bail, Result};
use ndarray::Array4;
use serde::Serialize;

use super::media_flags::with_flag;
use crate::cli::{MetricsArgs, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_WEIGHT};
use crate::config;
use crate::media::Input;
use crate::model::{self, blend_grams, LossWeights, Model, Targets};
use crate::temporal::{self, FlowParams, MotionTracker};

/// One frame's figures.
#[derive(Serialize)]
struct FrameMetrics {
    frame: u64,
    /// Temporal warping error against the frame before (none for the first frame, or where no
    /// pixel is reliable).
    warping_error: Option<f64>,
    /// Share of the frame's pixels the flow marks reliable.
    reliable: Option<f64>,
    /// Weighted style loss at the default weights (with --style).
    style_loss: Option<f32>,
    /// Weighted content loss at the default weights (with --style).
    content_loss: Option<f32>,
}

/// The means over the frames that have each figure.
#[derive(Serialize)]
struct Means {
    warping_error: Option<f64>,
    style_loss: Option<f64>,
    content_loss: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    original: &'a str,
    stylized: &'a str,
    width: u32,
    height: u32,
    frames: Vec<FrameMetrics>,
    mean: Means,
}

/// The style and content losses of stylized frames: the model and the targets (the style's fixed,
/// the content's set per frame).
struct Losses {
    model: Model,
    targets: Targets,
}

impl Losses {
    fn terms(&mut self, original: &Array4<f32>, stylized: &Array4<f32>) -> Result<(f32, f32)> {
        self.targets.contents = self.model.features(original.view())?.contents;
        // The style and content weights `stylize video` uses by default.
        let weights = LossWeights {
            content: DEFAULT_CONTENT_WEIGHT,
            style: DEFAULT_STYLE_WEIGHT,
            tv: 0.0,
            temporal: 0.0,
        };
        let mut grad = vec![0.0; stylized.len()];
        let terms =
            self.model
                .loss_and_gradient(stylized.view(), &self.targets, &weights, &mut grad)?;
        Ok((terms.style, terms.content))
    }
}

pub(super) fn run(args: &MetricsArgs) -> Result<()> {
    let styles = super::load_styles(&args.styles)?;
    let mut original = Input::open(&args.original, None, &[]).map_err(with_flag)?;
    let mut stylized = Input::open(&args.stylized, None, &[]).map_err(with_flag)?;
    let info = original.video().clone();
    check_sizes(args, (info.width, info.height), {
        let other = stylized.video();
        (other.width, other.height)
    })?;
    let (width, height) = crate::picture::longest_side(info.width, info.height, args.size);
    original.set_output_size(width, height)?;
    stylized.set_output_size(width, height)?;

    let mut losses = if styles.is_empty() {
        None
    } else {
        let config = config::session(&args.engine, config::threads(&args.engine))?;
        let mut model = Model::load(&model::resolve_dir(args.engine.model.as_deref()), &config)?;
        let features = super::style_features(&mut model, &styles, args.size, 1.0)?;
        let targets = Targets {
            grams: blend_grams(&features, &vec![1.0; features.len()]),
            contents: Vec::new(),
            temporal: None,
        };
        Some(Losses { model, targets })
    };

    let mut tracker = MotionTracker::new(FlowParams::default());
    let mut frames = Vec::new();
    let mut previous_stylized: Option<Array4<f32>> = None;
    loop {
        if args.frames.is_some_and(|n| frames.len() as u64 >= n) {
            break;
        }
        let (a, b) = (original.next_frame()?, stylized.next_frame()?);
        let (Some(a), Some(b)) = (&a, &b) else {
            // Whichever ended must have ended cleanly; the other may hold more frames.
            let ended = [
                (a.is_none(), &original, &args.original),
                (b.is_none(), &stylized, &args.stylized),
            ];
            for (_, input, name) in ended.into_iter().filter(|e| e.0) {
                if let Some(problem) = input.ending().problem() {
                    bail!("input '{name}' is damaged: {problem}");
                }
            }
            if frames.is_empty() {
                bail!(
                    "no video frames to compare in '{}' and '{}'",
                    args.original,
                    args.stylized
                );
            }
            let (longer, name) = match a {
                Some(_) => (&mut original, &args.original),
                None => (&mut stylized, &args.stylized),
            };
            let mut more = u64::from(a.is_some() || b.is_some());
            while longer.next_frame()?.is_some() {
                more += 1;
            }
            if more > 0 {
                let (done, total) = (frames.len(), frames.len() as u64 + more);
                bail!(
                    "the videos differ in length: '{name}' has {total} frames, the other {done}; compare a video with its own stylized render, or pass --frames {done} to compare the first {done}"
                );
            }
            break;
        };
        let (a, b) = (a.to_tensor()?, b.to_tensor()?);
        let motion = tracker.next(a.view())?;
        let (warping_error, reliable) = match (&previous_stylized, &motion) {
            (Some(previous_stylized), Some(motion)) => {
                let reliable = motion.weights.mean().map(f64::from);
                let error = temporal::warping_error(previous_stylized.view(), b.view(), motion)?;
                (error, reliable)
            }
            _ => (None, None),
        };
        let (style_loss, content_loss) = match losses.as_mut() {
            Some(l) => {
                let (s, c) = l.terms(&a, &b)?;
                (Some(s), Some(c))
            }
            None => (None, None),
        };
        frames.push(FrameMetrics {
            frame: frames.len() as u64,
            warping_error,
            reliable,
            style_loss,
            content_loss,
        });
        previous_stylized = Some(b);
    }

    let mean = |f: &dyn Fn(&FrameMetrics) -> Option<f64>| {
        let v: Vec<f64> = frames.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let means = Means {
        warping_error: mean(&|f| f.warping_error),
        style_loss: mean(&|f| f.style_loss.map(f64::from)),
        content_loss: mean(&|f| f.content_loss.map(f64::from)),
    };
    let report = Report {
        original: &args.original,
        stylized: &args.stylized,
        width,
        height,
        frames,
        mean: means,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Refuses videos whose frames differ in size by more than the two pixels an encoder may crop
/// (`stylize video` keeps the input's size, cropped to what the encoder takes).
fn check_sizes(args: &MetricsArgs, original: (u32, u32), stylized: (u32, u32)) -> Result<()> {
    let ((ow, oh), (sw, sh)) = (original, stylized);
    if ow.abs_diff(sw) > 2 || oh.abs_diff(sh) > 2 {
        bail!(
            "the videos differ in size: '{}' is {ow}x{oh}, '{}' is {sw}x{sh}; compare a video with its own stylized render (of the same size)",
            args.original,
            args.stylized
        );
    }
    Ok(())
}

fn print_table(report: &Report) {
    let opt = |v: Option<f64>, digits: usize| match v {
        Some(v) if digits == 0 => format!("{v:.4e}"),
        Some(v) => format!("{v:.digits$}"),
        None => "-".to_string(),
    };
    println!(
        "frames compared at {}×{}; warping error: mean squared RGB difference (0–1 scale) to the previous stylized frame carried along the original's flow, over reliable pixels",
        report.width, report.height
    );
    println!(
        "{:>6}  {:>14}  {:>9}  {:>12}  {:>12}",
        "frame", "warping error", "reliable", "style loss", "content loss"
    );
    for f in &report.frames {
        println!(
            "{:>6}  {:>14}  {:>9}  {:>12}  {:>12}",
            f.frame,
            opt(f.warping_error, 0),
            opt(f.reliable.map(|r| r * 100.0), 1),
            opt(f.style_loss.map(f64::from), 0),
            opt(f.content_loss.map(f64::from), 0)
        );
    }
    println!(
        "{:>6}  {:>14}  {:>9}  {:>12}  {:>12}",
        "mean",
        opt(report.mean.warping_error, 0),
        "",
        opt(report.mean.style_loss, 0),
        opt(report.mean.content_loss, 0)
    );
}
