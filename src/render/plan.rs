//! A cluster render's plan: the input cut into segments, each a work unit of an array job
//! (`stylize video --plan --segment K`), with what a worker checks before rendering one (the
//! input's and the settings' fingerprint) and how the parts it writes are named and marked done.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::media::RgbFrame;

/// The layout this build writes and reads.
const VERSION: u32 = 1;
/// A frame whose mean luma change from the frame before is at least this (0 to 1) starts a new
/// shot: a scene cut, where a segment starts without warm-up.
pub const SCENE_CHANGE: f32 = 0.15;

/// One decoded frame as the planner sees it.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pub pts: i64,
    /// Whether decoding can start here.
    pub key: bool,
    /// Mean luma change from the frame before (0 to 1).
    pub change: f32,
}

/// How to cut.
#[derive(Clone, Copy, Debug)]
pub struct Cutting {
    /// A number of segments, or else segments of about this many seconds.
    pub segments: Option<u32>,
    pub seconds: f64,
    /// Warm-up frames before a segment's start.
    pub overlap: u32,
}

/// The plan of a cluster render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// Names this plan (a digest of what follows), so that parts of another plan are not taken.
    pub id: String,
    /// The input as given.
    pub input: String,
    /// The input's video frames and their time base.
    pub frames: u64,
    pub time_base: (i32, i32),
    /// The parts' container (their extension).
    pub extension: String,
    /// The settings and files' contents a worker must have (see `commands/fingerprint.rs`).
    pub fingerprint: BTreeMap<String, String>,
    pub segments: Vec<Segment>,
}

/// One work unit: frames `[first, end)` of the input are kept, `warmup` frames before start it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub first: u64,
    pub end: u64,
    pub warmup: u64,
    /// Timestamps of frame `first` and of frame `first - warmup` (the video's time base).
    pub start_pts: i64,
    pub warmup_pts: i64,
    pub start_seconds: f64,
    /// Whether decoding can start at `first` (a key frame), and whether a new shot starts there.
    pub key: bool,
    pub scene_cut: bool,
}

/// What marks a part complete: written once its video is in place.
#[derive(Debug, Serialize, Deserialize)]
struct Done {
    plan: String,
    frames: u64,
}

impl Plan {
    /// Cuts `marks` (every frame, in order) into segments: each cut goes to a scene cut near its
    /// even share of the frames, else to the nearest key frame, else to the frame at its share.
    pub fn cut(marks: &[Mark], time_base: (i32, i32), cutting: Cutting) -> Result<Vec<Segment>> {
        let n = marks.len();
        if n == 0 {
            bail!("it has no video frames");
        }
        let rate = f64::from(time_base.0) / f64::from(time_base.1);
        let duration = (marks[n - 1].pts - marks[0].pts) as f64 * rate;
        let wanted = match cutting.segments {
            Some(count) => count as usize,
            None => (duration / cutting.seconds).round().max(1.0) as usize,
        };
        let shortest = cutting.overlap as usize + 1;
        let count = wanted.clamp(1, (n / shortest).max(1));
        let mut starts = vec![0];
        for i in 1..count {
            let target = i * n / count;
            let window = (n / count / 4).max(1);
            let low = (starts[i - 1] + shortest).max(target.saturating_sub(window));
            let high = (n - shortest).min(target + window);
            if low > high {
                continue;
            }
            let near = |pick: &dyn Fn(&Mark) -> bool| {
                (low..=high)
                    .filter(|&f| pick(&marks[f]))
                    .min_by_key(|&f| f.abs_diff(target))
            };
            let cut = near(&|m| m.change >= SCENE_CHANGE)
                .or_else(|| near(&|m| m.key))
                .unwrap_or(target.clamp(low, high));
            starts.push(cut);
        }
        let segments = starts.iter().enumerate().map(|(i, &first)| {
            let end = starts.get(i + 1).copied().unwrap_or(n);
            let scene_cut = first > 0 && marks[first].change >= SCENE_CHANGE;
            let warmup = match scene_cut {
                true => 0,
                false => (cutting.overlap as usize).min(first),
            };
            Segment {
                first: first as u64,
                end: end as u64,
                warmup: warmup as u64,
                start_pts: marks[first].pts,
                warmup_pts: marks[first - warmup].pts,
                start_seconds: (marks[first].pts - marks[0].pts) as f64 * rate,
                key: marks[first].key,
                scene_cut,
            }
        });
        Ok(segments.collect())
    }

    /// A plan of `segments` of `input` with `fingerprint`, its parts in `extension`.
    pub fn new(
        input: &str,
        time_base: (i32, i32),
        extension: &str,
        fingerprint: BTreeMap<String, String>,
        segments: Vec<Segment>,
    ) -> Plan {
        let mut plan = Plan {
            version: VERSION,
            id: String::new(),
            input: input.to_string(),
            frames: segments.last().map_or(0, |s| s.end),
            time_base,
            extension: extension.to_string(),
            fingerprint,
            segments,
        };
        let text = serde_json::to_string(&plan).unwrap_or_default();
        plan.id = format!("{:x}", Sha256::digest(text.as_bytes()))[..16].to_string();
        plan
    }

    /// The plan in `path`.
    pub fn load(path: &Path) -> Result<Plan> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read plan '{shown}'"))?;
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("'{shown}' is not a plan made by `stylize plan`"))?;
        if plan.version != VERSION {
            bail!("plan '{shown}' was made by another version of stylize: make it again");
        }
        Ok(plan)
    }

    /// Writes the plan to `path` (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let temp = crate::files::temporary_beside(path);
        let text = serde_json::to_string_pretty(self)? + "\n";
        let written = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            bail!("cannot write plan '{}': {e}", path.display());
        }
        Ok(())
    }

    /// The file name of segment `k`'s part.
    pub fn part(&self, k: usize) -> String {
        format!("segment-{k:04}.{}", self.extension)
    }

    /// The file marking segment `k`'s part complete.
    fn marker(k: usize) -> String {
        format!("segment-{k:04}.done")
    }

    /// Whether segment `k`'s part in `dir` is complete (and of this plan).
    pub fn is_done(&self, dir: &Path, k: usize) -> bool {
        let Ok(text) = std::fs::read_to_string(dir.join(Self::marker(k))) else {
            return false;
        };
        let expected = self.segments.get(k).map(|s| s.end - s.first);
        serde_json::from_str::<Done>(&text)
            .is_ok_and(|d| d.plan == self.id && Some(d.frames) == expected)
            && dir.join(self.part(k)).is_file()
    }

    /// Marks segment `k`'s part in `dir` complete, holding `frames` frames.
    pub fn mark_done(&self, dir: &Path, k: usize, frames: u64) -> Result<()> {
        let marker = dir.join(Self::marker(k));
        let temp = crate::files::temporary_beside(&marker);
        let done = Done {
            plan: self.id.clone(),
            frames,
        };
        let written = std::fs::write(&temp, serde_json::to_string(&done)?)
            .and_then(|()| std::fs::rename(&temp, &marker));
        written.with_context(|| format!("cannot write '{}'", marker.display()))
    }

    /// Removes what a killed worker of segment `k` left in `dir`: its marker, and its part's
    /// temporary files.
    pub fn clear(&self, dir: &Path, k: usize) -> Result<()> {
        let hidden = format!(".{}.", self.part(k));
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == Self::marker(k) || (name.starts_with(&hidden) && name.ends_with(".part")) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// The mean luma change between two frames of the same size, from 0 to 1.
pub fn change(a: &RgbFrame, b: &RgbFrame) -> f32 {
    let luma =
        |p: &[u8]| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
    let pixels = a.data.len() / 3;
    if pixels == 0 || a.data.len() != b.data.len() {
        return 1.0;
    }
    let sum: f32 = a
        .data
        .chunks_exact(3)
        .zip(b.data.chunks_exact(3))
        .map(|(p, q)| (luma(p) - luma(q)).abs())
        .sum();
    sum / pixels as f32 / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(n: usize, keys: &[usize], cuts: &[usize]) -> Vec<Mark> {
        (0..n)
            .map(|i| Mark {
                pts: i as i64 * 100,
                key: keys.contains(&i),
                change: if cuts.contains(&i) { 0.5 } else { 0.01 },
            })
            .collect()
    }

    fn cutting(segments: u32, overlap: u32) -> Cutting {
        Cutting {
            segments: Some(segments),
            seconds: 60.0,
            overlap,
        }
    }

    #[test]
    fn cuts_at_key_frames_and_prefers_scene_cuts() {
        let m = marks(100, &[0, 20, 30, 52, 70, 80], &[45]);
        let s = Plan::cut(&m, (1, 1000), cutting(4, 4)).unwrap();
        let firsts: Vec<u64> = s.iter().map(|s| s.first).collect();
        // Targets 25, 50, 75: key frames 20 (or 30), a scene cut at 45, key frame 70 (or 80).
        assert_eq!(firsts, vec![0, 20, 45, 70]);
        assert_eq!(s[2].warmup, 0, "no warm-up across a scene cut");
        assert_eq!(s[1].warmup, 4);
        assert_eq!(s[1].warmup_pts, 1600);
        assert_eq!(s[3].end, 100);
        assert!(s.windows(2).all(|w| w[0].end == w[1].first));
    }

    #[test]
    fn without_key_frames_cuts_at_the_share_and_never_too_short() {
        let s = Plan::cut(&marks(10, &[0], &[]), (1, 1000), cutting(8, 3)).unwrap();
        assert!(s.iter().all(|s| s.end - s.first >= 4), "{s:?}");
        assert_eq!(s.len(), 2);
        assert!(!s[1].key);
    }
}
