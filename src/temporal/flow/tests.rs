//! Tests of the flow's internals.

use super::pyramid::{halve_row, upsample_into, Plane};

#[test]
fn upsampling_equals_bilinear_sampling_scaled() {
    let mut coarse = Plane::zeros(7, 5);
    for (i, v) in coarse.data.iter_mut().enumerate() {
        *v = (i * 37 % 11) as f32 * 0.37 - 2.0;
    }
    // Exact sizes, odd ones, and grids reaching past the coarse edge or stopping short of it,
    // each written over the last one's plane.
    let mut fine = Plane::default();
    for (factor, w, h) in [
        (2, 14, 10),
        (2, 13, 9),
        (4, 25, 17),
        (4, 28, 20),
        (4, 30, 23),
        (2, 9, 6),
    ] {
        upsample_into(&coarse, (w, h), factor, &mut fine);
        let f = factor as f32;
        for y in 0..h {
            for x in 0..w {
                let want = f * coarse.sample(x as f32 / f, y as f32 / f);
                let got = fine.at(x, y);
                assert!(
                    (got - want).abs() <= 1e-5 * f,
                    "({x}, {y}) of {w}×{h}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn halving_a_row_blurs_every_other_sample() {
    for n in [1, 3, 4, 5, 9, 16] {
        let c: Vec<f32> = (0..2 * n + 1)
            .map(|i| ((i * 29 % 13) as f32).sin())
            .collect();
        let mut out = vec![0.0; n];
        halve_row(&mut out, &c, 0.5);
        for (i, &o) in out.iter().enumerate() {
            let want = (c[2 * i] + 2.0 * c[2 * i + 1] + c[2 * i + 2]) * 0.5;
            assert!((o - want).abs() <= 1e-6, "{i} of {n}: {o} vs {want}");
        }
    }
}

#[test]
fn both_ways_on_shared_pyramids_equals_two_flows() {
    let (h, w) = (72, 96);
    let frame = |dx: f32| {
        ndarray::Array2::from_shape_fn((h, w), |(y, x)| {
            0.5 + 0.4 * ((x as f32 - dx) * 0.3).sin() * (y as f32 * 0.23).cos()
        })
    };
    let (a, b) = (frame(0.0), frame(1.5));
    for preset in super::FlowPreset::ALL {
        let params = preset.params();
        let mut workspaces = Default::default();
        let (ab, ba) =
            super::flows_both_ways(a.view(), b.view(), &params, &mut workspaces).unwrap();
        assert_eq!(*ab, super::flow(a.view(), b.view(), &params).unwrap());
        assert_eq!(*ba, super::flow(b.view(), a.view(), &params).unwrap());
    }
}
