//! The one list of host paths a guest needs, and everything derived from it:
//! the private `/dev` nodes, the cgroup device ACL, the DAC chown list and the
//! Landlock rules.
//!
//! Every path QEMU touches is entered once, by the device that needs it, with
//! the facts every confinement layer asks about. The layers never look at the
//! domain themselves, so they cannot disagree about what a guest may open.

use std::fmt;

pub use launch_spec::{Access, DevNode, DeviceKind, DeviceRule, NodeKind};

use crate::runtime::HostFacts;

/// What the path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    File,
    Dir,
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    /// A UNIX socket QEMU creates (listen mode); it does not exist before start.
    Socket,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceKind::File => f.write_str("file"),
            ResourceKind::Dir => f.write_str("dir"),
            ResourceKind::CharDev { major, minor } => write!(f, "char {major}:{minor}"),
            ResourceKind::BlockDev { major, minor } => write!(f, "block {major}:{minor}"),
            ResourceKind::Socket => f.write_str("socket"),
        }
    }
}

/// Who makes the path exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provision {
    /// It must already exist on the host (checked through `HostFacts`).
    Exists,
    /// The daemon creates it before QEMU starts (private dirs, master key).
    DaemonCreates,
    /// QEMU creates it (listening sockets).
    QemuCreates,
    /// The daemon opens it and passes the fd; QEMU never opens the path.
    PassedAsFd,
}

impl fmt::Display for Provision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provision::Exists => "exists",
            Provision::DaemonCreates => "daemon-creates",
            Provision::QemuCreates => "qemu-creates",
            Provision::PassedAsFd => "passed-as-fd",
        })
    }
}

/// The SELinux image label a path gets (libvirt's roles): the domain's own
/// label, the shared label without categories, the read-only content label,
/// or not touched. Only meaningful when the SELinux driver is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SelinuxRole {
    Exclusive,
    Shared,
    ReadOnly,
    Untouched,
}

impl fmt::Display for SelinuxRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SelinuxRole::Exclusive => "exclusive",
            SelinuxRole::Shared => "shared",
            SelinuxRole::ReadOnly => "readonly",
            SelinuxRole::Untouched => "untouched",
        })
    }
}

/// Which part of the domain (or host policy) asked for the path; it fixes the
/// order of the cgroup rules the way libvirt sets them up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceClass {
    /// Disk images, block devices and their backing chains.
    Disk,
    /// `cgroup_device_acl` entries (the default list or qemu.conf's).
    DeviceAcl,
    /// Everything else the domain's devices or settings need.
    Device,
    /// An `<rvirt:grant>`: like a device, and its owner is always remembered and
    /// given back (read-only too: a grant is not a shared image).
    Grant,
}

/// One host path QEMU needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub path: String,
    pub kind: ResourceKind,
    pub access: Access,
    /// The device or setting it came from, for messages: `disk vda`,
    /// `serial0`, `kernel`, `device ACL`.
    pub origin: String,
    pub class: ResourceClass,
    pub provision: Provision,
    /// Whether the DAC driver chowns it to the QEMU user.
    pub dac_relabel: bool,
    /// The owner to chown to when it is not the QEMU user (a per-source
    /// `<seclabel model='dac'><label>`), as written (`user:group`, `+uid:+gid`).
    pub dac_label: Option<String>,
    pub selinux: SelinuxRole,
}

impl Resource {
    /// One line for golden files and logs:
    /// `PATH kind=.. access=.. origin=.. provision=.. dac=.. selinux=..`.
    pub fn describe(&self) -> String {
        format!(
            "{} kind={} access={} origin='{}' provision={} dac-relabel={} selinux={}",
            self.path,
            self.kind,
            self.access,
            self.origin,
            self.provision,
            if self.dac_relabel { "yes" } else { "no" },
            self.selinux
        ) + &self
            .dac_label
            .as_ref()
            .map(|l| format!(" dac-label={l}"))
            .unwrap_or_default()
    }
}

/// The major number of `/dev/pts/*`; libvirt allows `c 136:* rw` for ptys.
pub const PTY_MAJOR: u32 = 136;

/// A Landlock rule: the access allowed at `path` (and beneath it for dirs).
/// Sockets QEMU creates need the parent directory writable (make-sock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlockRule {
    pub path: String,
    pub access: Access,
    pub beneath: bool,
}

impl fmt::Display for LandlockRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}{}",
            self.access,
            self.path,
            if self.beneath { "/**" } else { "" }
        )
    }
}

/// Host paths every QEMU process reads (its libraries, firmware ROMs, locale
/// data, `/proc` and `/sys` for its own introspection). Landlock allows these
/// read-only in addition to the domain's resources.
pub const LANDLOCK_SYSTEM_READ: &[&str] = &["/usr", "/lib", "/lib64", "/etc", "/proc", "/sys"];

impl Resource {
    /// The cgroup rule a device node needs (`None` for anything else).
    pub fn cgroup_rule(&self) -> Option<DeviceRule> {
        let (kind, major, minor) = match self.kind {
            ResourceKind::CharDev { major, minor } => (DeviceKind::Char, major, minor),
            ResourceKind::BlockDev { major, minor } => (DeviceKind::Block, major, minor),
            _ => return None,
        };
        Some(DeviceRule {
            kind,
            major: Some(major),
            minor: Some(minor),
            read: true,
            write: self.access == Access::ReadWrite,
            mknod: false,
        })
    }

    /// The node the private `/dev` gets for this resource, with the host node's
    /// owner and mode as `host` reports them (`None` for anything but a device
    /// node under `/dev`).
    pub fn dev_node(&self, host: &dyn HostFacts) -> Option<DevNode> {
        let (kind, major, minor) = match self.kind {
            ResourceKind::CharDev { major, minor } => (NodeKind::Char, major, minor),
            ResourceKind::BlockDev { major, minor } => (NodeKind::Block, major, minor),
            _ => return None,
        };
        if !self.path.starts_with("/dev/") {
            return None;
        }
        let owner = host.owner(&self.path);
        Some(DevNode {
            path: self.path.clone().into(),
            kind,
            major,
            minor,
            mode: owner.map_or(0o600, |o| o.mode),
            uid: owner.map_or(0, |o| o.uid),
            gid: owner.map_or(0, |o| o.gid),
        })
    }
}

/// The derived views of a resource list.
pub trait ResourceViews {
    /// The device nodes under `/dev` to create in the private `/dev`, with the host
    /// nodes' owners and modes.
    fn dev_nodes(&self, host: &dyn HostFacts) -> Vec<DevNode>;
    /// The cgroup device ACL, in libvirt's order: disks, ptys, the ACL list,
    /// then the other devices; duplicates merged.
    fn cgroup_acl(&self) -> Vec<DeviceRule>;
    /// Paths the DAC driver chowns, in order, without duplicates.
    fn chown_paths(&self) -> Vec<String>;
    /// Landlock rules: the system read-only set, then the resources.
    fn landlock_rules(&self) -> Vec<LandlockRule>;
}

impl ResourceViews for [Resource] {
    fn dev_nodes(&self, host: &dyn HostFacts) -> Vec<DevNode> {
        let mut out: Vec<DevNode> = Vec::new();
        for node in self.iter().filter_map(|r| r.dev_node(host)) {
            if !out.iter().any(|n| n.path == node.path) {
                out.push(node);
            }
        }
        out
    }

    fn cgroup_acl(&self) -> Vec<DeviceRule> {
        let mut rules: Vec<DeviceRule> = Vec::new();
        let mut add = |rule: DeviceRule| match rules
            .iter_mut()
            .find(|r| r.kind == rule.kind && r.major == rule.major && r.minor == rule.minor)
        {
            Some(r) => {
                r.read |= rule.read;
                r.write |= rule.write;
                r.mknod |= rule.mknod;
            }
            None => rules.push(rule),
        };
        let rule_of = Resource::cgroup_rule;
        for r in self.iter().filter(|r| r.class == ResourceClass::Disk) {
            if let Some(rule) = rule_of(r) {
                add(rule);
            }
        }
        add(DeviceRule {
            kind: DeviceKind::Char,
            major: Some(PTY_MAJOR),
            minor: None,
            read: true,
            write: true,
            mknod: false,
        });
        for class in [
            ResourceClass::DeviceAcl,
            ResourceClass::Device,
            ResourceClass::Grant,
        ] {
            for r in self.iter().filter(|r| r.class == class) {
                if let Some(rule) = rule_of(r) {
                    add(rule);
                }
            }
        }
        rules
    }

    fn chown_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self {
            if r.dac_relabel && r.provision != Provision::QemuCreates && !out.contains(&r.path) {
                out.push(r.path.clone());
            }
        }
        out
    }

    fn landlock_rules(&self) -> Vec<LandlockRule> {
        let mut rules: Vec<LandlockRule> = LANDLOCK_SYSTEM_READ
            .iter()
            .map(|p| LandlockRule {
                path: (*p).to_owned(),
                access: Access::ReadOnly,
                beneath: true,
            })
            .collect();
        for r in self {
            let rule = match (r.provision, r.kind) {
                (Provision::PassedAsFd, _) => continue,
                (Provision::QemuCreates, ResourceKind::Socket) => LandlockRule {
                    path: parent_dir(&r.path),
                    access: Access::ReadWrite,
                    beneath: true,
                },
                (_, ResourceKind::Dir) => LandlockRule {
                    path: r.path.clone(),
                    access: r.access,
                    beneath: true,
                },
                _ => LandlockRule {
                    path: r.path.clone(),
                    access: r.access,
                    beneath: false,
                },
            };
            match rules
                .iter_mut()
                .find(|x| x.path == rule.path && x.beneath == rule.beneath)
            {
                Some(x) => x.access = x.access.max(rule.access),
                None => rules.push(rule),
            }
        }
        rules
    }
}

fn parent_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str, kind: ResourceKind, access: Access, class: ResourceClass) -> Resource {
        Resource {
            path: path.into(),
            kind,
            access,
            origin: "t".into(),
            class,
            provision: Provision::Exists,
            dac_relabel: true,
            dac_label: None,
            selinux: SelinuxRole::Exclusive,
        }
    }

    #[test]
    fn acl_merges_and_orders() {
        let list = [
            res(
                "/dev/null",
                ResourceKind::CharDev { major: 1, minor: 3 },
                Access::ReadWrite,
                ResourceClass::DeviceAcl,
            ),
            res(
                "/dev/sdb",
                ResourceKind::BlockDev {
                    major: 8,
                    minor: 16,
                },
                Access::ReadOnly,
                ResourceClass::Disk,
            ),
            res(
                "/dev/sdb",
                ResourceKind::BlockDev {
                    major: 8,
                    minor: 16,
                },
                Access::ReadWrite,
                ResourceClass::Disk,
            ),
        ];
        let acl: Vec<String> = list.cgroup_acl().iter().map(ToString::to_string).collect();
        assert_eq!(acl, ["b 8:16 rw", "c 136:* rw", "c 1:3 rw"]);
        struct NoHost;
        impl HostFacts for NoHost {
            fn stat(&self, _: &str) -> Option<crate::PathKind> {
                None
            }
            fn backing_file(&self, _: &str) -> Option<crate::ImageBacking> {
                None
            }
        }
        assert_eq!(list.dev_nodes(&NoHost).len(), 2);
        assert_eq!(list.chown_paths(), ["/dev/null", "/dev/sdb"]);
    }

    #[test]
    fn landlock_socket_allows_parent() {
        let mut s = res(
            "/run/x/a.sock",
            ResourceKind::Socket,
            Access::ReadWrite,
            ResourceClass::Device,
        );
        s.provision = Provision::QemuCreates;
        let rules = [s].landlock_rules();
        assert_eq!(
            rules.last().map(ToString::to_string).as_deref(),
            Some("rw /run/x/**")
        );
    }
}
