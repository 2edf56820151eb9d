//! Shared set-up for rvirtd's live tests: a rooted host, cached capabilities, and a
//! guard that stops QEMU and cleans up even when a test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use confine::cgroup::CgroupLayout;
use confine::dac::PasswdDb;
use confine::launcher::Launcher;
use host_config::HostConfig;
use qemu::{Capabilities, CapsCache};
use rvirtd::launch::{Host, Running};
use rvirtd::paths::Paths;

pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (it launches QEMU confined)"
    );
}

pub fn require_qemu() -> PathBuf {
    let p = PathBuf::from("/usr/bin/qemu-system-x86_64");
    assert!(
        p.exists(),
        "qemu-system-x86_64 is missing: install qemu-system-x86 (tools/setup-host.sh does)"
    );
    assert!(
        PasswdDb::load()
            .unwrap()
            .user_by_name("rvirt-qemu")
            .is_some(),
        "the QEMU account rvirt-qemu is missing: run tools/setup-host.sh"
    );
    p
}

/// A host rooted in `root` with `qemu.conf` text (empty = defaults).
pub fn host(root: &Path, qemu_conf: &str) -> Host {
    let paths = Paths::rooted(root);
    for d in paths.dirs() {
        std::fs::create_dir_all(d).unwrap();
    }
    let (config, _warnings) = HostConfig::parse(qemu_conf, "qemu.conf").unwrap();
    Host {
        paths,
        config,
        launcher: Launcher::new(env!("CARGO_BIN_EXE_rvirtd")),
        cgroups: CgroupLayout::detect_host().ok(),
        passwd: PasswdDb::load().unwrap(),
        owners: Default::default(),
        selinux: None,
    }
}

pub async fn caps(root: &Path) -> Capabilities {
    let cache = CapsCache::new(root.join("caps"));
    cache
        .get(Path::new("/usr/bin/qemu-system-x86_64"))
        .await
        .unwrap()
}

/// Kills QEMU and runs the cleanup when dropped, so a failing assertion leaves
/// nothing behind.
pub struct Guard(pub Option<Running>);

impl Guard {
    pub fn get(&mut self) -> &mut Running {
        self.0.as_mut().unwrap()
    }

    /// Stops QEMU (SIGKILL), reaps it and undoes the start; returns the cleanup
    /// problems.
    pub fn stop(&mut self) -> Vec<String> {
        let Some(mut r) = self.0.take() else {
            return Vec::new();
        };
        if let Some(mut c) = r.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::take(&mut r.cleanup).run(&Default::default())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for p in self.stop() {
            eprintln!("cleanup: {p}");
        }
    }
}

/// Waits until a line of the serial log ends with `marker` (QEMU writes CRLF).
pub fn wait_for(path: &Path, marker: &str, timeout: std::time::Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path)
            .unwrap_or_default()
            .replace('\r', "");
        if text.lines().any(|l| l.ends_with(marker)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no '{marker}' within {timeout:?}; serial:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// How many of libvirt's remembered-owner xattrs (`trusted.libvirt.security.*`) a
/// file carries.
pub fn remembered_owner_xattrs(path: &Path) -> usize {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::listxattr(path, &mut buf).unwrap_or(0);
    buf[..n]
        .split(|b| *b == 0)
        .filter(|n| n.starts_with(b"trusted.libvirt.security"))
        .count()
}
