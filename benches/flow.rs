//! Optical flow speed: forward and backward DIS flow plus the reliability weights
//! ([`stylize::temporal::motion`]) between two 512×288 frames, and its share of a video frame's
//! stylization at default settings (`--size 256`: 256×144 for this frame, 40 L-BFGS iterations on
//! warm frames), priced as 40 loss-and-gradient evaluations of the real VGG19 measured in the same
//! run (a lower bound on the frame's cost, so the share is an upper bound). Run through
//! `scripts/bench.sh` (or `scripts/bench.sh --flow-only`).
//!
//! Arguments (after `cargo bench --bench flow --`): `--threads N` (ONNX Runtime threads, default 2),
//! `--model DIR` (default models/vgg19; the share is left out when it cannot be loaded),
//! `--runs N` (default 7); `--pairs DIR` times every preset on the known-motion pairs in DIR
//! (`scripts/flow_bench.py`), `--preset NAME` only that one.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use stylize::model::{self, Device, Model, SessionConfig};
use stylize::temporal::{
    flow_with, motion_with, warp, Flow, FlowParams, FlowPreset, FlowWorkspace,
};

use common::{median, random_problem, WEIGHTS};

/// Iterations of a warm video frame at the default settings.
const WARM_ITERATIONS: f64 = 40.0;

/// Seconds of each of `runs` calls of `f` after one warm-up call.
fn time(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// CPU seconds used so far by all of the process's threads (Linux's schedstat), if known.
fn cpu_seconds() -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 * 1e-9)
}

/// Smoothed noise at several scales, in [0, 1].
fn texture(rng: &mut StdRng, h: usize, w: usize) -> Array2<f32> {
    let mut sum = Array2::<f32>::zeros((h, w));
    for radius in [1usize, 3, 8] {
        let mut noise = Array2::from_shape_simple_fn((h, w), || rng.random::<f32>());
        for _ in 0..2 {
            noise = box_blur(&noise, radius);
        }
        sum = sum + noise;
    }
    let (lo, hi) = sum
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    sum.mapv(|x| (x - lo) / (hi - lo))
}

fn box_blur(a: &Array2<f32>, r: usize) -> Array2<f32> {
    let (h, w) = a.dim();
    let mean = |get: &dyn Fn(usize) -> f32, i: usize, n: usize| {
        let (lo, hi) = (i.saturating_sub(r), (i + r).min(n - 1));
        (lo..=hi).map(get).sum::<f32>() / (hi - lo + 1) as f32
    };
    let rows = Array2::from_shape_fn((h, w), |(y, x)| mean(&|j| a[[y, j]], x, w));
    Array2::from_shape_fn((h, w), |(y, x)| mean(&|j| rows[[j, x]], y, h))
}

/// The second frame: the first turned by 1° about its centre and moved by (3.4, −1.7) px.
fn moved(a: &Array2<f32>) -> Result<Array2<f32>> {
    let (h, w) = a.dim();
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let (s, c) = 1f32.to_radians().sin_cos();
    let mut f = Flow::zeros(h, w);
    for ((y, x), u) in f.u.indexed_iter_mut() {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        // Where pixel (x, y) of the new frame was in the old one.
        let (sx, sy) = (cx + c * dx + s * dy - 3.4, cy - s * dx + c * dy + 1.7);
        *u = sx - x as f32;
        f.v[[y, x]] = sy - y as f32;
    }
    let image = a.view().insert_axis(ndarray::Axis(0));
    let warped = warp(image.insert_axis(ndarray::Axis(0)), &f)?;
    Ok(warped
        .image
        .index_axis_move(ndarray::Axis(0), 0)
        .index_axis_move(ndarray::Axis(0), 0))
}

struct Options {
    threads: usize,
    model: PathBuf,
    runs: usize,
    /// Known-motion pairs to time the presets on (`scripts/flow_bench.py` writes them).
    pairs: Option<PathBuf>,
    /// Only this preset on the pairs (e.g. to count one preset's instructions under callgrind).
    preset: Option<FlowPreset>,
}

fn options() -> Result<Options> {
    let mut o = Options {
        threads: 2,
        model: model::resolve_dir(None),
        runs: 7,
        pairs: None,
        preset: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--threads" => o.threads = value.parse().context("--threads")?,
            "--model" => o.model = value.into(),
            "--runs" => o.runs = value.parse().context("--runs")?,
            "--pairs" => o.pairs = Some(value.into()),
            "--preset" => o.preset = Some(value.parse().map_err(anyhow::Error::msg)?),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o.runs = o.runs.max(5);
    Ok(o)
}

/// Median seconds of one loss-and-gradient evaluation at w×h.
fn loss_and_gradient(o: &Options, w: usize, h: usize) -> Result<f64> {
    let config = SessionConfig {
        device: Device::Cpu,
        threads: o.threads,
        tf32: false,
    };
    let mut model = Model::load(&o.model, &config)?;
    let mut rng = StdRng::seed_from_u64(7);
    let (targets, image) = random_problem(&mut model, &mut rng, h, w)?;
    let mut grad = vec![0f32; image.len()];
    time(5, || {
        model.loss_and_gradient(image.view(), &targets, &WEIGHTS, &mut grad)?;
        Ok(())
    })
}

/// An 8-bit greyscale PNG as a plane in [0, 1].
fn grey(path: &std::path::Path) -> Result<Array2<f32>> {
    let img = image::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok(Array2::from_shape_vec((h, w), img.into_raw())?.mapv(|p| f32::from(p) / 255.0))
}

/// For every `NAME_a.png` / `NAME_b.png` pair in `dir` and every preset: the median time of one
/// flow from a to b, written with the field (`NAME.PRESET.flow`: u then v, little-endian f32) for
/// the script to score; one JSON line per pair and preset on stdout.
fn time_pairs(dir: &std::path::Path, runs: usize, only: Option<FlowPreset>) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix("_a.png")
                .map(String::from)
        })
        .collect();
    names.sort();
    for name in names {
        let a = grey(&dir.join(format!("{name}_a.png")))?;
        let b = grey(&dir.join(format!("{name}_b.png")))?;
        for preset in FlowPreset::ALL
            .into_iter()
            .filter(|p| only.is_none_or(|o| o == *p))
        {
            let params = preset.params();
            // Kept across the runs, as the OpenCV side keeps its DIS object; it holds the field.
            let mut workspace = FlowWorkspace::default();
            let seconds = time(runs, || {
                flow_with(a.view(), b.view(), &params, &mut workspace)?;
                Ok(())
            })?;
            let f = workspace.field();
            // A plain loop: a byte-wise iterator would outweigh a fast preset under callgrind.
            let mut bytes = Vec::with_capacity(8 * f.u.len());
            for x in f.u.iter().chain(f.v.iter()) {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            std::fs::write(dir.join(format!("{name}.{}.flow", preset.name())), bytes)?;
            println!(
                "{{\"pair\": \"{name}\", \"preset\": \"{}\", \"seconds\": {seconds}}}",
                preset.name()
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let o = options()?;
    if let Some(dir) = &o.pairs {
        return time_pairs(dir, o.runs, o.preset);
    }
    let (w, h) = (512, 288);
    let mut rng = StdRng::seed_from_u64(1);
    let prev = texture(&mut rng, h, w);
    let cur = moved(&prev)?;
    let params = FlowParams::default();

    // Buffers kept from call to call, as `MotionTracker` keeps them.
    let mut workspaces: [FlowWorkspace; 2] = Default::default();
    let one = time(o.runs, || {
        flow_with(cur.view(), prev.view(), &params, &mut workspaces[0])?;
        Ok(())
    })?;
    let cpu_before = cpu_seconds();
    let both = time(o.runs, || {
        motion_with(prev.view(), cur.view(), &params, &mut workspaces)?;
        Ok(())
    })?;
    // Mean CPU time of a call (the warm-up included), all threads together.
    let cpu = cpu_before
        .zip(cpu_seconds())
        .map(|(a, b)| (b - a) / (o.runs + 1) as f64);
    println!(
        "rayon threads: {}, ONNX Runtime threads: {}, model: {}",
        rayon::current_num_threads(),
        o.threads,
        o.model.display()
    );
    println!();
    println!("| what | size | median | share of a warm video frame |");
    println!("|---|---|---|---|");
    println!(
        "| optical flow, one direction | {w}×{h} | {:.0} ms | |",
        one * 1e3
    );
    let share = match loss_and_gradient(&o, 256, 144) {
        Ok(t) => {
            let frame = WARM_ITERATIONS * t;
            println!(
                "| loss+gradient (`--size 256` of a {w}×{h} frame) | 256×144 | {:.0} ms | ×{WARM_ITERATIONS:.0} iterations ≥ {frame:.1} s per frame |",
                t * 1e3
            );
            format!("{:.1}% of ≥ {frame:.1} s", 100.0 * both / frame)
        }
        Err(e) => {
            eprintln!("flow bench: no loss+gradient reference: {e:#}");
            "(no model to compare with)".to_string()
        }
    };
    println!(
        "| optical flow forward + backward + reliability (`temporal::motion`) | {w}×{h} | {:.0} ms | {share} |",
        both * 1e3
    );
    if let Some(cpu) = cpu {
        println!(
            "| the same, CPU time of all threads (mean) | {w}×{h} | {:.0} ms | |",
            cpu * 1e3
        );
    }
    Ok(())
}
