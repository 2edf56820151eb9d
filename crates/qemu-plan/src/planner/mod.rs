//! The planner: walks the domain in libvirt 9.0's command-line order and
//! collects argv items, resources, fds and problems as it goes.
//!
//! `run` drives the steps; each file holds one of them (or one class of
//! devices) as methods on [`state::Planner`]. Files import from `state`,
//! `pci` and the device files, never from this one, so there are no
//! import circles.

mod addresses;
mod chardevs;
mod clock;
mod command_line;
mod controllers;
mod cpu_features;
mod devices;
mod disks;
mod firmware;
mod graphics;
mod host_devices;
mod launch_plan;
mod machine;
mod nets;
mod numa;
mod panic;
mod pci;
mod redirdev;
mod sandbox;
mod state;
mod tpm;
mod unsupported;
mod video;

use std::collections::BTreeMap;

use domain_xml::Domain;
use domain_xml::model::SecLabelType;
use host_config::HostConfig;
use qemu_caps::Capabilities;

use crate::error::PlanError;
use crate::launch::LaunchPlan;
use crate::runtime::Runtime;
use state::{Family, Planner};

pub use sandbox::SANDBOX_ON;

/// Plans a start; see the crate docs.
pub(crate) fn run(
    dom: &Domain,
    host: &HostConfig,
    caps: &Capabilities,
    rt: &Runtime<'_>,
) -> Result<LaunchPlan, PlanError> {
    let mut caps = caps.clone();
    caps.apply_overrides(
        dom.qemu.caps_add.iter().map(String::as_str),
        dom.qemu.caps_del.iter().map(String::as_str),
    );
    let mut p = Planner {
        dom,
        host,
        caps,
        rt,
        items: Vec::new(),
        problems: Vec::new(),
        resources: Vec::new(),
        fds: Vec::new(),
        next_fd: rt.first_free_fd,
        next_fdset: 0,
        family: Family::I440fx,
        pci: BTreeMap::new(),
        dac: host.dynamic_ownership && domain_relabels(dom, "dac"),
        selinux: domain_relabels(dom, "selinux"),
        disk_boot: BTreeMap::new(),
        net_boot: BTreeMap::new(),
        nvram_from_template: None,
        monitor_commands: Vec::new(),
        graphics_live: Vec::new(),
        channel_paths: Vec::new(),
        tpm_emulators: Vec::new(),
    };
    p.check_kept_unknowns();
    p.check_domain_level();
    p.check_numatune();
    let machine = p.machine();
    p.assign_pci();
    p.assign_boot();
    p.build(&machine);
    p.acl_resources();
    p.apply_overrides();
    p.finish()
}

/// Whether the domain-level `<seclabel>` of `model` (or a blanket
/// `type='none'`) leaves relabelling on.
fn domain_relabels(dom: &Domain, model: &str) -> bool {
    let blanket_off = dom.seclabels.iter().any(|s| {
        (s.model.is_none() || s.is_model("none")) && s.label_type == Some(SecLabelType::None)
    });
    let own = dom.seclabels.iter().find(|s| s.is_model(model));
    let own_off = own.is_some_and(|s| {
        s.label_type == Some(SecLabelType::None)
            || s.relabel == Some(false)
            || (s.label_type == Some(SecLabelType::Static)
                && s.relabel.is_none()
                && model == "selinux")
    });
    !blanket_off && !own_off
}
