//! The per-VM cgroup: naming, creation, joining, device ACL, reconnect, removal.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::bpf::BpfDeviceAcl;
use super::error::{CgroupError, Result, io_err};
use super::layout::{CgroupLayout, Controller, Hierarchy};
use super::rule::DeviceRule;

/// `<resource><partition>` when the domain has none.
pub const DEFAULT_PARTITION: &str = "/machine";
/// Suffix of a VM group directory (libvirt uses `.libvirt-qemu`).
pub const GROUP_SUFFIX: &str = ".rvirt-qemu";
const MACHINE_NAME_MAX: usize = 64;

/// libvirt's machine name `qemu-<id>-<name>`: of the domain name only
/// `[A-Za-z0-9-.]` is kept, runs of `-`/`.` collapse to their first character, a
/// leading `-`/`.` is dropped, the whole is capped at 64 characters and trailing
/// `-`/`.` are trimmed.
pub fn machine_name(id: u32, name: &str) -> String {
    let mut s = format!("qemu-{id}-");
    let sep = |c: char| c == '-' || c == '.';
    for c in name.chars() {
        if s.len() >= MACHINE_NAME_MAX {
            break;
        }
        if !(c.is_ascii_alphanumeric() || sep(c)) {
            continue;
        }
        // The prefix ends in '-', so this also drops leading separators.
        if sep(c) && s.ends_with(sep) {
            continue;
        }
        s.push(c);
    }
    s.truncate(MACHINE_NAME_MAX);
    while s.ends_with(sep) {
        s.pop();
    }
    s
}

/// The directory name of a VM's group: `qemu-<id>-<name>.rvirt-qemu`.
pub fn group_dir_name(id: u32, name: &str) -> String {
    format!("{}{GROUP_SUFFIX}", machine_name(id, name))
}

/// Checks a partition (`/machine`, `/a/b`) and returns its components.
fn partition_components(partition: &str) -> Result<Vec<&str>> {
    let bad = || CgroupError::InvalidPartition(partition.to_owned());
    let rest = partition.strip_prefix('/').ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let comps: Vec<&str> = rest.split('/').collect();
    if comps
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == ".." || c.contains('\0'))
    {
        return Err(bad());
    }
    Ok(comps)
}

/// One line of `/proc/PID/cgroup`: hierarchy id, controllers (empty for v2), path.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<(u32, Vec<String>, String)>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let bad = || CgroupError::Malformed {
                what: "/proc/PID/cgroup",
                line: l.to_owned(),
            };
            let mut it = l.splitn(3, ':');
            let id = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let ctrls = it.next().ok_or_else(bad)?;
            let path = it.next().ok_or_else(bad)?;
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            Ok((id, ctrls, path.to_owned()))
        })
        .collect()
}

fn write_str(path: &Path, s: &str) -> Result<()> {
    fs::write(path, s).map_err(io_err("write", path))
}

fn read_trimmed(path: &Path) -> io::Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_owned())
}

fn mkdir(path: &Path) -> Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err("create", path)(e)),
    }
}

/// Things a new v1 group needs before a process can join: an empty cpuset would
/// refuse tasks, so copy `cpuset.cpus`/`cpuset.mems` from the parent; on old
/// kernels turn on `memory.use_hierarchy`.
fn init_v1_dir(dir: &Path, parent: &Path, controllers: &[Controller]) -> Result<()> {
    if controllers.contains(&Controller::Cpuset) {
        for f in ["cpuset.mems", "cpuset.cpus"] {
            let Ok(pv) = read_trimmed(&parent.join(f)) else {
                continue;
            };
            let mine = read_trimmed(&dir.join(f)).unwrap_or_default();
            if mine.is_empty() && !pv.is_empty() {
                write_str(&dir.join(f), &pv)?;
            }
        }
    }
    if controllers.contains(&Controller::Memory) {
        let f = dir.join("memory.use_hierarchy");
        if read_trimmed(&f).is_ok_and(|v| v == "0") {
            // Refused when the parent already decided; not fatal.
            let _ = fs::write(&f, "1");
        }
    }
    Ok(())
}

/// Enables `names` in `dir/cgroup.subtree_control` where `dir/cgroup.controllers`
/// offers them and they are not on yet.
fn enable_subtree(dir: &Path, names: &[&str]) -> Result<()> {
    let avail = read_trimmed(&dir.join("cgroup.controllers")).unwrap_or_default();
    let sc = dir.join("cgroup.subtree_control");
    let on = read_trimmed(&sc).unwrap_or_default();
    let listed = |s: &str, n: &str| s.split_whitespace().any(|x| x == n);
    let missing: Vec<&&str> = names
        .iter()
        .filter(|n| listed(&avail, n) && !listed(&on, n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&sc)
        .map_err(io_err("open", &sc))?;
    for n in missing {
        // One controller per write(2), so that an error names it.
        f.write_all(format!("+{n}\n").as_bytes())
            .map_err(|source| CgroupError::Io {
                op: "enable controller in",
                path: sc.clone(),
                source: io::Error::new(source.kind(), format!("+{n}: {source}")),
            })?;
    }
    Ok(())
}

/// The device ACL backend of a VM group.
#[derive(Debug)]
pub enum DeviceAcl {
    /// v1: `devices.allow`/`devices.deny` in this directory.
    V1(PathBuf),
    /// v2: the BPF program and map on the VM's unified group.
    V2(BpfDeviceAcl),
}

/// The group of one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    hierarchy: Hierarchy,
    dir: PathBuf,
    controllers: Vec<Controller>,
}

/// A VM's cgroup: one directory per hierarchy that holds a requested controller.
#[derive(Debug)]
pub struct VmCgroup {
    dir_name: String,
    partition: String,
    groups: Vec<Group>,
    devices: Option<DeviceAcl>,
}

impl VmCgroup {
    /// Creates (or reuses) `<partition>/<machine>.rvirt-qemu` in every hierarchy that
    /// holds one of `controllers` (qemu.conf names; unmounted ones are skipped,
    /// unknown ones are an error). `machine` is [`machine_name`]'s result. Missing
    /// partition directories are created; on v2 the requested controllers are
    /// enabled in `cgroup.subtree_control` from the root down to the partition.
    pub fn create(
        layout: &CgroupLayout,
        partition: &str,
        machine: &str,
        controllers: &[&str],
    ) -> Result<Self> {
        let comps = partition_components(partition)?;
        let dir_name = format!("{machine}{GROUP_SUFFIX}");
        if machine.is_empty() || machine.contains('/') || machine.starts_with('.') {
            return Err(CgroupError::InvalidName(machine.to_owned()));
        }
        let mut wanted: BTreeMap<Hierarchy, Vec<Controller>> = BTreeMap::new();
        for name in controllers {
            let c = Controller::parse(name)?;
            if let Some(h) = layout.hierarchy_of(c) {
                let v = wanted.entry(h).or_default();
                if !v.contains(&c) {
                    v.push(c);
                }
            }
        }
        if wanted.is_empty() {
            return Err(CgroupError::NoControllers(controllers.join(", ")));
        }
        let mut groups = Vec::new();
        for (h, ctrls) in wanted {
            let Some(mut dir) = layout.mount_point(h).map(Path::to_path_buf) else {
                continue;
            };
            let v2_names: Vec<&str> = ctrls.iter().filter_map(|c| c.v2_name()).collect();
            for comp in comps.iter().copied().chain([dir_name.as_str()]) {
                if h == Hierarchy::V2 {
                    enable_subtree(&dir, &v2_names)?;
                }
                let parent = dir.clone();
                dir.push(comp);
                if mkdir(&dir)? && h != Hierarchy::V2 {
                    init_v1_dir(&dir, &parent, &ctrls)?;
                }
            }
            groups.push(Group {
                hierarchy: h,
                dir,
                controllers: ctrls,
            });
        }
        Ok(VmCgroup {
            dir_name,
            partition: format!("/{}", comps.join("/")),
            groups,
            devices: None,
        })
    }

    /// Re-adopts the groups of a running VM from `/proc/<pid>/cgroup` (reconnect
    /// after a daemon restart). `machine`, when given, must match the group name.
    /// Use a layout with the same device policy as at creation (see
    /// [`CgroupLayout::force_devices`]): it decides which controllers each adopted
    /// directory stands for.
    /// Nothing is created; the device ACL is found again by
    /// [`VmCgroup::reconnect_device_acl`] (or lazily by `allow_device`/`deny_device`).
    pub fn find_for_pid(layout: &CgroupLayout, pid: u32, machine: Option<&str>) -> Result<Self> {
        let p = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = fs::read_to_string(&p).map_err(io_err("read", &p))?;
        Self::from_proc_cgroup(layout, &text, pid, machine)
    }

    /// [`VmCgroup::find_for_pid`] on given `/proc/PID/cgroup` text.
    pub fn from_proc_cgroup(
        layout: &CgroupLayout,
        text: &str,
        pid: u32,
        machine: Option<&str>,
    ) -> Result<Self> {
        let want = machine.map(|m| format!("{m}{GROUP_SUFFIX}"));
        let not_found = || CgroupError::NotInVmCgroup {
            pid,
            expected: want.clone().unwrap_or_else(|| format!("*{GROUP_SUFFIX}")),
        };
        let mut groups: Vec<Group> = Vec::new();
        let mut found: Option<(String, String)> = None; // (dir name, partition)
        for (id, ctrls, path) in parse_proc_cgroup(text)? {
            let h = if id == 0 && ctrls.is_empty() {
                if layout.v2.is_none() {
                    continue;
                }
                Hierarchy::V2
            } else {
                let names: Vec<&str> = ctrls.iter().map(String::as_str).collect();
                match layout.v1_by_names(&names) {
                    Some(i) => Hierarchy::V1(i),
                    None => continue,
                }
            };
            let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            let Some(pos) = comps.iter().rposition(|c| match &want {
                Some(w) => c == w,
                None => c.ends_with(GROUP_SUFFIX) && c.len() > GROUP_SUFFIX.len(),
            }) else {
                continue;
            };
            let vm_path = format!("/{}", comps[..=pos].join("/"));
            let partition = format!("/{}", comps[..pos].join("/"));
            match &found {
                Some((n, _)) if n != comps[pos] => continue, // another VM's group
                None => found = Some((comps[pos].to_owned(), partition)),
                _ => {}
            }
            let Some(dir) = layout.dir_of(h, &vm_path) else {
                continue;
            };
            if groups.iter().any(|g| g.hierarchy == h) {
                continue;
            }
            groups.push(Group {
                hierarchy: h,
                dir,
                controllers: layout.controllers_of(h),
            });
        }
        let (dir_name, partition) = found.ok_or_else(not_found)?;
        groups.sort_by_key(|g| g.hierarchy);
        Ok(VmCgroup {
            dir_name,
            partition,
            groups,
            devices: None,
        })
    }

    /// The group directory name (`qemu-<id>-<name>.rvirt-qemu`).
    pub fn dir_name(&self) -> &str {
        &self.dir_name
    }

    /// The partition, e.g. `/machine`.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The group's directory in every hierarchy, v1 ones first.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.groups.iter().map(|g| g.dir.clone()).collect()
    }

    /// The `cgroup.procs` files the launcher writes its pid to (before it drops
    /// privileges), one per hierarchy.
    pub fn procs_paths(&self) -> Vec<PathBuf> {
        self.groups
            .iter()
            .map(|g| g.dir.join("cgroup.procs"))
            .collect()
    }

    /// The directory that holds controller `c` for this VM, if any.
    pub fn dir_for(&self, c: Controller) -> Option<&Path> {
        self.groups
            .iter()
            .find(|g| g.controllers.contains(&c))
            .map(|g| g.dir.as_path())
    }

    /// The v2 group directory, if the VM has one.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.groups
            .iter()
            .find(|g| g.hierarchy == Hierarchy::V2)
            .map(|g| g.dir.as_path())
    }

    /// Moves process `pid` (all its threads) into the group in every hierarchy.
    pub fn add_pid(&self, pid: u32) -> Result<()> {
        for p in self.procs_paths() {
            write_str(&p, &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the group (union over the hierarchies), e.g. to check that
    /// none is left before [`VmCgroup::remove`]. Sub-groups are not included.
    pub fn pids(&self) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for p in self.procs_paths() {
            let text = match fs::read_to_string(&p) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read", &p)(e)),
            };
            out.extend(
                text.split_whitespace()
                    .filter_map(|t| t.parse::<u32>().ok()),
            );
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn devices_group(&self) -> Result<&Group> {
        self.groups
            .iter()
            .find(|g| g.controllers.contains(&Controller::Devices))
            .ok_or(CgroupError::NoDevicesController)
    }

    /// Installs the device ACL: v1 writes `a` to `devices.deny`, then each rule to
    /// `devices.allow`; v2 attaches the BPF program with a map holding `rules`.
    pub fn apply_device_acl(&mut self, rules: &[DeviceRule]) -> Result<()> {
        let g = self.devices_group()?.clone();
        let acl = match g.hierarchy {
            Hierarchy::V1(_) => {
                write_str(&g.dir.join("devices.deny"), "a")?;
                write_v1_rules(&g.dir.join("devices.allow"), rules)?;
                DeviceAcl::V1(g.dir)
            }
            Hierarchy::V2 => DeviceAcl::V2(BpfDeviceAcl::install(&g.dir, rules)?),
        };
        self.devices = Some(acl);
        Ok(())
    }

    /// Finds the device ACL of an adopted group again: on v1 the directory, on v2
    /// the attached program and its map. Returns whether one is in place.
    pub fn reconnect_device_acl(&mut self) -> Result<bool> {
        if self.devices.is_some() {
            return Ok(true);
        }
        let g = self.devices_group()?;
        self.devices = match g.hierarchy {
            Hierarchy::V1(_) => Some(DeviceAcl::V1(g.dir.clone())),
            Hierarchy::V2 => BpfDeviceAcl::find(&g.dir)?.map(DeviceAcl::V2),
        };
        Ok(self.devices.is_some())
    }

    fn acl_mut(&mut self) -> Result<&mut DeviceAcl> {
        if !self.reconnect_device_acl()? {
            let dir = self.devices_group()?.dir.clone();
            return Err(CgroupError::NoDeviceAcl(dir));
        }
        self.devices
            .as_mut()
            .ok_or_else(|| CgroupError::NoDeviceAcl(PathBuf::new()))
    }

    /// The device ACL handle, once applied or reconnected.
    pub fn device_acl(&self) -> Option<&DeviceAcl> {
        self.devices.as_ref()
    }

    /// Allows one more device (hotplug).
    pub fn allow_device(&mut self, rule: &DeviceRule) -> Result<()> {
        match self.acl_mut()? {
            DeviceAcl::V1(dir) => {
                write_v1_rules(&dir.join("devices.allow"), std::slice::from_ref(rule))
            }
            DeviceAcl::V2(b) => b.allow(rule),
        }
    }

    /// Takes a device away again (unplug). See [`BpfDeviceAcl::deny`] for the v2
    /// granularity.
    pub fn deny_device(&mut self, rule: &DeviceRule) -> Result<()> {
        match self.acl_mut()? {
            DeviceAcl::V1(dir) => {
                write_v1_rules(&dir.join("devices.deny"), std::slice::from_ref(rule))
            }
            DeviceAcl::V2(b) => b.deny(rule),
        }
    }

    /// The rules in force: v1 `devices.list`, v2 the map contents.
    pub fn device_rules(&mut self) -> Result<Vec<DeviceRule>> {
        match self.acl_mut()? {
            DeviceAcl::V1(dir) => {
                let p = dir.join("devices.list");
                let text = fs::read_to_string(&p).map_err(io_err("read", &p))?;
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        l.parse::<DeviceRule>()
                            .map_err(|e| CgroupError::InvalidRule(e.0))
                    })
                    .collect()
            }
            DeviceAcl::V2(b) => b.rules(),
        }
    }

    /// Removes the group from every hierarchy (sub-groups first). All its processes
    /// must have exited; groups that are already gone are fine. Closes the BPF fds
    /// (the kernel drops the program with the cgroup).
    pub fn remove(mut self) -> Result<()> {
        self.devices = None;
        let mut first_err = None;
        for g in &self.groups {
            if let Err(e) = rmdir_tree(&g.dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Writes one rule per `write(2)` (the kernel parses one rule per write).
fn write_v1_rules(path: &Path, rules: &[DeviceRule]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("open", path))?;
    for r in rules.iter().filter(|r| !r.is_empty()) {
        for line in r.v1_lines() {
            f.write_all(format!("{line}\n").as_bytes())
                .map_err(|source| CgroupError::Io {
                    op: "write device rule to",
                    path: path.to_path_buf(),
                    source: io::Error::new(source.kind(), format!("{line:?}: {source}")),
                })?;
        }
    }
    Ok(())
}

/// rmdir of `dir` after its sub-directories; a missing `dir` is fine. Regular files
/// are never removed (cgroupfs control files go with the directory).
/// Removes group directories known by path, deepest first. A group whose last
/// process is still leaving is retried briefly (`rmdir` is `EBUSY` until the kernel
/// has released it); missing ones are fine. Returns the directories it could not
/// remove, with why.
pub fn remove_group_dirs(dirs: &[PathBuf]) -> Vec<(PathBuf, io::Error)> {
    let mut sorted = dirs.to_vec();
    sorted.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let mut failed = Vec::new();
    for d in sorted {
        let mut tries = 0;
        loop {
            match fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if tries < 50 && e.raw_os_error() == Some(libc::EBUSY) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => {
                    failed.push((d, e));
                    break;
                }
            }
        }
    }
    failed
}

fn rmdir_tree(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    for e in entries {
        let e = e.map_err(io_err("read directory", dir))?;
        if e.file_type().map_err(io_err("stat", e.path()))?.is_dir() {
            rmdir_tree(&e.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names() {
        assert_eq!(machine_name(1, "anchor-cmdline"), "qemu-1-anchor-cmdline");
        assert_eq!(
            group_dir_name(1, "anchor-cmdline"),
            "qemu-1-anchor-cmdline.rvirt-qemu"
        );
        assert_eq!(machine_name(7, "my vm_1!"), "qemu-7-myvm1");
        assert_eq!(machine_name(2, "a--b..c.-d"), "qemu-2-a-b.c.d");
        assert_eq!(machine_name(3, "-.-lead"), "qemu-3-lead");
        assert_eq!(machine_name(4, "trail.-"), "qemu-4-trail");
        assert_eq!(machine_name(5, "a_-_b"), "qemu-5-a-b");
        assert_eq!(machine_name(6, "日本"), "qemu-6");
        let long = "x".repeat(100);
        let m = machine_name(12, &long);
        assert_eq!(m.len(), 64);
        assert_eq!(m, format!("qemu-12-{}", "x".repeat(56)));
        // Cut exactly after a separator: trimmed.
        let m = machine_name(1, &format!("{}-yyy", "x".repeat(56)));
        assert_eq!(m, format!("qemu-1-{}", "x".repeat(56)));
    }

    #[test]
    fn partitions() {
        assert_eq!(partition_components("/machine").unwrap(), vec!["machine"]);
        assert_eq!(partition_components("/a/b").unwrap(), vec!["a", "b"]);
        assert!(partition_components("/").unwrap().is_empty());
        for bad in ["machine", "/a//b", "/a/../b", "/./a", "/a/"] {
            assert!(partition_components(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proc_cgroup_parsing() {
        let t = "9:name=systemd:/\n7:blkio:/machine/x.rvirt-qemu\n1:cpu,cpuacct:/a\n0::/machine/x.rvirt-qemu/emulator\n";
        let v = parse_proc_cgroup(t).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], (9, vec!["name=systemd".to_owned()], "/".to_owned()));
        assert_eq!(v[2].1, vec!["cpu", "cpuacct"]);
        assert_eq!(
            v[3],
            (0, vec![], "/machine/x.rvirt-qemu/emulator".to_owned())
        );
        assert!(parse_proc_cgroup("x:y\n").is_err());
    }
}
