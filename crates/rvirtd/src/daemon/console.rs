//! `virsh console`: DOMAIN_OPEN_CONSOLE on a serial port or console whose QEMU
//! backend is `-chardev pty`, and the pty paths in the live XML (`virsh
//! ttyconsole`).
//!
//! QEMU opens the pty pair and keeps only the master; the daemon (root) opens
//! the slave `/dev/pts/N` itself, on the host's devpts that QEMU's private `/dev`
//! bind-mounts, so nothing about QEMU's confinement changes. The path comes from
//! QEMU (`query-chardev`), which is confined and not trusted: the daemon opens it
//! only under `/dev/pts/`, without following links, and only if what it opened is
//! a pty slave — otherwise a compromised QEMU could name any file for root to
//! stream out.
//!
//! One session per pty, as libvirt: a second client gets "Active console session
//! exists for this domain" unless it forces, which ends the first session (its
//! client sees the stream end). A session ends when QEMU exits (the slave reads
//! EIO, and the VM's end is watched too), or when its client goes away.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain_xml::Domain;
use domain_xml::model::devices::{CharType, Chardev};
use remote_protocol::server::ByteStream;
use remote_protocol::{ErrorCode, ErrorDomain, RemoteError};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::Daemon;
use super::vm::Vm;
use crate::registry::DomainObj;

/// `VIR_DOMAIN_CONSOLE_FORCE`.
pub const CONSOLE_FORCE: u32 = 1;
/// `VIR_DOMAIN_CONSOLE_SAFE`: exclusive access, which every session here has.
pub const CONSOLE_SAFE: u32 = 2;

/// Major numbers of UNIX98 pty slaves (`/dev/pts/*`).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;

/// The open console sessions of one running QEMU, by pty path.
#[derive(Debug, Default)]
pub struct Consoles {
    sessions: Mutex<HashMap<String, Session>>,
}

#[derive(Debug)]
struct Session {
    id: u64,
    /// Dropping or sending ends the session's pump.
    stop: oneshot::Sender<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The alias libvirt gives the `i`-th device of a kind when the XML has none.
fn alias_of(c: &Chardev, kind: &str, i: usize) -> String {
    c.info.alias.clone().unwrap_or_else(|| format!("{kind}{i}"))
}

/// Whether console `i` is the twin of the first serial port (same backend).
fn is_serial_twin(def: &Domain, i: usize, c: &Chardev) -> bool {
    i == 0 && !def.devices.serials.is_empty() && c.target_type().unwrap_or("serial") == "serial"
}

/// The device a console request means, as libvirt picks it: by alias among the
/// consoles then the serial ports, or (no name) the first console, else the
/// first serial port. Returns the device and the QEMU chardev id behind it.
fn pick<'a>(def: &'a Domain, dev_name: Option<&str>) -> Option<(&'a Chardev, String)> {
    let serial_chr = |i: usize| {
        def.devices
            .serials
            .get(i)
            .map(|s| format!("char{}", alias_of(s, "serial", i)))
    };
    let console = |i: usize, c: &'a Chardev| {
        let chr = if is_serial_twin(def, i, c) {
            serial_chr(0)?
        } else {
            format!("char{}", alias_of(c, "console", i))
        };
        Some((c, chr))
    };
    match dev_name {
        None => match def.devices.consoles.first() {
            Some(c) => console(0, c),
            None => def
                .devices
                .serials
                .first()
                .and_then(|s| Some((s, serial_chr(0)?))),
        },
        Some(name) => {
            for (i, c) in def.devices.consoles.iter().enumerate() {
                // A serial twin answers to the serial's alias and to `consoleN`.
                let twin_alias = is_serial_twin(def, i, c)
                    .then(|| alias_of(&def.devices.serials[0], "serial", 0));
                if alias_of(c, "console", i) == name || twin_alias.as_deref() == Some(name) {
                    return console(i, c);
                }
            }
            def.devices
                .serials
                .iter()
                .enumerate()
                .find(|(i, s)| alias_of(s, "serial", *i) == name)
                .and_then(|(i, s)| Some((s, serial_chr(i)?)))
        }
    }
}

/// `query-chardev`: chardev id → pty path, for the ptys.
async fn pty_paths(q: &qemu::QmpClient) -> Result<HashMap<String, String>, qemu::QmpError> {
    let v = q.execute("query-chardev", None).await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let label = c["label"].as_str()?;
            let path = c["filename"].as_str()?.strip_prefix("pty:")?;
            Some((label.to_owned(), path.to_owned()))
        })
        .collect())
}

/// Writes the pty paths QEMU reports into `def`: `<source path>` of each pty
/// serial port and console, and `tty=` of the consoles, as libvirt's live XML
/// has them. `true` when something changed.
pub fn apply_pty_paths(def: &mut Domain, ptys: &HashMap<String, String>) -> bool {
    let mut changed = false;
    let mut set = |c: &mut Chardev, path: &str, tty: bool| {
        if c.char_type != CharType::Pty {
            return;
        }
        let mut src = c.sources.first().cloned().unwrap_or_default();
        if src.get("path") != Some(path) {
            src.set("path", path);
            c.sources = vec![src];
            changed = true;
        }
        if tty && c.tty.as_deref() != Some(path) {
            c.tty = Some(path.to_owned());
            changed = true;
        }
    };
    let serial_paths: Vec<Option<String>> = def
        .devices
        .serials
        .iter()
        .enumerate()
        .map(|(i, s)| {
            ptys.get(&format!("char{}", alias_of(s, "serial", i)))
                .cloned()
        })
        .collect();
    for (s, p) in def.devices.serials.iter_mut().zip(&serial_paths) {
        if let Some(p) = p {
            set(s, p, false);
        }
    }
    let twin0 = def.devices.consoles.first().is_some_and(|c| {
        !serial_paths.is_empty() && c.target_type().unwrap_or("serial") == "serial"
    });
    for (i, c) in def.devices.consoles.iter_mut().enumerate() {
        let path = if i == 0 && twin0 {
            serial_paths[0].clone()
        } else {
            ptys.get(&format!("char{}", alias_of(c, "console", i)))
                .cloned()
        };
        if let Some(p) = path {
            set(c, &p, true);
        }
    }
    changed
}

/// Asks QEMU for the pty paths and records them in the live definition and the
/// status file (after a start, and again after a reconnect: a path in an old
/// status file is not trusted to be current).
pub async fn record_ptys(d: &Daemon, obj: &DomainObj, vm: &Vm) {
    let Some(q) = vm.qmp() else { return };
    let ptys = match pty_paths(&q).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("domain '{}': query-chardev: {e}", vm.name);
            return;
        }
    };
    let mut def = vm.status().domain;
    if !apply_pty_paths(&mut def, &ptys) {
        return;
    }
    let live = Arc::new(def.clone());
    vm.update_status(d, |s| s.domain = def);
    obj.update(|s| {
        if s.live.is_some() {
            s.live = Some(live);
        }
    });
}

fn invalid_flags(flags: u32) -> RemoteError {
    RemoteError::new(
        ErrorCode::INVALID_ARG,
        ErrorDomain::QEMU,
        format!("unsupported flags (0x{flags:x}) in function qemuDomainOpenConsole"),
    )
}

/// DOMAIN_OPEN_CONSOLE.
pub async fn open(
    d: &Arc<Daemon>,
    obj: &Arc<DomainObj>,
    dev_name: Option<String>,
    flags: u32,
) -> Result<ByteStream, RemoteError> {
    let unknown = flags & !(CONSOLE_FORCE | CONSOLE_SAFE);
    if unknown != 0 {
        return Err(invalid_flags(unknown));
    }
    let vm = d.vm(&obj.uuid).ok_or_else(super::ops::not_running)?;
    let def = vm.status().domain;
    let Some((chr, chardev_id)) = pick(&def, dev_name.as_deref()) else {
        return Err(RemoteError::internal(&format!(
            "cannot find character device {}",
            dev_name.as_deref().unwrap_or("<null>")
        )));
    };
    if chr.char_type != CharType::Pty {
        return Err(RemoteError::internal(&format!(
            "character device {} is not using a PTY",
            dev_name.unwrap_or_else(|| chr.info.alias.clone().unwrap_or_default())
        )));
    }
    // QEMU's answer now (it is current after any restart of either side), else
    // the path recorded at start.
    let path = match vm.qmp() {
        Some(q) => pty_paths(&q)
            .await
            .ok()
            .and_then(|m| m.get(&chardev_id).cloned()),
        None => None,
    }
    .or_else(|| {
        chr.sources
            .first()
            .and_then(|s| s.get("path"))
            .map(str::to_owned)
    })
    .ok_or_else(|| RemoteError::operation_failed("PTY device is not yet assigned"))?;
    take_session(&vm, &path, flags & CONSOLE_FORCE != 0)
}

/// Opens `path` for a new session (ending the one there is, if `force`), and
/// pumps it to the returned stream.
fn take_session(vm: &Arc<Vm>, path: &str, force: bool) -> Result<ByteStream, RemoteError> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut sessions = lock(&vm.consoles.sessions);
    if !force && sessions.get(path).is_some_and(|s| !s.stop.is_closed()) {
        return Err(RemoteError::operation_failed(
            "Active console session exists for this domain",
        ));
    }
    if let Some(old) = sessions.remove(path) {
        let _ = old.stop.send(());
    }
    let fd = open_pty_slave(path).map_err(|m| {
        RemoteError::new(
            ErrorCode::SYSTEM_ERROR,
            ErrorDomain::QEMU,
            format!("Unable to open tty {path}: {m}"),
        )
    })?;
    // SAFETY: `fd` is the pty slave, owned by the `OwnedFd` moved into the
    // `AsyncFd`; nothing else closes or replaces it while the `AsyncFd` lives.
    let afd = unsafe { AsyncFd::register(fd) }.map_err(|e| {
        let e = std::io::Error::from(e);
        RemoteError::new(
            ErrorCode::SYSTEM_ERROR,
            ErrorDomain::QEMU,
            format!("Unable to watch tty {path}: {e}"),
        )
    })?;
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (stop_tx, stop_rx) = oneshot::channel();
    sessions.insert(path.to_owned(), Session { id, stop: stop_tx });
    drop(sessions);
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let vm2 = vm.clone();
    let path2 = path.to_owned();
    tokio::spawn(async move {
        pump(afd, theirs, stop_rx, &vm2).await;
        let mut sessions = lock(&vm2.consoles.sessions);
        if sessions.get(&path2).is_some_and(|s| s.id == id) {
            sessions.remove(&path2);
        }
    });
    Ok(Box::new(ours))
}

/// Opens a pty slave for the console: under `/dev/pts/`, no links, a pty slave
/// by its device number; non-blocking, not our controlling tty, raw (no echo,
/// no line editing: the guest's own terminal does that).
fn open_pty_slave(path: &str) -> Result<OwnedFd, String> {
    use rustix::fs::{FileType, Mode, OFlags};
    path.strip_prefix("/dev/pts/")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "not a /dev/pts/N path".to_owned())?;
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| e.to_string())?;
    let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
    let major = rustix::fs::major(st.st_rdev);
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || !PTY_SLAVE_MAJORS.contains(&major)
    {
        return Err("not a pty slave".into());
    }
    let mut t = rustix::termios::tcgetattr(&fd).map_err(|e| e.to_string())?;
    t.make_raw();
    rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &t)
        .map_err(|e| e.to_string())?;
    Ok(fd)
}

/// Copies between the pty and the client's stream until either ends, the
/// session is taken over, or QEMU has exited.
async fn pump(
    pty: AsyncFd<OwnedFd>,
    stream: tokio::io::DuplexStream,
    mut stop: oneshot::Receiver<()>,
    vm: &Vm,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut from_pty = vec![0u8; 16 * 1024];
    let mut from_client = vec![0u8; 16 * 1024];
    let vm_done = vm.wait_done(Duration::from_secs(u64::from(u32::MAX)));
    tokio::pin!(vm_done);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = &mut vm_done => break,
            r = read_pty(&pty, &mut from_pty) => match r {
                Ok(n) if n > 0 => {
                    if wr.write_all(&from_pty[..n]).await.is_err() {
                        break;
                    }
                }
                // EOF or EIO: QEMU closed the master.
                _ => break,
            },
            r = rd.read(&mut from_client) => match r {
                Ok(n) if n > 0 => {
                    if write_pty(&pty, &from_client[..n]).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
        }
    }
    let _ = wr.shutdown().await;
}

async fn read_pty(pty: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut g = pty.readable().await?;
        match g.try_io(|fd| Ok(rustix::io::read(fd.get_ref().as_fd(), &mut *buf)?)) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

async fn write_pty(pty: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut g = pty.writable().await?;
        match g.try_io(|fd| Ok(rustix::io::write(fd.get_ref().as_fd(), data)?)) {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(devices: &str) -> Domain {
        let xml = format!(
            "<domain type='qemu'><name>c</name><memory>131072</memory><os><type>hvm</type></os>\
             <devices>{devices}</devices></domain>"
        );
        domain_xml::parse_domain(&xml).unwrap().value
    }

    #[test]
    fn pick_follows_libvirt_order() {
        let d = dom("<serial type='pty'><target port='0'/></serial>\
             <serial type='pty'><target port='1'/></serial>\
             <console type='pty'><target type='serial' port='0'/></console>");
        let chr = |n: Option<&str>| pick(&d, n).map(|(_, c)| c);
        assert_eq!(chr(None).as_deref(), Some("charserial0"));
        assert_eq!(chr(Some("console0")).as_deref(), Some("charserial0"));
        assert_eq!(chr(Some("serial0")).as_deref(), Some("charserial0"));
        assert_eq!(chr(Some("serial1")).as_deref(), Some("charserial1"));
        assert_eq!(chr(Some("serial7")), None);
        let none = dom("");
        assert!(pick(&none, None).is_none());
    }

    #[test]
    fn pty_paths_land_in_source_and_tty() {
        let mut d = dom("<serial type='pty'><target port='0'/></serial>\
             <console type='pty'><target type='serial' port='0'/></console>");
        let ptys = HashMap::from([("charserial0".to_owned(), "/dev/pts/7".to_owned())]);
        assert!(apply_pty_paths(&mut d, &ptys));
        assert!(!apply_pty_paths(&mut d, &ptys), "idempotent");
        let xml = d.to_xml();
        assert!(xml.contains("<source path='/dev/pts/7'/>"), "{xml}");
        assert!(
            xml.contains("<console type='pty' tty='/dev/pts/7'>"),
            "{xml}"
        );
    }

    #[test]
    fn only_pty_slaves_are_opened() {
        for bad in [
            "/etc/shadow",
            "/dev/pts/../../etc/shadow",
            "/dev/pts/",
            "/dev/pts/ptmx",
        ] {
            assert!(open_pty_slave(bad).is_err(), "{bad}");
        }
    }
}
