//! `stylize image`: one image stylized.

use std::path::PathBuf;

use clap::Args;

use super::{BudgetArgs, EngineArgs, OptimArgs, OverwriteArgs, ReportArgs, StyleArgs};

/// `stylize image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The content image (PNG, JPEG, WebP, BMP, TIFF, GIF).
    #[arg(value_name = "CONTENT")]
    pub content: PathBuf,

    /// Output image; the format follows the extension (.png, .jpg, .webp, .bmp, .tiff).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Longest side of the image while optimizing, in pixels; the output has this size.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub size: u32,

    /// Optimizer iterations in all, shared among the --levels (at most: see --tolerance); or one
    /// count per level, coarse to fine, comma-separated.
    #[arg(long, default_value = "150", value_name = "N|N,N,...")]
    pub iterations: LevelIterations,

    /// Where the optimization starts: the content image, seeded noise, or an image file.
    #[arg(long, default_value = "content", value_name = "content|noise|PATH")]
    pub init: Init,

    /// Keep the content's colours and transfer only luminance (Gatys et al. 2016).
    #[arg(long)]
    pub original_colors: bool,

    #[command(flatten)]
    pub budget: BudgetArgs,

    #[command(flatten)]
    pub style: StyleArgs,

    #[command(flatten)]
    pub optim: OptimArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub overwrite: OverwriteArgs,
}

/// `--iterations` of `stylize image`: a total, or one count per level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelIterations {
    /// In all, shared among the levels by the measured rule.
    Total(u32),
    /// For each level, coarse to fine.
    PerLevel(Vec<u32>),
}

impl std::str::FromStr for LevelIterations {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let counts = s
            .split(',')
            .map(|t| match t.trim().parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => Ok(n),
                _ => Err(format!("'{t}' is not a number of iterations (1 to 100000)")),
            })
            .collect::<Result<Vec<u32>, String>>()?;
        Ok(match counts.as_slice() {
            [n] => LevelIterations::Total(*n),
            _ => LevelIterations::PerLevel(counts),
        })
    }
}

/// `--init`.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Start from the content image.
    Content,
    /// Start from seeded noise.
    Noise,
    /// Start from this image (resized to the content's size).
    Image(PathBuf),
}

impl std::str::FromStr for Init {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "content" => Init::Content,
            "noise" => Init::Noise,
            "" => return Err("give content, noise or an image path".into()),
            path => Init::Image(PathBuf::from(path)),
        })
    }
}
