//! `domxml-to-native qemu-argv`: what QEMU would be started with for a domain XML,
//! as one shell line (like `virsh domxml-to-native`). Shared by the daemon's RPC
//! handler and the CLI's offline path.

use domain_xml::Domain;
use domain_xml::defaults::{DefaultsContext, apply};
use host_config::HostConfig;
use qemu::Capabilities;
use qemu_plan::runtime::DEFAULT_EMULATOR;
use qemu_plan::{PlanInput, Runtime, shell_quote};

use crate::hostfacts::RealHostFacts;
use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{0}")]
    Parse(#[from] domain_xml::ParseError),
    #[error("{0}")]
    Plan(#[from] qemu_plan::PlanError),
}

/// The emulator a domain runs: its `<emulator>` or the default.
pub fn emulator_of(d: &Domain) -> String {
    d.devices
        .emulator
        .clone()
        .unwrap_or_else(|| DEFAULT_EMULATOR.to_owned())
}

/// Fills libvirt's define-time defaults using what the emulator reports.
pub fn fill_defaults(d: &mut Domain, caps: &Capabilities) {
    let emulator = emulator_of(d);
    let default_machine = caps
        .default_machine()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "pc".into());
    let resolve = |m: &str| caps.resolve_machine_alias(m).map(str::to_owned);
    let ctx = DefaultsContext {
        emulator: &emulator,
        arch: "x86_64",
        default_machine: &default_machine,
        resolve_machine: &resolve,
    };
    apply(d, &ctx);
}

/// Plans `d` as if it were started now with id `id` (libvirt uses -1 here; ids are
/// unsigned in the plan, so the preview uses 1) and prints env + argv on one line.
pub fn to_native(
    mut d: Domain,
    config: &HostConfig,
    caps: &Capabilities,
    paths: &Paths,
) -> Result<String, NativeError> {
    fill_defaults(&mut d, caps);
    let id = 1u32;
    let name = d.name.clone();
    let lib_dir = paths.domain_dir(id as i32, &name);
    let lib = lib_dir.to_string_lossy().into_owned();
    let facts = RealHostFacts;
    let runtime = Runtime {
        domain_id: id,
        emulator: Runtime::emulator_for(&d),
        lib_dir: lib.clone(),
        monitor_socket: format!("{lib}/monitor.sock"),
        monitor_fd: 3,
        first_free_fd: 4,
        log_path: paths.log_file(&name).to_string_lossy().into_owned(),
        channel_dir: format!("{lib}/channel"),
        network_bridges: Vec::new(),
        master_key: None,
        hugetlbfs: crate::host::hugetlbfs_mounts(&config.hugetlbfs_mount),
        host: &facts,
    };
    let plan = qemu_plan::plan(&PlanInput {
        domain: &d,
        host: config,
        caps,
        runtime: &runtime,
    })?;
    let mut words: Vec<String> = plan
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", shell_quote(v)))
        .collect();
    words.push(shell_quote(&plan.emulator));
    words.extend(plan.argv.iter().map(|a| shell_quote(a)));
    Ok(words.join(" "))
}

/// Parses and plans an XML document.
pub fn xml_to_native(
    xml: &str,
    config: &HostConfig,
    caps: &Capabilities,
    paths: &Paths,
) -> Result<String, NativeError> {
    let d = domain_xml::parse_domain(xml)?.value;
    to_native(d, config, caps, paths)
}
