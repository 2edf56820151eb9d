//! Calls of the REMOTE program: the handshake (allowed before OPEN), the
//! connection-level procedures the server answers itself, the console, and
//! everything else forwarded to the [`Backend`].

use std::sync::Arc;

use super::api::{Backend, CallContext};
use super::conn::{CallFuture, Conn, decode_error, enc, no_args, not_open};
use super::events;
use super::reply::{self, encode_ret, shape_error};
use super::stream::start_stream;
use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::frame::Header;
use crate::procs::{
    self, AuthListRet, DOMAIN_XML_SECURE, IntArgs, Procedure, Request, Response, feature,
};
use crate::xdr::from_bytes;

/// A call's answer, when the server gives it without the backend.
type Answer = Result<Vec<u8>, RemoteError>;

/// Handle one call. Connection-level procedures are answered inline; backend
/// calls come back as a future for the caller to spawn.
pub(super) async fn dispatch(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    h: Header,
    body: Vec<u8>,
) -> Option<CallFuture> {
    use Procedure as P;
    let Some(proc) = Procedure::from_number(h.procedure) else {
        conn.reply(&h, Err(RemoteError::unknown_procedure(h.procedure)))
            .await;
        return None;
    };
    let (opened, read_only) = {
        let st = conn.lock();
        (st.opened, st.read_only)
    };
    // Allowed before OPEN.
    let early = match proc {
        P::AuthList => {
            Some(no_args(h.procedure, &body).map(|()| enc(&AuthListRet { types: vec![0] })))
        }
        P::ConnectSupportsFeature => Some(supports_feature(conn, &h, &body)),
        P::ConnectOpen => Some(open(conn, backend, &h, &body, opened, read_only).await),
        _ if !opened => Some(Err(not_open())),
        _ => None,
    };
    if let Some(r) = early {
        conn.reply(&h, r).await;
        return None;
    }
    if let Some(api) = proc.mutating_api()
        && read_only
    {
        conn.reply(&h, Err(RemoteError::read_only(api))).await;
        return None;
    }
    if let Some(r) = connection_call(conn, proc, &h, &body) {
        conn.reply(&h, r).await;
        return None;
    }
    let ctx = CallContext {
        connection: conn.info.clone(),
        read_only,
        procedure: proc,
        serial: h.serial,
    };
    if proc == P::DomainOpenConsole {
        return open_console(conn, backend, ctx, h, &body).await;
    }
    if proc == P::DomainScreenshot {
        return screenshot(conn, backend, ctx, h, &body).await;
    }
    backend_call(conn, backend, ctx, h, &body).await
}

/// CONNECT_SUPPORTS_FEATURE; asking for keepalive turns it on.
fn supports_feature(conn: &Conn, h: &Header, body: &[u8]) -> Answer {
    from_bytes::<IntArgs>(body)
        .map_err(|e| decode_error(h.procedure, &e))
        .map(|a| {
            let yes = match a.value {
                feature::PROGRAM_KEEPALIVE => {
                    conn.lock().keepalive = true;
                    true
                }
                feature::REMOTE_EVENT_CALLBACK | feature::REMOTE_CLOSE_CALLBACK => true,
                // String typed parameters (NUMA nodesets, blkio device lists,
                // stats names): each procedure drops them for a caller that did
                // not pass VIR_TYPED_PARAM_STRING_OKAY.
                feature::TYPED_PARAM_STRING => true,
                _ => false,
            };
            enc(&i32::from(yes))
        })
}

/// CONNECT_OPEN, answered inline: nothing else may run on this connection
/// before OPEN ends.
async fn open(
    conn: &Conn,
    backend: &Arc<dyn Backend>,
    h: &Header,
    body: &[u8],
    opened: bool,
    read_only: bool,
) -> Answer {
    if opened {
        return Err(RemoteError::new(
            ErrorCode::INTERNAL_ERROR,
            ErrorDomain::RPC,
            "internal error: connection already open",
        ));
    }
    let proc = Procedure::ConnectOpen;
    let req = match Request::decode(proc, body) {
        Ok(Some(r)) => r,
        // CONNECT_OPEN always decodes to a request.
        Ok(None) => return Err(RemoteError::unknown_procedure(h.procedure)),
        Err(e) => return Err(decode_error(h.procedure, &e)),
    };
    let ro_flag =
        matches!(req, Request::ConnectOpen { flags, .. } if flags & procs::CONNECT_RO != 0);
    let ctx = CallContext {
        connection: conn.info.clone(),
        read_only: read_only || ro_flag,
        procedure: proc,
        serial: h.serial,
    };
    match backend.call(&ctx, req).await {
        Ok(Response::Void) => {
            let mut st = conn.lock();
            st.opened = true;
            st.read_only |= ro_flag;
            Ok(Vec::new())
        }
        Ok(other) => Err(shape_error(proc, &other)),
        Err(e) => Err(e),
    }
}

/// The connection-level procedures after OPEN, which the server answers
/// itself; `None` for the others.
fn connection_call(conn: &Conn, proc: Procedure, h: &Header, body: &[u8]) -> Option<Answer> {
    use Procedure as P;
    Some(match proc {
        P::ConnectClose | P::ConnectRegisterCloseCallback | P::ConnectUnregisterCloseCallback => {
            no_args(h.procedure, body).map(|()| Vec::new())
        }
        P::ConnectIsSecure => Ok(enc(&1i32)),
        P::ConnectDomainEventCallbackRegisterAny => events::register_callback(conn, h, body),
        P::ConnectDomainEventCallbackDeregisterAny => events::deregister_callback(conn, h, body),
        P::ConnectDomainEventRegisterAny | P::ConnectDomainEventDeregisterAny => {
            events::register_legacy(conn, proc, h, body)
        }
        P::DomainEventLifecycle
        | P::DomainEventCallbackLifecycle
        | P::DomainEventCallbackMetadataChange => Err(RemoteError::unknown_procedure(h.procedure)),
        _ => return None,
    })
}

/// DOMAIN_OPEN_CONSOLE: the backend's stream, pumped as STREAM packets.
async fn open_console(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    ctx: CallContext,
    h: Header,
    body: &[u8],
) -> Option<CallFuture> {
    let args = match from_bytes::<procs::OpenConsoleArgs>(body) {
        Ok(a) => a,
        Err(e) => {
            conn.reply(&h, Err(decode_error(h.procedure, &e))).await;
            return None;
        }
    };
    let conn = conn.clone();
    let backend = backend.clone();
    Some(Box::pin(async move {
        let r = backend
            .open_console(&ctx, args.dom, args.dev_name, args.flags)
            .await;
        match r {
            Ok(stream) => start_stream(conn, h, Vec::new(), stream).await,
            Err(e) => conn.reply(&h, Err(e)).await,
        }
    }))
}

/// DOMAIN_SCREENSHOT: the reply carries the MIME type, then the image follows
/// as a stream.
async fn screenshot(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    ctx: CallContext,
    h: Header,
    body: &[u8],
) -> Option<CallFuture> {
    let args = match from_bytes::<procs::domain_ops::ScreenshotArgs>(body) {
        Ok(a) => a,
        Err(e) => {
            conn.reply(&h, Err(decode_error(h.procedure, &e))).await;
            return None;
        }
    };
    let conn = conn.clone();
    let backend = backend.clone();
    Some(Box::pin(async move {
        let r = backend
            .screenshot(&ctx, args.dom, args.screen, args.flags)
            .await;
        match r {
            // `remote_string mime`: an optional string on the wire.
            Ok((mime, stream)) => start_stream(conn, h, enc(&Some(mime)), stream).await,
            Err(e) => conn.reply(&h, Err(e)).await,
        }
    }))
}

/// Everything else: decoded here, answered by the backend in the returned future.
async fn backend_call(
    conn: &Arc<Conn>,
    backend: &Arc<dyn Backend>,
    ctx: CallContext,
    h: Header,
    body: &[u8],
) -> Option<CallFuture> {
    let proc = ctx.procedure;
    let (req, post) = match reply::decode_call(proc, h.procedure, body) {
        Ok(x) => x,
        Err(e) => {
            conn.reply(&h, Err(e)).await;
            return None;
        }
    };
    if ctx.read_only
        && let Request::DomainGetXmlDesc { flags, .. } = &req
        && flags & DOMAIN_XML_SECURE != 0
    {
        let e = RemoteError::new(
            ErrorCode::OPERATION_DENIED,
            ErrorDomain::REMOTE,
            "operation forbidden: virDomainGetXMLDesc with secure flag",
        );
        conn.reply(&h, Err(e)).await;
        return None;
    }
    let conn = conn.clone();
    let backend = backend.clone();
    Some(Box::pin(async move {
        let expected = req.expected_shape();
        let r = backend.call(&ctx, req).await;
        let r = r.and_then(|resp| {
            if resp.shape() != expected {
                return Err(shape_error(proc, &resp));
            }
            encode_ret(resp, post)
        });
        conn.reply(&h, r).await;
    }))
}
