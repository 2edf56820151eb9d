//! Calls of programs other than REMOTE: libvirt's QEMU program (the monitor
//! command) and rvirt's own (grants).

use std::sync::Arc;

use super::api::Backend;
use super::conn::{CallFuture, Conn, decode_error, enc, not_open};
use crate::error::RemoteError;
use crate::frame::Header;
use crate::qemu_program::{AgentCommandArgs, MonitorCommandArgs, PROGRAM_QEMU};
use crate::rvirt::{PROGRAM_RVIRT, RvirtProcedure, RvirtRequest};

/// Why a writing call of a program other than REMOTE is refused here, if it is: the
/// connection is not open yet, or it is read-only.
pub(super) fn refusal(conn: &Conn, api: &str) -> Option<RemoteError> {
    let st = conn.lock();
    if !st.opened {
        Some(not_open())
    } else if st.read_only {
        Some(RemoteError::read_only(api))
    } else {
        None
    }
}

/// A decoded call of a program other than REMOTE.
pub(super) enum ExtraCall {
    /// libvirt's QEMU program: the monitor command.
    Monitor(MonitorCommandArgs),
    /// libvirt's QEMU program: the guest agent command.
    Agent(AgentCommandArgs),
    /// rvirt's own program.
    Rvirt(RvirtRequest),
}

/// Handle one call of libvirt's QEMU program or rvirt's own: only on an opened,
/// writable connection (every call of both writes).
pub(super) async fn dispatch_extra(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    h: Header,
    body: &[u8],
) -> Option<CallFuture> {
    use crate::qemu_program::{
        AGENT_COMMAND_API, MONITOR_COMMAND_API, PROC_DOMAIN_AGENT_COMMAND,
        PROC_DOMAIN_MONITOR_COMMAND,
    };
    // The API name (for a read-only refusal) and the decoded arguments.
    let decoded = match h.program {
        PROGRAM_QEMU if h.procedure == PROC_DOMAIN_MONITOR_COMMAND => Some((
            MONITOR_COMMAND_API,
            MonitorCommandArgs::decode(body).map(ExtraCall::Monitor),
        )),
        PROGRAM_QEMU if h.procedure == PROC_DOMAIN_AGENT_COMMAND => Some((
            AGENT_COMMAND_API,
            AgentCommandArgs::decode(body).map(ExtraCall::Agent),
        )),
        PROGRAM_RVIRT => RvirtProcedure::from_number(h.procedure)
            .map(|p| (p.api(), RvirtRequest::decode(p, body).map(ExtraCall::Rvirt))),
        _ => None,
    };
    let Some((api, call)) = decoded else {
        conn.reply(&h, Err(RemoteError::unknown_procedure(h.procedure)))
            .await;
        return None;
    };
    if let Some(e) = refusal(conn, api) {
        conn.reply(&h, Err(e)).await;
        return None;
    }
    let call = match call {
        Ok(c) => c,
        Err(e) => {
            conn.reply(&h, Err(decode_error(h.procedure, &e))).await;
            return None;
        }
    };
    let conn = conn.clone();
    let backend = backend.clone();
    Some(Box::pin(async move {
        let r = match call {
            ExtraCall::Monitor(a) => backend
                .qemu_monitor_command(&conn.info, a)
                .await
                .map(|s| enc(&s)),
            // `remote_string result`: optional on the wire.
            ExtraCall::Agent(a) => backend
                .qemu_agent_command(&conn.info, a)
                .await
                .map(|s| enc(&s)),
            ExtraCall::Rvirt(req) => backend
                .rvirt_call(&conn.info, req)
                .await
                .map(|()| Vec::new()),
        };
        conn.reply(&h, r).await;
    }))
}
