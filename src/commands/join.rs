//! `stylize join`: the parts a plan's segments were rendered into, checked complete and joined
//! into one video by copying their packets (no re-encoding), the sound and timing kept.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cli::JoinArgs;
use crate::config;
use crate::render::{self, Plan};

pub(super) fn run(args: &JoinArgs) -> Result<()> {
    let plan = Plan::load(&args.plan)?;
    let dir = parts_dir(&args.plan, args.parts.as_deref());
    let missing: Vec<String> = (0..plan.segments.len())
        .filter(|&k| !plan.is_done(&dir, k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        let (noun, these) = match missing.len() {
            1 => ("segment", "it"),
            _ => ("segments", "them"),
        };
        bail!(
            "cannot join '{}': {noun} {} of {} not rendered (or unfinished) in '{}': render {these} with `stylize video --plan {} --segment K`",
            args.output.display(),
            missing.join(", "),
            plan.segments.len(),
            dir.display(),
            args.plan.display()
        );
    }
    let parts: Vec<PathBuf> = (0..plan.segments.len())
        .map(|k| dir.join(plan.part(k)))
        .collect();
    let mut inputs: Vec<(&str, &Path)> = parts.iter().map(|p| ("part", p.as_path())).collect();
    inputs.push(("plan", args.plan.as_path()));
    let overwrite = config::overwrite(&args.overwrite);
    let _locks = super::check_files(&args.output, None, &inputs, &[], overwrite)?;
    let joined = render::join(&parts, &args.output, args.format.as_deref(), None)?;
    eprintln!(
        "wrote {} ({} frames from {} parts)",
        args.output.display(),
        joined.frames,
        parts.len()
    );
    Ok(())
}

/// Where the parts are: `--parts`, else `parts` beside the plan.
fn parts_dir(plan: &Path, parts: Option<&Path>) -> PathBuf {
    match parts {
        Some(dir) => dir.to_path_buf(),
        None => plan.with_file_name("parts"),
    }
}
