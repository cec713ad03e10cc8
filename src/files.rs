//! The files a run reads and writes: what it writes must never be one of its inputs.

use std::path::{Path, PathBuf};

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
}
