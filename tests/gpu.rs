//! The GPU path where there is no GPU: `stylize doctor` reports, `--device cuda` fails with one line
//! naming what is missing and `--device auto` says why it runs on the CPU. A stand-in NVIDIA driver
//! (a small `libcuda.so.1` built with cc, put on LD_LIBRARY_PATH) gives the driver's answers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// The driver API calls stylize makes, answering as a driver for CUDA $FAKE_CUDA_VERSION with one GPU.
const STAND_IN_DRIVER: &str = r#"
#include <stdlib.h>
#include <string.h>
int cuDriverGetVersion(int *v) { const char *s = getenv("FAKE_CUDA_VERSION"); *v = s ? atoi(s) : 13000; return 0; }
int cuInit(unsigned flags) { return 0; }
int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
int cuDeviceGetName(char *name, int len, int d) { strncpy(name, "Stand-in GPU", len); return 0; }
int cuGetErrorName(int e, const char **s) { *s = "CUDA_ERROR_STAND_IN"; return 0; }
"#;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        write_content(&dir.path().join("content.png"), 40, 30);
        write_style(&dir.path().join("style.png"), 32, 32);
        Case { dir }
    }

    /// Builds the stand-in driver; returns its folder.
    fn stand_in_driver(&self) -> PathBuf {
        let folder = self.dir.path().join("driver");
        std::fs::create_dir_all(&folder).unwrap();
        let source = folder.join("cuda.c");
        std::fs::write(&source, STAND_IN_DRIVER).unwrap();
        let built = Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(folder.join("libcuda.so.1"))
            .arg(&source)
            .status()
            .expect("run cc (scripts/setup.sh installs clang)");
        assert!(built.success(), "cc failed");
        folder
    }

    /// `stylize ARGS` with no CUDA settings from the environment, and the driver folder first on
    /// the loader's path when given.
    fn stylize(&self, args: &[&str], driver: Option<(&Path, &str)>) -> Output {
        let mut cmd = stylize();
        for var in ["STYLIZE_CUDA_LIBS", "VIRTUAL_ENV", "CUDA_HOME", "CUDA_PATH"] {
            cmd.env_remove(var);
        }
        if let Some((folder, version)) = driver {
            cmd.env("LD_LIBRARY_PATH", folder)
                .env("FAKE_CUDA_VERSION", version);
        }
        cmd.args(args).output().unwrap()
    }

    /// `stylize image` with the tiny model, one iteration, on `device`.
    fn image(&self, device: &str, driver: Option<(&Path, &str)>) -> Output {
        let d = self.dir.path();
        let (content, style, out) = (
            d.join("content.png"),
            d.join("style.png"),
            d.join("out.png"),
        );
        let model = tiny_model();
        let args = [
            "image",
            path(&content),
            "--style",
            path(&style),
            "-o",
            path(&out),
            "--model",
            path(&model),
            "--size",
            "32",
            "--iterations",
            "1",
            "--device",
            device,
        ];
        self.stylize(&args, driver)
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whether this machine has an NVIDIA driver (then the no-driver cases cannot be shown here).
fn has_driver() -> bool {
    stylize::model::cuda::Driver::load().is_ok()
}

/// The one `note:` line of a successful run.
fn notice(out: &Output) -> String {
    assert_success(out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    notes[0].to_string()
}

#[test]
fn doctor_reports_the_runtime_and_providers_and_exits_0() {
    let c = Case::new();
    let out = c.stylize(&["doctor"], None);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ONNX Runtime 1."), "{stdout}");
    let providers = stdout
        .lines()
        .find(|l| l.starts_with("execution providers: "))
        .unwrap_or_else(|| panic!("no providers line: {stdout}"));
    assert!(providers.contains("CPUExecutionProvider"), "{stdout}");
    for library in ["libcudart.so.13", "libcublasLt.so.13", "libcudnn.so.9"] {
        assert!(stdout.contains(&format!("  {library}")), "{stdout}");
    }
    assert!(stdout.contains("and the loader's path):"), "{stdout}");
    if !has_driver() {
        assert!(
            stdout.contains("NVIDIA driver: none: no NVIDIA driver found (libcuda.so.1"),
            "{stdout}"
        );
        assert!(stdout.contains("\nGPUs: none\n"), "{stdout}");
        assert!(
            stdout.contains("--device cuda: cannot start: no NVIDIA driver found"),
            "{stdout}"
        );
    }
}

#[test]
fn cuda_without_a_driver_fails_naming_the_driver() {
    if has_driver() {
        eprintln!("skipped: this machine has an NVIDIA driver");
        return;
    }
    let c = Case::new();
    let out = c.image("cuda", None);
    assert_one_line_error(
        &out,
        1,
        "cannot use --device cuda:0: no NVIDIA driver found (libcuda.so.1: ",
    );
    assert!(!c.dir.path().join("out.png").exists());
    let note = notice(&c.image("auto", None));
    assert!(
        note.starts_with("note: running on the CPU: no NVIDIA driver found (libcuda.so.1: "),
        "{note}"
    );
}

#[test]
fn a_driver_older_than_cuda_13_is_named_with_its_version() {
    let c = Case::new();
    let driver = c.stand_in_driver();
    let old = Some((driver.as_path(), "12040"));
    let message = "the NVIDIA driver supports CUDA 12.4 but ONNX Runtime's GPU build needs CUDA 13: update the driver (580 or newer)";
    let out = c.image("cuda", old);
    assert_one_line_error(&out, 1, &format!("cannot use --device cuda:0: {message}"));
    let note = notice(&c.image("auto", old));
    assert_eq!(note, format!("note: running on the CPU: {message}"));
    let out = c.stylize(&["doctor"], old);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NVIDIA driver: CUDA 12.4\n"), "{stdout}");
    assert!(stdout.contains("GPU cuda:0: Stand-in GPU\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("--device cuda: cannot start: {message}")),
        "{stdout}"
    );
}

#[test]
fn past_the_driver_check_the_next_missing_piece_is_named() {
    let c = Case::new();
    let driver = c.stand_in_driver();
    let current = Some((driver.as_path(), "13000"));
    let out = c.image("cuda:1", current);
    assert_one_line_error(
        &out,
        1,
        "cannot use --device cuda:1: there is no GPU 1: the NVIDIA driver sees 1 (cuda:0 to cuda:0)",
    );
    let doctor = c.stylize(&["doctor"], current);
    assert_success(&doctor);
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert!(stdout.contains("NVIDIA driver: CUDA 13.0\n"), "{stdout}");
    let out = c.image("cuda", current);
    if stdout.contains("CUDAExecutionProvider") {
        // The GPU build (scripts/setup.sh --gpu): the stand-in driver cannot run its provider.
        assert_one_line_error(&out, 1, "cannot use --device cuda:0: ");
    } else {
        assert_one_line_error(
            &out,
            1,
            "cannot use --device cuda:0: this ONNX Runtime has no CUDA provider (the CPU build): run scripts/setup.sh --gpu",
        );
        assert!(
            stdout.contains("--device cuda: cannot start: this ONNX Runtime has no CUDA provider"),
            "{stdout}"
        );
    }
}
