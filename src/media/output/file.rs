//! The local file an output writes: its directory checked first, and the file staged under a
//! temporary name until it is finished.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

use crate::media::{Error, Result};

/// A local file written beside its destination under a temporary name and renamed over it only
/// when finished, so that a failed or killed run never touches what was there before. A
/// destination that exists and is not a regular file (a device, a FIFO) is written in place and
/// never removed.
#[derive(Debug)]
pub(super) struct Staged {
    /// Where the file is written.
    pub temp: PathBuf,
    /// Where it goes when finished.
    pub destination: PathBuf,
}

impl Staged {
    /// How `destination` is written: staged, or `None` when it is written in place.
    pub fn for_destination(destination: PathBuf) -> Option<Staged> {
        match std::fs::symlink_metadata(&destination) {
            Ok(m) if !(m.is_file() || m.file_type().is_symlink()) => return None,
            _ => {}
        }
        destination.file_name()?;
        let temp = crate::files::temporary_beside(&destination);
        Some(Staged { temp, destination })
    }

    /// Moves the finished file into place.
    pub fn commit(self, shown: &str) -> Result<()> {
        std::fs::rename(&self.temp, &self.destination).map_err(|e| {
            Error::Other(format!(
                "cannot put the finished {shown} in place: {e}; it is kept as '{}'",
                self.temp.display()
            ))
        })
    }

    /// Removes the unfinished file; what was at the destination before stays as it was.
    pub fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.temp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove the unfinished {}: {e}", self.temp.display());
            }
        }
    }
}

/// Opens the context's I/O on `url` for writing, unless its muxer writes no file.
pub(super) fn open_io(
    ctx: &mut ffmpeg::format::context::Output,
    url: &CStr,
) -> Result<(), ffmpeg::Error> {
    // SAFETY: the context's muxer; opening its I/O on the URL it was made for.
    let opened = unsafe {
        let raw = ctx.as_mut_ptr();
        if (*(*raw).oformat).flags & ffi::AVFMT_NOFILE == 0 {
            ffi::avio_open(&mut (*raw).pb, url.as_ptr(), ffi::AVIO_FLAG_WRITE)
        } else {
            0
        }
    };
    if opened < 0 {
        return Err(ffmpeg::Error::from(opened));
    }
    Ok(())
}

/// Closes the I/O [`open_io`] opened.
pub(super) fn close_io(ctx: &mut ffmpeg::format::context::Output) -> Result<(), ffmpeg::Error> {
    // SAFETY: closing the I/O the context opened, and nulling it so it is closed once.
    let closed = unsafe {
        let raw = ctx.as_mut_ptr();
        if (*(*raw).oformat).flags & ffi::AVFMT_NOFILE == 0 {
            ffi::avio_closep(&mut (*raw).pb)
        } else {
            0
        }
    };
    if closed < 0 {
        return Err(ffmpeg::Error::from(closed));
    }
    Ok(())
}

/// The local file an output URL names (`-` and other protocols than `file:` name none).
pub(super) fn local_path(url: &str) -> Option<PathBuf> {
    if url == "-" {
        return None;
    }
    if let Some(rest) = url.strip_prefix("file:") {
        return Some(PathBuf::from(rest));
    }
    match url.find(':') {
        // `proto:…` with a protocol name of two letters or more (so `C:\…` stays a path).
        Some(i)
            if i >= 2
                && url[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') =>
        {
            None
        }
        _ => Some(PathBuf::from(url)),
    }
}

/// Checks that `path` can be created: it is no directory, and its directory exists.
pub(super) fn check_directory(path: &Path, shown: &str) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Other(format!(
            "cannot write {shown}: it is a directory"
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::Other(format!(
            "cannot write {shown}: directory '{}' does not exist",
            dir.display()
        )));
    }
    Ok(())
}
