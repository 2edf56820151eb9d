//! What the tests on libvirt 11.3's own corpus share: finding the corpus, a host on
//! which every path exists, and the daemon's define-time defaults.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use domain_xml::Domain;
use domain_xml::defaults::{DefaultsContext, apply};
use qemu_caps::Capabilities;
use qemu_plan::{HostFacts, ImageBacking, PathKind, Runtime};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The unpacked libvirt tree, fetched (or found in the cache) by the script.
pub fn libvirt_tree() -> PathBuf {
    let script = repo_root().join("tools/libvirt-corpus.sh");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (the libvirt corpus is a prerequisite of this test):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tree = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(
        tree.join("tests/qemuxmlconfdata").is_dir(),
        "{} printed '{}', which has no tests/qemuxmlconfdata",
        script.display(),
        tree.display()
    );
    tree
}

/// `tests/qemuxmlconfdata` of the libvirt tree.
pub fn corpus_dir() -> PathBuf {
    libvirt_tree().join("tests/qemuxmlconfdata")
}

/// Our captured capabilities of QEMU `version` (`tests/caps/qemu-VERSION.json`).
pub fn captured_caps(version: &str) -> Capabilities {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/caps/qemu-{version}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A host on which everything the XML names exists: USB device nodes and block
/// devices under `/dev`, the given directories, regular files elsewhere. Refusals
/// must come from the definition, not the host.
#[derive(Default)]
pub struct EverythingExists {
    pub dirs: std::collections::BTreeSet<String>,
}

impl HostFacts for EverythingExists {
    fn stat(&self, path: &str) -> Option<PathKind> {
        let chr = |major, minor| Some(PathKind::CharDev { major, minor });
        match path {
            "/dev/null" => chr(1, 3),
            "/dev/zero" => chr(1, 5),
            "/dev/random" => chr(1, 8),
            "/dev/urandom" => chr(1, 9),
            "/dev/ptmx" => chr(5, 2),
            "/dev/kvm" => chr(10, 232),
            "/dev/hwrng" => chr(10, 183),
            p if p.starts_with("/dev/bus/usb/") => chr(189, 0),
            p if self.dirs.contains(p) => Some(PathKind::Dir),
            p if p.starts_with("/dev/") => Some(PathKind::BlockDev {
                major: 8,
                minor: 16,
            }),
            p if p.ends_with('/') => Some(PathKind::Dir),
            _ => Some(PathKind::File),
        }
    }

    fn backing_file(&self, _path: &str) -> Option<ImageBacking> {
        None
    }

    /// libvirt's test suite never probes images: chains the XML leaves open stay open.
    fn reads_image_headers(&self) -> bool {
        false
    }

    /// libvirt's test host has four NUMA nodes (its numad and sysfs mocks).
    fn numa_nodes(&self) -> Option<Vec<u32>> {
        Some(vec![0, 1, 2, 3])
    }

    /// libvirt's test treats exactly `/dev/cdrom` as a drive (`qemuxmlconftest.c`).
    fn is_cdrom(&self, path: &str) -> bool {
        path == "/dev/cdrom"
    }
}

/// The daemon's define-time defaults (as `qemu_runtime::native::fill_defaults` fills
/// them, from the same capabilities). `resolve_aliases: false` keeps machine aliases
/// such as `pc` as written, as libvirt's test suite does in its expected output.
pub fn fill_defaults(d: &mut Domain, caps: &Capabilities, resolve_aliases: bool) {
    let emulator = Runtime::emulator_for(d);
    let default_machine = caps
        .default_machine()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "pc".into());
    let resolve = |m: &str| {
        if resolve_aliases {
            caps.resolve_machine_alias(m).map(str::to_owned)
        } else {
            None
        }
    };
    apply(
        d,
        &DefaultsContext {
            emulator: &emulator,
            arch: "x86_64",
            default_machine: &default_machine,
            resolve_machine: &resolve,
        },
    );
}
