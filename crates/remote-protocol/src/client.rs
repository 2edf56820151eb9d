//! Client half: an async connection to a libvirt-protocol daemon with typed
//! calls (used by the `rvirt` CLI and by tests).
//!
//! Calls may be issued concurrently from several tasks; a reader task matches
//! replies to calls by serial and answers the server's keepalive PINGs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::RemoteError;
use crate::frame::{
    self, FrameError, Header, KEEPALIVE_PING, KEEPALIVE_PONG, MESSAGE_MAX, MessageStatus,
    MessageType, PROGRAM_KEEPALIVE, PROGRAM_REMOTE, PROTOCOL_VERSION,
};
use crate::procs::{
    AuthListRet, CONNECT_RO, CallbackLifecycleMsg, CallbackRegisterArgs, Domain, DomainArgs,
    DomainFlagsArgs, DomainInfo, IdsRet, IntArgs, ListAllDomainsArgs, ListAllDomainsRet, NamesRet,
    NodeInfo, OpenArgs, Procedure, SetAutostartArgs, StateRet, StringArgs, StringFlagsArgs,
    UuidArgs, XmlToNativeArgs,
};
use crate::uri::{ConnectUri, SocketEnv, UriError};
use crate::xdr::{Decode, Encode, XdrError, from_bytes, to_bytes};

/// Errors from the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("failed to connect to the daemon socket {}: {source}", path.display())]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The URI could not be used.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The server answered with an error.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The server's reply did not decode.
    #[error("malformed reply from the daemon: {0}")]
    Xdr(#[from] XdrError),
    /// The server broke the framing rules.
    #[error("protocol error from the daemon: {0}")]
    Frame(#[from] FrameError),
    /// The connection closed before the reply came.
    #[error("the daemon closed the connection")]
    Closed,
}

mod stream;
pub use stream::ClientStream;

/// Open streams by serial: where their packets go.
type StreamMap = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<(MessageStatus, Vec<u8>)>>>>;

/// Calls waiting for replies; `None` once the connection is gone.
type Pending = Arc<Mutex<Option<HashMap<u32, oneshot::Sender<Result<Vec<u8>, RemoteError>>>>>>;

/// A connection to the daemon.
#[derive(Debug)]
pub struct Client {
    tx: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_serial: AtomicU32,
    events: broadcast::Sender<CallbackLifecycleMsg>,
    streams: StreamMap,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// Connect to a socket without any handshake (see [`Client::open`]).
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let writer = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                if wr.write_all(&p).await.is_err() {
                    break;
                }
            }
        });
        let (events, _) = broadcast::channel(256);
        let streams: StreamMap = Arc::new(Mutex::new(HashMap::new()));
        let (p2, tx2, ev2, st2) = (pending.clone(), tx.clone(), events.clone(), streams.clone());
        let reader = tokio::spawn(async move {
            while let Ok(Some(pkt)) = frame::read_packet(&mut rd, MESSAGE_MAX).await {
                let h = pkt.header;
                if h.program == PROGRAM_KEEPALIVE {
                    if h.procedure == KEEPALIVE_PING
                        && let Ok(p) = frame::encode_packet(
                            &Header::keepalive(KEEPALIVE_PONG),
                            &[],
                            MESSAGE_MAX,
                        )
                    {
                        let _ = tx2.send(p).await;
                    }
                    continue;
                }
                if h.message_type == MessageType::Message {
                    if h.procedure == Procedure::DomainEventCallbackLifecycle.number()
                        && let Ok(m) = from_bytes::<CallbackLifecycleMsg>(&pkt.body)
                    {
                        let _ = ev2.send(m);
                    }
                    continue;
                }
                if h.message_type == MessageType::Stream {
                    if let Some(s) = lock(&st2).get(&h.serial) {
                        let _ = s.send((h.status, pkt.body));
                    }
                    continue;
                }
                if h.message_type != MessageType::Reply {
                    continue;
                }
                let Some(waiter) = lock(&p2).as_mut().and_then(|m| m.remove(&h.serial)) else {
                    continue;
                };
                let r = match h.status {
                    MessageStatus::Ok => Ok(pkt.body),
                    _ => Err(from_bytes::<RemoteError>(&pkt.body).unwrap_or_else(|e| {
                        RemoteError::new(
                            crate::ErrorCode::RPC,
                            crate::ErrorDomain::RPC,
                            format!("undecodable error reply: {e}"),
                        )
                    })),
                };
                let _ = waiter.send(r);
            }
            // EOF or error: fail everything still waiting, refuse new calls,
            // end the streams.
            lock(&p2).take();
            lock(&st2).clear();
        });
        Ok(Self {
            tx,
            pending,
            next_serial: AtomicU32::new(0),
            events,
            streams,
            reader,
            writer,
        })
    }

    /// Parse `uri`, connect to its socket, and do the handshake (AUTH_LIST,
    /// CONNECT_OPEN with the URI's open name).
    pub async fn connect_uri(uri: &str, read_only: bool) -> Result<Self, ClientError> {
        let u = ConnectUri::parse(uri)?;
        let path = u.socket_path(&SocketEnv::from_process(), read_only, Path::exists)?;
        let c = Self::connect(&path).await?;
        c.auth_list().await?;
        c.open(Some(&u.open_name()), if read_only { CONNECT_RO } else { 0 })
            .await?;
        Ok(c)
    }

    /// Send one REMOTE call with already-encoded args; returns the reply body.
    pub async fn call_raw(&self, procedure: i32, args: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        self.call_program(PROGRAM_REMOTE, PROTOCOL_VERSION, procedure, args)
            .await
    }

    /// rvirt's DOMAIN_GRANT ([`crate::rvirt`]).
    pub async fn domain_grant(
        &self,
        dom: &Domain,
        path: &str,
        read_write: bool,
        flags: u32,
    ) -> Result<(), ClientError> {
        let args = crate::rvirt::DomainGrantArgs {
            dom: dom.clone(),
            path: path.to_owned(),
            access: i32::from(read_write),
            flags,
        };
        self.call_rvirt(crate::rvirt::RvirtProcedure::DomainGrant, to_bytes(&args))
            .await
    }

    /// rvirt's DOMAIN_REVOKE ([`crate::rvirt`]).
    pub async fn domain_revoke(
        &self,
        dom: &Domain,
        path: &str,
        flags: u32,
    ) -> Result<(), ClientError> {
        let args = crate::rvirt::DomainRevokeArgs {
            dom: dom.clone(),
            path: path.to_owned(),
            flags,
        };
        self.call_rvirt(crate::rvirt::RvirtProcedure::DomainRevoke, to_bytes(&args))
            .await
    }

    /// `virDomainQemuMonitorCommand` (libvirt's QEMU program): the monitor's reply.
    pub async fn qemu_monitor_command(
        &self,
        dom: &Domain,
        cmd: &str,
        flags: u32,
    ) -> Result<String, ClientError> {
        let args = crate::qemu_program::MonitorCommandArgs {
            dom: dom.clone(),
            cmd: cmd.to_owned(),
            flags,
        };
        let body = self
            .call_program(
                crate::qemu_program::PROGRAM_QEMU,
                PROTOCOL_VERSION,
                crate::qemu_program::PROC_DOMAIN_MONITOR_COMMAND,
                to_bytes(&args),
            )
            .await?;
        Ok(from_bytes::<String>(&body)?)
    }

    async fn call_rvirt(
        &self,
        proc: crate::rvirt::RvirtProcedure,
        args: Vec<u8>,
    ) -> Result<(), ClientError> {
        let body = self
            .call_program(
                crate::rvirt::PROGRAM_RVIRT,
                crate::rvirt::RVIRT_VERSION,
                proc.number(),
                args,
            )
            .await?;
        Ok(from_bytes::<()>(&body)?)
    }

    /// Send one call of any program with already-encoded args; returns the reply body.
    pub async fn call_program(
        &self,
        program: u32,
        version: u32,
        procedure: i32,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        self.call_with_serial(program, version, procedure, serial, args)
            .await
    }

    /// [`Client::call_program`] with a serial taken already.
    async fn call_with_serial(
        &self,
        program: u32,
        version: u32,
        procedure: i32,
        serial: u32,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        let h = Header {
            program,
            version,
            procedure,
            message_type: MessageType::Call,
            serial,
            status: MessageStatus::Ok,
        };
        let packet = frame::encode_packet(&h, &args, MESSAGE_MAX)?;
        let (otx, orx) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(m) => m.insert(serial, otx),
            None => return Err(ClientError::Closed),
        };
        if self.tx.send(packet).await.is_err() {
            if let Some(m) = lock(&self.pending).as_mut() {
                m.remove(&serial);
            }
            return Err(ClientError::Closed);
        }
        match orx.await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(ClientError::Remote(e)),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Typed call.
    pub async fn call<A: Encode + ?Sized, R: Decode>(
        &self,
        procedure: Procedure,
        args: &A,
    ) -> Result<R, ClientError> {
        let body = self.call_raw(procedure.number(), to_bytes(args)).await?;
        Ok(from_bytes(&body)?)
    }

    /// AUTH_LIST.
    pub async fn auth_list(&self) -> Result<Vec<i32>, ClientError> {
        Ok(self
            .call::<_, AuthListRet>(Procedure::AuthList, &())
            .await?
            .types)
    }

    /// CONNECT_SUPPORTS_FEATURE.
    pub async fn supports_feature(&self, feature: i32) -> Result<bool, ClientError> {
        let v: i32 = self
            .call(
                Procedure::ConnectSupportsFeature,
                &IntArgs { value: feature },
            )
            .await?;
        Ok(v != 0)
    }

    /// CONNECT_OPEN.
    pub async fn open(&self, name: Option<&str>, flags: u32) -> Result<(), ClientError> {
        let a = OpenArgs {
            name: name.map(str::to_string),
            flags,
        };
        self.call(Procedure::ConnectOpen, &a).await
    }

    /// CONNECT_CLOSE.
    pub async fn close(&self) -> Result<(), ClientError> {
        self.call(Procedure::ConnectClose, &()).await
    }

    /// CONNECT_GET_TYPE.
    pub async fn get_type(&self) -> Result<String, ClientError> {
        self.call(Procedure::ConnectGetType, &()).await
    }

    /// CONNECT_GET_VERSION.
    pub async fn get_version(&self) -> Result<u64, ClientError> {
        self.call(Procedure::ConnectGetVersion, &()).await
    }

    /// CONNECT_GET_LIB_VERSION.
    pub async fn get_lib_version(&self) -> Result<u64, ClientError> {
        self.call(Procedure::ConnectGetLibVersion, &()).await
    }

    /// CONNECT_GET_HOSTNAME.
    pub async fn get_hostname(&self) -> Result<String, ClientError> {
        self.call(Procedure::ConnectGetHostname, &()).await
    }

    /// CONNECT_GET_URI.
    pub async fn get_uri(&self) -> Result<String, ClientError> {
        self.call(Procedure::ConnectGetUri, &()).await
    }

    /// CONNECT_GET_CAPABILITIES.
    pub async fn get_capabilities(&self) -> Result<String, ClientError> {
        self.call(Procedure::ConnectGetCapabilities, &()).await
    }

    /// NODE_GET_INFO.
    pub async fn node_get_info(&self) -> Result<NodeInfo, ClientError> {
        self.call(Procedure::NodeGetInfo, &()).await
    }

    /// CONNECT_LIST_ALL_DOMAINS (with results).
    pub async fn list_all_domains(&self, flags: u32) -> Result<Vec<Domain>, ClientError> {
        let a = ListAllDomainsArgs {
            need_results: 1,
            flags,
        };
        Ok(self
            .call::<_, ListAllDomainsRet>(Procedure::ConnectListAllDomains, &a)
            .await?
            .domains)
    }

    /// CONNECT_NUM_OF_DOMAINS.
    pub async fn num_of_domains(&self) -> Result<i32, ClientError> {
        self.call(Procedure::ConnectNumOfDomains, &()).await
    }

    /// CONNECT_LIST_DOMAINS.
    pub async fn list_domains(&self, maxids: i32) -> Result<Vec<i32>, ClientError> {
        let r: IdsRet = self
            .call(Procedure::ConnectListDomains, &IntArgs { value: maxids })
            .await?;
        Ok(r.ids)
    }

    /// CONNECT_NUM_OF_DEFINED_DOMAINS.
    pub async fn num_of_defined_domains(&self) -> Result<i32, ClientError> {
        self.call(Procedure::ConnectNumOfDefinedDomains, &()).await
    }

    /// CONNECT_LIST_DEFINED_DOMAINS.
    pub async fn list_defined_domains(&self, maxnames: i32) -> Result<Vec<String>, ClientError> {
        let r: NamesRet = self
            .call(
                Procedure::ConnectListDefinedDomains,
                &IntArgs { value: maxnames },
            )
            .await?;
        Ok(r.names)
    }

    /// DOMAIN_LOOKUP_BY_NAME.
    pub async fn lookup_by_name(&self, name: &str) -> Result<Domain, ClientError> {
        let a = StringArgs {
            value: name.to_string(),
        };
        self.call(Procedure::DomainLookupByName, &a).await
    }

    /// DOMAIN_LOOKUP_BY_UUID.
    pub async fn lookup_by_uuid(&self, uuid: [u8; 16]) -> Result<Domain, ClientError> {
        self.call(Procedure::DomainLookupByUuid, &UuidArgs { uuid })
            .await
    }

    /// DOMAIN_LOOKUP_BY_ID.
    pub async fn lookup_by_id(&self, id: i32) -> Result<Domain, ClientError> {
        self.call(Procedure::DomainLookupById, &IntArgs { value: id })
            .await
    }

    /// DOMAIN_DEFINE_XML (flags 0) or DOMAIN_DEFINE_XML_FLAGS.
    pub async fn define_xml(&self, xml: &str, flags: u32) -> Result<Domain, ClientError> {
        if flags == 0 {
            let a = StringArgs {
                value: xml.to_string(),
            };
            self.call(Procedure::DomainDefineXml, &a).await
        } else {
            let a = StringFlagsArgs {
                value: xml.to_string(),
                flags,
            };
            self.call(Procedure::DomainDefineXmlFlags, &a).await
        }
    }

    /// DOMAIN_CREATE_XML (transient, started).
    pub async fn create_xml(&self, xml: &str, flags: u32) -> Result<Domain, ClientError> {
        let a = StringFlagsArgs {
            value: xml.to_string(),
            flags,
        };
        self.call(Procedure::DomainCreateXml, &a).await
    }

    /// DOMAIN_CREATE_WITH_FLAGS: start; returns the domain with its new id.
    pub async fn create(&self, dom: &Domain, flags: u32) -> Result<Domain, ClientError> {
        self.call(Procedure::DomainCreateWithFlags, &df(dom, flags))
            .await
    }

    /// DOMAIN_DESTROY_FLAGS.
    pub async fn destroy(&self, dom: &Domain, flags: u32) -> Result<(), ClientError> {
        self.call(Procedure::DomainDestroyFlags, &df(dom, flags))
            .await
    }

    /// DOMAIN_SHUTDOWN_FLAGS.
    pub async fn shutdown(&self, dom: &Domain, flags: u32) -> Result<(), ClientError> {
        self.call(Procedure::DomainShutdownFlags, &df(dom, flags))
            .await
    }

    /// DOMAIN_REBOOT.
    pub async fn reboot(&self, dom: &Domain, flags: u32) -> Result<(), ClientError> {
        self.call(Procedure::DomainReboot, &df(dom, flags)).await
    }

    /// DOMAIN_SUSPEND.
    pub async fn suspend(&self, dom: &Domain) -> Result<(), ClientError> {
        self.call(Procedure::DomainSuspend, &d(dom)).await
    }

    /// DOMAIN_RESUME.
    pub async fn resume(&self, dom: &Domain) -> Result<(), ClientError> {
        self.call(Procedure::DomainResume, &d(dom)).await
    }

    /// DOMAIN_UNDEFINE_FLAGS.
    pub async fn undefine(&self, dom: &Domain, flags: u32) -> Result<(), ClientError> {
        self.call(Procedure::DomainUndefineFlags, &df(dom, flags))
            .await
    }

    /// DOMAIN_GET_XML_DESC.
    pub async fn get_xml_desc(&self, dom: &Domain, flags: u32) -> Result<String, ClientError> {
        self.call(Procedure::DomainGetXmlDesc, &df(dom, flags))
            .await
    }

    /// DOMAIN_GET_STATE → (state, reason).
    pub async fn get_state(&self, dom: &Domain) -> Result<StateRet, ClientError> {
        self.call(Procedure::DomainGetState, &df(dom, 0)).await
    }

    /// DOMAIN_GET_INFO.
    pub async fn get_info(&self, dom: &Domain) -> Result<DomainInfo, ClientError> {
        self.call(Procedure::DomainGetInfo, &d(dom)).await
    }

    /// DOMAIN_GET_AUTOSTART.
    pub async fn get_autostart(&self, dom: &Domain) -> Result<bool, ClientError> {
        let v: i32 = self.call(Procedure::DomainGetAutostart, &d(dom)).await?;
        Ok(v != 0)
    }

    /// DOMAIN_SET_AUTOSTART.
    pub async fn set_autostart(&self, dom: &Domain, on: bool) -> Result<(), ClientError> {
        let a = SetAutostartArgs {
            dom: dom.clone(),
            autostart: i32::from(on),
        };
        self.call(Procedure::DomainSetAutostart, &a).await
    }

    /// DOMAIN_IS_ACTIVE.
    pub async fn is_active(&self, dom: &Domain) -> Result<bool, ClientError> {
        let v: i32 = self.call(Procedure::DomainIsActive, &d(dom)).await?;
        Ok(v != 0)
    }

    /// DOMAIN_IS_PERSISTENT.
    pub async fn is_persistent(&self, dom: &Domain) -> Result<bool, ClientError> {
        let v: i32 = self.call(Procedure::DomainIsPersistent, &d(dom)).await?;
        Ok(v != 0)
    }

    /// CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY for lifecycle events
    /// (optionally of one domain). Returns the callback id and a receiver of
    /// every lifecycle message this connection gets (filter on
    /// `callback_id`). Subscribe before the events you want to see happen.
    pub async fn register_lifecycle_events(
        &self,
        dom: Option<&Domain>,
    ) -> Result<(i32, broadcast::Receiver<CallbackLifecycleMsg>), ClientError> {
        let rx = self.events.subscribe();
        let a = CallbackRegisterArgs {
            event_id: 0,
            dom: dom.cloned(),
        };
        let id: i32 = self
            .call(Procedure::ConnectDomainEventCallbackRegisterAny, &a)
            .await?;
        Ok((id, rx))
    }

    /// CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY.
    pub async fn deregister_events(&self, callback_id: i32) -> Result<(), ClientError> {
        self.call(
            Procedure::ConnectDomainEventCallbackDeregisterAny,
            &IntArgs { value: callback_id },
        )
        .await
    }

    /// CONNECT_DOMAIN_XML_TO_NATIVE.
    pub async fn domain_xml_to_native(
        &self,
        format: &str,
        xml: &str,
        flags: u32,
    ) -> Result<String, ClientError> {
        let a = XmlToNativeArgs {
            native_format: format.to_string(),
            domain_xml: xml.to_string(),
            flags,
        };
        self.call(Procedure::ConnectDomainXmlToNative, &a).await
    }
}

fn d(dom: &Domain) -> DomainArgs {
    DomainArgs { dom: dom.clone() }
}

fn df(dom: &Domain, flags: u32) -> DomainFlagsArgs {
    DomainFlagsArgs {
        dom: dom.clone(),
        flags,
    }
}
