//! Applying file labels through [`HostOps`] with the original label remembered, and
//! the exec label of QEMU.

use std::path::Path;

use super::error::SelinuxError;
use crate::dac::errno_text;
use crate::hostops::{self, HostOps, Recalled, RememberError, Remembered};

/// The driver name in the remembered-label xattrs.
pub const DRIVER: &str = "selinux";
/// The file label attribute.
pub const XATTR: &str = "security.selinux";
/// Where a process sets the context of its next `execve`.
pub const EXEC_ATTR: &str = "/proc/thread-self/attr/exec";

/// What a label operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelOutcome {
    Set(String),
    /// The file system does not support labels (`EOPNOTSUPP`, `EROFS`), or SELinux is
    /// permissive and the change was refused: logged, not an error.
    NotChanged {
        label: String,
        reason: String,
    },
    /// Restore: others still use the file.
    StillInUse {
        remaining: u32,
    },
    /// Restore: no remembered label and no policy lookup available; left as is.
    NoDefault,
}

/// Applies file labels through [`HostOps`].
#[derive(Debug)]
pub struct SelinuxDriver<O: HostOps> {
    pub ops: O,
    /// `/sys/fs/selinux/enforce` is 1: refusals are errors.
    pub enforcing: bool,
    /// qemu.conf `remember_owner`.
    pub remember_owner: bool,
}

fn label_bytes(label: &str) -> Vec<u8> {
    let mut v = label.as_bytes().to_vec();
    v.push(0);
    v
}

impl<O: HostOps> SelinuxDriver<O> {
    pub fn new(ops: O, enforcing: bool) -> Self {
        SelinuxDriver {
            ops,
            enforcing,
            remember_owner: true,
        }
    }

    /// The current label of `path` (`None` when it has none or labels are unsupported).
    pub fn file_label(&self, path: &Path) -> Result<Option<String>, SelinuxError> {
        match self.ops.get_xattr(path, XATTR) {
            Ok(v) => Ok(v.map(|v| {
                String::from_utf8_lossy(&v)
                    .trim_end_matches('\0')
                    .to_owned()
            })),
            Err(e) if hostops::is_xattr_unsupported(&e) => Ok(None),
            Err(source) => Err(SelinuxError::GetLabel {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn remember_err(path: &Path, source: RememberError) -> SelinuxError {
        SelinuxError::Remember {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }

    /// Label `path`; with `remember`, record its current label first (refcounted).
    pub fn set_file_label(
        &self,
        path: &Path,
        label: &str,
        remember: bool,
    ) -> Result<LabelOutcome, SelinuxError> {
        let remember = remember && self.remember_owner;
        let mut remembered = false;
        if remember && let Some(current) = self.file_label(path)? {
            match hostops::remember_label(&self.ops, DRIVER, path, &current)
                .map_err(|e| Self::remember_err(path, e))?
            {
                Remembered::Unsupported => {}
                Remembered::Count(n) => {
                    remembered = true;
                    if n > 1 && current != label {
                        let _ = hostops::recall_label(&self.ops, DRIVER, path);
                        return Err(SelinuxError::InUse {
                            path: path.to_path_buf(),
                            label: label.to_owned(),
                            current,
                        });
                    }
                }
            }
        }
        match self.apply(path, label) {
            Ok(LabelOutcome::Set(l)) => Ok(LabelOutcome::Set(l)),
            other => {
                // Not changed (or failed): leave the xattrs as they were.
                if remembered {
                    let _ = hostops::recall_label(&self.ops, DRIVER, path);
                }
                other
            }
        }
    }

    fn apply(&self, path: &Path, label: &str) -> Result<LabelOutcome, SelinuxError> {
        match self.ops.set_xattr(path, XATTR, &label_bytes(label)) {
            Ok(()) => Ok(LabelOutcome::Set(label.to_owned())),
            Err(e)
                if hostops::is_xattr_unsupported(&e) || e.raw_os_error() == Some(libc::EROFS) =>
            {
                Ok(LabelOutcome::NotChanged {
                    label: label.to_owned(),
                    reason: errno_text(&e),
                })
            }
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) && !self.enforcing => {
                Ok(LabelOutcome::NotChanged {
                    label: label.to_owned(),
                    reason: errno_text(&e),
                })
            }
            Err(source) => Err(SelinuxError::SetLabel {
                label: label.to_owned(),
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Give `path` its remembered label back when the last user goes.
    pub fn restore_file_label(
        &self,
        path: &Path,
        recall: bool,
    ) -> Result<LabelOutcome, SelinuxError> {
        if !(recall && self.remember_owner) {
            return Ok(LabelOutcome::NoDefault);
        }
        match hostops::recall_label(&self.ops, DRIVER, path)
            .map_err(|e| Self::remember_err(path, e))?
        {
            Recalled::NotRemembered => Ok(LabelOutcome::NoDefault),
            Recalled::InUse(remaining) => Ok(LabelOutcome::StillInUse { remaining }),
            Recalled::Restore(label) => self.apply(path, &label),
        }
    }
}

/// Set the context of the next `execve` of the calling thread (the launcher, just
/// before exec'ing QEMU).
pub fn set_exec_label(label: &str) -> Result<(), SelinuxError> {
    set_exec_label_with(&hostops::RealHostOps, label)
}

/// [`set_exec_label`] through `ops`.
pub fn set_exec_label_with(ops: &dyn HostOps, label: &str) -> Result<(), SelinuxError> {
    ops.write_file(Path::new(EXEC_ATTR), &label_bytes(label))
        .map_err(|source| SelinuxError::ExecLabel {
            label: label.to_owned(),
            hint: match source.raw_os_error() {
                Some(libc::EINVAL | libc::ENOENT | libc::EOPNOTSUPP) => {
                    " (is SELinux enabled on this host?)"
                }
                _ => "",
            },
            source,
        })
}
