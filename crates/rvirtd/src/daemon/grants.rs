//! Grants added to and taken from a running domain (rvirt's DOMAIN_GRANT and
//! DOMAIN_REVOKE), and to or from its definition. A live grant changes, in order:
//! the file's owner (DAC, remembered and restored like a disk), the cgroup device
//! ACL, and QEMU's private `/dev` (a node in the hot-plug directory plus a symlink
//! at the granted path, made from a single-threaded helper that enters QEMU's
//! mount namespace). Landlock cannot be widened on a running process: a grant must
//! fall inside the rules QEMU got at start, which always include the hot-plug
//! directories of the private `/dev`. What was changed is recorded in the status
//! file ([`HotGrant`]), so a revoke after a daemon restart undoes exactly that, and
//! QEMU's end gives every owner back like the ones changed at start.
//!
//! A revoke stops new opens; descriptors QEMU already holds stay valid, as with any
//! Unix permission change: detach the device that uses the path first.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use confine::cgroup::{DeviceKind, DeviceRule};
use confine::dac::{DacDriver, DacItem, DacOutcome};
use confine::hostops::RealHostOps;
use confine::launcher::NsOp;
use domain_xml::model::rvirt_ns::{Grant, GrantAccess, check_grant_path};
use qemu_plan::{Access, Resource, ResourceKind};
use remote_protocol::RemoteError;
use remote_protocol::rvirt::impact;

use super::Daemon;
use super::ops;
use super::procfs;
use super::status::{HotGrant, Status};
use super::vm::Vm;
use crate::hostfacts::RealHostFacts;

use crate::registry::{DomainObj, Snapshot};

/// Which of the running domain and its definition a call changes (libvirt's
/// `VIR_DOMAIN_AFFECT_*` rules).
fn impact_of(flags: u32, s: &Snapshot) -> Result<(bool, bool), RemoteError> {
    let known = impact::LIVE | impact::CONFIG;
    if flags & !known != 0 {
        return Err(RemoteError::invalid_arg(&format!(
            "unsupported flags (0x{:x})",
            flags & !known
        )));
    }
    let (mut live, mut config) = (flags & impact::LIVE != 0, flags & impact::CONFIG != 0);
    if !live && !config {
        if s.is_active() {
            live = true;
        } else {
            config = true;
        }
    }
    if live && !s.is_active() {
        return Err(ops::not_running());
    }
    if config && !s.persistent {
        return Err(RemoteError::operation_invalid(
            "cannot change persistent config of a transient domain",
        ));
    }
    Ok((live, config))
}

/// The definition as it is now, with `f` applied, stored like a define.
fn change_config(
    d: &Daemon,
    obj: &DomainObj,
    f: impl FnOnce(&mut Vec<Grant>),
) -> Result<(), RemoteError> {
    let s = obj.snapshot();
    let Some(cfg) = &s.config else {
        return Err(RemoteError::operation_invalid(
            "cannot change persistent config of a transient domain",
        ));
    };
    let mut def = cfg.domain().map_err(|m| RemoteError::xml_error(&m))?;
    f(&mut def.grants);
    ops::define(d, &def.to_xml()).map(|_| ())
}

/// A failure of the definition step after the live one succeeded says so.
fn config_after_live(live: bool, what: &str, e: RemoteError) -> RemoteError {
    if live {
        RemoteError::operation_failed(&format!(
            "the running domain {what}, but its definition was not changed: {}",
            e.message()
        ))
    } else {
        e
    }
}

/// DOMAIN_GRANT.
pub async fn grant(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    path: String,
    read_write: bool,
    flags: u32,
) -> Result<(), RemoteError> {
    let _job = obj.job.lock().await;
    check_grant_path(&path).map_err(|m| RemoteError::invalid_arg(&m))?;
    let s = obj.snapshot();
    let (live, config) = impact_of(flags, &s)?;
    let g = Grant {
        path: path.clone(),
        access: if read_write {
            GrantAccess::ReadWrite
        } else {
            GrantAccess::ReadOnly
        },
    };
    // The host checks of a start, now: a grant that cannot work is refused here.
    qemu_plan::grant_resource(&g, &RealHostFacts, false, false)
        .map_err(|m| RemoteError::invalid_arg(&format!("grant '{path}': {m}")))?;
    if config
        && let Some(cfg) = &s.config
        && let Some(old) = cfg
            .domain()
            .map_err(|m| RemoteError::xml_error(&m))?
            .grants
            .into_iter()
            .find(|x| x.path == path)
    {
        return Err(RemoteError::operation_invalid(&format!(
            "domain '{}' already grants '{path}' ({}) in its definition; revoke it first",
            s.name, old.access
        )));
    }
    if live {
        grant_live(d, obj, &g).await?;
    }
    if config {
        change_config(d, obj, |grants| grants.push(g.clone()))
            .map_err(|e| config_after_live(live, "has the grant", e))?;
    }
    Ok(())
}

/// DOMAIN_REVOKE.
pub async fn revoke(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    path: String,
    flags: u32,
) -> Result<(), RemoteError> {
    let _job = obj.job.lock().await;
    let s = obj.snapshot();
    let (live, config) = impact_of(flags, &s)?;
    if config
        && !s
            .config
            .as_ref()
            .and_then(|c| c.domain().ok())
            .is_some_and(|c| c.grants.iter().any(|g| g.path == path))
    {
        return Err(RemoteError::invalid_arg(&format!(
            "domain '{}' has no grant for '{path}' in its definition",
            s.name
        )));
    }
    if live {
        revoke_live(d, obj, &path).await?;
    }
    if config {
        change_config(d, obj, |grants| grants.retain(|g| g.path != path))
            .map_err(|e| config_after_live(live, "lost the grant", e))?;
    }
    Ok(())
}

/// Writes the cleanup as it is, and `f`'s changes, to the status file — only while
/// QEMU's actor has not taken the cleanup (else the domain's records are gone and
/// must stay gone). `None`: QEMU has ended.
fn persist(d: &Daemon, vm: &Vm, f: impl FnOnce(&mut Status)) -> Option<()> {
    vm.with_cleanup(|c| {
        let record = c.record();
        vm.update_status(d, |s| {
            s.record.cleanup = record;
            f(s);
        });
    })
}

async fn grant_live(d: &Arc<Daemon>, obj: &Arc<DomainObj>, g: &Grant) -> Result<(), RemoteError> {
    let vm = d.vm(&obj.uuid).ok_or_else(ops::not_running)?;
    let st = vm.status();
    if let Some(old) = st.domain.grants.iter().find(|x| x.path == g.path) {
        return Err(RemoteError::operation_invalid(&format!(
            "domain '{}' already has a live grant for '{}' ({}); revoke it first",
            vm.name, g.path, old.access
        )));
    }
    let (d2, vm2, g2) = (d.clone(), vm.clone(), g.clone());
    let hot = tokio::task::spawn_blocking(move || apply(&d2, &vm2, &st, &g2))
        .await
        .map_err(|e| RemoteError::internal(&e.to_string()))??;
    let recorded = persist(d, &vm, |s| {
        s.domain.grants.push(g.clone());
        s.record.hotplug.push(hot);
        let live = Arc::new(s.domain.clone());
        obj.update(|o| o.live = Some(live));
    });
    // QEMU ended meanwhile: its actor gave everything back already.
    recorded.ok_or_else(ops::not_running)?;
    tracing::info!(
        "domain '{}': granted '{}' ({}) while running",
        vm.name,
        g.path,
        g.access
    );
    Ok(())
}

async fn revoke_live(d: &Arc<Daemon>, obj: &Arc<DomainObj>, path: &str) -> Result<(), RemoteError> {
    let vm = d.vm(&obj.uuid).ok_or_else(ops::not_running)?;
    let st = vm.status();
    if !st.domain.grants.iter().any(|g| g.path == path) {
        return Err(RemoteError::invalid_arg(&format!(
            "domain '{}' has no live grant for '{path}'",
            vm.name
        )));
    }
    let Some(mut hot) = st.record.hotplug.iter().find(|h| h.path == path).cloned() else {
        return Err(RemoteError::operation_invalid(&format!(
            "the grant for '{path}' was part of domain '{}' when it started, and stays until it stops; remove it from the definition with --config",
            vm.name
        )));
    };
    // Another live grant of the same device keeps the cgroup rule (it added none).
    if let Some(rule) = hot.cgroup_rule
        && let Some(heir) = st
            .record
            .hotplug
            .iter()
            .find(|h| h.path != path && same_device(&h.path, path))
    {
        let merged = merge_rules(heir.cgroup_rule.as_ref(), &rule);
        let heir = heir.path.clone();
        hot.cgroup_rule = None;
        let kept = hot.clone();
        persist(d, &vm, |s| {
            for h in &mut s.record.hotplug {
                if h.path == heir {
                    h.cgroup_rule = merged;
                } else if h.path == kept.path {
                    *h = kept.clone();
                }
            }
        })
        .ok_or_else(ops::not_running)?;
    }
    let (d2, vm2, start_time) = (d.clone(), vm.clone(), st.record.start_time);
    let (hot, problems) = tokio::task::spawn_blocking(move || {
        let problems = undo(&d2, &vm2, start_time, &mut hot);
        (hot, problems)
    })
    .await
    .map_err(|e| RemoteError::internal(&e.to_string()))?;
    let done = hot.is_undone();
    let _ = persist(d, &vm, |s| {
        if done {
            s.domain.grants.retain(|g| g.path != path);
            s.record.hotplug.retain(|h| h.path != path);
        } else if let Some(h) = s.record.hotplug.iter_mut().find(|h| h.path == path) {
            *h = hot;
        }
        let live = Arc::new(s.domain.clone());
        obj.update(|o| o.live = Some(live));
    });
    if !problems.is_empty() {
        return Err(RemoteError::operation_failed(&format!(
            "domain '{}': revoking '{path}': {}",
            vm.name,
            problems.join("; ")
        )));
    }
    tracing::info!("domain '{}': revoked '{path}' while running", vm.name);
    Ok(())
}

/// Whether two host paths are the same device node (same kind and number).
fn same_device(a: &str, b: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let id = |p: &str| {
        let m = fs::metadata(p).ok()?;
        let t = m.file_type();
        (t.is_block_device() || t.is_char_device()).then(|| (t.is_block_device(), m.rdev()))
    };
    id(a).is_some_and(|x| Some(x) == id(b))
}

/// One rule with the access of both (same device).
fn merge_rules(a: Option<&DeviceRule>, b: &DeviceRule) -> Option<DeviceRule> {
    Some(match a {
        Some(a) => DeviceRule {
            read: a.read || b.read,
            write: a.write || b.write,
            ..*a
        },
        None => *b,
    })
}

/// Whether Landlock rules fixed at start let QEMU use `real` with `access`.
fn landlock_covers(rules: &confine::spec::LandlockRules, real: &Path, access: Access) -> bool {
    let under = |list: &[PathBuf]| list.iter().any(|r| real.starts_with(r));
    under(&rules.read_write) || (access == Access::ReadOnly && under(&rules.read))
}

/// The cgroup rule of a device grant, in the cgroup driver's terms.
fn device_rule(r: &Resource) -> Option<DeviceRule> {
    r.cgroup_rule()
}

/// The part of `want` that `rules` do not allow already (`None`: nothing).
fn missing_access(rules: &[DeviceRule], want: &DeviceRule) -> Option<DeviceRule> {
    let matching = rules.iter().filter(|r| {
        (r.kind == want.kind || r.kind == DeviceKind::All)
            && r.major.is_none_or(|m| Some(m) == want.major)
            && r.minor.is_none_or(|m| Some(m) == want.minor)
    });
    let (mut read, mut write) = (false, false);
    for r in matching {
        read |= r.read;
        write |= r.write;
    }
    let add = DeviceRule {
        read: want.read && !read,
        write: want.write && !write,
        ..*want
    };
    (add.read || add.write).then_some(add)
}

fn dac_driver(d: &Daemon) -> DacDriver<RealHostOps> {
    let mut driver = DacDriver::new(RealHostOps);
    driver.remember_owner = d.host.config.remember_owner;
    driver.dynamic_ownership = d.host.config.dynamic_ownership;
    driver
}

/// A grant's error, naming the domain and the path.
fn grant_failed(name: &str, g: &Grant, m: &str) -> RemoteError {
    RemoteError::operation_failed(&format!("domain '{name}': grant '{}': {m}", g.path))
}

/// The file a live grant is about, resolved once: the checks and every change see
/// the same file, through its descriptor, so a path component swapped meanwhile
/// cannot redirect them.
struct Target {
    /// Keeps `via` valid.
    _pinned: std::os::fd::OwnedFd,
    via: PathBuf,
    real: PathBuf,
    res: Resource,
    /// A device node that goes into QEMU's private `/dev`.
    in_private_dev: bool,
    /// The path as QEMU's mount namespace shows it.
    seen: PathBuf,
}

impl Target {
    fn pinned(&self) -> Pinned<'_> {
        Pinned {
            via: &self.via,
            real: &self.real,
        }
    }
}

fn resolve(vm: &Vm, st: &Status, g: &Grant, relabel: bool) -> Result<Target, RemoteError> {
    let fail = |m: String| grant_failed(&vm.name, g, &m);
    let pinned = rustix::fs::open(
        g.path.as_str(),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| fail(format!("cannot open: {e}")))?;
    let via = PathBuf::from(format!("/proc/self/fd/{}", pinned.as_raw_fd()));
    let real = fs::read_link(&via).map_err(|e| fail(format!("cannot resolve: {e}")))?;
    let res = qemu_plan::grant_resource(
        g,
        &Pinned {
            via: &via,
            real: &real,
        },
        relabel,
        false,
    )
    .map_err(|m| RemoteError::invalid_arg(&format!("grant '{}': {m}", g.path)))?;
    let is_dev = matches!(
        res.kind,
        ResourceKind::CharDev { .. } | ResourceKind::BlockDev { .. }
    );
    Ok(Target {
        _pinned: pinned,
        via,
        real,
        in_private_dev: is_dev && st.mount_namespace && g.path.starts_with("/dev/"),
        seen: PathBuf::from(format!("/proc/{}/root{}", vm.pid, g.path)),
        res,
    })
}

/// Refuses what a running QEMU cannot be given: a node its private `/dev` copied at
/// start, or a path its Landlock rules (fixed at start) do not cover.
fn check_grantable(name: &str, st: &Status, g: &Grant, t: &Target) -> Result<(), RemoteError> {
    if t.in_private_dev && fs::symlink_metadata(&t.seen).is_ok() {
        // Its node in QEMU's /dev is a copy made at start: changing the host node's
        // owner would not change it.
        return Err(RemoteError::operation_invalid(&format!(
            "domain '{name}': '{}' is in QEMU's private /dev since it started; a grant for it must be in the definition (--config) and takes effect at the next start",
            g.path
        )));
    }
    if st.record.landlock_abi.is_none_or(|a| a == 0) {
        return Ok(());
    }
    let rules = st.record.landlock_rules.clone().unwrap_or_default();
    // A new node goes into the hot-plug directory of its access, allowed at start.
    let covered = if t.in_private_dev {
        let dir = PathBuf::from(qemu_plan::hotplug_dir(t.res.access));
        rules.read_write.contains(&dir)
            || (t.res.access == Access::ReadOnly && rules.read.contains(&dir))
    } else {
        landlock_covers(&rules, &t.real, t.res.access)
    };
    if covered {
        return Ok(());
    }
    Err(RemoteError::operation_invalid(&format!(
        "domain '{name}': cannot grant '{}' while it runs: QEMU's Landlock rules were fixed when it started (the kernel cannot widen them) and do not cover it; fix: add the grant to the definition (rvirt grant {name} {} --access {} --config) and restart the domain, or set landlock = 0 in qemu.conf",
        g.path, g.path, g.access
    )))
}

/// Makes the grant real for the running QEMU; on a failure everything done so far
/// is undone and the error names the layer.
fn apply(d: &Daemon, vm: &Vm, st: &Status, g: &Grant) -> Result<HotGrant, RemoteError> {
    let name = &vm.name;
    let fail = |m: String| grant_failed(name, g, &m);
    let start_time = st.record.start_time;
    if !procfs::is_same_process(vm.pid, start_time) {
        return Err(ops::not_running());
    }
    let relabel = vm
        .with_cleanup(|c| c.dac_active)
        .ok_or_else(ops::not_running)?;
    let t = resolve(vm, st, g, relabel)?;
    check_grantable(name, st, g, &t)?;
    let (uid, gid, groups) = procfs::identity(vm.pid)
        .ok_or_else(|| fail(format!("cannot read /proc/{}/status", vm.pid)))?;
    let mut hot = HotGrant {
        path: g.path.clone(),
        read_write: t.res.access == Access::ReadWrite,
        node: None,
        cgroup_rule: None,
        owner: false,
        real: None,
    };
    let undo_then = |hot: &mut HotGrant, e: RemoteError| {
        for p in undo(d, vm, start_time, hot) {
            tracing::warn!("domain '{name}': undoing grant '{}': {p}", g.path);
        }
        e
    };
    if t.res.dac_relabel {
        change_owner(d, vm, &t, (uid, gid), &mut hot).map_err(|m| fail(format!("DAC: {m}")))?;
    }
    if uid != 0 && t.res.kind != ResourceKind::Dir {
        let write = t.res.access == Access::ReadWrite;
        if let Err(denial) = dac_driver(d).check_access(&t.real, uid, gid, &groups, write) {
            return Err(undo_then(&mut hot, fail(denial.to_string())));
        }
    }
    // cgroup device ACL: only what it does not allow already, so a revoke never
    // takes away what the domain had before.
    if let Some(want) = device_rule(&t.res) {
        match allow_missing(vm, &want) {
            Some(Ok(rule)) => hot.cgroup_rule = rule,
            Some(Err(e)) => {
                return Err(undo_then(&mut hot, fail(format!("cgroup device ACL: {e}"))));
            }
            None => return Err(undo_then(&mut hot, ops::not_running())),
        }
    }
    if t.in_private_dev {
        if let Err(e) = add_node(d, vm, g, &t, start_time, &mut hot) {
            return Err(undo_then(&mut hot, e));
        }
    } else if fs::metadata(&t.seen).is_err() {
        return Err(undo_then(
            &mut hot,
            fail(format!(
                "'{}' is not visible in QEMU's mount namespace (only device nodes can be added to its private /dev)",
                g.path
            )),
        ));
    }
    Ok(hot)
}

/// DAC: QEMU's own account becomes the owner (as for a disk); the old owner is
/// remembered and given back at revoke or stop. The change is in the status file
/// before it is made, with its original owner, so a daemon killed in between still
/// gives the file back (a restore never guesses an owner).
fn change_owner(
    d: &Daemon,
    vm: &Vm,
    t: &Target,
    (uid, gid): (u32, u32),
    hot: &mut HotGrant,
) -> Result<(), String> {
    let remember = d.host.config.remember_owner;
    let driver = dac_driver(d);
    let mut held = d.host.owners.lock();
    let orig = match held.origin_elsewhere(&vm.name, &t.real) {
        Some(o) => o,
        None => Some(
            driver
                .original_owner(&t.res.origin, &t.via)
                .map_err(|e| e.to_string())?,
        ),
    };
    let item = DacItem {
        what: t.res.origin.clone(),
        path: t.real.clone(),
        uid,
        gid,
        remember,
        orig,
    };
    persist_owner_item(d, vm, Some(item.clone())).ok_or("domain is not running")?;
    hot.real = Some(t.real.clone());
    match driver.set_owner_for(&t.res.origin, &t.via, uid, gid, remember) {
        Err(e) => {
            let _ = persist_owner_item(d, vm, None);
            Err(e.to_string())
        }
        // Only a change (or a remembered reference) is given back later: a file
        // QEMU's account owned already stays its owner's.
        Ok(o) if remember || matches!(o, DacOutcome::Chowned { .. }) => {
            hot.owner = true;
            held.hold(&vm.name, &[item]);
            Ok(())
        }
        Ok(_) => {
            let _ = persist_owner_item(d, vm, None);
            Ok(())
        }
    }
}

/// Adds to the running domain's device ACL what `want` asks and it does not allow
/// yet; `Some(Ok(None))`: nothing was missing (or no devices controller), `None`:
/// the domain is gone.
fn allow_missing(
    vm: &Vm,
    want: &DeviceRule,
) -> Option<Result<Option<DeviceRule>, confine::cgroup::CgroupError>> {
    vm.with_cleanup(|c| {
        let Some(cg) = c.cgroup.as_mut() else {
            return Ok(None);
        };
        match cg.reconnect_device_acl() {
            Ok(true) => {}
            Ok(false) | Err(confine::cgroup::CgroupError::NoDevicesController) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let Some(add) = missing_access(&cg.device_rules()?, want) else {
            return Ok(None);
        };
        cg.allow_device(&add)?;
        Ok(Some(add))
    })
}

/// Namespace: a node in the hot-plug directory and a symlink at the path.
fn add_node(
    d: &Daemon,
    vm: &Vm,
    g: &Grant,
    t: &Target,
    start_time: u64,
    hot: &mut HotGrant,
) -> Result<(), RemoteError> {
    let fail = |m: &str| grant_failed(&vm.name, g, m);
    let node_path = qemu_plan::hotplug_node_path(&g.path, t.res.access)
        .ok_or_else(|| fail("not a path for the private /dev"))?;
    let mut node = t
        .res
        .dev_node(&t.pinned())
        .ok_or_else(|| fail("the device node vanished"))?;
    node.path = PathBuf::from(&node_path);
    let ops = [
        NsOp::Mknod(node),
        NsOp::Symlink {
            path: PathBuf::from(&g.path),
            target: PathBuf::from(&node_path),
        },
    ];
    // Recorded first: a symlink made before a failure is removed by the undo.
    hot.node = Some(PathBuf::from(&node_path));
    if !procfs::is_same_process(vm.pid, start_time) {
        return Err(ops::not_running());
    }
    d.host
        .launcher
        .nsexec(vm.pid, &ops)
        .map_err(|e| fail(&format!("QEMU's private /dev: {e}")))
}

/// Adds the owner item of a grant being made to the cleanup (`Some`), or takes the
/// last one added back out (`None`), and writes the status file.
fn persist_owner_item(d: &Daemon, vm: &Vm, item: Option<DacItem>) -> Option<()> {
    vm.with_cleanup(|c| match item {
        Some(item) => {
            c.owners.items.push(item);
        }
        None => {
            c.owners.items.pop();
        }
    })?;
    persist(d, vm, |_| {})
}

/// The host as a grant's checks see it: the one file pinned by a descriptor
/// (`via`, its `/proc/self/fd` link) and the path it resolved to.
struct Pinned<'a> {
    via: &'a Path,
    real: &'a Path,
}

impl qemu_plan::HostFacts for Pinned<'_> {
    fn stat(&self, _path: &str) -> Option<qemu_plan::PathKind> {
        RealHostFacts.stat(&self.via.to_string_lossy())
    }

    fn backing_file(&self, _path: &str) -> Option<qemu_plan::ImageBacking> {
        None
    }

    fn canonical(&self, _path: &str) -> Option<String> {
        Some(self.real.to_string_lossy().into_owned())
    }

    fn owner(&self, _path: &str) -> Option<qemu_plan::PathOwner> {
        RealHostFacts.owner(&self.via.to_string_lossy())
    }
}

/// Gives a live grant's file back to its owner (the restore is idempotent: a
/// daemon killed before the record goes gives it back again harmlessly), then
/// takes it out of the records.
fn give_back(d: &Daemon, vm: &Vm, hot: &mut HotGrant) -> Vec<String> {
    let mut problems = Vec::new();
    // Given back first (the restore is idempotent: a daemon killed before the
    // record goes gives it back again harmlessly), then out of the records.
    let owner_path = hot.real.clone().unwrap_or_else(|| PathBuf::from(&hot.path));
    let found = vm
        .with_cleanup(|c| {
            let same: Vec<&DacItem> = c
                .owners
                .items
                .iter()
                .filter(|i| i.path == owner_path)
                .collect();
            same.last().map(|i| ((*i).clone(), same.len() > 1))
        })
        .flatten();
    if let Some((item, also_used_here)) = found {
        let mut held = d.host.owners.lock();
        held.release_one(&vm.name, &item.path);
        let shared = also_used_here || held.shared(&vm.name, &item.path);
        if let Err(e) = dac_driver(d).restore_item(&item, shared) {
            problems.push(format!("DAC: {e}"));
        }
        vm.with_cleanup(|c| {
            if let Some(i) = c.owners.items.iter().rposition(|i| i.path == owner_path) {
                c.owners.items.remove(i);
            }
        });
    }
    hot.owner = false;
    let kept = hot.clone();
    let _ = persist(d, vm, |s| {
        if let Some(h) = s.record.hotplug.iter_mut().find(|h| h.path == kept.path) {
            *h = kept;
        }
    });
    problems
}

/// Undoes what `hot` records, clearing each part once undone; returns the problems.
/// With QEMU gone, its actor has given everything back already.
fn undo(d: &Daemon, vm: &Vm, start_time: u64, hot: &mut HotGrant) -> Vec<String> {
    let mut problems = Vec::new();
    if vm.with_cleanup(|_| ()).is_none() || !procfs::is_same_process(vm.pid, start_time) {
        hot.node = None;
        hot.cgroup_rule = None;
        hot.owner = false;
        return problems;
    }
    if let Some(node) = &hot.node {
        let ops = [
            NsOp::Remove {
                path: PathBuf::from(&hot.path),
            },
            NsOp::Remove { path: node.clone() },
        ];
        match d.host.launcher.nsexec(vm.pid, &ops) {
            Ok(()) => {
                hot.node = None;
                // Directories the symlink needed (`/dev/mapper`…) go when empty; the
                // first one still in use ends it (its parents are in use too).
                let parents: Vec<NsOp> = Path::new(&hot.path)
                    .ancestors()
                    .skip(1)
                    .take_while(|p| p.starts_with("/dev/") && *p != Path::new("/dev"))
                    .map(|p| NsOp::Remove { path: p.into() })
                    .collect();
                if !parents.is_empty() {
                    let _ = d.host.launcher.nsexec(vm.pid, &parents);
                }
            }
            Err(e) => problems.push(format!("QEMU's private /dev: {e}")),
        }
    }
    if let Some(rule) = hot.cgroup_rule {
        let r = vm
            .with_cleanup(|c| match c.cgroup.as_mut() {
                Some(cg) => cg.deny_device(&rule).map_err(|e| e.to_string()),
                None => Ok(()),
            })
            .unwrap_or(Ok(()));
        match r {
            Ok(()) => hot.cgroup_rule = None,
            Err(e) => problems.push(format!("cgroup device ACL: {e}")),
        }
    }
    if hot.owner {
        problems.extend(give_back(d, vm, hot));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> DeviceRule {
        s.parse().unwrap()
    }

    #[test]
    fn only_missing_access_is_added() {
        let want = rule("b 8:16 rw");
        assert_eq!(missing_access(&[], &want), Some(want));
        assert_eq!(
            missing_access(&[rule("b 8:16 r")], &want),
            Some(rule("b 8:16 w"))
        );
        assert_eq!(missing_access(&[rule("b 8:* rw")], &want), None);
        assert_eq!(missing_access(&[rule("a *:* rw")], &want), None);
        assert_eq!(missing_access(&[rule("c 8:16 rw")], &want), Some(want));
    }

    #[test]
    fn landlock_coverage() {
        let rules = confine::spec::LandlockRules {
            read: vec!["/usr".into()],
            read_write: vec!["/var/lib/x".into()],
        };
        for (path, access, covered) in [
            ("/usr/share/a", Access::ReadOnly, true),
            ("/usr/share/a", Access::ReadWrite, false),
            ("/var/lib/x/y", Access::ReadWrite, true),
            ("/var/lib/xy", Access::ReadOnly, false),
            ("/srv/a", Access::ReadOnly, false),
        ] {
            assert_eq!(
                landlock_covers(&rules, Path::new(path), access),
                covered,
                "{path} {access}"
            );
        }
    }
}
