//! Domain objects by name, uuid and id. Reads never wait: every domain publishes an
//! immutable [`Snapshot`] that lookups, list, state, info and dumpxml read, while
//! jobs (start, shutdown, ...) serialise on the domain's own job lock and publish a
//! new snapshot at each transition. A QEMU that stops answering can hold its job
//! forever without delaying a single read (libvirt's "cannot acquire state change
//! lock").

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use domain_xml::Domain;
use uuid::Uuid;

use crate::states::{DomainState, ShutoffReason};
use crate::stored::{DefView, StoredDef};

/// What readers see of a domain at one instant.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub name: String,
    pub uuid: Uuid,
    /// Set while a QEMU exists (running, paused, ...).
    pub id: Option<i32>,
    pub state: DomainState,
    pub persistent: bool,
    pub autostart: bool,
    /// The persistent definition (what the next start uses). `None` for transient.
    pub config: Option<Arc<StoredDef>>,
    /// The definition of the running instance.
    pub live: Option<Arc<Domain>>,
    pub pid: Option<u32>,
    /// A transient note shown with the state (e.g. why reconnect is being retried).
    pub note: Option<String>,
}

impl Snapshot {
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// The definition `dumpxml` shows: live when running unless `inactive` is asked.
    pub fn definition(&self, inactive: bool) -> Option<DefView<'_>> {
        let config = self.config.as_deref().map(DefView::Stored);
        let live = self.live.as_deref().map(DefView::Model);
        if inactive {
            config.or(live)
        } else {
            live.or(config)
        }
    }

    /// The model the next start uses (the definition, else the transient's own).
    pub fn start_definition(&self) -> Result<Domain, DefinitionError> {
        match (&self.config, &self.live) {
            (Some(c), _) => c.domain().map_err(DefinitionError::Invalid),
            (None, Some(l)) => Ok((**l).clone()),
            (None, None) => Err(DefinitionError::Gone),
        }
    }

    /// `VIR_ERR_NO_DOMAIN` for this domain: what a caller that raced an undefine (or
    /// the end of a transient domain) gets, as from libvirt.
    pub fn not_found(&self) -> remote_protocol::RemoteError {
        remote_protocol::RemoteError::no_domain_uuid(self.uuid.as_bytes(), &self.name)
    }
}

/// Why a snapshot gives no definition to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionError {
    /// Neither a persistent nor a live definition: the domain is being removed.
    Gone,
    /// The stored definition no longer parses (the text says why).
    Invalid(String),
}

/// One domain: its published snapshot and its job lock.
#[derive(Debug)]
pub struct DomainObj {
    pub uuid: Uuid,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held for the whole of a job; never taken by readers.
    pub job: tokio::sync::Mutex<()>,
}

impl DomainObj {
    fn new(s: Snapshot) -> Arc<DomainObj> {
        Arc::new(DomainObj {
            uuid: s.uuid,
            snapshot: RwLock::new(Arc::new(s)),
            job: tokio::sync::Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Publishes a new snapshot derived from the current one.
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) -> Arc<Snapshot> {
        let mut guard = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        let mut next = (**guard).clone();
        f(&mut next);
        let next = Arc::new(next);
        *guard = next.clone();
        next
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("domain '{name}' already exists with uuid {uuid}")]
    NameTaken { name: String, uuid: Uuid },
    #[error("domain '{existing}' is already defined with uuid {uuid}")]
    UuidTaken { existing: String, uuid: Uuid },
    #[error("domain '{name}' is already active")]
    AlreadyActive { name: String },
}

#[derive(Debug, Default)]
struct Maps {
    by_name: HashMap<String, Arc<DomainObj>>,
    by_uuid: HashMap<Uuid, Arc<DomainObj>>,
    by_id: HashMap<i32, Arc<DomainObj>>,
    next_id: i32,
}

#[derive(Debug, Default)]
pub struct Registry {
    maps: RwLock<Maps>,
}

/// What [`Registry::define`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defined {
    New,
    Updated,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<DomainObj>> {
        self.read().by_name.get(name).cloned()
    }

    pub fn by_uuid(&self, uuid: &Uuid) -> Option<Arc<DomainObj>> {
        self.read().by_uuid.get(uuid).cloned()
    }

    pub fn by_id(&self, id: i32) -> Option<Arc<DomainObj>> {
        self.read().by_id.get(&id).cloned()
    }

    /// Every domain, sorted by name (stable output for list).
    pub fn all(&self) -> Vec<Arc<DomainObj>> {
        let maps = self.read();
        let mut v: Vec<_> = maps.by_name.values().cloned().collect();
        drop(maps);
        v.sort_by_cached_key(|d| d.snapshot().name.clone());
        v
    }

    pub fn len(&self) -> usize {
        self.read().by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks name/uuid clashes the way libvirt does: a name belongs to one uuid and
    /// a uuid to one name.
    fn check_identity(
        maps: &Maps,
        name: &str,
        uuid: &Uuid,
    ) -> Result<Option<Arc<DomainObj>>, RegistryError> {
        if let Some(existing) = maps.by_name.get(name)
            && existing.uuid != *uuid
        {
            return Err(RegistryError::NameTaken {
                name: name.to_owned(),
                uuid: existing.uuid,
            });
        }
        if let Some(existing) = maps.by_uuid.get(uuid) {
            let s = existing.snapshot();
            if s.name != name {
                return Err(RegistryError::UuidTaken {
                    existing: s.name.clone(),
                    uuid: *uuid,
                });
            }
            return Ok(Some(existing.clone()));
        }
        Ok(None)
    }

    /// Adds or replaces a persistent definition. A running domain keeps its live
    /// definition; the new one applies at its next start.
    pub fn define(&self, def: StoredDef) -> Result<(Arc<DomainObj>, Defined), RegistryError> {
        let mut maps = self.write();
        let name = def.name.clone();
        let uuid = def.uuid;
        let def = Arc::new(def);
        match Self::check_identity(&maps, &name, &uuid)? {
            Some(obj) => {
                obj.update(|s| {
                    s.config = Some(def);
                    s.persistent = true;
                });
                Ok((obj, Defined::Updated))
            }
            None => {
                let obj = DomainObj::new(Snapshot {
                    name: name.clone(),
                    uuid,
                    id: None,
                    state: DomainState::Shutoff(ShutoffReason::Unknown),
                    persistent: true,
                    autostart: false,
                    config: Some(def),
                    live: None,
                    pid: None,
                    note: None,
                });
                maps.by_name.insert(name, obj.clone());
                maps.by_uuid.insert(uuid, obj.clone());
                Ok((obj, Defined::New))
            }
        }
    }

    /// Registers a transient domain about to be started (`create`): the name and
    /// uuid must be free, or belong to an inactive persistent domain of the same
    /// identity.
    pub fn add_transient(&self, def: Domain) -> Result<Arc<DomainObj>, RegistryError> {
        let mut maps = self.write();
        let name = def.name.clone();
        let uuid = def.uuid;
        if let Some(obj) = Self::check_identity(&maps, &name, &uuid)? {
            if obj.snapshot().is_active() {
                return Err(RegistryError::AlreadyActive { name });
            }
            return Ok(obj);
        }
        let obj = DomainObj::new(Snapshot {
            name: name.clone(),
            uuid,
            id: None,
            state: DomainState::Shutoff(ShutoffReason::Unknown),
            persistent: false,
            autostart: false,
            config: None,
            live: Some(Arc::new(def)),
            pid: None,
            note: None,
        });
        maps.by_name.insert(name, obj.clone());
        maps.by_uuid.insert(uuid, obj.clone());
        Ok(obj)
    }

    /// The next domain id (ids grow, as libvirt's do, and are never reused while the
    /// daemon runs). `at_least` lets reconnect keep the ids of running domains.
    pub fn allocate_id(&self, obj: &Arc<DomainObj>, at_least: Option<i32>) -> i32 {
        let mut maps = self.write();
        let id = match at_least {
            Some(id) => {
                maps.next_id = maps.next_id.max(id);
                id
            }
            None => {
                maps.next_id += 1;
                maps.next_id
            }
        };
        maps.by_id.insert(id, obj.clone());
        id
    }

    pub fn release_id(&self, id: i32) {
        self.write().by_id.remove(&id);
    }

    /// Gives an inactive domain its new name and the definition carrying it
    /// (DOMAIN_RENAME); the name must be free.
    pub fn rename(&self, obj: &Arc<DomainObj>, def: StoredDef) -> Result<(), RegistryError> {
        let mut maps = self.write();
        let name = def.name.clone();
        if let Some(existing) = maps.by_name.get(&name) {
            return Err(RegistryError::NameTaken {
                name,
                uuid: existing.uuid,
            });
        }
        let old = obj.snapshot().name.clone();
        if maps.by_name.get(&old).is_some_and(|o| Arc::ptr_eq(o, obj)) {
            maps.by_name.remove(&old);
        }
        maps.by_name.insert(name.clone(), obj.clone());
        let def = Arc::new(def);
        obj.update(|s| {
            s.name = name;
            s.config = Some(def);
        });
        Ok(())
    }

    /// Drops a domain that is neither persistent nor running.
    pub fn remove(&self, obj: &Arc<DomainObj>) {
        let mut maps = self.write();
        let s = obj.snapshot();
        if maps
            .by_uuid
            .get(&s.uuid)
            .is_some_and(|o| Arc::ptr_eq(o, obj))
        {
            maps.by_uuid.remove(&s.uuid);
            maps.by_name.remove(&s.name);
            if let Some(id) = s.id {
                maps.by_id.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(name: &str, uuid: u128) -> Domain {
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory>1024</memory><os><type>hvm</type></os></domain>"
        );
        domain_xml::parse_domain_with(&xml, &mut || Uuid::from_u128(uuid))
            .unwrap()
            .value
    }

    #[test]
    fn define_then_redefine_updates() {
        let r = Registry::new();
        let (a, how) = r.define(StoredDef::new(&dom("a", 1))).unwrap();
        assert_eq!(how, Defined::New);
        let (b, how) = r.define(StoredDef::new(&dom("a", 1))).unwrap();
        assert_eq!(how, Defined::Updated);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(r.len(), 1);
        assert!(r.by_uuid(&Uuid::from_u128(1)).is_some());
    }

    #[test]
    fn identity_clashes_are_refused() {
        let r = Registry::new();
        r.define(StoredDef::new(&dom("a", 1))).unwrap();
        assert_eq!(
            r.define(StoredDef::new(&dom("a", 2))).unwrap_err(),
            RegistryError::NameTaken {
                name: "a".into(),
                uuid: Uuid::from_u128(1)
            }
        );
        assert_eq!(
            r.define(StoredDef::new(&dom("b", 1))).unwrap_err(),
            RegistryError::UuidTaken {
                existing: "a".into(),
                uuid: Uuid::from_u128(1)
            }
        );
    }

    #[test]
    fn ids_grow_and_lookups_follow() {
        let r = Registry::new();
        let (a, _) = r.define(StoredDef::new(&dom("a", 1))).unwrap();
        let id = r.allocate_id(&a, None);
        assert_eq!(id, 1);
        assert!(r.by_id(1).is_some());
        r.release_id(1);
        let id2 = r.allocate_id(&a, None);
        assert_eq!(id2, 2);
        let t = r.add_transient(dom("t", 9)).unwrap();
        assert_eq!(r.allocate_id(&t, Some(7)), 7);
        assert_eq!(r.allocate_id(&t, None), 8);
    }

    #[test]
    fn snapshots_are_published_whole() {
        let r = Registry::new();
        let (a, _) = r.define(StoredDef::new(&dom("a", 1))).unwrap();
        let before = a.snapshot();
        a.update(|s| s.state = DomainState::Running(crate::states::RunningReason::Booted));
        assert!(!before.is_active());
        assert!(a.snapshot().is_active());
    }

    #[test]
    fn transient_remove() {
        let r = Registry::new();
        let t = r.add_transient(dom("t", 9)).unwrap();
        assert_eq!(r.all().len(), 1);
        r.remove(&t);
        assert!(r.is_empty());
        assert!(r.by_name("t").is_none());
    }
}
