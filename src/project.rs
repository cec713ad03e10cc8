//! Where the project's installed files live: the `.venv` holding ONNX Runtime and the generated `models/`.
//!
//! The binary may run from the checkout (`target/release/stylize`) or from anywhere on `PATH`, so both the
//! current directory and the executable's directory are searched, each with its ancestors.

use std::path::{Path, PathBuf};

/// Directories that may be the project's root, nearest first, without repeats.
pub fn search_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let starts = [
        std::env::current_dir().ok(),
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf)),
    ];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            if !roots.iter().any(|r| r == dir) {
                roots.push(dir.to_path_buf());
            }
        }
    }
    roots
}

/// The first existing `relative` path under one of the [`search_roots`].
pub fn find(relative: &Path) -> Option<PathBuf> {
    search_roots()
        .into_iter()
        .map(|root| root.join(relative))
        .find(|candidate| candidate.exists())
}
