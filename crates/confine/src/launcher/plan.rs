//! Pure planning: turn a [`NamespaceSpec`] and the host's `/dev` submounts into the
//! list of filesystem operations the launcher performs. No syscalls here, so all of
//! it is unit-tested without root.

use std::path::{Component, Path, PathBuf};

use crate::spec::{DevNode, NamespaceSpec, NodeKind};

use super::protocol::{Failure, Step};

/// The device directory being replaced.
pub const DEV: &str = "/dev";

/// Mount options of the private `/dev` tmpfs (mounted `MS_NOSUID`, source `devfs`).
pub const DEV_TMPFS_OPTIONS: &str = "mode=755,size=64k";

/// A mount found under the host `/dev` that is moved into the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submount {
    /// Absolute path, e.g. `/dev/pts`.
    pub path: PathBuf,
    /// Whether the mount point is a directory (otherwise an empty file placeholder).
    pub is_dir: bool,
}

/// What the launcher found of the host `/dev` (from mountinfo and lstat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostDev {
    /// Whether `/dev` itself is a mount point (otherwise a plain directory of `/`,
    /// which is not unmounted before the new tmpfs is moved over it).
    pub dev_is_mount: bool,
    /// The outermost mounts below `/dev`, to move into the new one.
    pub submounts: Vec<Submount>,
}

/// One filesystem operation of the namespace build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create `path` and its missing parents; each created directory gets `mode`.
    MkdirAll {
        step: Step,
        path: PathBuf,
        mode: u32,
        /// The path named in a failure (the final `/dev/...` path, not the scratch one).
        shown: PathBuf,
    },
    /// Mount a tmpfs `devfs` on `target` with `MS_NOSUID` and `options`.
    MountTmpfs { target: PathBuf, options: String },
    /// `mknod` + `chmod` + `chown` (steps MknodDevNode, ChmodDevNode, ChownDevNode).
    Mknod {
        path: PathBuf,
        shown: PathBuf,
        kind: NodeKind,
        major: u32,
        minor: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// Create an empty directory (0755) or file (0644) to mount on.
    Placeholder { path: PathBuf, dir: bool },
    /// `mount(from, to, MS_MOVE)`.
    MoveMount {
        step: Step,
        from: PathBuf,
        to: PathBuf,
    },
    /// `umount2(path, MNT_DETACH)`.
    DetachMount { step: Step, path: PathBuf },
    /// `rmdir(path)`.
    RemoveDir { step: Step, path: PathBuf },
}

/// The part of `path` below `/dev`, refusing anything that is not a plain
/// `/dev/<name>[/<name>...]` (relative, `..`, `/dev` itself, outside `/dev`).
pub fn dev_relative(path: &Path) -> Result<PathBuf, String> {
    let mut comps = path.components();
    if comps.next() != Some(Component::RootDir) {
        return Err(format!("{} is not absolute", path.display()));
    }
    match comps.next() {
        Some(Component::Normal(c)) if c == "dev" => {}
        _ => return Err(format!("{} is not under {DEV}", path.display())),
    }
    let mut rel = PathBuf::new();
    for c in comps {
        match c {
            Component::Normal(c) => rel.push(c),
            _ => return Err(format!("{} must not contain `..`", path.display())),
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(format!("{} names {DEV} itself", path.display()));
    }
    Ok(rel)
}

fn invalid(path: &Path, message: String) -> Failure {
    Failure {
        step: Step::ValidateDevNode,
        path: Some(path.to_owned()),
        errno: Some(libc::EINVAL),
        message,
    }
}

/// The scratch mount point for the new `/dev` of launcher `pid`.
pub fn scratch_mount_point(scratch_dir: &Path, pid: u32) -> PathBuf {
    scratch_dir.join(format!("rvirt-launch-dev.{pid}"))
}

/// Plan the private `/dev`: tmpfs on `scratch`, nodes, submounts moved in, old `/dev`
/// detached, new one moved onto `/dev`, scratch mount point removed.
///
/// Nodes strictly inside a preserved submount (e.g. `/dev/pts/3`) are skipped: the
/// moved mount already provides them, as in libvirt.
pub fn plan_namespace(
    ns: &NamespaceSpec,
    host: &HostDev,
    scratch: &Path,
) -> Result<Vec<Op>, Failure> {
    // Everything is validated first (in this order, so the first error reported is
    // always the same), then the operations are listed.
    let sub_rel = submount_rels(&host.submounts)?;
    let nodes = checked_nodes(ns, &sub_rel)?;
    let dirs = checked_dirs(ns, &sub_rel, &nodes)?;

    let mut plan = OpList {
        ops: Vec::new(),
        scratch,
        dev: Path::new(DEV),
    };
    plan.mount_scratch();
    for (rel, node) in &nodes {
        plan.node(rel, node);
    }
    for rel in &dirs {
        plan.dir(rel);
    }
    for (s, rel) in host.submounts.iter().zip(&sub_rel) {
        plan.submount(rel, s.is_dir);
    }
    plan.swap_dev(host.dev_is_mount);
    Ok(plan.ops)
}

/// The submounts' paths below `/dev`.
fn submount_rels(submounts: &[Submount]) -> Result<Vec<PathBuf>, Failure> {
    let mut sub_rel = Vec::with_capacity(submounts.len());
    for s in submounts {
        sub_rel.push(dev_relative(&s.path).map_err(|m| invalid(&s.path, m))?);
    }
    Ok(sub_rel)
}

/// The nodes to make, with their paths below `/dev`: none may be a preserved mount
/// point, be listed twice, or be the parent directory of another node or mount point;
/// nodes inside a preserved mount are left out.
fn checked_nodes<'a>(
    ns: &'a NamespaceSpec,
    sub_rel: &[PathBuf],
) -> Result<Vec<(PathBuf, &'a DevNode)>, Failure> {
    let mut nodes: Vec<(PathBuf, &DevNode)> = Vec::new();
    for node in &ns.dev_nodes {
        let rel = dev_relative(&node.path).map_err(|m| invalid(&node.path, m))?;
        if sub_rel.contains(&rel) {
            return Err(invalid(
                &node.path,
                format!("{} is a preserved mount point", node.path.display()),
            ));
        }
        if sub_rel.iter().any(|s| rel.starts_with(s)) {
            continue;
        }
        if nodes.iter().any(|(r, _)| *r == rel) {
            return Err(invalid(
                &node.path,
                format!("{} is listed twice", node.path.display()),
            ));
        }
        nodes.push((rel, node));
    }
    // A node may not be the parent directory of another node or mount point.
    for (rel, node) in &nodes {
        let is_parent = nodes.iter().any(|(o, _)| o != rel && o.starts_with(rel))
            || sub_rel.iter().any(|s| s.starts_with(rel));
        if is_parent {
            return Err(invalid(
                &node.path,
                format!(
                    "{} is a device node and a directory of other entries",
                    node.path.display()
                ),
            ));
        }
    }
    Ok(nodes)
}

/// The empty directories to make, below `/dev`: none may overlap a node or a mount
/// point.
fn checked_dirs(
    ns: &NamespaceSpec,
    sub_rel: &[PathBuf],
    nodes: &[(PathBuf, &DevNode)],
) -> Result<Vec<PathBuf>, Failure> {
    let mut dirs = Vec::with_capacity(ns.dirs.len());
    for d in &ns.dirs {
        let rel = dev_relative(d).map_err(|m| invalid(d, m))?;
        if sub_rel
            .iter()
            .any(|s| rel.starts_with(s) || s.starts_with(&rel))
            || nodes
                .iter()
                .any(|(n, _)| rel.starts_with(n) || n.starts_with(&rel))
        {
            return Err(invalid(
                d,
                format!("{} overlaps a device node or a mount point", d.display()),
            ));
        }
        dirs.push(rel);
    }
    Ok(dirs)
}

/// The operations being listed: paths below `/dev` are made under `scratch` and
/// named as under `dev` in failures.
struct OpList<'a> {
    ops: Vec<Op>,
    scratch: &'a Path,
    dev: &'a Path,
}

impl OpList<'_> {
    /// The scratch mount point (0700) with the new tmpfs on it.
    fn mount_scratch(&mut self) {
        self.ops.push(Op::MkdirAll {
            step: Step::CreateScratch,
            path: self.scratch.to_owned(),
            mode: 0o700,
            shown: self.scratch.to_owned(),
        });
        self.ops.push(Op::MountTmpfs {
            target: self.scratch.to_owned(),
            options: DEV_TMPFS_OPTIONS.to_owned(),
        });
    }

    /// The parent directories (0755) of `rel`, when it has any.
    fn parent_dirs(&mut self, rel: &Path) {
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.ops.push(Op::MkdirAll {
                step: Step::MkdirDevDir,
                path: self.scratch.join(parent),
                mode: 0o755,
                shown: self.dev.join(parent),
            });
        }
    }

    fn node(&mut self, rel: &Path, node: &DevNode) {
        self.parent_dirs(rel);
        self.ops.push(Op::Mknod {
            path: self.scratch.join(rel),
            shown: self.dev.join(rel),
            kind: node.kind,
            major: node.major,
            minor: node.minor,
            mode: node.mode & 0o7777,
            uid: node.uid,
            gid: node.gid,
        });
    }

    fn dir(&mut self, rel: &Path) {
        self.ops.push(Op::MkdirAll {
            step: Step::MkdirDevDir,
            path: self.scratch.join(rel),
            mode: 0o755,
            shown: self.dev.join(rel),
        });
    }

    /// A placeholder in the new `/dev`, and the host's mount moved onto it.
    fn submount(&mut self, rel: &Path, is_dir: bool) {
        self.parent_dirs(rel);
        self.ops.push(Op::Placeholder {
            path: self.scratch.join(rel),
            dir: is_dir,
        });
        self.ops.push(Op::MoveMount {
            step: Step::MoveSubmount,
            from: self.dev.join(rel),
            to: self.scratch.join(rel),
        });
    }

    /// Old `/dev` detached (when it is a mount), the new one moved onto `/dev`, the
    /// scratch mount point removed.
    fn swap_dev(&mut self, dev_is_mount: bool) {
        if dev_is_mount {
            self.ops.push(Op::DetachMount {
                step: Step::UnmountOldDev,
                path: self.dev.to_owned(),
            });
        }
        self.ops.push(Op::MoveMount {
            step: Step::MoveNewDev,
            from: self.scratch.to_owned(),
            to: self.dev.to_owned(),
        });
        self.ops.push(Op::RemoveDir {
            step: Step::CleanupScratch,
            path: self.scratch.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, major: u32, minor: u32, mode: u32, gid: u32) -> DevNode {
        DevNode {
            path: path.into(),
            kind: NodeKind::Char,
            major,
            minor,
            mode,
            uid: 0,
            gid,
        }
    }

    fn sub(path: &str) -> Submount {
        Submount {
            path: path.into(),
            is_dir: true,
        }
    }

    fn host(submounts: Vec<Submount>) -> HostDev {
        HostDev {
            dev_is_mount: true,
            submounts,
        }
    }

    fn ns(nodes: Vec<DevNode>) -> NamespaceSpec {
        NamespaceSpec {
            dev_nodes: nodes,
            dirs: Vec::new(),
            scratch_dir: "/run/rvirt/qemu/1-vm".into(),
        }
    }

    #[test]
    fn hotplug_dirs_are_made_and_checked() {
        let scratch = Path::new("/s");
        let mut spec = ns(vec![node("/dev/null", 1, 3, 0o666, 0)]);
        spec.dirs = vec!["/dev/.rvirt-hotplug/rw".into()];
        let ops = plan_namespace(&spec, &host(vec![sub("/dev/pts")]), scratch).unwrap();
        assert!(ops.contains(&Op::MkdirAll {
            step: Step::MkdirDevDir,
            path: scratch.join(".rvirt-hotplug/rw"),
            mode: 0o755,
            shown: "/dev/.rvirt-hotplug/rw".into(),
        }));
        for bad in ["/dev/pts/x", "/dev/null/x", "/dev", "/etc/x"] {
            spec.dirs = vec![bad.into()];
            assert!(
                plan_namespace(&spec, &host(vec![sub("/dev/pts")]), scratch).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn dev_relative_accepts_plain_paths_only() {
        assert_eq!(
            dev_relative(Path::new("/dev/kvm")).unwrap(),
            Path::new("kvm")
        );
        assert_eq!(
            dev_relative(Path::new("/dev//net/./tun")).unwrap(),
            Path::new("net/tun")
        );
        for bad in [
            "dev/kvm",
            "/etc/passwd",
            "/dev",
            "/dev/",
            "/dev/../etc",
            "/devices/x",
            "/",
        ] {
            assert!(dev_relative(Path::new(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn full_plan_in_order() {
        let scratch = Path::new("/run/rvirt/qemu/1-vm/rvirt-launch-dev.77");
        let ops = plan_namespace(
            &ns(vec![
                node("/dev/null", 1, 3, 0o666, 0),
                node("/dev/kvm", 10, 232, 0o660, 995),
                node("/dev/net/tun", 10, 200, 0o20666, 0),
            ]),
            &host(vec![
                sub("/dev/pts"),
                Submount {
                    path: "/dev/odd/file".into(),
                    is_dir: false,
                },
            ]),
            scratch,
        )
        .unwrap();
        let s = |p: &str| scratch.join(p);
        let expected = vec![
            Op::MkdirAll {
                step: Step::CreateScratch,
                path: scratch.into(),
                mode: 0o700,
                shown: scratch.into(),
            },
            Op::MountTmpfs {
                target: scratch.into(),
                options: "mode=755,size=64k".into(),
            },
            Op::Mknod {
                path: s("null"),
                shown: "/dev/null".into(),
                kind: NodeKind::Char,
                major: 1,
                minor: 3,
                mode: 0o666,
                uid: 0,
                gid: 0,
            },
            Op::Mknod {
                path: s("kvm"),
                shown: "/dev/kvm".into(),
                kind: NodeKind::Char,
                major: 10,
                minor: 232,
                mode: 0o660,
                uid: 0,
                gid: 995,
            },
            Op::MkdirAll {
                step: Step::MkdirDevDir,
                path: s("net"),
                mode: 0o755,
                shown: "/dev/net".into(),
            },
            Op::Mknod {
                path: s("net/tun"),
                shown: "/dev/net/tun".into(),
                kind: NodeKind::Char,
                major: 10,
                minor: 200,
                // File-type bits are stripped: only permission bits are applied.
                mode: 0o666,
                uid: 0,
                gid: 0,
            },
            Op::Placeholder {
                path: s("pts"),
                dir: true,
            },
            Op::MoveMount {
                step: Step::MoveSubmount,
                from: "/dev/pts".into(),
                to: s("pts"),
            },
            Op::MkdirAll {
                step: Step::MkdirDevDir,
                path: s("odd"),
                mode: 0o755,
                shown: "/dev/odd".into(),
            },
            Op::Placeholder {
                path: s("odd/file"),
                dir: false,
            },
            Op::MoveMount {
                step: Step::MoveSubmount,
                from: "/dev/odd/file".into(),
                to: s("odd/file"),
            },
            Op::DetachMount {
                step: Step::UnmountOldDev,
                path: "/dev".into(),
            },
            Op::MoveMount {
                step: Step::MoveNewDev,
                from: scratch.into(),
                to: "/dev".into(),
            },
            Op::RemoveDir {
                step: Step::CleanupScratch,
                path: scratch.into(),
            },
        ];
        assert_eq!(ops, expected);
    }

    #[test]
    fn nodes_inside_preserved_mounts_are_skipped() {
        let ops = plan_namespace(
            &ns(vec![node("/dev/pts/3", 136, 3, 0o620, 5)]),
            &host(vec![sub("/dev/pts")]),
            Path::new("/s"),
        )
        .unwrap();
        assert!(!ops.iter().any(|o| matches!(o, Op::Mknod { .. })));
    }

    #[test]
    fn bad_node_lists_fail_validation_naming_the_path() {
        let cases: Vec<(Vec<DevNode>, Vec<Submount>, &str)> = vec![
            (
                vec![node("/etc/shadow", 1, 3, 0o666, 0)],
                vec![],
                "/etc/shadow",
            ),
            (
                vec![node("/dev/../etc/x", 1, 3, 0o666, 0)],
                vec![],
                "/dev/../etc/x",
            ),
            (
                vec![
                    node("/dev/null", 1, 3, 0o666, 0),
                    node("/dev/null", 1, 3, 0o666, 0),
                ],
                vec![],
                "/dev/null",
            ),
            (
                vec![node("/dev/pts", 1, 3, 0o666, 0)],
                vec![sub("/dev/pts")],
                "/dev/pts",
            ),
            (
                vec![
                    node("/dev/null", 1, 3, 0o666, 0),
                    node("/dev/null/x", 1, 3, 0o666, 0),
                ],
                vec![],
                "/dev/null",
            ),
            (
                vec![node("/dev/hp", 1, 3, 0o666, 0)],
                vec![sub("/dev/hp/x")],
                "/dev/hp",
            ),
        ];
        for (nodes, subs, path) in cases {
            let err = plan_namespace(&ns(nodes), &host(subs), Path::new("/s")).unwrap_err();
            assert_eq!(err.step, Step::ValidateDevNode);
            assert_eq!(err.path.as_deref(), Some(Path::new(path)));
            assert_eq!(err.errno, Some(libc::EINVAL));
        }
    }

    #[test]
    fn dev_that_is_no_mount_is_not_unmounted() {
        let scratch = Path::new("/s/d");
        let ops = plan_namespace(&ns(vec![]), &HostDev::default(), scratch).unwrap();
        assert!(!ops.iter().any(|o| matches!(o, Op::DetachMount { .. })));
        assert_eq!(
            ops[ops.len() - 2],
            Op::MoveMount {
                step: Step::MoveNewDev,
                from: scratch.into(),
                to: "/dev".into(),
            }
        );
    }

    #[test]
    fn scratch_mount_point_is_per_launcher() {
        assert_eq!(
            scratch_mount_point(Path::new("/run/x"), 12),
            Path::new("/run/x/rvirt-launch-dev.12")
        );
    }
}
