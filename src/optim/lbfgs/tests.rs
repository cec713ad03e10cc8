//! Tests of L-BFGS: convergence on the test functions, the line search, the history and its failures.

use super::super::tests::{
    chained_rosenbrock, injected, quadratic, rosenbrock, rosenbrock_start, Counted,
};
use super::step_length::cubic_min;
use super::*;
use ndarray::Array1;

/// Runs up to `max_steps` steps, checking after each that f never increases, that the
/// reported loss is f at the returned x, and that evaluations are counted. Returns the
/// number of steps taken and the final loss.
fn minimize<F: FnMut(&[f32], &mut [f32]) -> f32>(
    opt: &mut Lbfgs,
    x: &mut Array1<f32>,
    objective: &mut Counted<F>,
    max_steps: usize,
) -> (usize, f32) {
    let mut scratch = vec![0.0; x.len()];
    let mut loss = f32::INFINITY;
    let mut counted = objective.evaluations;
    for i in 1..=max_steps {
        let step = opt.step(x, objective).expect("objective never fails");
        counted += step.evaluations;
        assert_eq!(counted, objective.evaluations, "evaluation count");
        assert!(
            step.loss <= loss,
            "step {i}: loss rose from {loss} to {}",
            step.loss
        );
        assert!(x.iter().all(|v| v.is_finite()), "step {i}: non-finite x");
        let at_x = (objective.f)(x.as_slice().expect("contiguous"), &mut scratch);
        assert_eq!(step.loss, at_x, "step {i}: reported loss is not f(x)");
        loss = step.loss;
        if step.converged {
            return (i, loss);
        }
    }
    (max_steps, loss)
}

fn lbfgs() -> Lbfgs {
    Lbfgs::new(LbfgsConfig::default()).expect("valid config")
}

fn max_error(x: &Array1<f32>, target: &Array1<f32>) -> f32 {
    (x - target).iter().fold(0.0, |m, e| m.max(e.abs()))
}

#[test]
fn rosenbrock_2d() {
    let mut x = rosenbrock_start(2);
    let mut objective = Counted::new(rosenbrock);
    let (steps, loss) = minimize(&mut lbfgs(), &mut x, &mut objective, 200);
    eprintln!(
        "2-D Rosenbrock: {steps} steps, {} evaluations, f = {loss:e}, x = {x}",
        objective.evaluations
    );
    assert!(loss < 1e-10, "f = {loss}");
    assert!(max_error(&x, &Array1::ones(2)) < 1e-4, "x = {x}");
    assert!(
        objective.evaluations < 100,
        "{} evaluations",
        objective.evaluations
    );
}

#[test]
fn rosenbrock_100d() {
    let mut x = rosenbrock_start(100);
    let mut objective = Counted::new(rosenbrock);
    let (steps, loss) = minimize(&mut lbfgs(), &mut x, &mut objective, 500);
    eprintln!(
        "100-D Rosenbrock: {steps} steps, {} evaluations, f = {loss:e}",
        objective.evaluations
    );
    assert!(loss < 1e-8, "f = {loss}");
    assert!(max_error(&x, &Array1::ones(100)) < 1e-4, "x = {x}");
    assert!(
        objective.evaluations < 200,
        "{} evaluations",
        objective.evaluations
    );
}

#[test]
fn chained_rosenbrock_100d() {
    let mut x = rosenbrock_start(100);
    let mut objective = Counted::new(chained_rosenbrock);
    let (steps, loss) = minimize(&mut lbfgs(), &mut x, &mut objective, 2000);
    eprintln!(
        "100-D chained Rosenbrock: {steps} steps, {} evaluations, f = {loss:e}",
        objective.evaluations
    );
    assert!(loss < 1e-8, "f = {loss}");
    assert!(max_error(&x, &Array1::ones(100)) < 1e-4, "x = {x}");
    assert!(
        objective.evaluations < 1000,
        "{} evaluations",
        objective.evaluations
    );
}

#[test]
fn ill_conditioned_quadratic() {
    let n = 1000;
    let (f, c) = quadratic(n, 1e4);
    let mut objective = Counted::new(f);
    let mut x = Array1::zeros(n);
    let (steps, loss) = minimize(&mut lbfgs(), &mut x, &mut objective, 2000);
    eprintln!(
        "quadratic κ=1e4: {steps} steps, {} evaluations, f = {loss:e}",
        objective.evaluations
    );
    assert!(
        max_error(&x, &c) < 1e-4,
        "max |x − c| = {}",
        max_error(&x, &c)
    );
    assert!(loss < 1e-8, "f = {loss}");
}

#[test]
fn survives_nan_outside_region() {
    // ½Σ(xᵢ − 0.3)² inside the unit box, NaN loss or gradient outside; the first trial
    // step (|Δx| = 5) leaves the box.
    let f = |x: &[f32], g: &mut [f32]| {
        let mut f = 0.0;
        for (i, (&x, g)) in x.iter().zip(g.iter_mut()).enumerate() {
            if !(0.0..=1.0).contains(&x) {
                *g = f32::NAN;
                if i % 2 == 0 {
                    f = f32::NAN;
                }
            } else {
                *g = x - 0.3;
            }
            f += 0.5 * (x - 0.3) * (x - 0.3);
        }
        f
    };
    let config = LbfgsConfig {
        initial_step: 5.0,
        ..Default::default()
    };
    let mut opt = Lbfgs::new(config).expect("valid config");
    let mut objective = Counted::new(f);
    let mut x = Array1::from_shape_fn(50, |i| 0.9 - 0.01 * i as f32);
    let (steps, loss) = minimize(&mut opt, &mut x, &mut objective, 100);
    eprintln!(
        "NaN region: {steps} steps, {} evaluations, f = {loss:e}",
        objective.evaluations
    );
    assert!(max_error(&x, &Array1::from_elem(50, 0.3)) < 1e-5, "x = {x}");
}

#[test]
fn non_finite_start_is_converged_and_untouched() {
    let mut objective = Counted::new(|_: &[f32], g: &mut [f32]| {
        g.fill(1.0);
        f32::NAN
    });
    let mut x = Array1::from_elem(4, 0.5);
    let step = lbfgs().step(&mut x, &mut objective).expect("no error");
    assert!(step.converged);
    assert_eq!(step.evaluations, 1);
    assert_eq!(x, Array1::from_elem(4, 0.5));
}

#[test]
fn zero_gradient_is_converged() {
    let (f, c) = quadratic(8, 10.0);
    let mut objective = Counted::new(f);
    let mut x = c.clone();
    let step = lbfgs().step(&mut x, &mut objective).expect("no error");
    assert_eq!(
        step,
        Step {
            loss: 0.0,
            evaluations: 1,
            converged: true
        }
    );
    assert_eq!(x, c);
}

#[test]
fn caches_and_detects_changes() {
    let (f, _) = quadratic(20, 100.0);
    let mut objective = Counted::new(f);
    let mut opt = lbfgs();
    let mut x = Array1::zeros(20);
    let first = opt.step(&mut x, &mut objective).expect("no error");
    let second = opt.step(&mut x, &mut objective).expect("no error");
    // The start point of the second step is not evaluated again; a quasi-Newton step
    // with the unit step usually takes a single evaluation.
    assert!(first.evaluations >= 2);
    assert!(
        second.evaluations >= 1 && objective.evaluations == first.evaluations + second.evaluations
    );
    assert_eq!(opt.history_len(), 2);

    // The caller moves x: re-evaluated, history dropped.
    x[0] += 0.5;
    let before = objective.evaluations;
    let third = opt.step(&mut x, &mut objective).expect("no error");
    assert!(third.evaluations >= 2 && objective.evaluations == before + third.evaluations);
    assert_eq!(opt.history_len(), 1);

    // reset() forces a fresh evaluation at an unchanged x.
    opt.reset();
    assert_eq!(opt.history_len(), 0);
    let fourth = opt.step(&mut x, &mut objective).expect("no error");
    assert!(fourth.evaluations >= 2);
}

#[test]
fn retarget_keeps_the_curvature_for_a_moved_objective() {
    // A video's frames in miniature: the same ill-conditioned quadratic ½Σλᵢ(xᵢ − c)², its
    // minimum moved a little from one frame to the next.
    let n = 100;
    let lambda: Vec<f32> = (0..n)
        .map(|i| 100f32.powf(i as f32 / (n - 1) as f32))
        .collect();
    let frame = |c: f32| {
        let lambda = lambda.clone();
        Counted::new(move |x: &[f32], g: &mut [f32]| {
            let mut f = 0.0;
            for ((g, &x), &l) in g.iter_mut().zip(x).zip(&lambda) {
                *g = l * (x - c);
                f += 0.5 * l * (x - c) * (x - c);
            }
            f
        })
    };
    // One step on the next frame after 10 on the first, forgetting the curvature or keeping it.
    let next_frame = |keep: bool| {
        let mut opt = lbfgs();
        let mut x = Array1::zeros(n);
        minimize(&mut opt, &mut x, &mut frame(0.5), 10);
        match keep {
            true => opt.retarget(),
            false => opt.reset(),
        }
        let mut second = frame(0.55);
        let step = opt.step(&mut x, &mut second).expect("no error");
        (step, opt.history_len())
    };
    let (fresh, fresh_pairs) = next_frame(false);
    let (kept, kept_pairs) = next_frame(true);
    eprintln!("after reset: {fresh:?}; after retarget: {kept:?}");
    assert_eq!(fresh_pairs, 1, "reset starts the history afresh");
    assert_eq!(
        kept_pairs, 11,
        "retarget keeps the pairs and adds the step's"
    );
    // The kept curvature makes the first step a quasi-Newton one: accepted at once, and much
    // closer to the moved minimum than a step down the gradient (0.74 against 1.89).
    assert_eq!(kept.evaluations, 2, "the start and the accepted unit step");
    assert!(
        kept.loss < 0.5 * fresh.loss,
        "loss {} after retarget, {} after reset",
        kept.loss,
        fresh.loss
    );
}

#[test]
fn error_leaves_x_unchanged() {
    let mut objective = Counted::new(rosenbrock);
    let mut opt = lbfgs();
    let mut x = rosenbrock_start(4);
    opt.step(&mut x, &mut objective).expect("no error");
    let kept = x.clone();
    objective.fail_at = Some(objective.evaluations);
    assert_eq!(opt.step(&mut x, &mut objective), Err(injected()));
    assert_eq!(x, kept);
    objective.fail_at = None;
    let step = opt.step(&mut x, &mut objective).expect("no error");
    assert!(!step.converged);
}

#[test]
fn resizes_between_problems() {
    let mut opt = lbfgs();
    for n in [6, 10] {
        let mut x = rosenbrock_start(n);
        let mut objective = Counted::new(rosenbrock);
        let (_, loss) = minimize(&mut opt, &mut x, &mut objective, 300);
        assert!(loss < 1e-8, "n = {n}: f = {loss}");
    }
}

#[test]
fn cubic_minimizer() {
    // φ(t) = (t − 2)², exact for a cubic fit: minimum at 2.
    let p = |t: f64| Point {
        t,
        f: (t - 2.0) * (t - 2.0),
        dphi: 2.0 * (t - 2.0),
    };
    let t = cubic_min(p(0.0), p(5.0)).expect("has a minimum");
    assert!((t - 2.0).abs() < 1e-12, "{t}");
    assert!(
        (interpolate(
            p(0.0),
            Bound {
                t: 5.0,
                point: Some(p(5.0))
            }
        ) - 2.0)
            .abs()
            < 1e-12
    );
    assert_eq!(
        interpolate(
            p(0.0),
            Bound {
                t: 5.0,
                point: None
            }
        ),
        1.0
    );
    assert_eq!(
        extrapolate(p(0.0), p(0.1)),
        1.0,
        "clamped to 10× the last step"
    );
}
