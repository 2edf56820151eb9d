//! Landlock for QEMU: called by the single-threaded launcher immediately before
//! `execve(qemu)`. The ruleset handles every file-system access right of the best ABI
//! the kernel offers (best effort, so an older kernel enforces what it knows); QEMU
//! may then only read/execute beneath [`LandlockRules::read`] and do anything beneath
//! [`LandlockRules::read_write`].
//!
//! Notes for callers:
//! * `restrict_self` sets `PR_SET_NO_NEW_PRIVS` (required by Landlock for an
//!   unprivileged caller). An SELinux exec transition then needs an nnp-capable policy.
//! * Device nodes QEMU ioctls (`/dev/kvm`, `/dev/net/tun`, `/dev/vhost-net`…) belong in
//!   `read_write`: from ABI 5 on, `ioctl` on a device needs the `IoctlDev` right.
//! * Rules are fixed at exec: files hot-plugged later at new paths are denied unless
//!   passed as file descriptors.
//! * Symlinks are resolved when a rule is added, and accesses are checked on the
//!   resolved path, so a symlink's target directory must be covered (Debian's
//!   `/usr/share/qemu/*.bin` point into `/usr/share/seabios` and `/usr/lib/ipxe/qemu`).

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus,
};

use crate::spec::LandlockRules;

/// Errors of [`apply`].
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error(
        "landlock: {list} path '{}' cannot be used: {}",
        path.display(),
        crate::dac::errno_text(source)
    )]
    Path {
        /// `read` or `read_write`.
        list: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// How much of the ruleset the kernel enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// Every requested right is enforced.
    Full,
    /// Best effort: the kernel's ABI lacks some rights (they stay allowed).
    Partial,
    /// Landlock is not available: nothing is restricted.
    None,
}

/// What [`apply`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LandlockStatus {
    /// The Landlock ABI actually in force (0 when nothing is enforced).
    pub abi: u32,
    pub enforcement: Enforcement,
    /// The kernel's ABI when it is newer than any this crate knows.
    pub kernel_abi: Option<i32>,
    /// `PR_SET_NO_NEW_PRIVS` is set.
    pub no_new_privs: bool,
}

/// The newest ABI this crate knows; the kernel may offer less (best effort).
const NEWEST: ABI = ABI::V10;

fn read_rights(is_dir: bool) -> BitFlags<AccessFs> {
    if is_dir {
        AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute
    } else {
        AccessFs::ReadFile | AccessFs::Execute
    }
}

fn all_rights(is_dir: bool) -> BitFlags<AccessFs> {
    let all = AccessFs::from_all(NEWEST);
    if is_dir {
        all
    } else {
        AccessFs::from_file(NEWEST)
    }
}

fn rule(
    list: &'static str,
    path: &Path,
    rights: fn(bool) -> BitFlags<AccessFs>,
) -> Result<PathBeneath<PathFd>, LandlockError> {
    let err = |source| LandlockError::Path {
        list,
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    let fd = PathFd::new(path).map_err(|e| err(std::io::Error::other(e)))?;
    Ok(PathBeneath::new(fd, rights(meta.is_dir())))
}

/// Restrict the calling thread (and everything it execs) to `rules`. Every listed path
/// must exist. Call it last before `execve`, from a single-threaded process.
pub fn apply(rules: &LandlockRules) -> Result<LandlockStatus, LandlockError> {
    // Open every path first, so a missing one is reported before anything changes.
    let mut beneath = Vec::with_capacity(rules.read.len() + rules.read_write.len());
    for p in &rules.read {
        beneath.push(rule("read", p, read_rights)?);
    }
    for p in &rules.read_write {
        beneath.push(rule("read_write", p, all_rights)?);
    }
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(NEWEST))?
        .create()?
        .add_rules(beneath.into_iter().map(Ok::<_, LandlockError>))?
        .restrict_self()?;
    let (abi, kernel_abi) = match status.landlock {
        landlock::LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        } => (effective_abi, kernel_abi),
        _ => (ABI::Unsupported, None),
    };
    let enforcement = match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    };
    let abi = if enforcement == Enforcement::None {
        0
    } else {
        abi as u32
    };
    Ok(LandlockStatus {
        abi,
        enforcement,
        kernel_abi,
        no_new_privs: status.no_new_privs,
    })
}

/// The read-only paths a QEMU needs to start (before any disk, firmware file or
/// device of the domain is added): the emulator, the dynamic loader and shared
/// libraries (with QEMU's modules), QEMU's data and firmware directories, and the few
/// files glibc reads at start. Paths that do not exist on this host are left out.
///
/// Found by running QEMU 7.2 (Debian 12) under Landlock: `-machine none` needs only the
/// emulator and the libraries; `pc`/`q35` (TCG and KVM) also need the BIOS
/// (`/usr/share/qemu/bios-256k.bin` → `/usr/share/seabios`); NIC option ROMs resolve
/// into `/usr/lib/ipxe/qemu`. QEMU also tries, and copes without, `/proc/filesystems`,
/// `/proc/mounts`, `/proc/self/status`, `/proc/stat`, `/sys/devices/system/{node,cpu}`
/// and `/sys/bus/nd/devices`; they are deliberately not granted. `ld.so.cache` and
/// `localtime` are granted for non-default library paths and local-time messages.
pub fn default_read_paths(emulator: &Path) -> Vec<PathBuf> {
    let mut out = vec![emulator.to_path_buf()];
    out.extend(
        DEFAULT_READ
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists() && p.as_path() != emulator),
    );
    out
}

const DEFAULT_READ: &[&str] = &[
    // Loader, libraries, QEMU modules (/usr/lib/x86_64-linux-gnu/qemu), iPXE ROMs
    // (/usr/lib/ipxe/qemu).
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    // Data: keymaps, option ROMs, firmware descriptors and images.
    "/usr/share/qemu",
    "/usr/share/seabios",
    "/usr/share/ipxe",
    "/usr/share/ovmf",
    "/usr/share/OVMF",
    "/usr/share/AAVMF",
    "/usr/share/edk2",
    "/usr/share/qemu-efi-aarch64",
    "/etc/localtime",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_include_emulator_and_existing_dirs_only() {
        let emu = Path::new("/usr/bin/qemu-system-x86_64");
        let d = default_read_paths(emu);
        assert_eq!(d[0], emu);
        assert!(d.iter().all(|p| p == emu || p.exists()));
        assert!(d.contains(&PathBuf::from("/usr/lib")));
        let mut dedup = d.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), d.len());
    }

    #[test]
    fn missing_path_is_named() {
        let rules = LandlockRules {
            read: vec![PathBuf::from("/usr"), PathBuf::from("/nonexistent/rvirt")],
            read_write: vec![],
        };
        // Fails while opening the paths, before restricting anything.
        let e = apply(&rules).unwrap_err();
        assert_eq!(
            e.to_string(),
            "landlock: read path '/nonexistent/rvirt' cannot be used: No such file or directory"
        );
    }

    #[test]
    fn rights_sets() {
        assert!(read_rights(true).contains(AccessFs::ReadDir));
        assert!(!read_rights(false).contains(AccessFs::ReadDir));
        assert!(!read_rights(true).contains(AccessFs::WriteFile));
        assert!(all_rights(true).contains(AccessFs::MakeSock | AccessFs::IoctlDev));
        assert!(!all_rights(false).contains(AccessFs::MakeSock));
    }
}
