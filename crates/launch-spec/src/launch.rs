//! What a launch needs: QEMU's identity, its private `/dev`, Landlock's rules and the
//! launch spec itself. Serialisable: the daemon sends a [`LaunchSpec`] to the
//! launcher helper over a socketpair.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How QEMU uses a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::ReadOnly => "ro",
            Access::ReadWrite => "rw",
        })
    }
}

/// What Landlock allows QEMU: read (and execute) beneath `read`, read and write
/// beneath `read_write`. Nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockRules {
    pub read: Vec<PathBuf>,
    pub read_write: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    Char,
    Block,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Char => "char",
            NodeKind::Block => "block",
        })
    }
}

/// A device node for QEMU's private `/dev`, with the host node's owner and mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevNode {
    pub path: PathBuf,
    pub kind: NodeKind,
    pub major: u32,
    pub minor: u32,
    /// Permission bits only (e.g. 0o660).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl DevNode {
    /// `char 10:232`: the node's kind and numbers.
    pub fn kind_and_numbers(&self) -> String {
        format!("{} {}:{}", self.kind, self.major, self.minor)
    }

    /// The cgroup rule that lets QEMU use this node with `access`.
    pub fn rule(&self, access: Access) -> crate::DeviceRule {
        crate::DeviceRule {
            kind: self.kind.into(),
            major: Some(self.major),
            minor: Some(self.minor),
            read: true,
            write: access == Access::ReadWrite,
            mknod: false,
        }
    }
}

/// The account QEMU runs as. `groups` are the supplementary groups (e.g. kvm).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// The private mount namespace: a new tmpfs `/dev` holding only these nodes; the
/// mounts found under the host `/dev` (pts, shm, mqueue, hugetlbfs) are moved in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceSpec {
    pub dev_nodes: Vec<DevNode>,
    /// Empty directories (0755 root) made in the private `/dev`: where nodes
    /// hot-plugged later go (Landlock rules need them to exist at start).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Where temporary mount points live while `/dev` is rebuilt (a per-domain
    /// directory of the daemon's state dir).
    pub scratch_dir: PathBuf,
}

/// Everything the launcher needs to start one QEMU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// The domain name, for messages.
    pub name: String,
    pub emulator: PathBuf,
    /// argv without argv[0].
    pub args: Vec<String>,
    /// The complete environment of QEMU (nothing is inherited).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// `None`: keep running as root (qemu.conf `user = "root"` or a root DAC label).
    pub identity: Option<Identity>,
    pub namespace: Option<NamespaceSpec>,
    /// `cgroup.procs` files (one per hierarchy) the launcher writes its pid to before
    /// dropping privileges.
    pub cgroup_procs: Vec<PathBuf>,
    /// SELinux exec context for QEMU, when the SELinux driver is active.
    pub selinux_exec_label: Option<String>,
    pub landlock: Option<LandlockRules>,
    /// Appended to: QEMU's stdout and stderr.
    pub log_path: PathBuf,
    /// File descriptors the launcher inherited that QEMU must keep (same numbers):
    /// the monitor socket, chardev files, taps.
    pub keep_fds: Vec<i32>,
}
