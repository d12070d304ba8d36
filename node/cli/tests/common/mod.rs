//! Helpers the `credex` binary tests share: run the binary, expect success
//! or failure, and keep a node process that is killed when dropped.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `credex ARGS` and return what it did.
pub fn credex(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credex"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("credex runs")
}

/// Run `credex ARGS`, expect success, return its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = credex(args);
    assert!(
        out.status.success(),
        "credex {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run `credex ARGS`, expect failure, return its standard error.
pub fn fails(args: &[&str]) -> String {
    let out = credex(args);
    assert!(!out.status.success(), "credex {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// `credex dev init` a federation in `DIR/fed` (returned), its nodes on
/// ports from `first_port` plus an offset by process id, so tests running
/// at once on one machine do not collide.
pub fn dev_federation(dir: &Path, first_port: u16) -> PathBuf {
    let fed = dir.join("fed");
    let base = first_port + (std::process::id() % 2000) as u16 * 4;
    ok(&["dev", "init", p(&fed), "--base-port", &base.to_string()]);
    fed
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A `credex node run` process, killed when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `credex node run --config CONFIG` in the background.
pub fn start_node(config: &Path) -> Daemon {
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_credex"))
            .args(["node", "run", "--config", p(config)])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Send SIGTERM to a node process and wait (at most 20 s) for it to exit.
#[cfg(unix)]
pub fn terminate(d: &mut Daemon) -> std::process::ExitStatus {
    let pid = d.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = d.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "node did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
