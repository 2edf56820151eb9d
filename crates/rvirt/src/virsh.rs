//! The daemon commands, speaking libvirt's remote protocol with the calls and
//! the output shapes of virsh 9.0 (messages, tables, error lines, the blank
//! line virsh prints after every command unless `-q`).

use std::io::Write;
use std::process::ExitCode;

use remote_protocol::procs::{DomainArgs, DomainFlagsArgs};
use remote_protocol::{Client, ClientError, Domain, ErrorCode};

use crate::format::{parse_id, parse_uuid};
use crate::target::Target;

mod host;
mod hostfacts;
mod info;
mod lifecycle;
mod own;

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
        /// `VIR_DOMAIN_UNDEFINE_*` flags.
        flags: u32,
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
    Domcapabilities {
        virttype: Option<String>,
        emulatorbin: Option<String>,
        arch: Option<String>,
        machine: Option<String>,
    },
    Sysinfo,
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

    /// Run one command: each is one method of the files beside this one
    /// (`host`, `lifecycle`, `info`, and `own` for rvirt's own commands).
    pub async fn run(&mut self, cmd: &Cmd) -> R {
        match cmd {
            Cmd::Grant {
                domain,
                path,
                read_write,
                flags,
            } => self.grant(domain, path, *read_write, *flags).await,
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
            } => self.revoke(domain, path, *flags).await,
            Cmd::Version { daemon } => self.version(*daemon).await,
            Cmd::Uri => self.uri().await,
            Cmd::Hostname => self.hostname().await,
            Cmd::Capabilities => self.capabilities().await,
            Cmd::Nodeinfo => self.nodeinfo().await,
            Cmd::Domcapabilities {
                virttype,
                emulatorbin,
                arch,
                machine,
            } => {
                self.domcapabilities(
                    virttype.as_deref(),
                    emulatorbin.as_deref(),
                    arch.as_deref(),
                    machine.as_deref(),
                )
                .await
            }
            Cmd::Sysinfo => self.sysinfo().await,
            Cmd::List {
                all,
                inactive,
                name,
                uuid,
            } => self.list(*all, *inactive, *name, *uuid).await,
            Cmd::XmlToNative { format, file } => self.xml_to_native(format, file).await,
            Cmd::Define { file } => self.define(file).await,
            Cmd::Create { file } => self.create(file).await,
            Cmd::Undefine { domain, flags } => self.undefine(domain, *flags).await,
            Cmd::Start { domain } => self.start(domain).await,
            Cmd::Shutdown { domain } => self.shutdown(domain).await,
            Cmd::Destroy { domain } => self.destroy(domain).await,
            Cmd::Reboot { domain } => self.reboot(domain).await,
            Cmd::Suspend { domain } => self.suspend(domain).await,
            Cmd::Resume { domain } => self.resume(domain).await,
            Cmd::Autostart { disable, domain } => self.autostart(domain, *disable).await,
            Cmd::Dumpxml { inactive, domain } => self.dumpxml(domain, *inactive).await,
            Cmd::Domstate { reason, domain } => self.domstate(domain, *reason).await,
            Cmd::Dominfo { domain } => self.dominfo(domain).await,
            Cmd::Domid { domain } => self.domid(domain).await,
            Cmd::Domuuid { domain } => self.domuuid(domain).await,
            Cmd::Domname { domain } => self.domname(domain).await,
        }
    }
}
