//! The qemu.conf keys rvirt honours, turned from the generic tree into a
//! typed [`HostConfig`].

use std::io;
use std::path::{Path, PathBuf};

use crate::grammar::{self, Config, Entry, SyntaxError, Value};
use crate::settings::{
    CgroupController, DeprecationBehavior, HugetlbfsMount, IdSpec, IdSpecError, Namespace,
    SeccompSandbox, SecurityDriver, SecurityDrivers,
};
use crate::warning::{Warning, WarningKind};

/// Every key [`HostConfig`] reads; anything else draws a warning.
pub const KNOWN_KEYS: &[&str] = &[
    "user",
    "group",
    "dynamic_ownership",
    "remember_owner",
    "security_driver",
    "security_default_confined",
    "security_require_confined",
    "namespaces",
    "seccomp_sandbox",
    "cgroup_controllers",
    "cgroup_device_acl",
    "hugetlbfs_mount",
    "memory_backing_dir",
    "deprecation_behavior",
    "log_timestamp",
    "landlock",
];

/// The account rvirt runs QEMU as when `user` / `group` are unset.
pub const DEFAULT_USER: &str = "rvirt-qemu";

/// Device nodes every guest may open when `cgroup_device_acl` is unset.
pub const DEFAULT_DEVICE_ACL: &[&str] = &[
    "/dev/null",
    "/dev/full",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/dev/ptmx",
    "/dev/kvm",
];

/// The host-wide settings for the QEMU driver, one field per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    pub user: IdSpec,
    pub group: IdSpec,
    /// Whether rvirt chowns/relabels guest resources to `user`/`group`.
    pub dynamic_ownership: bool,
    /// Whether original owners are recorded so they can be restored.
    pub remember_owner: bool,
    pub security_driver: SecurityDrivers,
    pub security_default_confined: bool,
    pub security_require_confined: bool,
    /// Empty means no namespaces.
    pub namespaces: Vec<Namespace>,
    pub seccomp_sandbox: SeccompSandbox,
    /// Without duplicates, in the order first given.
    pub cgroup_controllers: Vec<CgroupController>,
    /// Absolute paths.
    pub cgroup_device_acl: Vec<PathBuf>,
    pub hugetlbfs_mount: HugetlbfsMount,
    /// `None` leaves the choice to the driver.
    pub memory_backing_dir: Option<PathBuf>,
    pub deprecation_behavior: DeprecationBehavior,
    pub log_timestamp: bool,
    /// rvirt's own key, not libvirt's: confine the QEMU process with
    /// Landlock where the kernel supports it.
    pub landlock: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            user: IdSpec::Name(DEFAULT_USER.to_owned()),
            group: IdSpec::Name(DEFAULT_USER.to_owned()),
            dynamic_ownership: true,
            remember_owner: true,
            security_driver: SecurityDrivers::Auto,
            security_default_confined: true,
            security_require_confined: false,
            namespaces: vec![Namespace::Mount],
            seccomp_sandbox: SeccompSandbox::Enabled,
            cgroup_controllers: CgroupController::DEFAULTS.to_vec(),
            cgroup_device_acl: DEFAULT_DEVICE_ACL.iter().map(PathBuf::from).collect(),
            hugetlbfs_mount: HugetlbfsMount::AutoDetect,
            memory_backing_dir: None,
            deprecation_behavior: DeprecationBehavior::None,
            log_timestamp: true,
            landlock: true,
        }
    }
}

/// Why a config file could not be turned into a [`HostConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{file}:{line}: the file is not valid UTF-8")]
    NotUtf8 { file: String, line: u32 },
    #[error("{file}:{line}: '{key}' must be {expected}")]
    WrongType {
        file: String,
        line: u32,
        key: String,
        expected: &'static str,
    },
    #[error("{file}:{line}: '{key}' has unknown {what} '{name}' (known: {known})")]
    UnknownName {
        file: String,
        line: u32,
        key: String,
        what: &'static str,
        name: String,
        known: &'static str,
    },
    #[error("{file}:{line}: '{key}' must hold absolute paths, but '{path}' is not one")]
    RelativePath {
        file: String,
        line: u32,
        key: String,
        path: String,
    },
    #[error("{file}:{line}: '{key}' is not a valid user or group: {reason}")]
    InvalidId {
        file: String,
        line: u32,
        key: String,
        reason: IdSpecError,
    },
    #[error("{file}:{line}: '{key}' names security driver '{name}' more than once")]
    DuplicateSecurityDriver {
        file: String,
        line: u32,
        key: String,
        name: String,
    },
    #[error("{file}:{line}: '{key}' cannot combine 'none' with other security drivers")]
    NoneWithOtherDrivers {
        file: String,
        line: u32,
        key: String,
    },
}

impl HostConfig {
    /// Parses qemu.conf text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<(HostConfig, Vec<Warning>), ConfigError> {
        let (config, mut warnings) = grammar::parse(text, source)?;
        let (host, more) = HostConfig::from_config(&config, source)?;
        warnings.extend(more);
        // Duplicates and unknown keys come from two passes; readers expect
        // file order.
        warnings.sort_by_key(|w| w.line);
        Ok((host, warnings))
    }

    /// Reads and parses `path`. A missing file means "all defaults", as it
    /// does for libvirt; any other read failure is an error.
    pub fn load(path: impl AsRef<Path>) -> Result<(HostConfig, Vec<Warning>), ConfigError> {
        let path = path.as_ref();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((HostConfig::default(), Vec::new()));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let source = path.display().to_string();
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            ConfigError::NotUtf8 {
                file: source.clone(),
                line: line_number(valid),
            }
        })?;
        HostConfig::parse(&text, &source)
    }

    /// Applies a parsed tree on top of the defaults. Keys are handled in
    /// file order so the first error reported is the earliest one.
    pub fn from_config(
        config: &Config,
        source: &str,
    ) -> Result<(HostConfig, Vec<Warning>), ConfigError> {
        let mut host = HostConfig::default();
        let mut warnings = Vec::new();
        for entry in &config.entries {
            let k = Key {
                file: source,
                entry,
            };
            match entry.name.as_str() {
                "user" => host.user = k.id()?,
                "group" => host.group = k.id()?,
                "dynamic_ownership" => host.dynamic_ownership = k.bool()?,
                "remember_owner" => host.remember_owner = k.bool()?,
                "security_driver" => host.security_driver = k.security_drivers()?,
                "security_default_confined" => host.security_default_confined = k.bool()?,
                "security_require_confined" => host.security_require_confined = k.bool()?,
                "namespaces" => {
                    host.namespaces =
                        k.named_list("namespace", Namespace::from_name, Namespace::KNOWN)?;
                }
                "seccomp_sandbox" => host.seccomp_sandbox = k.seccomp()?,
                "cgroup_controllers" => {
                    host.cgroup_controllers = k.named_list(
                        "cgroup controller",
                        CgroupController::from_name,
                        CgroupController::KNOWN,
                    )?;
                }
                "cgroup_device_acl" => {
                    host.cgroup_device_acl = k
                        .string_list()?
                        .into_iter()
                        .map(|p| k.absolute(p))
                        .collect::<Result<_, _>>()?;
                }
                "hugetlbfs_mount" => host.hugetlbfs_mount = k.hugetlbfs()?,
                "memory_backing_dir" => host.memory_backing_dir = Some(k.absolute(k.string()?)?),
                "deprecation_behavior" => {
                    let name = k.string()?;
                    host.deprecation_behavior =
                        DeprecationBehavior::from_name(name).ok_or_else(|| {
                            k.unknown("deprecation behavior", name, DeprecationBehavior::KNOWN)
                        })?;
                }
                "log_timestamp" => host.log_timestamp = k.bool()?,
                "landlock" => host.landlock = k.bool()?,
                _ => warnings.push(Warning {
                    file: source.to_owned(),
                    line: entry.line,
                    kind: WarningKind::UnknownKey {
                        key: entry.name.clone(),
                    },
                }),
            }
        }
        Ok((host, warnings))
    }

    /// Whether QEMU runs under its seccomp sandbox (`seccomp_sandbox` 1 or -1).
    pub fn sandbox_enabled(&self) -> bool {
        self.seccomp_sandbox.enabled()
    }
}

fn line_number(prefix: &[u8]) -> u32 {
    let newlines = prefix.iter().filter(|&&b| b == b'\n').count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

/// One entry being converted, carrying what every error message needs.
struct Key<'a> {
    file: &'a str,
    entry: &'a Entry,
}

impl<'a> Key<'a> {
    fn wrong_type(&self, expected: &'static str) -> ConfigError {
        ConfigError::WrongType {
            file: self.file.to_owned(),
            line: self.entry.line,
            key: self.entry.name.clone(),
            expected,
        }
    }

    fn unknown(&self, what: &'static str, name: &str, known: &'static str) -> ConfigError {
        ConfigError::UnknownName {
            file: self.file.to_owned(),
            line: self.entry.line,
            key: self.entry.name.clone(),
            what,
            name: name.to_owned(),
            known,
        }
    }

    /// libvirt's flags are unsigned 0/1; anything else, including `-0`, is
    /// rejected rather than guessed at.
    fn bool(&self) -> Result<bool, ConfigError> {
        match self.entry.value {
            Value::Unsigned(0) => Ok(false),
            Value::Unsigned(1) => Ok(true),
            _ => Err(self.wrong_type("0 or 1")),
        }
    }

    fn string(&self) -> Result<&'a str, ConfigError> {
        match &self.entry.value {
            Value::String(s) => Ok(s),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn string_list(&self) -> Result<Vec<&'a str>, ConfigError> {
        let Value::List(items) = &self.entry.value else {
            return Err(self.wrong_type("a list of strings"));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(self.wrong_type("a list of strings")),
            })
            .collect()
    }

    /// For keys that take either `"x"` or `["x", …]`.
    fn string_or_list(&self) -> Result<Vec<&'a str>, ConfigError> {
        const EXPECTED: &str = "a string or a list of strings";
        match &self.entry.value {
            Value::String(s) => Ok(vec![s.as_str()]),
            Value::List(_) => self.string_list().map_err(|_| self.wrong_type(EXPECTED)),
            _ => Err(self.wrong_type(EXPECTED)),
        }
    }

    fn absolute(&self, path: &str) -> Result<PathBuf, ConfigError> {
        // A NUL would cut the path short at the syscall boundary.
        if !path.starts_with('/') || path.contains('\0') {
            return Err(ConfigError::RelativePath {
                file: self.file.to_owned(),
                line: self.entry.line,
                key: self.entry.name.clone(),
                path: path.escape_debug().to_string(),
            });
        }
        Ok(PathBuf::from(path))
    }

    fn id(&self) -> Result<IdSpec, ConfigError> {
        IdSpec::parse(self.string()?).map_err(|reason| ConfigError::InvalidId {
            file: self.file.to_owned(),
            line: self.entry.line,
            key: self.entry.name.clone(),
            reason,
        })
    }

    /// Validates every name and drops repeats: these lists act as sets.
    fn named_list<T: PartialEq>(
        &self,
        what: &'static str,
        from_name: fn(&str) -> Option<T>,
        known: &'static str,
    ) -> Result<Vec<T>, ConfigError> {
        let mut out = Vec::new();
        for name in self.string_list()? {
            let item = from_name(name).ok_or_else(|| self.unknown(what, name, known))?;
            if !out.contains(&item) {
                out.push(item);
            }
        }
        Ok(out)
    }

    fn security_drivers(&self) -> Result<SecurityDrivers, ConfigError> {
        const WHAT: &str = "security driver";
        const KNOWN: &str = "selinux, dac, none";
        let names = self.string_or_list()?;
        if names == ["none"] || names.is_empty() {
            return Ok(SecurityDrivers::None);
        }
        let mut drivers = Vec::new();
        for name in names {
            if name == "none" {
                return Err(ConfigError::NoneWithOtherDrivers {
                    file: self.file.to_owned(),
                    line: self.entry.line,
                    key: self.entry.name.clone(),
                });
            }
            let driver =
                SecurityDriver::from_name(name).ok_or_else(|| self.unknown(WHAT, name, KNOWN))?;
            // Stacking the same driver twice would label everything twice.
            if drivers.contains(&driver) {
                return Err(ConfigError::DuplicateSecurityDriver {
                    file: self.file.to_owned(),
                    line: self.entry.line,
                    key: self.entry.name.clone(),
                    name: name.to_owned(),
                });
            }
            drivers.push(driver);
        }
        Ok(SecurityDrivers::Explicit(drivers))
    }

    fn seccomp(&self) -> Result<SeccompSandbox, ConfigError> {
        let n = match self.entry.value {
            Value::Unsigned(n) => i64::try_from(n).ok(),
            Value::Signed(n) => Some(n),
            _ => None,
        };
        n.and_then(SeccompSandbox::from_int)
            .ok_or_else(|| self.wrong_type("-1, 0 or 1"))
    }

    fn hugetlbfs(&self) -> Result<HugetlbfsMount, ConfigError> {
        if matches!(&self.entry.value, Value::String(s) if s.is_empty()) {
            return Ok(HugetlbfsMount::Disabled);
        }
        let paths = self
            .string_or_list()?
            .into_iter()
            .map(|p| self.absolute(p))
            .collect::<Result<Vec<_>, _>>()?;
        if paths.is_empty() {
            return Ok(HugetlbfsMount::Disabled);
        }
        Ok(HugetlbfsMount::Explicit(paths))
    }
}
