//! The files a run reads and writes: what it writes must never be one of its inputs, an existing
//! file is replaced only when the user says so, and one run at a time writes each output.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Result};

/// A file a run reads or writes, with what it is for (`content image`, `--stats`, …).
pub type Named<'a> = (&'a str, &'a Path);

/// Where a file being written to `destination` lives until it is complete and renamed over it:
/// `.NAME.PID.part` beside it (same directory, so the rename is atomic).
pub fn temporary_beside(destination: &Path) -> PathBuf {
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    destination.with_file_name(format!(".{name}.{}.part", std::process::id()))
}

/// Whether `a` and `b` name the same existing file, links followed (so a symbolic or hard link to
/// an input counts as the input).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => same_inode(&a, &b),
        _ => false,
    }
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Refuses, before any work, a run whose outputs include one of its inputs or each other: writing
/// there would destroy the user's file. Paths of `-` (the standard streams) are not files.
pub fn check_outputs(outputs: &[Named], inputs: &[Named]) -> Result<()> {
    let is_file = |p: &Path| p.as_os_str() != "-";
    for (i, &(what, out)) in outputs.iter().enumerate().filter(|(_, (_, p))| is_file(p)) {
        if let Some((input, _)) = inputs.iter().find(|(_, p)| is_file(p) && same_file(out, p)) {
            bail!(
                "{what} '{}' is the {input}: it would be overwritten; write to another file",
                out.display()
            );
        }
        let later = &outputs[i + 1..];
        if let Some((other, _)) = later
            .iter()
            .find(|(_, p)| is_file(p) && (p == &out || same_file(out, p)))
        {
            bail!(
                "{what} and {other} are the same file '{}': give them different names",
                out.display()
            );
        }
    }
    Ok(())
}

/// What to do with an output that already exists (ffmpeg's convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// `-y`: replace it.
    Yes,
    /// `-n`: refuse.
    No,
    /// Neither: ask on a terminal, refuse otherwise.
    Ask,
}

/// Why a run may not write one of its outputs.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists and the user did not say to replace it.
    #[error("{what} '{}' already exists: pass -y to overwrite it, or choose another name", path.display())]
    Exists {
        /// What the file is for (`output`, `--stats file`).
        what: String,
        /// The file.
        path: PathBuf,
    },
    /// The user answered no when asked.
    #[error("not overwriting '{}'", .0.display())]
    Declined(PathBuf),
    /// Another process holds the output's lock.
    #[error("another stylize is writing '{}': wait for it to finish, or write to another file", .0.display())]
    Busy(PathBuf),
}

/// The outputs among `outputs` that are existing regular files (links followed), which a run
/// would replace. Devices and pipes (`/dev/null`, a FIFO) are written, never replaced, so they
/// are not listed; nor is `-`.
pub fn existing<'a>(outputs: &[Named<'a>]) -> Vec<Named<'a>> {
    outputs
        .iter()
        .filter(|(_, p)| p.as_os_str() != "-" && std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .copied()
        .collect()
}

/// The destinations this process holds locks on, whose staged files [`abort_cleanup`] removes.
static WRITING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// An exclusive lock on an output, held while a run writes it: `.NAME.lock` beside it, locked
/// with `flock` and removed when dropped.
#[derive(Debug)]
pub struct OutputLock {
    /// The output.
    destination: PathBuf,
    /// The lock file, `None` where none could be made (a read-only directory, where nothing can
    /// be written anyway and the writer says why).
    file: Option<(PathBuf, File)>,
}

impl OutputLock {
    /// Locks `destination` for this run, or fails at once with [`OutputError::Busy`] when another
    /// process holds it. `-` and existing devices or pipes are not locked.
    pub fn acquire(destination: &Path) -> Result<OutputLock, OutputError> {
        let special = std::fs::metadata(destination).is_ok_and(|m| !m.is_file());
        let file = if destination.as_os_str() == "-" || special {
            None
        } else {
            lock_file(destination)?
        };
        if let Ok(mut writing) = WRITING.lock() {
            writing.push(destination.to_path_buf());
        }
        Ok(OutputLock {
            destination: destination.to_path_buf(),
            file,
        })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if let Ok(mut writing) = WRITING.lock() {
            if let Some(i) = writing.iter().position(|p| p == &self.destination) {
                writing.swap_remove(i);
            }
        }
        // Removed while still locked, so that a process waiting on this inode sees it gone.
        if let Some((path, _file)) = self.file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Where the lock of `destination` lives: `.NAME.lock` beside it.
fn lock_path(destination: &Path) -> PathBuf {
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    destination.with_file_name(format!(".{name}.lock"))
}

/// Creates and locks `destination`'s lock file; `None` when it cannot be created.
fn lock_file(destination: &Path) -> Result<Option<(PathBuf, File)>, OutputError> {
    let path = lock_path(destination);
    // The holder removes the file before unlocking: a lock won on a removed file is retried.
    loop {
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) => {
                tracing::debug!("no lock for '{}': {e}", destination.display());
                return Ok(None);
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OutputError::Busy(destination.to_path_buf()))
            }
            Err(TryLockError::Error(e)) => {
                tracing::debug!("cannot lock '{}': {e}", path.display());
                return Ok(None);
            }
        }
        let current = std::fs::metadata(&path);
        if let (Ok(held), Ok(current)) = (file.metadata(), current) {
            if same_inode(&held, &current) {
                return Ok(Some((path, file)));
            }
        }
    }
}

/// On an abort (a second Ctrl-C), removes the staged files of the outputs this process is
/// writing and their locks, so that nothing unfinished is left and what was at each destination
/// before stays as it was. Called just before the process exits.
pub fn abort_cleanup() {
    let Ok(writing) = WRITING.try_lock() else {
        return;
    };
    for destination in writing.iter() {
        let _ = std::fs::remove_file(temporary_beside(destination));
        let _ = std::fs::remove_file(lock_path(destination));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_may_not_be_inputs_or_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("photo.jpg");
        std::fs::write(&input, b"picture").unwrap();
        let link = dir.path().join("link.jpg");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let hard = dir.path().join("hard.jpg");
        std::fs::hard_link(&input, &hard).unwrap();
        let fresh = dir.path().join("out.png");
        let inputs = [("content image", input.as_path())];

        assert!(check_outputs(&[("output", fresh.as_path())], &inputs).is_ok());
        for clash in [&input, &link, &hard] {
            let e = check_outputs(&[("output", clash.as_path())], &inputs).unwrap_err();
            assert!(e.to_string().contains("is the content image"), "{e}");
        }
        let e = check_outputs(
            &[("output", fresh.as_path()), ("--stats", fresh.as_path())],
            &inputs,
        )
        .unwrap_err();
        assert!(e.to_string().contains("are the same file"), "{e}");
        let stdout = Path::new("-");
        assert!(check_outputs(&[("output", stdout)], &[("input", stdout)]).is_ok());
        assert_eq!(std::fs::read(&input).unwrap(), b"picture");
    }

    #[test]
    fn one_lock_per_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.mp4");
        let first = OutputLock::acquire(&out).unwrap();
        assert!(dir.path().join(".out.mp4.lock").exists());
        let busy = OutputLock::acquire(&out).unwrap_err();
        assert!(matches!(busy, OutputError::Busy(_)), "{busy}");
        drop(first);
        assert!(!dir.path().join(".out.mp4.lock").exists());
        let again = OutputLock::acquire(&out).unwrap();
        std::fs::write(temporary_beside(&out), b"unfinished").unwrap();
        abort_cleanup();
        assert!(!temporary_beside(&out).exists());
        drop(again);
        assert!(OutputLock::acquire(Path::new("-")).is_ok());
    }

    #[test]
    fn only_regular_files_exist_to_be_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.png");
        std::fs::write(&old, b"x").unwrap();
        let fresh = dir.path().join("new.png");
        let outputs = [
            ("output", old.as_path()),
            ("--stats file", fresh.as_path()),
            ("output", Path::new("/dev/null")),
            ("output", Path::new("-")),
        ];
        assert_eq!(existing(&outputs), vec![("output", old.as_path())]);
    }
}
