//! Lifecycle events: registration on a connection and the fan-out of
//! [`LifecycleEvent`]s to the callbacks registered for them.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::api::LifecycleEvent;
use super::conn::{Conn, decode_error, enc};
use crate::error::RemoteError;
use crate::frame::{Header, MessageStatus, MessageType, PROGRAM_REMOTE, PROTOCOL_VERSION};
use crate::procs::{CallbackLifecycleMsg, CallbackRegisterArgs, IntArgs, LifecycleMsg, Procedure};
use crate::xdr::{from_bytes, to_bytes};

/// Highest domain event id accepted for registration (libvirt 9.0 has 0..=26).
pub const DOMAIN_EVENT_ID_LAST: i32 = 26;

/// Event callbacks one connection may hold (virsh `event --all` uses 27).
pub const MAX_CALLBACKS: usize = 1024;

fn check_event_id(id: i32) -> Result<(), RemoteError> {
    if (0..=DOMAIN_EVENT_ID_LAST).contains(&id) {
        Ok(())
    } else {
        Err(RemoteError::invalid_arg(&format!(
            "unsupported event ID {id}"
        )))
    }
}

/// CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: the new callback's id.
pub(super) fn register_callback(
    conn: &Conn,
    h: &Header,
    body: &[u8],
) -> Result<Vec<u8>, RemoteError> {
    let a = from_bytes::<CallbackRegisterArgs>(body).map_err(|e| decode_error(h.procedure, &e))?;
    check_event_id(a.event_id)?;
    let mut st = conn.lock();
    if st.callbacks.len() >= MAX_CALLBACKS {
        return Err(RemoteError::operation_failed(
            "too many event callbacks on this connection",
        ));
    }
    let id = st.next_callback;
    st.next_callback = st.next_callback.checked_add(1).unwrap_or(1);
    st.callbacks.insert(id, (a.event_id, a.dom.map(|d| d.uuid)));
    Ok(enc(&id))
}

/// CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY.
pub(super) fn deregister_callback(
    conn: &Conn,
    h: &Header,
    body: &[u8],
) -> Result<Vec<u8>, RemoteError> {
    let a = from_bytes::<IntArgs>(body).map_err(|e| decode_error(h.procedure, &e))?;
    match conn.lock().callbacks.remove(&a.value) {
        Some(_) => Ok(Vec::new()),
        None => Err(RemoteError::invalid_arg(&format!(
            "callback ID {} not registered",
            a.value
        ))),
    }
}

/// The legacy CONNECT_DOMAIN_EVENT_REGISTER_ANY / DEREGISTER_ANY (`proc`).
pub(super) fn register_legacy(
    conn: &Conn,
    proc: Procedure,
    h: &Header,
    body: &[u8],
) -> Result<Vec<u8>, RemoteError> {
    let a = from_bytes::<IntArgs>(body).map_err(|e| decode_error(h.procedure, &e))?;
    check_event_id(a.value)?;
    let mut st = conn.lock();
    if proc == Procedure::ConnectDomainEventRegisterAny {
        st.legacy_events.insert(a.value);
    } else {
        st.legacy_events.remove(&a.value);
    }
    Ok(Vec::new())
}

/// `VIR_DOMAIN_EVENT_ID_METADATA_CHANGE`.
const EVENT_ID_METADATA_CHANGE: i32 = 23;

/// Deliver every event to this connection's callbacks registered for its id.
pub(super) async fn event_task(conn: Arc<Conn>, mut rx: broadcast::Receiver<LifecycleEvent>) {
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let event_id = if ev.metadata.is_some() {
            EVENT_ID_METADATA_CHANGE
        } else {
            0
        };
        let (targets, legacy) = {
            let st = conn.lock();
            if !st.opened {
                continue;
            }
            let t: Vec<i32> = st
                .callbacks
                .iter()
                .filter(|(_, (eid, filter))| {
                    *eid == event_id && filter.is_none_or(|u| u == ev.dom.uuid)
                })
                .map(|(id, _)| *id)
                .collect();
            // The legacy registration carries lifecycle events only.
            (t, event_id == 0 && st.legacy_events.contains(&0))
        };
        if let Some(m) = &ev.metadata {
            for callback_id in targets {
                let body = to_bytes(&crate::procs::domain_ops::CallbackMetadataChangeMsg {
                    callback_id,
                    dom: ev.dom.clone(),
                    typ: m.typ,
                    nsuri: m.nsuri.clone(),
                });
                conn.send_packet(
                    &event_header(Procedure::DomainEventCallbackMetadataChange),
                    &body,
                )
                .await;
            }
            continue;
        }
        let msg = LifecycleMsg {
            dom: ev.dom.clone(),
            event: ev.event,
            detail: ev.detail,
        };
        for callback_id in targets {
            let body = to_bytes(&CallbackLifecycleMsg {
                callback_id,
                msg: msg.clone(),
            });
            conn.send_packet(
                &event_header(Procedure::DomainEventCallbackLifecycle),
                &body,
            )
            .await;
        }
        if legacy {
            conn.send_packet(
                &event_header(Procedure::DomainEventLifecycle),
                &to_bytes(&msg),
            )
            .await;
        }
    }
}

pub(super) fn event_header(p: Procedure) -> Header {
    Header {
        program: PROGRAM_REMOTE,
        version: PROTOCOL_VERSION,
        procedure: p.number(),
        message_type: MessageType::Message,
        serial: 0,
        status: MessageStatus::Ok,
    }
}
