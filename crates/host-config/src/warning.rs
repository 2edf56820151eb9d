//! Non-fatal findings: things libvirt silently accepts, which rvirt accepts
//! too but reports so an administrator can notice a typo or a leftover.

use std::fmt;

/// A non-fatal problem at a line of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The source name the file was parsed under.
    pub file: String,
    /// 1-based line of the statement the warning is about.
    pub line: u32,
    pub kind: WarningKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// The key was already set earlier in the file; the earlier setting is
    /// the one in force.
    DuplicateKey { key: String, first_line: u32 },
    /// rvirt does not use this key (a typo, or a libvirt setting rvirt
    /// does not implement).
    UnknownKey { key: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning { file, line, kind } = self;
        match kind {
            WarningKind::DuplicateKey { key, first_line } => write!(
                f,
                "{file}:{line}: '{key}' is already set on line {first_line}; \
                 this later setting is ignored"
            ),
            WarningKind::UnknownKey { key } => write!(
                f,
                "{file}:{line}: unknown key '{key}' is ignored (rvirt does not use it)"
            ),
        }
    }
}
