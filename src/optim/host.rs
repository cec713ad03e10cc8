//! The reference algebra: vectors in host memory (`ndarray`), dot products and norms in Rust.

use std::convert::Infallible;

use ndarray::{Array1, Zip};

use super::{AdamStep, Algebra};

/// Vectors in host memory; every operation is plain Rust and cannot fail.
#[derive(Clone, Copy, Debug, Default)]
pub struct Host;

impl Algebra for Host {
    type Vector = Array1<f32>;
    type Error = Infallible;

    fn alloc_like(&mut self, like: &Array1<f32>) -> Result<Array1<f32>, Infallible> {
        Ok(Array1::zeros(like.len()))
    }

    fn len(&self, v: &Array1<f32>) -> usize {
        v.len()
    }

    fn combine(
        &mut self,
        a: f32,
        x: &Array1<f32>,
        b: f32,
        y: &Array1<f32>,
        z: &mut Array1<f32>,
    ) -> Result<(), Infallible> {
        Zip::from(z)
            .and(x)
            .and(y)
            .for_each(|z, &x, &y| *z = a * x + b * y);
        Ok(())
    }

    fn combine_dot(
        &mut self,
        a: f32,
        x: &Array1<f32>,
        b: f32,
        y: &Array1<f32>,
        w: &Array1<f32>,
        z: &mut Array1<f32>,
    ) -> Result<f64, Infallible> {
        self.combine(a, x, b, y, z)?;
        Ok(dot(sl(w), sl(z)))
    }

    fn dot(&mut self, x: &Array1<f32>, y: &Array1<f32>) -> Result<f64, Infallible> {
        Ok(dot(sl(x), sl(y)))
    }

    fn norm_inf(&mut self, x: &Array1<f32>) -> Result<f32, Infallible> {
        Ok(x.iter().fold(0.0f32, |m, &v| m.max(v.abs())))
    }

    fn all_finite(&mut self, x: &Array1<f32>) -> Result<bool, Infallible> {
        // Vectorizable: no early exit.
        Ok(x.fold(true, |ok, v| ok & v.is_finite()))
    }

    fn pair(
        &mut self,
        x1: &Array1<f32>,
        x0: &Array1<f32>,
        g1: &Array1<f32>,
        g0: &Array1<f32>,
        s: &mut Array1<f32>,
        y: &mut Array1<f32>,
    ) -> Result<(f64, f64, f64), Infallible> {
        Zip::from(&mut *s)
            .and(x1)
            .and(x0)
            .for_each(|s, &x1, &x0| *s = x1 - x0);
        Zip::from(&mut *y)
            .and(g1)
            .and(g0)
            .for_each(|y, &g1, &g0| *y = g1 - g0);
        let (s, y) = (sl(s), sl(y));
        Ok((dot(s, s), dot(s, y), dot(y, y)))
    }

    fn adam(
        &mut self,
        p: &AdamStep,
        x: &Array1<f32>,
        g: &Array1<f32>,
        (m, v): (&Array1<f32>, &Array1<f32>),
        (m_next, v_next): (&mut Array1<f32>, &mut Array1<f32>),
        xt: &mut Array1<f32>,
    ) -> Result<(), Infallible> {
        Zip::from(&mut *m_next)
            .and(&mut *v_next)
            .and(g)
            .and(m)
            .and(v)
            .for_each(|m_next, v_next, &g, &m, &v| {
                *m_next = p.beta1 * m + p.c1 * g;
                *v_next = p.beta2 * v + p.c2 * g * g;
            });
        Zip::from(xt)
            .and(x)
            .and(&*m_next)
            .and(&*v_next)
            .for_each(|xt, &x, &m, &v| {
                *xt = x - p.step * m / (v.sqrt() * p.inv_sqrt_bc2 + p.eps);
            });
        Ok(())
    }

    fn assign(&mut self, dst: &mut Array1<f32>, src: &Array1<f32>) -> Result<(), Infallible> {
        dst.assign(src);
        Ok(())
    }

    fn same(&mut self, a: &Array1<f32>, b: &Array1<f32>) -> Result<bool, Infallible> {
        Ok(a == b)
    }
}

/// Contiguous view of an optimizer-owned vector (they are always created contiguous).
fn sl(a: &Array1<f32>) -> &[f32] {
    a.as_slice().expect("optimizer vectors are contiguous")
}

/// Number of independent accumulators: lets the compiler vectorize f64 reductions.
const LANES: usize = 8;

/// aᵀb accumulated in f64 over [`LANES`] independent lanes.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let term = |u: f32, v: f32| f64::from(u) * f64::from(v);
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&u, &v)| term(u, v))
        .sum();
    for (u, v) in ca.zip(cb) {
        for ((s, &u), &v) in acc.iter_mut().zip(u).zip(v) {
            *s += term(u, v);
        }
    }
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_norms() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.5).sin()).collect();
        let naive: f64 = a
            .iter()
            .zip(&b)
            .map(|(&u, &v)| f64::from(u) * f64::from(v))
            .sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-9);
        let (a, b) = (Array1::from(a), Array1::from(b));
        let mut host = Host;
        assert_eq!(host.norm_inf(&a), Ok(18.0));
        assert_eq!(host.all_finite(&a), Ok(true));
        assert_eq!(
            host.all_finite(&Array1::from(vec![1.0, f32::NAN])),
            Ok(false)
        );
        let mut z = Array1::zeros(37);
        let wz = host.combine_dot(2.0, &a, -1.0, &b, &a, &mut z);
        assert_eq!(z[3], 2.0 * a[3] - b[3]);
        assert_eq!(wz, Ok(dot(sl(&a), sl(&z))));
    }
}
