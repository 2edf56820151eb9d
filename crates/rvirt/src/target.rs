//! Which daemon to talk to: `-c URI`, else `LIBVIRT_DEFAULT_URI`, else the
//! local rvirtd.
//!
//! * no URI: `/run/rvirt/rvirt-sock` (`-ro` when read-only); CONNECT_OPEN
//!   carries `""` (the daemon's default), as virsh does without a URI.
//! * `qemu:///system`: the same socket, opening `qemu:///system`.
//! * `...?socket=PATH` (any local form libvirt accepts, e.g.
//!   `qemu+unix:///system?socket=PATH`): exactly PATH, as libvirt's remote
//!   driver does (also when read-only).
//! * `qemu:///embed?root=DIR`: the `rvirtd --root DIR` instance,
//!   `DIR/run/rvirt/rvirt-sock`; offline work uses DIR's layout too.
//! * `qemu:///session`: libvirt's session socket (rvirt has no session daemon).

use std::path::{Path, PathBuf};

use qemu_runtime::paths::Paths;
use remote_protocol::ConnectUri;
use remote_protocol::uri::SocketEnv;

/// A resolved connection target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URI as the user gave it (`None`: the default).
    pub uri: Option<String>,
    /// Socket to dial.
    pub socket: PathBuf,
    /// Name sent in CONNECT_OPEN.
    pub open_name: String,
    /// The instance's file layout (for offline work).
    pub paths: Paths,
    /// Whether `paths` is a `--root` instance.
    pub rooted: bool,
}

fn sock(paths: &Paths, read_only: bool) -> PathBuf {
    if read_only {
        paths.socket_ro.clone()
    } else {
        paths.socket.clone()
    }
}

/// Resolve `uri` (already merged with `LIBVIRT_DEFAULT_URI`).
pub fn resolve(uri: Option<&str>, read_only: bool) -> Result<Target, String> {
    let Some(text) = uri.filter(|u| !u.is_empty()) else {
        let paths = Paths::system();
        return Ok(Target {
            uri: None,
            socket: sock(&paths, read_only),
            open_name: String::new(),
            paths,
            rooted: false,
        });
    };
    let u = ConnectUri::parse(text).map_err(|e| e.to_string())?;
    let (paths, rooted) = match (u.path.as_str(), u.param("root")) {
        ("/embed", Some(root)) if u.driver == "qemu" => (Paths::rooted(Path::new(root)), true),
        ("/embed", None) => {
            return Err(format!(
                "internal error: Missing 'root' parameter in embed URI '{text}'"
            ));
        }
        _ => (Paths::system(), false),
    };
    let target = |socket: PathBuf, open_name: String| Target {
        uri: Some(text.to_string()),
        socket,
        open_name,
        paths: paths.clone(),
        rooted,
    };
    if u.param("socket").is_some() {
        let socket = u
            .socket_path(&SocketEnv::from_process(), read_only, Path::exists)
            .map_err(|e| e.to_string())?;
        let mut name = u.open_name();
        if rooted {
            name = "qemu:///system".into();
        }
        return Ok(target(socket, name));
    }
    match u.path.as_str() {
        "/embed" => Ok(target(sock(&paths, read_only), "qemu:///system".into())),
        "/system" | "/" | "" if matches!(u.transport.as_deref(), None | Some("unix")) => {
            // Reuse the remote-protocol checks (driver, host) for the error text.
            u.socket_path(&SocketEnv::from_process(), read_only, |_| false)
                .map_err(|e| e.to_string())?;
            Ok(target(sock(&paths, read_only), u.open_name()))
        }
        _ => {
            let socket = u
                .socket_path(&SocketEnv::from_process(), read_only, Path::exists)
                .map_err(|e| e.to_string())?;
            Ok(target(socket, u.open_name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = resolve(None, false).unwrap();
        assert_eq!(t.socket, Path::new("/run/rvirt/rvirt-sock"));
        assert_eq!(t.open_name, "");
        let t = resolve(None, true).unwrap();
        assert_eq!(t.socket, Path::new("/run/rvirt/rvirt-sock-ro"));
        let t = resolve(Some("qemu:///system"), false).unwrap();
        assert_eq!(t.socket, Path::new("/run/rvirt/rvirt-sock"));
        assert_eq!(t.open_name, "qemu:///system");
        let t = resolve(Some("qemu+unix:///system?socket=/tmp/s&foo=bar"), true).unwrap();
        assert_eq!(t.socket, Path::new("/tmp/s"));
        assert_eq!(t.open_name, "qemu:///system?foo=bar");
        let t = resolve(Some("qemu:///embed?root=/tmp/r"), false).unwrap();
        assert_eq!(t.socket, Path::new("/tmp/r/run/rvirt/rvirt-sock"));
        assert_eq!(t.open_name, "qemu:///system");
        assert!(t.rooted);
        let t = resolve(Some("qemu:///embed?root=/tmp/r"), true).unwrap();
        assert_eq!(t.socket, Path::new("/tmp/r/run/rvirt/rvirt-sock-ro"));
        assert!(resolve(Some("qemu:///embed"), false).is_err());
        assert!(resolve(Some("qemu+ssh://h/system"), false).is_err());
        assert!(resolve(Some("xen:///system"), false).is_err());
        assert!(resolve(Some("bogus"), false).is_err());
    }
}
