//! Crash-safe, resumable renders. While `stylize video` renders to a file, its work lives in a
//! hidden folder beside the output, `.NAME.part/`: the video as closed segments
//! ([`Segments`]) and a [`Checkpoint`] of the settings, the frames done and the state the next
//! frame needs. When the render ends (or is interrupted) the segments are joined into the output
//! ([`join`]); a finished render then removes the folder, an interrupted one keeps it for
//! `--resume`. A kill at any moment leaves the output as it was and at most the folder.
//!
//! A cluster render is cut into segments by a [`Plan`]; each worker renders one into a part.

mod checkpoint;
mod join;
mod plan;
mod segments;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

pub use checkpoint::{Checkpoint, State};
pub use join::{join, Joined};
pub use plan::{change, Cutting, Mark, Plan, Segment};
pub use segments::{Create, Segments};

/// Outputs written directly: raw frame streams.
const RAW: [&str; 4] = [".y4m", ".yuv", ".rgb", ".raw"];

/// The work folder of a render to a file.
pub struct WorkFolder {
    dir: PathBuf,
    output: PathBuf,
}

impl WorkFolder {
    /// The work folder of `output`, when it is a local file that can be rendered resumably (not
    /// stdout, a URL, a picture pattern, or something that is not a regular file).
    pub fn for_output(output: &str) -> Option<WorkFolder> {
        if output == "-" || output.contains('%') || output.contains("://") {
            return None;
        }
        // Raw frame streams hold no packets a muxer takes back.
        let lower = output.to_ascii_lowercase();
        if RAW.iter().any(|ext| lower.ends_with(ext)) {
            return None;
        }
        let path = PathBuf::from(output.strip_prefix("file:").unwrap_or(output));
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => return None,
            _ => {}
        }
        // A folder that is not there is the output's own error to report, not one to make.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return None;
        }
        let name = path.file_name()?.to_string_lossy().into_owned();
        Some(WorkFolder {
            dir: path.with_file_name(format!(".{name}.part")),
            output: path,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The output's extension, which the segments take.
    pub fn extension(&self) -> String {
        self.output
            .extension()
            .map_or(String::new(), |e| e.to_string_lossy().into_owned())
    }

    /// Starts the render with settings `fingerprint`: with `resume`, from the checkpoint if
    /// there is one (refused when the settings changed); without, a checkpoint is refused with
    /// how to resume or start over. Returns the checkpoint to go on from and its saved state.
    pub fn begin(
        &self,
        fingerprint: BTreeMap<String, String>,
        resume: bool,
    ) -> Result<(Checkpoint, Option<State>)> {
        let (out, dir) = (shown_path(&self.output), shown_path(&self.dir));
        let found = Checkpoint::load(&self.dir).map_err(|e| {
            anyhow::anyhow!("cannot resume {out}: {e:#}; remove {dir} to start over")
        })?;
        match found {
            Some(c) if !resume => bail!(
                "{out} has an unfinished render ({} frames done, kept in {dir}): add --resume to continue it, or remove {dir} to start over",
                c.frames
            ),
            Some(c) => {
                if let Some(name) = changed(&c.fingerprint, &fingerprint) {
                    bail!("cannot resume {out}: {name} changed since its checkpoint in {dir}; run with the same settings, or remove {dir} to start over");
                }
                self.clean(&c)?;
                let state = match &c.state {
                    Some(files) => Some(checkpoint::load_state(&self.dir, files)?),
                    None => None,
                };
                Ok((c, state))
            }
            None => {
                // A run killed before its first segment was finished left nothing worth keeping;
                // the folder is made again with the first segment.
                self.remove()?;
                Ok((Checkpoint::new(fingerprint), None))
            }
        }
    }

    /// Removes what the checkpoint does not name: a segment or state a killed run was writing.
    fn clean(&self, checkpoint: &Checkpoint) -> Result<()> {
        let mut kept: Vec<&str> = checkpoint.segments.iter().map(String::as_str).collect();
        kept.push(checkpoint::FILE);
        if let Some(state) = &checkpoint.state {
            kept.extend([state.stylized.as_str(), state.content.as_str()]);
        }
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            if !kept.iter().any(|k| entry.file_name() == *k) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes the folder (the render is complete, or nothing in it is worth keeping).
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                bail!("cannot remove {}: {e}", shown_path(&self.dir))
            }
            _ => Ok(()),
        }
    }
}

impl WorkFolder {
    /// Joins what `segments` holds into the output; the folder is then removed, or kept for
    /// `--resume` when `keep` (an interrupted render). Returns the frames written.
    pub fn complete(&self, segments: &Segments, format: Option<&str>, keep: bool) -> Result<u64> {
        let joined = join(
            &segments.paths(),
            &self.output,
            format,
            segments.frame_rate(),
        );
        match joined {
            Ok(joined) if !keep => self.remove().map(|_| joined.frames),
            Ok(joined) => Ok(joined.frames),
            Err(e) => Err(self.failed(segments, e)),
        }
    }

    /// The error a render ends with when `error` stopped it: the folder is kept, with how to go
    /// on, when it holds frames done, and removed when it does not.
    pub fn failed(&self, segments: &Segments, error: anyhow::Error) -> anyhow::Error {
        let done = segments.checkpoint().frames;
        if done == 0 {
            return match self.remove() {
                Ok(()) => error,
                Err(e) => error.context(e.to_string()),
            };
        }
        let (out, dir) = (shown_path(&self.output), shown_path(&self.dir));
        if is_disk_full(&error) {
            anyhow::anyhow!("the disk is full writing {out}: free some space and run again with --resume ({done} frames done are kept in {dir})")
        } else {
            anyhow::anyhow!(
                "{error:#}; {done} frames done are kept in {dir}: --resume continues the render"
            )
        }
    }
}

/// A path as messages quote it.
fn shown_path(path: &Path) -> String {
    format!("'{}'", path.display())
}

/// Whether `error` is a full disk (ENOSPC, or FFmpeg's words for it).
pub fn is_disk_full(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.raw_os_error() == Some(libc::ENOSPC))
            || cause.to_string().contains("no space left")
            || cause.to_string().contains("No space left")
    })
}

/// The first setting whose value differs between `saved` and `now`, by name.
pub fn changed<'a>(
    saved: &'a BTreeMap<String, String>,
    now: &'a BTreeMap<String, String>,
) -> Option<&'a str> {
    let names = saved.keys().chain(now.keys());
    names
        .into_iter()
        .find(|name| saved.get(*name) != now.get(*name))
        .map(String::as_str)
}
