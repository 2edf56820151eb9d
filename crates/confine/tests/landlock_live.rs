//! Live Landlock tests. Each test re-runs this test binary as a child process (with
//! `RVIRT_LANDLOCK_CHILD` set) that applies the rules and then opens files or execs
//! QEMU, so the test runner itself is never restricted.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use confine::landlock::{Enforcement, apply, default_read_paths};
use confine::spec::LandlockRules;

const CHILD: &str = "RVIRT_LANDLOCK_CHILD";
const RULES: &str = "RVIRT_LANDLOCK_RULES";
const ARG: &str = "RVIRT_LANDLOCK_ARG";

fn qemu() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("RVIRT_TEST_QEMU").unwrap_or_else(|_| "/usr/bin/qemu-system-x86_64".into()),
    );
    assert!(
        p.exists(),
        "{} not found: install qemu-system-x86 (or set RVIRT_TEST_QEMU)",
        p.display()
    );
    p
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn child_rules() -> LandlockRules {
    serde_json::from_str(&std::env::var(RULES).unwrap()).unwrap()
}

/// Run test `name` of this binary in a child with `rules` (and an argument), feeding
/// `stdin`.
fn run_child(name: &str, rules: &LandlockRules, arg: &str, stdin: &str) -> Output {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(RULES, serde_json::to_string(rules).unwrap())
        .env(ARG, arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn try_open(p: &Path, write: bool) -> String {
    let r = std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .create(write)
        .truncate(false)
        .open(p);
    match r {
        Ok(_) => "ok".into(),
        Err(e) => match e.raw_os_error() {
            Some(libc::EACCES) => "EACCES".into(),
            Some(n) => format!("errno {n}"),
            None => e.to_string(),
        },
    }
}

#[test]
fn landlock_live_allows_listed_denies_others() {
    if in_child() {
        let rules = child_rules();
        let st = apply(&rules).expect("apply");
        println!("STATUS abi={} enforcement={:?}", st.abi, st.enforcement);
        let base = PathBuf::from(std::env::var(ARG).unwrap());
        for (tag, p, w) in [
            ("read_allowed", base.join("ro/a.txt"), false),
            ("write_in_ro", base.join("ro/a.txt"), true),
            ("create_in_rw", base.join("rw/new.txt"), true),
            ("read_denied", base.join("denied/b.txt"), false),
            ("etc_hostname", PathBuf::from("/etc/hostname"), false),
        ] {
            println!("RESULT {tag} {}", try_open(&p, w));
        }
        let listing = std::fs::read_dir(base.join("ro"))
            .map(|_| "ok")
            .unwrap_or("EACCES");
        println!("RESULT list_ro {listing}");
        let listing = std::fs::read_dir(base.join("denied"))
            .map(|_| "ok")
            .unwrap_or("EACCES");
        println!("RESULT list_denied {listing}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for d in ["ro", "rw", "denied"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    std::fs::write(dir.path().join("ro/a.txt"), "a").unwrap();
    std::fs::write(dir.path().join("denied/b.txt"), "b").unwrap();
    let rules = LandlockRules {
        read: vec![dir.path().join("ro")],
        read_write: vec![dir.path().join("rw")],
    };
    let out = run_child(
        "landlock_live_allows_listed_denies_others",
        &rules,
        dir.path().to_str().unwrap(),
        "",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest prints "test NAME ... " on the same line as our first output.
    let status = stdout
        .lines()
        .find_map(|l| l.split_once("STATUS ").map(|(_, s)| s))
        .unwrap_or_else(|| panic!("no STATUS in {stdout}"));
    // Full, or Partial when the kernel's ABI is older than the newest the crate knows.
    assert!(!status.contains("enforcement=None"), "{status}");
    let abi: u32 = status
        .split_whitespace()
        .find_map(|w| w.strip_prefix("abi="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(abi >= 1, "{status}");
    let result = |tag: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("RESULT {tag} ")))
            .unwrap_or_else(|| panic!("no {tag} in {stdout}"))
            .to_owned()
    };
    assert_eq!(result("read_allowed"), "ok");
    assert_eq!(result("write_in_ro"), "EACCES");
    assert_eq!(result("create_in_rw"), "ok");
    assert_eq!(result("read_denied"), "EACCES");
    assert_eq!(result("etc_hostname"), "EACCES");
    assert_eq!(result("list_ro"), "ok");
    assert_eq!(result("list_denied"), "EACCES");
    assert!(dir.path().join("rw/new.txt").exists());
}

/// In the child: apply the rules, then exec QEMU with the given machine options and a
/// QMP monitor on stdio. Never returns on success.
fn exec_qemu_in_child() {
    let rules = child_rules();
    let arg = std::env::var(ARG).unwrap();
    let (scratch, machine) = arg.split_once('|').unwrap();
    let st = apply(&rules).expect("apply");
    assert_ne!(st.enforcement, Enforcement::None);
    eprintln!("landlock abi {} {:?}", st.abi, st.enforcement);
    let err = Command::new(qemu())
        .args([
            "-machine",
            machine,
            "-S",
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
        ])
        .args(["-m", "64", "-qmp", "stdio", "-pidfile"])
        .arg(Path::new(scratch).join("qemu.pid"))
        .arg("-chardev")
        .arg(format!("file,id=log0,path={scratch}/chardev.log"))
        .env_clear()
        .exec();
    panic!("exec qemu: {err}");
}

fn qemu_under_landlock(test: &str, machine: &str, extra_rw: &[&str]) {
    let emulator = qemu();
    let scratch = tempfile::tempdir().unwrap();
    let mut rules = LandlockRules {
        read: default_read_paths(&emulator),
        read_write: vec![scratch.path().to_path_buf()],
    };
    rules.read_write.extend(extra_rw.iter().map(PathBuf::from));
    let out = run_child(
        test,
        &rules,
        &format!("{}|{machine}", scratch.path().display()),
        "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n\
         {\"execute\":\"quit\"}\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("\"QMP\"") && stdout.contains("\"prelaunch\""),
        "QEMU did not start under Landlock (read: {:?})\nstatus {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        rules.read,
        out.status
    );
    // QEMU removes its pidfile on exit; the chardev file stays.
    assert!(
        scratch.path().join("chardev.log").exists(),
        "chardev file not created in the rw dir"
    );
}

#[test]
fn landlock_live_qemu_machine_none() {
    if in_child() {
        exec_qemu_in_child();
        return;
    }
    qemu_under_landlock("landlock_live_qemu_machine_none", "none", &[]);
}

#[test]
fn landlock_live_qemu_pc_tcg() {
    if in_child() {
        exec_qemu_in_child();
        return;
    }
    qemu_under_landlock("landlock_live_qemu_pc_tcg", "pc,accel=tcg", &[]);
}

#[test]
fn landlock_live_qemu_pc_kvm() {
    if in_child() {
        exec_qemu_in_child();
        return;
    }
    assert!(
        Path::new("/dev/kvm").exists(),
        "/dev/kvm is missing: this test needs KVM"
    );
    qemu_under_landlock("landlock_live_qemu_pc_kvm", "pc,accel=kvm", &["/dev/kvm"]);
}
