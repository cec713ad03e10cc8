//! Tests of the flow's internals.

use super::pyramid::{upsample, Plane};

#[test]
fn upsampling_equals_bilinear_sampling_at_half_steps() {
    let mut coarse = Plane::zeros(7, 5);
    for (i, v) in coarse.data.iter_mut().enumerate() {
        *v = (i * 37 % 11) as f32 * 0.37 - 2.0;
    }
    for (w, h) in [(14, 10), (13, 9)] {
        let fine = upsample(&coarse, w, h);
        for y in 0..h {
            for x in 0..w {
                let want = 2.0 * coarse.sample(x as f32 / 2.0, y as f32 / 2.0);
                assert_eq!(fine.at(x, y), want, "({x}, {y}) of {w}×{h}");
            }
        }
    }
}
