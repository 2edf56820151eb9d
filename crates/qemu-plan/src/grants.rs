//! `<rvirt:grant>` → one [`Resource`]: the rule shared by the planner (grants in
//! the definition) and the daemon (grants added to a running domain), so both
//! refuse the same paths with the same words and confine the same way.
//!
//! Hot-plugged device nodes live in [`HOTPLUG_DIR`] of the private `/dev`, with a
//! symlink at the granted path. Landlock cannot widen a running process's ruleset,
//! so QEMU gets a Landlock rule at start for the two (empty) hot-plug directories,
//! one read-only and one read-write; the symlink resolves into them, and only the
//! daemon can put a node there (root-owned 0755 directories; QEMU cannot mknod).

use domain_xml::model::rvirt_ns::{Grant, GrantAccess};

use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::{HostFacts, PathKind};

/// Where hot-plugged device nodes live inside QEMU's private `/dev`.
pub const HOTPLUG_DIR: &str = "/dev/.rvirt-hotplug";

/// The hot-plug directory for nodes of `access`.
pub fn hotplug_dir(access: Access) -> String {
    format!("{HOTPLUG_DIR}/{access}")
}

/// Where the node for a hot-plugged `/dev` path goes: its path below `/dev` with
/// `%` and `/` percent-encoded (one name per path, no two paths the same), in the
/// directory of its access.
pub fn hotplug_node_path(path: &str, access: Access) -> Option<String> {
    let rel = path.strip_prefix("/dev/")?;
    if rel.is_empty() || rel.starts_with(".rvirt-hotplug") {
        return None;
    }
    let name = rel.replace('%', "%25").replace('/', "%2F");
    Some(format!("{}/{name}", hotplug_dir(access)))
}

/// The plan's access of a grant.
pub fn grant_access(g: &Grant) -> Access {
    match g.access {
        GrantAccess::ReadOnly => Access::ReadOnly,
        GrantAccess::ReadWrite => Access::ReadWrite,
    }
}

/// The resource a grant stands for, after checking it against the host: it exists,
/// does not lead into `/proc` or `/sys`, is a file, directory or device, and is not
/// the root directory read-write. `dac` and `selinux` say whether those drivers
/// relabel for this domain.
pub fn grant_resource(
    g: &Grant,
    host: &dyn HostFacts,
    dac: bool,
    selinux: bool,
) -> Result<Resource, String> {
    let access = grant_access(g);
    let found = match host.stat(&g.path) {
        Some(f) => f,
        // A preview takes a missing granted path for a file.
        None if host.assume_missing() => PathKind::File,
        None => return Err(format!("'{}' does not exist", g.path)),
    };
    let real = host.canonical(&g.path).unwrap_or_else(|| g.path.clone());
    if ["/proc", "/sys"]
        .iter()
        .any(|p| real == *p || real.starts_with(&format!("{p}/")))
    {
        return Err(format!(
            "'{}' leads to '{real}': /proc and /sys cannot be granted",
            g.path
        ));
    }
    let kind = match found {
        PathKind::File => ResourceKind::File,
        PathKind::Dir if real == "/" && access == Access::ReadWrite => {
            return Err("the root directory cannot be granted read-write".into());
        }
        PathKind::Dir => ResourceKind::Dir,
        PathKind::CharDev { major, minor } => ResourceKind::CharDev { major, minor },
        PathKind::BlockDev { major, minor } => ResourceKind::BlockDev { major, minor },
        PathKind::Other => {
            return Err(format!(
                "'{}' is neither a file, a directory nor a device",
                g.path
            ));
        }
    };
    let role = if access == Access::ReadOnly {
        SelinuxRole::ReadOnly
    } else {
        SelinuxRole::Exclusive
    };
    Ok(Resource {
        path: g.path.clone(),
        kind,
        access,
        origin: format!("grant '{}'", g.path),
        class: ResourceClass::Grant,
        provision: Provision::Exists,
        // The whole point of a grant is access: relabel like a disk; a directory is
        // relabelled itself only (not recursively).
        dac_relabel: dac,
        dac_label: None,
        selinux: if selinux {
            role
        } else {
            SelinuxRole::Untouched
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotplug_node_paths() {
        assert_eq!(
            hotplug_node_path("/dev/sdb", Access::ReadWrite).as_deref(),
            Some("/dev/.rvirt-hotplug/rw/sdb")
        );
        assert_eq!(
            hotplug_node_path("/dev/mapper/vg-lv", Access::ReadOnly).as_deref(),
            Some("/dev/.rvirt-hotplug/ro/mapper%2Fvg-lv")
        );
        assert_ne!(
            hotplug_node_path("/dev/a/b", Access::ReadOnly),
            hotplug_node_path("/dev/a%2Fb", Access::ReadOnly)
        );
        assert_eq!(hotplug_node_path("/srv/x", Access::ReadOnly), None);
        assert_eq!(hotplug_node_path("/dev/", Access::ReadOnly), None);
        assert_eq!(
            hotplug_node_path("/dev/.rvirt-hotplug/rw/x", Access::ReadOnly),
            None
        );
    }
}
