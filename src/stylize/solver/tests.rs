//! Tests of the solver on the tiny model.

use std::path::Path;

use super::*;
use crate::model::{Device, SessionConfig};
use crate::optim::{LbfgsConfig, OptimizerKind};

/// The tiny model's 20-iteration stylization of a small gradient image on one engine, through
/// the band preconditioner or not.
fn stylize_on(choice: EngineChoice, precondition: bool) -> (Array4<f32>, Outcome) {
    let dir = crate::project::find(Path::new("models/tiny")).expect("run scripts/setup.sh");
    let config = SessionConfig {
        device: Device::Cpu,
        threads: 1,
        tf32: false,
    };
    let mut model = Model::load(&dir, &config).expect("model");
    let content = Array4::from_shape_fn((1, 3, 40, 56), |(_, c, y, x)| {
        ((x as f32 * 0.11 + c as f32).sin() * 0.4 + 0.5) * (y as f32 / 40.0)
    });
    let style = Array4::from_shape_fn((1, 3, 48, 48), |(_, c, y, x)| {
        (((x + 2 * y) % 7) as f32 / 7.0 + 0.1 * c as f32).min(1.0)
    });
    let targets = Targets {
        grams: model.features(style.view()).expect("style").grams,
        contents: model.features(content.view()).expect("content").contents,
        temporal: None,
    };
    let weights = LossWeights {
        content: 5.0,
        style: 100.0,
        tv: 0.001,
        temporal: 0.0,
    };
    let kind = OptimizerKind::Lbfgs(LbfgsConfig::default());
    let mut solver = Solver::new(&kind, choice, &model).expect("solver");
    let mut image = content.clone();
    let outcome = optimize(
        &mut model,
        &targets,
        &weights,
        &mut image,
        &mut solver,
        Budget {
            iterations: 20,
            tolerance: None,
            precondition,
        },
        |_| ControlFlow::Continue(()),
    )
    .expect("optimize");
    (image, outcome)
}

#[test]
fn device_engine_follows_the_host_engine_on_a_real_stylization() {
    for precondition in [false, true] {
        same_on_both_engines(precondition);
    }
}

fn same_on_both_engines(precondition: bool) {
    let (host, on_host) = stylize_on(EngineChoice::Host, precondition);
    let (device, on_device) = stylize_on(EngineChoice::Device, precondition);
    assert_eq!(on_host.iterations.len(), 20);
    let first = on_host.initial.total;
    let last = on_host.iterations[19].loss.total;
    assert!(
        last < 0.9 * first,
        "the loss fell from {first} to {last} only"
    );
    let scale = host.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let error = (&device - &host).iter().fold(0.0f32, |m, e| m.max(e.abs())) / scale;
    eprintln!("tiny model, 20 L-BFGS iterations, preconditioned {precondition}: relative difference {error:e}");
    assert!(error <= 1e-5, "images differ by {error:e} (relative)");
    for (a, b) in on_host.iterations.iter().zip(&on_device.iterations) {
        assert_eq!(a.evaluations, b.evaluations, "iteration {}", a.iteration);
        let rel = (a.loss.total - b.loss.total).abs() / a.loss.total.abs();
        assert!(
            rel <= 1e-5,
            "iteration {}: {} vs {}",
            a.iteration,
            a.loss.total,
            b.loss.total
        );
    }
    // The device engine moves only scalars per iteration: the image is 6,720 floats.
    let per_iteration = on_device.iterations.iter().map(|i| i.transfer_bytes).max();
    assert!(
        per_iteration.is_some_and(|b| b < 4 * 6720),
        "{per_iteration:?}"
    );
    assert!(on_device.iterations.iter().all(|i| i.algebra_seconds > 0.0));
}
