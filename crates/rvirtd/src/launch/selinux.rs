//! The daemon's SELinux driver: detected once at start; a start's labels planned
//! from the domain's `<seclabel>`s and qemu.conf (confine's pure decision and label
//! code); the MCS levels of running domains kept unique.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use confine::hostops::RealHostOps;
use confine::selinux::{
    Context, ImageUse, LabelTarget, McsTable, SeclabelSpec, SeclabelType, SelinuxConfig,
    SelinuxPlan, VirtContexts,
};
use domain_xml::Domain;
use domain_xml::model::SecLabelType;
use host_config::HostConfig;
use host_config::settings::{SecurityDriver, SecurityDrivers};
use qemu_plan::{LaunchPlan, SelinuxRole};

/// SELinux on this host, as the daemon found it.
#[derive(Debug)]
pub struct SelinuxState {
    pub enforcing: bool,
    pub contexts: VirtContexts,
    /// The daemon's own context (its user, role and MCS range).
    pub own: Context,
}

/// The MCS levels in use by this daemon's running domains.
static LEVELS: Mutex<McsTable> = Mutex::new(McsTable::new());

fn levels() -> std::sync::MutexGuard<'static, McsTable> {
    LEVELS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SELinux when the host has it enabled and its virt contexts are readable.
pub fn detect() -> Option<SelinuxState> {
    let host = confine::selinux::detect(&RealHostOps, Path::new("/"))?;
    let state = VirtContexts::load(&RealHostOps, &host).and_then(|contexts| {
        Ok(SelinuxState {
            enforcing: host.enforcing,
            contexts,
            own: confine::selinux::current_context(&RealHostOps)?,
        })
    });
    match state {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("SELinux is enabled but its virt contexts cannot be used: {e}");
            None
        }
    }
}

/// A running domain's level (found again at reconnect).
pub fn reserve(level: &str) {
    if let Err(e) = levels().reserve(level) {
        tracing::warn!("MCS level {level}: {e}");
    }
}

/// A stopped domain's level.
pub fn release(level: &str) {
    levels().release(level);
}

fn spec_of(s: &domain_xml::model::SecLabel) -> SeclabelSpec {
    SeclabelSpec {
        model: s.model.clone(),
        kind: match s.label_type {
            None => SeclabelType::Default,
            Some(SecLabelType::None) => SeclabelType::None,
            Some(SecLabelType::Static) => SeclabelType::Static,
            Some(SecLabelType::Dynamic) => SeclabelType::Dynamic,
        },
        relabel: s.relabel,
        label: s.label.clone(),
        baselabel: s.base_label.clone(),
    }
}

fn config_of(c: &HostConfig) -> SelinuxConfig {
    SelinuxConfig {
        driver_enabled: match &c.security_driver {
            SecurityDrivers::Auto => true,
            SecurityDrivers::None => false,
            SecurityDrivers::Explicit(list) => list.contains(&SecurityDriver::Selinux),
        },
        default_confined: c.security_default_confined,
        require_confined: c.security_require_confined,
    }
}

/// The files QEMU uses, with how the domain uses each (libvirt's image roles).
fn targets(plan: &LaunchPlan) -> Vec<LabelTarget> {
    let mut out: Vec<LabelTarget> = Vec::new();
    for r in &plan.resources {
        let usage = match r.selinux {
            SelinuxRole::Exclusive => Some(ImageUse::Exclusive),
            SelinuxRole::Shared => Some(ImageUse::Shared),
            SelinuxRole::ReadOnly => Some(ImageUse::Readonly),
            SelinuxRole::Untouched => None,
        };
        if usage.is_some() && !out.iter().any(|t| t.path == Path::new(&r.path)) {
            out.push(LabelTarget {
                path: PathBuf::from(&r.path),
                usage,
                origin: r.origin.clone(),
            });
        }
    }
    out
}

/// The labels of a start of `d`; a dynamic level is taken now (give it back with
/// [`release`] if the start does not happen).
pub fn plan(
    sel: &SelinuxState,
    config: &HostConfig,
    d: &Domain,
    plan: &LaunchPlan,
) -> Result<SelinuxPlan, String> {
    let specs: Vec<SeclabelSpec> = d.seclabels.iter().map(spec_of).collect();
    let decision =
        confine::selinux::decide(&specs, &config_of(config), true).map_err(|e| e.to_string())?;
    let tcg = d.virt_type == domain_xml::VirtType::Qemu;
    confine::selinux::plan_labels(
        &decision,
        &sel.contexts,
        &sel.own,
        tcg,
        &mut levels(),
        &targets(plan),
        config.remember_owner,
    )
    .map_err(|e| e.to_string())
}
