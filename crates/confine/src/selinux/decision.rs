//! The static / dynamic / none decision from the domain's `<seclabel>`s and the
//! qemu.conf knobs.

use super::context::Context;
use super::driver::DRIVER;
use super::error::SelinuxError;

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
        return decide_inactive(explicit, config, selinux_available);
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
        SeclabelType::Dynamic => decide_dynamic(spec),
        SeclabelType::Static => decide_static(spec),
        SeclabelType::Default => Ok(SelinuxDecision::Unconfined),
    }
}

/// The driver is not in use: fine unless the domain asks for an SELinux label or
/// qemu.conf requires confinement.
fn decide_inactive(
    explicit: Option<&SeclabelSpec>,
    config: &SelinuxConfig,
    selinux_available: bool,
) -> Result<SelinuxDecision, SelinuxError> {
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
    Ok(SelinuxDecision::Inactive)
}

/// `type='dynamic'` (or the confined default): relabel must not be off; a
/// `baselabel` must parse.
fn decide_dynamic(spec: Option<&SeclabelSpec>) -> Result<SelinuxDecision, SelinuxError> {
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

/// `type='static'`: the label must be given, parse and carry a range.
fn decide_static(spec: Option<&SeclabelSpec>) -> Result<SelinuxDecision, SelinuxError> {
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
