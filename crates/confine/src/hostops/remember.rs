//! libvirt's "remember the original label" protocol, shared by the DAC and SELinux
//! drivers: the `trusted.libvirt.security.{<driver>,ref_<driver>,timestamp_<driver>}`
//! extended attributes (see the [module documentation](super)).

use std::io;
use std::path::{Path, PathBuf};

use super::ops::{HostOps, is_errno, is_xattr_unsupported};

/// Errors of the remembered-label protocol.
#[derive(Debug, thiserror::Error)]
pub enum RememberError {
    #[error("cannot {step} XATTR {name} on '{path}': {source}")]
    Xattr {
        step: &'static str,
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("malformed refcount '{value}' in {name} on '{path}'")]
    MalformedRefcount {
        name: String,
        value: String,
        path: PathBuf,
    },
    #[error("remembered label missing in {name} on '{path}' although the refcount dropped to 0")]
    MissingLabel { name: String, path: PathBuf },
    #[error("unable to get host boot time: {0}")]
    BootTime(#[source] io::Error),
}

/// `trusted.libvirt.security.<driver>`.
pub fn label_attr(driver: &str) -> String {
    format!("trusted.libvirt.security.{driver}")
}

/// `trusted.libvirt.security.ref_<driver>`.
pub fn ref_attr(driver: &str) -> String {
    format!("trusted.libvirt.security.ref_{driver}")
}

/// `trusted.libvirt.security.timestamp_<driver>`.
pub fn timestamp_attr(driver: &str) -> String {
    format!("trusted.libvirt.security.timestamp_{driver}")
}

/// Result of [`remember_label`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remembered {
    /// The file system has no xattrs: nothing was recorded (not an error).
    Unsupported,
    /// The new reference count (1: this call recorded the label).
    Count(u32),
}

/// Result of [`recall_label`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recalled {
    /// Nothing remembered (no xattrs, stale xattrs, or no xattr support).
    NotRemembered,
    /// Others still use the file: the count was decremented to this, leave it alone.
    InUse(u32),
    /// Last user gone: restore this label. The xattrs were removed.
    Restore(String),
}

fn xerr(step: &'static str, name: &str, path: &Path, source: io::Error) -> RememberError {
    RememberError::Xattr {
        step,
        name: name.to_owned(),
        path: path.to_path_buf(),
        source,
    }
}

/// Get an xattr as text; `Ok(None)` when absent, `Err(None)` when unsupported.
fn get_text(
    ops: &dyn HostOps,
    path: &Path,
    name: &str,
) -> Result<Option<String>, Option<RememberError>> {
    match ops.get_xattr(path, name) {
        Ok(v) => Ok(v.map(|v| {
            let s = String::from_utf8_lossy(&v).into_owned();
            s.trim_end_matches('\0').to_owned()
        })),
        Err(e) if is_xattr_unsupported(&e) => Err(None),
        Err(e) => Err(Some(xerr("get", name, path, e))),
    }
}

fn remove_if_present(ops: &dyn HostOps, path: &Path, name: &str) -> Result<(), RememberError> {
    match ops.remove_xattr(path, name) {
        Ok(()) => Ok(()),
        // Absent, or a file system without xattrs (hugetlbfs): nothing to remove.
        Err(e) if is_errno(&e, libc::ENODATA) || is_xattr_unsupported(&e) => Ok(()),
        Err(e) => Err(xerr("remove", name, path, e)),
    }
}

/// Remove all three attributes of `driver` from `path` (absent ones are fine).
pub fn forget_label(ops: &dyn HostOps, driver: &str, path: &Path) -> Result<(), RememberError> {
    for name in [ref_attr(driver), label_attr(driver), timestamp_attr(driver)] {
        remove_if_present(ops, path, &name)?;
    }
    Ok(())
}

/// `Ok(true)`: timestamp matches this boot. `Ok(false)`: stale (the attributes were
/// removed).
fn validate_timestamp(ops: &dyn HostOps, driver: &str, path: &Path) -> Result<bool, RememberError> {
    let now = ops
        .boot_time()
        .map_err(RememberError::BootTime)?
        .to_string();
    let name = timestamp_attr(driver);
    let value = match get_text(ops, path, &name) {
        Ok(v) => v,
        Err(None) => None,
        Err(Some(e)) => return Err(e),
    };
    if value.as_deref() == Some(now.as_str()) {
        return Ok(true);
    }
    forget_label(ops, driver, path)?;
    Ok(false)
}

fn parse_count(name: &str, value: &str, path: &Path) -> Result<u32, RememberError> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| RememberError::MalformedRefcount {
            name: name.to_owned(),
            value: value.to_owned(),
            path: path.to_path_buf(),
        })
}

/// Record `label` as the original label of `path` for `driver` if this is the first
/// user (count 0 → 1, label and boot timestamp written), otherwise only increment the
/// count. Stale attributes (timestamp of another boot, or missing) are dropped first.
pub fn remember_label(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
    label: &str,
) -> Result<Remembered, RememberError> {
    let ref_name = ref_attr(driver);
    let mut current = match get_text(ops, path, &ref_name) {
        Ok(v) => v,
        Err(None) => return Ok(Remembered::Unsupported),
        Err(Some(e)) => return Err(e),
    };
    if current.is_some() && !validate_timestamp(ops, driver, path)? {
        current = None;
    }
    let count = match current {
        Some(v) => parse_count(&ref_name, &v, path)?,
        None => 0,
    };
    let count = count.saturating_add(1);
    if count == 1 {
        let name = label_attr(driver);
        ops.set_xattr(path, &name, label.as_bytes())
            .map_err(|e| xerr("set", &name, path, e))?;
        let ts_name = timestamp_attr(driver);
        let ts = ops
            .boot_time()
            .map_err(RememberError::BootTime)?
            .to_string();
        ops.set_xattr(path, &ts_name, ts.as_bytes())
            .map_err(|e| xerr("set", &ts_name, path, e))?;
    }
    ops.set_xattr(path, &ref_name, count.to_string().as_bytes())
        .map_err(|e| xerr("set", &ref_name, path, e))?;
    Ok(Remembered::Count(count))
}

/// Drop one reference on `path`. At 0 the remembered label is returned and all three
/// attributes are removed.
pub fn recall_label(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
) -> Result<Recalled, RememberError> {
    let ref_name = ref_attr(driver);
    let current = match get_text(ops, path, &ref_name) {
        Ok(Some(v)) => v,
        Ok(None) | Err(None) => return Ok(Recalled::NotRemembered),
        Err(Some(e)) => return Err(e),
    };
    if !validate_timestamp(ops, driver, path)? {
        return Ok(Recalled::NotRemembered);
    }
    let count = parse_count(&ref_name, &current, path)?.saturating_sub(1);
    if count > 0 {
        ops.set_xattr(path, &ref_name, count.to_string().as_bytes())
            .map_err(|e| xerr("set", &ref_name, path, e))?;
        return Ok(Recalled::InUse(count));
    }
    remove_if_present(ops, path, &ref_name)?;
    let name = label_attr(driver);
    let label = match get_text(ops, path, &name) {
        Ok(Some(v)) => v,
        Ok(None) | Err(None) => {
            return Err(RememberError::MissingLabel {
                name,
                path: path.to_path_buf(),
            });
        }
        Err(Some(e)) => return Err(e),
    };
    remove_if_present(ops, path, &name)?;
    remove_if_present(ops, path, &timestamp_attr(driver))?;
    Ok(Recalled::Restore(label))
}

/// The remembered label of `path` for `driver`, read without changing anything:
/// `None` when nothing valid is remembered (no attributes, no xattr support, a
/// timestamp of another boot, or no reference left).
pub fn peek_label(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
) -> Result<Option<String>, RememberError> {
    Ok(peek(ops, driver, path)?.map(|(label, _)| label))
}

/// How many users the remembered label of `path` has (0: nothing valid
/// remembered), read without changing anything.
pub fn peek_count(ops: &dyn HostOps, driver: &str, path: &Path) -> Result<u32, RememberError> {
    Ok(peek(ops, driver, path)?.map_or(0, |(_, n)| n))
}

fn peek(
    ops: &dyn HostOps,
    driver: &str,
    path: &Path,
) -> Result<Option<(String, u32)>, RememberError> {
    let text = |name: &str| match get_text(ops, path, name) {
        Ok(v) => Ok(v),
        Err(None) => Ok(None),
        Err(Some(e)) => Err(e),
    };
    let ref_name = ref_attr(driver);
    let Some(count) = text(&ref_name)? else {
        return Ok(None);
    };
    let count = parse_count(&ref_name, &count, path)?;
    if count == 0 {
        return Ok(None);
    }
    let now = ops
        .boot_time()
        .map_err(RememberError::BootTime)?
        .to_string();
    if text(&timestamp_attr(driver))?.as_deref() != Some(now.as_str()) {
        return Ok(None);
    }
    Ok(text(&label_attr(driver))?.map(|l| (l, count)))
}
