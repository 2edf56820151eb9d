//! `rvirt`: the command-line client of rvirt. It speaks libvirt's remote
//! protocol to rvirtd (or any libvirt daemon) with virsh's commands and output
//! shapes; offline commands (`validate`, `domxml-to-native` without a daemon)
//! work without one.

mod format;
mod native;
mod pretty;
mod target;
mod validate;
mod virsh;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::virsh::{Cmd, Output};

#[derive(Parser, Debug)]
#[command(
    name = "rvirt",
    version,
    about = "Manage QEMU guests through rvirtd (libvirt-compatible)"
)]
struct Cli {
    /// Hypervisor connection URI (default: $LIBVIRT_DEFAULT_URI, else the local
    /// rvirtd at /run/rvirt/rvirt-sock).
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    connect: Option<String>,
    /// Connect read-only (the daemon's `-ro` socket).
    #[arg(short = 'r', long)]
    readonly: bool,
    /// Quiet mode: no informational messages, no table headers.
    #[arg(short = 'q', long)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show library, API and hypervisor versions.
    Version {
        /// Also show the daemon's version.
        #[arg(long)]
        daemon: bool,
    },
    /// Print the connection URI.
    Uri,
    /// Print the hypervisor's hostname.
    Hostname,
    /// List domains.
    List {
        /// Active and inactive domains.
        #[arg(long)]
        all: bool,
        /// Inactive domains only.
        #[arg(long)]
        inactive: bool,
        /// Names only.
        #[arg(long)]
        name: bool,
        /// UUIDs only.
        #[arg(long)]
        uuid: bool,
    },
    /// Define (but don't start) a domain from an XML file.
    Define { file: String },
    /// Undefine a domain.
    Undefine {
        domain: String,
        /// Also remove the UEFI variable store (NVRAM).
        #[arg(long)]
        nvram: bool,
        /// Keep the UEFI variable store.
        #[arg(long)]
        keep_nvram: bool,
        /// Also remove the TPM emulator's state.
        #[arg(long)]
        tpm: bool,
        /// Keep the TPM emulator's state.
        #[arg(long)]
        keep_tpm: bool,
    },
    /// Start a defined domain.
    Start { domain: String },
    /// Create (define and start) a transient domain from an XML file.
    Create { file: String },
    /// Gracefully shut a domain down.
    Shutdown { domain: String },
    /// Stop a domain immediately.
    Destroy { domain: String },
    /// Reboot a domain.
    Reboot { domain: String },
    /// Pause a domain.
    Suspend { domain: String },
    /// Resume a paused domain.
    Resume { domain: String },
    /// Print a domain's XML.
    Dumpxml {
        /// The persistent (inactive) configuration.
        #[arg(long)]
        inactive: bool,
        domain: String,
    },
    /// Print a domain's state.
    Domstate {
        /// Also the reason.
        #[arg(long)]
        reason: bool,
        domain: String,
    },
    /// Print information about a domain.
    Dominfo { domain: String },
    /// Print a domain's id.
    Domid { domain: String },
    /// Print a domain's UUID.
    Domuuid { domain: String },
    /// Print a domain's name (from its id or UUID).
    Domname { domain: String },
    /// Start a domain when the daemon starts (or stop doing so).
    Autostart {
        /// Turn autostart off.
        #[arg(long)]
        disable: bool,
        domain: String,
    },
    /// Print the host's capabilities XML.
    Capabilities,
    /// Print the host's CPU and memory facts.
    Nodeinfo,
    /// Print what a domain can use with the emulator (domain capabilities XML).
    Domcapabilities {
        /// Virtualization type (`kvm`, `qemu`).
        #[arg(long)]
        virttype: Option<String>,
        /// Emulator binary.
        #[arg(long)]
        emulatorbin: Option<String>,
        /// Architecture.
        #[arg(long)]
        arch: Option<String>,
        /// Machine type or alias.
        #[arg(long)]
        machine: Option<String>,
    },
    /// Print the host's SMBIOS facts (sysinfo XML).
    Sysinfo,
    /// Print the QEMU command line for a domain XML (offline when no daemon answers).
    DomxmlToNative {
        /// Native format (`qemu-argv`).
        format: String,
        /// Domain XML file.
        file: String,
    },
    /// Let a domain's QEMU use a host path (rvirt): every confinement layer
    /// allows it, on the running domain and/or in its definition.
    Grant {
        domain: String,
        /// Absolute host path (device node, file or directory).
        path: String,
        /// Read-only or read-write.
        #[arg(long, value_parser = ["ro", "rw"], default_value = "rw")]
        access: String,
        #[command(flatten)]
        impact: Impact,
    },
    /// Take a grant back (rvirt): new opens of the path are refused again.
    Revoke {
        domain: String,
        path: String,
        #[command(flatten)]
        impact: Impact,
    },
    /// Pass a command to a running domain's QEMU monitor (QMP JSON, or HMP with --hmp).
    #[command(name = "qemu-monitor-command")]
    QemuMonitor {
        domain: String,
        /// The command is HMP text.
        #[arg(long)]
        hmp: bool,
        /// Indent the JSON reply.
        #[arg(long)]
        pretty: bool,
        /// The command (words are joined with spaces).
        #[arg(required = true)]
        cmd: Vec<String>,
    },
    /// Check domain XML files offline; print problems as FILE:LINE:COL: message.
    Validate {
        /// Print the canonical XML (as `virsh dumpxml` would show it).
        #[arg(long)]
        canonical: bool,
        /// Domain XML files ("-" for standard input).
        #[arg(required = true)]
        files: Vec<String>,
    },
}

/// virsh's `--live` / `--config` / `--current`.
#[derive(clap::Args, Debug)]
struct Impact {
    /// Affect the running domain.
    #[arg(long)]
    live: bool,
    /// Affect the persistent definition (the next start).
    #[arg(long)]
    config: bool,
    /// Affect the current state: running if running, else the definition.
    #[arg(long, conflicts_with_all = ["live", "config"])]
    current: bool,
}

impl Impact {
    fn flags(&self) -> u32 {
        use remote_protocol::rvirt::impact;
        let mut f = impact::CURRENT;
        if self.live {
            f |= impact::LIVE;
        }
        if self.config {
            f |= impact::CONFIG;
        }
        f
    }
}

fn to_cmd(c: Command) -> Cmd {
    use Command as C;
    match c {
        C::Version { daemon } => Cmd::Version { daemon },
        C::Uri => Cmd::Uri,
        C::Hostname => Cmd::Hostname,
        C::List {
            all,
            inactive,
            name,
            uuid,
        } => Cmd::List {
            all,
            inactive,
            name,
            uuid,
        },
        C::Define { file } => Cmd::Define { file },
        C::Undefine {
            domain,
            nvram,
            keep_nvram,
            tpm,
            keep_tpm,
        } => Cmd::Undefine {
            domain,
            // libvirt's VIR_DOMAIN_UNDEFINE_{NVRAM,KEEP_NVRAM,TPM,KEEP_TPM}.
            flags: [
                (nvram, 1 << 2),
                (keep_nvram, 1 << 3),
                (tpm, 1 << 5),
                (keep_tpm, 1 << 6),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |f, (_, bit)| f | bit),
        },
        C::Start { domain } => Cmd::Start { domain },
        C::Create { file } => Cmd::Create { file },
        C::Shutdown { domain } => Cmd::Shutdown { domain },
        C::Destroy { domain } => Cmd::Destroy { domain },
        C::Reboot { domain } => Cmd::Reboot { domain },
        C::Suspend { domain } => Cmd::Suspend { domain },
        C::Resume { domain } => Cmd::Resume { domain },
        C::Dumpxml { inactive, domain } => Cmd::Dumpxml { inactive, domain },
        C::Domstate { reason, domain } => Cmd::Domstate { reason, domain },
        C::Dominfo { domain } => Cmd::Dominfo { domain },
        C::Domid { domain } => Cmd::Domid { domain },
        C::Domuuid { domain } => Cmd::Domuuid { domain },
        C::Domname { domain } => Cmd::Domname { domain },
        C::Autostart { disable, domain } => Cmd::Autostart { disable, domain },
        C::Capabilities => Cmd::Capabilities,
        C::Nodeinfo => Cmd::Nodeinfo,
        C::Domcapabilities {
            virttype,
            emulatorbin,
            arch,
            machine,
        } => Cmd::Domcapabilities {
            virttype,
            emulatorbin,
            arch,
            machine,
        },
        C::Sysinfo => Cmd::Sysinfo,
        C::DomxmlToNative { format, file } => Cmd::XmlToNative { format, file },
        C::Grant {
            domain,
            path,
            access,
            impact,
        } => Cmd::Grant {
            domain,
            path,
            read_write: access == "rw",
            flags: impact.flags(),
        },
        C::Revoke {
            domain,
            path,
            impact,
        } => Cmd::Revoke {
            domain,
            path,
            flags: impact.flags(),
        },
        C::QemuMonitor {
            domain,
            hmp,
            pretty,
            cmd,
        } => Cmd::MonitorCommand {
            domain,
            hmp,
            pretty,
            cmd: cmd.join(" "),
        },
        C::Validate { .. } => unreachable!("validate runs offline"),
    }
}

fn connect_failed(msg: &str) -> ExitCode {
    eprintln!("error: failed to connect to the hypervisor");
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

/// virsh also accepts the positional arguments as named options
/// (`dominfo --domain vm1`, `define --file f.xml`,
/// `domxml-to-native --format qemu-argv --xml f.xml`): turn them back into
/// positionals, in virsh's order.
fn virsh_named_options(args: Vec<String>) -> Vec<String> {
    let Some(cmd_at) = command_index(&args) else {
        return args;
    };
    let names: &[&str] = match args[cmd_at].as_str() {
        "domxml-to-native" => &["format", "xml"],
        "define" | "create" => &["file"],
        "grant" | "revoke" => &["domain", "path"],
        "validate" | "version" | "uri" | "hostname" | "list" | "capabilities" | "nodeinfo"
        | "domcapabilities" | "sysinfo" => &[],
        _ => &["domain"],
    };
    let mut named: Vec<Option<String>> = vec![None; names.len()];
    let mut rest = Vec::new();
    let mut it = args[cmd_at + 1..].iter();
    while let Some(a) = it.next() {
        let hit = names.iter().position(|n| {
            a.strip_prefix("--")
                .is_some_and(|o| o == *n || o.starts_with(&format!("{n}=")))
        });
        match hit {
            Some(i) => match a.split_once('=') {
                Some((_, v)) => named[i] = Some(v.to_string()),
                None => named[i] = it.next().cloned(),
            },
            None => rest.push(a.clone()),
        }
    }
    if named.iter().all(Option::is_none) {
        return args;
    }
    let mut out: Vec<String> = args[..=cmd_at].to_vec();
    let mut positional = rest.iter().filter(|a| !a.starts_with('-'));
    let flags = rest.iter().filter(|a| a.starts_with('-'));
    out.extend(flags.cloned());
    for n in named {
        match n {
            Some(v) => out.push(v),
            None => out.extend(positional.next().cloned()),
        }
    }
    out.extend(positional.cloned());
    out
}

/// Where the command word is (after the global options).
fn command_index(args: &[String]) -> Option<usize> {
    args.iter()
        .enumerate()
        .skip(1)
        .scan(false, |takes_value, (i, a)| {
            let r = (!*takes_value && !a.starts_with('-')).then_some(i);
            *takes_value = matches!(a.as_str(), "-c" | "--connect");
            Some(r)
        })
        .flatten()
        .next()
}

/// virsh's wording for a usage error, when there is one.
fn virsh_usage_error(e: &clap::Error, args: &[String]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let cmd = command_index(args).map(|i| args[i].as_str())?;
    let ctx = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    match e.kind() {
        ErrorKind::InvalidSubcommand => Some(format!("unknown command: '{cmd}'")),
        ErrorKind::MissingRequiredArgument => {
            let arg = ctx(ContextKind::InvalidArg)?;
            let arg = arg
                .trim_matches(|c| c == '<' || c == '>')
                .to_ascii_lowercase();
            if cmd == "domxml-to-native" && arg == "file" {
                return Some("need either domain or domain XML".into());
            }
            Some(format!("command '{cmd}' requires <{arg}> option"))
        }
        ErrorKind::UnknownArgument => {
            let arg = ctx(ContextKind::InvalidArg)?;
            if arg.starts_with('-') {
                let opt = arg.split('=').next().unwrap_or(&arg);
                Some(format!("command '{cmd}' doesn't support option {opt}"))
            } else {
                Some(format!("unexpected data '{arg}'"))
            }
        }
        _ => None,
    }
}

/// Parse the command line like virsh; `Err` is the exit code of a usage
/// error, `--help` or `--version` (already printed).
fn parse_cli(args: &[String]) -> Result<Cli, ExitCode> {
    Cli::try_parse_from(args).map_err(|e| {
        if let Some(m) = virsh_usage_error(&e, args) {
            if m.starts_with("need either") && !args.iter().any(|a| a == "-q" || a == "--quiet") {
                // virsh finds this one while running the command.
                println!();
            }
            eprintln!("error: {m}");
            return ExitCode::FAILURE;
        }
        let _ = e.print();
        // virsh exits 1 on every usage error; help and --version are not errors.
        if e.use_stderr() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn main() -> ExitCode {
    let args = virsh_named_options(std::env::args().collect());
    let cli = match parse_cli(&args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Command::Validate { canonical, files } = &cli.command {
        return match validate::run(files, *canonical) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("rvirt: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let uri = cli
        .connect
        .clone()
        .or_else(|| std::env::var("LIBVIRT_DEFAULT_URI").ok());
    let target = match target::resolve(uri.as_deref(), cli.readonly) {
        Ok(t) => t,
        Err(m) => return connect_failed(&m),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the I/O runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (quiet, read_only) = (cli.quiet, cli.readonly);
    let cmd = to_cmd(cli.command);
    rt.block_on(run(&target, read_only, quiet, &cmd))
}

/// Run a daemon command (domxml-to-native may run offline) and print like virsh.
async fn run(target: &target::Target, read_only: bool, quiet: bool, cmd: &Cmd) -> ExitCode {
    if let Cmd::XmlToNative { format, file } = cmd {
        let (out, ok) = native::run(target, read_only, format, file).await;
        if ok && !quiet {
            // rvirt's addition: what a passthrough opens that no grant covers.
            for p in native::ungranted(file) {
                eprintln!(
                    "warning: passthrough argument path '{p}' is not covered by any <rvirt:grant>; \
                     a confinement layer will likely refuse it (add <rvirt:grant path='{p}' access='rw'/>)"
                );
            }
        }
        return out.emit(ok, quiet);
    }
    let client = match virsh::connect(target, read_only).await {
        Ok(c) => c,
        Err(m) => return connect_failed(&m),
    };
    let mut s = virsh::Session {
        c: &client,
        target,
        quiet,
        out: Output::default(),
    };
    let ok = s.run(cmd).await.is_ok();
    let out = std::mem::take(&mut s.out);
    let _ = client.close().await;
    out.emit(ok, quiet)
}

#[cfg(test)]
mod tests {
    use super::virsh_named_options;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn named_options_become_positionals() {
        assert_eq!(
            virsh_named_options(v("rvirt -c U dominfo --domain vm1")),
            v("rvirt -c U dominfo vm1")
        );
        assert_eq!(
            virsh_named_options(v("rvirt domstate --domain=vm1 --reason")),
            v("rvirt domstate --reason vm1")
        );
        assert_eq!(
            virsh_named_options(v("rvirt -q define --file f.xml")),
            v("rvirt -q define f.xml")
        );
        assert_eq!(
            virsh_named_options(v("rvirt domxml-to-native --xml f.xml --format qemu-argv")),
            v("rvirt domxml-to-native qemu-argv f.xml")
        );
        assert_eq!(
            virsh_named_options(v("rvirt domxml-to-native qemu-argv --xml f.xml")),
            v("rvirt domxml-to-native qemu-argv f.xml")
        );
        assert_eq!(
            virsh_named_options(v("rvirt list --all")),
            v("rvirt list --all")
        );
        assert_eq!(
            virsh_named_options(v("rvirt -c qemu:///system start vm1")),
            v("rvirt -c qemu:///system start vm1")
        );
    }
}
