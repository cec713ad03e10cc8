//! Claiming a command's outputs before any work: none is an input, each is locked for this run,
//! and those that exist are settled as `-y`/`-n` say.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::files::{self, OutputError, OutputLock, Overwrite};

/// Checks before any work that `output` and the `--stats` file overwrite none of `inputs` nor a
/// style image, and that the statistics can be written; then claims the outputs (see
/// [`claim_outputs`]).
pub(super) fn check_files(
    output: &Path,
    stats: Option<&Path>,
    inputs: &[(&str, &Path)],
    styles: &[PathBuf],
    overwrite: Overwrite,
) -> Result<Vec<OutputLock>> {
    if let Some(path) = stats {
        crate::stats::check(path)?;
    }
    let mut outputs = vec![("output", output)];
    outputs.extend(stats.map(|p| ("--stats file", p)));
    let mut inputs = inputs.to_vec();
    inputs.extend(styles.iter().map(|p| ("style image", p.as_path())));
    claim_outputs(&outputs, &inputs, overwrite)
}

/// Refuses outputs that are inputs, locks each output for this run (a second `stylize` writing
/// one fails at once), and settles those that exist as `-y`/`-n` say: without either, asks on a
/// terminal and refuses otherwise. The locks are held until dropped.
pub(super) fn claim_outputs(
    outputs: &[files::Named],
    inputs: &[files::Named],
    overwrite: Overwrite,
) -> Result<Vec<OutputLock>> {
    files::check_outputs(outputs, inputs)?;
    let locks = outputs
        .iter()
        .map(|(_, path)| OutputLock::acquire(path))
        .collect::<Result<Vec<_>, _>>()?;
    for (what, path) in files::existing(outputs) {
        let refused = || OutputError::Exists {
            what: what.to_string(),
            path: path.to_path_buf(),
        };
        match overwrite {
            Overwrite::Yes => {}
            Overwrite::No => return Err(refused().into()),
            Overwrite::Ask if std::io::stdin().is_terminal() => {
                eprint!(
                    "File '{}' already exists. Overwrite? [y/N] ",
                    path.display()
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
                    return Err(OutputError::Declined(path.to_path_buf()).into());
                }
            }
            Overwrite::Ask => return Err(refused().into()),
        }
    }
    Ok(locks)
}
