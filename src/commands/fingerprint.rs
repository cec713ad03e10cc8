//! The fingerprint of a render: every setting that changes its pictures or its file, by its
//! flag's name, so that a resumed render can say what changed since its checkpoint, and a
//! cluster's worker that its settings are not its plan's.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::cli::RenderArgs;

/// The settings of `args` that shape the output, and the identity of the files it reads (the
/// input, the style images, the first frame, the model's files: path, size and modification
/// time).
pub fn of(input: &str, args: &RenderArgs, model_dir: &Path) -> BTreeMap<String, String> {
    let mut found = settings(args);
    found.insert("the input".into(), identity(Path::new(input)));
    for (i, style) in args.style.styles.iter().enumerate() {
        found.insert(format!("style image {}", i + 1), identity(style));
    }
    if let Some(first) = &args.first_frame {
        found.insert("--first-frame".into(), identity(first));
    }
    found.insert("the model".into(), folder_identity(model_dir));
    found
}

/// The fingerprint a cluster's plan and its workers compare: the files by their contents
/// (SHA-256) and the model's by name and size, not by path or time, which differ from machine to
/// machine; without the flags that only say where to run (`--device`, `--threads`, `--model`) or
/// where the files are (`--style`).
pub fn portable(
    input: &str,
    args: &RenderArgs,
    model_dir: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut found = settings(args);
    let mut files: Vec<String> = std::fs::read_dir(model_dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let bytes = std::fs::metadata(p).map_or(0, |m| m.len());
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            format!("{name} ({bytes} bytes)")
        })
        .collect();
    files.sort();
    found.insert("the model".into(), files.join(", "));
    for machine in ["--device", "--threads", "--model", "--style"] {
        found.remove(machine);
    }
    found.insert("the input".into(), sha256(Path::new(input))?);
    for (i, style) in args.style.styles.iter().enumerate() {
        found.insert(format!("style image {}", i + 1), sha256(style)?);
    }
    if let Some(first) = &args.first_frame {
        found.insert("--first-frame".into(), sha256(first)?);
    }
    Ok(found)
}

/// The settings of `args` by flag.
fn settings(args: &RenderArgs) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    found.insert("--size".into(), args.size.to_string());
    found.insert("--output-size".into(), format!("{:?}", args.output_size));
    found.insert("--iterations".into(), format!("{:?}", args.iterations));
    fields(&mut found, &args.temporal);
    fields(&mut found, &args.media);
    fields(&mut found, &args.budget);
    fields(&mut found, &args.style);
    fields(&mut found, &args.optim);
    fields(&mut found, &args.engine);
    found
}

/// The SHA-256 of a file's contents, in hex.
pub fn sha256(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read '{}'", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Adds each field of `group` (a flag group of the command line) under its flag's name, from
/// its pretty `Debug` form: one field a line at the first indent, nested values below it.
fn fields(found: &mut BTreeMap<String, String>, group: &impl Debug) {
    let text = format!("{group:#?}");
    let mut current: Option<String> = None;
    for line in text.lines().skip(1) {
        let field = line
            .strip_prefix("    ")
            .filter(|rest| !rest.starts_with(' '))
            .and_then(|rest| rest.split_once(": "));
        if let Some((name, value)) = field {
            let flag = match name {
                "source" => "--input-format/--input-option".to_string(),
                "styles" => "--style".to_string(),
                other => format!("--{}", other.replace('_', "-")),
            };
            found.insert(flag.clone(), value.to_string());
            current = Some(flag);
        } else if let Some(value) = current.as_ref().and_then(|f| found.get_mut(f)) {
            value.push_str(line.trim());
        }
    }
}

/// A file's path, size and modification time (or the text itself when it names no file: a
/// lavfi graph, a URL).
fn identity(path: &Path) -> String {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) => {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            format!(
                "{} ({} bytes, modified {modified})",
                path.display(),
                m.len()
            )
        }
        Err(_) => shown.to_string(),
    }
}

/// The identity of every file in a folder (the model's graphs and manifest).
fn folder_identity(dir: &Path) -> String {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    let files: Vec<String> = names.iter().map(|p| identity(p)).collect();
    format!("{}: {}", dir.display(), files.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Group {
        seed: u64,
        style_blend: Vec<f32>,
    }

    #[test]
    fn names_the_flag_that_changed() {
        let mut a = BTreeMap::new();
        fields(
            &mut a,
            &Group {
                seed: 1,
                style_blend: vec![0.5, 0.5],
            },
        );
        let mut b = BTreeMap::new();
        fields(
            &mut b,
            &Group {
                seed: 1,
                style_blend: vec![0.5, 0.25],
            },
        );
        assert_eq!(a.get("--seed").map(String::as_str), Some("1,"));
        assert_eq!(crate::render::changed(&a, &b), Some("--style-blend"));
        assert_eq!(crate::render::changed(&a, &a), None);
    }
}
