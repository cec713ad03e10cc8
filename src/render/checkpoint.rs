//! The checkpoint of a resumable render: what was done, with what settings, and the exact state
//! the next frame needs, saved so that a kill at any moment leaves either the previous checkpoint
//! or the new one, never a torn one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use ndarray::Array4;
use serde::{Deserialize, Serialize};

use crate::media::RgbFrame;

/// The checkpoint's file in the work folder.
pub const FILE: &str = "checkpoint.json";
/// The layout this build writes and reads.
const VERSION: u32 = 1;

/// What a render's finished segments hold and what the next frame needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// The settings that change the pictures, by name (given by the command).
    pub fingerprint: BTreeMap<String, String>,
    /// Video frames in the finished segments.
    pub frames: u64,
    /// Packets of the other streams (the sound) after the last of those frames, in the last
    /// segment.
    pub trailing_packets: u64,
    /// The finished segments' file names, in order.
    pub segments: Vec<String>,
    /// The size the frames are encoded at.
    pub encoded_size: (u32, u32),
    /// The state after the last frame done.
    pub state: Option<StateFiles>,
}

/// The files holding the state after the last frame done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateFiles {
    /// The stylized frame in full precision: f32, little-endian, 1×3×H×W.
    pub stylized: String,
    /// Its shape.
    pub shape: [usize; 4],
    /// The content frame it was made from (the flow's previous frame): packed RGB24.
    pub content: String,
    /// The content frame's width and height, timestamp and number.
    pub content_size: (u32, u32),
    pub content_pts: Option<i64>,
    pub content_index: u64,
}

/// The state restored from a checkpoint's files.
pub struct State {
    pub stylized: Array4<f32>,
    pub content: RgbFrame,
}

impl Checkpoint {
    /// An empty checkpoint for settings `fingerprint`.
    pub fn new(fingerprint: BTreeMap<String, String>) -> Checkpoint {
        Checkpoint {
            version: VERSION,
            fingerprint,
            ..Checkpoint::default()
        }
    }

    /// The checkpoint in `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => bail!("cannot read '{}': {e}", path.display()),
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("'{}' is damaged", path.display()))?;
        if checkpoint.version != VERSION {
            bail!(
                "'{}' was written by another version of stylize",
                path.display()
            );
        }
        Ok(Some(checkpoint))
    }

    /// Writes the checkpoint into `dir` atomically: a temporary file, synced, renamed over it.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_synced(&dir.join(format!("{FILE}.tmp")), text.as_bytes())?;
        std::fs::rename(dir.join(format!("{FILE}.tmp")), dir.join(FILE))
            .with_context(|| format!("cannot write the checkpoint in '{}'", dir.display()))
    }
}

/// Writes the state after frame `number` into `dir` (new files; the checkpoint naming them is
/// what makes them current).
pub fn save_state(
    dir: &Path,
    number: usize,
    stylized: &Array4<f32>,
    content: &RgbFrame,
) -> Result<StateFiles> {
    let (a, b, c, d) = stylized.dim();
    let bytes: Vec<u8> = stylized.iter().flat_map(|v| v.to_le_bytes()).collect();
    let files = StateFiles {
        stylized: format!("stylized-{number:06}.f32"),
        shape: [a, b, c, d],
        content: format!("content-{number:06}.rgb"),
        content_size: (content.width, content.height),
        content_pts: content.pts,
        content_index: content.index,
    };
    write_synced(&dir.join(&files.stylized), &bytes)?;
    write_synced(&dir.join(&files.content), &content.data)?;
    Ok(files)
}

/// Reads the state [`save_state`] wrote.
pub fn load_state(dir: &Path, files: &StateFiles) -> Result<State> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(dir.join(name))
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .with_context(|| format!("cannot read the saved state '{name}'"))?;
        Ok(bytes)
    };
    let values: Vec<f32> = read(&files.stylized)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let [a, b, c, d] = files.shape;
    let stylized = Array4::from_shape_vec((a, b, c, d), values)
        .context("the saved stylized frame is damaged")?;
    let (w, h) = files.content_size;
    let content = RgbFrame::new(
        w,
        h,
        read(&files.content)?,
        files.content_pts,
        files.content_index,
    )
    .context("the saved content frame is damaged")?;
    Ok(State { stylized, content })
}

/// Writes `bytes` to `path` and syncs it to the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let written = File::create(path).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    written.with_context(|| format!("cannot write '{}'", path.display()))
}
