//! The line search's step lengths: its trial points, and the next trial by cubic interpolation
//! (Nocedal & Wright).

/// A line-search point: step length, φ(t) = f(x₀ + t·d) and φ'(t) = ∇f(x₀ + t·d)ᵀd.
#[derive(Debug, Clone, Copy)]
pub(super) struct Point {
    pub(super) t: f64,
    pub(super) f: f64,
    pub(super) dphi: f64,
}

/// Upper end of the bracketing interval; `point` is `None` where f or ∇f was not finite.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound {
    pub(super) t: f64,
    pub(super) point: Option<Point>,
}

/// Minimizer of the cubic interpolating φ and φ' at `a` and `b` (Nocedal & Wright 3.59).
pub(super) fn cubic_min(a: Point, b: Point) -> Option<f64> {
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
pub(super) fn extrapolate(prev: Point, lo: Point) -> f64 {
    let (min, max) = (2.0 * lo.t, 10.0 * lo.t);
    cubic_min(prev, lo)
        .filter(|&t| t > lo.t)
        .map_or(4.0 * lo.t, |t| t.clamp(min, max))
}

/// Next trial step inside the bracket between `lo` and `hi`, kept away from both ends.
pub(super) fn interpolate(lo: Point, hi: Bound) -> f64 {
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
