//! The `dir` storage driver: pools are directories, their volumes the regular
//! files in them. Definitions persist under the daemon's root
//! (`etc/rvirt/storage/NAME.xml`, autostart links in `autostart/`, written
//! atomically like domain definitions); a running pool has a state file in
//! `run/rvirt/storage/NAME.xml`, so it is running again after a daemon
//! restart, and autostart pools are started when the daemon starts.
//!
//! Volumes are read from the directory when asked (no cache to go stale): a
//! file copied into a pool is a volume at once, as after libvirt's refresh.

pub mod probe;
mod volops;
pub mod volxml;
pub mod xml;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use uuid::Uuid;

use crate::store::{self, StoreError};
use xml::{Perms, PoolDef, PoolSizes, VolFacts, XmlError};

/// Why a storage call failed; [`StorageError::kind`] says which libvirt error it is.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no storage pool with matching name '{0}'")]
    NoPoolName(String),
    #[error("no storage pool with matching uuid '{0}'")]
    NoPoolUuid(Uuid),
    #[error("no storage pool with matching uuid '{uuid}' ({name})")]
    NoPool { uuid: Uuid, name: String },
    #[error("no storage pool with matching target path '{0}'")]
    NoPoolTarget(String),
    #[error("no storage vol with matching path '{0}'")]
    NoVolPath(String),
    #[error("no storage vol with matching key {0}")]
    NoVolKey(String),
    #[error("no storage vol with matching name '{0}'")]
    NoVolName(String),
    #[error("storage pool '{0}' is not active")]
    NotActive(String),
    #[error("storage pool '{0}' is already active")]
    AlreadyActive(String),
    #[error("storage pool '{0}' is still active")]
    StillActive(String),
    #[error("cannot undefine transient storage pool '{0}'")]
    TransientUndefine(String),
    #[error("cannot set autostart for transient storage pool '{0}'")]
    TransientAutostart(String),
    #[error("pool '{name}' is already defined with uuid {uuid}")]
    NameTaken { name: String, uuid: Uuid },
    #[error("pool '{name}' already exists with uuid {uuid}")]
    UuidTaken { name: String, uuid: Uuid },
    #[error("Storage source conflict with pool: '{0}'")]
    TargetConflict(String),
    #[error("cannot open directory '{path}': {source}")]
    TargetDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot {what} '{path}': {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("backing storage not supported for raw volumes ('{0}')")]
    RawBacking(String),
    #[error("{0}")]
    BadResize(&'static str),
    #[error("preallocate is only supported for raw type volume")]
    AllocateQcow2,
    #[error("Not enough space left in storage pool")]
    NoSpace,
    #[error("storage volume '{0}' exists already")]
    VolExists(String),
    #[error("cannot create volume '{path}': qemu-img: {message}")]
    QemuImg { path: String, message: String },
    #[error("{0}")]
    VolXml(#[from] volxml::VolXmlError),
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The libvirt error a [`StorageError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `VIR_ERR_NO_STORAGE_POOL`.
    NoPool,
    /// `VIR_ERR_NO_STORAGE_VOL`.
    NoVol,
    /// `VIR_ERR_OPERATION_INVALID`.
    Invalid,
    /// `VIR_ERR_OPERATION_FAILED`.
    Failed,
    /// `VIR_ERR_XML_ERROR`.
    Xml,
    /// `VIR_ERR_CONFIG_UNSUPPORTED`.
    Unsupported,
    /// `VIR_ERR_SYSTEM_ERROR`.
    System,
    /// `VIR_ERR_STORAGE_VOL_EXIST`.
    VolExists,
    /// `VIR_ERR_INTERNAL_ERROR`.
    Internal,
    /// `VIR_ERR_INVALID_ARG`.
    InvalidArg,
}

impl StorageError {
    /// Which libvirt error this is.
    pub fn kind(&self) -> ErrorKind {
        use StorageError as E;
        match self {
            E::NoPoolName(_) | E::NoPoolUuid(_) | E::NoPool { .. } | E::NoPoolTarget(_) => {
                ErrorKind::NoPool
            }
            E::NoVolPath(_) | E::NoVolKey(_) | E::NoVolName(_) => ErrorKind::NoVol,
            E::NotActive(_)
            | E::AlreadyActive(_)
            | E::StillActive(_)
            | E::TransientUndefine(_)
            | E::TransientAutostart(_) => ErrorKind::Invalid,
            E::NameTaken { .. } | E::UuidTaken { .. } | E::TargetConflict(_) => ErrorKind::Failed,
            E::Xml(XmlError::UnsupportedType(_)) | E::VolXml(volxml::VolXmlError::BadFormat(_)) => {
                ErrorKind::Unsupported
            }
            E::VolXml(_) => ErrorKind::Xml,
            E::VolExists(_) => ErrorKind::VolExists,
            E::RawBacking(_) | E::AllocateQcow2 => ErrorKind::Unsupported,
            E::BadResize(_) => ErrorKind::InvalidArg,
            E::NoSpace => ErrorKind::Failed,
            E::QemuImg { .. } => ErrorKind::Internal,
            E::Xml(_) => ErrorKind::Xml,
            E::TargetDir { .. } | E::Io { .. } | E::Store(_) => ErrorKind::System,
        }
    }
}

type Result<T> = std::result::Result<T, StorageError>;

/// One pool as the driver holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Its definition.
    pub def: PoolDef,
    /// Defined (has a config file), or only running.
    pub persistent: bool,
    /// Running.
    pub active: bool,
    /// Started with the daemon.
    pub autostart: bool,
}

/// A volume: its pool's name and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vol {
    /// Pool name.
    pub pool: String,
    /// File name.
    pub name: String,
    /// Path (pool target + name), also its key.
    pub path: String,
}

/// Where the driver keeps its files.
#[derive(Debug, Clone)]
pub struct StorageDirs {
    /// Definitions `NAME.xml`.
    pub config: PathBuf,
    /// Autostart links `NAME.xml -> ../NAME.xml`.
    pub autostart: PathBuf,
    /// State files of running pools `NAME.xml`.
    pub state: PathBuf,
    /// Where the pool `default` goes when the driver first starts (`None`: no
    /// default pool).
    pub default_pool: Option<PathBuf>,
}

impl StorageDirs {
    /// Beside the domain driver's directories: `etc/rvirt/storage`,
    /// `run/rvirt/storage`, and the default pool in `var/lib/rvirt/images` (as
    /// libvirt's hosts have `/var/lib/libvirt/images`).
    pub fn beside(domain_config: &Path, domain_state: &Path, domain_lib: &Path) -> Self {
        let up = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        let config = up(domain_config).join("storage");
        Self {
            autostart: config.join("autostart"),
            config,
            state: up(domain_state).join("storage"),
            default_pool: Some(up(domain_lib).join("images")),
        }
    }
}

/// The storage driver.
#[derive(Debug)]
pub struct Storage {
    dirs: StorageDirs,
    pools: Mutex<Vec<Pool>>,
}

/// `virConnectListAllStoragePools` filter groups.
pub fn list_matches(p: &Pool, flags: u32) -> bool {
    use remote_protocol::procs::storage::pool_list_flags as F;
    let group = |yes: u32, no: u32, val: bool| {
        flags & (yes | no) == 0 || (val && flags & yes != 0) || (!val && flags & no != 0)
    };
    group(F::ACTIVE, F::INACTIVE, p.active)
        && group(F::PERSISTENT, F::TRANSIENT, p.persistent)
        && group(F::AUTOSTART, F::NO_AUTOSTART, p.autostart)
        && (flags & F::TYPES == 0 || flags & F::DIR != 0)
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

impl Storage {
    /// Loads the definitions and state files, marks running pools whose
    /// directory is still there, and starts the autostart ones. Files that do
    /// not load are logged and kept.
    pub fn load(dirs: StorageDirs) -> std::result::Result<Self, std::io::Error> {
        // The first start of the driver on this root makes the default pool;
        // once undefined, it stays so.
        let first = !dirs.config.exists();
        for d in [&dirs.config, &dirs.autostart, &dirs.state] {
            fs::create_dir_all(d)?;
        }
        let mut pools: Vec<Pool> = Vec::new();
        for (path, def) in read_defs(&dirs.config) {
            if path != dirs.config.join(format!("{}.xml", def.name)) {
                tracing::error!(
                    "{}: holds pool '{}', not loaded (file kept)",
                    path.display(),
                    def.name
                );
                continue;
            }
            let autostart = store::is_autostart(&dirs.autostart.join(format!("{}.xml", def.name)));
            pools.push(Pool {
                def,
                persistent: true,
                active: false,
                autostart,
            });
        }
        for (path, def) in read_defs(&dirs.state) {
            let running = Path::new(&def.target).is_dir();
            match pools.iter_mut().find(|p| p.def.name == def.name) {
                Some(p) if running => {
                    // The running definition is the one the pool was started with.
                    p.def = def;
                    p.active = true;
                }
                None if running => pools.push(Pool {
                    def,
                    persistent: false,
                    active: true,
                    autostart: false,
                }),
                _ => {
                    tracing::warn!(
                        "{}: pool '{}' no longer has its directory; not running",
                        path.display(),
                        def.name
                    );
                    let _ = store::remove_if_exists(&path);
                }
            }
        }
        let s = Self {
            dirs,
            pools: Mutex::new(pools),
        };
        let auto: Vec<String> = s
            .all()
            .into_iter()
            .filter(|p| p.autostart && !p.active)
            .map(|p| p.def.name)
            .collect();
        for name in auto {
            if let Err(e) = s.start(&name, 0) {
                tracing::error!("autostart of storage pool '{name}' failed: {e}");
            }
        }
        if let Some(target) = s.dirs.default_pool.clone().filter(|_| first)
            && let Err(e) = s.make_default_pool(&target)
        {
            tracing::error!("default storage pool in {}: {e}", target.display());
        }
        Ok(s)
    }

    /// Defines, builds, starts and marks autostart the pool `default` on `target`.
    fn make_default_pool(&self, target: &Path) -> Result<()> {
        let def = format!(
            "<pool type='dir'><name>default</name><target><path>{}</path>\
             <permissions><mode>0711</mode></permissions></target></pool>",
            xml::esc(&target.to_string_lossy())
        );
        self.define(&def)?;
        self.start("default", 1)?;
        self.set_autostart("default", true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pool>> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config_file(&self, name: &str) -> PathBuf {
        self.dirs.config.join(format!("{name}.xml"))
    }

    fn state_file(&self, name: &str) -> PathBuf {
        self.dirs.state.join(format!("{name}.xml"))
    }

    fn autostart_link(&self, name: &str) -> PathBuf {
        self.dirs.autostart.join(format!("{name}.xml"))
    }

    /// Every pool, in definition order.
    pub fn all(&self) -> Vec<Pool> {
        self.lock().clone()
    }

    /// The pool named `name`.
    pub fn by_name(&self, name: &str) -> Result<Pool> {
        self.lock()
            .iter()
            .find(|p| p.def.name == name)
            .cloned()
            .ok_or_else(|| StorageError::NoPoolName(name.to_owned()))
    }

    /// The pool with `uuid`.
    pub fn by_uuid(&self, uuid: Uuid) -> Result<Pool> {
        self.lock()
            .iter()
            .find(|p| p.def.uuid == uuid)
            .cloned()
            .ok_or(StorageError::NoPoolUuid(uuid))
    }

    /// The pool whose target is `path`.
    pub fn by_target(&self, path: &str) -> Result<Pool> {
        let want = xml::sanitize_path(path);
        self.lock()
            .iter()
            .find(|p| p.def.target == want)
            .cloned()
            .ok_or_else(|| StorageError::NoPoolTarget(path.to_owned()))
    }

    /// Defines (or redefines, same name and UUID) a persistent pool.
    pub fn define(&self, xml_text: &str) -> Result<Pool> {
        let def = xml::parse_pool(xml_text, Uuid::new_v4)?;
        let mut pools = self.lock();
        let i = check_duplicate(&pools, &def)?;
        let text = xml::pool_xml(&def, PoolSizes::default(), None);
        store::atomic_write(&self.config_file(&def.name), text.as_bytes())?;
        let p = match i {
            Some(i) => {
                let p = &mut pools[i];
                p.persistent = true;
                // A running pool keeps the definition it runs with until stopped;
                // the new one is in its config file and is read at the next load.
                if !p.active {
                    p.def = def;
                }
                p.clone()
            }
            None => {
                let p = Pool {
                    def,
                    persistent: true,
                    active: false,
                    autostart: false,
                };
                pools.push(p.clone());
                p
            }
        };
        Ok(p)
    }

    /// Defines and starts a transient pool (`build`: make its directory first).
    pub fn create_transient(&self, xml_text: &str, build: bool) -> Result<Pool> {
        let def = xml::parse_pool(xml_text, Uuid::new_v4)?;
        let mut pools = self.lock();
        if let Some(i) = check_duplicate(&pools, &def)? {
            let p = &pools[i];
            return Err(if p.active {
                StorageError::AlreadyActive(p.def.name.clone())
            } else {
                StorageError::NameTaken {
                    name: p.def.name.clone(),
                    uuid: p.def.uuid,
                }
            });
        }
        if build {
            build_dir(&def)?;
        }
        let p = Pool {
            def,
            persistent: false,
            active: true,
            autostart: false,
        };
        self.activate(&p)?;
        pools.push(p.clone());
        Ok(p)
    }

    fn activate(&self, p: &Pool) -> Result<()> {
        let target = Path::new(&p.def.target);
        fs::read_dir(target).map_err(|source| StorageError::TargetDir {
            path: p.def.target.clone(),
            source,
        })?;
        let text = xml::pool_xml(&p.def, PoolSizes::default(), None);
        store::replace_file(&self.state_file(&p.def.name), text.as_bytes())?;
        Ok(())
    }

    fn with_pool<T>(&self, name: &str, f: impl FnOnce(&mut Pool) -> Result<T>) -> Result<T> {
        let mut pools = self.lock();
        let p = pools
            .iter_mut()
            .find(|p| p.def.name == name)
            .ok_or_else(|| StorageError::NoPoolName(name.to_owned()))?;
        f(p)
    }

    /// Starts a pool (`flags` bit 0, WITH_BUILD: make its directory first).
    pub fn start(&self, name: &str, flags: u32) -> Result<()> {
        self.with_pool(name, |p| {
            if p.active {
                return Err(StorageError::AlreadyActive(p.def.name.clone()));
            }
            if flags & 0b111 != 0 {
                build_dir(&p.def)?;
            }
            self.activate(p)?;
            p.active = true;
            Ok(())
        })
    }

    /// Makes the pool's directory (with its defined permissions).
    pub fn build(&self, name: &str) -> Result<()> {
        self.with_pool(name, |p| {
            if p.active {
                return Err(StorageError::StillActive(p.def.name.clone()));
            }
            build_dir(&p.def)
        })
    }

    /// Stops a pool; a transient one is gone after.
    pub fn destroy(&self, name: &str) -> Result<()> {
        let mut pools = self.lock();
        let i = pools
            .iter()
            .position(|p| p.def.name == name)
            .ok_or_else(|| StorageError::NoPoolName(name.to_owned()))?;
        if !pools[i].active {
            return Err(StorageError::NotActive(name.to_owned()));
        }
        store::remove_if_exists(&self.state_file(name))?;
        if pools[i].persistent {
            pools[i].active = false;
            // The definition saved last is the one the next start uses.
            if let Some((_, def)) = read_def(&self.config_file(name)) {
                pools[i].def = def;
            }
        } else {
            pools.remove(i);
        }
        Ok(())
    }

    /// Removes an inactive pool's (empty) directory.
    pub fn delete(&self, name: &str) -> Result<()> {
        self.with_pool(name, |p| {
            if p.active {
                return Err(StorageError::StillActive(p.def.name.clone()));
            }
            let t = Path::new(&p.def.target);
            fs::remove_dir(t).map_err(io("remove directory", t))
        })
    }

    /// Forgets an inactive persistent pool.
    pub fn undefine(&self, name: &str) -> Result<()> {
        let mut pools = self.lock();
        let i = pools
            .iter()
            .position(|p| p.def.name == name)
            .ok_or_else(|| StorageError::NoPoolName(name.to_owned()))?;
        let p = &pools[i];
        if p.active {
            return Err(StorageError::StillActive(name.to_owned()));
        }
        if !p.persistent {
            return Err(StorageError::TransientUndefine(name.to_owned()));
        }
        store::remove_if_exists(&self.autostart_link(name))?;
        store::remove_if_exists(&self.config_file(name))?;
        pools.remove(i);
        Ok(())
    }

    /// Marks a persistent pool for start with the daemon, or unmarks it.
    pub fn set_autostart(&self, name: &str, on: bool) -> Result<()> {
        self.with_pool(name, |p| {
            if !p.persistent {
                return Err(StorageError::TransientAutostart(p.def.name.clone()));
            }
            store::set_autostart(&self.autostart_link(name), on)?;
            p.autostart = on;
            Ok(())
        })
    }

    /// A running pool (else `NotActive`).
    pub fn active(&self, name: &str) -> Result<Pool> {
        let p = self.by_name(name)?;
        if !p.active {
            return Err(StorageError::NotActive(p.def.name));
        }
        Ok(p)
    }

    /// Checks that the running pool's directory can still be read (REFRESH).
    pub fn refresh(&self, name: &str) -> Result<()> {
        let p = self.active(name)?;
        volumes(&p).map(|_| ())
    }

    /// The volume `name` of the running pool `pool`.
    pub fn vol_by_name(&self, pool: &str, name: &str) -> Result<Vol> {
        let p = self.active(pool)?;
        volumes(&p)?
            .into_iter()
            .find(|v| v.name == name)
            .ok_or_else(|| StorageError::NoVolName(name.to_owned()))
    }

    /// The volume at `path` in any running pool; `key` says how the caller
    /// named it (the error message differs).
    pub fn vol_by_path(&self, path: &str, key: bool) -> Result<Vol> {
        let missing = || {
            if key {
                StorageError::NoVolKey(path.to_owned())
            } else {
                StorageError::NoVolPath(path.to_owned())
            }
        };
        let clean = xml::sanitize_path(path);
        let (dir, name) = clean.rsplit_once('/').ok_or_else(missing)?;
        let dir = if dir.is_empty() { "/" } else { dir };
        let canon_dir = fs::canonicalize(dir).ok();
        for p in self.all().into_iter().filter(|p| p.active) {
            let same = p.def.target == dir
                || (canon_dir.is_some() && fs::canonicalize(&p.def.target).ok() == canon_dir);
            if same && is_volume(&Path::new(&p.def.target).join(name)) {
                return Ok(vol_of(&p, name));
            }
        }
        Err(missing())
    }

    /// Sizes of a running pool's file system (zeros when inactive).
    pub fn sizes(&self, p: &Pool) -> PoolSizes {
        if !p.active {
            return PoolSizes::default();
        }
        match rustix::fs::statvfs(p.def.target.as_str()) {
            Ok(s) => PoolSizes {
                capacity: s.f_blocks.saturating_mul(s.f_frsize),
                allocation: s
                    .f_blocks
                    .saturating_sub(s.f_bfree)
                    .saturating_mul(s.f_frsize),
                available: s.f_bavail.saturating_mul(s.f_frsize),
            },
            Err(_) => PoolSizes::default(),
        }
    }

    /// The pool's XML; `inactive` (VIR_STORAGE_XML_INACTIVE) gives the
    /// definition without the running state.
    pub fn pool_xml(&self, p: &Pool, inactive: bool) -> String {
        if inactive || !p.active {
            return xml::pool_xml(&p.def, PoolSizes::default(), None);
        }
        let perms = fs::metadata(&p.def.target).ok().map(|m| Perms {
            mode: Some(m.mode() & 0o7777),
            owner: Some(i64::from(m.uid())),
            group: Some(i64::from(m.gid())),
            label: p.def.perms.as_ref().and_then(|d| d.label.clone()),
        });
        xml::pool_xml(&p.def, self.sizes(p), perms.as_ref())
    }
}

/// The definitions in `dir` (`*.xml`); unreadable ones are logged and skipped.
fn read_defs(dir: &Path) -> Vec<(PathBuf, PoolDef)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml") && p.is_file())
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| read_def(p)).collect()
}

fn read_def(path: &Path) -> Option<(PathBuf, PoolDef)> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{}: {e}; not loaded (file kept)", path.display());
            return None;
        }
    };
    match xml::parse_pool(&text, Uuid::new_v4) {
        Ok(def) => Some((path.to_path_buf(), def)),
        Err(e) => {
            tracing::error!("{}: {e}; not loaded (file kept)", path.display());
            None
        }
    }
}

/// Index of the pool `def` redefines, or the error libvirt gives for a
/// clash of name, UUID or target directory with another pool.
fn check_duplicate(pools: &[Pool], def: &PoolDef) -> Result<Option<usize>> {
    if let Some(i) = pools.iter().position(|p| p.def.name == def.name) {
        if pools[i].def.uuid != def.uuid {
            return Err(StorageError::NameTaken {
                name: def.name.clone(),
                uuid: pools[i].def.uuid,
            });
        }
        return Ok(Some(i));
    }
    if let Some(p) = pools.iter().find(|p| p.def.uuid == def.uuid) {
        return Err(StorageError::UuidTaken {
            name: p.def.name.clone(),
            uuid: p.def.uuid,
        });
    }
    if let Some(p) = pools.iter().find(|p| p.def.target == def.target) {
        return Err(StorageError::TargetConflict(p.def.name.clone()));
    }
    Ok(None)
}

/// Makes the target directory; the defined mode (default 0711, libvirt's)
/// and owner are applied.
fn build_dir(def: &PoolDef) -> Result<()> {
    let t = Path::new(&def.target);
    fs::create_dir_all(t).map_err(io("create directory", t))?;
    let perms = def.perms.clone().unwrap_or_default();
    let mode = perms.mode.unwrap_or(0o711);
    fs::set_permissions(t, fs::Permissions::from_mode(mode)).map_err(io("set mode of", t))?;
    let id = |v: Option<i64>| v.filter(|v| *v >= 0).and_then(|v| u32::try_from(v).ok());
    let (uid, gid) = (id(perms.owner), id(perms.group));
    if uid.is_some() || gid.is_some() {
        rustix::fs::chown(
            t,
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
        )
        .map_err(|e| io("change owner of", t)(e.into()))?;
    }
    Ok(())
}

fn is_volume(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn vol_of(p: &Pool, name: &str) -> Vol {
    Vol {
        pool: p.def.name.clone(),
        name: name.to_owned(),
        path: format!("{}/{}", p.def.target.trim_end_matches('/'), name),
    }
}

/// The running pool's volumes (its regular files), sorted by name.
pub fn volumes(p: &Pool) -> Result<Vec<Vol>> {
    let t = Path::new(&p.def.target);
    let rd = fs::read_dir(t).map_err(|source| StorageError::TargetDir {
        path: p.def.target.clone(),
        source,
    })?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| is_volume(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names.iter().map(|n| vol_of(p, n)).collect())
}

/// A volume's facts from its file.
pub fn vol_facts(v: &Vol) -> Result<VolFacts> {
    let path = Path::new(&v.path);
    probe::probe(path, &v.name)
        .map_err(io("read", path))?
        .ok_or_else(|| StorageError::NoVolPath(v.path.clone()))
}

#[cfg(test)]
mod tests;
