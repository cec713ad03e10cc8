//! Tests of the optimizer graphs: each against its host counterpart, on the tiny model's graphs.

use ndarray::{Array1, Array4};

use super::super::tests::{injected, quadratic, rosenbrock, rosenbrock_start, Counted};
use super::super::{AdamConfig, LbfgsConfig, Optimizer, OptimizerKind};
use super::*;
use crate::model::runtime::Device;

/// The optimizer graphs of the tiny test model, on the CPU provider.
pub(crate) fn cpu_graphs() -> Graphs {
    let dir =
        crate::project::find(Path::new("models/tiny")).expect("models/tiny: run scripts/setup.sh");
    let manifest = Manifest::load(&dir).expect("manifest");
    let config = SessionConfig {
        device: Device::Cpu,
        threads: 1,
        tf32: false,
    };
    Graphs::open(&dir, &manifest.optimizer, &config, Backend::Cpu).expect("graphs open")
}

fn upload(graphs: &mut Graphs, x: &Array1<f32>) -> DeviceVector {
    let image = x
        .view()
        .into_shape_with_order((1, 1, 1, x.len()))
        .expect("4-D");
    graphs.upload(image).expect("upload")
}

fn download(graphs: &mut Graphs, v: &DeviceVector) -> Array1<f32> {
    let n = v.host_slice().expect("host memory").len();
    let mut image = Array4::zeros((1, 1, 1, n));
    graphs.download(v, image.view_mut()).expect("download");
    Array1::from_iter(image)
}

/// max |a − b| / max |b|.
fn relative(a: &Array1<f32>, b: &Array1<f32>) -> f32 {
    let scale = b
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    (a - b).iter().fold(0.0f32, |m, e| m.max(e.abs())) / scale
}

/// Runs `steps` steps of `kind` on the host and on the graphs from `start`, checking after each
/// that both report the same loss and evaluations and hold the same iterate to `tolerance`.
fn same_iterates<F: FnMut(&[f32], &mut [f32]) -> f32>(
    kind: &OptimizerKind,
    make: impl Fn() -> F,
    start: &Array1<f32>,
    steps: usize,
    tolerance: f32,
) -> f32 {
    let mut host = kind.build().expect("valid");
    let mut graphs = kind.build_with(cpu_graphs()).expect("valid");
    let mut x_host = start.clone();
    let mut x_dev = upload(graphs.algebra(), start);
    let (mut on_host, mut on_graphs) = (Counted::new(make()), Counted::new(make()));
    let mut worst = 0.0f32;
    for i in 1..=steps {
        let a = host.step(&mut x_host, &mut on_host).expect("host step");
        let b = graphs.step(&mut x_dev, &mut on_graphs).expect("graph step");
        let x = download(graphs.algebra(), &x_dev);
        let error = relative(&x, &x_host);
        worst = worst.max(error);
        assert!(
            error <= tolerance,
            "step {i}: iterates differ by {error:e} (relative)"
        );
        assert_eq!(a.evaluations, b.evaluations, "step {i}: evaluations");
        assert_eq!(a.converged, b.converged, "step {i}");
        let loss_error = (a.loss - b.loss).abs() / a.loss.abs().max(f32::MIN_POSITIVE);
        assert!(
            loss_error <= tolerance,
            "step {i}: losses {} and {}",
            a.loss,
            b.loss
        );
        if a.converged {
            break;
        }
    }
    worst
}

#[test]
fn lbfgs_graphs_follow_the_reference_on_rosenbrock() {
    let kind = OptimizerKind::Lbfgs(LbfgsConfig::default());
    let worst = same_iterates(&kind, || rosenbrock, &rosenbrock_start(100), 40, 1e-5);
    eprintln!("100-D Rosenbrock, 40 L-BFGS steps: worst relative difference {worst:e}");
}

#[test]
fn lbfgs_graphs_follow_the_reference_on_an_ill_conditioned_quadratic() {
    let kind = OptimizerKind::Lbfgs(LbfgsConfig {
        history: 5,
        ..Default::default()
    });
    let worst = same_iterates(
        &kind,
        || quadratic(1000, 1e4).0,
        &Array1::zeros(1000),
        60,
        1e-5,
    );
    eprintln!("quadratic κ=1e4, 60 L-BFGS steps: worst relative difference {worst:e}");
}

#[test]
fn adam_graphs_follow_the_reference() {
    let kind = OptimizerKind::Adam(AdamConfig {
        learning_rate: 0.05,
        ..Default::default()
    });
    same_iterates(&kind, || rosenbrock, &rosenbrock_start(50), 100, 1e-5);
}

#[test]
fn caller_changes_and_errors_on_the_graphs() {
    let mut opt = OptimizerKind::default()
        .build_with(cpu_graphs())
        .expect("valid");
    let mut objective = Counted::new(rosenbrock);
    let mut x = upload(opt.algebra(), &rosenbrock_start(4));
    let first = opt.step(&mut x, &mut objective).expect("step");
    let second = opt.step(&mut x, &mut objective).expect("step");
    assert!(first.evaluations >= 2 && second.evaluations >= 1);
    assert_eq!(
        objective.evaluations,
        first.evaluations + second.evaluations
    );
    // The caller writes x: it is evaluated again.
    x.host_slice_mut().expect("host memory")[0] += 0.25;
    let before = objective.evaluations;
    let third = opt.step(&mut x, &mut objective).expect("step");
    assert_eq!(objective.evaluations, before + third.evaluations);
    assert!(third.evaluations >= 2);
    // An objective error leaves x as it was.
    let kept = download(opt.algebra(), &x);
    objective.fail_at = Some(objective.evaluations);
    assert_eq!(opt.step(&mut x, &mut objective), Err(injected()));
    assert_eq!(download(opt.algebra(), &x), kept);
}

#[test]
fn traffic_is_scalars_only() {
    let mut opt = OptimizerKind::default()
        .build_with(cpu_graphs())
        .expect("valid");
    let mut objective = Counted::new(rosenbrock);
    let mut x = upload(opt.algebra(), &rosenbrock_start(1000));
    for _ in 0..5 {
        opt.step(&mut x, &mut objective).expect("step");
    }
    let traffic = opt.algebra().traffic();
    // On the CPU nothing is copied for vectors; what crosses is step sizes and results:
    // a few hundred bytes per step, independent of the 1000 unknowns.
    assert!(
        traffic.bytes() > 0 && traffic.bytes() < 5 * 1000,
        "{traffic:?}"
    );
    assert!(traffic.run_seconds > 0.0);
}
