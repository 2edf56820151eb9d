//! A minimal pure-Rust SELinux driver (no libselinux): detection, the policy's virt
//! context files, MCS category allocation, the labels of QEMU and its images, the
//! static/dynamic/none decision, and applying labels through [`HostOps`].
//!
//! Behaviour follows libvirt's SELinux driver:
//! * contexts come from `/etc/selinux/<type>/contexts/virtual_domain_context` (line 1:
//!   QEMU's process context, optional line 2: the TCG one) and
//!   `virtual_image_context` (line 1: image files, line 2: read-only content);
//! * a dynamic label draws two different random categories from the daemon's own
//!   range (`c0.c1023` when it has none) and gives `s0:cX,cY` with X < Y, unique among
//!   running domains. Current libvirt discards a draw with X == Y because `s0:cN` is a
//!   subset of every pair containing N (older versions produced `s0:cN`);
//! * the process label is the base context with the daemon's user and role and the
//!   MCS range; the image label is the image context with the daemon's user and the
//!   same range; shared images get the image context as is (`svirt_image_t:s0`),
//!   read-only ones the content context (`virt_content_t:s0`);
//! * original file labels are remembered in `trusted.libvirt.security.selinux`
//!   (+ `ref_selinux`, `timestamp_selinux`), like DAC owners.
//!
//! Without libselinux there is no `selabel_lookup`: a file whose original label was not
//! remembered keeps the domain's label on restore ([`LabelOutcome::NoDefault`]).

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::dac::errno_text;
use crate::hostops::{self, HostOps, Recalled, RememberError, Remembered};

/// The driver name in the remembered-label xattrs.
pub const DRIVER: &str = "selinux";
/// The file label attribute.
pub const XATTR: &str = "security.selinux";
/// Where a process sets the context of its next `execve`.
pub const EXEC_ATTR: &str = "/proc/thread-self/attr/exec";

/// Errors of the SELinux driver.
#[derive(Debug, thiserror::Error)]
pub enum SelinuxError {
    #[error("SELinux is not enabled on this host: {0}")]
    NotEnabled(String),
    #[error("cannot read {}: {}", path.display(), errno_text(source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is empty", .0.display())]
    EmptyContextFile(PathBuf),
    #[error("invalid SELinux context '{0}' (expected user:role:type[:range])")]
    BadContext(String),
    #[error("SELinux context '{0}' has no MLS/MCS range")]
    NoRange(String),
    #[error("Cannot parse category in {0}")]
    BadCategory(String),
    #[error("No category range available in {0}")]
    NoCategoryRange(String),
    #[error("Category range c{0}-c{1} too small")]
    RangeTooSmall(u32, u32),
    #[error("no free MCS category pair left in {0}")]
    Exhausted(String),
    #[error("MCS level for existing domain label {0} already reserved")]
    AlreadyReserved(String),
    #[error(
        "Unconfined guests are not allowed on this host (qemu.conf security_require_confined = 1)"
    )]
    UnconfinedNotAllowed,
    #[error("invalid SELinux seclabel: {0}")]
    BadSeclabel(String),
    #[error("unable to set security context '{label}' on '{}': {}", path.display(), errno_text(source))]
    SetLabel {
        label: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unable to read the security context of '{}': {}", path.display(), errno_text(source))]
    GetLabel {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("setting SELinux label '{label}' on '{}' which is already in use with label '{current}'", path.display())]
    InUse {
        path: PathBuf,
        label: String,
        current: String,
    },
    #[error("'{}': remembered label: {source}", path.display())]
    Remember {
        path: PathBuf,
        #[source]
        source: Box<RememberError>,
    },
    #[error(
        "unable to set the exec context '{label}': {}{hint}",
        errno_text(source)
    )]
    ExecLabel {
        label: String,
        /// Extra explanation (e.g. SELinux is off).
        hint: &'static str,
        #[source]
        source: io::Error,
    },
}

// ---------------------------------------------------------------------------------------
// Contexts
// ---------------------------------------------------------------------------------------

/// `user:role:type[:range]`; the range may itself contain `:` (`s0-s0:c0.c1023`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub user: String,
    pub role: String,
    pub type_: String,
    pub range: Option<String>,
}

impl FromStr for Context {
    type Err = SelinuxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_end_matches(['\0', '\n']).trim();
        let mut it = s.splitn(4, ':');
        let bad = || SelinuxError::BadContext(s.to_owned());
        let user = it.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
        let role = it.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
        let type_ = it.next().filter(|x| !x.is_empty()).ok_or_else(bad)?;
        let range = match it.next() {
            Some("") => return Err(bad()),
            Some(r) => Some(r.to_owned()),
            None => None,
        };
        if s.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Context {
            user: user.to_owned(),
            role: role.to_owned(),
            type_: type_.to_owned(),
            range,
        })
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.user, self.role, self.type_)?;
        if let Some(r) = &self.range {
            write!(f, ":{r}")?;
        }
        Ok(())
    }
}

impl Context {
    /// `base` with the daemon's user (and role, for a process context) and `range`
    /// (libvirt's `GenNewContext`).
    pub fn derive(base: &Context, own: &Context, range: &str, object: bool) -> Context {
        Context {
            user: own.user.clone(),
            role: if object {
                base.role.clone()
            } else {
                own.role.clone()
            },
            type_: base.type_.clone(),
            range: Some(range.to_owned()),
        }
    }
}

/// The policy's contexts for virtual machines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtContexts {
    /// QEMU with KVM (`svirt_t`).
    pub domain: Context,
    /// QEMU with TCG (`svirt_tcg_t`), when the policy has one.
    pub tcg_domain: Option<Context>,
    /// Image files (`svirt_image_t`).
    pub image: Context,
    /// Read-only content (`virt_content_t`), when the policy has one.
    pub content: Option<Context>,
}

fn context_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

impl VirtContexts {
    /// Parse the texts of `virtual_domain_context` and `virtual_image_context`.
    pub fn parse(domain_text: &str, image_text: &str) -> Result<Self, SelinuxError> {
        let mut d = context_lines(domain_text);
        let mut i = context_lines(image_text);
        let domain = d
            .next()
            .ok_or_else(|| SelinuxError::EmptyContextFile("virtual_domain_context".into()))?
            .parse()?;
        let tcg_domain = d.next().map(str::parse).transpose()?;
        let image = i
            .next()
            .ok_or_else(|| SelinuxError::EmptyContextFile("virtual_image_context".into()))?
            .parse()?;
        let content = i.next().map(str::parse).transpose()?;
        Ok(VirtContexts {
            domain,
            tcg_domain,
            image,
            content,
        })
    }

    /// Load them for a detected host.
    pub fn load(ops: &dyn HostOps, host: &SelinuxHost) -> Result<Self, SelinuxError> {
        let dir = host.contexts_dir();
        let read = |name: &str| {
            let path = dir.join(name);
            ops.read_file(&path)
                .map_err(|source| SelinuxError::Read { path, source })
        };
        Self::parse(
            &read("virtual_domain_context")?,
            &read("virtual_image_context")?,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------

/// A host with SELinux enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelinuxHost {
    /// `/` normally; tests use a directory tree.
    pub root: PathBuf,
    /// `/sys/fs/selinux/enforce` is `1`.
    pub enforcing: bool,
    /// `SELINUXTYPE` from `/etc/selinux/config` (`targeted` by default).
    pub policy_type: String,
}

impl SelinuxHost {
    /// `<root>/etc/selinux/<type>/contexts`.
    pub fn contexts_dir(&self) -> PathBuf {
        self.root
            .join("etc/selinux")
            .join(&self.policy_type)
            .join("contexts")
    }
}

/// Detect SELinux under `root`: selinuxfs mounted at `/sys/fs/selinux` (its `enforce`
/// file is readable, and, when `<root>/proc/self/mounts` exists, a `selinuxfs` mount is
/// listed). `None` when SELinux is off.
pub fn detect(ops: &dyn HostOps, root: &Path) -> Option<SelinuxHost> {
    let enforce = ops.read_file(&root.join("sys/fs/selinux/enforce")).ok()?;
    if let Ok(mounts) = ops.read_file(&root.join("proc/self/mounts"))
        && !mounts
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("selinuxfs"))
    {
        return None;
    }
    let policy_type = ops
        .read_file(&root.join("etc/selinux/config"))
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("SELINUXTYPE=")
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "targeted".into());
    Some(SelinuxHost {
        root: root.to_path_buf(),
        enforcing: enforce.trim() == "1",
        policy_type,
    })
}

/// The daemon's own context (`/proc/self/attr/current`).
pub fn current_context(ops: &dyn HostOps) -> Result<Context, SelinuxError> {
    let path = PathBuf::from("/proc/self/attr/current");
    let text = ops
        .read_file(&path)
        .map_err(|source| SelinuxError::Read { path, source })?;
    text.parse()
}

// ---------------------------------------------------------------------------------------
// MCS
// ---------------------------------------------------------------------------------------

/// Where dynamic categories come from: the daemon's lower sensitivity and its category
/// span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McsRange {
    pub sens: String,
    pub lo: u32,
    pub hi: u32,
}

/// Parse the daemon's own range as libvirt does: `sN[-sM][:cA.cB]`; no categories →
/// `c0.c1023`; no range → `s0`.
pub fn parse_process_range(range: Option<&str>) -> Result<McsRange, SelinuxError> {
    let range = range.unwrap_or("s0");
    let (sens_part, cat) = match range.split_once(':') {
        Some((s, c)) => (s, Some(c)),
        None => (range, None),
    };
    let sens = sens_part.split('-').next().unwrap_or(sens_part).to_owned();
    let Some(cat) = cat else {
        return Ok(McsRange {
            sens,
            lo: 0,
            hi: 1023,
        });
    };
    let bad = || SelinuxError::BadCategory(cat.to_owned());
    let rest = cat.strip_prefix('c').ok_or_else(bad)?;
    let (lo, hi) = match rest.split_once('.') {
        Some((lo, hi)) => (lo, hi.strip_prefix('c').ok_or_else(bad)?),
        None => {
            return if rest.parse::<u32>().is_ok() {
                Err(SelinuxError::NoCategoryRange(cat.to_owned()))
            } else {
                Err(bad())
            };
        }
    };
    Ok(McsRange {
        sens,
        lo: lo.parse().map_err(|_| bad())?,
        hi: hi.parse().map_err(|_| bad())?,
    })
}

/// MCS levels in use by running domains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McsTable {
    reserved: BTreeSet<String>,
}

/// Random `u32` below `bound` from `/dev/urandom`.
fn urandom_below(bound: u32) -> u32 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let v = match got {
        Ok(()) => u64::from_ne_bytes(b),
        // Fall back to std's randomly keyed hasher.
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0);
            h.finish()
        }
    };
    u32::try_from(v % u64::from(bound.max(1))).unwrap_or(0)
}

impl McsTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, level: &str) -> bool {
        self.reserved.contains(level)
    }

    pub fn len(&self) -> usize {
        self.reserved.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reserved.is_empty()
    }

    /// Put a level in use (reconnect). Already in use is an error.
    pub fn reserve(&mut self, level: &str) -> Result<(), SelinuxError> {
        if self.reserved.insert(level.to_owned()) {
            Ok(())
        } else {
            Err(SelinuxError::AlreadyReserved(level.to_owned()))
        }
    }

    /// Reserve the range of a running domain's process label (from its
    /// `/proc/<pid>/attr/current`).
    pub fn reserve_label(&mut self, label: &str) -> Result<(), SelinuxError> {
        let ctx: Context = label.parse()?;
        let range = ctx
            .range
            .ok_or_else(|| SelinuxError::NoRange(label.to_owned()))?;
        self.reserve(&range)
            .map_err(|_| SelinuxError::AlreadyReserved(label.to_owned()))
    }

    /// Free a level (domain stopped).
    pub fn release(&mut self, level: &str) -> bool {
        self.reserved.remove(level)
    }

    /// Allocate a fresh level with random categories.
    pub fn allocate(&mut self, range: &McsRange) -> Result<String, SelinuxError> {
        self.allocate_with(range, &mut urandom_below)
    }

    /// Allocate with a supplied random source (`rand(n)` returns `0..n`). After many
    /// unlucky draws the free pairs are searched in order, so a free pair is always
    /// found when one exists.
    pub fn allocate_with(
        &mut self,
        range: &McsRange,
        rand: &mut dyn FnMut(u32) -> u32,
    ) -> Result<String, SelinuxError> {
        if range.hi < range.lo || range.hi - range.lo + 1 < 8 {
            return Err(SelinuxError::RangeTooSmall(range.lo, range.hi));
        }
        let span = range.hi - range.lo + 1;
        let level = |a: u32, b: u32| format!("{}:c{},c{}", range.sens, range.lo + a, range.lo + b);
        for _ in 0..10_000 {
            let (c1, c2) = (rand(span) % span, rand(span) % span);
            if c1 == c2 {
                continue;
            }
            let l = level(c1.min(c2), c1.max(c2));
            if self.reserved.insert(l.clone()) {
                return Ok(l);
            }
        }
        for a in 0..span {
            for b in a + 1..span {
                let l = level(a, b);
                if self.reserved.insert(l.clone()) {
                    return Ok(l);
                }
            }
        }
        Err(SelinuxError::Exhausted(format!(
            "{}:c{}.c{}",
            range.sens, range.lo, range.hi
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------------

/// `<seclabel type=…>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeclabelType {
    /// No `type` attribute.
    #[default]
    Default,
    None,
    Static,
    Dynamic,
}

/// A domain-level `<seclabel>` as the XML layer parsed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeclabelSpec {
    pub model: Option<String>,
    pub kind: SeclabelType,
    pub relabel: Option<bool>,
    pub label: Option<String>,
    pub baselabel: Option<String>,
}

/// The qemu.conf knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelinuxConfig {
    /// `security_driver` selects SELinux (the default, unless `"none"` or a list
    /// without it).
    pub driver_enabled: bool,
    /// `security_default_confined` (default 1).
    pub default_confined: bool,
    /// `security_require_confined` (default 0).
    pub require_confined: bool,
}

impl Default for SelinuxConfig {
    fn default() -> Self {
        SelinuxConfig {
            driver_enabled: true,
            default_confined: true,
            require_confined: false,
        }
    }
}

/// What the SELinux driver does for a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelinuxDecision {
    /// The driver is not in use (SELinux off, or not selected): nothing to do.
    Inactive,
    /// `type='none'` (or default with `security_default_confined = 0`): QEMU runs
    /// unconfined, files are not relabelled.
    Unconfined,
    /// A fresh MCS level; `baselabel` replaces the policy's process context.
    Dynamic { baselabel: Option<String> },
    /// The user's label; `relabel` defaults to no.
    Static { label: String, relabel: bool },
}

impl SelinuxDecision {
    /// Whether image files are relabelled.
    pub fn relabel(&self) -> bool {
        match self {
            SelinuxDecision::Dynamic { .. } => true,
            SelinuxDecision::Static { relabel, .. } => *relabel,
            SelinuxDecision::Inactive | SelinuxDecision::Unconfined => false,
        }
    }
}

fn type_name(t: SeclabelType) -> &'static str {
    match t {
        SeclabelType::Default => "default",
        SeclabelType::None => "none",
        SeclabelType::Static => "static",
        SeclabelType::Dynamic => "dynamic",
    }
}

/// Decide from the domain's `<seclabel>`s (those with `model='selinux'`, or no model
/// while SELinux is the primary driver), the qemu.conf knobs and whether SELinux is
/// enabled on the host.
pub fn decide(
    seclabels: &[SeclabelSpec],
    config: &SelinuxConfig,
    selinux_available: bool,
) -> Result<SelinuxDecision, SelinuxError> {
    let active = selinux_available && config.driver_enabled;
    let explicit = seclabels
        .iter()
        .find(|s| s.model.as_deref() == Some(DRIVER));
    if !active {
        if let Some(s) = explicit
            && matches!(s.kind, SeclabelType::Static | SeclabelType::Dynamic)
        {
            let why = if selinux_available {
                "the SELinux security driver is disabled in qemu.conf (security_driver)"
            } else {
                "SELinux is not enabled on this host"
            };
            return Err(if selinux_available {
                SelinuxError::BadSeclabel(format!(
                    "the domain requires <seclabel type='{}' model='selinux'> but {why}",
                    type_name(s.kind)
                ))
            } else {
                SelinuxError::NotEnabled(format!(
                    "the domain requires <seclabel type='{}' model='selinux'>",
                    type_name(s.kind)
                ))
            });
        }
        if config.require_confined {
            return Err(SelinuxError::NotEnabled(
                "qemu.conf security_require_confined = 1, but guests cannot be confined \
                 without it"
                    .into(),
            ));
        }
        return Ok(SelinuxDecision::Inactive);
    }
    let spec = explicit.or_else(|| seclabels.iter().find(|s| s.model.is_none()));
    let kind = spec.map_or(SeclabelType::Default, |s| s.kind);
    let kind = match kind {
        SeclabelType::Default if config.default_confined => SeclabelType::Dynamic,
        SeclabelType::Default => SeclabelType::None,
        k => k,
    };
    match kind {
        SeclabelType::None => {
            if config.require_confined {
                return Err(SelinuxError::UnconfinedNotAllowed);
            }
            Ok(SelinuxDecision::Unconfined)
        }
        SeclabelType::Dynamic => {
            if spec.and_then(|s| s.relabel) == Some(false) {
                return Err(SelinuxError::BadSeclabel(
                    "a dynamic label must use relabel='yes'".into(),
                ));
            }
            let baselabel = spec.and_then(|s| s.baselabel.clone());
            if let Some(b) = &baselabel {
                b.parse::<Context>()?;
            }
            Ok(SelinuxDecision::Dynamic { baselabel })
        }
        SeclabelType::Static => {
            let s = spec.ok_or_else(|| SelinuxError::BadSeclabel("static without label".into()))?;
            let label = s.label.clone().ok_or_else(|| {
                SelinuxError::BadSeclabel("security label is missing for type='static'".into())
            })?;
            let ctx: Context = label.parse()?;
            if ctx.range.is_none() {
                return Err(SelinuxError::NoRange(label));
            }
            Ok(SelinuxDecision::Static {
                label,
                relabel: s.relabel.unwrap_or(false),
            })
        }
        SeclabelType::Default => Ok(SelinuxDecision::Unconfined),
    }
}

// ---------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------

/// The labels of one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainLabels {
    /// QEMU's exec context (`None`: unconfined).
    pub process: Option<String>,
    /// Label for the domain's own files (`svirt_image_t:s0:cX,cY`).
    pub image: String,
    /// The MCS level (`s0:cX,cY`, or the sensitivity alone when unconfined).
    pub mcs: String,
    /// The level was allocated from the table (release it when the domain stops).
    pub allocated: bool,
}

/// How a disk is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUse {
    Exclusive,
    /// `<shareable/>`.
    Shared,
    /// `<readonly/>`.
    Readonly,
}

/// A disk's own `<seclabel model='selinux'>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskSeclabel {
    pub relabel: bool,
    pub label: Option<String>,
}

/// Build the labels for a decision. `own` is the daemon's context; `tcg` selects the
/// TCG process context when the policy has one. Dynamic levels are taken from
/// `table`.
pub fn build_labels(
    decision: &SelinuxDecision,
    contexts: &VirtContexts,
    own: &Context,
    tcg: bool,
    table: &mut McsTable,
) -> Result<Option<DomainLabels>, SelinuxError> {
    build_labels_with(decision, contexts, own, tcg, table, &mut urandom_below)
}

/// [`build_labels`] with a supplied random source.
pub fn build_labels_with(
    decision: &SelinuxDecision,
    contexts: &VirtContexts,
    own: &Context,
    tcg: bool,
    table: &mut McsTable,
    rand: &mut dyn FnMut(u32) -> u32,
) -> Result<Option<DomainLabels>, SelinuxError> {
    let image_for = |mcs: &str| Context::derive(&contexts.image, own, mcs, true).to_string();
    match decision {
        SelinuxDecision::Inactive => Ok(None),
        SelinuxDecision::Unconfined => {
            let range = parse_process_range(own.range.as_deref())?;
            Ok(Some(DomainLabels {
                process: None,
                image: image_for(&range.sens),
                mcs: range.sens,
                allocated: false,
            }))
        }
        SelinuxDecision::Static { label, .. } => {
            let ctx: Context = label.parse()?;
            let mcs = ctx
                .range
                .ok_or_else(|| SelinuxError::NoRange(label.clone()))?;
            Ok(Some(DomainLabels {
                process: Some(label.clone()),
                image: image_for(&mcs),
                mcs,
                allocated: false,
            }))
        }
        SelinuxDecision::Dynamic { baselabel } => {
            let base = match baselabel {
                Some(b) => b.parse()?,
                None if tcg => contexts
                    .tcg_domain
                    .clone()
                    .unwrap_or_else(|| contexts.domain.clone()),
                None => contexts.domain.clone(),
            };
            let range = parse_process_range(own.range.as_deref())?;
            let mcs = table.allocate_with(&range, rand)?;
            Ok(Some(DomainLabels {
                process: Some(Context::derive(&base, own, &mcs, false).to_string()),
                image: image_for(&mcs),
                mcs,
                allocated: true,
            }))
        }
    }
}

impl DomainLabels {
    /// The label for a disk image, or `None` when it must not be touched (the domain
    /// does not relabel, or the disk says `relabel='no'`). A disk `<label>` is used as
    /// given.
    pub fn disk_label(
        &self,
        decision: &SelinuxDecision,
        contexts: &VirtContexts,
        disk: Option<&DiskSeclabel>,
        usage: ImageUse,
    ) -> Option<String> {
        if !decision.relabel() {
            return None;
        }
        if let Some(d) = disk {
            if !d.relabel {
                return None;
            }
            if let Some(l) = &d.label {
                return Some(l.clone());
            }
        }
        Some(self.image_label(contexts, usage))
    }

    /// Exclusive: the domain's image label; shared: the image context without
    /// categories; read-only: the content context (the shared label if the policy has
    /// none).
    pub fn image_label(&self, contexts: &VirtContexts, usage: ImageUse) -> String {
        match usage {
            ImageUse::Exclusive => self.image.clone(),
            ImageUse::Shared => contexts.image.to_string(),
            ImageUse::Readonly => contexts
                .content
                .as_ref()
                .unwrap_or(&contexts.image)
                .to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Applying labels
// ---------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::{HostCall, HostOp, RecordingHostOps};

    const DOMAIN: &str = "system_u:system_r:svirt_t:s0\nsystem_u:system_r:svirt_tcg_t:s0\n";
    const IMAGE: &str = "system_u:object_r:svirt_image_t:s0\nsystem_u:object_r:virt_content_t:s0\n";

    fn ctxs() -> VirtContexts {
        VirtContexts::parse(DOMAIN, IMAGE).unwrap()
    }

    fn own() -> Context {
        "system_u:system_r:virtd_t:s0-s0:c0.c1023".parse().unwrap()
    }

    #[test]
    fn context_parse_and_display() {
        let c: Context = "system_u:system_r:virtd_t:s0-s0:c0.c1023".parse().unwrap();
        assert_eq!(c.type_, "virtd_t");
        assert_eq!(c.range.as_deref(), Some("s0-s0:c0.c1023"));
        assert_eq!(c.to_string(), "system_u:system_r:virtd_t:s0-s0:c0.c1023");
        let c: Context = "u:r:t\0".parse().unwrap();
        assert_eq!((c.range.clone(), c.to_string()), (None, "u:r:t".to_owned()));
        for bad in ["", "u:r", "u::t", "u:r:t:", "u:r:t x"] {
            assert!(bad.parse::<Context>().is_err(), "{bad}");
        }
    }

    #[test]
    fn context_files() {
        let c = ctxs();
        assert_eq!(c.domain.type_, "svirt_t");
        assert_eq!(c.tcg_domain.as_ref().unwrap().type_, "svirt_tcg_t");
        assert_eq!(c.content.as_ref().unwrap().type_, "virt_content_t");
        let c = VirtContexts::parse("system_u:system_r:svirt_t:s0\n", "a:b:c:s0").unwrap();
        assert!(c.tcg_domain.is_none() && c.content.is_none());
        assert!(VirtContexts::parse("\n", IMAGE).is_err());
    }

    #[test]
    fn process_ranges() {
        let r = parse_process_range(Some("s0-s0:c0.c1023")).unwrap();
        assert_eq!(
            r,
            McsRange {
                sens: "s0".into(),
                lo: 0,
                hi: 1023
            }
        );
        let r = parse_process_range(Some("s1-s15:c10.c20")).unwrap();
        assert_eq!((r.sens.as_str(), r.lo, r.hi), ("s1", 10, 20));
        assert_eq!(parse_process_range(Some("s0")).unwrap().hi, 1023);
        assert_eq!(parse_process_range(Some("s0-s0")).unwrap().sens, "s0");
        assert_eq!(parse_process_range(None).unwrap().sens, "s0");
        assert!(matches!(
            parse_process_range(Some("s0:c5")),
            Err(SelinuxError::NoCategoryRange(_))
        ));
        assert!(matches!(
            parse_process_range(Some("s0:x5")),
            Err(SelinuxError::BadCategory(_))
        ));
        assert!(matches!(
            parse_process_range(Some("s0:c1.5")),
            Err(SelinuxError::BadCategory(_))
        ));
    }

    #[test]
    fn mcs_allocation_unique_ordered_in_range() {
        let mut t = McsTable::new();
        let r = parse_process_range(Some("s0-s0:c0.c1023")).unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..3000 {
            let l = t.allocate(&r).unwrap();
            let cats = l.strip_prefix("s0:c").unwrap();
            let (a, b) = cats.split_once(",c").unwrap();
            let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(a < b && b <= 1023, "{l}");
            assert!(seen.insert(l));
        }
        assert_eq!(t.len(), 3000);
    }

    #[test]
    fn mcs_small_range_fills_then_exhausts() {
        let r = McsRange {
            sens: "s0".into(),
            lo: 100,
            hi: 107,
        };
        let mut t = McsTable::new();
        let mut n = 0u32;
        // A fixed, unlucky source: always the same pair after the first.
        let mut rand = |bound: u32| {
            n += 1;
            n % bound
        };
        let mut all = BTreeSet::new();
        for _ in 0..28 {
            all.insert(t.allocate_with(&r, &mut rand).unwrap());
        }
        assert_eq!(all.len(), 28);
        assert!(all.iter().all(|l| l.starts_with("s0:c10")));
        assert!(matches!(
            t.allocate_with(&r, &mut rand),
            Err(SelinuxError::Exhausted(_))
        ));
        assert!(t.release("s0:c100,c101"));
        assert_eq!(t.allocate_with(&r, &mut rand).unwrap(), "s0:c100,c101");
        let tiny = McsRange {
            sens: "s0".into(),
            lo: 0,
            hi: 6,
        };
        assert_eq!(
            t.allocate(&tiny).unwrap_err().to_string(),
            "Category range c0-c6 too small"
        );
    }

    #[test]
    fn equal_draws_are_discarded() {
        let r = parse_process_range(None).unwrap();
        let mut t = McsTable::new();
        let mut draws = [7u32, 7, 9, 3].into_iter();
        let l = t.allocate_with(&r, &mut |_| draws.next().unwrap()).unwrap();
        assert_eq!(l, "s0:c3,c9");
    }

    #[test]
    fn reserve_and_release() {
        let mut t = McsTable::new();
        t.reserve_label("system_u:system_r:svirt_t:s0:c41,c264")
            .unwrap();
        assert!(t.contains("s0:c41,c264"));
        let e = t
            .reserve_label("system_u:system_r:svirt_t:s0:c41,c264")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "MCS level for existing domain label system_u:system_r:svirt_t:s0:c41,c264 \
             already reserved"
        );
        assert!(t.release("s0:c41,c264"));
        assert!(t.is_empty());
    }

    fn fixed(mut v: Vec<u32>) -> impl FnMut(u32) -> u32 {
        v.reverse();
        move |_| v.pop().unwrap()
    }

    #[test]
    fn dynamic_labels() {
        let mut t = McsTable::new();
        let d = SelinuxDecision::Dynamic { baselabel: None };
        let l = build_labels_with(
            &d,
            &ctxs(),
            &own(),
            false,
            &mut t,
            &mut fixed(vec![264, 41]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(l.mcs, "s0:c41,c264");
        assert_eq!(
            l.process.as_deref(),
            Some("system_u:system_r:svirt_t:s0:c41,c264")
        );
        assert_eq!(l.image, "system_u:object_r:svirt_image_t:s0:c41,c264");
        assert!(l.allocated && t.contains("s0:c41,c264"));
        let c = ctxs();
        assert_eq!(
            l.image_label(&c, ImageUse::Shared),
            "system_u:object_r:svirt_image_t:s0"
        );
        assert_eq!(
            l.image_label(&c, ImageUse::Readonly),
            "system_u:object_r:virt_content_t:s0"
        );
        // Per-disk rules.
        assert_eq!(
            l.disk_label(&d, &c, None, ImageUse::Exclusive).as_deref(),
            Some("system_u:object_r:svirt_image_t:s0:c41,c264")
        );
        let no = DiskSeclabel {
            relabel: false,
            label: None,
        };
        assert_eq!(l.disk_label(&d, &c, Some(&no), ImageUse::Exclusive), None);
        let own_label = DiskSeclabel {
            relabel: true,
            label: Some("a:b:c:s0".into()),
        };
        assert_eq!(
            l.disk_label(&d, &c, Some(&own_label), ImageUse::Exclusive)
                .as_deref(),
            Some("a:b:c:s0")
        );
        // TCG and baselabel; the daemon's user/role replace the base's.
        let me: Context = "unconfined_u:unconfined_r:virtd_t:s0-s0:c0.c1023"
            .parse()
            .unwrap();
        let l = build_labels_with(&d, &ctxs(), &me, true, &mut t, &mut fixed(vec![1, 2]))
            .unwrap()
            .unwrap();
        assert_eq!(
            l.process.as_deref(),
            Some("unconfined_u:unconfined_r:svirt_tcg_t:s0:c1,c2")
        );
        assert_eq!(l.image, "unconfined_u:object_r:svirt_image_t:s0:c1,c2");
        let b = SelinuxDecision::Dynamic {
            baselabel: Some("system_u:system_r:my_t:s0".into()),
        };
        let l = build_labels_with(&b, &ctxs(), &own(), false, &mut t, &mut fixed(vec![5, 6]))
            .unwrap()
            .unwrap();
        assert_eq!(
            l.process.as_deref(),
            Some("system_u:system_r:my_t:s0:c5,c6")
        );
    }

    #[test]
    fn static_and_none_labels() {
        let mut t = McsTable::new();
        let s = SelinuxDecision::Static {
            label: "system_u:system_r:svirt_custom_t:s0:c192,c392".into(),
            relabel: false,
        };
        let l = build_labels(&s, &ctxs(), &own(), false, &mut t)
            .unwrap()
            .unwrap();
        assert_eq!(
            l.process.as_deref(),
            Some("system_u:system_r:svirt_custom_t:s0:c192,c392")
        );
        assert_eq!(l.image, "system_u:object_r:svirt_image_t:s0:c192,c392");
        assert!(!l.allocated && t.is_empty());
        assert_eq!(l.disk_label(&s, &ctxs(), None, ImageUse::Exclusive), None);
        let l = build_labels(&SelinuxDecision::Unconfined, &ctxs(), &own(), false, &mut t)
            .unwrap()
            .unwrap();
        assert_eq!((l.process, l.mcs.as_str()), (None, "s0"));
        assert_eq!(l.image, "system_u:object_r:svirt_image_t:s0");
        assert_eq!(
            build_labels(&SelinuxDecision::Inactive, &ctxs(), &own(), false, &mut t).unwrap(),
            None
        );
    }

    fn sl(kind: SeclabelType) -> SeclabelSpec {
        SeclabelSpec {
            model: Some("selinux".into()),
            kind,
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        let cfg = SelinuxConfig::default();
        let dynamic = SelinuxDecision::Dynamic { baselabel: None };
        assert_eq!(decide(&[], &cfg, true).unwrap(), dynamic);
        assert_eq!(
            decide(&[sl(SeclabelType::Default)], &cfg, true).unwrap(),
            dynamic
        );
        assert_eq!(
            decide(&[sl(SeclabelType::None)], &cfg, true).unwrap(),
            SelinuxDecision::Unconfined
        );
        let not_default = SelinuxConfig {
            default_confined: false,
            ..cfg
        };
        assert_eq!(
            decide(&[], &not_default, true).unwrap(),
            SelinuxDecision::Unconfined
        );
        let require = SelinuxConfig {
            require_confined: true,
            ..cfg
        };
        assert!(matches!(
            decide(&[sl(SeclabelType::None)], &require, true),
            Err(SelinuxError::UnconfinedNotAllowed)
        ));
        assert_eq!(decide(&[], &require, true).unwrap(), dynamic);
        let both = SelinuxConfig {
            require_confined: true,
            default_confined: false,
            ..cfg
        };
        assert!(decide(&[], &both, true).is_err());
        // Model-less seclabel applies to SELinux when it is the primary driver.
        let mut none_nomodel = sl(SeclabelType::None);
        none_nomodel.model = None;
        assert_eq!(
            decide(&[none_nomodel.clone()], &cfg, true).unwrap(),
            SelinuxDecision::Unconfined
        );
        // A DAC seclabel is not ours.
        let mut dac = sl(SeclabelType::None);
        dac.model = Some("dac".into());
        assert_eq!(decide(&[dac], &cfg, true).unwrap(), dynamic);
        // Static.
        let mut st = sl(SeclabelType::Static);
        st.label = Some("system_u:system_r:svirt_custom_t:s0:c192,c392".into());
        assert_eq!(
            decide(&[st.clone()], &cfg, true).unwrap(),
            SelinuxDecision::Static {
                label: "system_u:system_r:svirt_custom_t:s0:c192,c392".into(),
                relabel: false
            }
        );
        st.label = None;
        assert!(decide(&[st], &cfg, true).is_err());
        let mut dy = sl(SeclabelType::Dynamic);
        dy.relabel = Some(false);
        assert!(decide(&[dy.clone()], &cfg, true).is_err());
        dy.relabel = None;
        dy.baselabel = Some("system_u:system_r:my_t:s0".into());
        assert_eq!(
            decide(&[dy], &cfg, true).unwrap(),
            SelinuxDecision::Dynamic {
                baselabel: Some("system_u:system_r:my_t:s0".into())
            }
        );
    }

    #[test]
    fn decisions_without_selinux() {
        let cfg = SelinuxConfig::default();
        assert_eq!(decide(&[], &cfg, false).unwrap(), SelinuxDecision::Inactive);
        assert_eq!(
            decide(&[sl(SeclabelType::None)], &cfg, false).unwrap(),
            SelinuxDecision::Inactive
        );
        let mut nomodel = sl(SeclabelType::Dynamic);
        nomodel.model = None;
        assert_eq!(
            decide(&[nomodel], &cfg, false).unwrap(),
            SelinuxDecision::Inactive
        );
        for k in [SeclabelType::Dynamic, SeclabelType::Static] {
            let e = decide(&[sl(k)], &cfg, false).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.starts_with("SELinux is not enabled on this host"),
                "{msg}"
            );
            assert!(msg.contains("model='selinux'"), "{msg}");
        }
        let off = SelinuxConfig {
            driver_enabled: false,
            ..cfg
        };
        let e = decide(&[sl(SeclabelType::Dynamic)], &off, true).unwrap_err();
        assert!(e.to_string().contains("disabled in qemu.conf"), "{e}");
        let require = SelinuxConfig {
            require_confined: true,
            ..cfg
        };
        assert!(matches!(
            decide(&[], &require, false),
            Err(SelinuxError::NotEnabled(_))
        ));
    }

    #[test]
    fn detection_with_injected_root() {
        let ops = RecordingHostOps::new();
        assert_eq!(detect(&ops, Path::new("/fake")), None);
        ops.add_text("/fake/sys/fs/selinux/enforce", "1");
        ops.add_text(
            "/fake/etc/selinux/config",
            "SELINUX=enforcing\nSELINUXTYPE=mls\n",
        );
        let h = detect(&ops, Path::new("/fake")).unwrap();
        assert!(h.enforcing);
        assert_eq!(
            h.contexts_dir(),
            Path::new("/fake/etc/selinux/mls/contexts")
        );
        ops.add_text(
            "/fake/etc/selinux/mls/contexts/virtual_domain_context",
            DOMAIN,
        );
        ops.add_text(
            "/fake/etc/selinux/mls/contexts/virtual_image_context",
            IMAGE,
        );
        assert_eq!(VirtContexts::load(&ops, &h).unwrap(), ctxs());
        // Mount table present but no selinuxfs: not enabled.
        ops.add_text("/fake/proc/self/mounts", "proc /proc proc rw 0 0\n");
        assert_eq!(detect(&ops, Path::new("/fake")), None);
        ops.add_text(
            "/fake/proc/self/mounts",
            "selinuxfs /sys/fs/selinux selinuxfs rw 0 0\n",
        );
        assert!(detect(&ops, Path::new("/fake")).is_some());
    }

    #[test]
    fn driver_sets_remembers_and_restores() {
        let ops = RecordingHostOps::new();
        let p = Path::new("/img.qcow2");
        ops.add_file(p, 0, 0, 0o600);
        ops.put_xattr(p, XATTR, "system_u:object_r:virt_image_t:s0\0");
        let d = SelinuxDriver::new(ops, true);
        let label = "system_u:object_r:svirt_image_t:s0:c1,c2";
        assert_eq!(
            d.set_file_label(p, label, true).unwrap(),
            LabelOutcome::Set(label.into())
        );
        assert_eq!(d.ops.xattr(p, XATTR).unwrap(), format!("{label}\0"));
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.selinux")
                .as_deref(),
            Some("system_u:object_r:virt_image_t:s0")
        );
        // A second domain with another label is refused.
        let e = d
            .set_file_label(p, "system_u:object_r:svirt_image_t:s0:c3,c4", true)
            .unwrap_err();
        assert!(matches!(e, SelinuxError::InUse { .. }), "{e}");
        assert_eq!(
            d.ops
                .xattr(p, "trusted.libvirt.security.ref_selinux")
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            d.restore_file_label(p, true).unwrap(),
            LabelOutcome::Set("system_u:object_r:virt_image_t:s0".into())
        );
        assert_eq!(d.ops.xattr(p, "trusted.libvirt.security.selinux"), None);
        assert_eq!(
            d.restore_file_label(p, true).unwrap(),
            LabelOutcome::NoDefault
        );
    }

    #[test]
    fn driver_errors_and_tolerance() {
        let ops = RecordingHostOps::new();
        let p = Path::new("/nfs.img");
        ops.add_file(p, 0, 0, 0o600);
        ops.set_xattr_support(p, false);
        let d = SelinuxDriver::new(ops, true);
        assert!(matches!(
            d.set_file_label(p, "a:b:c:s0", true).unwrap(),
            LabelOutcome::NotChanged { .. }
        ));
        let e = d
            .set_file_label(Path::new("/missing"), "a:b:c:s0", false)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to set security context 'a:b:c:s0' on '/missing': No such file or directory"
        );
        d.ops.add_file("/x", 0, 0, 0o600);
        d.ops.fail(HostOp::SetXattr, "/x", libc::EACCES);
        assert!(
            d.set_file_label(Path::new("/x"), "a:b:c:s0", false)
                .is_err()
        );
        let permissive = SelinuxDriver::new(RecordingHostOps::new(), false);
        permissive.ops.add_file("/x", 0, 0, 0o600);
        permissive.ops.fail(HostOp::SetXattr, "/x", libc::EACCES);
        assert!(matches!(
            permissive
                .set_file_label(Path::new("/x"), "a:b:c:s0", false)
                .unwrap(),
            LabelOutcome::NotChanged { .. }
        ));
    }

    #[test]
    fn exec_label_write() {
        let ops = RecordingHostOps::new();
        ops.add_text(EXEC_ATTR, "");
        set_exec_label_with(&ops, "system_u:system_r:svirt_t:s0:c1,c2").unwrap();
        assert_eq!(
            ops.mutations(),
            vec![HostCall::WriteFile(
                EXEC_ATTR.into(),
                "system_u:system_r:svirt_t:s0:c1,c2\0".into()
            )]
        );
    }
}
