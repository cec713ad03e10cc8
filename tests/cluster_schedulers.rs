//! The schedulers' files run for real: the Slurm array job and its join on a one-node cluster the
//! test starts and stops itself; the Kubernetes Indexed Job validated against the schemas.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;

/// A one-node Slurm cluster of its own, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    /// Starts one in `dir`, or says why it cannot.
    fn start(dir: &Path) -> Result<Cluster, String> {
        let missing: Vec<&str> = ["munged", "slurmctld", "slurmd", "sbatch"]
            .into_iter()
            .filter(|t| {
                !Command::new("sh")
                    .args(["-c", &format!("command -v {t}")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} not installed: scripts/setup.sh installs slurmctld slurmd slurm-client munge",
                missing.join(", ")
            ));
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("a local Slurm cluster needs root".into());
        }
        let out = Command::new(root().join("scripts/cluster/local-slurm.sh"))
            .arg("start")
            .arg(dir)
            .arg("2")
            .output()
            .unwrap();
        assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let conf = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .unwrap()
            .to_string();
        Ok(Cluster {
            dir: dir.to_path_buf(),
            conf,
        })
    }

    /// A Slurm client command on this cluster.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/cluster/local-slurm.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn slurm_array_job_renders_and_joins() {
    let dir = setup();
    let d = dir.path();
    let slurm = tempfile::tempdir().unwrap();
    let cluster = match Cluster::start(slurm.path()) {
        Ok(cluster) => cluster,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    plan(d, 4, 3);
    let out = cluster
        .command(
            root()
                .join("scripts/cluster/slurm-render.sbatch")
                .to_str()
                .unwrap(),
        )
        .args(["plan.json", "parts", "joined.mp4", "--"])
        .args(settings("clip.mp4", QUICK))
        .env("STYLIZE", env!("CARGO_BIN_EXE_stylize"))
        .env("SLURM_PARALLEL", "2")
        .env(
            "SBATCH_ARGS",
            format!(
                "--chdir={} --output={}/slurm-%A_%a.out",
                d.display(),
                d.display()
            ),
        )
        .current_dir(d)
        .output()
        .unwrap();
    assert_success(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("(4 segments)"), "{said}");
    let started = Instant::now();
    loop {
        let queue = cluster
            .command("squeue")
            .args(["-h", "-o", "%i %T"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the jobs did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let logs: Vec<String> = files_in(d)
        .into_iter()
        .filter(|n| n.starts_with("slurm-"))
        .map(|n| std::fs::read_to_string(d.join(&n)).unwrap())
        .collect();
    assert_eq!(logs.len(), 5, "four tasks and the join: {logs:?}");
    assert!(
        d.join("joined.mp4").exists(),
        "no joined output; logs: {logs:?}"
    );
    assert_same_timing(&d.join("joined.mp4"), &one_piece(d));
}

#[test]
fn kubernetes_jobs_validate_against_the_schemas() {
    let local = root().join(".venv/bin/kubernetes-validate");
    let validator = if local.exists() {
        local
    } else {
        PathBuf::from("kubernetes-validate")
    };
    let validate = |path: &Path| {
        Command::new(&validator)
            .args(["--strict", "--quiet"])
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("kubernetes-validate: {e}: scripts/setup.sh installs it"))
    };
    let yaml = root().join("scripts/cluster/k8s-render.yaml");
    let out = validate(&yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(text.contains("completionMode: Indexed"));
    assert!(text.contains("--segment\", \"auto\""));
    // The validator catches a broken Job.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text.replace("completions: 4", "completions: four")).unwrap();
    assert!(!validate(&broken).status.success());
}
