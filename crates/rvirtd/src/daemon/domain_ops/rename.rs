//! `virsh domrename`: DOMAIN_RENAME of an inactive persistent domain. What is
//! keyed by the name moves with it: the definition file, the autostart link and
//! the domain log.
//!
//! Crash safety: a journal (`.rvirt-rename` in the definitions directory, old
//! and new name, fsync'd) is written first, then the new definition file
//! (atomically), the autostart link, and only then the old file goes and the
//! journal with it. A daemon killed anywhere in between finishes the rename at
//! its next start, before loading definitions ([`recover`]) if the new file is
//! there, and forgets it if not: never two definitions of one uuid, never none.

use std::sync::Arc;

use remote_protocol::event::{DefinedDetail, DomainEvent, UndefinedDetail};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};

use super::{Daemon, DomainObj, unsupported_flags};
use crate::daemon::errors;
use crate::paths::Paths;
use crate::store;
use crate::stored::StoredDef;

/// DOMAIN_RENAME.
pub(super) async fn rename(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    new_name: Option<String>,
    flags: u32,
) -> Result<(), RemoteError> {
    if flags != 0 {
        return Err(unsupported_flags(flags));
    }
    let new = new_name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RemoteError::invalid_arg("new_name in virDomainRename must not be NULL"))?;
    domain_xml::check_name(&new).map_err(|m| RemoteError::xml_error(&m))?;
    let _job = obj.job.lock().await;
    let _defs = d.definitions.lock().unwrap_or_else(|e| e.into_inner());
    let s = obj.snapshot();
    if s.is_active() {
        return Err(RemoteError::operation_invalid(
            "cannot rename active domain",
        ));
    }
    if !s.persistent {
        return Err(RemoteError::operation_invalid(
            "cannot rename a transient domain",
        ));
    }
    if s.name == new {
        return Err(RemoteError::operation_invalid(
            "Can't rename domain to itself",
        ));
    }
    if d.registry.by_name(&new).is_some() {
        return Err(RemoteError::new(
            ErrorCode::OPERATION_FAILED,
            ErrorDomain::DOM,
            format!("operation failed: domain with name '{new}' already exists"),
        ));
    }
    let cfg = s.config.as_ref().ok_or_else(|| s.not_found())?;
    let mut def = cfg.domain().map_err(|m| RemoteError::xml_error(&m))?;
    def.name.clone_from(&new);
    let xml = def.to_xml();
    let stored = StoredDef::with_xml(&def, xml);
    let new_file = d.paths.config_file(&new);
    let journal = Journal {
        old: s.name.clone(),
        new: new.clone(),
    };
    journal.write(&d.paths).map_err(|e| errors::store(&e))?;
    if let Err(e) = store::atomic_write(&new_file, stored.xml().as_bytes()) {
        journal.forget(&d.paths);
        return Err(errors::store(&e));
    }
    if let Err(e) = d.registry.rename(obj, stored) {
        let _ = store::remove_if_exists(&new_file);
        journal.forget(&d.paths);
        return Err(e.into());
    }
    journal.complete(&d.paths);
    // libvirt's pair: the old name is undefined, the new one defined, both "renamed".
    let old_dom = remote_protocol::Domain {
        name: s.name.clone(),
        uuid: *s.uuid.as_bytes(),
        id: -1,
    };
    let _ = d.events.send(remote_protocol::server::LifecycleEvent::new(
        old_dom,
        DomainEvent::Undefined(UndefinedDetail::Renamed),
    ));
    d.emit(obj, DomainEvent::Defined(DefinedDetail::Renamed));
    tracing::info!("domain '{}' renamed to '{new}'", s.name);
    Ok(())
}

/// A rename under way, as written before its first change.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Journal {
    old: String,
    new: String,
}

fn journal_path(paths: &Paths) -> std::path::PathBuf {
    paths.config_dir.join(".rvirt-rename")
}

impl Journal {
    fn write(&self, paths: &Paths) -> Result<(), store::StoreError> {
        let text = serde_json::to_string(self).unwrap_or_default();
        store::atomic_write(&journal_path(paths), text.as_bytes())
    }

    fn forget(&self, paths: &Paths) {
        let _ = store::remove_if_exists(&journal_path(paths));
    }

    /// The steps after the new definition file exists; each is idempotent.
    fn complete(&self, paths: &Paths) {
        let (old_link, new_link) = (
            paths.autostart_link(&self.old),
            paths.autostart_link(&self.new),
        );
        if store::is_autostart(&old_link) {
            let moved = store::set_autostart(&new_link, true)
                .and_then(|()| store::set_autostart(&old_link, false));
            if let Err(e) = moved {
                tracing::error!("domain '{}': autostart link not moved: {e}", self.new);
            }
        }
        let (old_log, new_log) = (paths.log_file(&self.old), paths.log_file(&self.new));
        if old_log.exists() && !new_log.exists() {
            let _ = std::fs::rename(&old_log, &new_log);
        }
        let old_file = paths.config_file(&self.old);
        if let Err(e) = store::remove_if_exists(&old_file) {
            tracing::error!(
                "domain renamed '{}' -> '{}', but {} stays: {e}",
                self.old,
                self.new,
                old_file.display()
            );
            return;
        }
        if let Ok(dir) = std::fs::File::open(&paths.config_dir) {
            let _ = dir.sync_all();
        }
        self.forget(paths);
    }
}

/// At daemon start, before definitions are loaded: a rename a killed daemon left
/// half-done is finished if its new definition was written, else forgotten.
pub fn recover(paths: &Paths) {
    let Ok(text) = std::fs::read_to_string(journal_path(paths)) else {
        return;
    };
    let Ok(j) = serde_json::from_str::<Journal>(&text) else {
        tracing::error!(
            "{}: unreadable rename journal, removed",
            journal_path(paths).display()
        );
        let _ = store::remove_if_exists(&journal_path(paths));
        return;
    };
    if paths.config_file(&j.new).exists() {
        tracing::info!("finishing the rename of domain '{}' to '{}'", j.old, j.new);
        j.complete(paths);
    } else {
        tracing::info!(
            "domain '{}' was not renamed to '{}' (interrupted)",
            j.old,
            j.new
        );
        j.forget(paths);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_rename_is_finished_or_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::rooted(dir.path());
        for d in paths.dirs() {
            std::fs::create_dir_all(d).unwrap();
        }
        // Killed after the new file: finished (old file and link moved).
        std::fs::write(paths.config_file("a"), "old").unwrap();
        std::fs::write(paths.config_file("b"), "new").unwrap();
        store::set_autostart(&paths.autostart_link("a"), true).unwrap();
        Journal {
            old: "a".into(),
            new: "b".into(),
        }
        .write(&paths)
        .unwrap();
        recover(&paths);
        assert!(!paths.config_file("a").exists());
        assert!(paths.config_file("b").exists());
        assert!(store::is_autostart(&paths.autostart_link("b")));
        assert!(!store::is_autostart(&paths.autostart_link("a")));
        assert!(!journal_path(&paths).exists());
        // Killed before it: the old definition stays.
        Journal {
            old: "b".into(),
            new: "c".into(),
        }
        .write(&paths)
        .unwrap();
        recover(&paths);
        assert!(paths.config_file("b").exists());
        assert!(!journal_path(&paths).exists());
    }
}
