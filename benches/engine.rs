//! Loss-and-gradient speed against the CPU's convolution peak, and the share of an iteration spent
//! outside ONNX Runtime. Run through `scripts/bench.sh`, which makes the peak-convolution graph.
//!
//! Arguments (after `cargo bench --bench engine --`): `--conv PATH` (one 3×3 512→512 convolution),
//! `--threads N` (default 2), `--model DIR` (default models/vgg19), `--sizes WxH,...`.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::Array4;
use ort::value::TensorRef;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use stylize::model::{self, Device, Model, SessionConfig};
use stylize::optim::{LbfgsConfig, OptimizerKind};
use stylize::stylize::optimize;
use stylize::stylize::{Budget, EngineChoice, Solver};

use common::{median, random_image, random_problem, WEIGHTS};

struct Options {
    conv: PathBuf,
    threads: usize,
    model: PathBuf,
    sizes: Vec<(usize, usize)>,
}

fn options() -> Result<Options> {
    let mut o = Options {
        conv: PathBuf::from(".cache/bench/conv512.onnx"),
        threads: 2,
        model: model::resolve_dir(None),
        sizes: vec![(256, 192), (512, 384), (1024, 768)],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--conv" => o.conv = value.into(),
            "--threads" => o.threads = value.parse().context("--threads")?,
            "--model" => o.model = value.into(),
            "--sizes" => {
                o.sizes = value
                    .split(',')
                    .map(|s| {
                        let (w, h) = s.split_once('x').context("--sizes WxH,...")?;
                        Ok((w.parse()?, h.parse()?))
                    })
                    .collect::<Result<_>>()?
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Ok(o)
}

/// GFLOP/s of one large 3×3 512→512 convolution (64×48 and 128×96 spatial; the better one).
fn conv_peak(o: &Options) -> Result<f64> {
    let config = SessionConfig {
        device: Device::Cpu,
        threads: o.threads,
        tf32: false,
    };
    let mut session = model::runtime::open_session(&o.conv, &config)?.session;
    let mut rng = StdRng::seed_from_u64(1);
    let mut best: f64 = 0.0;
    for (h, w) in [(48, 64), (96, 128)] {
        let x = Array4::from_shape_simple_fn((1, 512, h, w), || rng.random::<f32>());
        let flop = 2.0 * 512.0 * 512.0 * 9.0 * (h * w) as f64;
        let mut times = Vec::new();
        for run in 0..6 {
            let start = Instant::now();
            session.run(ort::inputs!["x" => TensorRef::from_array_view(x.view())?])?;
            if run > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let t = median(times);
        let gflops = flop / t / 1e9;
        println!(
            "| conv 3×3 512→512 | {w}×{h} | {:.1} ms | {gflops:.1} GFLOP/s |",
            t * 1e3
        );
        best = best.max(gflops);
    }
    Ok(best)
}

fn main() -> Result<()> {
    let o = options()?;
    let config = SessionConfig {
        device: Device::Cpu,
        threads: o.threads,
        tf32: false,
    };
    println!("threads: {}, model: {}", o.threads, o.model.display());
    println!();
    println!("| what | size | median | rate |");
    println!("|---|---|---|---|");
    let peak = conv_peak(&o)?;

    let mut model = Model::load(&o.model, &config)?;
    let per_pixel = model.manifest().flops.loss_per_pixel;
    let gram_per_pixel = 2.0 * model.manifest().flops.gram_per_pixel;
    let mut rng = StdRng::seed_from_u64(7);
    let weights = WEIGHTS;
    let mut at_512 = None;
    for &(w, h) in &o.sizes {
        let (targets, image) = random_problem(&mut model, &mut rng, h, w)?;
        let mut grad = vec![0f32; image.len()];
        let runs = if w * h > 400_000 { 4 } else { 6 };
        let mut times = Vec::new();
        for run in 0..runs {
            let start = Instant::now();
            model.loss_and_gradient(image.view(), &targets, &weights, &mut grad)?;
            if run > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let t = median(times);
        let gflop = per_pixel * (w * h) as f64 / 1e9;
        let with_grams = gflop + gram_per_pixel * (w * h) as f64 / 1e9;
        println!(
            "| loss+gradient | {w}×{h} | {:.0} ms | convolutions: {:.1} GFLOP/s = {:.1}% of peak ({gflop:.0} GFLOP); with the Gram products: {:.1}% ({with_grams:.0} GFLOP) |",
            t * 1e3,
            gflop / t,
            100.0 * gflop / t / peak,
            100.0 * with_grams / t / peak
        );
        if (w, h) == (512, 384) {
            at_512 = Some(targets);
        }
    }

    // Share of an L-BFGS iteration spent outside ONNX Runtime's run (optimizer, copies, bookkeeping).
    if let Some(targets) = at_512 {
        let kind = OptimizerKind::Lbfgs(LbfgsConfig::default());
        for choice in [EngineChoice::Host, EngineChoice::Device] {
            let mut image = random_image(&mut rng, 384, 512);
            let mut solver = Solver::new(&kind, choice, &model)?;
            let before = model.run_seconds();
            let start = Instant::now();
            let outcome = optimize(
                &mut model,
                &targets,
                &weights,
                &mut image,
                &mut solver,
                Budget {
                    iterations: 8,
                    tolerance: None,
                    precondition: false,
                },
                |_| std::ops::ControlFlow::Continue(()),
            )?;
            let wall = start.elapsed().as_secs_f64();
            let algebra: f64 = outcome.iterations.iter().map(|i| i.algebra_seconds).sum();
            let inside = model.run_seconds() - before + algebra;
            let evaluations: usize = outcome.iterations.iter().map(|i| i.evaluations).sum();
            let outside = wall - inside;
            println!(
                "| outside ONNX Runtime, L-BFGS, {} engine | 512×384 | {:.1} ms per iteration | {:.2}% of the wall time of {} iterations ({evaluations} evaluations, {:.1} s; the optimizer's graphs {:.1} ms per iteration) |",
                solver.name(),
                outside * 1e3 / outcome.iterations.len() as f64,
                100.0 * outside / wall,
                outcome.iterations.len(),
                wall,
                algebra * 1e3 / outcome.iterations.len() as f64,
            );
        }
    }
    Ok(())
}
