//! `--stats FILE`: machine-readable figures of a run, written as JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

mod image;
mod live;
mod video;

pub use image::{ImageRun, ImageStats};
pub use live::{steady_figures, LiveStats};
pub use video::{EngineFigures, FrameLog, FrameStats, PipelineFigures, VideoStats};

use crate::model::LossTerms;
use crate::stylize::{Outcome, Stop};

/// One coarse-to-fine level's figures.
#[derive(Clone, Debug, Serialize)]
pub struct LevelStats {
    /// The level's size.
    pub width: usize,
    pub height: usize,
    /// Why the level ended: converged, tolerance, iterations or interrupted.
    pub stop: Stop,
    /// Iterations run and the loss-and-gradient evaluations they took.
    pub iterations: usize,
    pub evaluations: usize,
    /// Loss terms where the level started (its content plus the level below's change, upsampled)
    /// and where it ended.
    pub initial: LossTerms,
    pub loss: LossTerms,
    /// Wall time of its iterations.
    pub seconds: f64,
    /// The preconditioner's bands (0: none).
    pub bands: usize,
}

impl LevelStats {
    /// The figures of a level of `size` (height, width) that ended with `outcome`.
    pub fn new(size: (usize, usize), outcome: &Outcome) -> LevelStats {
        let its = &outcome.iterations;
        LevelStats {
            width: size.1,
            height: size.0,
            stop: outcome.stop,
            iterations: its.len(),
            evaluations: its.iter().map(|i| i.evaluations).sum(),
            initial: outcome.initial,
            loss: its.last().map_or(outcome.initial, |i| i.loss),
            seconds: its.iter().map(|i| i.seconds).sum(),
            bands: outcome.bands,
        }
    }
}

/// Loss-and-gradient evaluations in units of one at `full` pixels (their cost grows with the pixels).
pub fn full_size_evaluations(levels: &[LevelStats], full: usize) -> f64 {
    levels
        .iter()
        .map(|l| l.evaluations as f64 * (l.width * l.height) as f64 / full.max(1) as f64)
        .sum()
}

/// Writes `stats` as pretty JSON to `path` (through a temporary file, so a reader never sees half of it).
pub fn write<T: Serialize>(path: &Path, stats: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(stats).context("internal: cannot encode statistics")?;
    let temp = crate::files::temporary_beside(path);
    std::fs::write(&temp, json)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            anyhow::anyhow!("cannot write statistics to '{}': {e}", path.display())
        })
}

/// Fails early when `path`'s directory does not exist, so a long run does not end in a lost report.
pub fn check(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write statistics to '{}': directory '{}' does not exist",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

/// The process's peak resident set size in bytes (`VmHWM` on Linux; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
