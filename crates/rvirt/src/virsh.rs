//! The daemon commands, speaking libvirt's remote protocol with the calls and
//! the output shapes of virsh 9.0 (messages, tables, error lines, the blank
//! line virsh prints after every command unless `-q`).

use std::io::Write;
use std::process::ExitCode;

use remote_protocol::procs::{
    DomainArgs, DomainFlagsArgs, MessagesRet, SecurityModelRet, list_flags,
};
use remote_protocol::xdr::{CharVec, DecodeLimited, Reader, to_bytes};
use remote_protocol::{Client, ClientError, Domain, ErrorCode, Procedure};

use crate::format::{list_order, parse_id, parse_uuid, reason_str, state_str, table, uuid_string};
use crate::target::Target;

/// Version of the libvirt client API whose output rvirt reproduces.
pub const API_VERSION: &str = remote_protocol::LIBVIRT_VERSION;

/// A daemon command (parsed by `main`).
#[derive(Debug, Clone)]
pub enum Cmd {
    /// rvirt's own: a grant on the running domain and/or its definition.
    Grant {
        domain: String,
        path: String,
        read_write: bool,
        flags: u32,
    },
    /// `qemu-monitor-command`.
    MonitorCommand {
        domain: String,
        hmp: bool,
        pretty: bool,
        cmd: String,
    },
    /// rvirt's own: take a grant back.
    Revoke {
        domain: String,
        path: String,
        flags: u32,
    },
    Version {
        daemon: bool,
    },
    Uri,
    Hostname,
    List {
        all: bool,
        inactive: bool,
        name: bool,
        uuid: bool,
    },
    Define {
        file: String,
    },
    Undefine {
        domain: String,
    },
    Start {
        domain: String,
    },
    Create {
        file: String,
    },
    Shutdown {
        domain: String,
    },
    Destroy {
        domain: String,
    },
    Reboot {
        domain: String,
    },
    Suspend {
        domain: String,
    },
    Resume {
        domain: String,
    },
    Dumpxml {
        inactive: bool,
        domain: String,
    },
    Domstate {
        reason: bool,
        domain: String,
    },
    Dominfo {
        domain: String,
    },
    Domid {
        domain: String,
    },
    Domuuid {
        domain: String,
    },
    Domname {
        domain: String,
    },
    Autostart {
        disable: bool,
        domain: String,
    },
    Capabilities,
    Nodeinfo,
    XmlToNative {
        format: String,
        file: String,
    },
}

/// Lookup methods virsh tries, in this order.
const BY_ID: u8 = 1;
const BY_UUID: u8 = 2;
const BY_NAME: u8 = 4;
const BY_ALL: u8 = BY_ID | BY_UUID | BY_NAME;

/// What a command printed; `Err(())` means it failed (errors already queued).
type R = Result<(), ()>;

/// Output of one command run.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub errors: Vec<String>,
}

impl Output {
    fn err(&mut self, m: impl Into<String>) {
        self.errors.push(m.into());
    }

    /// Print like virsh and return its exit code.
    pub fn emit(self, ok: bool, quiet: bool) -> ExitCode {
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(self.stdout.as_bytes());
        if !quiet {
            let _ = so.write_all(b"\n");
        }
        let _ = so.flush();
        let mut se = std::io::stderr().lock();
        for e in &self.errors {
            let _ = writeln!(se, "error: {e}");
        }
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The message text of a client error (libvirt's full message when the
/// daemon sent one).
pub fn message(e: &ClientError) -> String {
    match e {
        ClientError::Remote(r) => r.message.clone().unwrap_or_else(|| r.to_string()),
        other => other.to_string(),
    }
}

/// `strerror` text of an I/O error (Rust's Display appends " (os error N)").
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// virsh's `virFileReadAll` wording.
pub fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => {
            format!("Failed to read file '{path}': {}", strerror(&e))
        }
        _ => format!("Failed to open file '{path}': {}", strerror(&e)),
    })
}

/// Connect and open like virsh: AUTH_LIST, CONNECT_OPEN.
pub async fn connect(target: &Target, read_only: bool) -> Result<Client, String> {
    let c = Client::connect(&target.socket)
        .await
        .map_err(|e| match &e {
            ClientError::Connect { path, source } => format!(
                "Failed to connect socket to '{}': {}",
                path.display(),
                strerror(source)
            ),
            other => message(other),
        })?;
    c.auth_list().await.map_err(|e| message(&e))?;
    c.open(
        Some(&target.open_name),
        if read_only {
            remote_protocol::procs::CONNECT_RO
        } else {
            0
        },
    )
    .await
    .map_err(|e| message(&e))?;
    Ok(c)
}

/// One connected session running one command.
pub struct Session<'a> {
    pub c: &'a Client,
    pub target: &'a Target,
    pub quiet: bool,
    pub out: Output,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .finish()
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

pub fn is_no_support(e: &ClientError) -> bool {
    matches!(e, ClientError::Remote(r)
        if r.code == ErrorCode::NO_SUPPORT
            || (r.code == ErrorCode::RPC
                && r.message.as_deref().is_some_and(|m| m.starts_with("unknown procedure"))))
}

impl Session<'_> {
    fn print(&mut self, s: &str) {
        self.out.stdout.push_str(s);
    }

    /// `vshPrintExtra`: suppressed by `-q`.
    fn extra(&mut self, s: &str) {
        if !self.quiet {
            self.out.stdout.push_str(s);
        }
    }

    /// `vshError(own)` followed by the library's error, then failure.
    fn fail2(&mut self, own: String, e: &ClientError) -> R {
        self.out.err(own);
        self.out.err(message(e));
        Err(())
    }

    /// Only the library's error.
    fn fail1(&mut self, e: &ClientError) -> R {
        self.out.err(message(e));
        Err(())
    }

    /// `virshCommandOptDomainBy`: by id (all digits, ≥ 0), by UUID (36
    /// characters), by name; one line of error when all fail.
    async fn lookup(&mut self, arg: &str, by: u8) -> Result<Domain, ()> {
        if by & BY_ID != 0
            && let Some(id) = parse_id(arg)
            && let Ok(dom) = self.c.lookup_by_id(id).await
        {
            return Ok(dom);
        }
        if by & BY_UUID != 0
            && arg.len() == 36
            && let Some(u) = parse_uuid(arg)
            && let Ok(dom) = self.c.lookup_by_uuid(u).await
        {
            return Ok(dom);
        }
        if by & BY_NAME != 0
            && let Ok(dom) = self.c.lookup_by_name(arg).await
        {
            return Ok(dom);
        }
        self.out.err(format!("failed to get domain '{arg}'"));
        Err(())
    }

    fn read(&mut self, file: &str) -> Result<String, ()> {
        read_file(file).map_err(|m| self.out.err(m))
    }

    async fn simple(
        &mut self,
        arg: &str,
        proc_: Procedure,
        flags: Option<u32>,
        done: &str,
        failed: &str,
    ) -> R {
        let dom = self.lookup(arg, BY_ALL).await?;
        let r: Result<(), ClientError> = match flags {
            Some(f) => self.c.call(proc_, &df(&dom, f)).await,
            None => self.c.call(proc_, &d(&dom)).await,
        };
        match r {
            Ok(()) => {
                self.extra(&done.replace("{}", arg));
                Ok(())
            }
            Err(e) => self.fail2(failed.replace("{}", arg), &e),
        }
    }

    /// virsh's `qemu-monitor-command`: text that is not a JSON object (and not HMP)
    /// is sent as the name of a QMP command.
    async fn monitor_command(&mut self, domain: &str, hmp: bool, pretty: bool, cmd: &str) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        let text = if hmp || cmd.trim_start().starts_with('{') {
            cmd.to_owned()
        } else {
            serde_json::json!({ "execute": cmd }).to_string()
        };
        let flags = u32::from(hmp);
        match self.c.qemu_monitor_command(&dom, &text, flags).await {
            Ok(reply) => {
                let shown = if pretty && !hmp {
                    crate::pretty::pretty(&reply)
                } else {
                    None
                }
                .unwrap_or_else(|| format!("{reply}\n"));
                self.print(&shown);
                Ok(())
            }
            Err(e) => self.fail1(&e),
        }
    }

    pub async fn run(&mut self, cmd: &Cmd) -> R {
        match cmd {
            Cmd::Grant {
                domain,
                path,
                read_write,
                flags,
            } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                match self.c.domain_grant(&dom, path, *read_write, *flags).await {
                    Ok(()) => {
                        self.extra("Grant added successfully\n");
                        Ok(())
                    }
                    Err(e) => {
                        self.fail2(format!("Failed to grant '{path}' to domain '{domain}'"), &e)
                    }
                }
            }
            Cmd::MonitorCommand {
                domain,
                hmp,
                pretty,
                cmd,
            } => self.monitor_command(domain, *hmp, *pretty, cmd).await,
            Cmd::Revoke {
                domain,
                path,
                flags,
            } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                match self.c.domain_revoke(&dom, path, *flags).await {
                    Ok(()) => {
                        self.extra("Grant revoked successfully\n");
                        Ok(())
                    }
                    Err(e) => self.fail2(
                        format!("Failed to revoke '{path}' from domain '{domain}'"),
                        &e,
                    ),
                }
            }
            Cmd::Version { daemon } => self.version(*daemon).await,
            Cmd::Uri => match &self.target.uri {
                Some(u) => {
                    let u = u.clone();
                    self.print(&format!("{u}\n"));
                    Ok(())
                }
                None => match self.c.get_uri().await {
                    Ok(u) => {
                        self.print(&format!("{u}\n"));
                        Ok(())
                    }
                    Err(e) => self.fail2("failed to get URI".into(), &e),
                },
            },
            Cmd::Hostname => match self.c.get_hostname().await {
                Ok(h) => {
                    self.print(&format!("{h}\n"));
                    Ok(())
                }
                Err(e) => self.fail2("failed to get hostname".into(), &e),
            },
            Cmd::Capabilities => match self.c.get_capabilities().await {
                Ok(x) => {
                    // virsh 11.3 prints the document as the daemon sent it.
                    self.print(&x);
                    Ok(())
                }
                Err(e) => self.fail2("failed to get capabilities".into(), &e),
            },
            Cmd::Nodeinfo => match self.c.node_get_info().await {
                Ok(n) => {
                    let mut s = String::new();
                    s += &format!("{:<20} {}\n", "CPU model:", n.model.to_string_lossy());
                    s += &format!("{:<20} {}\n", "CPU(s):", n.cpus);
                    if n.mhz != 0 {
                        s += &format!("{:<20} {} MHz\n", "CPU frequency:", n.mhz);
                    }
                    s += &format!("{:<20} {}\n", "CPU socket(s):", n.sockets);
                    s += &format!("{:<20} {}\n", "Core(s) per socket:", n.cores);
                    s += &format!("{:<20} {}\n", "Thread(s) per core:", n.threads);
                    s += &format!("{:<20} {}\n", "NUMA cell(s):", n.nodes);
                    s += &format!("{:<20} {} KiB\n", "Memory size:", n.memory);
                    self.print(&s);
                    Ok(())
                }
                Err(e) => self.fail2("failed to get node information".into(), &e),
            },
            Cmd::List {
                all,
                inactive,
                name,
                uuid,
            } => self.list(*all, *inactive, *name, *uuid).await,
            Cmd::Define { file } => {
                let xml = self.read(file)?;
                match self.c.define_xml(&xml, 0).await {
                    Ok(dom) => {
                        self.extra(&format!("Domain '{}' defined from {file}\n", dom.name));
                        Ok(())
                    }
                    Err(e) => self.fail2(format!("Failed to define domain from {file}"), &e),
                }
            }
            Cmd::Create { file } => {
                let xml = self.read(file)?;
                match self.c.create_xml(&xml, 0).await {
                    Ok(dom) => {
                        self.extra(&format!("Domain '{}' created from {file}\n", dom.name));
                        Ok(())
                    }
                    Err(e) => self.fail2(format!("Failed to create domain from {file}"), &e),
                }
            }
            Cmd::Undefine { domain } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                let mut r: Result<(), ClientError> = self
                    .c
                    .call(Procedure::DomainUndefineFlags, &df(&dom, 0))
                    .await;
                if let Err(e) = &r
                    && is_no_support(e)
                {
                    r = self.c.call(Procedure::DomainUndefine, &d(&dom)).await;
                }
                match r {
                    Ok(()) => {
                        self.extra(&format!("Domain '{domain}' has been undefined\n"));
                        Ok(())
                    }
                    Err(e) => self.fail2(format!("Failed to undefine domain '{domain}'"), &e),
                }
            }
            Cmd::Start { domain } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                if dom.id >= 0 {
                    self.out.err("Domain is already active");
                    return Err(());
                }
                let r: Result<(), ClientError> =
                    self.c.call(Procedure::DomainCreate, &d(&dom)).await;
                match r {
                    Ok(()) => {
                        // The library re-reads the id (CREATE returns void).
                        let _ = self.c.lookup_by_uuid(dom.uuid).await;
                        self.extra(&format!("Domain '{}' started\n", dom.name));
                        Ok(())
                    }
                    Err(e) => self.fail2(format!("Failed to start domain '{}'", dom.name), &e),
                }
            }
            Cmd::Shutdown { domain } => {
                self.simple(
                    domain,
                    Procedure::DomainShutdown,
                    None,
                    "Domain '{}' is being shutdown\n",
                    "Failed to shutdown domain '{}'",
                )
                .await
            }
            Cmd::Destroy { domain } => {
                self.simple(
                    domain,
                    Procedure::DomainDestroy,
                    None,
                    "Domain '{}' destroyed\n",
                    "Failed to destroy domain '{}'",
                )
                .await
            }
            Cmd::Reboot { domain } => {
                self.simple(
                    domain,
                    Procedure::DomainReboot,
                    Some(0),
                    "Domain '{}' is being rebooted\n",
                    "Failed to reboot domain '{}'",
                )
                .await
            }
            Cmd::Suspend { domain } => {
                self.simple(
                    domain,
                    Procedure::DomainSuspend,
                    None,
                    "Domain '{}' suspended\n",
                    "Failed to suspend domain '{}'",
                )
                .await
            }
            Cmd::Resume { domain } => {
                self.simple(
                    domain,
                    Procedure::DomainResume,
                    None,
                    "Domain '{}' resumed\n",
                    "Failed to resume domain '{}'",
                )
                .await
            }
            Cmd::Dumpxml { inactive, domain } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                let flags = if *inactive { 2 } else { 0 };
                match self.c.get_xml_desc(&dom, flags).await {
                    Ok(x) => {
                        self.print(&x);
                        Ok(())
                    }
                    Err(e) => self.fail1(&e),
                }
            }
            Cmd::Domstate { reason, domain } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                match self.c.get_state(&dom).await {
                    Ok(s) => {
                        let line = if *reason {
                            format!(
                                "{} ({})\n",
                                state_str(s.state),
                                reason_str(s.state, s.reason)
                            )
                        } else {
                            format!("{}\n", state_str(s.state))
                        };
                        self.print(&line);
                        Ok(())
                    }
                    Err(e) => self.fail1(&e),
                }
            }
            Cmd::Dominfo { domain } => self.dominfo(domain).await,
            Cmd::Domid { domain } => {
                let dom = self.lookup(domain, BY_NAME | BY_UUID).await?;
                if dom.id < 0 {
                    self.print("-\n");
                } else {
                    self.print(&format!("{}\n", dom.id));
                }
                Ok(())
            }
            Cmd::Domuuid { domain } => {
                let dom = self.lookup(domain, BY_NAME | BY_ID).await?;
                self.print(&format!("{}\n", uuid_string(&dom.uuid)));
                Ok(())
            }
            Cmd::Domname { domain } => {
                let dom = self.lookup(domain, BY_ID | BY_UUID).await?;
                self.print(&format!("{}\n", dom.name));
                Ok(())
            }
            Cmd::Autostart { disable, domain } => {
                let dom = self.lookup(domain, BY_ALL).await?;
                match self.c.set_autostart(&dom, !*disable).await {
                    Ok(()) => {
                        let m = if *disable {
                            format!("Domain '{domain}' unmarked as autostarted\n")
                        } else {
                            format!("Domain '{domain}' marked as autostarted\n")
                        };
                        self.extra(&m);
                        Ok(())
                    }
                    Err(e) => {
                        let m = if *disable {
                            format!("Failed to unmark domain '{domain}' as autostarted")
                        } else {
                            format!("Failed to mark domain '{domain}' as autostarted")
                        };
                        self.fail2(m, &e)
                    }
                }
            }
            Cmd::XmlToNative { format, file } => {
                let xml = self.read(file)?;
                match self.c.domain_xml_to_native(format, &xml, 0).await {
                    Ok(s) => {
                        self.print(&s);
                        Ok(())
                    }
                    Err(e) => self.fail1(&e),
                }
            }
        }
    }

    async fn version(&mut self, daemon: bool) -> R {
        let v = API_VERSION;
        self.print(&format!("Compiled against library: libvirt {v}\n"));
        self.print(&format!("Using library: libvirt {v}\n"));
        let typ = match self.c.get_type().await {
            Ok(t) => t,
            Err(e) => return self.fail2("failed to get hypervisor type".into(), &e),
        };
        self.print(&format!("Using API: {typ} {v}\n"));
        match self.c.get_version().await {
            Ok(0) => self.print(&format!(
                "Cannot extract running {typ} hypervisor version\n"
            )),
            Ok(hv) => self.print(&format!(
                "Running hypervisor: {typ} {}.{}.{}\n",
                hv / 1_000_000,
                (hv / 1000) % 1000,
                hv % 1000
            )),
            Err(e) => return self.fail2("failed to get the hypervisor version".into(), &e),
        }
        if daemon {
            match self.c.get_lib_version().await {
                Ok(lv) => self.print(&format!(
                    "Running against daemon: {}.{}.{}\n",
                    lv / 1_000_000,
                    (lv / 1000) % 1000,
                    lv % 1000
                )),
                Err(e) => {
                    return self.fail2("failed to get the daemon version".into(), &e);
                }
            }
        }
        Ok(())
    }

    async fn list(&mut self, all: bool, inactive: bool, name: bool, uuid: bool) -> R {
        let mut flags = list_flags::ACTIVE;
        if inactive {
            flags = list_flags::INACTIVE;
        }
        if all {
            flags = list_flags::ACTIVE | list_flags::INACTIVE;
        }
        let mut doms = match self.c.list_all_domains(flags).await {
            Ok(v) => v,
            Err(e) => return self.fail2("Failed to list domains".into(), &e),
        };
        doms.sort_by(|a, b| list_order((a.id, &a.name), (b.id, &b.name)));
        if name || uuid {
            for dom in &doms {
                let line = match (uuid, name) {
                    (true, true) => format!("{} {}\n", uuid_string(&dom.uuid), dom.name),
                    (true, false) => format!("{}\n", uuid_string(&dom.uuid)),
                    _ => format!("{}\n", dom.name),
                };
                self.print(&line);
            }
            return Ok(());
        }
        let mut rows = Vec::with_capacity(doms.len());
        for dom in &doms {
            let state = match self.c.get_state(dom).await {
                Ok(s) => s.state,
                Err(_) => -1,
            };
            let id = if dom.id < 0 {
                "-".to_string()
            } else {
                dom.id.to_string()
            };
            rows.push(vec![id, dom.name.clone(), state_str(state).to_string()]);
        }
        let t = table(&["Id", "Name", "State"], &rows, !self.quiet);
        self.print(&t);
        Ok(())
    }

    async fn dominfo(&mut self, arg: &str) -> R {
        let dom = self.lookup(arg, BY_ALL).await?;
        let mut ok = true;
        let kv = |k: &str, v: &str| format!("{k:<15} {v}\n");
        let id = if dom.id < 0 {
            "-".to_string()
        } else {
            dom.id.to_string()
        };
        self.print(&kv("Id:", &id));
        self.print(&kv("Name:", &dom.name));
        self.print(&kv("UUID:", &uuid_string(&dom.uuid)));
        let os: Result<String, ClientError> =
            self.c.call(Procedure::DomainGetOsType, &d(&dom)).await;
        if let Ok(os) = os {
            self.print(&kv("OS Type:", &os));
        }
        match self.c.get_info(&dom).await {
            Ok(info) => {
                self.print(&kv("State:", state_str(i32::from(info.state))));
                self.print(&kv("CPU(s):", &info.nr_virt_cpu.to_string()));
                if info.cpu_time != 0 {
                    let secs = info.cpu_time as f64 / 1e9;
                    self.print(&kv("CPU time:", &format!("{secs:.1}s")));
                }
                if info.max_mem != u64::from(u32::MAX) {
                    self.print(&kv("Max memory:", &format!("{} KiB", info.max_mem)));
                } else {
                    self.print(&kv("Max memory:", "no limit"));
                }
                self.print(&kv("Used memory:", &format!("{} KiB", info.memory)));
            }
            Err(e) => {
                ok = false;
                self.out.err(message(&e));
            }
        }
        match self.c.is_persistent(&dom).await {
            Ok(p) => self.print(&kv("Persistent:", if p { "yes" } else { "no" })),
            Err(_) => self.print(&kv("Persistent:", "unknown")),
        }
        if let Ok(a) = self.c.get_autostart(&dom).await {
            self.print(&kv("Autostart:", if a { "enable" } else { "disable" }));
        }
        let ms: Result<i32, ClientError> = self
            .c
            .call(Procedure::DomainHasManagedSaveImage, &df(&dom, 0))
            .await;
        match ms {
            Ok(v) => self.print(&kv("Managed save:", if v != 0 { "yes" } else { "no" })),
            Err(_) => self.print(&kv("Managed save:", "unknown")),
        }
        let sm: Result<SecurityModelRet, ClientError> =
            self.c.call(Procedure::NodeGetSecurityModel, &()).await;
        match sm {
            Ok(m) if !m.model.0.is_empty() && m.model.0[0] != 0 => {
                let text = |v: &[u8]| {
                    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
                    String::from_utf8_lossy(&v[..end]).into_owned()
                };
                self.print(&kv("Security model:", &text(&m.model.0)));
                self.print(&kv("Security DOI:", &text(&m.doi.0)));
                // DOMAIN_GET_SECURITY_LABEL (121): char label<4097>; int enforcing.
                match self.c.call_raw(121, to_bytes(&d(&dom))).await {
                    Ok(body) => {
                        let mut r = Reader::new(&body);
                        if let (Ok(label), Ok(enf)) =
                            (CharVec::decode_limited(&mut r, 4097), r.get_i32())
                        {
                            let l = text(&label.0);
                            if !l.is_empty() {
                                let mode = if enf != 0 { "enforcing" } else { "permissive" };
                                self.print(&kv("Security label:", &format!("{l} ({mode})")));
                            }
                        }
                    }
                    Err(e) => return self.fail1(&e),
                }
            }
            Ok(_) => {}
            Err(e) if is_no_support(&e) => {}
            Err(e) => {
                self.out.err(message(&e));
                return Err(());
            }
        }
        let msgs: Result<MessagesRet, ClientError> = self
            .c
            .call(Procedure::DomainGetMessages, &df(&dom, 0))
            .await;
        if let Ok(m) = msgs {
            for (i, line) in m.msgs.iter().enumerate() {
                self.print(&kv(if i == 0 { "Messages:" } else { "" }, line));
            }
        }
        if ok { Ok(()) } else { Err(()) }
    }
}
