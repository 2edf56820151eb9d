//! The remote-protocol [`Backend`] over the registry. Reads (lookups, list, state,
//! info, dumpxml) answer from each domain's published snapshot and never wait for
//! a job; lifecycle calls go to [`super::ops`].

use std::sync::Arc;

use remote_protocol::procs::{ControlInfo, DomainInfo, JobInfo, StateRet, list_flags};
use remote_protocol::qemu_program::MonitorCommandArgs;
use remote_protocol::rvirt::RvirtRequest;
use remote_protocol::server::{Backend, BoxFuture, CallContext, ConnectionInfo};
use remote_protocol::{Domain, ErrorCode, ErrorDomain, RemoteError, Request, Response};
use uuid::Uuid;

use super::{Daemon, grants, hostinfo, memtrim, monitor, ops, procfs};
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
        use Request as R;
        let d = &self.0;
        Ok(match req {
            R::ConnectOpen { name, .. } => {
                let n = name.unwrap_or_default();
                let base = n.split('?').next().unwrap_or("");
                if matches!(base, "" | "qemu:///system" | "qemu:///session") {
                    Response::Void
                } else {
                    return Err(RemoteError::new(
                        ErrorCode::NO_CONNECT,
                        ErrorDomain::REMOTE,
                        format!("no connection driver available for {n}"),
                    ));
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
            R::ConnectListAllDomains { flags } => Response::Domains(
                d.registry
                    .all()
                    .iter()
                    .map(|o| o.snapshot())
                    .filter(|s| list_matches(s, flags))
                    .map(|s| wire(&s))
                    .collect(),
            ),
            R::DomainLookupByName { name } => Response::Domain(
                d.registry
                    .by_name(&name)
                    .map(|o| wire_obj(&o))
                    .ok_or_else(|| RemoteError::no_domain_name(&name))?,
            ),
            R::DomainLookupByUuid { uuid } => Response::Domain(
                d.registry
                    .by_uuid(&Uuid::from_bytes(uuid))
                    .map(|o| wire_obj(&o))
                    .ok_or_else(|| {
                        RemoteError::new(
                            ErrorCode::NO_DOMAIN,
                            ErrorDomain::QEMU,
                            format!(
                                "Domain not found: no domain with matching uuid '{}'",
                                Uuid::from_bytes(uuid)
                            ),
                        )
                    })?,
            ),
            R::DomainLookupById { id } => Response::Domain(
                d.registry
                    .by_id(id)
                    .map(|o| o.snapshot())
                    .filter(|s| s.id == Some(id))
                    .map(|s| wire(&s))
                    .ok_or_else(|| RemoteError::no_domain_id(id))?,
            ),
            R::DomainDefineXml { xml, .. } => {
                let d2 = d.clone();
                let obj = tokio::task::spawn_blocking(move || ops::define(&d2, &xml))
                    .await
                    .map_err(|e| RemoteError::internal(&e.to_string()))??;
                Response::Domain(wire_obj(&obj))
            }
            R::DomainCreateXml { xml, flags } => {
                let obj = ops::create_xml(d, &xml, flags).await?;
                Response::Domain(wire_obj(&obj))
            }
            R::DomainCreate { dom, flags } => {
                let obj = self.lookup(&dom)?;
                ops::start(d, &obj, flags).await?;
                Response::Domain(wire_obj(&obj))
            }
            R::DomainDestroy { dom, flags } => {
                ops::destroy(d, &*self.lookup(&dom)?, flags).await?;
                Response::Void
            }
            R::DomainShutdown { dom, flags } => {
                ops::shutdown(d, &*self.lookup(&dom)?, flags).await?;
                Response::Void
            }
            R::DomainReboot { dom, flags } => {
                ops::reboot(d, &*self.lookup(&dom)?, flags).await?;
                Response::Void
            }
            R::DomainReset { dom, .. } => {
                ops::reset(d, &*self.lookup(&dom)?).await?;
                Response::Void
            }
            R::DomainSuspend { dom } => {
                ops::suspend(d, &*self.lookup(&dom)?).await?;
                Response::Void
            }
            R::DomainResume { dom } => {
                ops::resume(d, &*self.lookup(&dom)?).await?;
                Response::Void
            }
            R::DomainUndefine { dom, .. } => {
                ops::undefine(d, &self.lookup(&dom)?).await?;
                Response::Void
            }
            R::DomainGetXmlDesc { dom, flags } => {
                const INACTIVE: u32 = 2;
                let s = self.snap(&dom)?;
                let def = s
                    .definition(flags & INACTIVE != 0)
                    .ok_or_else(|| s.not_found())?;
                let id = if flags & INACTIVE != 0 || !s.is_active() {
                    None
                } else {
                    s.id
                };
                Response::String(def.to_xml(id))
            }
            R::DomainGetState { dom, .. } => {
                let s = self.snap(&dom)?;
                Response::State(StateRet {
                    state: s.state.code(),
                    reason: s.state.reason_code(),
                })
            }
            R::DomainGetInfo { dom } => {
                let s = self.snap(&dom)?;
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
            R::DomainGetOsType { dom } => {
                let s = self.snap(&dom)?;
                let t = s
                    .definition(false)
                    .map(|d| d.os_type())
                    .unwrap_or_else(|| "hvm".into());
                Response::String(t)
            }
            R::DomainGetMaxMemory { dom } => {
                let s = self.snap(&dom)?;
                Response::UHyper(s.definition(false).map(|d| d.memory_kib()).unwrap_or(0))
            }
            R::DomainGetMaxVcpus { dom } => {
                let s = self.snap(&dom)?;
                Response::Int(
                    s.definition(false)
                        .map(|d| d.vcpus_max() as i32)
                        .unwrap_or(1),
                )
            }
            R::DomainGetVcpusFlags { dom, flags } => {
                const CONFIG: u32 = 2;
                const MAXIMUM: u32 = 4;
                let s = self.snap(&dom)?;
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
            R::DomainIsActive { dom } => Response::bool(self.snap(&dom)?.is_active()),
            R::DomainIsPersistent { dom } => Response::bool(self.snap(&dom)?.persistent),
            R::DomainIsUpdated { dom } => {
                self.snap(&dom)?;
                Response::bool(false)
            }
            R::DomainGetAutostart { dom } => Response::bool(self.snap(&dom)?.autostart),
            R::DomainSetAutostart { dom, autostart } => {
                ops::set_autostart(d, &*self.lookup(&dom)?, autostart)?;
                Response::Void
            }
            R::DomainHasManagedSaveImage { dom, .. } | R::DomainSnapshotNum { dom, .. } => {
                self.snap(&dom)?;
                Response::Int(0)
            }
            R::DomainGetMessages { dom, .. } => {
                let s = self.snap(&dom)?;
                let mut msgs = Vec::new();
                if let Some(n) = &s.note {
                    msgs.push(n.clone());
                }
                if let Some(vm) = d.vm(&s.uuid) {
                    for t in vm.status().taints {
                        msgs.push(format!("tainted: {t}"));
                    }
                }
                Response::Strings(msgs)
            }
            R::DomainGetJobInfo { dom } => {
                self.snap(&dom)?;
                Response::JobInfo(JobInfo::default())
            }
            R::DomainGetControlInfo { dom, .. } => {
                self.snap(&dom)?;
                Response::ControlInfo(ControlInfo::default())
            }
            R::ConnectGetDomainCapabilities { .. } => {
                return Err(RemoteError::unknown_procedure(ctx.procedure.number()));
            }
            R::ConnectDomainXmlToNative {
                native_format,
                domain_xml,
                ..
            } => {
                if native_format != "qemu-argv" {
                    return Err(RemoteError::invalid_arg(&format!(
                        "unsupported config type {native_format}"
                    )));
                }
                let caps = d
                    .caps
                    .clone()
                    .map_err(|m| RemoteError::operation_failed(&m))?;
                let line =
                    crate::native::xml_to_native(&domain_xml, &d.host.config, &caps, &d.paths)
                        .map_err(|e| match e {
                            crate::native::NativeError::Parse(p) => {
                                RemoteError::xml_error(&p.to_string())
                            }
                            other => RemoteError::new(
                                ErrorCode::CONFIG_UNSUPPORTED,
                                ErrorDomain::QEMU,
                                format!("unsupported configuration: {other}"),
                            ),
                        })?;
                Response::String(format!("{line}\n"))
            }
            #[allow(unreachable_patterns)]
            _ => return Err(RemoteError::unknown_procedure(ctx.procedure.number())),
        })
    }
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
