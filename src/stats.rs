//! `--stats FILE`: machine-readable figures of a run, written as JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes `stats` as pretty JSON to `path` (through a temporary file, so a reader never sees half of it).
pub fn write<T: Serialize>(path: &Path, stats: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(stats).context("internal: cannot encode statistics")?;
    let temp = path.with_extension(format!("{}.tmp", std::process::id()));
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
