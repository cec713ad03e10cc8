//! Flow accuracy and reliability on synthetic frames with known motion. The textures are
//! continuous functions (random sinusoids plus Gaussian blobs), so the moved frame is sampled
//! exactly rather than interpolated.

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const W: usize = 256;
const H: usize = 192;
/// Border excluded from accuracy measures.
const MARGIN: usize = 16;

struct Texture {
    /// (kx, ky, phase, amplitude)
    waves: Vec<[f32; 4]>,
    /// (cx, cy, 1/(2σ²), amplitude)
    blobs: Vec<[f32; 4]>,
    scale: f32,
}

impl Texture {
    fn new(seed: u64) -> Texture {
        let mut rng = StdRng::seed_from_u64(seed);
        let waves: Vec<[f32; 4]> = (0..24)
            .map(|_| {
                let wavelength = rng.random_range(5.0f32..40.0);
                let angle = rng.random_range(0.0..std::f32::consts::TAU);
                let k = std::f32::consts::TAU / wavelength;
                let phase = rng.random_range(0.0..std::f32::consts::TAU);
                [k * angle.cos(), k * angle.sin(), phase, wavelength.sqrt()]
            })
            .collect();
        let blobs: Vec<[f32; 4]> = (0..150)
            .map(|_| {
                let sigma = rng.random_range(1.5f32..6.0);
                [
                    rng.random_range(-20.0..W as f32 + 20.0),
                    rng.random_range(-20.0..H as f32 + 20.0),
                    1.0 / (2.0 * sigma * sigma),
                    rng.random_range(-4.0f32..4.0),
                ]
            })
            .collect();
        let energy: f32 = waves.iter().map(|w| w[3] * w[3] / 2.0).sum();
        Texture {
            waves,
            blobs,
            scale: 1.0 / (energy.sqrt() * 2.5),
        }
    }

    /// The texture's value at a real position, in (0, 1).
    fn at(&self, x: f32, y: f32) -> f32 {
        let mut s = 0.0;
        for &[kx, ky, phase, a] in &self.waves {
            s += a * (kx * x + ky * y + phase).sin();
        }
        for &[cx, cy, k, a] in &self.blobs {
            let d2 = (x - cx).powi(2) + (y - cy).powi(2);
            if d2 * k < 12.0 {
                s += a * (-d2 * k).exp();
            }
        }
        0.5 + 0.45 * (s * self.scale).tanh()
    }

    /// A W×H frame whose pixel x shows the texture at `source(x)`.
    fn render(&self, source: impl Fn(f32, f32) -> (f32, f32)) -> Array2<f32> {
        Array2::from_shape_fn((H, W), |(y, x)| {
            let (sx, sy) = source(x as f32, y as f32);
            self.at(sx, sy)
        })
    }
}

const CX: f32 = (W as f32 - 1.0) / 2.0;
const CY: f32 = (H as f32 - 1.0) / 2.0;

/// Mean end-point error of `flow` against the motion `truth(x) = x'` over interior pixels.
fn epe(flow: &Flow, truth: impl Fn(f32, f32) -> (f32, f32)) -> f32 {
    let mut sum = 0.0;
    let mut n = 0;
    for y in MARGIN..H - MARGIN {
        for x in MARGIN..W - MARGIN {
            let (tx, ty) = truth(x as f32, y as f32);
            let du = flow.u[[y, x]] - (tx - x as f32);
            let dv = flow.v[[y, x]] - (ty - y as f32);
            sum += (du * du + dv * dv).sqrt();
            n += 1;
        }
    }
    sum / n as f32
}

/// Frame A shows the texture; frame B shows it moved by `motion` (A's point x is at motion(x) in
/// B), sampled exactly through `inverse`. Returns the EPE of the flow from A to B.
fn flow_error(
    seed: u64,
    motion: impl Fn(f32, f32) -> (f32, f32),
    inverse: impl Fn(f32, f32) -> (f32, f32),
) -> f32 {
    let texture = Texture::new(seed);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(inverse);
    let f = flow(a.view(), b.view(), &FlowParams::default()).unwrap();
    epe(&f, motion)
}

fn rotation(degrees: f32) -> impl Fn(f32, f32) -> (f32, f32) {
    let (s, c) = degrees.to_radians().sin_cos();
    move |x, y| {
        let (dx, dy) = (x - CX, y - CY);
        (CX + c * dx - s * dy, CY + s * dx + c * dy)
    }
}

#[test]
fn flow_of_a_subpixel_translation() {
    let e = flow_error(1, |x, y| (x + 1.3, y - 0.7), |x, y| (x - 1.3, y + 0.7));
    println!("EPE translation (1.3, -0.7): {e:.4} px");
    assert!(e < 0.3, "EPE {e}");
}

#[test]
fn flow_of_a_zoom() {
    let s = 1.03;
    let e = flow_error(
        2,
        |x, y| (CX + s * (x - CX), CY + s * (y - CY)),
        |x, y| (CX + (x - CX) / s, CY + (y - CY) / s),
    );
    println!("EPE zoom 1.03: {e:.4} px");
    assert!(e < 0.3, "EPE {e}");
}

#[test]
fn flow_of_a_rotation() {
    let e = flow_error(3, rotation(2.0), rotation(-2.0));
    println!("EPE rotation 2°: {e:.4} px");
    assert!(e < 0.3, "EPE {e}");
}

#[test]
fn flow_stopped_at_half_size_is_upsampled() {
    let texture = Texture::new(11);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(rotation(-2.0));
    let params = FlowParams {
        finest_level: 1,
        ..FlowParams::default()
    };
    let f = flow(a.view(), b.view(), &params).unwrap();
    assert_eq!(f.dim(), (H, W));
    let e = epe(&f, rotation(2.0));
    println!("EPE rotation 2°, finest level 1: {e:.4} px");
    assert!(e < 0.3, "EPE {e}");
}

#[test]
fn backward_flow_of_a_translation_points_back() {
    let texture = Texture::new(4);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(|x, y| (x - 2.6, y - 1.2));
    let back = flow(b.view(), a.view(), &FlowParams::default()).unwrap();
    let e = epe(&back, |x, y| (x - 2.6, y - 1.2));
    println!("EPE backward translation (-2.6, -1.2): {e:.4} px");
    assert!(e < 0.3, "EPE {e}");
}

#[test]
fn flow_tolerates_noise_and_a_brightness_change() {
    // The second frame is 5% brighter and both carry independent noise (σ ≈ 1% of the range).
    let texture = Texture::new(9);
    let mut rng = StdRng::seed_from_u64(10);
    let mut noise = |x: f32| {
        let n: f32 = (0..4).map(|_| rng.random_range(-0.5f32..0.5)).sum();
        x + 0.017 * n
    };
    let a = texture.render(|x, y| (x, y)).mapv(&mut noise);
    let b = texture
        .render(|x, y| (x - 1.3, y + 0.7))
        .mapv(|v| noise(0.05 + 0.95 * v));
    let f = flow(a.view(), b.view(), &FlowParams::default()).unwrap();
    let e = epe(&f, |x, y| (x + 1.3, y - 0.7));
    println!("EPE translation with noise and brightness change: {e:.4} px");
    assert!(e < 0.3, "EPE {e}");
}

fn interior_fraction(
    weights: &Array2<f32>,
    pick: impl Fn(usize, usize) -> bool,
    value: f32,
) -> f32 {
    let mut hits = 0;
    let mut n = 0;
    for ((y, x), &c) in weights.indexed_iter() {
        if pick(x, y) {
            n += 1;
            hits += usize::from(c == value);
        }
    }
    assert!(n > 0);
    hits as f32 / n as f32
}

#[test]
fn identical_frames_have_no_motion_and_full_reliability() {
    let a = Texture::new(5).render(|x, y| (x, y));
    let m = motion(a.view(), a.view(), &FlowParams::default()).unwrap();
    let interior =
        |x: usize, y: usize| (MARGIN..W - MARGIN).contains(&x) && (MARGIN..H - MARGIN).contains(&y);
    let mut largest: f32 = 0.0;
    for ((y, x), u) in m.backward.u.indexed_iter() {
        if interior(x, y) {
            largest = largest.max(u.hypot(m.backward.v[[y, x]]));
        }
    }
    assert!(
        largest < 0.05,
        "flow between identical frames reaches {largest} px"
    );
    let ones = interior_fraction(&m.weights, interior, 1.0);
    println!("identical frames: reliable share of the interior {ones:.4}");
    assert!(ones > 0.99, "only {ones} of the interior is reliable");
}

#[test]
fn translation_makes_the_uncovered_band_unreliable() {
    // The picture moves right by 4.6 px and up by 3.3 px: in the current frame, a band of about
    // 4.6 px on the left and 3.3 px at the bottom shows what the previous frame did not.
    let texture = Texture::new(6);
    let prev = texture.render(|x, y| (x, y));
    let cur = texture.render(|x, y| (x - 4.6, y + 3.3));
    let m = motion(prev.view(), cur.view(), &FlowParams::default()).unwrap();
    let band = |x: usize, y: usize| x <= 3 || y >= H - 2;
    let zeros = interior_fraction(&m.weights, band, 0.0);
    println!("translation: unreliable share of the uncovered band {zeros:.4}");
    assert!(zeros > 0.95, "only {zeros} of the uncovered band is marked");
    let rest =
        |x: usize, y: usize| (MARGIN..W - MARGIN).contains(&x) && (MARGIN..H - MARGIN).contains(&y);
    let ones = interior_fraction(&m.weights, rest, 1.0);
    println!("translation: reliable share of the interior {ones:.4}");
    assert!(ones > 0.97, "only {ones} of the interior is reliable");
}

#[test]
fn a_moving_square_leaves_an_unreliable_band_behind() {
    // A 48×48 textured square on a static textured background moves 6 px right.
    let (background, square) = (Texture::new(7), Texture::new(8));
    let (sy, size, step) = (60usize, 48usize, 6usize);
    let frame = |sx: usize| {
        Array2::from_shape_fn((H, W), |(y, x)| {
            if (sx..sx + size).contains(&x) && (sy..sy + size).contains(&y) {
                square.at(x as f32 - sx as f32 + 100.0, y as f32)
            } else {
                background.at(x as f32, y as f32)
            }
        })
    };
    let (prev, cur) = (frame(80), frame(80 + step));
    let m = motion(prev.view(), cur.view(), &FlowParams::default()).unwrap();
    let rows = sy..sy + size;
    // Disoccluded: background in the current frame where the square was before.
    let band = |x: usize, y: usize| (80..80 + step).contains(&x) && rows.contains(&y);
    let zeros = interior_fraction(&m.weights, band, 0.0);
    println!("moving square: unreliable share of the disoccluded band {zeros:.4}");
    assert!(
        zeros > 0.8,
        "only {zeros} of the disoccluded band is marked"
    );
    let far = |x: usize, y: usize| {
        let near = (70..140).contains(&x) && (50..118).contains(&y);
        !near && (8..W - 8).contains(&x) && (8..H - 8).contains(&y)
    };
    let ones = interior_fraction(&m.weights, far, 1.0);
    println!("moving square: reliable share of the static background {ones:.4}");
    assert!(
        ones > 0.95,
        "only {ones} of the static background is reliable"
    );
    let inner = |x: usize, y: usize| (94..126).contains(&x) && (68..100).contains(&y);
    let ones = interior_fraction(&m.weights, inner, 1.0);
    println!("moving square: reliable share of its inside {ones:.4}");
    assert!(ones > 0.9, "only {ones} of the moving square is reliable");
    // And the square's flow is found: about −6 px (pointing back to where it was).
    let mean_u = m
        .backward
        .u
        .slice(ndarray::s![68..100, 94..126])
        .mean()
        .unwrap();
    println!("moving square: mean flow inside {mean_u:.4} px (true: -6)");
    assert!(
        (mean_u + 6.0).abs() < 0.3,
        "mean flow in the square {mean_u}"
    );
}

#[test]
fn flow_rejects_frames_of_different_sizes() {
    let a = Array2::zeros((10, 12));
    let b = Array2::zeros((12, 10));
    let err = flow(a.view(), b.view(), &FlowParams::default()).unwrap_err();
    assert!(err.to_string().contains("12x10 and 10x12"), "{err}");
}

#[test]
fn patches_farther_apart_than_their_size_still_cover_the_frame() {
    let texture = Texture::new(12);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(|x, y| (x - 1.3, y + 0.7));
    let params = FlowParams {
        patch_stride: 20,
        refine_iterations: 0,
        ..FlowParams::default()
    };
    let f = flow(a.view(), b.view(), &params).unwrap();
    assert!(f.u.iter().chain(f.v.iter()).all(|d| d.is_finite()));
    let e = epe(&f, |x, y| (x + 1.3, y - 0.7));
    assert!(e < 0.3, "EPE {e}");
}

#[test]
fn flow_handles_frames_smaller_than_a_patch() {
    let a = Array2::from_shape_fn((3, 5), |(y, x)| (x + y) as f32 / 8.0);
    let f = flow(a.view(), a.view(), &FlowParams::default()).unwrap();
    assert_eq!(f.dim(), (3, 5));
    assert!(f.u.iter().chain(f.v.iter()).all(|d| d.abs() < 0.1));
}

#[test]
fn luma_weights_the_channels() {
    let t = ndarray::Array4::from_shape_fn((1, 3, 2, 2), |(_, c, _, _)| [1.0, 0.5, 0.0][c]);
    let g = luma(t.view()).unwrap();
    assert!((g[[1, 1]] - (0.299 + 0.587 * 0.5)).abs() < 1e-6);
    assert!(luma(ndarray::Array4::zeros((1, 2, 2, 2)).view()).is_err());
}

#[test]
fn every_flow_preset_follows_a_rotation() {
    let texture = Texture::new(3);
    let turn = rotation(2.0);
    let back = rotation(-2.0);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(back);
    let mut errors = Vec::new();
    for preset in FlowPreset::ALL {
        assert_eq!(preset.name().parse::<FlowPreset>(), Ok(preset));
        let f = flow(a.view(), b.view(), &preset.params()).unwrap();
        errors.push((preset.name(), epe(&f, &turn)));
    }
    println!("EPE rotation 2° by preset: {errors:?}");
    for (name, e) in &errors {
        assert!(*e < 0.5, "{name}: EPE {e}");
    }
    // Searching and refining at full size is the most accurate.
    let quality = errors[3].1;
    assert!(errors.iter().all(|(_, e)| quality <= *e), "{errors:?}");
    assert!("slow".parse::<FlowPreset>().is_err());
}

#[test]
fn spatial_propagation_helps_the_coarse_search() {
    let texture = Texture::new(21);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(|x, y| (x - 9.4, y + 6.3));
    let errors = [false, true].map(|spatial_propagation| {
        let params = FlowParams {
            spatial_propagation,
            ..FlowPreset::Ultrafast.params()
        };
        epe(&flow(a.view(), b.view(), &params).unwrap(), |x, y| {
            (x + 9.4, y - 6.3)
        })
    });
    println!("EPE translation (9.4, -6.3), ultrafast without and with propagation: {errors:?}");
    assert!(errors[1] < 0.9 * errors[0], "{errors:?}");
}

/// One workspace serving frames of several sizes in turn, as `MotionTracker`'s do from frame to
/// frame and the flow does from level to level, gives the very fields of fresh buffers: nothing
/// a larger frame left in it shows through.
#[test]
fn a_reused_workspace_gives_the_fields_of_a_fresh_one() {
    let texture = Texture::new(5);
    let a = texture.render(|x, y| (x, y));
    let b = texture.render(rotation(-1.5));
    for preset in FlowPreset::ALL {
        let params = preset.params();
        let mut workspace = FlowWorkspace::default();
        // The same size twice (the buffers reused as they are), then others.
        let sizes = [
            (H, W),
            (H, W),
            (H - 7, W - 13),
            (H / 2 + 1, W / 2 - 3),
            (H, W),
        ];
        for (h, w) in sizes {
            let (a, b) = (
                a.slice(ndarray::s![..h, ..w]),
                b.slice(ndarray::s![..h, ..w]),
            );
            let fresh = flow(a, b, &params).unwrap();
            let reused = flow_with(a, b, &params, &mut workspace).unwrap();
            let name = preset.name();
            assert!(fresh == *reused, "{name}, {w}×{h}: the fields differ");
        }
    }
}
