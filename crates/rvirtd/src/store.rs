//! Persistent state on disk: atomic writes, the definitions directory, autostart links.
//! A definition file that cannot be read is reported and left alone, never deleted:
//! nothing the user gave is lost.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::stored::StoredDef;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write '{path}': {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read '{path}': {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{path}': {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot remove '{path}': {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A temp file name no other write of this process uses at the same time: two
/// writers of one file (concurrent defines of one domain) must not rename each
/// other's temp file away.
fn temp_name(file_name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(".{file_name}.tmp{}-{n}", std::process::id())
}

/// Writes `data` to `path` so that a crash leaves either the old or the new file:
/// temp file in the same directory, fsync, rename, fsync of the directory.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(temp_name(&file_name));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Replaces `path` with `data` so that a crash of the daemon leaves either the old
/// or the new file (temp file + rename), without `fsync`: for run-time state
/// (status files, start journals) that only has to survive the daemon, not the
/// host — after a host crash no QEMU of it is left.
pub fn replace_file(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(temp_name(&file_name));
    let result = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// One loaded definition file.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    /// As the registry keeps it (made here, so loading in parallel does it too).
    pub domain: StoredDef,
    pub warnings: Vec<String>,
}

/// Reads every `*.xml` in `dir`. Files that fail to parse come back as errors next to
/// the good ones; leftover temp files of an interrupted write are ignored.
pub fn load_dir(dir: &Path) -> (Vec<Loaded>, Vec<StoreError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (ok, errors),
        Err(source) => {
            errors.push(StoreError::Read {
                path: dir.to_path_buf(),
                source,
            });
            return (ok, errors);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "xml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.is_file()
        })
        .collect();
    paths.sort();
    // Parsing dominates a daemon start with many definitions: spread it over the
    // cores (order is kept).
    let threads = std::thread::available_parallelism()
        .map(|n| n.get().min(8))
        .unwrap_or(1);
    let chunk = paths.len().div_ceil(threads).max(64);
    let results: Vec<Vec<Result<Loaded, StoreError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|p| load_file(p)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for r in results.into_iter().flatten() {
        match r {
            Ok(l) => ok.push(l),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

pub fn load_file(path: &Path) -> Result<Loaded, StoreError> {
    let text = fs::read_to_string(path).map_err(|source| StoreError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = domain_xml::parse_domain(&text).map_err(|e| StoreError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        domain: StoredDef::new(&parsed.value),
        warnings: parsed.warnings.iter().map(ToString::to_string).collect(),
    })
}

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Marks a domain for autostart with a relative symlink `autostart/NAME.xml -> ../NAME.xml`
/// (libvirt's layout), or removes the mark.
pub fn set_autostart(autostart_link: &Path, enabled: bool) -> Result<(), StoreError> {
    if !enabled {
        return remove_if_exists(autostart_link);
    }
    if autostart_link.symlink_metadata().is_ok() {
        return Ok(());
    }
    let target = Path::new("..").join(autostart_link.file_name().unwrap_or_default());
    std::os::unix::fs::symlink(&target, autostart_link).map_err(|source| StoreError::Write {
        path: autostart_link.to_path_buf(),
        source,
    })
}

pub fn is_autostart(autostart_link: &Path) -> bool {
    autostart_link.symlink_metadata().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<domain type='kvm'><name>NAME</name><memory>1024</memory><os><type>hvm</type></os></domain>";

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.xml");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn load_dir_reports_bad_files_and_keeps_them() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("good.xml"), XML.replace("NAME", "good")).unwrap();
        fs::write(d.path().join("bad.xml"), "<domain type='kvm'>").unwrap();
        fs::write(d.path().join(".good.xml.tmp123"), "partial").unwrap();
        let (ok, errors) = load_dir(d.path());
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].domain.name, "good");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("bad.xml"), "{}", errors[0]);
        assert!(d.path().join("bad.xml").exists());
    }

    #[test]
    fn autostart_links() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("vm.xml");
        assert!(!is_autostart(&link));
        set_autostart(&link, true).unwrap();
        set_autostart(&link, true).unwrap();
        assert!(is_autostart(&link));
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("../vm.xml"));
        set_autostart(&link, false).unwrap();
        assert!(!is_autostart(&link));
    }
}
