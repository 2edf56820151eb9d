//! Where everything lives. libvirt's layout with `rvirt` in place of `libvirt`; with
//! `--root DIR` every path is under DIR, so an embedded instance is self-contained
//! (like `qemu:///embed?root=`).

use std::path::{Path, PathBuf};

/// libvirt cuts the name in per-domain directory names to 20 characters.
pub const SHORT_NAME_MAX: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// `None` for the system instance.
    pub root: Option<PathBuf>,
    /// Persistent definitions: `NAME.xml`.
    pub config_dir: PathBuf,
    /// `NAME.xml` links for domains started with the daemon.
    pub autostart_dir: PathBuf,
    pub qemu_conf: PathBuf,
    /// Status files of running domains and runtime scratch.
    pub state_dir: PathBuf,
    /// Per-domain private directories `domain-ID-NAME`.
    pub lib_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub log_dir: PathBuf,
    pub socket: PathBuf,
    pub socket_ro: PathBuf,
    /// One daemon per root: held with an exclusive lock while running.
    pub lock_file: PathBuf,
}

impl Paths {
    pub fn system() -> Paths {
        Paths::under(Path::new("/"), None)
    }

    pub fn rooted(root: &Path) -> Paths {
        Paths::under(root, Some(root.to_path_buf()))
    }

    fn under(base: &Path, root: Option<PathBuf>) -> Paths {
        let p = |rel: &str| base.join(rel);
        Paths {
            root,
            config_dir: p("etc/rvirt/qemu"),
            autostart_dir: p("etc/rvirt/qemu/autostart"),
            qemu_conf: p("etc/rvirt/qemu.conf"),
            state_dir: p("run/rvirt/qemu"),
            lib_dir: p("var/lib/rvirt/qemu"),
            cache_dir: p("var/cache/rvirt/qemu"),
            log_dir: p("var/log/rvirt/qemu"),
            socket: p("run/rvirt/rvirt-sock"),
            socket_ro: p("run/rvirt/rvirt-sock-ro"),
            lock_file: p("run/rvirt/rvirtd.lock"),
        }
    }

    /// Every directory the daemon creates at start.
    pub fn dirs(&self) -> [&Path; 6] {
        [
            &self.config_dir,
            &self.autostart_dir,
            &self.state_dir,
            &self.lib_dir,
            &self.cache_dir,
            &self.log_dir,
        ]
    }

    pub fn config_file(&self, name: &str) -> PathBuf {
        self.config_dir.join(format!("{name}.xml"))
    }

    pub fn autostart_link(&self, name: &str) -> PathBuf {
        self.autostart_dir.join(format!("{name}.xml"))
    }

    pub fn status_file(&self, name: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.xml"))
    }

    pub fn log_file(&self, name: &str) -> PathBuf {
        self.log_dir.join(format!("{name}.log"))
    }

    /// `domain-ID-NAME` with the name cut to 20 characters (on a char boundary).
    pub fn domain_dir(&self, id: i32, name: &str) -> PathBuf {
        self.lib_dir
            .join(format!("domain-{}", short_name(id, name)))
    }

    /// The directory under `<hugetlbfs mount>/libvirt/` for this instance's per-domain
    /// directories: `qemu` for the system instance, `qemu-<hash of the root>` for a
    /// `--root` instance, so two instances on one host never collide there.
    pub fn hugepage_subdir(&self) -> String {
        match &self.root {
            None => "qemu".to_owned(),
            Some(root) => format!("qemu-{:08x}", fnv1a(root.as_os_str().as_encoded_bytes())),
        }
    }

    /// Per-domain UEFI variable stores (`NAME_VARS.fd`), libvirt's
    /// `/var/lib/libvirt/qemu/nvram`.
    pub fn nvram_dir(&self) -> PathBuf {
        self.lib_dir.join("nvram")
    }

    /// Per-domain TPM emulator state, libvirt's `/var/lib/libvirt/swtpm`
    /// (`UUID/tpm2` beneath).
    pub fn swtpm_dir(&self) -> PathBuf {
        self.lib_dir.parent().unwrap_or(&self.lib_dir).join("swtpm")
    }

    pub fn capabilities_cache(&self) -> PathBuf {
        self.cache_dir.join("capabilities")
    }
}

/// FNV-1a: a short hash that is stable across runs and builds.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// libvirt's short name `ID-NAME`, the name cut to [`SHORT_NAME_MAX`] characters.
pub fn short_name(id: i32, name: &str) -> String {
    let cut: String = name.chars().take(SHORT_NAME_MAX).collect();
    format!("{id}-{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_paths_stay_under_root() {
        let p = Paths::rooted(Path::new("/tmp/r"));
        for d in p.dirs() {
            assert!(d.starts_with("/tmp/r"), "{}", d.display());
        }
        assert_eq!(p.socket, Path::new("/tmp/r/run/rvirt/rvirt-sock"));
        assert_eq!(
            p.config_file("web"),
            Path::new("/tmp/r/etc/rvirt/qemu/web.xml")
        );
        assert_eq!(p.nvram_dir(), Path::new("/tmp/r/var/lib/rvirt/qemu/nvram"));
        assert_eq!(p.swtpm_dir(), Path::new("/tmp/r/var/lib/rvirt/swtpm"));
        assert_eq!(
            p.domain_dir(3, "a-very-long-domain-name-indeed"),
            Path::new("/tmp/r/var/lib/rvirt/qemu/domain-3-a-very-long-domain-n")
        );
    }

    #[test]
    fn system_paths() {
        let p = Paths::system();
        assert_eq!(p.status_file("vm"), Path::new("/run/rvirt/qemu/vm.xml"));
        assert_eq!(p.log_file("vm"), Path::new("/var/log/rvirt/qemu/vm.log"));
        assert_eq!(
            short_name(12, "ünïcødé-ñame-longer-than-twenty"),
            "12-ünïcødé-ñame-longer-"
        );
    }
}
