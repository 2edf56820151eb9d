//! Detection of SELinux on the host: selinuxfs and the policy type from
//! `/etc/selinux/config`.

use std::path::{Path, PathBuf};

use crate::hostops::HostOps;

/// A host with SELinux enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelinuxHost {
    /// `/` normally; tests use a directory tree.
    pub root: PathBuf,
    /// `/sys/fs/selinux/enforce` is `1`.
    pub enforcing: bool,
    /// `SELINUXTYPE` from `/etc/selinux/config` (`targeted` by default).
    pub policy_type: String,
}

impl SelinuxHost {
    /// `<root>/etc/selinux/<type>/contexts`.
    pub fn contexts_dir(&self) -> PathBuf {
        self.root
            .join("etc/selinux")
            .join(&self.policy_type)
            .join("contexts")
    }
}

/// Detect SELinux under `root`: selinuxfs mounted at `/sys/fs/selinux` (its `enforce`
/// file is readable, and, when `<root>/proc/self/mounts` exists, a `selinuxfs` mount is
/// listed). `None` when SELinux is off.
pub fn detect(ops: &dyn HostOps, root: &Path) -> Option<SelinuxHost> {
    let enforce = ops.read_file(&root.join("sys/fs/selinux/enforce")).ok()?;
    if let Ok(mounts) = ops.read_file(&root.join("proc/self/mounts"))
        && !mounts
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("selinuxfs"))
    {
        return None;
    }
    let policy_type = ops
        .read_file(&root.join("etc/selinux/config"))
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("SELINUXTYPE=")
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "targeted".into());
    Some(SelinuxHost {
        root: root.to_path_buf(),
        enforcing: enforce.trim() == "1",
        policy_type,
    })
}
