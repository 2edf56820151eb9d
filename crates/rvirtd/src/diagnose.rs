//! "Permission denied" with a name: when QEMU fails to open something, find which
//! confinement layer refused — the private `/dev`, the cgroup device ACL, Landlock,
//! DAC, or seccomp — and say how to allow it. libvirt leaves users with a bare
//! EACCES; this is computed from the plan (what each layer was told to allow) and the
//! path from QEMU's message, so it needs no access to the (gone) process.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use qemu_plan::LaunchPlan;

/// The layer that refused, with the path, who QEMU ran as, and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub layer: Layer,
    pub path: String,
    pub identity: String,
    pub fix: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    NamespaceDev,
    CgroupAcl,
    Landlock,
    Dac,
    Seccomp,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::NamespaceDev => "namespace /dev",
            Layer::CgroupAcl => "cgroup device ACL",
            Layer::Landlock => "Landlock",
            Layer::Dac => "DAC",
            Layer::Seccomp => "seccomp",
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "denied by {}: '{}' (QEMU ran as {}); fix: {}",
            self.layer.name(),
            self.path,
            self.identity,
            self.fix
        )
    }
}

/// What the diagnosis needs to know about the start besides the plan.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `uid:gid` (and groups) QEMU ran as, for the message and the DAC check.
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Whether the cgroup device ACL was applied.
    pub device_acl: bool,
}

/// The kind of failure in a QEMU error line.
fn errno_of(line: &str) -> Option<&'static str> {
    if line.contains("Permission denied") {
        Some("EACCES")
    } else if line.contains("Operation not permitted") {
        Some("EPERM")
    } else if line.contains("No such file or directory") {
        Some("ENOENT")
    } else {
        None
    }
}

/// Absolute paths QEMU quotes in a message: `'...'`, `"..."` or `path=`/`file=` values.
fn paths_in(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for q in ['\'', '"'] {
        let mut parts = line.split(q);
        parts.next();
        while let (Some(inside), _) = (parts.next(), parts.next()) {
            if inside.starts_with('/') {
                out.push(inside.to_owned());
            }
        }
    }
    for key in ["path=", "file=", "filename="] {
        for (i, _) in line.match_indices(key) {
            let v: String = line[i + key.len()..]
                .chars()
                .take_while(|c| !matches!(c, ',' | ' ' | ':' | '\'' | '"'))
                .collect();
            if v.starts_with('/') {
                out.push(v);
            }
        }
    }
    out.dedup();
    out
}

/// The grant that lets every layer allow `path` for this domain.
pub fn grant_hint(path: &str) -> String {
    format!(
        "<rvirt:grant path='{path}' access='rw'/> (xmlns:rvirt='urn:rvirt:schemas:domain:1.0'; access='ro' if reading is enough)"
    )
}

fn beneath(path: &str, rule: &str) -> bool {
    path == rule || path.starts_with(&format!("{}/", rule.trim_end_matches('/')))
}

/// Looks through QEMU's log for an access failure and names the layer.
pub fn diagnose(log: &str, plan: &LaunchPlan, ctx: &Context) -> Option<Denial> {
    let identity = format!("{}:{} (groups {:?})", ctx.uid, ctx.gid, ctx.groups);
    for line in log.lines().rev() {
        let Some(errno) = errno_of(line) else {
            continue;
        };
        for path in paths_in(line) {
            if let Some(d) = classify(&path, errno, plan, ctx) {
                return Some(Denial { identity, ..d });
            }
        }
        if errno == "EPERM" && plan.sandbox.as_deref().is_some_and(|s| s.starts_with("on")) {
            return Some(Denial {
                layer: Layer::Seccomp,
                path: String::new(),
                identity,
                fix: "QEMU's seccomp sandbox refused an operation; if a passthrough argument needs it, \
                      set seccomp_sandbox = 0 in qemu.conf"
                    .into(),
            });
        }
    }
    None
}

fn classify(path: &str, errno: &str, plan: &LaunchPlan, ctx: &Context) -> Option<Denial> {
    let md = std::fs::metadata(path).ok();
    let node = md
        .as_ref()
        .filter(|m| m.file_type().is_char_device() || m.file_type().is_block_device());
    let (layer, fix) = namespace_denial(path, errno, plan, node.is_some())
        .or_else(|| node.and_then(|m| cgroup_denial(path, errno, plan, ctx, m)))
        .or_else(|| dac_denial(path, errno, ctx))
        .or_else(|| landlock_denial(path, errno, plan))?;
    Some(Denial {
        layer,
        path: path.to_owned(),
        identity: String::new(),
        fix,
    })
}

/// A host node missing from the private /dev: QEMU's open may fail with ENOENT, or
/// with EACCES when it tries to create the file there (O_CREAT): either way the
/// namespace is the cause. EPERM on a node is the device cgroup's answer, not the
/// namespace's.
fn namespace_denial(
    path: &str,
    errno: &str,
    plan: &LaunchPlan,
    is_node: bool,
) -> Option<(Layer, String)> {
    if !(plan.mount_namespace && path.starts_with("/dev/") && is_node && errno != "EPERM") {
        return None;
    }
    let in_ns = plan
        .resources
        .iter()
        .any(|r| r.path == path && r.dev_node(&crate::hostfacts::RealHostFacts).is_some());
    let submount = ["/dev/pts/", "/dev/shm/", "/dev/mqueue/", "/dev/hugepages"]
        .iter()
        .any(|p| path.starts_with(p));
    (!in_ns && !submount).then(|| {
        (
            Layer::NamespaceDev,
            format!(
                "QEMU's private /dev has only the planned nodes: grant it with {}, or add '{path}' to qemu.conf cgroup_device_acl (it also fills the private /dev), or set namespaces = []",
                grant_hint(path)
            ),
        )
    })
}

fn cgroup_denial(
    path: &str,
    errno: &str,
    plan: &LaunchPlan,
    ctx: &Context,
    m: &std::fs::Metadata,
) -> Option<(Layer, String)> {
    if !(ctx.device_acl && errno == "EPERM") {
        return None;
    }
    let (major, minor) = (rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev()));
    let block = m.file_type().is_block_device();
    let allowed = plan.cgroup_acl().iter().any(|r| {
        r.major.is_none_or(|x| x == major)
            && r.minor.is_none_or(|x| x == minor)
            && (r.kind == qemu_plan::DeviceKind::Block) == block
    });
    (!allowed).then(|| {
        (
            Layer::CgroupAcl,
            format!(
                "the VM's cgroup allows only its planned devices: grant it with {}, or add '{path}' to qemu.conf cgroup_device_acl, or leave 'devices' out of cgroup_controllers",
                grant_hint(path)
            ),
        )
    })
}

/// The kernel checks file permissions before Landlock's open hook.
fn dac_denial(path: &str, errno: &str, ctx: &Context) -> Option<(Layer, String)> {
    if errno != "EACCES" && errno != "EPERM" {
        return None;
    }
    let denial = confine::dac::check_access(
        &confine::hostops::RealHostOps,
        Path::new(path),
        ctx.uid,
        ctx.gid,
        &ctx.groups,
        false,
    )
    .err()?;
    Some((
        Layer::Dac,
        format!(
            "{}; or grant it with {} (granted paths are relabelled for the run)",
            denial.fix(),
            grant_hint(path)
        ),
    ))
}

fn landlock_denial(path: &str, errno: &str, plan: &LaunchPlan) -> Option<(Layer, String)> {
    if !(plan.landlock && errno == "EACCES") {
        return None;
    }
    let covered = plan.landlock_rules().iter().any(|r| beneath(path, &r.path));
    let system = ["/usr/", "/lib/", "/lib64/", "/etc/"]
        .iter()
        .any(|p| path.starts_with(p));
    (!covered && !system).then(|| {
        (
            Layer::Landlock,
            format!(
                "Landlock lets QEMU reach only the paths in its plan: '{path}' is not one; grant it with {}, or set landlock = 0 in qemu.conf",
                grant_hint(path)
            ),
        )
    })
}

/// QEMU's seccomp sandbox kills the process with SIGSYS ("Bad system call") when a
/// denied syscall is made (e.g. spawning a helper with `spawn=deny`): an exit by that
/// signal is the sandbox's denial.
pub fn exit_denial(status: std::process::ExitStatus) -> Option<Denial> {
    use std::os::unix::process::ExitStatusExt;
    (status.signal() == Some(SIGSYS)).then(|| Denial {
        layer: Layer::Seccomp,
        path: String::new(),
        identity: String::new(),
        fix: "QEMU's seccomp sandbox (-sandbox on,...,spawn=deny) killed it for a forbidden system call \
              (SIGSYS), e.g. spawning a helper program; if a passthrough feature needs that, set \
              seccomp_sandbox = 0 in qemu.conf"
            .into(),
    })
}

/// Newer QEMUs (10.0 here) make the sandbox's spawn filter fail `fork`/`clone` with
/// EPERM instead of killing the process, so the denial arrives as a QMP error
/// (`Failed to fork (Operation not permitted)`). Nothing else refuses a fork with
/// EPERM (Landlock does not filter it; a pids limit gives EAGAIN): that text is the
/// sandbox's denial.
pub fn qmp_denial(desc: &str) -> Option<Denial> {
    let spawn = desc.contains("fork") || desc.contains("spawn") || desc.contains("exec");
    (spawn && desc.contains("Operation not permitted")).then(|| Denial {
        layer: Layer::Seccomp,
        path: String::new(),
        identity: String::new(),
        fix: "QEMU's seccomp sandbox (-sandbox on,...,spawn=deny) refused to let it start a \
              helper program (EPERM); if a passthrough feature needs that, set \
              seccomp_sandbox = 0 in qemu.conf"
            .into(),
    })
}

/// SIGSYS on Linux (x86, arm and most architectures).
const SIGSYS: i32 = 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_refusals_in_qmp_errors_are_the_sandbox() {
        let d = qmp_denial("Failed to fork (Operation not permitted)").expect("denial");
        assert_eq!(d.layer, Layer::Seccomp);
        assert!(d.fix.contains("seccomp_sandbox = 0"));
        assert!(qmp_denial("Could not open '/x': Operation not permitted").is_none());
        assert!(qmp_denial("Failed to fork (Resource temporarily unavailable)").is_none());
    }

    #[test]
    fn finds_paths_in_qemu_messages() {
        assert_eq!(
            paths_in(
                "qemu-system-x86_64: -chardev file,id=c,path=/dev/tty: Could not open '/dev/tty': No such file or directory"
            ),
            vec!["/dev/tty".to_owned()]
        );
        assert_eq!(
            paths_in("-fw_cfg name=opt/x,file=/srv/blob: can't load /srv/blob, Permission denied"),
            vec!["/srv/blob".to_owned()]
        );
        assert_eq!(errno_of("x: Operation not permitted"), Some("EPERM"));
        assert_eq!(errno_of("fine"), None);
    }
}
