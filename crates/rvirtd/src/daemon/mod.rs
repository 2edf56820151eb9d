//! The daemon: one instance per root (lock), host config and capabilities loaded
//! once, definitions loaded, running QEMUs reconnected, autostart domains started,
//! then the read-write and read-only sockets served with libvirt's remote protocol
//! until SIGTERM/SIGINT. Stopping the daemon never stops a guest: QEMU runs in its
//! own session and is found again from its status file at the next start.

pub mod agent;
pub mod backend;
pub mod console;
pub mod domain_ops;
pub mod domain_state;
pub mod errors;
pub mod grants;
pub mod hostinfo;
pub mod hoststats;
pub mod keys;
pub mod live_facts;
pub mod memtrim;
pub mod monitor;
pub mod nodefacts;
pub mod ops;
pub mod procfs;
pub mod reconnect;
pub mod stats;
pub mod status;
pub mod storage;
pub mod tuning;
pub mod tuning_live;
pub mod vm;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use confine::cgroup::CgroupLayout;
use confine::dac::PasswdDb;
use confine::launcher::Launcher;
use host_config::HostConfig;
use qemu::{Capabilities, CapsCache};
use remote_protocol::event::{DomainEvent, StoppedDetail};
use remote_protocol::server::LifecycleEvent;
use remote_protocol::{ServeOptions, serve};
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::launch::Host;
use crate::paths::Paths;
use crate::registry::{DomainObj, Registry};
use crate::states::ShutoffReason;
use crate::store;

pub use vm::Vm;

/// How the daemon was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--root DIR`: every path under DIR.
    pub root: Option<PathBuf>,
    /// The binary that serves `rvirtd launch` (normally this executable).
    pub launcher: PathBuf,
    /// Mode of the read-write socket (0700 by default).
    pub socket_mode: u32,
    /// Group of the read-write socket (libvirtd's `unix_sock_group`), name or number.
    pub socket_group: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another rvirtd is already running for {root} (lock {path} is held); stop it first or use another --root"
    )]
    AlreadyRunning { root: String, path: PathBuf },
    #[error("qemu.conf {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("cannot read the user database: {0}")]
    Passwd(String),
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("socket group '{group}': {message}")]
    SocketGroup { group: String, message: String },
}

/// The running daemon's shared state.
#[derive(Debug)]
pub struct Daemon {
    pub paths: Paths,
    pub host: Host,
    /// Probed once at daemon start; `Err` keeps the reason (starts then fail with it).
    pub caps: Result<Arc<Capabilities>, String>,
    pub registry: Registry,
    /// Running QEMUs by domain uuid.
    vms: Mutex<HashMap<Uuid, Arc<Vm>>>,
    /// Held across a change of persistent definitions (registry + file), so two
    /// defines of one domain, or a define and an undefine, never interleave: the
    /// registry and the file on disk always say the same.
    pub definitions: Mutex<()>,
    pub events: broadcast::Sender<LifecycleEvent>,
    pub hostname: String,
    /// The `dir` storage pools.
    pub storage: crate::storage::Storage,
}

/// The lock held for the daemon's lifetime.
#[derive(Debug)]
pub struct InstanceLock {
    _file: fs::File,
}

/// Takes the one-instance-per-root lock.
pub fn lock_instance(paths: &Paths) -> Result<InstanceLock, DaemonError> {
    let path = &paths.lock_file;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| DaemonError::Dir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| DaemonError::LockFile {
            path: path.clone(),
            source,
        })?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |_| DaemonError::AlreadyRunning {
            root: paths
                .root
                .as_ref()
                .map_or_else(|| "/".to_owned(), |r| r.display().to_string()),
            path: path.clone(),
        },
    )?;
    let _ = fs::write(path, format!("{}\n", std::process::id()));
    Ok(InstanceLock { _file: file })
}

impl Daemon {
    /// Prepares everything before serving: dirs, config, caps, definitions.
    pub async fn new(opts: &Options) -> Result<Arc<Daemon>, DaemonError> {
        let paths = match &opts.root {
            Some(r) => Paths::rooted(r),
            None => Paths::system(),
        };
        for d in paths.dirs() {
            fs::create_dir_all(d).map_err(|source| DaemonError::Dir {
                path: d.to_path_buf(),
                source,
            })?;
        }
        let conf_text = match fs::read_to_string(&paths.qemu_conf) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(DaemonError::Config {
                    path: paths.qemu_conf.clone(),
                    message: e.to_string(),
                });
            }
        };
        let (config, warnings) = HostConfig::parse(&conf_text, &paths.qemu_conf.to_string_lossy())
            .map_err(|e| DaemonError::Config {
                path: paths.qemu_conf.clone(),
                message: e.to_string(),
            })?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        let cgroups = match CgroupLayout::detect_host() {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("no usable cgroup hierarchy, domains run without one: {e}");
                None
            }
        };
        let passwd = PasswdDb::load().map_err(|e| DaemonError::Passwd(e.to_string()))?;
        let t = std::time::Instant::now();
        let emulator = PathBuf::from(qemu_plan::runtime::DEFAULT_EMULATOR);
        let caps = match CapsCache::new(paths.capabilities_cache())
            .get(&emulator)
            .await
        {
            Ok(c) => Ok(Arc::new(c)),
            Err(e) => {
                let m = format!("cannot probe {}: {e}", emulator.display());
                tracing::warn!("{m}");
                Err(m)
            }
        };
        tracing::debug!("capabilities in {:?}", t.elapsed());
        let hostname = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        let (events, _) = broadcast::channel(256);
        let storage_dirs = crate::storage::StorageDirs::beside(
            &paths.config_dir,
            &paths.state_dir,
            &paths.lib_dir,
        );
        let storage = crate::storage::Storage::load(storage_dirs.clone()).map_err(|source| {
            DaemonError::Dir {
                path: storage_dirs.config.clone(),
                source,
            }
        })?;
        let d = Arc::new(Daemon {
            host: Host {
                paths: paths.clone(),
                config,
                launcher: Launcher::new(&opts.launcher),
                cgroups,
                passwd,
                owners: Default::default(),
                selinux: crate::launch::selinux::detect().map(Arc::new),
            },
            paths,
            caps,
            registry: Registry::new(),
            vms: Mutex::new(HashMap::new()),
            definitions: Mutex::new(()),
            events,
            hostname,
            storage,
        });
        domain_ops::rename::recover(&d.paths);
        d.load_definitions();
        Ok(d)
    }

    fn load_definitions(&self) {
        let (loaded, errors) = store::load_dir(&self.paths.config_dir);
        for e in errors {
            tracing::error!("definition not loaded (file kept): {e}");
        }
        for l in loaded {
            for w in &l.warnings {
                tracing::warn!("{}: {w}", l.path.display());
            }
            let expected = self.paths.config_file(&l.domain.name);
            if expected != l.path {
                tracing::error!(
                    "{}: holds domain '{}', expected in {}; not loaded (file kept)",
                    l.path.display(),
                    l.domain.name,
                    expected.display()
                );
                continue;
            }
            let name = l.domain.name.clone();
            match self.registry.define(l.domain) {
                Ok((obj, _)) => {
                    let auto = store::is_autostart(&self.paths.autostart_link(&name));
                    obj.update(|s| s.autostart = auto);
                }
                Err(e) => tracing::error!("{}: {e}; not loaded (file kept)", l.path.display()),
            }
        }
    }

    pub fn vm(&self, uuid: &Uuid) -> Option<Arc<Vm>> {
        self.vms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uuid)
            .cloned()
    }

    fn insert_vm(&self, vm: Arc<Vm>) {
        self.vms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(vm.uuid, vm);
    }

    fn remove_vm(&self, vm: &Arc<Vm>) {
        let mut m = self.vms.lock().unwrap_or_else(|e| e.into_inner());
        if m.get(&vm.uuid).is_some_and(|v| Arc::ptr_eq(v, vm)) {
            m.remove(&vm.uuid);
        }
    }

    /// Fans `event` of `obj` out to the clients registered for lifecycle events.
    pub fn emit(&self, obj: &DomainObj, event: DomainEvent) {
        let s = obj.snapshot();
        let dom = remote_protocol::Domain {
            name: s.name.clone(),
            uuid: *s.uuid.as_bytes(),
            id: s.id.unwrap_or(-1),
        };
        let _ = self.events.send(LifecycleEvent::new(dom, event));
    }

    /// Starts every inactive autostart domain (in parallel).
    pub fn autostart(self: &Arc<Self>) {
        for obj in self.registry.all() {
            let s = obj.snapshot();
            if s.autostart && s.persistent && !s.is_active() {
                let d = self.clone();
                tokio::spawn(async move {
                    match ops::start(&d, &obj, 0).await {
                        Ok(()) => tracing::info!("autostarted domain '{}'", s.name),
                        Err(e) => tracing::error!(
                            "autostart of domain '{}' failed: {}",
                            s.name,
                            e.message()
                        ),
                    }
                });
            }
        }
    }
}

fn bind(path: &Path, mode: u32) -> Result<UnixListener, DaemonError> {
    let err = |source| DaemonError::Listen {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(err)?;
    }
    // We hold the instance lock: a socket file left here is stale.
    let _ = fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)?;
    Ok(l)
}

/// Runs the daemon until SIGTERM/SIGINT. Running QEMUs are left running.
pub async fn run(opts: Options) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let paths = match &opts.root {
        Some(r) => Paths::rooted(r),
        None => Paths::system(),
    };
    let _lock = lock_instance(&paths)?;
    // QEMU processes orphaned by a launcher come back to us and are reaped at once.
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        tracing::warn!("cannot become a child subreaper: {e}");
    }
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let t0 = std::time::Instant::now();
    let d = Daemon::new(&opts).await?;
    let t_loaded = t0.elapsed();
    reconnect::reconnect_all(&d).await;
    tracing::debug!(
        "loaded in {t_loaded:?}, reconnected in {:?}",
        t0.elapsed() - t_loaded
    );
    // The read-only socket first: once the read-write one accepts, both are ready.
    let ro = bind(&d.paths.socket_ro, 0o777)?;
    let rw = bind(&d.paths.socket, opts.socket_mode)?;
    if let Some(g) = &opts.socket_group {
        let err = |message: String| DaemonError::SocketGroup {
            group: g.clone(),
            message,
        };
        let gid = d.host.passwd.group_id(g).map_err(|e| err(e.to_string()))?;
        rustix::fs::chown(&d.paths.socket, None, Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(|e| err(e.to_string()))?;
    }
    let be: Arc<dyn remote_protocol::Backend> = Arc::new(backend::DaemonBackend(d.clone()));
    let rw_opts = ServeOptions {
        events: Some(d.events.clone()),
        ..ServeOptions::default()
    };
    let ro_opts = ServeOptions {
        read_only: true,
        ..rw_opts.clone()
    };
    tracing::info!(
        "rvirtd {} serving {} ({} domains defined, {} running)",
        env!("CARGO_PKG_VERSION"),
        d.paths.socket.display(),
        d.registry.len(),
        d.vms.lock().unwrap_or_else(|e| e.into_inner()).len()
    );
    d.autostart();
    tokio::spawn(memtrim::run());
    let result = tokio::select! {
        r = serve(rw, be.clone(), rw_opts) => r.map_err(|e| tracing::error!("rw socket: {e}")),
        r = serve(ro, be, ro_opts) => r.map_err(|e| tracing::error!("ro socket: {e}")),
        _ = term.recv() => { tracing::info!("SIGTERM: exiting, running domains keep running"); Ok(()) }
        _ = int.recv() => { tracing::info!("SIGINT: exiting, running domains keep running"); Ok(()) }
    };
    let _ = fs::remove_file(&d.paths.socket);
    let _ = fs::remove_file(&d.paths.socket_ro);
    let _ = result;
    Ok(())
}

/// The STOPPED event detail libvirt sends for a domain shut off for `reason`.
pub fn stopped_detail(reason: ShutoffReason) -> StoppedDetail {
    match reason {
        ShutoffReason::Shutdown => StoppedDetail::Shutdown,
        ShutoffReason::Destroyed => StoppedDetail::Destroyed,
        ShutoffReason::Crashed => StoppedDetail::Crashed,
        ShutoffReason::Failed => StoppedDetail::Failed,
        _ => StoppedDetail::Shutdown,
    }
}
