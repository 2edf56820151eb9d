//! libvirt connection URIs (client side): which unix socket to dial and
//! which name to send in CONNECT_OPEN.
//!
//! Rules follow libvirt's remote driver: `socket=` wins; otherwise
//! `/system` uses `/run/libvirt/virtqemud-sock` if it exists, else
//! `/run/libvirt/libvirt-sock` (`-ro` suffix for read-only); `/session` uses
//! `$XDG_RUNTIME_DIR/libvirt/...`. The remote driver's own query parameters
//! are stripped from the name sent to the server, so
//! `qemu+unix:///system?socket=/x` opens `qemu:///system`.

use std::path::{Path, PathBuf};

/// Errors from parsing or resolving a URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not of the form `driver[+transport]://[host]/path[?query]`.
    #[error("malformed libvirt URI '{0}'")]
    Syntax(String),
    /// Only local unix sockets are supported.
    #[error("unsupported transport '{0}' (only unix sockets are supported)")]
    Transport(String),
    /// Only local connections are supported.
    #[error("remote host '{0}' is not supported (only local unix sockets)")]
    RemoteHost(String),
    /// A driver other than qemu (or remote).
    #[error("unsupported driver '{0}'")]
    Driver(String),
    /// A path other than /system, /session (or / for remote).
    #[error("unsupported URI path '{0}' (expected /system or /session)")]
    Path(String),
    /// `qemu:///embed` runs the driver in-process: there is no socket.
    #[error("embedded driver URIs ('{0}') have no daemon socket")]
    Embed(String),
    /// A `mode=` value other than auto/direct/legacy.
    #[error("unsupported mode '{0}' (expected auto, direct or legacy)")]
    Mode(String),
    /// Session URI with neither XDG_RUNTIME_DIR nor HOME.
    #[error("cannot locate the session socket: neither XDG_RUNTIME_DIR nor HOME is set")]
    NoRuntimeDir,
}

/// Query parameters consumed by libvirt's remote driver (not forwarded).
const REMOTE_PARAMS: &[&str] = &[
    "name",
    "command",
    "socket",
    "netcat",
    "keyfile",
    "sshauth",
    "no_verify",
    "no_tty",
    "pkipath",
    "known_hosts",
    "known_hosts_verify",
    "tls_priority",
    "mode",
    "proxy",
    "auth",
];

/// A parsed connection URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectUri {
    /// The original text.
    pub original: String,
    /// Driver (`qemu`, `remote`).
    pub driver: String,
    /// Transport after `+` (`unix`), if any.
    pub transport: Option<String>,
    /// Host part (empty for local).
    pub host: String,
    /// Path (`/system`, `/session`).
    pub path: String,
    /// Decoded query parameters, in order.
    pub params: Vec<(String, String)>,
}

/// Facts about the calling process that pick the default socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEnv {
    /// The system run directory (normally `/run/libvirt`).
    pub run_dir: PathBuf,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl SocketEnv {
    /// From the process environment.
    pub fn from_process() -> Self {
        Self {
            run_dir: PathBuf::from("/run/libvirt"),
            xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl ConnectUri {
    /// Parse `driver[+transport]://[host]/path[?k=v&...]`.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let syntax = || UriError::Syntax(s.to_string());
        let (scheme, rest) = s.split_once("://").ok_or_else(syntax)?;
        if scheme.is_empty() {
            return Err(syntax());
        }
        let (driver, transport) = match scheme.split_once('+') {
            Some((d, t)) => (d.to_string(), Some(t.to_string())),
            None => (scheme.to_string(), None),
        };
        let (hostpath, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (host, path) = match hostpath.find('/') {
            Some(i) => (&hostpath[..i], &hostpath[i..]),
            None => (hostpath, ""),
        };
        let params = query
            .map(|q| {
                q.split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (percent_decode(k), percent_decode(v)),
                        None => (percent_decode(kv), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            original: s.to_string(),
            driver,
            transport,
            host: host.to_string(),
            path: path.to_string(),
            params,
        })
    }

    /// Last value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn check_local(&self) -> Result<(), UriError> {
        match self.transport.as_deref() {
            None | Some("unix") => {}
            Some(t) => return Err(UriError::Transport(t.to_string())),
        }
        if !self.host.is_empty() && self.host != "localhost" {
            return Err(UriError::RemoteHost(self.host.clone()));
        }
        match self.driver.as_str() {
            "qemu" | "remote" => Ok(()),
            d => Err(UriError::Driver(d.to_string())),
        }
    }

    /// The name to send in CONNECT_OPEN: `driver:///path` plus the query
    /// parameters the remote driver does not consume (`""` for `remote`).
    pub fn open_name(&self) -> String {
        if self.driver == "remote" && matches!(self.path.as_str(), "" | "/") {
            return String::new();
        }
        let mut name = format!("{}://{}", self.driver, self.path);
        if !self.path.starts_with('/') {
            name = format!("{}:///{}", self.driver, self.path);
        }
        let rest: Vec<String> = self
            .params
            .iter()
            .filter(|(k, _)| !REMOTE_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        if !rest.is_empty() {
            name.push('?');
            name.push_str(&rest.join("&"));
        }
        name
    }

    /// The socket to dial. `exists` decides between the modular and the
    /// legacy socket in auto mode (pass `|p| p.exists()`).
    pub fn socket_path(
        &self,
        env: &SocketEnv,
        read_only: bool,
        exists: impl Fn(&Path) -> bool,
    ) -> Result<PathBuf, UriError> {
        self.check_local()?;
        if let Some(s) = self.param("socket") {
            return Ok(PathBuf::from(s));
        }
        if self.path == "/embed" {
            return Err(UriError::Embed(self.original.clone()));
        }
        let mode = self.param("mode").unwrap_or("auto");
        if !matches!(mode, "auto" | "direct" | "legacy") {
            return Err(UriError::Mode(mode.to_string()));
        }
        let (dir, ro_suffix) = match self.path.as_str() {
            "/system" | "" | "/" => (env.run_dir.clone(), read_only),
            "/session" => {
                let dir = match (&env.xdg_runtime_dir, &env.home) {
                    (Some(x), _) => x.join("libvirt"),
                    (None, Some(h)) => h.join(".cache").join("libvirt"),
                    (None, None) => return Err(UriError::NoRuntimeDir),
                };
                (dir, false)
            }
            p => return Err(UriError::Path(p.to_string())),
        };
        let suffix = if ro_suffix { "-ro" } else { "" };
        let direct = dir.join(format!("virtqemud-sock{suffix}"));
        let legacy = dir.join(format!("libvirt-sock{suffix}"));
        Ok(match mode {
            "direct" => direct,
            "legacy" => legacy,
            _ if exists(&direct) => direct,
            _ => legacy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> SocketEnv {
        SocketEnv {
            run_dir: PathBuf::from("/run/libvirt"),
            xdg_runtime_dir: Some(PathBuf::from("/run/user/1000")),
            home: Some(PathBuf::from("/home/u")),
        }
    }

    #[test]
    fn socket_param_wins() {
        let u = ConnectUri::parse("qemu+unix:///system?socket=/tmp/x%20y/sock&foo=bar").unwrap();
        assert_eq!(u.driver, "qemu");
        assert_eq!(u.transport.as_deref(), Some("unix"));
        assert_eq!(
            u.socket_path(&env(), false, |_| false).unwrap(),
            PathBuf::from("/tmp/x y/sock")
        );
        assert_eq!(u.open_name(), "qemu:///system?foo=bar");
        let u = ConnectUri::parse("qemu:///system?socket=/s").unwrap();
        assert_eq!(u.open_name(), "qemu:///system");
        assert_eq!(
            u.socket_path(&env(), true, |_| false).unwrap(),
            PathBuf::from("/s")
        );
    }

    #[test]
    fn defaults() {
        let u = ConnectUri::parse("qemu:///system").unwrap();
        assert_eq!(
            u.socket_path(&env(), false, |_| false).unwrap(),
            PathBuf::from("/run/libvirt/libvirt-sock")
        );
        assert_eq!(
            u.socket_path(&env(), true, |p| p.ends_with("virtqemud-sock-ro"))
                .unwrap(),
            PathBuf::from("/run/libvirt/virtqemud-sock-ro")
        );
        let u = ConnectUri::parse("qemu:///system?mode=direct").unwrap();
        assert_eq!(
            u.socket_path(&env(), false, |_| false).unwrap(),
            PathBuf::from("/run/libvirt/virtqemud-sock")
        );
        let u = ConnectUri::parse("qemu:///session").unwrap();
        assert_eq!(
            u.socket_path(&env(), false, |_| false).unwrap(),
            PathBuf::from("/run/user/1000/libvirt/libvirt-sock")
        );
        assert_eq!(u.open_name(), "qemu:///session");
        let u = ConnectUri::parse("remote+unix:///?socket=/s").unwrap();
        assert_eq!(u.open_name(), "");
    }

    #[test]
    fn refusals() {
        let e = |s: &str| {
            ConnectUri::parse(s)
                .and_then(|u| u.socket_path(&env(), false, |_| false))
                .unwrap_err()
        };
        assert!(matches!(
            e("qemu+ssh://host/system"),
            UriError::Transport(_)
        ));
        assert!(matches!(e("qemu://host/system"), UriError::RemoteHost(_)));
        assert!(matches!(e("xen:///system"), UriError::Driver(_)));
        assert!(matches!(e("qemu:///embed?root=/tmp/x"), UriError::Embed(_)));
        assert!(matches!(e("qemu:///system?mode=bogus"), UriError::Mode(_)));
        assert!(matches!(e("qemu:///other"), UriError::Path(_)));
        assert!(matches!(e("nonsense"), UriError::Syntax(_)));
    }
}
