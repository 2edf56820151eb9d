//! Starting one domain: plan → confined launch → monitor. The only place where the
//! plan's pieces meet the host: per-domain directories, passed descriptors, the
//! cgroup and its device ACL, ownership changes, the launcher handshake, QMP.
//! Every failure undoes what was done before it and names the step.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use confine::cgroup::{CgroupLayout, GROUP_SUFFIX, VmCgroup, machine_name};
use confine::dac::{DacDriver, PasswdDb, Transaction};
use confine::hostops::RealHostOps;
use confine::launcher::Launcher;
use confine::spec::{Identity, LandlockRules, LaunchSpec, NamespaceSpec};
use domain_xml::Domain;
use domain_xml::model::SecLabelType;
use host_config::HostConfig;
use host_config::settings::SecurityDrivers;
use qemu::{Capabilities, QmpClient, QmpConfig, QmpEvents};
use qemu_plan::{Access, FdSource, LaunchPlan, PlanInput, Provision, ResourceClass, ResourceKind};

use crate::hostfacts::RealHostFacts;
use crate::owners::OwnerLedger;
use crate::paths::{Paths, short_name};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Plan(#[from] qemu_plan::PlanError),
    #[error("domain '{domain}': {step}: {message}")]
    Step {
        domain: String,
        step: &'static str,
        message: String,
    },
    #[error(
        "domain '{domain}': QEMU failed to start: {message}{}{}",
        denial.as_ref().map(|d| format!("\n{d}")).unwrap_or_default(),
        log_tail(.log)
    )]
    Qemu {
        domain: String,
        message: String,
        log: String,
        /// Which confinement layer refused, when the log shows an access failure.
        denial: Option<Box<crate::diagnose::Denial>>,
    },
}

fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(8)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!("\nlast lines of the domain log:\n{}", tail.join("\n"))
    }
}

/// Host-wide things a start needs, prepared once by the daemon.
#[derive(Debug)]
pub struct Host {
    pub paths: Paths,
    pub config: HostConfig,
    pub launcher: Launcher,
    /// `None` when no usable cgroup hierarchy exists.
    pub cgroups: Option<CgroupLayout>,
    pub passwd: PasswdDb,
    /// Which running domains hold which chowned files (see [`crate::owners`]).
    pub owners: std::sync::Arc<OwnerLedger>,
}

/// A started QEMU and everything needed to stop it cleanly later.
#[derive(Debug)]
pub struct Running {
    pub pid: u32,
    /// The process handle while QEMU is our child (not after a daemon restart).
    pub child: Option<Child>,
    pub qmp: QmpClient,
    pub events: QmpEvents,
    pub cleanup: Cleanup,
    pub plan: LaunchPlan,
    pub identity: Option<Identity>,
    pub landlock_abi: Option<u32>,
}

/// How a cleanup problem about a file's owner begins (after the domain's name).
pub const OWNER_NOT_RESTORED: &str = "owner not restored";

/// What must be undone when the domain stops (also recorded in the status file).
#[derive(Debug, Default)]
pub struct Cleanup {
    pub domain: String,
    pub lib_dir: Option<PathBuf>,
    pub scratch_dir: Option<PathBuf>,
    pub sockets: Vec<PathBuf>,
    pub cgroup: Option<VmCgroup>,
    pub owners: Transaction,
    pub dac_active: bool,
    pub remember_owner: bool,
    /// cgroup directories known only by path (a QEMU that died while the daemon was
    /// down cannot be asked for its groups): removed with `rmdir` when `cgroup` is
    /// `None`.
    pub cgroup_dirs: Vec<PathBuf>,
    /// Directories the daemon created for the domain outside its private directory
    /// (the per-domain hugetlbfs directory): removed with their content.
    pub created_dirs: Vec<PathBuf>,
}

/// One remembered ownership change, as kept in the status file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnerRecord {
    pub what: String,
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub remember: bool,
    /// The owner before the start, journaled before the chown (absent in records of
    /// older daemons: the remembered-owner xattrs are the fallback then).
    #[serde(default)]
    pub orig: Option<(u32, u32)>,
}

/// The status-file form of a DAC transaction's items.
fn owner_records(t: &Transaction) -> Vec<OwnerRecord> {
    t.items
        .iter()
        .map(|i| OwnerRecord {
            what: i.what.clone(),
            path: i.path.clone(),
            uid: i.uid,
            gid: i.gid,
            remember: i.remember,
            orig: i.orig,
        })
        .collect()
}

/// The DAC transaction a record describes.
pub fn owner_transaction(records: &[OwnerRecord]) -> Transaction {
    let mut owners = Transaction::new();
    for o in records {
        owners.add(o.what.clone(), o.path.clone(), o.uid, o.gid, o.remember);
        if let Some(last) = owners.items.last_mut() {
            last.orig = o.orig;
        }
    }
    owners
}

/// What [`Cleanup`] holds, in a form the status file can carry across a daemon
/// restart (or crash).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CleanupRecord {
    pub domain: String,
    pub lib_dir: Option<PathBuf>,
    pub scratch_dir: Option<PathBuf>,
    pub sockets: Vec<PathBuf>,
    pub cgroup_dirs: Vec<PathBuf>,
    /// The cgroup directory name (`qemu-ID-NAME.rvirt-qemu`), to re-adopt it.
    pub cgroup_name: Option<String>,
    /// Its partition (`/machine`), to find groups of a start cut short.
    #[serde(default)]
    pub cgroup_partition: Option<String>,
    pub owners: Vec<OwnerRecord>,
    pub dac_active: bool,
    pub remember_owner: bool,
    #[serde(default)]
    pub created_dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// The serialisable form of this cleanup.
    pub fn record(&self) -> CleanupRecord {
        let mut cgroup_dirs = self.cgroup_dirs.clone();
        if let Some(cg) = &self.cgroup {
            cgroup_dirs.extend(cg.paths());
        }
        CleanupRecord {
            domain: self.domain.clone(),
            lib_dir: self.lib_dir.clone(),
            scratch_dir: self.scratch_dir.clone(),
            sockets: self.sockets.clone(),
            cgroup_dirs,
            cgroup_name: self.cgroup.as_ref().map(|c| c.dir_name().to_owned()),
            cgroup_partition: self.cgroup.as_ref().map(|c| c.partition().to_owned()),
            owners: owner_records(&self.owners),
            dac_active: self.dac_active,
            remember_owner: self.remember_owner,
            created_dirs: self.created_dirs.clone(),
        }
    }

    /// Rebuilds a cleanup from its record; `cgroup` is the re-adopted group of a
    /// live QEMU (else the recorded directories are removed by path).
    pub fn from_record(r: &CleanupRecord, cgroup: Option<VmCgroup>) -> Cleanup {
        let owners = owner_transaction(&r.owners);
        Cleanup {
            domain: r.domain.clone(),
            lib_dir: r.lib_dir.clone(),
            scratch_dir: r.scratch_dir.clone(),
            sockets: r.sockets.clone(),
            cgroup_dirs: if cgroup.is_some() {
                Vec::new()
            } else {
                r.cgroup_dirs.clone()
            },
            cgroup,
            owners,
            dac_active: r.dac_active,
            remember_owner: r.remember_owner,
            created_dirs: r.created_dirs.clone(),
        }
    }

    /// Restores owners, removes the cgroup, sockets and directories. Best effort:
    /// every failure is returned, none stops the rest. Safe to run again after a
    /// crash in the middle of it (the restore of an owner is idempotent).
    pub fn run(mut self, ledger: &OwnerLedger) -> Vec<String> {
        let mut errors = Vec::new();
        if self.dac_active {
            let mut dac = DacDriver::new(RealHostOps);
            dac.remember_owner = self.remember_owner;
            let mut held = ledger.lock();
            held.release(&self.domain);
            let shared = |p: &Path| held.shared(&self.domain, p);
            errors.extend(
                self.owners
                    .release(&dac, &shared)
                    .iter()
                    .map(|e| format!("domain '{}': {OWNER_NOT_RESTORED}: {e}", self.domain)),
            );
        }
        if let Some(cg) = self.cgroup.take()
            && let Err(e) = cg.remove()
        {
            errors.push(format!("domain '{}': cgroup: {e}", self.domain));
        }
        // Deepest first; a group whose last process is still leaving is retried
        // briefly (rmdir is EBUSY until the kernel has released it).
        let mut dirs = std::mem::take(&mut self.cgroup_dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let mut tries = 0;
            loop {
                match fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if tries < 50 && e.raw_os_error() == Some(libc_ebusy()) => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => {
                        errors.push(format!(
                            "domain '{}': cannot remove cgroup {}: {e}",
                            self.domain,
                            d.display()
                        ));
                        break;
                    }
                }
            }
        }
        for s in &self.sockets {
            let _ = fs::remove_file(s);
        }
        for d in std::mem::take(&mut self.created_dirs).into_iter().chain(
            [self.scratch_dir.take(), self.lib_dir.take()]
                .into_iter()
                .flatten(),
        ) {
            if let Err(e) = fs::remove_dir_all(&d)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                errors.push(format!(
                    "domain '{}': cannot remove {}: {e}",
                    self.domain,
                    d.display()
                ));
            }
        }
        errors
    }
}

/// The machine (cgroup) name of a domain. A `--root` instance adds a short hash of
/// its root, so two instances on one host never share a group (libvirt's embedded
/// driver does the same).
pub fn vm_machine_name(paths: &Paths, id: i32, name: &str) -> String {
    match &paths.root {
        None => machine_name(id as u32, name),
        Some(root) => {
            let h = crate::paths::fnv1a(root.as_os_str().as_encoded_bytes());
            machine_name(id as u32, &format!("r{h:08x}-{name}"))
        }
    }
}

/// The cgroup directory name of a domain (`<machine>.rvirt-qemu`).
pub fn vm_group_dir_name(paths: &Paths, id: i32, name: &str) -> String {
    format!("{}{GROUP_SUFFIX}", vm_machine_name(paths, id, name))
}

fn libc_ebusy() -> i32 {
    rustix::io::Errno::BUSY.raw_os_error()
}

/// QEMU, once it is its own user, must reach its per-domain directory (its HOME,
/// its Landlock rules' root). Directories of the daemon's own tree (the `--root`
/// and below it, or `/var/lib/rvirt`) that are root's and lack search permission
/// get it (`o+x`, `g+x`: libvirt's root-owned 0711 tree; nothing becomes
/// readable); any other blocking directory refuses the start naming it, its mode
/// and owner, and the QEMU user.
fn make_reachable(paths: &Paths, lib_dir: &Path, who: &Identity) -> Result<(), String> {
    let ours = paths
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/rvirt"));
    // Each round fixes one directory; the depth of the path bounds the rounds.
    for _ in 0..=lib_dir.components().count() {
        let denial = match confine::dac::check_identity_access(&RealHostOps, lib_dir, who, false) {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        let fixable = denial.problem == confine::dac::AccessProblem::Search
            && denial.blocking.starts_with(&ours)
            && denial.owner.is_some_and(|(uid, _, _)| uid == 0);
        if !fixable {
            return Err(format!(
                "QEMU's private directory is unreachable for QEMU's account: {denial}"
            ));
        }
        let mode = denial.owner.map_or(0o700, |(_, _, m)| m & 0o7777) | 0o011;
        fs::set_permissions(&denial.blocking, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot make {} traversable: {e}", denial.blocking.display()))?;
        tracing::info!(
            "made {} traversable ({mode:04o}) so that QEMU (uid {}) reaches {}",
            denial.blocking.display(),
            who.uid,
            lib_dir.display()
        );
    }
    Err(format!("{} stays unreachable for QEMU", lib_dir.display()))
}

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

fn step<'a>(domain: &'a str, step: &'static str) -> impl Fn(String) -> StartError + 'a {
    move |message| StartError::Step {
        domain: domain.to_owned(),
        step,
        message,
    }
}

pub fn landlock_rules(plan: &LaunchPlan) -> LandlockRules {
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
    let exists = |p: &PathBuf| p.starts_with(qemu_plan::HOTPLUG_DIR) || p.exists();
    read.retain(exists);
    read.sort();
    read.dedup();
    rules.read_write.retain(exists);
    rules.read_write.sort();
    rules.read_write.dedup();
    rules.read = read;
    rules
}

/// Starts `d` with id `id`: QEMU is left paused (`-S`); the caller sends `cont`.
pub async fn start(
    host: &Host,
    caps: &Capabilities,
    d: &Domain,
    id: i32,
) -> Result<Running, StartError> {
    start_journaled(host, caps, d, id, &|_| {}).await
}

/// Called with what a crash at this point would leave to undo: once everything but
/// the ownership changes exists, with the planned ownership changes, right before
/// they are made (QEMU is not running yet).
pub type Journal<'a> = &'a (dyn Fn(&CleanupRecord) + Send + Sync);

/// [`start`], telling `journal` what to undo before changing file owners, so a
/// daemon killed during a start can be cleaned up after (see [`Journal`]).
pub async fn start_journaled(
    host: &Host,
    caps: &Capabilities,
    d: &Domain,
    id: i32,
    journal: Journal<'_>,
) -> Result<Running, StartError> {
    let name = d.name.clone();
    let mut cleanup = Cleanup {
        domain: name.clone(),
        dac_active: false,
        remember_owner: host.config.remember_owner,
        ..Cleanup::default()
    };
    match start_inner(host, caps, d, id, &mut cleanup, journal).await {
        Ok(mut r) => {
            r.cleanup = cleanup;
            Ok(r)
        }
        Err(e) => {
            for problem in cleanup.run(&host.owners) {
                tracing::warn!("{problem}");
            }
            Err(e)
        }
    }
}

async fn start_inner(
    host: &Host,
    caps: &Capabilities,
    d: &Domain,
    id: i32,
    cleanup: &mut Cleanup,
    journal: Journal<'_>,
) -> Result<Running, StartError> {
    let t0 = std::time::Instant::now();
    let name = d.name.as_str();
    if d.seclabels
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
    let dac = decide_dac(d, &host.config, &host.passwd).map_err(step(name, "DAC"))?;
    let paths = &host.paths;
    let lib_dir = paths.domain_dir(id, name);
    let monitor = lib_dir.join("monitor.sock");
    let log_path = paths.log_file(name);
    // The runtime borrows a non-Sync host view: keep it out of the async state.
    let plan = {
        let facts = RealHostFacts;
        let runtime = qemu_runtime::runtime::runtime(paths, &host.config, id as u32, d, &facts);
        qemu_plan::plan(&PlanInput {
            domain: d,
            host: &host.config,
            caps,
            runtime: &runtime,
        })?
    };

    // Per-domain directory: QEMU's HOME, owned by its account.
    let err = step(name, "per-domain directory");
    fs::create_dir_all(&lib_dir)
        .map_err(|e| err(format!("cannot create {}: {e}", lib_dir.display())))?;
    cleanup.lib_dir = Some(lib_dir.clone());
    fs::set_permissions(&lib_dir, fs::Permissions::from_mode(0o750))
        .map_err(|e| err(e.to_string()))?;
    rustix::fs::chown(
        &lib_dir,
        Some(rustix::fs::Uid::from_raw(dac.identity.uid)),
        Some(rustix::fs::Gid::from_raw(dac.identity.gid)),
    )
    .map_err(|e| err(format!("cannot chown {}: {e}", lib_dir.display())))?;
    if dac.identity.uid != 0 {
        make_reachable(paths, &lib_dir, &dac.identity).map_err(&err)?;
    }
    fs::create_dir_all(&paths.log_dir).map_err(|e| err(e.to_string()))?;
    // Other directories the plan wants made (the per-domain hugetlbfs directory,
    // `<mount>/libvirt/<instance>/ID-NAME`), owned by QEMU's account. Mounts are read at
    // each start, so a hugetlbfs mounted after the daemon started is used at once.
    for r in plan
        .resources
        .iter()
        .filter(|r| r.provision == Provision::DaemonCreates && matches!(r.kind, ResourceKind::Dir))
    {
        let p = Path::new(&r.path);
        if p == lib_dir || p.exists() {
            continue;
        }
        fs::create_dir_all(p)
            .map_err(|e| err(format!("{}: cannot create {}: {e}", r.origin, p.display())))?;
        cleanup.created_dirs.push(p.to_path_buf());
        fs::set_permissions(p, fs::Permissions::from_mode(0o750))
            .map_err(|e| err(e.to_string()))?;
        rustix::fs::chown(
            p,
            Some(rustix::fs::Uid::from_raw(dac.identity.uid)),
            Some(rustix::fs::Gid::from_raw(dac.identity.gid)),
        )
        .map_err(|e| err(format!("cannot chown {}: {e}", p.display())))?;
    }

    tracing::debug!(
        "domain '{name}': start: planned + directories at {:?}",
        t0.elapsed()
    );
    // Descriptors the daemon opens for QEMU.
    let err = step(name, "passed descriptors");
    let mut owned: Vec<(OwnedFd, i32)> = Vec::new();
    for f in &plan.fds {
        let fd: OwnedFd = match &f.source {
            FdSource::UnixListener { path } => {
                let _ = fs::remove_file(path);
                if let Some(parent) = Path::new(path).parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| err(format!("{}: {e}", parent.display())))?;
                }
                let l = UnixListener::bind(path)
                    .map_err(|e| err(format!("{}: cannot listen on {path}: {e}", f.owner)))?;
                cleanup.sockets.push(PathBuf::from(path));
                l.into()
            }
            FdSource::File { path, append } => fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(*append)
                .truncate(!*append)
                .open(path)
                .map_err(|e| err(format!("{}: cannot open {path}: {e}", f.owner)))?
                .into(),
            FdSource::Tap { .. } => {
                return Err(err(format!(
                    "{}: tap devices are not supported yet",
                    f.owner
                )));
            }
        };
        owned.push((fd, f.fd));
    }

    tracing::debug!("domain '{name}': start: descriptors at {:?}", t0.elapsed());
    // cgroup with the device ACL.
    let controllers: Vec<&str> = host
        .config
        .cgroup_controllers
        .iter()
        .map(|c| c.name())
        .collect();
    if let Some(layout) = &host.cgroups
        && !controllers.is_empty()
    {
        let err = step(name, "cgroup");
        let partition = d
            .resource_partition
            .as_deref()
            .unwrap_or(confine::cgroup::DEFAULT_PARTITION);
        let mut cg = VmCgroup::create(
            layout,
            partition,
            &vm_machine_name(paths, id, name),
            &controllers,
        )
        .map_err(|e| err(e.to_string()))?;
        if controllers.contains(&"devices") {
            cg.apply_device_acl(&plan.cgroup_acl()).map_err(|e| {
                err(format!("device ACL: {e}; the devices controller can be left out with qemu.conf cgroup_controllers"))
            })?;
        }
        cleanup.cgroup = Some(cg);
    }

    tracing::debug!("domain '{name}': start: cgroup at {:?}", t0.elapsed());
    // Log header, as libvirt writes it: the command line and the taints.
    {
        let err = step(name, "log file");
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| err(format!("{}: {e}", log_path.display())))?;
        let mut header = String::new();
        header.push_str(&plan.to_args_file());
        for t in &plan.taints {
            header.push_str(&format!("Domain id={id} is tainted: {}\n", t.as_str()));
        }
        log.write_all(header.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }

    let identity = (dac.identity.uid != 0 || dac.identity.gid != 0).then(|| dac.identity.clone());
    let scratch = paths
        .state_dir
        .join(format!("{}.dev", short_name(id, name)));
    let namespace = if plan.mount_namespace {
        fs::create_dir_all(&scratch)
            .map_err(|e| step(name, "namespace")(format!("{}: {e}", scratch.display())))?;
        cleanup.scratch_dir = Some(scratch.clone());
        Some(NamespaceSpec {
            dev_nodes: plan.dev_nodes(&RealHostFacts),
            dirs: plan
                .hotplug_dirs()
                .into_iter()
                .map(|(d, _)| PathBuf::from(d))
                .collect(),
            scratch_dir: scratch,
        })
    } else {
        None
    };
    let spec = LaunchSpec {
        name: name.to_owned(),
        emulator: PathBuf::from(&plan.emulator),
        args: plan.argv.clone(),
        env: plan.env.clone(),
        cwd: lib_dir.clone(),
        identity: identity.clone(),
        namespace,
        cgroup_procs: cleanup
            .cgroup
            .as_ref()
            .map(VmCgroup::procs_paths)
            .unwrap_or_default(),
        selinux_exec_label: None,
        landlock: plan.landlock.then(|| landlock_rules(&plan)),
        log_path: log_path.clone(),
        keep_fds: owned.iter().map(|(_, n)| *n).collect(),
    };

    // Ownership while the launcher waits in its namespace: the resources QEMU uses.
    let mut owners = Transaction::new();
    if dac.relabel {
        for r in plan.resources.iter().filter(|r| r.dac_relabel) {
            let (uid, gid) = match &r.dac_label {
                Some(l) => host
                    .passwd
                    .parse_ownership(l)
                    .map_err(|e| step(name, "DAC")(format!("{}: label '{l}': {e}", r.origin)))?,
                None => (dac.identity.uid, dac.identity.gid),
            };
            let remember = host.config.remember_owner
                && (r.access == Access::ReadWrite || r.class == ResourceClass::Grant);
            owners.add(r.origin.clone(), PathBuf::from(&r.path), uid, gid, remember);
        }
    }

    tracing::debug!("domain '{name}': start: log header at {:?}", t0.elapsed());
    let launcher = host.launcher.clone();
    let launch = tokio::task::spawn_blocking(move || {
        let fds: Vec<_> = owned.iter().map(|(f, n)| (f.as_fd(), *n)).collect();
        let mut h = launcher.spawn_mapped(&spec, &fds)?;
        drop(fds);
        h.wait_prepared()?;
        Ok::<_, confine::launcher::LaunchError>((h, owned))
    });
    let (mut handle, owned) = launch
        .await
        .map_err(|e| step(name, "launcher")(e.to_string()))?
        .map_err(|e| step(name, "launcher")(e.to_string()))?;

    tracing::debug!(
        "domain '{name}': start: launcher prepared at {:?}",
        t0.elapsed()
    );
    let mut dac_driver = DacDriver::new(RealHostOps);
    dac_driver.remember_owner = host.config.remember_owner;
    dac_driver.dynamic_ownership = host.config.dynamic_ownership;
    // The original owners are learned and journaled (durably) before any chown,
    // with the ledger locked so no other domain changes these files meanwhile.
    {
        let mut held = host.owners.lock();
        let mut planned = cleanup.record();
        if dac.relabel {
            owners
                .fill_origins(&dac_driver, &|p| held.origin_elsewhere(name, p))
                .map_err(|e| step(name, "DAC")(e.to_string()))?;
            planned.dac_active = true;
            planned.owners = owner_records(&owners);
        }
        journal(&planned);
        if dac.relabel {
            owners
                .commit(&dac_driver, &|p| held.shared(name, p))
                .map_err(|e| step(name, "DAC")(e.to_string()))?;
            held.hold(name, &owners.items);
            cleanup.owners = owners;
            cleanup.dac_active = true;
        }
    }
    // Refuse early, naming the layer, rather than letting QEMU fail with a bare EACCES.
    if let Some(id) = &identity {
        // The log and passed files are opened by the daemon/launcher as root.
        let checked = plan.resources.iter().filter(|r| {
            matches!(r.kind, ResourceKind::File | ResourceKind::BlockDev { .. })
                && r.provision != Provision::PassedAsFd
                && r.path != plan.log_path
                && Path::new(&r.path).exists()
        });
        for r in checked {
            dac_driver
                .check_access(
                    Path::new(&r.path),
                    id.uid,
                    id.gid,
                    &id.groups,
                    r.access == Access::ReadWrite,
                )
                .map_err(|denial| step(name, "access check")(format!("{}: {denial}", r.origin)))?;
        }
    }

    tracing::debug!(
        "domain '{name}': start: DAC + access check at {:?}",
        t0.elapsed()
    );
    let launched = tokio::task::spawn_blocking(move || {
        handle.go()?;
        handle.wait_exec()
    })
    .await
    .map_err(|e| step(name, "launcher")(e.to_string()))?
    .map_err(|e| step(name, "launcher")(e.to_string()))?;
    drop(owned);
    let pid = launched.child.id();
    let mut child = launched.child;
    let landlock_abi = launched.landlock.as_ref().map(|l| l.abi);
    if let Some(l) = &launched.landlock {
        // Say what Landlock really enforced (the kernel may offer an older ABI).
        if let Ok(mut log) = fs::OpenOptions::new().append(true).open(&log_path) {
            let what = match l.enforcement {
                confine::launcher::LandlockEnforcement::Full => "fully enforced",
                confine::launcher::LandlockEnforcement::Partial => {
                    "enforced; rights newer than this kernel's ABI stay allowed"
                }
                confine::launcher::LandlockEnforcement::None => "not available: nothing restricted",
            };
            let _ = writeln!(log, "Landlock: ABI {} {what}", l.abi);
        }
    }

    tracing::debug!("domain '{name}': start: exec at {:?}", t0.elapsed());
    let qmp = tokio::time::timeout(
        Duration::from_secs(30),
        QmpClient::connect(&monitor, QmpConfig::default()),
    )
    .await;
    let (qmp, events) = match qmp {
        Ok(Ok(q)) => q,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer on the monitor within 30 s".into(),
            };
            let _ = child.kill();
            let _ = child.wait();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let (uid, gid, groups) = identity
                .as_ref()
                .map_or((0, 0, Vec::new()), |i| (i.uid, i.gid, i.groups.clone()));
            let ctx = crate::diagnose::Context {
                uid,
                gid,
                groups,
                device_acl: cleanup.cgroup.is_some() && controllers.contains(&"devices"),
            };
            let denial = crate::diagnose::diagnose(&log, &plan, &ctx).map(Box::new);
            return Err(StartError::Qemu {
                domain: name.to_owned(),
                message: why,
                log,
                denial,
            });
        }
    };
    tracing::debug!(
        "domain '{name}': start: QMP connected at {:?}",
        t0.elapsed()
    );
    Ok(Running {
        pid,
        child: Some(child),
        qmp,
        events,
        cleanup: Cleanup::default(),
        plan,
        identity,
        landlock_abi,
    })
}
