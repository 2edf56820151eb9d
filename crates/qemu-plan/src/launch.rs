//! The planner's output.

use std::fmt;

use crate::resources::{Access, DevNode, DeviceRule, LandlockRule, Resource, ResourceViews};
use crate::runtime::HostFacts;
pub use launch_spec::{FdSource, PassFd};

/// A domain taint, recorded in the log and the status XML (libvirt's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Taint {
    /// `<qemu:arg>` or `<qemu:env>` present.
    CustomArgv,
    /// QEMU runs as root (`user` or `group` is root).
    HighPrivileges,
    /// `<cpu mode='host-passthrough'>`.
    HostCpu,
    /// `<qemu:capabilities>` adjusted the emulator's capabilities.
    CustomHypervisorFeature,
    /// `<qemu:override>` changed device properties.
    CustomDevice,
}

impl Taint {
    pub fn as_str(self) -> &'static str {
        match self {
            Taint::CustomArgv => "custom-argv",
            Taint::HighPrivileges => "high-privileges",
            Taint::HostCpu => "host-cpu",
            Taint::CustomHypervisorFeature => "custom-hypervisor-feature",
            Taint::CustomDevice => "custom-device",
        }
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A QMP command the daemon sends once QEMU is up, before the guest runs
/// (what libvirt keeps off the command line: graphics passwords, the
/// balloon's statistics period).
#[derive(Clone, PartialEq, Eq)]
pub struct MonitorCommand {
    pub execute: String,
    /// The arguments, a JSON object.
    pub arguments: String,
}

/// Never print a password: the arguments of `set_password` are elided.
impl fmt::Debug for MonitorCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args = if self.execute == "set_password" {
            "{…}"
        } else {
            &self.arguments
        };
        write!(f, "{} {args}", self.execute)
    }
}

/// Where a `<graphics>` listens once started, for the live XML: the port
/// chosen for `autoport`, the websocket port, the address or the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphicsLive {
    /// Position among the domain's `<graphics>`.
    pub index: usize,
    pub port: Option<u16>,
    pub websocket: Option<u16>,
    pub address: Option<String>,
    pub socket: Option<String>,
}

/// A `<tpm><backend type='emulator'>`: the daemon runs swtpm for it (state set up
/// once, per domain), listening on `socket`, before QEMU starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmEmulator {
    /// The device alias (`tpm0`).
    pub alias: String,
    /// The swtpm control socket QEMU's `-chardev` connects to.
    pub socket: String,
    /// `2.0` (`--tpm2`) or `1.2`.
    pub version: String,
}

/// Everything needed to start one QEMU process for a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchPlan {
    pub emulator: String,
    /// Arguments after the emulator path.
    pub argv: Vec<String>,
    /// The complete environment, in order.
    pub env: Vec<(String, String)>,
    pub fds: Vec<PassFd>,
    pub taints: Vec<Taint>,
    /// Every host path QEMU needs, per device.
    pub resources: Vec<Resource>,
    /// Whether QEMU gets a private mount namespace with its own `/dev`.
    pub mount_namespace: bool,
    /// Whether Landlock confinement applies (qemu.conf `landlock`).
    pub landlock: bool,
    /// The `-sandbox` value, if any (`on,obsolete=deny,...` or `off`).
    pub sandbox: Option<String>,
    /// The domain's static DAC label (`<seclabel type='static' model='dac'>`):
    /// the `user:group` QEMU runs as instead of qemu.conf's, as written.
    pub dac_label: Option<String>,
    /// The owner for images from that seclabel (`<imagelabel>`, else its
    /// `<label>`); `None` means the QEMU user.
    pub dac_image_label: Option<String>,
    /// The domain log file.
    pub log_path: String,
    /// `(template, nvram)`: the UEFI variable store does not exist yet; the
    /// daemon copies the template there (and chowns it) before start.
    pub nvram_from_template: Option<(String, String)>,
    /// TPM emulators (swtpm) the daemon starts before QEMU, which connects to
    /// their sockets.
    pub tpm_emulators: Vec<TpmEmulator>,
    /// `<on_reboot>destroy</on_reboot>`: like libvirt 9.0, the command line
    /// does not say so (no `-no-reboot`); the daemon sends QMP
    /// `set-action` with `reboot: shutdown` before the guest runs.
    pub reboot_is_shutdown: bool,
    /// `<currentMemory>` below `<memory>` with a balloon: the target the
    /// daemon sets through QMP `balloon` before the guest runs.
    pub balloon_target_kib: Option<u64>,
    /// QMP commands for the daemon after `balloon_target_kib`, before `cont`.
    pub monitor_commands: Vec<MonitorCommand>,
    /// What the graphics got at start (ports, sockets), for the live XML.
    pub graphics_live: Vec<GraphicsLive>,
    /// `(channel index, socket path)` of UNIX channels whose path the start
    /// chose (the guest agent's), for the live XML.
    pub channel_paths: Vec<(usize, String)>,
}

impl LaunchPlan {
    /// Writes what the start chose into `d` (the live definition): the
    /// guest agent's socket path, and for graphics the port chosen for
    /// `autoport`, the websocket port, and the listen address or socket, as
    /// libvirt's live XML shows them.
    pub fn apply_live_graphics(&self, d: &mut domain_xml::Domain) {
        for (i, path) in &self.channel_paths {
            if let Some(ch) = d.devices.channels.get_mut(*i) {
                match ch.sources.first_mut() {
                    Some(s) => s.set("path", path.clone()),
                    None => {
                        let mut s = domain_xml::model::AttrSet::default();
                        s.set("mode", "bind");
                        s.set("path", path.clone());
                        ch.sources.push(s);
                    }
                }
            }
        }
        for g in &self.graphics_live {
            let Some(gr) = d.devices.graphics.get_mut(g.index) else {
                continue;
            };
            if let Some(p) = g.port {
                gr.port = Some(i32::from(p));
            }
            if let Some(w) = g.websocket {
                gr.attrs.set("websocket", w.to_string());
            }
            let mut listen = domain_xml::model::AttrSet::default();
            if let Some(a) = &g.address {
                gr.attrs.set("listen", a.clone());
                listen.set("type", "address");
                listen.set("address", a.clone());
            } else if let Some(s) = &g.socket {
                listen.set("type", "socket");
                listen.set("socket", s.clone());
            } else {
                continue;
            }
            match gr.listens.first_mut() {
                Some(l) => {
                    for (k, v) in listen.attrs {
                        l.set(&k, v);
                    }
                }
                None => gr.listens.push(listen),
            }
        }
    }

    /// Nodes for the private `/dev` (empty without a mount namespace).
    pub fn dev_nodes(&self, host: &dyn HostFacts) -> Vec<DevNode> {
        if self.mount_namespace {
            self.resources.dev_nodes(host)
        } else {
            Vec::new()
        }
    }

    /// The cgroup device ACL.
    pub fn cgroup_acl(&self) -> Vec<DeviceRule> {
        self.resources.cgroup_acl()
    }

    /// Paths to chown to the QEMU user before start.
    pub fn chown_paths(&self) -> Vec<String> {
        self.resources.chown_paths()
    }

    /// Landlock rules (empty when Landlock is off). With a private `/dev`, the
    /// hot-plug directories are allowed too (see [`crate::grants`]): they are empty
    /// at start, and only the daemon can put a granted node there later.
    pub fn landlock_rules(&self) -> Vec<LandlockRule> {
        if !self.landlock {
            return Vec::new();
        }
        let mut rules = self.resources.landlock_rules();
        for access in self.hotplug_dirs().into_iter().map(|(_, a)| a) {
            rules.push(LandlockRule {
                path: crate::grants::hotplug_dir(access),
                access,
                beneath: true,
            });
        }
        rules
    }

    /// The empty directories for hot-plugged device nodes in the private `/dev`
    /// (none without a mount namespace), with the access of what goes there.
    pub fn hotplug_dirs(&self) -> Vec<(String, Access)> {
        if !self.mount_namespace {
            return Vec::new();
        }
        [Access::ReadOnly, Access::ReadWrite]
            .into_iter()
            .map(|a| (crate::grants::hotplug_dir(a), a))
            .collect()
    }

    /// The command line in libvirt's `.args` layout: environment first, one
    /// variable per line, then the emulator, then one option (with its value)
    /// per line; lines end with ` \`; values shell-quoted as libvirt does.
    pub fn to_args_file(&self) -> String {
        let mut lines: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        lines.push(shell_quote(&self.emulator));
        let emulator_line = lines.len() - 1;
        for a in &self.argv {
            let q = shell_quote(a);
            let joins = !a.starts_with('-') && lines.len() - 1 > emulator_line;
            match lines.last_mut() {
                Some(last) if joins => {
                    last.push(' ');
                    last.push_str(&q);
                }
                _ => lines.push(q),
            }
        }
        let mut out = lines.join(" \\\n");
        out.push('\n');
        out
    }
}

/// Characters that make libvirt quote a word (`virBufferEscapeShell`).
const SHELL_SPECIAL: &str = "\r\t\n !\"#$&'()*;<>?[\\]^`{|}~";

/// Quotes a word the way libvirt's logs and `.args` files do: bare when
/// harmless, otherwise in single quotes with `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && !s.chars().any(|c| SHELL_SPECIAL.contains(c)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("guest=a,debug-threads=on"),
            "guest=a,debug-threads=on"
        );
        assert_eq!(shell_quote("{\"a\":1}"), "'{\"a\":1}'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
