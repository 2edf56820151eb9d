//! Pure launch planning for rvirt's QEMU driver.
//!
//! [`plan`] turns a domain definition, the host configuration (`qemu.conf`),
//! the emulator's capabilities and the daemon's runtime decisions into a
//! [`LaunchPlan`]: the argv and environment libvirt 9.0 would use, the fds the
//! daemon must pass, the taints, and one list of every host path QEMU needs
//! ([`Resource`]) from which the private `/dev`, the cgroup device ACL, the
//! DAC chown list and the Landlock rules are all derived.
//!
//! Planning is pure: no syscalls, no file system access, deterministic. Host
//! facts (does this path exist, is it a block device, major:minor) come in
//! through the [`HostFacts`] trait.
//!
//! Anything the domain asks for that rvirt cannot do is an error naming every
//! such element ([`PlanError`]), never a silent omission. That includes all
//! XML kept but not understood ([`domain_xml::Domain::unsupported`]).
//!
//! # Usage
//!
//! ```text
//! let runtime = Runtime { domain_id, emulator: Runtime::emulator_for(&dom), lib_dir, .. , host: &facts };
//! let plan = qemu_plan::plan(&PlanInput { domain: &dom, host: &qemu_conf, caps: &caps, runtime: &runtime })?;
//! // open plan.fds, create plan.resources with provision DaemonCreates, chown plan.chown_paths(),
//! // build /dev from plan.dev_nodes(), load plan.cgroup_acl(), apply plan.landlock_rules(),
//! // exec plan.emulator with plan.argv and exactly plan.env.
//! ```
//!
//! # What is planned
//!
//! kvm/tcg; pc and q35 machines (aliases resolved through the capabilities),
//! `vmport`/`smm` features; `-cpu` from `<cpu>`; RAM, hugepage (hugetlbfs
//! file) and memfd backends; vCPU topology and hot-pluggable vCPUs;
//! iothreads; direct kernel boot, ROM and UEFI pflash firmware (with secure
//! boot and an nvram copied from its template by the daemon); boot order
//! (legacy `<os><boot>` mapped to `bootindex` as libvirt does) and boot
//! menu; clock offset and the usual timers; `<pm>` S3/S4; file and block
//! disks with backing chains and cache modes on virtio, SATA (q35), IDE (pc)
//! and virtio-scsi; user, bridge, ethernet and network NICs (taps opened by
//! the daemon); `pcie-root-port`s, USB (piix3-uhci, qemu-xhci) and
//! virtio-serial controllers; serials (pty, file through `-add-fd`, UNIX
//! listening by fd or connecting, null); virtio channels (guest agent); USB
//! and virtio tablet, mouse and keyboard; `<audio type='none'>` and sound cards (ac97,
//! es1370, ich6, ich9); VNC; VGA, cirrus and virtio video; balloon; RNG
//! (random, builtin); i6300esb/ib700 watchdogs; the whole `qemu:` namespace.
//! Everything else is refused by name.
//!
//! Landlock rules say `ro` for read (and execute) and `rw` for read/write
//! (and creating, for directories).
//!
//! # Choices that differ from libvirt
//!
//! * Nothing is added implicitly: defaults libvirt fills in at define time
//!   (USB controller, memballoon, PS/2 devices, `<audio>`, the virtio-serial
//!   controller, PCI addresses in the XML) appear on the command line only
//!   when they are in the domain. PCI addresses missing from the XML are
//!   assigned on the root bus in libvirt's order; on q35 such devices sit on
//!   `pcie.0` directly rather than behind new `pcie-root-port`s (explicit
//!   root ports in the XML are honoured).
//! * `<cpu mode='host-model'>` becomes `-cpu host` under KVM and `-cpu max`
//!   under TCG instead of libvirt's expansion to a named model.
//! * The backing chain is the one in the XML (`<backingStore>`), continued
//!   through the image headers (`HostFacts::backing_file`) where the XML
//!   leaves a qcow2 layer open; the chain is then closed (`"backing":null`).
//! * No vhost-net for virtio NICs.
//! * `cgroup_device_acl` replaces the default list, as in libvirt; the ACL
//!   grants `rw` (no `m`), as libvirt 9.0's BPF program was observed to.
//! * `<qemu:capabilities>` names are not checked against a list.
//! * Lifecycle actions: only the defaults, plus `<on_reboot>destroy`, which
//!   the daemon applies through QMP (see [`LaunchPlan::reboot_is_shutdown`]).

pub mod error;
pub mod grants;
pub mod json;
pub mod launch;
mod planner;
pub mod resources;
pub mod runtime;

use domain_xml::Domain;
use host_config::HostConfig;
use qemu_caps::Capabilities;

pub use error::{PlanError, Problem};
pub use grants::{HOTPLUG_DIR, grant_access, grant_resource, hotplug_dir, hotplug_node_path};
pub use launch::{FdSource, LaunchPlan, PassFd, Taint, TpmEmulator, shell_quote};
pub use planner::SANDBOX_ON;
pub use resources::{
    Access, DevNode, DeviceKind, DeviceRule, LandlockRule, NodeKind, Provision, Resource,
    ResourceClass, ResourceKind, ResourceViews, SelinuxRole,
};
pub use runtime::{
    DEFAULT_EMULATOR, HostFacts, HugetlbfsMountInfo, ImageBacking, PathKind, PathOwner, Runtime,
};

/// Everything a plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub domain: &'a Domain,
    pub host: &'a HostConfig,
    /// The emulator's probed capabilities; `<qemu:capabilities>` adjusts a
    /// copy before planning.
    pub caps: &'a Capabilities,
    pub runtime: &'a Runtime<'a>,
}

/// Plans the start of a domain. Pure and deterministic.
pub fn plan(input: &PlanInput<'_>) -> Result<LaunchPlan, PlanError> {
    planner::run(input.domain, input.host, input.caps, input.runtime)
}
