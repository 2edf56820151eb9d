//! Locating (and building on demand) the test guest.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use rustix::fs::{FlockOperation, flock};

use crate::require::require_binary;

/// Environment variable: build the guest here instead of `<repo>/.guest`.
const ENV_GUEST_DIR: &str = "TESTKIT_GUEST_DIR";
/// Environment variable: `1` runs the builder script even when the stamp looks current,
/// so that a newer kernel package is picked up.
const ENV_REFRESH: &str = "TESTKIT_GUEST_REFRESH";

/// Paths of the built test guest.  All files are shared between tests: treat them as
/// read-only and copy a disk before giving it to a VM that may write to it (QEMU also
/// takes a lock on a disk image, so two VMs cannot use one file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// The directory holding everything (`<repo>/.guest` by default).
    pub dir: PathBuf,
    /// Uncompressed kernel ELF with a PVH note; boots with `-kernel` about twice as fast
    /// under TCG as the bzImage.
    pub vmlinux: PathBuf,
    /// The kernel's bzImage as shipped by Debian.
    pub vmlinuz: PathBuf,
    /// `initramfs.gz`: busybox, modules, `/init`, power-button handler.
    pub initramfs: PathBuf,
    /// A 1 MiB raw disk image of zeros.
    pub disk_raw: PathBuf,
    /// A 1 MiB qcow2 image, present only if `qemu-img` existed at build time.
    pub disk_qcow2: Option<PathBuf>,
}

impl Guest {
    fn in_dir(dir: &Path) -> Guest {
        let qcow2 = dir.join("disk.qcow2");
        Guest {
            dir: dir.to_path_buf(),
            vmlinux: dir.join("vmlinux"),
            vmlinuz: dir.join("vmlinuz"),
            initramfs: dir.join("initramfs.gz"),
            disk_raw: dir.join("disk.raw"),
            disk_qcow2: qcow2.is_file().then_some(qcow2),
        }
    }

    /// Copies `disk.raw` into `dir` (a test's own directory) and returns the copy's path.
    pub fn copy_disk_raw(&self, dir: &Path) -> PathBuf {
        copy_into(&self.disk_raw, dir)
    }

    /// Copies `disk.qcow2` into `dir`; `None` when the guest has no qcow2 image.
    pub fn copy_disk_qcow2(&self, dir: &Path) -> Option<PathBuf> {
        self.disk_qcow2.as_deref().map(|src| copy_into(src, dir))
    }

    fn files(&self) -> [&Path; 4] {
        [
            &self.vmlinux,
            &self.vmlinuz,
            &self.initramfs,
            &self.disk_raw,
        ]
    }
}

fn copy_into(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join(src.file_name().expect("guest files have names"));
    fs::copy(src, &dst).unwrap_or_else(|e| {
        panic!(
            "testkit: copying {} to {} failed: {e}",
            src.display(),
            dst.display()
        )
    });
    dst
}

/// The root of the rvirt checkout (found from this crate's `CARGO_MANIFEST_DIR`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .nth(2)
        .expect("crates/testkit has two parents");
    assert!(
        root.join("tools/build-test-guest.sh").is_file(),
        "testkit: {} does not look like the rvirt repository (no tools/build-test-guest.sh)",
        root.display()
    );
    root.to_path_buf()
}

/// Returns the test guest, building it with `tools/build-test-guest.sh` first if it is
/// missing or stale.
///
/// Concurrent test processes serialize on an exclusive `flock` on `<guest dir>/.lock`, so
/// only one of them builds.  The first call in a process does the work; later calls
/// return a clone.  Panics (failing the test) with the builder's output if the build
/// fails.
///
/// The cached build is used as is when its stamp matches the requested kernel
/// (`KERNEL_PKG` / `KERNEL_VERSION` / `GUEST_EXTRA_MODULES`, as for the script), the
/// script is not newer than the stamp and all files exist.  Set `TESTKIT_GUEST_REFRESH=1`
/// to run the script anyway (it then also follows the `linux-image-amd64` meta-package
/// to a newer kernel).  `TESTKIT_GUEST_DIR` overrides the directory.
pub fn guest() -> Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(locate_or_build).clone()
}

fn locate_or_build() -> Guest {
    let root = repo_root();
    let script = root.join("tools/build-test-guest.sh");
    let dir = env::var_os(ENV_GUEST_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".guest"));
    fs::create_dir_all(&dir).unwrap_or_else(|e| {
        panic!(
            "testkit: cannot create the guest directory {}: {e}",
            dir.display()
        )
    });

    let _lock = lock_exclusive(&dir.join(".lock"));
    let refresh = env::var(ENV_REFRESH).is_ok_and(|v| v == "1");
    if !refresh && let Some(guest) = current_build(&dir, &script) {
        return guest;
    }

    let bash = require_binary("bash");
    let started = Instant::now();
    let output = Command::new(bash)
        .arg(&script)
        .arg(&dir)
        // testkit boots `vmlinux`, so never let the environment switch it off.
        .env("GUEST_VMLINUX", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        panic!(
            "testkit: building the test guest failed ({}):\n\
             $ bash {} {}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
            output.status,
            script.display(),
            dir.display()
        );
    }
    eprintln!(
        "testkit: {} ran in {:.1?}\n{stdout}",
        script.display(),
        started.elapsed()
    );
    let guest = Guest::in_dir(&dir);
    if let Some(missing) = guest.files().into_iter().find(|f| !is_nonempty_file(f)) {
        panic!(
            "testkit: the guest builder succeeded but {} is missing\n--- stderr ---\n{stderr}",
            missing.display()
        );
    }
    guest
}

/// An open file holding an exclusive `flock`, released when dropped.
fn lock_exclusive(path: &Path) -> File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("testkit: cannot open lock file {}: {e}", path.display()));
    loop {
        match flock(&file, FlockOperation::LockExclusive) {
            Ok(()) => return file,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("testkit: flock({}) failed: {e}", path.display()),
        }
    }
}

fn is_nonempty_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
}

fn stamp_value<'a>(stamp: &'a str, key: &str) -> Option<&'a str> {
    stamp.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// The cached guest in `dir` if it is complete and was built for the current request.
fn current_build(dir: &Path, script: &Path) -> Option<Guest> {
    let stamp_path = dir.join(".stamp");
    let stamp = fs::read_to_string(&stamp_path).ok()?;

    let kernel_pkg = env::var("KERNEL_PKG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "linux-image-amd64".to_owned());
    let request = match env::var("KERNEL_VERSION").ok().filter(|v| !v.is_empty()) {
        Some(version) => format!("{kernel_pkg}={version}"),
        None => kernel_pkg,
    };
    let extra_modules = env::var("GUEST_EXTRA_MODULES").unwrap_or_default();
    if stamp_value(&stamp, "kernel_request") != Some(request.as_str())
        || stamp_value(&stamp, "extra_modules") != Some(extra_modules.as_str())
        || stamp_value(&stamp, "vmlinux") != Some("1")
    {
        return None;
    }

    // An edited builder script means the guest may be different now.
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    match (modified(script), modified(&stamp_path)) {
        (Some(script_time), Some(stamp_time)) if script_time <= stamp_time => {}
        _ => return None,
    }

    let guest = Guest::in_dir(dir);
    let complete = guest.files().into_iter().all(is_nonempty_file);
    complete.then_some(guest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_values() {
        let stamp = "kernel_request=linux-image-amd64\nvmlinux=1\nextra_modules=\n";
        assert_eq!(
            stamp_value(stamp, "kernel_request"),
            Some("linux-image-amd64")
        );
        assert_eq!(stamp_value(stamp, "vmlinux"), Some("1"));
        assert_eq!(stamp_value(stamp, "extra_modules"), Some(""));
        assert_eq!(stamp_value(stamp, "kernel"), None);
    }

    #[test]
    fn repo_root_has_the_builder() {
        assert!(repo_root().join("tools/build-test-guest.sh").is_file());
    }

    #[test]
    fn incomplete_build_is_not_current() {
        let dir = crate::test_dir();
        let script = repo_root().join("tools/build-test-guest.sh");
        assert!(current_build(dir.path(), &script).is_none());
        fs::write(
            dir.path().join(".stamp"),
            "kernel_request=linux-image-amd64\nextra_modules=\nvmlinux=1\n",
        )
        .unwrap();
        // Stamp is newer than the script but the files are missing.
        assert!(current_build(dir.path(), &script).is_none());
    }

    #[test]
    fn lock_is_exclusive_between_open_files() {
        let dir = crate::test_dir();
        let path = dir.path().join(".lock");
        let held = lock_exclusive(&path);
        let other = File::open(&path).unwrap();
        assert_eq!(
            flock(&other, FlockOperation::NonBlockingLockExclusive),
            Err(rustix::io::Errno::WOULDBLOCK)
        );
        drop(held);
        flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
    }
}
