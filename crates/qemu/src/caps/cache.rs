//! On-disk cache of probed capabilities.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::probe::{Prober, QemuProber};
use super::{Capabilities, CapsError};

/// Bumped whenever the cached JSON or the probe's derivations change
/// meaning; older entries are then re-probed.
pub const CACHE_FORMAT_VERSION: u32 = 3;

/// What a cache entry is valid for. Any difference re-probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    format: u32,
    /// Our own version: a newer rvirt may derive more from a probe.
    crate_version: String,
    emulator: PathBuf,
    size: u64,
    inode: u64,
    mtime: (i64, i64),
    /// mtimes of QEMU module directories (device/accel/display modules are
    /// loadable `.so` files; installing one changes what QEMU supports).
    modules: Vec<(PathBuf, Option<(i64, i64)>)>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    caps: Capabilities,
}

/// Capability cache in a directory given by the caller, e.g.
/// `<root>/var/cache/rvirt/qemu/capabilities`. One JSON file per emulator
/// path, replaced atomically (temp file, fsync, rename, fsync directory).
#[derive(Debug, Clone)]
pub struct CapsCache {
    dir: PathBuf,
    module_dirs: Vec<PathBuf>,
}

/// FNV-1a: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn default_module_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from(format!(
            "/usr/lib/{}-linux-gnu/qemu",
            std::env::consts::ARCH
        )),
        PathBuf::from("/usr/lib64/qemu"),
        PathBuf::from("/usr/lib/qemu"),
    ]
}

impl CapsCache {
    /// A cache in `dir` (created on first store). QEMU module directories
    /// default to the usual distribution locations.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            module_dirs: default_module_dirs(),
        }
    }

    /// Replaces the module directories whose mtimes are part of the key.
    #[must_use]
    pub fn with_module_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.module_dirs = dirs;
        self
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for `emulator`.
    pub fn path_for(&self, emulator: &Path) -> PathBuf {
        self.dir.join(format!(
            "{:016x}.json",
            fnv1a64(emulator.as_os_str().as_bytes())
        ))
    }

    fn stamp(&self, emulator: &Path) -> Result<Stamp, CapsError> {
        let md = fs::metadata(emulator).map_err(|source| CapsError::Emulator {
            path: emulator.to_owned(),
            source,
        })?;
        Ok(Stamp {
            format: CACHE_FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            emulator: emulator.to_owned(),
            size: md.size(),
            inode: md.ino(),
            mtime: (md.mtime(), md.mtime_nsec()),
            modules: self
                .module_dirs
                .iter()
                .map(|d| {
                    let m = fs::metadata(d).ok().map(|m| (m.mtime(), m.mtime_nsec()));
                    (d.clone(), m)
                })
                .collect(),
        })
    }

    fn read(&self, emulator: &Path, stamp: &Stamp) -> Result<Option<Capabilities>, CapsError> {
        let path = self.path_for(emulator);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CapsError::Cache { path, source }),
        };
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) if entry.stamp == *stamp => Ok(Some(entry.caps)),
            Ok(_) => {
                tracing::debug!(emulator = %emulator.display(), "capability cache entry is stale");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "unreadable capability cache entry ignored");
                Ok(None)
            }
        }
    }

    /// Cached capabilities of `emulator` if still valid. Never starts QEMU:
    /// costs one `stat` of the emulator (and module directories) plus reading
    /// one JSON file.
    pub fn lookup(&self, emulator: &Path) -> Result<Option<Capabilities>, CapsError> {
        let stamp = self.stamp(emulator)?;
        self.read(emulator, &stamp)
    }

    /// Cached capabilities, probing the emulator with [`QemuProber`] on a
    /// miss.
    pub async fn get(&self, emulator: &Path) -> Result<Capabilities, CapsError> {
        self.get_with(emulator, &QemuProber::default()).await
    }

    /// Cached capabilities, probing with `prober` on a miss and storing the
    /// result. A failure to store is logged, not returned: the probe result
    /// is still good.
    pub async fn get_with<P: Prober>(
        &self,
        emulator: &Path,
        prober: &P,
    ) -> Result<Capabilities, CapsError> {
        let stamp = self.stamp(emulator)?;
        match self.read(emulator, &stamp) {
            Ok(Some(caps)) => return Ok(caps),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "capability cache unreadable; probing"),
        }
        let caps = prober.probe(emulator).await?;
        // Don't cache a result if the binary changed while we probed it.
        if self.stamp(emulator)? == stamp
            && let Err(e) = self.store(&stamp, &caps)
        {
            tracing::warn!(error = %e, "cannot store capability cache entry");
        }
        Ok(caps)
    }

    /// Removes the entry of `emulator`, if any.
    pub fn invalidate(&self, emulator: &Path) -> Result<(), CapsError> {
        let path = self.path_for(emulator);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CapsError::Cache { path, source }),
        }
    }

    fn store(&self, stamp: &Stamp, caps: &Capabilities) -> Result<(), CapsError> {
        let dir_err = |source| CapsError::Cache {
            path: self.dir.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(dir_err)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".caps-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(dir_err)?;
        let entry = EntryRef { stamp, caps };
        {
            let mut w = BufWriter::new(tmp.as_file_mut());
            serde_json::to_writer(&mut w, &entry).map_err(|e| dir_err(io::Error::other(e)))?;
            w.flush().map_err(dir_err)?;
        }
        tmp.as_file().sync_all().map_err(dir_err)?;
        let path = self.path_for(&stamp.emulator);
        tmp.persist(&path).map_err(|e| CapsError::Cache {
            path: path.clone(),
            source: e.error,
        })?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(dir_err)?;
        Ok(())
    }
}

#[derive(Serialize)]
struct EntryRef<'a> {
    stamp: &'a Stamp,
    caps: &'a Capabilities,
}
