//! Limited-memory BFGS with a strong-Wolfe line search.

use std::collections::VecDeque;
use std::mem::swap;

use super::{alloc_many, evaluate, Algebra, Cache, ConfigError, Host, Objective, Optimizer, Step};

/// Sufficient-decrease (Armijo) constant.
const C1: f64 = 1e-4;
/// Curvature constant of the strong Wolfe condition (the usual value for quasi-Newton).
const C2: f64 = 0.9;
/// A curvature pair is kept only if sᵀy > this · ‖s‖‖y‖ (keeps H positive definite).
const MIN_COSINE: f64 = f32::EPSILON as f64;

/// Settings of [`Lbfgs`].
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsConfig {
    /// Number of curvature pairs kept.
    ///
    /// Default 20: memory is 2·history·n·4 bytes (20 → 380 MB for a 1024×768 RGB image,
    /// where neural-style's 100 would need 1.9 GB) and the two-loop recursion costs about
    /// 4·history passes over x per step. Gains beyond 10–20 pairs are small (Nocedal &
    /// Wright suggest 3–20).
    pub history: usize,
    /// Largest per-element change |Δxᵢ| of the first trial step taken without history
    /// (first step, or after a history reset). Default 0.1, for images in [0, 1]; the
    /// line search grows or shrinks it as needed.
    pub initial_step: f32,
    /// Most objective evaluations per line search. Default 20.
    pub max_line_search_evaluations: usize,
    /// Converged when ‖∇f‖∞ ≤ this. Default 0: the loss scale is unknown (a loss averaged
    /// over pixels has tiny per-pixel gradients), so by default only a vanishing gradient
    /// or a line search that cannot decrease f stops.
    pub grad_tolerance: f32,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            history: 20,
            initial_step: 0.1,
            max_line_search_evaluations: 20,
            grad_tolerance: 0.0,
        }
    }
}

impl LbfgsConfig {
    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check(
            self.history >= 1,
            "history",
            self.history as f64,
            "at least 1",
        )?;
        ConfigError::check(
            self.initial_step.is_finite() && self.initial_step > 0.0,
            "initial_step",
            f64::from(self.initial_step),
            "finite and positive",
        )?;
        ConfigError::check(
            self.max_line_search_evaluations >= 1,
            "max_line_search_evaluations",
            self.max_line_search_evaluations as f64,
            "at least 1",
        )?;
        ConfigError::check(
            self.grad_tolerance.is_finite() && self.grad_tolerance >= 0.0,
            "grad_tolerance",
            f64::from(self.grad_tolerance),
            "finite and non-negative",
        )
    }
}

/// One curvature pair: s = Δx, y = Δ∇f.
#[derive(Debug)]
struct Pair<V> {
    s: V,
    y: V,
    /// 1 / sᵀy.
    rho: f64,
    /// sᵀy / yᵀy: initial inverse-Hessian scale when this is the newest pair.
    gamma: f64,
}

/// A line-search point: step length, φ(t) = f(x₀ + t·d) and φ'(t) = ∇f(x₀ + t·d)ᵀd.
#[derive(Debug, Clone, Copy)]
struct Point {
    t: f64,
    f: f64,
    dphi: f64,
}

/// Upper end of the bracketing interval; `point` is `None` where f or ∇f was not finite.
#[derive(Debug, Clone, Copy)]
struct Bound {
    t: f64,
    point: Option<Point>,
}

/// The work vectors of one problem size: the search direction (and its spare for updates that
/// cannot be done in place), the trial point and gradient, the best trial point and gradient.
#[derive(Debug)]
struct Work<V> {
    d: V,
    spare: V,
    xt: V,
    gt: V,
    xl: V,
    gl: V,
}

/// L-BFGS minimizer (two-loop recursion, strong-Wolfe line search, monotone in f).
///
/// Working memory is (2·history + 8)·n floats; buffers are kept across [`Optimizer::reset`]
/// so that successive frames of the same size allocate nothing.
#[derive(Debug)]
pub struct Lbfgs<A: Algebra = Host> {
    config: LbfgsConfig,
    algebra: A,
    /// Current point x₀ with f and ∇f there.
    cache: Cache<A::Vector>,
    /// Curvature pairs, oldest first.
    pairs: VecDeque<Pair<A::Vector>>,
    /// Pair buffers not in use, kept to avoid reallocation.
    unused: Vec<Pair<A::Vector>>,
    /// Two-loop coefficients αᵢ.
    alpha: Vec<f64>,
    work: Option<Work<A::Vector>>,
}

impl Lbfgs<Host> {
    /// Creates the optimizer on the host after validating `config`.
    pub fn new(config: LbfgsConfig) -> Result<Self, ConfigError> {
        Self::with_algebra(config, Host)
    }
}

impl<A: Algebra> Lbfgs<A> {
    /// Creates the optimizer over `algebra` after validating `config`.
    pub fn with_algebra(config: LbfgsConfig, algebra: A) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            alpha: Vec::with_capacity(config.history),
            config,
            algebra,
            cache: Cache::default(),
            pairs: VecDeque::new(),
            unused: Vec::new(),
            work: None,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &LbfgsConfig {
        &self.config
    }

    /// The algebra the optimizer runs on.
    pub fn algebra(&mut self) -> &mut A {
        &mut self.algebra
    }

    /// Number of curvature pairs currently held.
    pub fn history_len(&self) -> usize {
        self.pairs.len()
    }

    /// Sizes the work vectors like `x`, dropping pair buffers of another size.
    fn ensure_buffers(&mut self, x: &A::Vector) -> Result<(), A::Error> {
        let n = self.algebra.len(x);
        if matches!(&self.work, Some(w) if self.algebra.len(&w.d) == n) {
            return Ok(());
        }
        self.pairs.clear();
        self.unused.clear();
        self.work = None;
        let [d, spare, xt, gt, xl, gl] = alloc_many(&mut self.algebra, x)?;
        self.work = Some(Work {
            d,
            spare,
            xt,
            gt,
            xl,
            gl,
        });
        Ok(())
    }

    /// Forgets the curvature pairs, keeping their buffers for reuse.
    fn clear_history(&mut self) {
        self.unused.extend(self.pairs.drain(..));
    }

    /// Sets d = −H∇f by the two-loop recursion and returns ∇fᵀd (< 0). Falls back to
    /// steepest descent (clearing the history) when that is not a descent direction.
    ///
    /// Each update of d goes to the spare vector and the two are swapped, and is fused with the
    /// dot product the next update needs.
    fn direction(&mut self) -> Result<f64, A::Error> {
        let (a, work, pairs) = (&mut self.algebra, work(&mut self.work), &self.pairs);
        let (_, g) = self.cache.vectors();
        let Some(newest) = pairs.back() else {
            a.combine(-1.0, g, 0.0, g, &mut work.d)?;
            return Ok(-a.dot(g, g)?);
        };
        let m = pairs.len();
        self.alpha.clear();
        self.alpha.resize(m, 0.0);
        // First loop, newest to oldest: αᵢ = ρᵢ sᵢᵀd, d −= αᵢ yᵢ.
        let mut sd = a.combine_dot(-1.0, g, 0.0, g, &newest.s, &mut work.d)?;
        for i in (0..m).rev() {
            let pair = &pairs[i];
            self.alpha[i] = pair.rho * sd;
            let next = if i > 0 { &pairs[i - 1].s } else { &newest.y };
            sd = a.combine_dot(
                1.0,
                &work.d,
                -self.alpha[i] as f32,
                &pair.y,
                next,
                &mut work.spare,
            )?;
            swap(&mut work.d, &mut work.spare);
        }
        // d *= γ, and yᵀd for the oldest pair.
        let gamma = newest.gamma as f32;
        let mut yd = a.combine_dot(gamma, &work.d, 0.0, &work.d, &pairs[0].y, &mut work.spare)?;
        swap(&mut work.d, &mut work.spare);
        // Second loop, oldest to newest: βᵢ = ρᵢ yᵢᵀd, d += (αᵢ − βᵢ) sᵢ.
        for i in 0..m {
            let pair = &pairs[i];
            let beta = pair.rho * yd;
            let next = if i + 1 < m { &pairs[i + 1].y } else { g };
            yd = a.combine_dot(
                1.0,
                &work.d,
                (self.alpha[i] - beta) as f32,
                &pair.s,
                next,
                &mut work.spare,
            )?;
            swap(&mut work.d, &mut work.spare);
        }
        let gtd = yd;
        if gtd < 0.0 && gtd.is_finite() {
            return Ok(gtd);
        }
        tracing::debug!(
            gtd,
            "L-BFGS direction is not a descent direction; clearing history"
        );
        a.combine(-1.0, g, 0.0, g, &mut work.d)?;
        self.unused.extend(self.pairs.drain(..));
        Ok(-a.dot(g, g)?)
    }

    /// Searches along d for a step satisfying the strong Wolfe conditions.
    ///
    /// On success returns f at the new point, which is left in `xl`/`gl`; the point always
    /// satisfies the Armijo condition (if the evaluation budget runs out, the best such
    /// point found is returned). Returns `None` if no trial point decreased f.
    fn line_search<O: Objective<A::Vector>>(
        &mut self,
        objective: &mut O,
        t_init: f64,
        gtd: f64,
        evaluations: &mut usize,
    ) -> Result<Option<f32>, O::Error>
    where
        O::Error: From<A::Error>,
    {
        let (a, work) = (&mut self.algebra, work(&mut self.work));
        let (x0, _) = self.cache.vectors();
        let f0 = f64::from(self.cache.loss);
        let start = Point {
            t: 0.0,
            f: f0,
            dphi: gtd,
        };
        let (mut prev, mut lo, mut lo_loss) = (start, start, self.cache.loss);
        let mut hi: Option<Bound> = None;
        // Step-length differences below this no longer change x in f32.
        let d_max = f64::from(a.norm_inf(&work.d)?);
        let x_scale = f64::from(a.norm_inf(x0)?).max(f64::from(f32::MIN_POSITIVE));
        let resolution = f64::from(f32::EPSILON) * x_scale / d_max;
        let mut t = t_init;
        for _ in 0..self.config.max_line_search_evaluations {
            a.combine(1.0, x0, t as f32, &work.d, &mut work.xt)?;
            let loss = evaluate(a, objective, &work.xt, &mut work.gt)?;
            *evaluations += 1;
            let (f, dphi) = (f64::from(loss), a.dot(&work.gt, &work.d)?);
            let trial = Point { t, f, dphi };
            if !(f.is_finite() && dphi.is_finite()) {
                hi = Some(Bound { t, point: None });
            } else if f > f0 + C1 * t * gtd || f >= lo.f {
                hi = Some(Bound {
                    t,
                    point: Some(trial),
                });
            } else {
                swap(&mut work.xt, &mut work.xl);
                swap(&mut work.gt, &mut work.gl);
                (prev, lo, lo_loss) = (lo, trial, loss);
                if dphi.abs() <= -C2 * gtd {
                    return Ok(Some(loss));
                }
                let slope_turned = match hi {
                    Some(bound) => dphi * (bound.t - t) >= 0.0,
                    None => dphi >= 0.0,
                };
                if slope_turned {
                    hi = Some(Bound {
                        t: prev.t,
                        point: Some(prev),
                    });
                }
            }
            t = match hi {
                None => extrapolate(prev, lo),
                Some(bound) => {
                    if (bound.t - lo.t).abs() <= resolution {
                        break;
                    }
                    interpolate(lo, bound)
                }
            };
        }
        Ok((lo.t > 0.0).then_some(lo_loss))
    }

    /// Adds the pair from the accepted point (`xl`, `gl`) if its curvature is positive.
    fn update_history(&mut self) -> Result<(), A::Error> {
        let (a, work) = (&mut self.algebra, work(&mut self.work));
        let mut pair = match (self.pairs.len() >= self.config.history)
            .then(|| self.pairs.pop_front())
            .flatten()
            .or_else(|| self.unused.pop())
        {
            Some(pair) => pair,
            None => Pair {
                s: a.alloc_like(&work.d)?,
                y: a.alloc_like(&work.d)?,
                rho: 0.0,
                gamma: 0.0,
            },
        };
        let (x0, g0) = self.cache.vectors();
        let (ss, sy, yy) = a.pair(&work.xl, x0, &work.gl, g0, &mut pair.s, &mut pair.y)?;
        if sy.is_finite() && yy.is_finite() && sy > MIN_COSINE * (ss * yy).sqrt() {
            (pair.rho, pair.gamma) = (1.0 / sy, sy / yy);
            self.pairs.push_back(pair);
        } else {
            tracing::debug!(sy, yy, "L-BFGS skipped a curvature pair");
            self.unused.push(pair);
        }
        Ok(())
    }
}

/// The work vectors, once [`Lbfgs::ensure_buffers`] has made them.
fn work<V>(work: &mut Option<Work<V>>) -> &mut Work<V> {
    work.as_mut().expect("ensure_buffers ran first")
}

impl<A: Algebra> Optimizer<A> for Lbfgs<A> {
    fn step<O: Objective<A::Vector>>(
        &mut self,
        x: &mut A::Vector,
        objective: &mut O,
    ) -> Result<Step, O::Error>
    where
        O::Error: From<A::Error>,
    {
        let (mut evaluations, reused) = self.cache.ensure(&mut self.algebra, x, objective)?;
        if !reused {
            self.clear_history();
        }
        self.ensure_buffers(x)?;
        let converged = |loss, evaluations| Step {
            loss,
            evaluations,
            converged: true,
        };
        if !self.cache.is_finite(&mut self.algebra)? {
            tracing::warn!(
                loss = self.cache.loss,
                "L-BFGS: loss or gradient at x is not finite"
            );
            return Ok(converged(self.cache.loss, evaluations));
        }
        let g_max = self.algebra.norm_inf(self.cache.vectors().1)?;
        if g_max <= self.config.grad_tolerance {
            return Ok(converged(self.cache.loss, evaluations));
        }
        loop {
            let gtd = self.direction()?;
            let t_init = if self.pairs.is_empty() {
                f64::from(self.config.initial_step) / f64::from(g_max)
            } else {
                1.0
            };
            match self.line_search(objective, t_init, gtd, &mut evaluations)? {
                Some(loss) => {
                    self.update_history()?;
                    let work = work(&mut self.work);
                    let (cx, cg) = self.cache.vectors.as_mut().expect("cache is filled");
                    swap(cx, &mut work.xl);
                    swap(cg, &mut work.gl);
                    self.cache.loss = loss;
                    self.algebra.assign(x, cx)?;
                    return Ok(Step {
                        loss,
                        evaluations,
                        converged: false,
                    });
                }
                None if !self.pairs.is_empty() => {
                    tracing::debug!("L-BFGS line search failed; retrying along the gradient");
                    self.clear_history();
                }
                None => return Ok(converged(self.cache.loss, evaluations)),
            }
        }
    }

    fn reset(&mut self) {
        self.cache.valid = false;
        self.clear_history();
    }
}

/// Minimizer of the cubic interpolating φ and φ' at `a` and `b` (Nocedal & Wright 3.59).
fn cubic_min(a: Point, b: Point) -> Option<f64> {
    let d1 = a.dphi + b.dphi - 3.0 * (a.f - b.f) / (a.t - b.t);
    let disc = d1 * d1 - a.dphi * b.dphi;
    if disc < 0.0 {
        return None;
    }
    let d2 = (b.t - a.t).signum() * disc.sqrt();
    let t = b.t - (b.t - a.t) * (b.dphi + d2 - d1) / (b.dphi - a.dphi + 2.0 * d2);
    t.is_finite().then_some(t)
}

/// Next, longer trial step after `lo` still descends steeply (`prev` is the point before).
fn extrapolate(prev: Point, lo: Point) -> f64 {
    let (min, max) = (2.0 * lo.t, 10.0 * lo.t);
    cubic_min(prev, lo)
        .filter(|&t| t > lo.t)
        .map_or(4.0 * lo.t, |t| t.clamp(min, max))
}

/// Next trial step inside the bracket between `lo` and `hi`, kept away from both ends.
fn interpolate(lo: Point, hi: Bound) -> f64 {
    let width = hi.t - lo.t;
    let (a, b) = (lo.t + 0.1 * width, hi.t - 0.1 * width);
    match hi.point {
        // Nothing is known at a non-finite trial: back off well towards lo.
        None => lo.t + 0.2 * width,
        Some(point) => {
            cubic_min(lo, point).map_or(lo.t + 0.5 * width, |t| t.clamp(a.min(b), a.max(b)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        chained_rosenbrock, injected, quadratic, rosenbrock, rosenbrock_start, Counted,
    };
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
            second.evaluations >= 1
                && objective.evaluations == first.evaluations + second.evaluations
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
}
