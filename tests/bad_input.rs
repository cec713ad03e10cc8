//! Every way a user can get `stylize image` wrong: one line on stderr, a non-zero exit, no panic,
//! and no output file left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

struct Case {
    dir: tempfile::TempDir,
    content: PathBuf,
    style: PathBuf,
    out: PathBuf,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("content.png");
    let style = dir.path().join("style.png");
    write_content(&content, 40, 30);
    write_style(&style, 32, 32);
    let out = dir.path().join("out.png");
    Case {
        dir,
        content,
        style,
        out,
    }
}

impl Case {
    /// Runs `stylize image` with the tiny model on the CPU; `args` replace or add to the defaults.
    fn run(&self, content: &Path, extra: &[&str]) -> Output {
        self.run_with_model(content, &tiny_model(), extra)
    }

    fn run_with_model(&self, content: &Path, model: &Path, extra: &[&str]) -> Output {
        image_command(content, &self.style, &self.out, model)
            .args(["--size", "32", "--iterations", "2", "-q"])
            .args(extra)
            .output()
            .unwrap()
    }

    /// `stylize image` on this case's files with the tiny model and no other options.
    fn command(&self) -> std::process::Command {
        image_command(&self.content, &self.style, &self.out, &tiny_model())
    }

    fn assert_nothing_written(&self) {
        let left: Vec<String> = files_in(self.dir.path())
            .into_iter()
            .filter(|f| f != "content.png" && f != "style.png")
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

#[test]
fn missing_content() {
    let c = case();
    let out = c.run(&c.dir.path().join("nope.jpg"), &[]);
    assert_one_line_error(&out, 1, "cannot open content image");
    assert_one_line_error(&out, 1, "no such file");
    c.assert_nothing_written();
}

#[test]
fn content_is_a_directory() {
    let c = case();
    let out = c.run(c.dir.path(), &[]);
    assert_one_line_error(&out, 1, "content image");
    c.assert_nothing_written();
}

#[test]
fn content_is_not_an_image() {
    let c = case();
    let text = c.dir.path().join("notes.png");
    std::fs::write(&text, "this is not a picture\n").unwrap();
    let out = c.run(&text, &[]);
    assert_one_line_error(&out, 1, "cannot read content image");
    std::fs::remove_file(text).unwrap();
    c.assert_nothing_written();
}

#[test]
fn content_is_a_truncated_png() {
    let c = case();
    let bytes = std::fs::read(&c.content).unwrap();
    let cut = c.dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = c.run(&cut, &[]);
    assert_one_line_error(&out, 1, "cannot read content image");
    std::fs::remove_file(cut).unwrap();
    c.assert_nothing_written();
}

#[test]
fn missing_and_non_image_style() {
    let c = case();
    let out = c.run(&c.content, &["--style", "/nonexistent/style.jpg"]);
    assert_one_line_error(&out, 1, "cannot open style image");
    let junk = c.dir.path().join("junk.jpg");
    std::fs::write(&junk, [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    let out = c.run(&c.content, &["--style", junk.to_str().unwrap()]);
    assert_one_line_error(&out, 1, "cannot read style image");
    std::fs::remove_file(junk).unwrap();
    c.assert_nothing_written();
}

#[test]
fn missing_model_directory() {
    let c = case();
    let out = c.run_with_model(&c.content, &c.dir.path().join("no-model"), &[]);
    assert_one_line_error(&out, 1, "scripts/setup.sh");
    c.assert_nothing_written();
}

#[test]
fn model_missing_a_graph() {
    let c = case();
    let model = tempfile::tempdir().unwrap();
    std::fs::copy(
        tiny_model().join("manifest.json"),
        model.path().join("manifest.json"),
    )
    .unwrap();
    std::fs::copy(
        tiny_model().join("features.onnx"),
        model.path().join("features.onnx"),
    )
    .unwrap();
    let out = c.run_with_model(&c.content, model.path(), &[]);
    assert_one_line_error(&out, 1, "loss.onnx' is missing");
    c.assert_nothing_written();
}

/// Copies the tiny model's optimizer graphs (`optim_*.onnx`) into `dir`.
fn copy_optimizer_graphs(dir: &std::path::Path) {
    for entry in std::fs::read_dir(tiny_model()).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("optim_") {
            std::fs::copy(entry.path(), dir.join(name)).unwrap();
        }
    }
}

#[test]
fn model_missing_an_optimizer_graph() {
    let c = case();
    let model = tempfile::tempdir().unwrap();
    for f in ["manifest.json", "features.onnx", "loss.onnx"] {
        std::fs::copy(tiny_model().join(f), model.path().join(f)).unwrap();
    }
    copy_optimizer_graphs(model.path());
    std::fs::remove_file(model.path().join("optim_pair.onnx")).unwrap();
    let out = c.run_with_model(&c.content, model.path(), &[]);
    assert_one_line_error(&out, 1, "optim_pair.onnx' is missing");
    c.assert_nothing_written();
}

#[test]
fn model_graphs_do_not_match_the_manifest() {
    let c = case();
    let model = tempfile::tempdir().unwrap();
    copy_optimizer_graphs(model.path());
    for f in ["features.onnx", "loss.onnx"] {
        std::fs::copy(tiny_model().join(f), model.path().join(f)).unwrap();
    }
    let manifest = std::fs::read_to_string(tiny_model().join("manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    manifest["content_layers"][0]["name"] = "relu5_4".into();
    std::fs::write(model.path().join("manifest.json"), manifest.to_string()).unwrap();
    let out = c.run_with_model(&c.content, model.path(), &[]);
    assert_one_line_error(&out, 1, "does not match its manifest");
    c.assert_nothing_written();
}

#[test]
fn corrupt_model_graph() {
    let c = case();
    let model = tempfile::tempdir().unwrap();
    std::fs::copy(
        tiny_model().join("manifest.json"),
        model.path().join("manifest.json"),
    )
    .unwrap();
    std::fs::write(model.path().join("features.onnx"), b"garbage").unwrap();
    std::fs::copy(
        tiny_model().join("loss.onnx"),
        model.path().join("loss.onnx"),
    )
    .unwrap();
    copy_optimizer_graphs(model.path());
    let out = c.run_with_model(&c.content, model.path(), &["--device", "cpu"]);
    assert_one_line_error(&out, 1, "cannot load model");
    c.assert_nothing_written();
}

#[test]
fn missing_onnx_runtime_library() {
    let c = case();
    let out = c
        .command()
        .env("ORT_DYLIB_PATH", c.dir.path().join("libonnxruntime.so"))
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "ORT_DYLIB_PATH");
    c.assert_nothing_written();

    let fake = c.dir.path().join("fake.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let out = c.command().env("ORT_DYLIB_PATH", &fake).output().unwrap();
    assert_one_line_error(&out, 1, "cannot load ONNX Runtime");
    std::fs::remove_file(fake).unwrap();
    c.assert_nothing_written();
}

#[test]
fn cuda_without_a_gpu() {
    let c = case();
    let out = c.run(&c.content, &["--device", "cuda"]);
    assert_one_line_error(&out, 1, "--device cuda");
    c.assert_nothing_written();
}

#[test]
fn auto_device_falls_back_to_the_cpu_with_one_notice() {
    let c = case();
    let out = c
        .command()
        .args(["--size", "32", "--iterations", "1"])
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notices = stderr.lines().filter(|l| l.starts_with("note: ")).count();
    assert_eq!(notices, 1, "{stderr}");
}

#[test]
fn nonsense_option_values_are_usage_errors() {
    let c = case();
    for (args, needle) in [
        (vec!["--size", "0"], "--size"),
        (vec!["--size", "big"], "--size"),
        (vec!["--iterations", "0"], "--iterations"),
        (vec!["--style-weight", "-1"], "--style-weight"),
        (vec!["--content-weight", "nan"], "--content-weight"),
        (vec!["--tv-weight", "inf"], "--tv-weight"),
        (vec!["--style-scale", "0"], "--style-scale"),
        (vec!["--style-scale", "1000"], "--style-scale"),
        (vec!["--learning-rate", "-0.1"], "--learning-rate"),
        (vec!["--device", "tpu"], "--device"),
        (vec!["--optimizer", "sgd"], "--optimizer"),
        (vec!["--precision", "fp16"], "--precision"),
        (vec!["--engine", "gpu"], "--engine"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--style-blend", "1,x"], "--style-blend"),
        (vec!["--frobnicate"], "--frobnicate"),
    ] {
        // Without the defaults `run` adds, so that each value is judged, not a repeated flag.
        let out = image_command(&c.content, &c.style, &c.out, &tiny_model())
            .arg("-q")
            .args(&args)
            .output()
            .unwrap();
        assert_one_line_error(&out, 2, needle);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("multiple times"), "{args:?}: {stderr}");
    }
    c.assert_nothing_written();
}

#[test]
fn tf32_needs_cuda() {
    let c = case();
    let out = c.run(&c.content, &["--device", "cpu", "--precision", "tf32"]);
    assert_one_line_error(&out, 2, "--precision tf32 needs CUDA");
    c.assert_nothing_written();
}

#[test]
fn blend_weights_must_match_the_styles() {
    let c = case();
    let out = c.run(&c.content, &["--style-blend", "1,2"]);
    // Bad usage that clap cannot check: exit code 2, as clap's own.
    assert_one_line_error(&out, 2, "--style-blend has 2 weights");
    c.assert_nothing_written();
}

#[test]
fn missing_init_image() {
    let c = case();
    let out = c.run(&c.content, &["--init", "/nonexistent/init.png"]);
    assert_one_line_error(&out, 1, "cannot open init image");
    c.assert_nothing_written();
}

#[test]
fn output_in_a_missing_directory_or_unknown_format() {
    let c = case();
    let missing_dir = c.dir.path().join("no/such/dir/out.png");
    let out = image_command(&c.content, &c.style, &missing_dir, &tiny_model())
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "does not exist");
    let unknown = c.dir.path().join("out.xyz");
    let out = image_command(&c.content, &c.style, &unknown, &tiny_model())
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "unknown image format");
    let out = c.run(&c.content, &["--stats", "/nonexistent/dir/stats.json"]);
    assert_one_line_error(&out, 1, "cannot write statistics");
    c.assert_nothing_written();
}

#[test]
fn missing_required_arguments() {
    let out = stylize().args(["image", "x.png"]).output().unwrap();
    assert_one_line_error(&out, 2, "required");
    let out = stylize().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn outputs_never_overwrite_inputs() {
    let c = case();
    let before = |p: &Path| std::fs::read(p).unwrap();
    let (content, style) = (before(&c.content), before(&c.style));
    let link = c.dir.path().join("link.png");
    std::os::unix::fs::symlink(&c.style, &link).unwrap();
    let run = |out: &Path, extra: &[&str]| {
        image_command(&c.content, &c.style, out, &tiny_model())
            .args(["--size", "32", "--iterations", "2", "-q"])
            .args(extra)
            .output()
            .unwrap()
    };
    let content_path = c.content.to_str().unwrap();
    let out_path = c.out.to_str().unwrap();
    assert_one_line_error(&run(&c.content, &[]), 1, "is the content image");
    assert_one_line_error(&run(&link, &[]), 1, "is the style image");
    assert_one_line_error(&run(&c.out, &["--stats", content_path]), 1, "--stats file");
    assert_one_line_error(&run(&c.out, &["--stats", out_path]), 1, "are the same file");
    assert_eq!(before(&c.content), content, "the content image was changed");
    assert_eq!(before(&c.style), style, "the style image was changed");
    assert!(!c.out.exists());
}

#[test]
fn levels_and_tolerance_out_of_range() {
    let c = case();
    // Usage errors, caught by the command line.
    for (args, needle) in [
        (vec!["--levels", "0"], "--levels"),
        (vec!["--levels", "many"], "--levels"),
        (vec!["--tolerance", "-0.01"], "--tolerance"),
        (vec!["--tolerance", "nan"], "--tolerance"),
        (vec!["--precondition", "pyramid"], "--precondition"),
    ] {
        let out = c.run(&c.content, &args);
        assert_one_line_error(&out, 2, needle);
    }
    // A level under the model's 16-pixel minimum (the image is 32×24): says what fits.
    let out = c.run(&c.content, &["--levels", "9"]);
    assert_one_line_error(&out, 1, "--levels 9 does not fit a 32×24 image");
    assert_one_line_error(&out, 1, "the most that fit is 1");
    let out = c.run(&c.content, &["--levels", "2"]);
    assert_one_line_error(&out, 1, "under the model's minimum of 16");
    // --iterations with one count per level (run() gives --iterations itself).
    let iterations = |args: &[&str]| {
        c.command()
            .args(["--size", "32", "-q"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = iterations(&["--iterations", "10,0"]);
    assert_one_line_error(&out, 2, "is not a number of iterations");
    let out = iterations(&["--iterations", "5,5,5"]);
    assert_one_line_error(&out, 1, "--iterations gives 3 levels");
    let out = iterations(&["--iterations", "5,5", "--levels", "1"]);
    assert_one_line_error(&out, 2, "give one per level");
    c.assert_nothing_written();
}

#[test]
fn sizes_that_cannot_fit_in_memory_are_refused_up_front() {
    let c = case();
    let started = std::time::Instant::now();
    // `timeout` ends a run that goes ahead anyway (before the estimate, it ran away: 7 GB in 20 s).
    let out = std::process::Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(env!("CARGO_BIN_EXE_stylize"))
        .args(image_command(&c.content, &c.style, &c.out, &tiny_model()).get_args())
        .args([
            "--size",
            "8192",
            "--style-scale",
            "10",
            "--device",
            "cpu",
            "-q",
        ])
        .output()
        .unwrap();
    assert_one_line_error(&out, 1, "needs at least");
    assert_one_line_error(&out, 1, "use a smaller --size or --style-scale");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    c.assert_nothing_written();
}

#[test]
fn truncated_jpegs_are_used_with_one_warning_each() {
    let c = case();
    let whole = c.dir.path().join("photo.jpg");
    write_content(&whole, 200, 150);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = c.dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let only_line = |out: &Output| {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        stderr.trim_end().to_string()
    };
    let warning = |what: &str| {
        format!(
            "warning: {what} '{}' is truncated (no JPEG end marker); its missing part is grey",
            cut.display()
        )
    };

    assert_eq!(only_line(&c.run(&cut, &[])), warning("content image"));
    assert!(c.out.exists());
    let out = c.run(&c.content, &["--style", cut.to_str().unwrap(), "-y"]);
    assert_eq!(only_line(&out), warning("style image"));
    let out = c.run(&whole, &["--style", whole.to_str().unwrap(), "-y"]);
    assert_eq!(only_line(&out), "", "a whole JPEG passes without a word");
}
