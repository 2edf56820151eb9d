//! The host decisions of a start, made before anything is done: who QEMU runs as,
//! which files change owner and to what, which directories, descriptors, cgroup,
//! `/dev` nodes and Landlock rules. Pure: the host is seen only through the
//! planner's [`HostFacts`]; the result is the executor's [`StartPlan`].

use std::path::{Path, PathBuf};

use confine::dac::{PasswdDb, Transaction};
use confine::exec::{AccessCheck, CgroupPlan, DirPlan, FilePlan, Reach, StartPlan};
use confine::spec::{Identity, LandlockRules, LaunchSpec, NamespaceSpec};
use domain_xml::Domain;
use domain_xml::model::SecLabelType;
use host_config::HostConfig;
use host_config::settings::SecurityDrivers;
use qemu_plan::{Access, HostFacts, LaunchPlan, Provision, ResourceKind};

use super::cleanup::vm_machine_name;
use super::host::{Host, StartError};
use crate::paths::short_name;

/// Who QEMU runs as and whether files are relabelled, from qemu.conf and the
/// domain's DAC `<seclabel>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DacDecision {
    pub identity: Identity,
    pub relabel: bool,
}

pub fn decide_dac(
    d: &Domain,
    config: &HostConfig,
    passwd: &PasswdDb,
) -> Result<DacDecision, String> {
    let drivers_off = matches!(config.security_driver, SecurityDrivers::None);
    let dac_label = d.seclabels.iter().find(|s| s.is_model("dac"));
    // A model-less `type='none'` turns off the primary driver; without SELinux here,
    // that is DAC.
    let none_label = d
        .seclabels
        .iter()
        .any(|s| s.model.is_none() && s.label_type == Some(SecLabelType::None));
    let user = config.user.to_string();
    let group = config.group.to_string();
    let mut identity = passwd
        .resolve_account(&user, Some(&group))
        .map_err(|e| format!("qemu.conf user/group '{user}:{group}': {e}"))?;
    let mut relabel = config.dynamic_ownership && !drivers_off && !none_label;
    if drivers_off {
        // kbase "QEMU command-line passthrough": `security_driver = []` disables the
        // DAC driver too, so QEMU keeps the daemon's root identity and nothing is
        // relabelled.
        return Ok(DacDecision {
            identity: passwd.identity(0, 0),
            relabel: false,
        });
    }
    if let Some(l) = dac_label {
        if l.label_type == Some(SecLabelType::None) {
            relabel = false;
        } else if let Some(label) = &l.label {
            let (uid, gid) = passwd
                .parse_ownership(label)
                .map_err(|e| format!("<seclabel model='dac'> label '{label}': {e}"))?;
            identity = passwd.identity(uid, gid);
        }
        if l.relabel == Some(false) {
            relabel = false;
        }
    }
    Ok(DacDecision { identity, relabel })
}

/// Landlock's rules for `plan`, for paths that exist on this host.
pub fn landlock_rules(plan: &LaunchPlan) -> LandlockRules {
    landlock_rules_with(plan, &|p| p.exists())
}

/// Landlock's rules for `plan`; `exists` says which paths exist (a rule needs its
/// path to exist when it is made).
pub fn landlock_rules_with(plan: &LaunchPlan, exists: &dyn Fn(&Path) -> bool) -> LandlockRules {
    let mut rules = LandlockRules::default();
    let mut read: Vec<PathBuf> = confine::landlock::default_read_paths(Path::new(&plan.emulator));
    for r in plan.landlock_rules() {
        match r.access {
            Access::ReadOnly => read.push(PathBuf::from(&r.path)),
            Access::ReadWrite => rules.read_write.push(PathBuf::from(&r.path)),
        }
    }
    // The hot-plug directories exist only in QEMU's private /dev (the launcher makes
    // them before it applies Landlock there).
    let exists = |p: &PathBuf| p.starts_with(qemu_plan::HOTPLUG_DIR) || exists(p);
    read.retain(exists);
    read.sort();
    read.dedup();
    rules.read_write.retain(exists);
    rules.read_write.sort();
    rules.read_write.dedup();
    rules.read = read;
    rules
}

fn step<'a>(domain: &'a str, step: &'static str) -> impl Fn(String) -> StartError + 'a {
    move |message| StartError::Step {
        domain: domain.to_owned(),
        step,
        message,
    }
}

/// Refusals that come before any planning of the host side.
fn check_confinement(host: &Host, d: &Domain) -> Result<(), StartError> {
    let name = d.name.as_str();
    if host.selinux.is_none()
        && d.seclabels
            .iter()
            .any(|s| s.is_model("selinux") && s.label_type != Some(SecLabelType::None))
    {
        return Err(step(name, "SELinux")(
            "the domain asks for an SELinux label but SELinux is not enabled on this host; remove the <seclabel model='selinux'> or use type='none'".into(),
        ));
    }
    if host.config.security_require_confined
        && d.seclabels
            .iter()
            .any(|s| s.label_type == Some(SecLabelType::None))
    {
        return Err(step(name, "security")(
            "unconfined guests are not allowed on this host (qemu.conf security_require_confined = 1): remove <seclabel type='none'>"
                .into(),
        ));
    }
    Ok(())
}

/// Everything a start of `d` (planned as `plan`, id `id`) does on the host, and the
/// SELinux MCS level it took (to give back if the start does not happen).
pub fn prepare(
    host: &Host,
    d: &Domain,
    id: i32,
    plan: &LaunchPlan,
    facts: &dyn HostFacts,
) -> Result<(StartPlan, Option<String>), StartError> {
    let mut start = prepare_without_selinux(host, d, id, plan, facts)?;
    let Some(sel) = &host.selinux else {
        return Ok((start, None));
    };
    let labels = super::selinux::plan(sel, &host.config, d, plan)
        .map_err(step(d.name.as_str(), "SELinux"))?;
    start.launch.selinux_exec_label = labels.exec_label;
    start.labels = labels.files;
    Ok((start, labels.allocated_mcs))
}

fn prepare_without_selinux(
    host: &Host,
    d: &Domain,
    id: i32,
    plan: &LaunchPlan,
    facts: &dyn HostFacts,
) -> Result<StartPlan, StartError> {
    check_confinement(host, d)?;
    let name = d.name.as_str();
    let dac = decide_dac(d, &host.config, &host.passwd).map_err(step(name, "DAC"))?;
    let paths = &host.paths;
    let who = &dac.identity;
    let owned_dir = |path: PathBuf, what: &str| DirPlan {
        path,
        mode: 0o750,
        uid: who.uid,
        gid: who.gid,
        what: what.to_owned(),
    };
    let lib_dir = paths.domain_dir(id, name);
    let dirs = plan
        .resources
        .iter()
        .filter(|r| r.provision == Provision::DaemonCreates && matches!(r.kind, ResourceKind::Dir))
        .map(|r| PathBuf::from(&r.path))
        .filter(|p| *p != lib_dir)
        .map(|p| owned_dir(p, "directory"))
        .collect();
    let identity = (who.uid != 0 || who.gid != 0).then(|| who.clone());
    let files = template_files(plan);
    let exists =
        |p: &Path| facts.stat(&p.to_string_lossy()).is_some() || files.iter().any(|f| f.path == p);
    Ok(StartPlan {
        domain: name.to_owned(),
        lib_dir: owned_dir(lib_dir.clone(), "per-domain directory"),
        reach: (who.uid != 0).then(|| Reach {
            within: paths
                .root
                .clone()
                .unwrap_or_else(|| PathBuf::from("/var/lib/rvirt")),
            who: who.clone(),
        }),
        log_dir: paths.log_dir.clone(),
        dirs,
        files: files.clone(),
        fds: plan.fds.clone(),
        cgroup: cgroup_plan(host, d, id, plan),
        helpers: super::swtpm::helpers(
            paths,
            d,
            &plan.tpm_emulators,
            identity.as_ref(),
            plan.landlock,
        ),
        log_path: paths.log_file(name),
        log_header: log_header(plan, id),
        launch: launch_spec(host, name, id, plan, facts, identity.clone()),
        owners: if dac.relabel {
            owner_changes(host, plan, who).map_err(step(name, "DAC"))?
        } else {
            Transaction::new()
        },
        labels: Vec::new(),
        access_checks: identity
            .as_ref()
            .map(|_| access_checks(plan, &exists))
            .unwrap_or_default(),
    })
}

/// What the launcher does: QEMU's argv and environment, its identity, private
/// `/dev`, Landlock rules and descriptors.
fn launch_spec(
    host: &Host,
    name: &str,
    id: i32,
    plan: &LaunchPlan,
    facts: &dyn HostFacts,
    identity: Option<Identity>,
) -> LaunchSpec {
    let paths = &host.paths;
    // The directories the start makes exist by the time Landlock's rules are made.
    let made = |p: &Path| {
        plan.resources.iter().any(|r| {
            r.provision == Provision::DaemonCreates
                && matches!(r.kind, ResourceKind::Dir)
                && Path::new(&r.path) == p
        })
    };
    let files = template_files(plan);
    let exists = |p: &Path| {
        made(p) || files.iter().any(|f| f.path == p) || facts.stat(&p.to_string_lossy()).is_some()
    };
    LaunchSpec {
        name: name.to_owned(),
        emulator: PathBuf::from(&plan.emulator),
        args: plan.argv.clone(),
        env: plan.env.clone(),
        cwd: paths.domain_dir(id, name),
        identity,
        namespace: plan.mount_namespace.then(|| NamespaceSpec {
            dev_nodes: plan.dev_nodes(facts),
            dirs: plan
                .hotplug_dirs()
                .into_iter()
                .map(|(d, _)| PathBuf::from(d))
                .collect(),
            scratch_dir: paths
                .state_dir
                .join(format!("{}.dev", short_name(id, name))),
        }),
        cgroup_procs: Vec::new(),
        selinux_exec_label: None,
        landlock: plan.landlock.then(|| landlock_rules_with(plan, &exists)),
        log_path: paths.log_file(name),
        keep_fds: plan.fds.iter().map(|f| f.fd).collect(),
    }
}

/// Files the start makes from a template: the UEFI variable store of a domain
/// that has none yet (libvirt copies the firmware's template at first start).
fn template_files(plan: &LaunchPlan) -> Vec<FilePlan> {
    plan.nvram_from_template
        .iter()
        .map(|(template, path)| FilePlan {
            path: PathBuf::from(path),
            template: PathBuf::from(template),
            what: "nvram".into(),
        })
        .collect()
}

/// The per-VM cgroup, when the host has a hierarchy and qemu.conf names controllers.
fn cgroup_plan(host: &Host, d: &Domain, id: i32, plan: &LaunchPlan) -> Option<CgroupPlan> {
    let controllers: Vec<String> = host
        .config
        .cgroup_controllers
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    if host.cgroups.is_none() || controllers.is_empty() {
        return None;
    }
    let devices = controllers.iter().any(|c| c == "devices");
    Some(CgroupPlan {
        partition: d
            .resource_partition
            .clone()
            .unwrap_or_else(|| confine::cgroup::DEFAULT_PARTITION.to_owned()),
        machine: vm_machine_name(&host.paths, id, &d.name),
        controllers,
        device_acl: devices.then(|| plan.cgroup_acl()),
    })
}

/// The domain log's header, as libvirt writes it: the command line and the taints.
fn log_header(plan: &LaunchPlan, id: i32) -> String {
    let mut header = plan.to_args_file();
    for t in &plan.taints {
        header.push_str(&format!("Domain id={id} is tainted: {}\n", t.as_str()));
    }
    header
}

/// The files QEMU uses, chowned to its account (or a per-source DAC label).
fn owner_changes(host: &Host, plan: &LaunchPlan, who: &Identity) -> Result<Transaction, String> {
    let mut owners = Transaction::new();
    for r in plan.resources.iter().filter(|r| r.dac_relabel) {
        let (uid, gid) = match &r.dac_label {
            Some(l) => host
                .passwd
                .parse_ownership(l)
                .map_err(|e| format!("{}: label '{l}': {e}", r.origin))?,
            None => (who.uid, who.gid),
        };
        // Read-only files are remembered too (libvirt leaves them out): another
        // daemon sharing the file then learns its real owner from the xattrs, and
        // their reference count keeps it QEMU's while anyone still uses it.
        owners.add(
            r.origin.clone(),
            PathBuf::from(&r.path),
            uid,
            gid,
            host.config.remember_owner,
        );
    }
    Ok(owners)
}

/// Files QEMU opens itself, checked as its identity before it runs (the log and
/// passed files are opened as root).
fn access_checks(plan: &LaunchPlan, exists: &dyn Fn(&Path) -> bool) -> Vec<AccessCheck> {
    plan.resources
        .iter()
        .filter(|r| {
            matches!(r.kind, ResourceKind::File | ResourceKind::BlockDev { .. })
                && r.provision != Provision::PassedAsFd
                && r.path != plan.log_path
                && exists(Path::new(&r.path))
        })
        .map(|r| AccessCheck {
            path: PathBuf::from(&r.path),
            write: r.access == Access::ReadWrite,
            origin: r.origin.clone(),
        })
        .collect()
}
