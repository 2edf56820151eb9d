//! The daemon's part of a start's ownership changes: the owner ledger (which other
//! domains hold a file, and its original owner) and the durable start journal.

use std::path::Path;

use confine::cgroup::VmCgroup;
use confine::dac::{DacDriver, Transaction};
use confine::exec::{Done, StartHooks};
use confine::hostops::HostOps;

use super::cleanup::{CleanupRecord, owner_records};
use super::host::Journal;
use crate::owners::{Held, OwnerLedger};

/// See the module documentation. The ledger stays locked from the moment the
/// original owners are learned until the chowns are made and recorded, so no other
/// domain changes these files in between.
pub struct DaemonHooks<'a> {
    pub domain: String,
    pub remember_owner: bool,
    pub ledger: &'a OwnerLedger,
    pub journal: Journal,
    held: Option<Held<'a>>,
}

impl<'a> DaemonHooks<'a> {
    pub fn new(
        domain: &str,
        remember_owner: bool,
        ledger: &'a OwnerLedger,
        journal: Journal,
    ) -> Self {
        DaemonHooks {
            domain: domain.to_owned(),
            remember_owner,
            ledger,
            journal,
            held: None,
        }
    }
}

/// What a crash from now on would leave to undo: `done` and the planned owners.
fn record(
    domain: &str,
    remember_owner: bool,
    done: &Done<VmCgroup>,
    owners: &Transaction,
) -> CleanupRecord {
    let cg = done.cgroup.as_ref();
    CleanupRecord {
        domain: domain.to_owned(),
        lib_dir: done.lib_dir.clone(),
        scratch_dir: done.scratch_dir.clone(),
        sockets: done.sockets.clone(),
        cgroup_dirs: cg.map(VmCgroup::paths).unwrap_or_default(),
        cgroup_name: cg.map(|c| c.dir_name().to_owned()),
        cgroup_partition: cg.map(|c| c.partition().to_owned()),
        owners: owner_records(owners),
        dac_active: true,
        remember_owner,
        created_dirs: done.created_dirs.clone(),
        helpers: done.helpers.clone(),
        ..CleanupRecord::default()
    }
}

impl StartHooks<VmCgroup> for DaemonHooks<'_> {
    fn before_owners(
        &mut self,
        dac: &DacDriver<&dyn HostOps>,
        owners: &mut Transaction,
        done: &Done<VmCgroup>,
    ) -> Result<(), String> {
        let held = self.held.insert(self.ledger.lock());
        let name = self.domain.as_str();
        owners
            .fill_origins(dac, &|p| held.origin_elsewhere(name, p))
            .map_err(|e| e.to_string())?;
        (self.journal)(&record(name, self.remember_owner, done, owners))
    }

    fn helpers_started(&mut self, done: &Done<VmCgroup>) -> Result<(), String> {
        // No owner changed yet: nothing of DAC to undo after a crash.
        let mut r = record(&self.domain, self.remember_owner, done, &Transaction::new());
        r.dac_active = false;
        (self.journal)(&r)
    }

    fn shared(&self, path: &Path) -> bool {
        match &self.held {
            Some(h) => h.shared(&self.domain, path),
            None => self.ledger.lock().shared(&self.domain, path),
        }
    }

    fn owners_changed(&mut self, owners: Option<&Transaction>) {
        let mut held = self.held.take().unwrap_or_else(|| self.ledger.lock());
        match owners {
            Some(t) => held.hold(&self.domain, &t.items),
            None => held.release(&self.domain),
        }
    }
}
