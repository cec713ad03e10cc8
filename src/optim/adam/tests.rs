//! Tests of Adam.

use super::super::tests::{injected, quadratic, Counted};
use super::*;
use ndarray::Array1;

fn adam(learning_rate: f32) -> Adam {
    Adam::new(AdamConfig {
        learning_rate,
        ..Default::default()
    })
    .expect("valid config")
}

#[test]
fn first_step_is_learning_rate_times_sign() {
    let (f, c) = quadratic(6, 100.0);
    let mut objective = Counted::new(f);
    let mut x = Array1::zeros(6);
    let step = adam(0.05).step(&mut x, &mut objective).expect("no error");
    assert_eq!(step.evaluations, 2);
    assert!(!step.converged);
    // Bias correction makes m̂ = g and v̂ = g², so Δx = −lr·sign(g) = +lr here (c > 0).
    assert!(c.iter().all(|&c| c > 0.0));
    assert!(x.iter().all(|&x| (x - 0.05).abs() < 1e-6), "x = {x}");
}

#[test]
fn reduces_quadratic_to_its_minimum() {
    let n = 100;
    let (f, c) = quadratic(n, 10.0);
    let mut objective = Counted::new(f);
    let mut opt = adam(0.01);
    let mut x = Array1::zeros(n);
    let mut scratch = vec![0.0; n];
    let start = (objective.f)(x.as_slice().expect("contiguous"), &mut scratch);
    let mut loss = start;
    for i in 0..2000 {
        let step = opt.step(&mut x, &mut objective).expect("no error");
        assert_eq!(step.evaluations, if i == 0 { 2 } else { 1 });
        assert!(!step.converged);
        assert_eq!(
            step.loss,
            (objective.f)(x.as_slice().expect("contiguous"), &mut scratch)
        );
        loss = step.loss;
    }
    let error = (&x - &c).iter().fold(0.0f32, |m, e| m.max(e.abs()));
    eprintln!("Adam quadratic: f {start:e} → {loss:e}, max |x − c| = {error:e}");
    assert!(loss < 1e-6 * start, "f = {loss}");
    assert!(error < 1e-3, "max |x − c| = {error}");
}

#[test]
fn rejects_non_finite_trial() {
    // Finite only for x < 1; the first step (lr = 2) overshoots.
    let mut objective = Counted::new(|x: &[f32], g: &mut [f32]| {
        g.iter_mut().zip(x).for_each(|(g, &x)| *g = x - 0.5);
        if x.iter().all(|&x| x < 1.0) {
            x.iter().map(|&x| 0.5 * (x - 0.5) * (x - 0.5)).sum()
        } else {
            f32::NAN
        }
    });
    let mut x = Array1::zeros(3);
    let mut opt = adam(2.0);
    let step = opt.step(&mut x, &mut objective).expect("no error");
    assert!(step.converged);
    assert_eq!(step.loss, 0.375);
    assert_eq!(x, Array1::<f32>::zeros(3));
}

#[test]
fn reset_and_caller_changes_reevaluate() {
    let (f, _) = quadratic(4, 10.0);
    let mut objective = Counted::new(f);
    let mut opt = adam(0.01);
    let mut x = Array1::zeros(4);
    opt.step(&mut x, &mut objective).expect("no error");
    assert_eq!(
        opt.step(&mut x, &mut objective)
            .expect("no error")
            .evaluations,
        1
    );
    x[0] = 0.25;
    assert_eq!(
        opt.step(&mut x, &mut objective)
            .expect("no error")
            .evaluations,
        2
    );
    opt.reset();
    assert_eq!(
        opt.step(&mut x, &mut objective)
            .expect("no error")
            .evaluations,
        2
    );
    objective.fail_at = Some(objective.evaluations);
    let kept = x.clone();
    assert_eq!(opt.step(&mut x, &mut objective), Err(injected()));
    assert_eq!(x, kept);
}
