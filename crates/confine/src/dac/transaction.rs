//! [`Transaction`]: ownership changes applied in order and rolled back on the first
//! failure; each [`DacItem`] carries the original owner learned before its chown.

use std::path::{Path, PathBuf};

use super::accounts::Owner;
use super::driver::{DacDriver, DacOutcome};
use super::error::DacError;
use crate::hostops::HostOps;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DacItem {
    /// For messages: `disk`, `nvram`, `chardev`, `tpm`…
    pub what: String,
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub remember: bool,
    /// The owner before this domain's start, known before the chown and journaled
    /// with it, so a restore never has to guess (see [`DacDriver::restore_item`]).
    pub orig: Option<Owner>,
}

/// Ownership changes applied in order; on the first failure the ones already made
/// are undone in reverse order and the failure is returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub items: Vec<DacItem>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a chown.
    pub fn add(
        &mut self,
        what: impl Into<String>,
        path: impl Into<PathBuf>,
        uid: u32,
        gid: u32,
        remember: bool,
    ) -> &mut Self {
        self.items.push(DacItem {
            what: what.into(),
            path: path.into(),
            uid,
            gid,
            remember,
            orig: None,
        });
        self
    }

    /// Records each item's original owner (see [`DacDriver::original_owner`]);
    /// `held` gives the original an item's path has in another running domain's
    /// records. Done before the records are journaled and before any chown.
    pub fn fill_origins<O: HostOps>(
        &mut self,
        driver: &DacDriver<O>,
        held: &dyn Fn(&Path) -> Option<Option<Owner>>,
    ) -> Result<(), DacError> {
        for it in &mut self.items {
            it.orig = match held(&it.path) {
                Some(orig) => orig,
                None => Some(driver.original_owner(&it.what, &it.path)?),
            };
        }
        Ok(())
    }

    /// Apply all items. On success the outcomes are in item order. `shared` says
    /// whether another domain still uses a path (a rollback leaves those alone).
    pub fn commit<O: HostOps>(
        &self,
        driver: &DacDriver<O>,
        shared: &dyn Fn(&Path) -> bool,
    ) -> Result<Vec<DacOutcome>, DacError> {
        let mut done = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().enumerate() {
            match driver.set_owner_for(&it.what, &it.path, it.uid, it.gid, it.remember) {
                Ok(o) => done.push(o),
                Err(e) => {
                    let failures: Vec<String> = self.items[..i]
                        .iter()
                        .rev()
                        .filter_map(|it| driver.restore_item(it, shared(&it.path)).err())
                        .map(|e| e.to_string())
                        .collect();
                    if failures.is_empty() {
                        return Err(e);
                    }
                    return Err(DacError::Rollback {
                        first: Box::new(e),
                        failures,
                    });
                }
            }
        }
        Ok(done)
    }

    /// Undo a committed (or partly committed) transaction: reverse order, best
    /// effort, each item through [`DacDriver::restore_item`], so running it again
    /// after a crash changes nothing more.
    pub fn release<O: HostOps>(
        &self,
        driver: &DacDriver<O>,
        shared: &dyn Fn(&Path) -> bool,
    ) -> Vec<DacError> {
        self.items
            .iter()
            .rev()
            .filter_map(|it| driver.restore_item(it, shared(&it.path)).err())
            .collect()
    }
}
