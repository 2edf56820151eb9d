//! Prerequisite checks that fail (never skip) a test.

use std::env;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Directories searched after `$PATH`: root's tools live in sbin, which a test
/// environment's `PATH` does not always include.
const EXTRA_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// The Debian package that ships a binary, for error messages.
fn debian_package(name: &str) -> Option<&'static str> {
    Some(match name {
        "qemu-system-x86_64" => "qemu-system-x86",
        "qemu-img" | "qemu-nbd" => "qemu-utils",
        "busybox" => "busybox-static",
        "xz" => "xz-utils",
        "lz4" => "lz4",
        "zstd" => "zstd",
        "bash" => "bash",
        "apt-get" | "apt-cache" => "apt",
        "dpkg-deb" => "dpkg",
        "gzip" => "gzip",
        "flock" | "mount" | "umount" => "util-linux",
        "truncate" | "sha256sum" | "od" | "dd" | "stat" => "coreutils",
        "ip" | "bridge" => "iproute2",
        "nft" => "nftables",
        "iptables" => "iptables",
        "dnsmasq" => "dnsmasq-base",
        "swtpm" => "swtpm",
        "virtiofsd" => "virtiofsd",
        "socat" => "socat",
        "go" => "golang-go",
        "readelf" => "binutils",
        _ => return None,
    })
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Looks `name` up like a shell would (`$PATH`, then the sbin directories).  A name with a
/// `/` is checked as a path.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    let path_var = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path_var)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Returns the path of the executable `name`, or panics naming the Debian package that
/// provides it.
pub fn require_binary(name: &str) -> PathBuf {
    let base = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(name);
    find_binary(name).unwrap_or_else(|| match debian_package(base) {
        Some(pkg) => panic!(
            "testkit: required binary '{name}' not found in PATH or sbin; \
             install the Debian package '{pkg}' (apt-get install {pkg})"
        ),
        None => panic!("testkit: required binary '{name}' not found in PATH or sbin"),
    })
}

/// Panics unless the test runs as root (effective uid 0).
pub fn require_root() {
    let euid = rustix::process::geteuid();
    if !euid.is_root() {
        panic!(
            "testkit: this test must run as root (effective uid 0), but runs as uid {}; \
             run the test suite as root (e.g. `sudo -E cargo nextest run`)",
            euid.as_raw()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh() {
        assert!(find_binary("sh").is_some());
        assert!(require_binary("sh").is_absolute());
    }

    #[test]
    fn missing_binary_names_the_package() {
        let err = std::panic::catch_unwind(|| require_binary("qemu-img-does-not-exist"));
        assert!(err.is_err());
        assert_eq!(debian_package("qemu-img"), Some("qemu-utils"));
        assert_eq!(
            debian_package("qemu-system-x86_64"),
            Some("qemu-system-x86")
        );
    }

    #[test]
    fn missing_binary_message() {
        let err = std::panic::catch_unwind(|| require_binary("/nonexistent/qemu-img"))
            .expect_err("must panic");
        let msg = err.downcast_ref::<String>().expect("string panic");
        assert!(msg.contains("/nonexistent/qemu-img"), "{msg}");
        assert!(msg.contains("qemu-utils"), "{msg}");
    }
}
