//! What a started domain leaves to undo when it stops (or when its start fails
//! after the executor handed it over): owners to give back, the cgroup, sockets and
//! directories. Recorded in the status file, so a daemon restarted after a crash
//! undoes exactly the same.

use std::fs;
use std::path::{Path, PathBuf};

use confine::cgroup::{GROUP_SUFFIX, VmCgroup, machine_name, remove_group_dirs};
use confine::dac::{DacDriver, Transaction};
use confine::exec::{Done, HelperRecord};
use confine::hostops::RealHostOps;
use confine::selinux::SelinuxDriver;

use crate::owners::OwnerLedger;
use crate::paths::Paths;

/// How long a helper (swtpm) gets to end after SIGTERM before SIGKILL.
const HELPER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How a cleanup problem about a file's owner begins (after the domain's name).
pub const OWNER_NOT_RESTORED: &str = "owner not restored";

/// What must be undone when the domain stops (also recorded in the status file).
#[derive(Debug, Default)]
pub struct Cleanup {
    pub domain: String,
    pub lib_dir: Option<PathBuf>,
    pub scratch_dir: Option<PathBuf>,
    pub sockets: Vec<PathBuf>,
    pub cgroup: Option<VmCgroup>,
    pub owners: Transaction,
    pub dac_active: bool,
    pub remember_owner: bool,
    /// cgroup directories known only by path (a QEMU that died while the daemon was
    /// down cannot be asked for its groups): removed with `rmdir` when `cgroup` is
    /// `None`.
    pub cgroup_dirs: Vec<PathBuf>,
    /// Directories the daemon created for the domain outside its private directory
    /// (the per-domain hugetlbfs directory): removed with their content.
    pub created_dirs: Vec<PathBuf>,
    /// Files given SELinux labels (restored from their remembered labels), with
    /// whether the label was remembered; `selinux_enforcing` is set when SELinux was
    /// in use.
    pub selinux_labels: Vec<(PathBuf, bool)>,
    pub selinux_enforcing: Option<bool>,
    /// The domain's dynamic MCS level, given back to the daemon's table.
    pub selinux_mcs: Option<String>,
    /// Helper processes (swtpm) stopped before the cgroup goes.
    pub helpers: Vec<HelperRecord>,
}

/// One remembered ownership change, as kept in the status file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnerRecord {
    pub what: String,
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub remember: bool,
    /// The owner before the start, journaled before the chown (absent in records of
    /// older daemons: the remembered-owner xattrs are the fallback then).
    #[serde(default)]
    pub orig: Option<(u32, u32)>,
}

/// The status-file form of a DAC transaction's items.
pub(crate) fn owner_records(t: &Transaction) -> Vec<OwnerRecord> {
    t.items
        .iter()
        .map(|i| OwnerRecord {
            what: i.what.clone(),
            path: i.path.clone(),
            uid: i.uid,
            gid: i.gid,
            remember: i.remember,
            orig: i.orig,
        })
        .collect()
}

/// The DAC transaction a record describes.
pub fn owner_transaction(records: &[OwnerRecord]) -> Transaction {
    let mut owners = Transaction::new();
    for o in records {
        owners.add(o.what.clone(), o.path.clone(), o.uid, o.gid, o.remember);
        if let Some(last) = owners.items.last_mut() {
            last.orig = o.orig;
        }
    }
    owners
}

/// What [`Cleanup`] holds, in a form the status file can carry across a daemon
/// restart (or crash).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CleanupRecord {
    pub domain: String,
    pub lib_dir: Option<PathBuf>,
    pub scratch_dir: Option<PathBuf>,
    pub sockets: Vec<PathBuf>,
    pub cgroup_dirs: Vec<PathBuf>,
    /// The cgroup directory name (`qemu-ID-NAME.rvirt-qemu`), to re-adopt it.
    pub cgroup_name: Option<String>,
    /// Its partition (`/machine`), to find groups of a start cut short.
    #[serde(default)]
    pub cgroup_partition: Option<String>,
    pub owners: Vec<OwnerRecord>,
    pub dac_active: bool,
    pub remember_owner: bool,
    #[serde(default)]
    pub created_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub selinux_labels: Vec<(PathBuf, bool)>,
    #[serde(default)]
    pub selinux_enforcing: Option<bool>,
    #[serde(default)]
    pub selinux_mcs: Option<String>,
    #[serde(default)]
    pub helpers: Vec<HelperRecord>,
}

impl Cleanup {
    /// The serialisable form of this cleanup.
    pub fn record(&self) -> CleanupRecord {
        let mut cgroup_dirs = self.cgroup_dirs.clone();
        if let Some(cg) = &self.cgroup {
            cgroup_dirs.extend(cg.paths());
        }
        CleanupRecord {
            domain: self.domain.clone(),
            lib_dir: self.lib_dir.clone(),
            scratch_dir: self.scratch_dir.clone(),
            sockets: self.sockets.clone(),
            cgroup_dirs,
            cgroup_name: self.cgroup.as_ref().map(|c| c.dir_name().to_owned()),
            cgroup_partition: self.cgroup.as_ref().map(|c| c.partition().to_owned()),
            owners: owner_records(&self.owners),
            dac_active: self.dac_active,
            remember_owner: self.remember_owner,
            created_dirs: self.created_dirs.clone(),
            selinux_labels: self.selinux_labels.clone(),
            selinux_enforcing: self.selinux_enforcing,
            selinux_mcs: self.selinux_mcs.clone(),
            helpers: self.helpers.clone(),
        }
    }

    /// Rebuilds a cleanup from its record; `cgroup` is the re-adopted group of a
    /// live QEMU (else the recorded directories are removed by path).
    pub fn from_record(r: &CleanupRecord, cgroup: Option<VmCgroup>) -> Cleanup {
        let owners = owner_transaction(&r.owners);
        Cleanup {
            domain: r.domain.clone(),
            lib_dir: r.lib_dir.clone(),
            scratch_dir: r.scratch_dir.clone(),
            sockets: r.sockets.clone(),
            cgroup_dirs: if cgroup.is_some() {
                Vec::new()
            } else {
                r.cgroup_dirs.clone()
            },
            cgroup,
            owners,
            dac_active: r.dac_active,
            remember_owner: r.remember_owner,
            created_dirs: r.created_dirs.clone(),
            selinux_labels: r.selinux_labels.clone(),
            selinux_enforcing: r.selinux_enforcing,
            selinux_mcs: r.selinux_mcs.clone(),
            helpers: r.helpers.clone(),
        }
    }

    /// Restores owners, removes the cgroup, sockets and directories. Best effort:
    /// every failure is returned, none stops the rest. Safe to run again after a
    /// crash in the middle of it (the restore of an owner is idempotent).
    pub fn run(mut self, ledger: &OwnerLedger) -> Vec<String> {
        let mut errors = Vec::new();
        // QEMU is gone: its helpers go next (before their cgroup can be removed).
        for h in std::mem::take(&mut self.helpers) {
            if let Err(e) = confine::exec::helpers::stop_helper(&h, HELPER_GRACE) {
                errors.push(format!("domain '{}': {e}", self.domain));
            }
        }
        if let Some(enforcing) = self.selinux_enforcing {
            let driver = SelinuxDriver::new(RealHostOps, enforcing);
            for (path, remember) in self.selinux_labels.iter().rev() {
                if let Err(e) = driver.restore_file_label(path, *remember) {
                    errors.push(format!("domain '{}': SELinux label: {e}", self.domain));
                }
            }
        }
        if let Some(level) = self.selinux_mcs.take() {
            super::selinux::release(&level);
        }
        if self.dac_active {
            let mut dac = DacDriver::new(RealHostOps);
            dac.remember_owner = self.remember_owner;
            let mut held = ledger.lock();
            held.release(&self.domain);
            let shared = |p: &Path| held.shared(&self.domain, p);
            errors.extend(
                self.owners
                    .release(&dac, &shared)
                    .iter()
                    .map(|e| format!("domain '{}': {OWNER_NOT_RESTORED}: {e}", self.domain)),
            );
        }
        if let Some(cg) = self.cgroup.take()
            && let Err(e) = cg.remove()
        {
            errors.push(format!("domain '{}': cgroup: {e}", self.domain));
        }
        for (d, e) in remove_group_dirs(&std::mem::take(&mut self.cgroup_dirs)) {
            errors.push(format!(
                "domain '{}': cannot remove cgroup {}: {e}",
                self.domain,
                d.display()
            ));
        }
        for s in &self.sockets {
            let _ = fs::remove_file(s);
        }
        for d in std::mem::take(&mut self.created_dirs).into_iter().chain(
            [self.scratch_dir.take(), self.lib_dir.take()]
                .into_iter()
                .flatten(),
        ) {
            if let Err(e) = fs::remove_dir_all(&d)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                errors.push(format!(
                    "domain '{}': cannot remove {}: {e}",
                    self.domain,
                    d.display()
                ));
            }
        }
        errors
    }
}

/// The machine (cgroup) name of a domain. A `--root` instance adds a short hash of
/// its root, so two instances on one host never share a group (libvirt's embedded
/// driver does the same).
pub fn vm_machine_name(paths: &Paths, id: i32, name: &str) -> String {
    match &paths.root {
        None => machine_name(id as u32, name),
        Some(root) => {
            let h = crate::paths::fnv1a(root.as_os_str().as_encoded_bytes());
            machine_name(id as u32, &format!("r{h:08x}-{name}"))
        }
    }
}

/// The cgroup directory name of a domain (`<machine>.rvirt-qemu`).
pub fn vm_group_dir_name(paths: &Paths, id: i32, name: &str) -> String {
    format!("{}{GROUP_SUFFIX}", vm_machine_name(paths, id, name))
}

impl Cleanup {
    /// What the executor made for domain `domain`, as its cleanup.
    pub fn from_done(domain: &str, remember_owner: bool, done: Done<VmCgroup>) -> Cleanup {
        Cleanup {
            domain: domain.to_owned(),
            lib_dir: done.lib_dir,
            scratch_dir: done.scratch_dir,
            sockets: done.sockets,
            cgroup: done.cgroup,
            dac_active: done.owners.is_some(),
            owners: done.owners.unwrap_or_default(),
            remember_owner,
            cgroup_dirs: Vec::new(),
            created_dirs: done.created_dirs,
            selinux_labels: done
                .labels
                .into_iter()
                .map(|l| (l.path, l.remember))
                .collect(),
            selinux_enforcing: None,
            selinux_mcs: None,
            helpers: done.helpers,
        }
    }
}
