//! Which hierarchy holds which controller: parsed from `/proc/self/mountinfo`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{CgroupError, Result, io_err};

/// A controller name as qemu.conf `cgroup_controllers` spells it (libvirt's list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Controller {
    Cpu,
    Cpuacct,
    Cpuset,
    Memory,
    Devices,
    Freezer,
    Blkio,
    NetCls,
    PerfEvent,
    /// The named v1 hierarchy `name=systemd`.
    SystemdName,
}

impl Controller {
    /// All controllers, in libvirt's order; the qemu.conf default (`-1`) means "all of
    /// these that are mounted".
    pub const ALL: [Controller; 10] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Devices,
        Controller::Freezer,
        Controller::Blkio,
        Controller::NetCls,
        Controller::PerfEvent,
        Controller::SystemdName,
    ];

    /// What qemu.conf's default (`cgroup_controllers` unset, i.e. auto-detect)
    /// stands for: every controller except the named `name=systemd` hierarchy, which
    /// libvirt 9.0 left at `/` on this host (observed). Unmounted ones are skipped by
    /// [`crate::cgroup::VmCgroup::create`].
    pub const AUTO: [Controller; 9] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Devices,
        Controller::Freezer,
        Controller::Blkio,
        Controller::NetCls,
        Controller::PerfEvent,
    ];

    /// [`Controller::AUTO`] as names, ready for `VmCgroup::create`.
    pub fn auto_names() -> Vec<&'static str> {
        Controller::AUTO.iter().map(|c| c.name()).collect()
    }

    /// The qemu.conf name, which is also the v1 mount option.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Blkio => "blkio",
            Controller::NetCls => "net_cls",
            Controller::PerfEvent => "perf_event",
            Controller::SystemdName => "name=systemd",
        }
    }

    /// Parses a qemu.conf name; unknown names give libvirt's error text.
    pub fn parse(name: &str) -> Result<Self> {
        Controller::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| CgroupError::UnknownController(name.to_owned()))
    }

    /// The name in a v2 `cgroup.controllers` file, when the controller exists there
    /// as an enableable controller.
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu => Some("cpu"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Memory => Some("memory"),
            Controller::Blkio => Some("io"),
            Controller::PerfEvent => Some("perf_event"),
            _ => None,
        }
    }

    /// Present in every v2 group without being enabled: `devices` (BPF programs) and
    /// `cpuacct` (`cpu.stat`). libvirt's v2 backend claims both whenever cgroup2 is
    /// mounted, before the v1 backend looks.
    pub fn implicit_on_v2(self) -> bool {
        matches!(self, Controller::Devices | Controller::Cpuacct)
    }
}

/// One mounted v1 hierarchy (possibly several co-mounted controllers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Mount {
    pub mount_point: PathBuf,
    /// The cgroup of the hierarchy that is mounted there (mountinfo field 4; `/`
    /// unless this is a bind mount or a cgroup namespace).
    pub root: String,
    /// The controllers of this hierarchy as in the mount options (`cpu`, `cpuacct`,
    /// `name=systemd`, ...).
    pub controllers: Vec<String>,
}

/// The mounted unified (v2) hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Mount {
    pub mount_point: PathBuf,
    pub root: String,
    /// Contents of the root's `cgroup.controllers` (empty in a hybrid setup where v1
    /// holds everything).
    pub controllers: Vec<String>,
}

/// A hierarchy of a [`CgroupLayout`]: an index into `v1`, or the unified one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hierarchy {
    V1(usize),
    V2,
}

/// The cgroup mounts of this host: pure v1, pure v2, or hybrid.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CgroupLayout {
    pub v1: Vec<V1Mount>,
    pub v2: Option<V2Mount>,
    /// `Some` forces where `devices` lives (tests, or a v1-only policy).
    devices_override: Option<u8>,
}

const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
    "nofavordynmods",
];

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl CgroupLayout {
    /// Reads this process's `/proc/self/mountinfo` and detects the layout. Also
    /// checks that the kernel supports BPF device programs on the unified hierarchy
    /// (like libvirt); if not, the device ACL falls back to v1 `devices`.
    pub fn detect_host() -> Result<Self> {
        let p = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(p).map_err(io_err("read", p))?;
        let mut layout = Self::detect(&text)?;
        if let Some(v2) = &layout.v2
            && !super::bpf::devices_supported(&v2.mount_point)
        {
            layout.devices_override = Some(1);
        }
        Ok(layout)
    }

    /// Detects the layout from mountinfo text. Mount points are taken as they are, so
    /// a test can point them into a temporary directory. For the v2 mount,
    /// `<mount>/cgroup.controllers` is read (a missing file counts as empty).
    pub fn detect(mountinfo: &str) -> Result<Self> {
        let mut layout = CgroupLayout::default();
        for line in mountinfo.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let malformed = || CgroupError::Malformed {
                what: "mountinfo",
                line: line.to_owned(),
            };
            let sep = fields
                .iter()
                .position(|f| *f == "-")
                .ok_or_else(malformed)?;
            if sep < 6 || fields.len() < sep + 3 {
                return Err(malformed());
            }
            let root = unescape(fields[3]);
            let mount_point = PathBuf::from(unescape(fields[4]));
            let fstype = fields[sep + 1];
            let superopts = fields[sep + 3];
            match fstype {
                "cgroup" => {
                    let controllers: Vec<String> = superopts
                        .split(',')
                        .filter(|o| !NOT_CONTROLLERS.contains(o))
                        .filter(|o| !o.contains('=') || o.starts_with("name="))
                        .map(str::to_owned)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    // A bind mount of a hierarchy already seen: keep the first.
                    if layout.v1.iter().any(|m| m.controllers == controllers) {
                        continue;
                    }
                    layout.v1.push(V1Mount {
                        mount_point,
                        root,
                        controllers,
                    });
                }
                "cgroup2" if layout.v2.is_none() => {
                    layout.v2 = Some(V2Mount {
                        mount_point,
                        root,
                        controllers: Vec::new(),
                    });
                }
                _ => {}
            }
        }
        if let Some(v2) = &mut layout.v2 {
            let p = v2.mount_point.join("cgroup.controllers");
            v2.controllers = match fs::read_to_string(&p) {
                Ok(s) => s.split_whitespace().map(str::to_owned).collect(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_err("read", p)(e)),
            };
        }
        Ok(layout)
    }

    /// Whether any cgroup hierarchy is mounted.
    pub fn is_empty(&self) -> bool {
        self.v1.is_empty() && self.v2.is_none()
    }

    /// Forces the device ACL onto v1 (`Hierarchy::V1(_)`, if a v1 `devices`
    /// hierarchy is mounted) or v2 (`Hierarchy::V2`), or back to automatic (`None`).
    pub fn force_devices(&mut self, h: Option<Hierarchy>) {
        self.devices_override = h.map(|h| match h {
            Hierarchy::V1(_) => 1,
            Hierarchy::V2 => 2,
        });
    }

    fn v1_index(&self, c: Controller) -> Option<usize> {
        self.v1
            .iter()
            .position(|m| m.controllers.iter().any(|n| n == c.name()))
    }

    /// The hierarchy that holds `c`, or `None` when it is not mounted. v2 wins for
    /// controllers it lists in `cgroup.controllers` and for the implicit ones
    /// (`devices`, `cpuacct`), as libvirt does; the rest come from v1.
    pub fn hierarchy_of(&self, c: Controller) -> Option<Hierarchy> {
        if c == Controller::Devices {
            match self.devices_override {
                Some(1) => return self.v1_index(c).map(Hierarchy::V1),
                Some(2) => return self.v2.as_ref().map(|_| Hierarchy::V2),
                _ => {}
            }
        }
        if let Some(v2) = &self.v2
            && (c.implicit_on_v2()
                || c.v2_name()
                    .is_some_and(|n| v2.controllers.iter().any(|x| x == n)))
        {
            return Some(Hierarchy::V2);
        }
        self.v1_index(c).map(Hierarchy::V1)
    }

    /// Where a hierarchy is mounted (`None` for a hierarchy not in this layout).
    pub fn mount_point(&self, h: Hierarchy) -> Option<&Path> {
        match h {
            Hierarchy::V1(i) => self.v1.get(i).map(|m| m.mount_point.as_path()),
            Hierarchy::V2 => self.v2.as_ref().map(|m| m.mount_point.as_path()),
        }
    }

    fn mount_root(&self, h: Hierarchy) -> &str {
        match h {
            Hierarchy::V1(i) => self.v1.get(i).map_or("/", |m| m.root.as_str()),
            Hierarchy::V2 => self.v2.as_ref().map_or("/", |m| m.root.as_str()),
        }
    }

    /// The directory of cgroup `path` (as `/proc/PID/cgroup` shows it) in hierarchy
    /// `h`. When the mount's root is not `/` (a bind mount of a subtree) that prefix
    /// is removed first.
    pub fn dir_of(&self, h: Hierarchy, path: &str) -> Option<PathBuf> {
        let mp = self.mount_point(h)?;
        let root = self.mount_root(h);
        let rel = if root != "/" {
            path.strip_prefix(root).unwrap_or(path)
        } else {
            path
        };
        let rel = rel.trim_start_matches('/');
        Some(if rel.is_empty() {
            mp.to_path_buf()
        } else {
            mp.join(rel)
        })
    }

    /// The v1 hierarchy whose controllers are exactly `names` (one line of
    /// `/proc/PID/cgroup`), or failing that one that shares a controller with it.
    pub(crate) fn v1_by_names(&self, names: &[&str]) -> Option<usize> {
        self.v1
            .iter()
            .position(|m| {
                m.controllers.len() == names.len()
                    && names.iter().all(|n| m.controllers.iter().any(|c| c == n))
            })
            .or_else(|| {
                self.v1
                    .iter()
                    .position(|m| names.iter().any(|n| m.controllers.iter().any(|c| c == n)))
            })
    }

    /// The controllers (of [`Controller::ALL`]) that `h` holds in this layout.
    pub fn controllers_of(&self, h: Hierarchy) -> Vec<Controller> {
        Controller::ALL
            .into_iter()
            .filter(|c| self.hierarchy_of(*c) == Some(h))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This host: v1 controllers under /sys/fs/cgroup/<c>, cgroup2 at .../unified.
    pub(crate) fn hybrid_mountinfo(base: &Path) -> String {
        let b = base.display();
        let mut s = format!("31 23 0:28 / {b} rw,relatime - tmpfs tmpfs rw,mode=755\n");
        let ctrls = [
            "cpu",
            "cpuacct",
            "cpuset",
            "memory",
            "devices",
            "freezer",
            "blkio",
            "pids",
            "name=systemd",
        ];
        for (i, c) in ctrls.iter().enumerate() {
            let dir = c.strip_prefix("name=").unwrap_or(c);
            s.push_str(&format!(
                "{} 31 0:{} / {b}/{dir} rw,relatime - cgroup cgroup rw,{c}\n",
                32 + i,
                29 + i
            ));
        }
        s.push_str(&format!(
            "41 31 0:38 / {b}/unified rw,relatime - cgroup2 cgroup2 rw\n"
        ));
        s
    }

    #[test]
    fn hybrid_like_this_host() {
        let td = tempfile::tempdir().unwrap();
        fs::create_dir_all(td.path().join("unified")).unwrap();
        fs::write(td.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        let l = CgroupLayout::detect(&hybrid_mountinfo(td.path())).unwrap();
        assert_eq!(l.v1.len(), 9);
        assert_eq!(l.v1[8].controllers, vec!["name=systemd"]);
        let v2 = l.v2.as_ref().unwrap();
        assert_eq!(v2.mount_point, td.path().join("unified"));
        assert_eq!(v2.controllers, vec!["hugetlb"]);
        // As libvirt 9.0 did here: devices and cpuacct on v2, the rest on v1.
        assert_eq!(l.hierarchy_of(Controller::Devices), Some(Hierarchy::V2));
        assert_eq!(l.hierarchy_of(Controller::Cpuacct), Some(Hierarchy::V2));
        for c in [
            Controller::Cpu,
            Controller::Cpuset,
            Controller::Memory,
            Controller::Freezer,
            Controller::Blkio,
        ] {
            let Some(Hierarchy::V1(i)) = l.hierarchy_of(c) else {
                panic!("{c:?} should be on v1");
            };
            assert_eq!(l.v1[i].mount_point, td.path().join(c.name()));
        }
        assert_eq!(l.hierarchy_of(Controller::NetCls), None);
        assert_eq!(
            l.hierarchy_of(Controller::SystemdName),
            Some(Hierarchy::V1(8))
        );

        let mut forced = l.clone();
        forced.force_devices(Some(Hierarchy::V1(0)));
        assert_eq!(
            forced.hierarchy_of(Controller::Devices),
            Some(Hierarchy::V1(4))
        );
        forced.force_devices(None);
        assert_eq!(
            forced.hierarchy_of(Controller::Devices),
            Some(Hierarchy::V2)
        );
    }

    #[test]
    fn pure_v1_with_comounted_cpu_cpuacct() {
        let text = "\
25 20 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/devices rw,nosuid shared:10 - cgroup cgroup rw,devices
28 25 0:25 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
29 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory,clone_children
30 25 0:23 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct
";
        let l = CgroupLayout::detect(text).unwrap();
        assert!(l.v2.is_none());
        assert_eq!(l.v1.len(), 4, "bind mount of cpu,cpuacct counted once");
        assert_eq!(l.v1[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(l.v1[2].controllers, vec!["name=systemd"]);
        assert_eq!(l.v1[3].controllers, vec!["memory"]);
        assert_eq!(l.hierarchy_of(Controller::Cpu), Some(Hierarchy::V1(0)));
        assert_eq!(l.hierarchy_of(Controller::Cpuacct), Some(Hierarchy::V1(0)));
        assert_eq!(l.hierarchy_of(Controller::Devices), Some(Hierarchy::V1(1)));
        assert_eq!(l.hierarchy_of(Controller::Cpuset), None);
        let mut forced = l.clone();
        forced.force_devices(Some(Hierarchy::V2));
        assert_eq!(forced.hierarchy_of(Controller::Devices), None);
        assert_eq!(
            l.dir_of(Hierarchy::V1(0), "/machine/x.rvirt-qemu"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/cpu,cpuacct/machine/x.rvirt-qemu"
            ))
        );
    }

    #[test]
    fn pure_v2() {
        let td = tempfile::tempdir().unwrap();
        let root = td.path().join("cg root");
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )
        .unwrap();
        let mp = root.display().to_string().replace(' ', "\\040");
        let text = format!(
            "35 24 0:30 / {mp} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
        );
        let l = CgroupLayout::detect(&text).unwrap();
        assert!(l.v1.is_empty());
        let v2 = l.v2.as_ref().unwrap();
        assert_eq!(v2.mount_point, root, "\\040 unescaped");
        for c in [
            Controller::Cpu,
            Controller::Cpuacct,
            Controller::Cpuset,
            Controller::Memory,
            Controller::Blkio,
            Controller::Devices,
        ] {
            assert_eq!(l.hierarchy_of(c), Some(Hierarchy::V2), "{c:?}");
        }
        assert_eq!(l.hierarchy_of(Controller::Freezer), None);
        assert_eq!(l.hierarchy_of(Controller::PerfEvent), None);
        assert_eq!(l.controllers_of(Hierarchy::V2).len(), 6);
    }

    #[test]
    fn bind_mounted_subtree_root_is_stripped() {
        let text = "40 31 0:38 /lxc/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let l = CgroupLayout::detect(text).unwrap();
        assert_eq!(
            l.dir_of(Hierarchy::V2, "/lxc/c1/machine/a"),
            Some(PathBuf::from("/sys/fs/cgroup/machine/a"))
        );
        assert_eq!(
            l.dir_of(Hierarchy::V2, "/"),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn malformed_and_empty() {
        assert!(CgroupLayout::detect("1 2 3\n").is_err());
        let l = CgroupLayout::detect("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap();
        assert!(l.is_empty());
    }

    #[test]
    fn controller_names() {
        for c in Controller::ALL {
            assert_eq!(Controller::parse(c.name()).unwrap(), c);
        }
        let e = Controller::parse("pids").unwrap_err();
        assert_eq!(e.to_string(), "Unknown cgroup controller 'pids'");
    }

    #[test]
    fn host_detection_does_not_fail() {
        // Whatever this machine mounts, reading it must work.
        CgroupLayout::detect_host().unwrap();
    }
}
