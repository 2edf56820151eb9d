//! A small in-memory [`Backend`] for tests and demos: a list of domains with
//! name, UUID, id, state and XML. It never runs anything; starting a domain
//! just flips its state. The real backend lives in the daemon.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::error::{ErrorCode, ErrorDomain, RemoteError};
use crate::event::{
    DefinedDetail, DomainEvent, ResumedDetail, StartedDetail, StoppedDetail, SuspendedDetail,
    UndefinedDetail,
};
use crate::procs::{
    ControlInfo, Domain, DomainInfo, Family, JobInfo, NodeInfo, Request, Response, StateRet,
    list_flags, state,
};
use crate::server::{Backend, BoxFuture, ByteStream, CallContext, LifecycleEvent};
use crate::xdr::FixedChars;
use tokio::io::AsyncWriteExt;

/// One fake domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDomain {
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: [u8; 16],
    /// Running id or -1.
    pub id: i32,
    /// `virDomainState`.
    pub state: i32,
    /// Reason for the state.
    pub reason: i32,
    /// XML as defined (with a `<uuid>` added if it had none).
    pub xml: String,
    /// Has a persistent config.
    pub persistent: bool,
    /// Autostart flag.
    pub autostart: bool,
    /// Memory, KiB.
    pub memory_kib: u64,
    /// vCPUs.
    pub vcpus: u16,
}

impl FakeDomain {
    fn wire(&self) -> Domain {
        Domain {
            name: self.name.clone(),
            uuid: self.uuid,
            id: self.id,
        }
    }

    fn active(&self) -> bool {
        self.id >= 0
    }
}

#[derive(Debug, Default)]
struct State {
    domains: Vec<FakeDomain>,
    next_id: i32,
}

/// The fake backend.
#[derive(Debug)]
pub struct FakeBackend {
    state: Mutex<State>,
    events: Option<broadcast::Sender<LifecycleEvent>>,
}

impl Default for FakeBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// Text of the first `<tag ...>text</tag>` in `xml`, with its attributes.
fn element<'a>(xml: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(i) = xml[from..].find(&open) {
        let start = from + i + open.len();
        let rest = &xml[start..];
        match rest.chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\n') | Some('\r') => {
                let gt = rest.find('>')?;
                let attrs = &rest[..gt];
                let body = &rest[gt + 1..];
                let end = body.find(&format!("</{tag}>"))?;
                return Some((attrs, body[..end].trim()));
            }
            _ => from = start,
        }
    }
    None
}

/// (name, uuid, memory KiB, vcpus) from a domain XML.
type ParsedXml = (String, Option<[u8; 16]>, u64, u16);

fn parse_domain_xml(xml: &str) -> Result<ParsedXml, RemoteError> {
    if !xml.trim_start().starts_with("<domain") {
        return Err(RemoteError::xml_error("expected a <domain> document"));
    }
    let name = element(xml, "name")
        .map(|(_, t)| t.to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            RemoteError::new(
                ErrorCode::NO_NAME,
                ErrorDomain::DOMAIN,
                "missing name information in domain",
            )
        })?;
    let uuid = match element(xml, "uuid") {
        Some((_, t)) => Some(
            *uuid::Uuid::parse_str(t)
                .map_err(|_| RemoteError::xml_error(&format!("malformed uuid element '{t}'")))?
                .as_bytes(),
        ),
        None => None,
    };
    let memory = match element(xml, "memory") {
        Some((attrs, t)) => {
            let n: u64 = t
                .parse()
                .map_err(|_| RemoteError::xml_error("could not parse memory"))?;
            let mult = if attrs.contains("GiB") || attrs.contains("'G'") {
                1024 * 1024
            } else if attrs.contains("MiB") || attrs.contains("'M'") {
                1024
            } else {
                1
            };
            n.saturating_mul(mult)
        }
        None => 0,
    };
    let vcpus = element(xml, "vcpu")
        .and_then(|(_, t)| t.parse().ok())
        .unwrap_or(1);
    Ok((name, uuid, memory, vcpus))
}

impl FakeBackend {
    /// An empty fake hypervisor.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                domains: Vec::new(),
                next_id: 1,
            }),
            events: None,
        }
    }

    /// Also publish lifecycle events (pass the same sender in
    /// [`crate::server::ServeOptions::events`]).
    pub fn with_events(mut self, tx: broadcast::Sender<LifecycleEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    /// A snapshot of the domains.
    pub fn domains(&self) -> Vec<FakeDomain> {
        self.lock().domains.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, dom: &FakeDomain, event: DomainEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(LifecycleEvent::new(dom.wire(), event));
        }
    }

    /// Define (or redefine) a domain from XML, as DOMAIN_DEFINE_XML does.
    pub fn define(&self, xml: &str, persistent: bool) -> Result<Domain, RemoteError> {
        let (name, uuid, memory_kib, vcpus) = parse_domain_xml(xml)?;
        let mut st = self.lock();
        if let Some(d) = st.domains.iter_mut().find(|d| d.name == name) {
            if uuid.is_some_and(|u| u != d.uuid) {
                return Err(RemoteError::operation_failed(&format!(
                    "domain '{name}' already exists with uuid {}",
                    uuid::Uuid::from_bytes(d.uuid)
                )));
            }
            d.xml = with_uuid(xml, &d.uuid);
            d.memory_kib = memory_kib;
            d.vcpus = vcpus;
            d.persistent |= persistent;
            let d = d.clone();
            drop(st);
            self.emit(&d, DomainEvent::Defined(DefinedDetail::Updated));
            return Ok(d.wire());
        }
        let uuid = uuid.unwrap_or_else(|| *uuid::Uuid::new_v4().as_bytes());
        if let Some(other) = st.domains.iter().find(|d| d.uuid == uuid) {
            return Err(RemoteError::operation_failed(&format!(
                "domain '{}' already exists with uuid {}",
                other.name,
                uuid::Uuid::from_bytes(uuid)
            )));
        }
        let d = FakeDomain {
            name,
            uuid,
            id: -1,
            state: state::SHUTOFF,
            reason: 0,
            xml: with_uuid(xml, &uuid),
            persistent,
            autostart: false,
            memory_kib,
            vcpus,
        };
        st.domains.push(d.clone());
        drop(st);
        self.emit(&d, DomainEvent::Defined(DefinedDetail::Added));
        Ok(d.wire())
    }

    fn with_dom<T>(
        &self,
        dom: &Domain,
        f: impl FnOnce(&mut FakeDomain) -> Result<T, RemoteError>,
    ) -> Result<T, RemoteError> {
        let mut st = self.lock();
        let d = st
            .domains
            .iter_mut()
            .find(|d| d.uuid == dom.uuid)
            .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))?;
        f(d)
    }

    fn start(&self, dom: &Domain, flags: u32) -> Result<Domain, RemoteError> {
        let mut st = self.lock();
        let id = st.next_id;
        let d = st
            .domains
            .iter_mut()
            .find(|d| d.uuid == dom.uuid)
            .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))?;
        if d.active() {
            return Err(RemoteError::operation_invalid("domain is already running"));
        }
        d.id = id;
        if flags & 1 != 0 {
            d.state = state::PAUSED;
            d.reason = 1;
        } else {
            d.state = state::RUNNING;
            d.reason = 1;
        }
        let d = d.clone();
        st.next_id += 1;
        drop(st);
        self.emit(&d, DomainEvent::Started(StartedDetail::Booted));
        Ok(d.wire())
    }

    fn stop(&self, dom: &Domain, reason: i32, detail: StoppedDetail) -> Result<(), RemoteError> {
        let mut st = self.lock();
        let i = st
            .domains
            .iter()
            .position(|d| d.uuid == dom.uuid)
            .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))?;
        let d = &mut st.domains[i];
        if !d.active() {
            return Err(RemoteError::operation_invalid("domain is not running"));
        }
        d.id = -1;
        d.state = state::SHUTOFF;
        d.reason = reason;
        let d = d.clone();
        if !d.persistent {
            st.domains.remove(i);
        }
        drop(st);
        self.emit(&d, DomainEvent::Stopped(detail));
        Ok(())
    }

    fn handle(&self, req: Request) -> Result<Response, RemoteError> {
        match req.family() {
            Family::Connect => self.connect(req),
            Family::Lookup => self.find(req),
            Family::Lifecycle => self.lifecycle(req),
            Family::DomainOps | Family::Storage => Err(RemoteError::new(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::QEMU,
                "this function is not supported by the connection driver",
            )),
            Family::Info | Family::Server | Family::Stats => self.info(req),
        }
    }

    /// The connection and the host.
    fn connect(&self, req: Request) -> Result<Response, RemoteError> {
        use Request as R;
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
            R::ConnectGetVersion => Response::UHyper(7_002_000),
            R::ConnectGetLibVersion => Response::UHyper(crate::LIBVIRT_VERSION_NUMBER),
            R::ConnectGetHostname => Response::String("fakehost".into()),
            R::ConnectGetUri => Response::String("qemu:///system".into()),
            R::ConnectGetCapabilities => Response::String(CAPABILITIES.into()),
            R::ConnectGetMaxVcpus { .. } => Response::Int(255),
            R::NodeGetInfo => Response::NodeInfo(NodeInfo {
                model: FixedChars::from_str_lossy("x86_64"),
                memory: 8 * 1024 * 1024,
                cpus: 4,
                mhz: 2000,
                nodes: 1,
                sockets: 1,
                cores: 2,
                threads: 2,
            }),
            R::NodeGetSecurityModel => Response::SecurityModel {
                model: String::new(),
                doi: String::new(),
            },
            R::NodeGetFreeMemory => Response::UHyper(4 << 30),
            // Passed through as "unknown procedure": clients fall back.
            R::ConnectGetDomainCapabilities { .. } => {
                return Err(RemoteError::unknown_procedure(
                    crate::procs::Procedure::ConnectGetDomainCapabilities.number(),
                ));
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
                let (name, ..) = parse_domain_xml(&domain_xml)?;
                Response::String(format!("/usr/bin/qemu-system-x86_64 -name guest={name}\n"))
            }
            // Host facts: a fixed 4-CPU, one-cell host.
            R::NodeGetCellsFreeMemory { start_cell, .. } => {
                if start_cell != 0 {
                    return Err(RemoteError::invalid_arg(&format!(
                        "start cell {start_cell} out of range (0-0)"
                    )));
                }
                Response::UHypers(vec![4 << 30])
            }
            R::ConnectCompareCpu { .. } | R::ConnectCompareHypervisorCpu { .. } => {
                Response::Int(crate::procs::cpu_compare::IDENTICAL)
            }
            R::ConnectBaselineCpu { .. } | R::ConnectBaselineHypervisorCpu { .. } => {
                Response::String("<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>qemu64</model>\n</cpu>\n".into())
            }
            R::ConnectGetSysinfo { .. } => {
                Response::String("<sysinfo type='smbios'>\n</sysinfo>\n".into())
            }
            R::NodeGetCpuStats { nparams, .. } | R::NodeGetMemoryStats { nparams, .. } => {
                let all = ["a", "b"].map(|f| crate::procs::NodeStat {
                    field: f.into(),
                    value: 1,
                });
                Response::NodeStats(crate::procs::NodeStatsRet {
                    params: all.iter().take(nparams.max(0) as usize).cloned().collect(),
                    nparams: if nparams == 0 { all.len() as i32 } else { nparams.min(2) },
                })
            }
            R::NodeGetCpuMap { need_map, .. } => Response::CpuMap(crate::procs::CpuMapRet {
                cpumap: crate::xdr::Opaque(if need_map { vec![0x0f] } else { vec![] }),
                online: 4,
                ret: 4,
            }),
            R::ConnectGetCpuModelNames { need_results, .. } => {
                let models = vec!["qemu64".to_owned(), "max".to_owned()];
                Response::CpuModelNames(crate::procs::CpuModelNamesRet {
                    ret: models.len() as i32,
                    models: if need_results { models } else { vec![] },
                })
            }
            other => return Err(not_mine(&other)),
        })
    }

    /// Listing and lookups.
    fn find(&self, req: Request) -> Result<Response, RemoteError> {
        use Request as R;
        let st = self.lock();
        let found = |f: &dyn Fn(&FakeDomain) -> bool| {
            st.domains
                .iter()
                .find(|d| f(d))
                .map(|d| Response::Domain(d.wire()))
        };
        Ok(match req {
            R::ConnectListAllDomains { flags } => Response::Domains(
                st.domains
                    .iter()
                    .filter(|d| list_matches(d, flags))
                    .map(FakeDomain::wire)
                    .collect(),
            ),
            R::DomainLookupByName { name } => {
                found(&|d| d.name == name).ok_or_else(|| RemoteError::no_domain_name(&name))?
            }
            R::DomainLookupByUuid { uuid } => found(&|d| d.uuid == uuid).ok_or_else(|| {
                RemoteError::new(
                    ErrorCode::NO_DOMAIN,
                    ErrorDomain::QEMU,
                    format!(
                        "Domain not found: no domain with matching uuid '{}'",
                        uuid::Uuid::from_bytes(uuid)
                    ),
                )
            })?,
            R::DomainLookupById { id } => {
                found(&|d| d.id == id && id >= 0).ok_or_else(|| RemoteError::no_domain_id(id))?
            }
            other => return Err(not_mine(&other)),
        })
    }

    /// Define, start, stop, pause, undefine.
    fn lifecycle(&self, req: Request) -> Result<Response, RemoteError> {
        use Request as R;
        match req {
            R::DomainDefineXml { xml, .. } => {
                return Ok(Response::Domain(self.define(&xml, true)?));
            }
            R::DomainCreateXml { xml, flags } => return self.create_xml(&xml, flags),
            R::DomainCreate { dom, flags } => {
                return Ok(Response::Domain(self.start(&dom, flags)?));
            }
            R::DomainDestroy { dom, .. } => self.stop(&dom, 2, StoppedDetail::Destroyed)?,
            R::DomainShutdown { dom, .. } => self.stop(&dom, 1, StoppedDetail::Shutdown)?,
            R::DomainReboot { dom, .. } | R::DomainReset { dom, .. } => {
                self.with_dom(&dom, |d| {
                    if d.active() {
                        Ok(())
                    } else {
                        Err(RemoteError::operation_invalid("domain is not running"))
                    }
                })?;
            }
            R::DomainSuspend { dom } => self.pause(&dom, true)?,
            R::DomainResume { dom } => self.pause(&dom, false)?,
            R::DomainUndefine { dom, .. } => self.undefine(&dom)?,
            R::DomainSetAutostart { dom, autostart } => {
                self.with_dom(&dom, |d| {
                    if !d.persistent {
                        return Err(RemoteError::operation_invalid(
                            "cannot set autostart for transient domain",
                        ));
                    }
                    d.autostart = autostart;
                    Ok(())
                })?;
            }
            other => return Err(not_mine(&other)),
        }
        Ok(Response::Void)
    }

    fn create_xml(&self, xml: &str, flags: u32) -> Result<Response, RemoteError> {
        let (name, ..) = parse_domain_xml(xml)?;
        if self.lock().domains.iter().any(|d| d.name == name) {
            return Err(RemoteError::operation_failed(&format!(
                "domain '{name}' already exists"
            )));
        }
        let d = self.define(xml, false)?;
        Ok(Response::Domain(self.start(&d, flags)?))
    }

    /// SUSPEND (`pause`) or RESUME.
    fn pause(&self, dom: &Domain, pause: bool) -> Result<(), RemoteError> {
        let d = self.with_dom(dom, |d| {
            if !d.active() {
                return Err(RemoteError::operation_invalid("domain is not running"));
            }
            (d.state, d.reason) = if pause {
                (state::PAUSED, 1)
            } else {
                (state::RUNNING, 5)
            };
            Ok(d.clone())
        })?;
        self.emit(
            &d,
            if pause {
                DomainEvent::Suspended(SuspendedDetail::Paused)
            } else {
                DomainEvent::Resumed(ResumedDetail::Unpaused)
            },
        );
        Ok(())
    }

    fn undefine(&self, dom: &Domain) -> Result<(), RemoteError> {
        let mut st = self.lock();
        let i = st
            .domains
            .iter()
            .position(|d| d.uuid == dom.uuid)
            .ok_or_else(|| RemoteError::no_domain_uuid(&dom.uuid, &dom.name))?;
        if !st.domains[i].persistent {
            return Err(RemoteError::operation_invalid(
                "cannot undefine transient domain",
            ));
        }
        let d = if st.domains[i].active() {
            st.domains[i].persistent = false;
            st.domains[i].clone()
        } else {
            st.domains.remove(i)
        };
        drop(st);
        self.emit(&d, DomainEvent::Undefined(UndefinedDetail::Removed));
        Ok(())
    }

    /// One domain's facts.
    fn info(&self, req: Request) -> Result<Response, RemoteError> {
        use Request as R;
        Ok(match req {
            R::DomainGetXmlDesc { dom, .. } => {
                Response::String(self.with_dom(&dom, |d| Ok(d.xml.clone()))?)
            }
            R::DomainGetState { dom, .. } => Response::State(self.with_dom(&dom, |d| {
                Ok(StateRet {
                    state: d.state,
                    reason: d.reason,
                })
            })?),
            R::DomainGetInfo { dom } => Response::DomainInfo(self.with_dom(&dom, |d| {
                Ok(DomainInfo {
                    state: d.state as u8,
                    max_mem: d.memory_kib,
                    memory: d.memory_kib,
                    nr_virt_cpu: d.vcpus,
                    cpu_time: 0,
                })
            })?),
            R::DomainGetMaxMemory { dom } => {
                Response::UHyper(self.with_dom(&dom, |d| Ok(d.memory_kib))?)
            }
            R::DomainGetMaxVcpus { dom } | R::DomainGetVcpusFlags { dom, .. } => {
                Response::Int(self.with_dom(&dom, |d| Ok(i32::from(d.vcpus)))?)
            }
            R::DomainIsActive { dom } => Response::bool(self.with_dom(&dom, |d| Ok(d.active()))?),
            R::DomainIsPersistent { dom } => {
                Response::bool(self.with_dom(&dom, |d| Ok(d.persistent))?)
            }
            R::DomainGetAutostart { dom } => {
                Response::bool(self.with_dom(&dom, |d| Ok(d.autostart))?)
            }
            other => return self.constant_info(other),
        })
    }

    /// The facts every existing domain has alike here.
    fn constant_info(&self, req: Request) -> Result<Response, RemoteError> {
        use Request as R;
        let (dom, answer) = match req {
            R::DomainGetOsType { dom } => (dom, Response::String("hvm".into())),
            R::DomainIsUpdated { dom } => (dom, Response::bool(false)),
            R::DomainHasManagedSaveImage { dom, .. } | R::DomainSnapshotNum { dom, .. } => {
                (dom, Response::Int(0))
            }
            R::DomainGetMessages { dom, .. } => (dom, Response::Strings(Vec::new())),
            R::DomainGetJobInfo { dom } => (dom, Response::JobInfo(JobInfo::default())),
            R::DomainGetControlInfo { dom, .. } => {
                (dom, Response::ControlInfo(ControlInfo::default()))
            }
            other => return Err(not_mine(&other)),
        };
        self.with_dom(&dom, |_| Ok(()))?;
        Ok(answer)
    }
}

/// A request handed to the wrong family's function (a bug).
fn not_mine(req: &Request) -> RemoteError {
    RemoteError::internal(&format!(
        "the fake backend has no answer for a {:?} request",
        req.family()
    ))
}

fn list_matches(d: &FakeDomain, flags: u32) -> bool {
    use list_flags as F;
    let group = |mask: u32, yes: u32, no: u32, val: bool| {
        flags & mask == 0 || (val && flags & yes != 0) || (!val && flags & no != 0)
    };
    group(F::ACTIVE | F::INACTIVE, F::ACTIVE, F::INACTIVE, d.active())
        && group(
            F::PERSISTENT | F::TRANSIENT,
            F::PERSISTENT,
            F::TRANSIENT,
            d.persistent,
        )
        && group(
            F::AUTOSTART | F::NO_AUTOSTART,
            F::AUTOSTART,
            F::NO_AUTOSTART,
            d.autostart,
        )
        && group(
            F::MANAGEDSAVE | F::NO_MANAGEDSAVE,
            0,
            F::NO_MANAGEDSAVE,
            false,
        )
        && group(F::HAS_SNAPSHOT | F::NO_SNAPSHOT, 0, F::NO_SNAPSHOT, false)
        && group(
            F::HAS_CHECKPOINT | F::NO_CHECKPOINT,
            0,
            F::NO_CHECKPOINT,
            false,
        )
        && {
            let m = F::RUNNING | F::PAUSED | F::SHUTOFF | F::OTHER;
            flags & m == 0
                || match d.state {
                    state::RUNNING => flags & F::RUNNING != 0,
                    state::PAUSED => flags & F::PAUSED != 0,
                    state::SHUTOFF => flags & F::SHUTOFF != 0,
                    _ => flags & F::OTHER != 0,
                }
        }
}

fn with_uuid(xml: &str, uuid: &[u8; 16]) -> String {
    if element(xml, "uuid").is_some() {
        return xml.to_string();
    }
    let u = uuid::Uuid::from_bytes(*uuid);
    match xml.find("</name>") {
        Some(i) => {
            let at = i + "</name>".len();
            format!("{}\n  <uuid>{u}</uuid>{}", &xml[..at], &xml[at..])
        }
        None => xml.to_string(),
    }
}

const CAPABILITIES: &str = "<capabilities>
  <host>
    <uuid>00000000-0000-0000-0000-000000000001</uuid>
    <cpu>
      <arch>x86_64</arch>
    </cpu>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
  </guest>
</capabilities>
";

impl Backend for FakeBackend {
    fn call<'a>(
        &'a self,
        _ctx: &'a CallContext,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, RemoteError>> {
        Box::pin(async move { self.handle(req) })
    }

    /// A fake serial console: prints a banner, then echoes what it receives.
    fn open_console<'a>(
        &'a self,
        _ctx: &'a CallContext,
        dom: Domain,
        dev_name: Option<String>,
        _flags: u32,
    ) -> BoxFuture<'a, Result<ByteStream, RemoteError>> {
        Box::pin(async move {
            let name = self.with_dom(&dom, |d| {
                if d.active() {
                    Ok(d.name.clone())
                } else {
                    Err(RemoteError::operation_invalid("domain is not running"))
                }
            })?;
            if let Some(dev) = dev_name.filter(|d| d != "serial0" && d != "console0") {
                return Err(RemoteError::operation_failed(&format!(
                    "cannot find character device {dev}"
                )));
            }
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let (mut rd, mut wr) = tokio::io::split(theirs);
                let banner = format!("fake console of {name}\r\n");
                if wr.write_all(banner.as_bytes()).await.is_ok() {
                    let _ = tokio::io::copy(&mut rd, &mut wr).await;
                }
            });
            Ok(Box::new(ours) as ByteStream)
        })
    }

    /// A 2x1 PPM of a running domain (screen 0 only).
    fn screenshot<'a>(
        &'a self,
        _ctx: &'a CallContext,
        dom: Domain,
        screen: u32,
        _flags: u32,
    ) -> BoxFuture<'a, Result<(String, ByteStream), RemoteError>> {
        Box::pin(async move {
            self.with_dom(&dom, |d| {
                if d.active() {
                    Ok(())
                } else {
                    Err(RemoteError::operation_invalid("domain is not running"))
                }
            })?;
            if screen != 0 {
                return Err(RemoteError::operation_invalid("no such screen ID"));
            }
            let ppm = b"P6\n2 1\n255\n\xff\x00\x00\x00\xff\x00".to_vec();
            Ok((
                "image/x-portable-pixmap".to_owned(),
                Box::new(crate::server::ReadOnlyStream(std::io::Cursor::new(ppm))) as ByteStream,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_fields() {
        let (n, u, m, v) = parse_domain_xml(
            "<domain type='kvm'><name>vm1</name><memory unit='MiB'>512</memory><vcpu placement='static'>2</vcpu></domain>",
        )
        .unwrap();
        assert_eq!((n.as_str(), u, m, v), ("vm1", None, 512 * 1024, 2));
        assert!(parse_domain_xml("<domain><memory>1</memory></domain>").is_err());
        assert!(parse_domain_xml("not xml").is_err());
    }

    #[test]
    fn lifecycle() {
        let b = FakeBackend::new();
        let d = b
            .define(
                "<domain type='kvm'><name>a</name><memory>1024</memory></domain>",
                true,
            )
            .unwrap();
        assert_eq!(d.id, -1);
        assert!(b.domains()[0].xml.contains("<uuid>"));
        let started = b.start(&d, 0).unwrap();
        assert_eq!(started.id, 1);
        assert!(b.start(&d, 0).is_err());
        b.stop(&d, 2, StoppedDetail::Destroyed).unwrap();
        assert_eq!(b.domains()[0].state, state::SHUTOFF);
        let e = b.stop(&d, 2, StoppedDetail::Destroyed).unwrap_err();
        assert_eq!(e.code, ErrorCode::OPERATION_INVALID);
        assert!(list_matches(&b.domains()[0], list_flags::INACTIVE));
        assert!(!list_matches(&b.domains()[0], list_flags::ACTIVE));
        assert!(list_matches(&b.domains()[0], 0));
    }
}
