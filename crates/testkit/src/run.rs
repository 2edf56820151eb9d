//! Running a client program (virsh, python, rvirt) from a test with a deadline.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` with stdin from /dev/null, capturing stdout and stderr, and kills it if
/// it is still running after `timeout` (then the test fails). A program that cannot be
/// started is a failure too: `missing` says what to install.
pub fn run_bounded(mut cmd: Command, timeout: Duration, missing: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} could not be run ({missing}): {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    // Both pipes are drained at once so a chatty child cannot block on a full pipe.
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the client") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// A binary of another workspace package, next to `known` (a binary cargo built for
/// this test, e.g. `env!("CARGO_BIN_EXE_rvirt")`), brought up to date with
/// `cargo build -p PACKAGE --bin BIN` in the same target directory and profile (a
/// no-op when fresh: a workspace test run has built it already; `cargo test -p X`
/// does not build other packages' binaries).
pub fn sibling_binary(known: &std::path::Path, package: &str, bin: &str) -> std::path::PathBuf {
    let path = known.with_file_name(bin);
    let profile_dir = known.parent().expect("binary in a profile directory");
    let target_dir = profile_dir.parent().expect("profile in a target directory");
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(["build", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(crate::repo_root());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        c.arg("--release");
    }
    let o = run_bounded(c, Duration::from_secs(900), "cargo");
    assert!(
        o.status.success(),
        "building {bin} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    path
}
