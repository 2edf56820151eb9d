//! The remote-protocol [`Backend`] over the registry. Reads (lookups, list, state,
//! info, dumpxml) answer from each domain's published snapshot and never wait for
//! a job; lifecycle calls go to [`super::ops`].

use std::sync::Arc;

use remote_protocol::procs::{ControlInfo, DomainInfo, Family, JobInfo, StateRet, list_flags};
use remote_protocol::qemu_program::MonitorCommandArgs;
use remote_protocol::rvirt::RvirtRequest;
use remote_protocol::server::{Backend, BoxFuture, ByteStream, CallContext, ConnectionInfo};
use remote_protocol::{Domain, ErrorCode, ErrorDomain, RemoteError, Request, Response};
use uuid::Uuid;

use super::{
    Daemon, console, domain_ops, grants, hostinfo, memtrim, monitor, nodefacts, ops, procfs,
};
use crate::registry::{DomainObj, Snapshot};
use crate::states::DomainState;

/// The daemon as a remote-protocol backend.
#[derive(Debug, Clone)]
pub struct DaemonBackend(pub Arc<Daemon>);

fn wire(s: &Snapshot) -> Domain {
    Domain {
        name: s.name.clone(),
        uuid: *s.uuid.as_bytes(),
        id: s.id.unwrap_or(-1),
    }
}

fn wire_obj(o: &DomainObj) -> Domain {
    wire(&o.snapshot())
}

/// libvirt's `virConnectListAllDomains` filter groups.
pub fn list_matches(s: &Snapshot, flags: u32) -> bool {
    use list_flags as F;
    let group = |yes: u32, no: u32, val: bool| {
        flags & (yes | no) == 0 || (val && flags & yes != 0) || (!val && flags & no != 0)
    };
    let state_ok = {
        let m = F::RUNNING | F::PAUSED | F::SHUTOFF | F::OTHER;
        flags & m == 0
            || match s.state {
                DomainState::Running(_) => flags & F::RUNNING != 0,
                DomainState::Paused(_) => flags & F::PAUSED != 0,
                DomainState::Shutoff(_) => flags & F::SHUTOFF != 0,
                _ => flags & F::OTHER != 0,
            }
    };
    group(F::ACTIVE, F::INACTIVE, s.is_active())
        && group(F::PERSISTENT, F::TRANSIENT, s.persistent)
        && group(F::AUTOSTART, F::NO_AUTOSTART, s.autostart)
        && group(F::MANAGEDSAVE, F::NO_MANAGEDSAVE, false)
        && group(F::HAS_SNAPSHOT, F::NO_SNAPSHOT, false)
        && group(F::HAS_CHECKPOINT, F::NO_CHECKPOINT, false)
        && state_ok
}

impl DaemonBackend {
    fn lookup(&self, dom: &Domain) -> Result<Arc<DomainObj>, RemoteError> {
        self.0
            .registry
            .by_uuid(&Uuid::from_bytes(dom.uuid))
            .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))
    }

    /// The domain as a read sees it; one being removed (no definition left, the
    /// moment between undefine and its removal from the registry) is not found,
    /// as libvirt answers.
    fn snap(&self, dom: &Domain) -> Result<Arc<Snapshot>, RemoteError> {
        let s = self.lookup(dom)?.snapshot();
        if s.config.is_none() && s.live.is_none() {
            return Err(s.not_found());
        }
        Ok(s)
    }

    async fn handle(&self, ctx: &CallContext, req: Request) -> Result<Response, RemoteError> {
        let unknown = || RemoteError::unknown_procedure(ctx.procedure.number());
        match req.family() {
            Family::Connect => self.connect(req).ok_or_else(unknown)?,
            Family::Lookup => self.find(req).ok_or_else(unknown)?,
            Family::Lifecycle => self.lifecycle(req).await.ok_or_else(unknown)?,
            Family::Info => self.info(req).ok_or_else(unknown)?,
            Family::Stats => match req {
                Request::Stats(r) => super::stats::handle(&self.0, r).await.map(Response::Stats),
                _ => Err(unknown()),
            },
            Family::Storage => match req {
                Request::Storage(r) => super::storage::handle(&self.0, r).map(Response::Storage),
                _ => Err(unknown()),
            },
            Family::Server => Err(unknown()),
            Family::DomainOps => match req {
                Request::DomainOp(op) => domain_ops::handle(&self.0, op).await,
                _ => Err(unknown()),
            },
        }
    }

    /// The connection and the host (host facts in [`nodefacts`]); `None` for
    /// requests of other families.
    fn connect(&self, req: Request) -> Option<Result<Response, RemoteError>> {
        use Request as R;
        let d = &self.0;
        Some(Ok(match req {
            R::ConnectOpen { name, .. } => {
                let n = name.unwrap_or_default();
                let base = n.split('?').next().unwrap_or("");
                if matches!(base, "" | "qemu:///system" | "qemu:///session") {
                    Response::Void
                } else {
                    return Some(Err(RemoteError::new(
                        ErrorCode::NO_CONNECT,
                        ErrorDomain::REMOTE,
                        format!("no connection driver available for {n}"),
                    )));
                }
            }
            R::ConnectGetType => Response::String("QEMU".into()),
            R::ConnectGetVersion => {
                let (a, b, c) = d.caps.as_ref().map(|c| c.version()).unwrap_or((0, 0, 0));
                Response::UHyper(u64::from(a) * 1_000_000 + u64::from(b) * 1_000 + u64::from(c))
            }
            R::ConnectGetLibVersion => Response::UHyper(remote_protocol::LIBVIRT_VERSION_NUMBER),
            R::ConnectGetHostname => Response::String(d.hostname.clone()),
            R::ConnectGetUri => Response::String("qemu:///system".into()),
            R::ConnectGetCapabilities => Response::String(hostinfo::capabilities_xml(
                d.caps.as_ref().ok().map(|c| &**c),
                hostinfo::dac_base_label(&d.host),
            )),
            R::ConnectGetMaxVcpus { .. } => Response::Int(
                d.caps
                    .as_ref()
                    .ok()
                    .and_then(|c| c.default_machine().map(|m| m.cpu_max as i32))
                    .unwrap_or(255),
            ),
            R::NodeGetInfo => Response::NodeInfo(hostinfo::node_info()),
            R::NodeGetSecurityModel => Response::SecurityModel {
                model: String::new(),
                doi: String::new(),
            },
            R::NodeGetFreeMemory => Response::UHyper(hostinfo::free_memory()),
            R::ConnectDomainXmlToNative {
                native_format,
                domain_xml,
                ..
            } => return Some(self.xml_to_native(&native_format, &domain_xml)),
            other => return nodefacts::answer(d, &other),
        }))
    }

    /// CONNECT_DOMAIN_XML_TO_NATIVE: the QEMU command line for a domain XML.
    fn xml_to_native(
        &self,
        native_format: &str,
        domain_xml: &str,
    ) -> Result<Response, RemoteError> {
        let d = &self.0;
        if native_format != "qemu-argv" {
            return Err(RemoteError::invalid_arg(&format!(
                "unsupported config type {native_format}"
            )));
        }
        let caps = d
            .caps
            .clone()
            .map_err(|m| RemoteError::operation_failed(&m))?;
        let line = crate::native::xml_to_native(domain_xml, &d.host.config, &caps, &d.paths)
            .map_err(|e| match e {
                crate::native::NativeError::Parse(p) => RemoteError::xml_error(&p.to_string()),
                other => RemoteError::new(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    ErrorDomain::QEMU,
                    format!("unsupported configuration: {other}"),
                ),
            })?;
        Ok(Response::String(format!("{line}\n")))
    }

    /// Listing and lookups.
    fn find(&self, req: Request) -> Option<Result<Response, RemoteError>> {
        use Request as R;
        let d = &self.0;
        Some(match req {
            R::ConnectListAllDomains { flags } => Ok(Response::Domains(
                d.registry
                    .all()
                    .iter()
                    .map(|o| o.snapshot())
                    .filter(|s| list_matches(s, flags))
                    .map(|s| wire(&s))
                    .collect(),
            )),
            R::DomainLookupByName { name } => d
                .registry
                .by_name(&name)
                .map(|o| Response::Domain(wire_obj(&o)))
                .ok_or_else(|| RemoteError::no_domain_name(&name)),
            R::DomainLookupByUuid { uuid } => d
                .registry
                .by_uuid(&Uuid::from_bytes(uuid))
                .map(|o| Response::Domain(wire_obj(&o)))
                .ok_or_else(|| {
                    RemoteError::new(
                        ErrorCode::NO_DOMAIN,
                        ErrorDomain::QEMU,
                        format!(
                            "Domain not found: no domain with matching uuid '{}'",
                            Uuid::from_bytes(uuid)
                        ),
                    )
                }),
            R::DomainLookupById { id } => d
                .registry
                .by_id(id)
                .map(|o| o.snapshot())
                .filter(|s| s.id == Some(id))
                .map(|s| Response::Domain(wire(&s)))
                .ok_or_else(|| RemoteError::no_domain_id(id)),
            _ => return None,
        })
    }

    /// Define, start, stop, pause, undefine, autostart: the jobs of [`ops`].
    async fn lifecycle(&self, req: Request) -> Option<Result<Response, RemoteError>> {
        use Request as R;
        let d = &self.0;
        let done = |r: Result<(), RemoteError>| Some(r.map(|()| Response::Void));
        match req {
            R::DomainDefineXml { xml, .. } => {
                let d2 = d.clone();
                let r = tokio::task::spawn_blocking(move || ops::define(&d2, &xml))
                    .await
                    .map_err(|e| RemoteError::internal(&e.to_string()))
                    .and_then(|r| r);
                Some(r.map(|obj| Response::Domain(wire_obj(&obj))))
            }
            R::DomainCreateXml { xml, flags } => Some(
                ops::create_xml(d, &xml, flags)
                    .await
                    .map(|obj| Response::Domain(wire_obj(&obj))),
            ),
            R::DomainCreate { dom, flags } => Some(self.create(&dom, flags).await),
            R::DomainDestroy { dom, flags } => match self.lookup(&dom) {
                Ok(o) => done(ops::destroy(d, &o, flags).await),
                Err(e) => Some(Err(e)),
            },
            R::DomainShutdown { dom, flags } => match self.lookup(&dom) {
                Ok(o) => done(ops::shutdown(d, &o, flags).await),
                Err(e) => Some(Err(e)),
            },
            R::DomainReboot { dom, flags } => match self.lookup(&dom) {
                Ok(o) => done(ops::reboot(d, &o, flags).await),
                Err(e) => Some(Err(e)),
            },
            R::DomainReset { dom, .. } => match self.lookup(&dom) {
                Ok(o) => done(ops::reset(d, &o).await),
                Err(e) => Some(Err(e)),
            },
            _ => self.pause_or_undefine(req).await,
        }
    }

    async fn create(&self, dom: &Domain, flags: u32) -> Result<Response, RemoteError> {
        let obj = self.lookup(dom)?;
        ops::start(&self.0, &obj, flags).await?;
        Ok(Response::Domain(wire_obj(&obj)))
    }

    /// SUSPEND, RESUME, UNDEFINE and SET_AUTOSTART.
    async fn pause_or_undefine(&self, req: Request) -> Option<Result<Response, RemoteError>> {
        use Request as R;
        let d = &self.0;
        let r = match req {
            R::DomainSuspend { dom } => match self.lookup(&dom) {
                Ok(o) => ops::suspend(d, &o).await,
                Err(e) => Err(e),
            },
            R::DomainResume { dom } => match self.lookup(&dom) {
                Ok(o) => ops::resume(d, &o).await,
                Err(e) => Err(e),
            },
            R::DomainUndefine { dom, flags } => match self.lookup(&dom) {
                Ok(o) => ops::undefine(d, &o, flags).await,
                Err(e) => Err(e),
            },
            R::DomainSetAutostart { dom, autostart } => self
                .lookup(&dom)
                .and_then(|o| ops::set_autostart(d, &o, autostart)),
            _ => return None,
        };
        Some(r.map(|()| Response::Void))
    }

    /// One domain's facts, from its snapshot.
    fn info(&self, req: Request) -> Option<Result<Response, RemoteError>> {
        use Request as R;
        Some(match req {
            R::DomainGetXmlDesc { dom, flags } => self.xml_desc(&dom, flags),
            R::DomainGetState { dom, .. } => self.snap(&dom).map(|s| {
                Response::State(StateRet {
                    state: s.state.code(),
                    reason: s.state.reason_code(),
                })
            }),
            R::DomainGetInfo { dom } => self.snap(&dom).map(|s| domain_info(&s)),
            R::DomainGetOsType { dom } => self.snap(&dom).map(|s| {
                Response::String(
                    s.definition(false)
                        .map(|d| d.os_type())
                        .unwrap_or_else(|| "hvm".into()),
                )
            }),
            R::DomainGetMaxMemory { dom } => self.snap(&dom).map(|s| {
                Response::UHyper(s.definition(false).map(|d| d.memory_kib()).unwrap_or(0))
            }),
            R::DomainGetMaxVcpus { dom } => self.snap(&dom).map(|s| {
                Response::Int(
                    s.definition(false)
                        .map(|d| d.vcpus_max() as i32)
                        .unwrap_or(1),
                )
            }),
            R::DomainGetVcpusFlags { dom, flags } => self.snap(&dom).map(|s| vcpus(&s, flags)),
            R::DomainGetMessages { dom, .. } => self.snap(&dom).map(|s| self.messages(&s)),
            _ => return self.flag_info(req),
        })
    }

    /// The yes/no facts and those every domain has alike.
    fn flag_info(&self, req: Request) -> Option<Result<Response, RemoteError>> {
        use Request as R;
        let (dom, answer): (Domain, fn(&Snapshot) -> Response) = match req {
            R::DomainIsActive { dom } => (dom, |s| Response::bool(s.is_active())),
            R::DomainIsPersistent { dom } => (dom, |s| Response::bool(s.persistent)),
            R::DomainGetAutostart { dom } => (dom, |s| Response::bool(s.autostart)),
            R::DomainIsUpdated { dom } => (dom, |_| Response::bool(false)),
            R::DomainHasManagedSaveImage { dom, .. } | R::DomainSnapshotNum { dom, .. } => {
                (dom, |_| Response::Int(0))
            }
            R::DomainGetJobInfo { dom } => (dom, |_| Response::JobInfo(JobInfo::default())),
            R::DomainGetControlInfo { dom, .. } => {
                (dom, |_| Response::ControlInfo(ControlInfo::default()))
            }
            _ => return None,
        };
        Some(self.snap(&dom).map(|s| answer(&s)))
    }

    /// DOMAIN_GET_XML_DESC: the live or (INACTIVE) the persistent definition.
    fn xml_desc(&self, dom: &Domain, flags: u32) -> Result<Response, RemoteError> {
        const INACTIVE: u32 = 2;
        let s = self.snap(dom)?;
        let def = s
            .definition(flags & INACTIVE != 0)
            .ok_or_else(|| s.not_found())?;
        let id = if flags & INACTIVE != 0 || !s.is_active() {
            None
        } else {
            s.id
        };
        let xml = def.to_xml(id);
        // Graphics passwords only with VIR_DOMAIN_XML_SECURE, as libvirt.
        const SECURE: u32 = 1;
        let xml = if flags & SECURE == 0 && xml.contains(" passwd=") {
            hide_passwords(xml)
        } else {
            xml
        };
        Ok(Response::String(xml))
    }

    /// DOMAIN_GET_MESSAGES: the domain's note and its taints.
    fn messages(&self, s: &Snapshot) -> Response {
        let mut msgs = Vec::new();
        if let Some(n) = &s.note {
            msgs.push(n.clone());
        }
        if let Some(vm) = self.0.vm(&s.uuid) {
            for t in vm.status().taints {
                msgs.push(format!("tainted: {t}"));
            }
        }
        Response::Strings(msgs)
    }
}

/// The XML without `<graphics passwd=…>` (what callers without
/// VIR_DOMAIN_XML_SECURE get).
fn hide_passwords(xml: String) -> String {
    match domain_xml::parse_domain(&xml) {
        Ok(p) => {
            let mut d = p.value;
            for g in &mut d.devices.graphics {
                g.attrs.attrs.retain(|(k, _)| k != "passwd");
            }
            d.to_xml()
        }
        Err(_) => xml,
    }
}

/// DOMAIN_GET_INFO.
fn domain_info(s: &Snapshot) -> Response {
    let def = s.definition(false);
    let max_mem = def.map(|d| d.memory_kib()).unwrap_or(0);
    let mem = def.map(|d| d.current_memory_kib()).unwrap_or(0);
    let vcpus = def.map(|d| d.vcpus_current()).unwrap_or(1);
    Response::DomainInfo(DomainInfo {
        state: s.state.code() as u8,
        max_mem,
        memory: mem,
        nr_virt_cpu: vcpus as u16,
        cpu_time: s.pid.map(procfs::cpu_time_ns).unwrap_or(0),
    })
}

/// DOMAIN_GET_VCPUS_FLAGS: current or (MAXIMUM) maximum, live or (CONFIG) persistent.
fn vcpus(s: &Snapshot, flags: u32) -> Response {
    const CONFIG: u32 = 2;
    const MAXIMUM: u32 = 4;
    let def = s.definition(flags & CONFIG != 0);
    let n = def
        .map(|d| {
            if flags & MAXIMUM != 0 {
                d.vcpus_max()
            } else {
                d.vcpus_current()
            }
        })
        .unwrap_or(1);
    Response::Int(n as i32)
}

impl Backend for DaemonBackend {
    fn call<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, RemoteError>> {
        memtrim::touch();
        Box::pin(self.handle(ctx, req))
    }

    fn open_console<'a>(
        &'a self,
        _ctx: &'a CallContext,
        dom: Domain,
        dev_name: Option<String>,
        flags: u32,
    ) -> BoxFuture<'a, Result<ByteStream, RemoteError>> {
        Box::pin(async move { console::open(&self.0, &self.lookup(&dom)?, dev_name, flags).await })
    }

    fn screenshot<'a>(
        &'a self,
        _ctx: &'a CallContext,
        dom: Domain,
        screen: u32,
        flags: u32,
    ) -> BoxFuture<'a, Result<(String, ByteStream), RemoteError>> {
        Box::pin(async move {
            domain_ops::screenshot::take(&self.0, &self.lookup(&dom)?, screen, flags).await
        })
    }

    fn qemu_monitor_command<'a>(
        &'a self,
        _conn: &'a ConnectionInfo,
        args: MonitorCommandArgs,
    ) -> BoxFuture<'a, Result<String, RemoteError>> {
        Box::pin(async move {
            let obj = self.lookup(&args.dom)?;
            monitor::command(&self.0, &obj, &args.cmd, args.flags).await
        })
    }

    fn qemu_agent_command<'a>(
        &'a self,
        _conn: &'a ConnectionInfo,
        args: remote_protocol::qemu_program::AgentCommandArgs,
    ) -> BoxFuture<'a, Result<Option<String>, RemoteError>> {
        Box::pin(async move {
            let obj = self.lookup(&args.dom)?;
            domain_ops::agent_command(&self.0, &obj, &args.cmd, args.timeout, args.flags)
                .await
                .map(Some)
        })
    }

    fn rvirt_call<'a>(
        &'a self,
        _conn: &'a ConnectionInfo,
        req: RvirtRequest,
    ) -> BoxFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move {
            match req {
                RvirtRequest::DomainGrant {
                    dom,
                    path,
                    read_write,
                    flags,
                } => grants::grant(&self.0, &self.lookup(&dom)?, path, read_write, flags).await,
                RvirtRequest::DomainRevoke { dom, path, flags } => {
                    grants::revoke(&self.0, &self.lookup(&dom)?, path, flags).await
                }
            }
        })
    }
}
