//! Coarse-to-fine optimization: a pyramid of sizes, each level warm-started from the one below, as
//! neural-style's multi-resolution runs do, but upsampling only what the level below changed.

use std::ops::ControlFlow;

use anyhow::Result;
use ndarray::{Array4, ArrayView4};

use super::{optimize_within, Budget, Iteration, Outcome, Solver, Stop};
use crate::model::{LossWeights, Model, Targets};

/// A pyramid that does not fit: its coarsest level is under the model's minimum side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the coarsest of {levels} levels would be {width}×{height} pixels, under the model's minimum of {min_side} on each side; the most that fit is {fits}")]
pub struct TooSmall {
    /// The levels asked for.
    pub levels: usize,
    /// The coarsest level's size.
    pub width: usize,
    /// The coarsest level's size.
    pub height: usize,
    /// The model's smallest side.
    pub min_side: usize,
    /// The most levels that fit.
    pub fits: usize,
}

/// The sizes (height, width) of a pyramid of `levels` levels ending at `height`×`width`, coarse to
/// fine; each level's longest side is half the next one's, the aspect ratio kept. One level is
/// the full size alone (the model checks that itself).
pub fn level_sizes(
    height: usize,
    width: usize,
    levels: usize,
    min_side: usize,
) -> Result<Vec<(usize, usize)>, TooSmall> {
    let sizes = pyramid(height, width, levels);
    match sizes.first() {
        Some(&(h, w)) if levels > 1 && h.min(w) < min_side => Err(TooSmall {
            levels,
            width: w,
            height: h,
            min_side,
            fits: max_levels(height, width, min_side),
        }),
        _ => Ok(sizes),
    }
}

/// The sizes of [`level_sizes`], unchecked.
fn pyramid(height: usize, width: usize, levels: usize) -> Vec<(usize, usize)> {
    let longest = height.max(width) as f64;
    (0..levels.max(1))
        .rev()
        .map(|k| {
            let side = (longest / f64::from(1u32 << k.min(30))).round().max(1.0);
            let scale = side / longest;
            let h = ((height as f64 * scale).round() as usize).max(1);
            let w = ((width as f64 * scale).round() as usize).max(1);
            (h, w)
        })
        .collect()
}

/// The most levels whose coarsest is at least `min_side` on each side (at least 1).
pub fn max_levels(height: usize, width: usize, min_side: usize) -> usize {
    (2..=31)
        .take_while(|&n| {
            pyramid(height, width, n)[0]
                .0
                .min(pyramid(height, width, n)[0].1)
                >= min_side
        })
        .last()
        .unwrap_or(1)
}

/// The Catmull-Rom cubic (a = −0.5): bicubic interpolation.
fn cubic(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.5 * x * x * x - 2.5 * x * x + 1.0
    } else if x < 2.0 {
        -0.5 * x * x * x + 2.5 * x * x - 4.0 * x + 2.0
    } else {
        0.0
    }
}

/// For each of `to` output samples, the input samples (of `from`) and their weights: pixel centres
/// aligned, the kernel widened when shrinking (so that downsampling averages), edges repeated.
fn taps(from: usize, to: usize) -> Vec<Vec<(usize, f32)>> {
    let ratio = from as f64 / to as f64;
    let widen = ratio.max(1.0);
    (0..to)
        .map(|o| {
            let centre = (o as f64 + 0.5) * ratio - 0.5;
            let reach = 2.0 * widen;
            let first = (centre - reach).floor() as i64 + 1;
            let last = (centre + reach).ceil() as i64 - 1;
            let mut row: Vec<(usize, f32)> = Vec::new();
            let mut total = 0.0;
            for i in first..=last {
                let weight = cubic((i as f64 - centre) / widen);
                if weight != 0.0 {
                    total += weight;
                    row.push((i.clamp(0, from as i64 - 1) as usize, weight as f32));
                }
            }
            for tap in &mut row {
                tap.1 /= total as f32;
            }
            row
        })
        .collect()
}

/// `image` (1×C×H×W) resampled to `size` (height, width) with a bicubic filter; values are not
/// clamped, so the optimization continues from exactly what it reached.
pub fn resize(image: ArrayView4<f32>, size: (usize, usize)) -> Array4<f32> {
    let (n, c, h, w) = image.dim();
    let (th, tw) = size;
    let (rows, cols) = (taps(h, th), taps(w, tw));
    let mut across = Array4::<f32>::zeros((n, c, h, tw));
    for ((b, ch, y, x), out) in across.indexed_iter_mut() {
        *out = cols[x].iter().map(|&(i, k)| k * image[[b, ch, y, i]]).sum();
    }
    Array4::from_shape_fn((n, c, th, tw), |(b, ch, y, x)| {
        rows[y]
            .iter()
            .map(|&(i, k)| k * across[[b, ch, i, x]])
            .sum()
    })
}

/// How `iterations` are shared among `levels` levels, coarse to fine: two shares for the coarsest
/// and for the finest level, one for each level between (measured in docs/COARSE_TO_FINE.md: at
/// equal cost, iterations at the coarse levels lower the style loss, those at the finest the
/// content loss). What rounding leaves over goes to the finest.
pub fn split(iterations: usize, levels: usize) -> Vec<usize> {
    shares(iterations, levels, [2, 1, 2])
}

/// How a video's first frame shares its `iterations` among `levels` levels: six shares for the
/// coarsest level, three for each between, four for the finest (399, 199, 267 of 865 for three).
/// A still shot's warm frames creep back to where the full-size loss leads them, less from a first
/// frame whose coarse levels ran longer (measured in docs/COARSE_TO_FINE.md).
pub fn split_first_frame(iterations: usize, levels: usize) -> Vec<usize> {
    shares(iterations, levels, [6, 3, 4])
}

/// `iterations` shared among `levels` levels by `[coarsest, between, finest]` shares (a single
/// level takes them all); what rounding leaves over goes to the finest.
fn shares(iterations: usize, levels: usize, [coarsest, between, finest]: [usize; 3]) -> Vec<usize> {
    let levels = levels.max(1);
    let shares: Vec<usize> = (0..levels)
        .map(|l| match l {
            _ if l == levels - 1 => finest,
            0 => coarsest,
            _ => between,
        })
        .collect();
    let total: usize = shares.iter().sum();
    let mut split: Vec<usize> = shares.iter().map(|s| iterations * s / total).collect();
    split[levels - 1] += iterations - split.iter().sum::<usize>();
    split
}

/// Where a level starts from the result `coarse` of the level below, whose content was
/// `coarse_content`: the level's own `content` plus the bicubic upsampling of what the level below
/// changed (`coarse − coarse_content`). The coarse stylization's large strokes come up while the
/// content's fine detail, which no coarser level saw, is kept instead of blurred; measured in
/// docs/COARSE_TO_FINE.md against upsampling `coarse` itself.
pub fn refine_start(
    coarse: ArrayView4<f32>,
    coarse_content: ArrayView4<f32>,
    content: ArrayView4<f32>,
) -> Array4<f32> {
    let change = &coarse - &coarse_content;
    let (_, _, h, w) = content.dim();
    resize(change.view(), (h, w)) + content
}

/// One level of the pyramid: its size, its content, its targets (content and style computed at
/// that size) and its budget.
#[derive(Clone, Debug)]
pub struct Level {
    /// Height and width.
    pub size: (usize, usize),
    /// The content image at this size (1×3×H×W), which the content targets were computed from.
    pub content: Array4<f32>,
    /// The content and style targets at this size.
    pub targets: Targets,
    /// How long this level may run.
    pub budget: Budget,
}

/// Optimizes `image` (at the coarsest level's size) level by level, each starting from the last
/// one's result by [`refine_start`], with the optimizer's state reset between levels.
/// `on_iteration` gets the level's index with each iteration and may end the run (the current
/// level ends where it is and its result is brought to the finest size the same way). Returns
/// the image at the finest size and each level's outcome (up to the one that ended the run).
pub fn coarse_to_fine(
    model: &mut Model,
    levels: &[Level],
    weights: &LossWeights,
    mut image: Array4<f32>,
    solver: &mut Solver,
    mut on_iteration: impl FnMut(usize, &Iteration) -> ControlFlow<()>,
) -> Result<(Array4<f32>, Vec<Outcome>)> {
    let mut outcomes = Vec::with_capacity(levels.len());
    let size_of = |image: &Array4<f32>| (image.dim().2, image.dim().3);
    for (index, level) in levels.iter().enumerate() {
        if let Some(below) = index.checked_sub(1).map(|i| &levels[i]) {
            image = refine_start(image.view(), below.content.view(), level.content.view());
        } else if size_of(&image) != level.size {
            image = resize(image.view(), level.size);
        }
        solver.reset();
        let outcome = optimize_within(
            model,
            &level.targets,
            weights,
            &mut image,
            solver,
            level.budget,
            |it| on_iteration(index, it),
        )?;
        let interrupted = outcome.stop == Stop::Interrupted;
        outcomes.push(outcome);
        if interrupted {
            break;
        }
    }
    if let (Some(reached), Some(finest)) = (outcomes.len().checked_sub(1), levels.last()) {
        if size_of(&image) != finest.size {
            let below = &levels[reached].content;
            image = refine_start(image.view(), below.view(), finest.content.view());
        }
    }
    Ok((image, outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_halve_the_longest_side_and_keep_the_aspect_ratio() {
        assert_eq!(
            level_sizes(320, 512, 3, 16).unwrap(),
            [(80, 128), (160, 256), (320, 512)]
        );
        assert_eq!(level_sizes(171, 256, 3, 16).unwrap()[0], (43, 64));
        assert_eq!(level_sizes(40, 30, 1, 16).unwrap(), [(40, 30)]);
        // One level is never refused here: the model checks the full size itself.
        assert_eq!(level_sizes(8, 8, 1, 16).unwrap(), [(8, 8)]);
    }

    #[test]
    fn a_level_under_the_minimum_side_is_refused_with_what_fits() {
        let error = level_sizes(48, 64, 3, 16).unwrap_err();
        assert_eq!((error.width, error.height, error.fits), (16, 12, 2));
        assert!(error.to_string().contains("16×12"), "{error}");
        assert!(
            error.to_string().contains("the most that fit is 2"),
            "{error}"
        );
        assert_eq!(max_levels(48, 64, 16), 2);
        assert_eq!(max_levels(200, 320, 16), 4);
        assert_eq!(max_levels(20, 20, 16), 1);
        assert!(level_sizes(30, 40, 9, 16).is_err());
    }

    #[test]
    fn resize_keeps_constants_and_ramps() {
        let flat = Array4::from_elem((1, 3, 8, 12), 0.25f32);
        let up = resize(flat.view(), (16, 24));
        assert_eq!(up.dim(), (1, 3, 16, 24));
        assert!(up.iter().all(|&v| (v - 0.25).abs() < 1e-6));
        let down = resize(flat.view(), (3, 5));
        assert!(down.iter().all(|&v| (v - 0.25).abs() < 1e-6));
        // A horizontal ramp stays a ramp in the interior (a cubic reproduces linear functions).
        let ramp = Array4::from_shape_fn((1, 1, 4, 16), |(_, _, _, x)| x as f32);
        let up = resize(ramp.view(), (8, 32));
        for x in 4..28 {
            let expected = (x as f32 + 0.5) / 2.0 - 0.5;
            assert!((up[[0, 0, 3, x]] - expected).abs() < 1e-4, "{x}");
        }
    }

    #[test]
    fn upsampling_a_downsampled_image_is_close_to_the_original() {
        let smooth = Array4::from_shape_fn((1, 3, 32, 48), |(_, c, y, x)| {
            0.5 + 0.4 * ((x as f32 * 0.15 + c as f32).sin() * (y as f32 * 0.1).cos())
        });
        let back = resize(resize(smooth.view(), (16, 24)).view(), (32, 48));
        let worst = (&back - &smooth).iter().fold(0.0f32, |m, e| m.max(e.abs()));
        assert!(worst < 0.05, "{worst}");
    }

    #[test]
    fn a_level_starts_from_its_content_plus_the_upsampled_change() {
        // Fine detail (a one-pixel checkerboard) that the coarse content does not have.
        let content = Array4::from_shape_fn((1, 3, 16, 24), |(_, c, y, x)| {
            0.4 + 0.1 * c as f32 + if (x + y) % 2 == 0 { 0.2 } else { -0.2 }
        });
        let coarse_content = resize(content.view(), (8, 12));
        // Unchanged by the level below: the level starts from its own content, exactly.
        let same = refine_start(coarse_content.view(), coarse_content.view(), content.view());
        assert_eq!(same, content);
        // A change by the level below (brighter on the left) comes up on top of the detail.
        let change =
            Array4::from_shape_fn((1, 3, 8, 12), |(_, _, _, x)| if x < 6 { 0.3 } else { 0.0 });
        let coarse = &coarse_content + &change;
        let start = refine_start(coarse.view(), coarse_content.view(), content.view());
        for (y, x) in [(3, 2), (12, 5), (8, 20)] {
            let added = if x < 12 { 0.3 } else { 0.0 };
            for c in 0..3 {
                let error = start[[0, c, y, x]] - content[[0, c, y, x]] - added;
                assert!(error.abs() < 1e-5, "{c} {y} {x}: {error}");
            }
        }
        // Upsampling the coarse result itself loses the checkerboard.
        let plain = resize(coarse.view(), (16, 24));
        assert!((plain[[0, 0, 8, 20]] - plain[[0, 0, 8, 21]]).abs() < 0.05);
    }

    #[test]
    fn split_shares_every_iteration() {
        for levels in 1..=5 {
            for total in [1, 7, 100, 300, 1000] {
                let shares = split(total, levels);
                assert_eq!(shares.len(), levels);
                assert_eq!(shares.iter().sum::<usize>(), total);
            }
        }
        assert_eq!(split(300, 1), [300]);
        assert_eq!(split(300, 2), [150, 150]);
        assert_eq!(split(300, 3), [120, 60, 120]);
        assert_eq!(split(1000, 4), [333, 166, 166, 335]);
        for levels in 1..=5 {
            let shares = split_first_frame(601, levels);
            assert_eq!(shares.iter().sum::<usize>(), 601);
        }
        assert_eq!(split_first_frame(1000, 1), [1000]);
        assert_eq!(split_first_frame(500, 2), [300, 200]);
        assert_eq!(split_first_frame(865, 3), [399, 199, 267]);
    }
}
