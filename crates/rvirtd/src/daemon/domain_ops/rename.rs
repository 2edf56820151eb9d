//! `virsh domrename`: DOMAIN_RENAME of an inactive persistent domain. What is
//! keyed by the name moves with it: the definition file, the autostart link and
//! the domain log.
//!
//! Order, for a daemon killed at any point: the new definition file is written
//! (atomically, fsync'd) before anything else changes, the old one removed last.
//! Killed in between, both files hold the same uuid; at the next start the
//! registry keeps the first one it loads and logs the other (kept, not deleted),
//! so nothing is lost and one `virsh undefine`/`define` settles it.

use std::sync::Arc;

use remote_protocol::event::{DefinedDetail, DomainEvent, UndefinedDetail};
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};

use super::{Daemon, DomainObj, unsupported_flags};
use crate::daemon::errors;
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
    let (old_file, new_file) = (d.paths.config_file(&s.name), d.paths.config_file(&new));
    store::atomic_write(&new_file, stored.xml().as_bytes()).map_err(|e| errors::store(&e))?;
    if let Err(e) = d.registry.rename(obj, stored) {
        let _ = store::remove_if_exists(&new_file);
        return Err(e.into());
    }
    if s.autostart {
        let moved = store::set_autostart(&d.paths.autostart_link(&new), true)
            .and_then(|()| store::set_autostart(&d.paths.autostart_link(&s.name), false));
        if let Err(e) = moved {
            tracing::error!("domain '{new}': autostart link not moved: {e}");
        }
    }
    let (old_log, new_log) = (d.paths.log_file(&s.name), d.paths.log_file(&new));
    if old_log.exists() && !new_log.exists() {
        let _ = std::fs::rename(&old_log, &new_log);
    }
    if let Err(e) = store::remove_if_exists(&old_file) {
        tracing::error!(
            "domain renamed '{}' -> '{new}', but {} stays: {e}",
            s.name,
            old_file.display()
        );
    }
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
