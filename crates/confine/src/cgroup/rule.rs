//! Device ACL rules and their cgroup v1 text form (`c 136:* rw`).

use std::fmt;
use std::str::FromStr;

use super::error::CgroupError;

/// Which device nodes a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    Char,
    Block,
    /// Both character and block devices (`a` in v1 syntax).
    All,
}

impl DeviceKind {
    /// The v1 letter: `c`, `b` or `a`.
    pub fn letter(self) -> char {
        match self {
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
            DeviceKind::All => 'a',
        }
    }
}

impl From<crate::spec::NodeKind> for DeviceKind {
    fn from(k: crate::spec::NodeKind) -> Self {
        match k {
            crate::spec::NodeKind::Char => DeviceKind::Char,
            crate::spec::NodeKind::Block => DeviceKind::Block,
        }
    }
}

/// One allow (or deny) entry: a device type, major and minor (`None` = any), and the
/// access (read, write, mknod).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceRule {
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

impl DeviceRule {
    /// `kind major:minor rw` (no mknod) — what libvirt grants for ACL entries.
    pub fn rw(kind: DeviceKind, major: Option<u32>, minor: Option<u32>) -> Self {
        DeviceRule {
            kind,
            major,
            minor,
            read: true,
            write: true,
            mknod: false,
        }
    }

    /// `c major:minor rw`.
    pub fn char_rw(major: u32, minor: u32) -> Self {
        Self::rw(DeviceKind::Char, Some(major), Some(minor))
    }

    /// The permission letters in v1 order (`rwm`); empty when none are set.
    pub fn perms(&self) -> String {
        let mut s = String::new();
        if self.read {
            s.push('r');
        }
        if self.write {
            s.push('w');
        }
        if self.mknod {
            s.push('m');
        }
        s
    }

    /// Whether the rule grants nothing.
    pub fn is_empty(&self) -> bool {
        !(self.read || self.write || self.mknod)
    }

    /// The lines to write to v1 `devices.allow`/`devices.deny` for this rule. A v1 `a`
    /// line means "everything, all access" whatever follows it, so an `All` rule is
    /// written as one `c` and one `b` line to keep its numbers and access.
    pub fn v1_lines(&self) -> Vec<String> {
        match self.kind {
            DeviceKind::All => vec![
                DeviceRule {
                    kind: DeviceKind::Char,
                    ..*self
                }
                .to_string(),
                DeviceRule {
                    kind: DeviceKind::Block,
                    ..*self
                }
                .to_string(),
            ],
            _ => vec![self.to_string()],
        }
    }
}

fn fmt_num(n: Option<u32>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match n {
        Some(n) => write!(f, "{n}"),
        None => f.write_str("*"),
    }
}

/// libvirt's v1 format: `<type> <major>:<minor> <perms>`, `*` for any number.
impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.kind.letter())?;
        fmt_num(self.major, f)?;
        f.write_str(":")?;
        fmt_num(self.minor, f)?;
        write!(f, " {}", self.perms())
    }
}

/// Parses the v1 format (also what `devices.list` shows). A bare `a` means
/// `a *:* rwm`.
impl FromStr for DeviceRule {
    type Err = CgroupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CgroupError::InvalidRule(s.to_owned());
        let mut parts = s.split_whitespace();
        let kind = match parts.next().ok_or_else(bad)? {
            "c" => DeviceKind::Char,
            "b" => DeviceKind::Block,
            "a" => DeviceKind::All,
            _ => return Err(bad()),
        };
        let Some(nums) = parts.next() else {
            return if kind == DeviceKind::All {
                Ok(DeviceRule {
                    kind,
                    major: None,
                    minor: None,
                    read: true,
                    write: true,
                    mknod: true,
                })
            } else {
                Err(bad())
            };
        };
        let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
        let num = |t: &str| -> Result<Option<u32>, CgroupError> {
            if t == "*" {
                Ok(None)
            } else {
                t.parse().map(Some).map_err(|_| bad())
            }
        };
        let (major, minor) = (num(maj)?, num(min)?);
        let perms = parts.next().unwrap_or("");
        if parts.next().is_some() || !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(bad());
        }
        Ok(DeviceRule {
            kind,
            major,
            minor,
            read: perms.contains('r'),
            write: perms.contains('w'),
            mknod: perms.contains('m'),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_libvirt_v1_format() {
        assert_eq!(
            DeviceRule::rw(DeviceKind::Char, Some(136), None).to_string(),
            "c 136:* rw"
        );
        assert_eq!(DeviceRule::char_rw(10, 232).to_string(), "c 10:232 rw");
        let r = DeviceRule {
            kind: DeviceKind::Block,
            major: Some(8),
            minor: Some(0),
            read: true,
            write: false,
            mknod: true,
        };
        assert_eq!(r.to_string(), "b 8:0 rm");
        let all = DeviceRule {
            kind: DeviceKind::All,
            major: None,
            minor: None,
            read: true,
            write: true,
            mknod: true,
        };
        assert_eq!(all.to_string(), "a *:* rwm");
    }

    #[test]
    fn parse_round_trip_and_errors() {
        for s in ["c 136:* rw", "b 8:16 r", "a *:* rwm", "c *:* m", "b 7:* w"] {
            let r: DeviceRule = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        let a: DeviceRule = "a".parse().unwrap();
        assert_eq!(a.to_string(), "a *:* rwm");
        for s in [
            "",
            "x 1:2 rw",
            "c 1 rw",
            "c 1:2 rx",
            "c a:2 r",
            "c 1:2 r extra",
        ] {
            assert!(s.parse::<DeviceRule>().is_err(), "{s:?} should not parse");
        }
    }

    #[test]
    fn all_kind_expands_to_char_and_block_lines_for_v1() {
        let r = DeviceRule::rw(DeviceKind::All, Some(1), None);
        assert_eq!(r.v1_lines(), vec!["c 1:* rw", "b 1:* rw"]);
        assert_eq!(DeviceRule::char_rw(1, 3).v1_lines(), vec!["c 1:3 rw"]);
    }
}
