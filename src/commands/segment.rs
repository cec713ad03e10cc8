//! `stylize video --plan PLAN --segment K -o DIR`: one segment of a cluster render, as an array
//! job's task runs it. The warm-up frames before the segment start its warm chain and are not
//! kept; over its last frames (the next segment's warm-up) a second chain runs exactly as the
//! next segment's worker starts it, and the kept frames cross-fade into it, so that the next
//! part starts where this one ends. The part is written under a temporary name and marked done
//! once complete: a done segment is skipped, an unfinished one made again.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::media_flags::with_flag;
use super::video::{self, Opened};
use super::Finished;
use crate::cli::{SegmentChoice, UsageError, VideoArgs};
use crate::config;
use crate::media::Output;
use crate::pipeline::{self, Schedule, Stylized};
use crate::progress::Progress;
use crate::render::{self, Plan};
use crate::sink::FileSink;
use crate::source::{Bounds, MediaSource, Span};
use crate::stylize::{Handover, Iteration};

/// Seconds sought before the warm-up's first frame, so that the sound stored before it is read.
const SEEK_MARGIN: f64 = 1.0;

pub(super) fn run(args: &VideoArgs, plan_path: &Path, choice: SegmentChoice) -> Result<Finished> {
    let started = Instant::now();
    let plan = Plan::load(plan_path)?;
    let k = config::segment(args, choice)?;
    let shown = plan_path.display();
    let Some(segment) = plan.segments.get(k).cloned() else {
        let last = plan.segments.len().saturating_sub(1);
        let message =
            format!("--segment {k} is out of range: plan '{shown}' has segments 0 to {last}");
        return Err(UsageError(message).into());
    };
    let next = plan.segments.get(k + 1).cloned();
    let (engine, style, frames) = config::video(args)?;
    let fingerprint = super::fingerprint::portable(&args.input, &args.render, &engine.model_dir)?;
    if let Some(name) = render::changed(&plan.fingerprint, &fingerprint) {
        let what = match name {
            "the input" => "for another input".to_string(),
            n => format!("with another {n}"),
        };
        let message = format!("plan '{shown}' was made {what}: give the worker the input and settings `stylize plan` was given");
        return Err(UsageError(message).into());
    }
    let dir = Path::new(&args.output);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    let quiet = args.report.quiet;
    if plan.is_done(dir, k) {
        if !quiet {
            eprintln!("segment {k} is already done in '{}'", dir.display());
        }
        return Ok(Finished::Done);
    }
    let part = dir.join(plan.part(k));
    // A second task of the same segment (submitted twice) fails at once instead of racing.
    let _lock = crate::files::OutputLock::acquire(&part)?;
    plan.clear(dir, k)?;

    let media = &args.render.media;
    // Only the first segment starts from `--first-frame`: the others start on their warm-up.
    let Opened {
        mut input,
        info,
        mut stylizer,
        ..
    } = video::open(args, &engine, &style, &frames, k == 0)?;
    let tb = info.time_base;
    input.seek_before(segment.warmup_pts as f64 * f64::from(tb) - SEEK_MARGIN);

    let (out_w, out_h) = args.render.output_size.unwrap_or((info.width, info.height));
    let settings = config::encoder(media, &info, (out_w, out_h));
    let streams = video::kept_streams(media, &input);
    let url = part.to_string_lossy().into_owned();
    let format = media.format.as_deref();
    let mut output = FileSink::create(&url, (out_w, out_h), || {
        Output::create(&url, format, settings, &streams).map_err(with_flag)
    })?;

    let seconds = |pts: i64| pts as f64 * f64::from(tb);
    let bounds = Bounds {
        from: segment.warmup_pts,
        to: next.as_ref().map(|n| n.start_pts),
        packets_from: (k > 0).then(|| seconds(segment.start_pts)),
        packets_to: next.as_ref().map(|n| seconds(n.start_pts)),
        first_index: segment.first - segment.warmup,
    };
    let mut source = Span::new(
        MediaSource::new(input, !media.no_audio),
        bounds,
        tb,
        &streams,
    );
    // The next segment's warm-up, over which this one cross-fades into its chain.
    let fade = next
        .filter(|n| n.warmup > 0)
        .map(|n| (n.warmup_pts, n.warmup));
    let kept = segment.end - segment.first;
    let total = segment.warmup + kept + fade.map_or(0, |(_, n)| n);
    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let progress = Progress::new(Some(total), "frames", quiet);
    let pipeline_settings = pipeline::Settings {
        schedule: Schedule::Ordered,
        frames: None,
        flow: stylizer.wants_motion().then(|| frames.flow.params()),
        flow_after: None,
        stop: interrupt.clone(),
    };
    let mut handover = fade.map(|(_, length)| Handover::new(length));
    // This chain's frames so far.
    let mut own = 0u64;
    let stylize = |frame: pipeline::Prepared| {
        let start = Instant::now();
        let on_iteration = |_: &Iteration| match interrupt.load(Ordering::Relaxed) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        };
        let pts = frame.frame.pts.unwrap_or(i64::MIN);
        let motion = frame.motion.as_ref();
        let (mut image, outcomes) = stylizer.stylize(&frame.content, motion, on_iteration)?;
        own += 1;
        let mut iterations: usize = outcomes.iter().map(|o| o.iterations.len()).sum();
        let handing_over = fade.is_some_and(|(from, _)| pts >= from);
        if let Some(handover) = handover.as_mut().filter(|_| handing_over) {
            let content = &frame.content;
            let (blended, more) =
                handover.blend(&mut stylizer, own, &image, content, motion, on_iteration)?;
            (image, iterations) = (blended, iterations + more);
        }
        progress.step(format!("segment {k}"));
        if pts < segment.start_pts {
            return Ok(None);
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(Some(Stylized::new(&image, frame, iterations, seconds)?))
    };
    let report = pipeline::run(&mut source, stylize, &mut output, &pipeline_settings);
    progress.finish();
    let written = output.written();
    let unfinished = match &report {
        Err(_) => true,
        Ok(report) => report.stopped_early() || written != kept,
    };
    if unfinished {
        let _ = std::fs::remove_file(&part);
    }
    let report = report?;
    if report.stopped_early() {
        eprintln!("interrupted: segment {k} was not finished; run it again to redo it");
        return Ok(Finished::Interrupted);
    }
    if written != kept {
        bail!(
            "input '{}' gave {written} frames for segment {k}, and the plan counts {kept}: it is not the input the plan was made from",
            args.input
        );
    }
    plan.mark_done(dir, k, written)?;
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "wrote segment {k} (frames {} to {}) to '{}' ({seconds:.1} s)",
            segment.first,
            segment.end - 1,
            part.display()
        );
    }
    Ok(Finished::Done)
}
