//! `stylize image` end to end with the real binary, ONNX Runtime and the exported models.

mod common;

use common::*;

#[test]
fn stylizes_with_the_tiny_model_and_writes_stats() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 80, 60);
    write_style(&style, 64, 64);
    let out = dir.path().join("out.png");
    let stats = dir.path().join("stats.json");
    let result = image_command(&content, &style, &out, &tiny_model())
        .args(["--size", "40", "--iterations", "20", "--device", "cpu"])
        .args([
            "--stats",
            stats.to_str().unwrap(),
            "--quiet",
            "--tv-weight",
            "0",
        ])
        .output()
        .unwrap();
    assert_success(&result);
    assert!(
        result.stderr.is_empty(),
        "--quiet printed: {}",
        String::from_utf8_lossy(&result.stderr)
    );

    let img = image::open(&out).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (40, 30),
        "output has the processing size"
    );

    let stats: serde_json::Value = read_json(&stats);
    let iterations = stats["iterations"].as_array().unwrap();
    assert!(!iterations.is_empty() && iterations.len() <= 20);
    let first_style = stats["initial"]["style"].as_f64().unwrap();
    let last = &iterations.last().unwrap()["loss"];
    assert!(first_style > 0.0);
    assert!(
        last["style"].as_f64().unwrap() < first_style / 2.0,
        "style loss fell from {first_style} to {}",
        last["style"]
    );
    let totals: Vec<f64> = iterations
        .iter()
        .map(|i| i["loss"]["total"].as_f64().unwrap())
        .collect();
    assert!(
        totals.windows(2).all(|w| w[1] <= w[0]),
        "L-BFGS loss never rises: {totals:?}"
    );
    assert_eq!(stats["width"], 40);
    assert_eq!(
        files_in(dir.path()),
        ["c.png", "out.png", "s.png", "stats.json"]
    );
}

#[test]
fn blends_styles_keeps_colours_and_starts_from_noise() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 60, 60);
    write_style(&style, 48, 48);
    for extra in [
        vec![
            "--style",
            style.to_str().unwrap(),
            "--style-blend",
            "0.7,0.3",
        ],
        vec!["--original-colors"],
        vec!["--init", "noise", "--seed", "3"],
        vec!["--optimizer", "adam", "--learning-rate", "0.05"],
    ] {
        let out = dir.path().join("out.jpg");
        let result = image_command(&content, &style, &out, &tiny_model())
            .args(["--size", "32", "--iterations", "3", "--device", "cpu", "-q"])
            .args(&extra)
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), (32, 32), "{extra:?}");
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn original_colors_keeps_the_content_chroma() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 48, 48);
    write_style(&style, 48, 48);
    let run = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let result = image_command(&content, &style, &out, &tiny_model())
            .args([
                "--size",
                "48",
                "--iterations",
                "15",
                "--device",
                "cpu",
                "-q",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_success(&result);
        image::open(out).unwrap().to_rgb8()
    };
    let content_img = image::open(&content).unwrap().to_rgb8();
    let chroma_distance = |img: &image::RgbImage| -> f64 {
        // Mean distance of the (R-G, B-G) chroma from the content's.
        img.pixels()
            .zip(content_img.pixels())
            .map(|(a, b)| {
                let (a, b) = (a.0.map(f64::from), b.0.map(f64::from));
                ((a[0] - a[1]) - (b[0] - b[1])).abs() + ((a[2] - a[1]) - (b[2] - b[1])).abs()
            })
            .sum::<f64>()
            / img.len() as f64
    };
    let plain = chroma_distance(&run(&[], "plain.png"));
    let kept = chroma_distance(&run(&["--original-colors"], "kept.png"));
    assert!(
        kept < plain / 2.0,
        "chroma distance kept {kept} vs plain {plain}"
    );
}

#[test]
fn real_vgg19_transfers_style_at_a_small_size() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 128, 96);
    write_style(&style, 96, 96);
    let out = dir.path().join("out.png");
    let stats = dir.path().join("stats.json");
    let result = image_command(&content, &style, &out, &vgg19_model())
        .args(["--size", "96", "--iterations", "40", "--device", "cpu"])
        .args(["--levels", "1", "--stats", stats.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert_success(&result);
    let stats: serde_json::Value = read_json(&stats);
    let start = stats["initial"]["style"].as_f64().unwrap();
    let end = stats["iterations"].as_array().unwrap().last().unwrap()["loss"]["style"]
        .as_f64()
        .unwrap();
    assert!(
        end < start / 10.0,
        "style loss fell only from {start} to {end}"
    );

    // The stripes' colours came in: the result is redder and bluer than the content where it was green.
    let before = image::open(&content)
        .unwrap()
        .resize_exact(96, 72, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let after = image::open(&out).unwrap().to_rgb8();
    let mean_abs_diff = before
        .pixels()
        .zip(after.pixels())
        .map(|(a, b)| {
            (0..3)
                .map(|c| (i32::from(a[c]) - i32::from(b[c])).abs())
                .sum::<i32>() as f64
        })
        .sum::<f64>()
        / before.len() as f64;
    assert!(
        mean_abs_diff > 10.0,
        "the picture barely changed: {mean_abs_diff}"
    );
}

#[test]
fn the_band_preconditioner_is_the_default_and_gets_further_in_as_many_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 128, 96);
    write_style(&style, 96, 96);
    let run = |extra: &[&str]| {
        let out = dir.path().join("out.png");
        let stats = dir.path().join("stats.json");
        let result = image_command(&content, &style, &out, &vgg19_model())
            .args(["--size", "96", "--iterations", "30", "--device", "cpu"])
            .args(["--stats", stats.to_str().unwrap(), "-q", "-y"])
            .args(extra)
            .output()
            .unwrap();
        assert_success(&result);
        let stats: serde_json::Value = read_json(&stats);
        let levels = stats["levels"].as_array().unwrap().clone();
        assert_eq!(levels.len(), 1, "one level by default");
        let total = levels[0]["loss"]["total"].as_f64().unwrap();
        (levels[0]["bands"].as_u64().unwrap(), total)
    };
    let (bands, preconditioned) = run(&[]);
    let (none, plain) = run(&["--precondition", "none"]);
    // 96 px: blocks of 2 to 16 px, up to a quarter of the longest side.
    assert_eq!((bands, none), (4, 0));
    assert!(
        preconditioned < 0.95 * plain,
        "30 iterations end at {preconditioned} with the bands, {plain} without"
    );
}

#[test]
fn device_engine_paints_the_same_picture_as_the_host_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 80, 60);
    write_style(&style, 64, 64);
    let run = |engine: &str, optimizer: &str| {
        let out = dir.path().join(format!("{engine}-{optimizer}.png"));
        let stats = dir.path().join(format!("{engine}-{optimizer}.json"));
        let result = image_command(&content, &style, &out, &tiny_model())
            .args([
                "--size",
                "48",
                "--iterations",
                "15",
                "--device",
                "cpu",
                "--quiet",
            ])
            .args(["--engine", engine, "--optimizer", optimizer])
            .args(["--stats", stats.to_str().unwrap()])
            .output()
            .unwrap();
        assert_success(&result);
        let stats: serde_json::Value = read_json(&stats);
        (image::open(&out).unwrap().to_rgb8(), stats)
    };
    for optimizer in ["lbfgs", "adam"] {
        let (host, host_stats) = run("host", optimizer);
        let (device, device_stats) = run("device", optimizer);
        assert_eq!(host_stats["engine"], "host");
        assert_eq!(device_stats["engine"], "device");
        assert_eq!(device_stats["precision"], "fp32");
        let last = |s: &serde_json::Value| {
            s["iterations"].as_array().unwrap().last().unwrap()["loss"]["total"]
                .as_f64()
                .unwrap()
        };
        let (a, b) = (last(&host_stats), last(&device_stats));
        assert!(
            (a - b).abs() <= 1e-5 * a.abs(),
            "{optimizer}: final loss {a} vs {b}"
        );
        let differing = host
            .pixels()
            .zip(device.pixels())
            .filter(|(p, q)| p != q)
            .count();
        assert!(differing == 0, "{optimizer}: {differing} pixels differ");
        // The device engine's optimizer runs inside ONNX Runtime; only scalars cross per iteration.
        assert!(device_stats["algebra_seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(host_stats["algebra_seconds"].as_f64().unwrap(), 0.0);
        let per_iteration = device_stats["transfer_bytes_per_iteration"]
            .as_f64()
            .unwrap();
        assert!(
            per_iteration < 48.0 * 36.0 * 3.0 * 4.0,
            "{per_iteration} bytes per iteration"
        );
    }
}

/// A JPEG of `image` carrying an EXIF orientation tag (6: the camera was turned a quarter
/// clockwise; viewers turn the picture upright).
fn jpeg_with_orientation(path: &std::path::Path, image: &image::RgbImage, orientation: u8) {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode_image(image)
        .unwrap();
    let tiff: &[u8] = &[
        b'M',
        b'M',
        0,
        42,
        0,
        0,
        0,
        8, // big-endian TIFF header, first IFD at 8
        0,
        1, // one entry
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        orientation,
        0,
        0, // Orientation, SHORT, 1 value
        0,
        0,
        0,
        0, // no next IFD
    ];
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn phone_portraits_come_out_upright() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.jpg"), dir.path().join("s.png"));
    // Stored landscape, 64×32, with orientation 6: the picture is a 32×64 portrait.
    let stored = image::RgbImage::from_fn(64, 32, |x, _| image::Rgb([(x * 4) as u8, 80, 160]));
    jpeg_with_orientation(&content, &stored, 6);
    write_style(&style, 64, 64);
    let out = dir.path().join("out.png");
    let result = image_command(&content, &style, &out, &tiny_model())
        .args(["--size", "32", "--iterations", "2", "--device", "cpu", "-q"])
        .output()
        .unwrap();
    assert_success(&result);
    let img = image::open(&out).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (16, 32),
        "the portrait was not turned upright"
    );
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 40, 30);
    write_style(&style, 32, 32);
    let result = image_command(&content, &style, &dir.path().join("out.png"), &tiny_model())
        .args(["--size", "32", "--iterations", "2", "--device", "cpu"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_success(&result);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("INFO"), "no log lines: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI codes in: {stderr}");
}

#[test]
fn levels_run_coarse_to_fine_and_write_the_full_size() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 160, 120);
    write_style(&style, 64, 64);
    let out = dir.path().join("out.png");
    let stats_file = dir.path().join("stats.json");
    let result = image_command(&content, &style, &out, &tiny_model())
        .args(["--size", "96", "--levels", "3", "--iterations", "30"])
        .args(["--device", "cpu", "--stats", stats_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&result);
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (96, 72));
    let stats: serde_json::Value = read_json(&stats_file);
    let levels = stats["levels"].as_array().unwrap();
    let sizes: Vec<(u64, u64)> = levels
        .iter()
        .map(|l| (l["width"].as_u64().unwrap(), l["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [(24, 18), (48, 36), (96, 72)]);
    let iterations: u64 = levels
        .iter()
        .map(|l| l["iterations"].as_u64().unwrap())
        .sum();
    assert!((3..=30).contains(&iterations), "{iterations}");
    assert!(levels
        .iter()
        .all(|l| l["stop"] == "iterations" || l["stop"] == "converged"));
    // The coarsest level starts from the content (content loss 0, but for the preconditioner's
    // rounding), the finest from the coarser levels' work upsampled.
    let started = |l: usize| levels[l]["initial"]["content"].as_f64().unwrap();
    assert!(started(2) > 0.0);
    assert!(started(0) < 1e-6 * started(2), "{}", started(0));
    assert!(
        stats["full_size_evaluations"].as_f64().unwrap() < stats["evaluations"].as_f64().unwrap()
    );
    // One count per level, coarse to fine.
    let result = image_command(&content, &style, &out, &tiny_model())
        .args([
            "--size",
            "96",
            "--iterations",
            "4,3,2",
            "--device",
            "cpu",
            "-q",
            "-y",
        ])
        .args(["--stats", stats_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&result);
    let stats: serde_json::Value = read_json(&stats_file);
    let counts: Vec<u64> = stats["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["iterations"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [4, 3, 2]);
}

#[test]
fn tolerance_stops_early_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (content, style) = (dir.path().join("c.png"), dir.path().join("s.png"));
    write_content(&content, 80, 60);
    write_style(&style, 64, 64);
    let out = dir.path().join("out.png");
    let stats = dir.path().join("stats.json");
    let run = |tolerance: &str| {
        let result = image_command(&content, &style, &out, &tiny_model())
            .args(["--size", "40", "--levels", "1", "--iterations", "500"])
            .args(["--tolerance", tolerance, "--device", "cpu", "-q", "-y"])
            .args(["--stats", stats.to_str().unwrap()])
            .output()
            .unwrap();
        assert_success(&result);
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&stats).unwrap()).unwrap()
    };
    // 20% over 10 iterations: the tiny model's loss flattens out long before 500.
    let stopped = run("0.2");
    assert_eq!(stopped["stop"], "tolerance", "{}", stopped["levels"]);
    assert_eq!(stopped["levels"][0]["stop"], "tolerance");
    let n = stopped["iterations"].as_array().unwrap().len();
    assert!((11..500).contains(&n), "{n} iterations");
    let totals: Vec<f64> = stopped["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["loss"]["total"].as_f64().unwrap())
        .collect();
    let (before, last) = (totals[n - 11], totals[n - 1]);
    assert!((before - last) < 0.2 * before, "{before} → {last}");
    // With the rule off, the same run goes on.
    let longer = run("0");
    let m = longer["iterations"].as_array().unwrap().len();
    assert!(m > n, "{m} vs {n}");
    assert_ne!(longer["stop"], "tolerance");
}
