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
    let dev = Path::new(DEV);
    let submounts = &host.submounts;
    let mut sub_rel = Vec::with_capacity(submounts.len());
    for s in submounts {
        sub_rel.push(dev_relative(&s.path).map_err(|m| invalid(&s.path, m))?);
    }

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

    let mut ops = vec![
        Op::MkdirAll {
            step: Step::CreateScratch,
            path: scratch.to_owned(),
            mode: 0o700,
            shown: scratch.to_owned(),
        },
        Op::MountTmpfs {
            target: scratch.to_owned(),
            options: DEV_TMPFS_OPTIONS.to_owned(),
        },
    ];
    let parent_dirs = |ops: &mut Vec<Op>, rel: &Path| {
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            ops.push(Op::MkdirAll {
                step: Step::MkdirDevDir,
                path: scratch.join(parent),
                mode: 0o755,
                shown: dev.join(parent),
            });
        }
    };
    for (rel, node) in &nodes {
        parent_dirs(&mut ops, rel);
        ops.push(Op::Mknod {
            path: scratch.join(rel),
            shown: dev.join(rel),
            kind: node.kind,
            major: node.major,
            minor: node.minor,
            mode: node.mode & 0o7777,
            uid: node.uid,
            gid: node.gid,
        });
    }
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
        ops.push(Op::MkdirAll {
            step: Step::MkdirDevDir,
            path: scratch.join(&rel),
            mode: 0o755,
            shown: dev.join(&rel),
        });
    }
    for (s, rel) in submounts.iter().zip(&sub_rel) {
        parent_dirs(&mut ops, rel);
        ops.push(Op::Placeholder {
            path: scratch.join(rel),
            dir: s.is_dir,
        });
        ops.push(Op::MoveMount {
            step: Step::MoveSubmount,
            from: dev.join(rel),
            to: scratch.join(rel),
        });
    }
    if host.dev_is_mount {
        ops.push(Op::DetachMount {
            step: Step::UnmountOldDev,
            path: dev.to_owned(),
        });
    }
    ops.push(Op::MoveMount {
        step: Step::MoveNewDev,
        from: scratch.to_owned(),
        to: dev.to_owned(),
    });
    ops.push(Op::RemoveDir {
        step: Step::CleanupScratch,
        path: scratch.to_owned(),
    });
    Ok(ops)
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
