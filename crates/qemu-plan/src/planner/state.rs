//! The planner's working state and the small helpers every step uses to
//! add arguments, devices, resources, fds and problems.

use std::collections::BTreeMap;

use domain_xml::Domain;
use domain_xml::model::SecLabel;
use host_config::HostConfig;
use qemu_caps::Capabilities;

use super::pci::{PciAddr, PciDev};
use crate::error::Problem;
use crate::json::{Json, Obj};
use crate::launch::{FdSource, PassFd};
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::{PathKind, Runtime};

/// One piece of the command line; devices stay structured until the end so
/// `<qemu:override>` can merge into them.
#[derive(Debug)]
pub(super) enum Item {
    Arg(String),
    Device { alias: String, props: Obj },
    Object(Obj),
}

/// What kind of host path is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    File,
    Block,
    Char,
}

/// The machine family, which fixes bus names and built-in controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    I440fx,
    Q35,
}

pub(crate) struct Planner<'a> {
    pub dom: &'a Domain,
    pub host: &'a HostConfig,
    pub caps: Capabilities,
    pub rt: &'a Runtime<'a>,
    pub(super) items: Vec<Item>,
    pub(super) problems: Vec<Problem>,
    pub resources: Vec<Resource>,
    pub(super) fds: Vec<PassFd>,
    pub(super) next_fd: i32,
    pub(super) next_fdset: u32,
    pub family: Family,
    pub pci: BTreeMap<PciDev, PciAddr>,
    /// The domain allows DAC relabelling at all.
    pub(super) dac: bool,
    /// The domain allows SELinux relabelling at all.
    pub(super) selinux: bool,
    /// Boot indexes by disk and interface position.
    pub disk_boot: BTreeMap<usize, u32>,
    pub net_boot: BTreeMap<usize, u32>,
    pub(super) nvram_from_template: Option<(String, String)>,
    pub(super) monitor_commands: Vec<crate::launch::MonitorCommand>,
    pub(super) graphics_live: Vec<crate::launch::GraphicsLive>,
    pub(super) channel_paths: Vec<(usize, String)>,
    pub(super) tpm_emulators: Vec<crate::launch::TpmEmulator>,
}

/// Whether per-source labels turn relabelling off for `model`.
pub(crate) fn source_relabel_off(labels: &[SecLabel], model: &str) -> bool {
    labels
        .iter()
        .any(|s| (s.model.is_none() || s.is_model(model)) && s.relabel == Some(false))
}

impl<'a> Planner<'a> {
    pub fn problem(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// Whether IOThread `id` (as in `<driver iothread=>`) is defined by
    /// `<iothreads>` or `<iothreadids>`.
    pub fn iothread_exists(&self, id: &str) -> bool {
        let Ok(n) = id.parse::<u32>() else {
            return false;
        };
        match &self.dom.iothreadids {
            Some(ids) => ids.threads.iter().any(|t| t.get("id") == Some(id)),
            None => n >= 1 && n <= self.dom.iothreads.unwrap_or(0),
        }
    }

    pub fn problem_count(&self) -> usize {
        self.problems.len()
    }

    pub fn arg(&mut self, a: impl Into<String>) {
        self.items.push(Item::Arg(a.into()));
    }

    pub fn arg2(&mut self, a: &str, b: impl Into<String>) {
        self.arg(a);
        self.arg(b);
    }

    pub fn device(&mut self, props: Obj) {
        let alias = match props.get("id") {
            Some(Json::Str(s)) => s.clone(),
            _ => String::new(),
        };
        self.items.push(Item::Device { alias, props });
    }

    pub fn object(&mut self, props: Obj) {
        self.items.push(Item::Object(props));
    }

    pub fn bus_name(&self) -> &'static str {
        match self.family {
            Family::I440fx => "pci.0",
            Family::Q35 => "pcie.0",
        }
    }

    /// Adds `bus`/`addr` for a PCI device that got an address.
    pub fn pci_props(&self, dev: PciDev, props: Obj) -> Obj {
        match self.pci.get(&dev) {
            Some(a) => {
                let bus = if a.bus == 0 {
                    self.bus_name().to_owned()
                } else {
                    format!("pci.{}", a.bus)
                };
                let props = props.with("bus", bus);
                let props = if a.multifunction {
                    props.with("multifunction", true)
                } else {
                    props
                };
                props.with("addr", a.addr_prop())
            }
            None => props,
        }
    }

    /// Hands out the next fd number for a passed fd.
    pub fn pass_fd(&mut self, owner: &str, source: FdSource) -> i32 {
        let fd = self.next_fd;
        self.next_fd += 1;
        self.fds.push(PassFd {
            fd,
            owner: owner.to_owned(),
            source,
        });
        fd
    }

    pub fn next_fdset(&mut self) -> u32 {
        let s = self.next_fdset;
        self.next_fdset += 1;
        s
    }

    /// Whether DAC relabelling applies to a source with these labels.
    pub fn dac_for(&self, labels: &[SecLabel]) -> bool {
        self.dac && !source_relabel_off(labels, "dac")
    }

    /// The SELinux role for a source with these labels.
    pub fn selinux_for(&self, labels: &[SecLabel], role: SelinuxRole) -> SelinuxRole {
        if !self.selinux || source_relabel_off(labels, "selinux") {
            SelinuxRole::Untouched
        } else {
            role
        }
    }

    pub fn push_resource(&mut self, r: Resource) {
        if !self
            .resources
            .iter()
            .any(|x| x.path == r.path && x.origin == r.origin)
        {
            self.resources.push(r);
        }
    }

    /// Records a host path that must exist, checking its kind through
    /// `HostFacts`. Returns the kind found (or `None` after a problem).
    #[allow(clippy::too_many_arguments)]
    pub fn existing(
        &mut self,
        subject: &str,
        origin: &str,
        path: &str,
        expect: Expect,
        access: Access,
        class: ResourceClass,
        dac_relabel: bool,
        selinux: SelinuxRole,
    ) -> Option<ResourceKind> {
        let found = match self.rt.host.stat(path) {
            Some(f) => f,
            // A preview takes the path for what the XML says it is.
            None if self.rt.host.assume_missing() => match expect {
                Expect::File => PathKind::File,
                Expect::Block => PathKind::BlockDev { major: 0, minor: 0 },
                Expect::Char => PathKind::CharDev { major: 0, minor: 0 },
            },
            None => {
                self.problem(subject, format!("'{path}' does not exist"));
                return None;
            }
        };
        let kind = match (expect, found) {
            (Expect::File, PathKind::File) => ResourceKind::File,
            (Expect::Block, PathKind::BlockDev { major, minor }) => {
                ResourceKind::BlockDev { major, minor }
            }
            (Expect::Char, PathKind::CharDev { major, minor }) => {
                ResourceKind::CharDev { major, minor }
            }
            (_, other) => {
                let want = match expect {
                    Expect::File => "a regular file",
                    Expect::Block => "a block device",
                    Expect::Char => "a character device",
                };
                let is = match other {
                    PathKind::File => "a regular file".to_owned(),
                    PathKind::Dir => "a directory".to_owned(),
                    PathKind::CharDev { major, minor } => {
                        format!("a character device ({major}:{minor})")
                    }
                    PathKind::BlockDev { major, minor } => {
                        format!("a block device ({major}:{minor})")
                    }
                    PathKind::Other => "neither a file nor a device".to_owned(),
                };
                self.problem(subject, format!("'{path}' is {is}, not {want}"));
                return None;
            }
        };
        self.push_resource(Resource {
            path: path.to_owned(),
            kind,
            access,
            origin: origin.to_owned(),
            class,
            provision: Provision::Exists,
            dac_relabel,
            dac_label: None,
            selinux,
        });
        Some(kind)
    }
}
