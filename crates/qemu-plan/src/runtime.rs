//! What the daemon decides before planning (ids, paths, fd numbers) and the
//! read-only view of the host the planner may consult ([`HostFacts`]).

use std::fmt;

use domain_xml::Domain;

/// The emulator used when the domain has no `<emulator>`.
pub const DEFAULT_EMULATOR: &str = "/usr/bin/qemu-system-x86_64";

/// The `PATH` QEMU gets, whatever the daemon's own is (systemd's default).
pub const QEMU_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a host path is, as `stat(2)` would say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    File,
    Dir,
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    /// A socket, FIFO or symlink target the planner does not care about.
    Other,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathKind::File => f.write_str("file"),
            PathKind::Dir => f.write_str("dir"),
            PathKind::CharDev { major, minor } => write!(f, "char {major}:{minor}"),
            PathKind::BlockDev { major, minor } => write!(f, "block {major}:{minor}"),
            PathKind::Other => f.write_str("other"),
        }
    }
}

/// Stat-like facts about host paths. The daemon implements it with real
/// `stat(2)` calls made before planning; tests inject a table. Keeping every
/// host lookup behind this trait is what keeps [`crate::plan`] pure.
pub trait HostFacts {
    /// `None` when the path does not exist.
    fn stat(&self, path: &str) -> Option<PathKind>;

    /// The backing file recorded in the header of the qcow2 image at `path`
    /// (resolved to an absolute path), or `None` when it has none. Asked only
    /// where the domain XML does not spell the chain out.
    fn backing_file(&self, path: &str) -> Option<ImageBacking>;

    /// Whether [`HostFacts::backing_file`] reads the images. A host that does
    /// not (libvirt's own test harness, which never probes) leaves a chain the
    /// XML left open as it is: no `"backing":null` is claimed for it.
    fn reads_image_headers(&self) -> bool {
        true
    }

    /// The owner and permission bits of `path` (for device nodes: the private `/dev`
    /// copies them); `None` when unknown.
    fn owner(&self, _path: &str) -> Option<PathOwner> {
        None
    }

    /// The host's NUMA nodes (`/sys/devices/system/node/online`); `None` when
    /// unknown, and then `<numatune>` node sets are left to QEMU to check.
    fn numa_nodes(&self) -> Option<Vec<u32>> {
        None
    }

    /// Whether `path` is a CD-ROM drive (libvirt asks the drive with
    /// `CDROM_DRIVE_STATUS`); such a raw cdrom is opened as `host_cdrom`. The
    /// default answers no: `host_device` works for a drive too, only without
    /// QEMU noticing media changes made on the host.
    fn is_cdrom(&self, _path: &str) -> bool {
        false
    }

    /// The path with every symlink resolved (`realpath`), or `None` when it does
    /// not exist. Used to refuse grants that lead into `/proc` or `/sys`. The
    /// default treats paths as free of links (table-driven fakes).
    fn canonical(&self, path: &str) -> Option<String> {
        self.stat(path).map(|_| path.to_owned())
    }

    /// A TCP port from `from` up (at most 65535) that nothing listens on at
    /// `address` and that is not in `taken`: a graphics `autoport`. `None`
    /// when none is free; the default knows no ports.
    fn free_tcp_port(&self, _address: &str, _from: u16, _taken: &[u16]) -> Option<u16> {
        None
    }

    /// `true` for a preview (`domxml-to-native`): a path the XML names that
    /// does not exist is taken to be what the XML says it is (as libvirt's
    /// preview does), instead of refusing the plan. A start never assumes.
    fn assume_missing(&self) -> bool {
        false
    }

    /// The host's time in seconds since the epoch (for `<clock
    /// offset='variable'|'absolute'>`); `None` when unknown.
    fn now_unix(&self) -> Option<i64> {
        None
    }
}

/// A backing file named in an image header.
/// Who owns a path and its permission bits (`st_mode & 0o7777`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathOwner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBacking {
    pub path: String,
    /// The format recorded with it; libvirt refuses to guess a missing one.
    pub format: Option<String>,
}

/// A hugetlbfs mount the daemon knows about (from `hugetlbfs_mount` or
/// `/proc/mounts`), with its page size read at daemon start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HugetlbfsMountInfo {
    pub path: String,
    pub page_size_kib: u64,
    /// Used for `<hugepages/>` without a size (the host's default page size).
    pub default: bool,
}

/// Ids, paths and fd numbers chosen by the daemon for this start.
pub struct Runtime<'a> {
    /// The domain id (`-name`, hugepage and namespace paths use it).
    pub domain_id: u32,
    /// The binary to run: see [`Runtime::emulator_for`].
    pub emulator: String,
    /// The per-domain private directory, e.g. `/var/lib/rvirt/qemu/domain-1-web1`.
    /// `HOME`/XDG variables point here, the default VNC socket lives here.
    pub lib_dir: String,
    /// The monitor socket path (the daemon creates and listens on it).
    pub monitor_socket: String,
    /// The fd number at which QEMU inherits the listening monitor socket.
    pub monitor_fd: i32,
    /// The first fd number the plan may assign to further passed fds (serial
    /// files, taps); numbers are handed out upwards from here.
    pub first_free_fd: i32,
    /// The domain log file (QEMU's stdout/stderr; opened by the daemon).
    pub log_path: String,
    /// The per-domain directory for virtio channel sockets without an explicit
    /// path (libvirt: `<channel target dir>/domain-<id>-<name>`).
    pub channel_dir: String,
    /// `<interface type='network'>`: the bridge of each active network, as
    /// `(network name, bridge)`; a network not listed cannot be used.
    pub network_bridges: Vec<(String, String)>,
    /// The master key file, passed as a `secret` object when set.
    pub master_key: Option<String>,
    /// The hugetlbfs mounts of the host, in configuration order.
    pub hugetlbfs: Vec<HugetlbfsMountInfo>,
    /// The directory under `<mount>/libvirt/` holding per-domain hugetlbfs
    /// directories: `qemu` for the system instance; an embedded (`--root`)
    /// instance uses its own (libvirt uses a hash of the root) so two instances
    /// never share `<mount>/libvirt/qemu/ID-NAME`.
    pub hugepage_subdir: String,
    /// Stat-like host facts.
    pub host: &'a dyn HostFacts,
}

impl fmt::Debug for Runtime<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("domain_id", &self.domain_id)
            .field("emulator", &self.emulator)
            .field("lib_dir", &self.lib_dir)
            .field("monitor_socket", &self.monitor_socket)
            .field("monitor_fd", &self.monitor_fd)
            .field("first_free_fd", &self.first_free_fd)
            .field("log_path", &self.log_path)
            .field("channel_dir", &self.channel_dir)
            .field("network_bridges", &self.network_bridges)
            .field("master_key", &self.master_key)
            .field("hugetlbfs", &self.hugetlbfs)
            .finish_non_exhaustive()
    }
}

impl Runtime<'_> {
    /// The emulator for a domain: its `<emulator>`, or [`DEFAULT_EMULATOR`].
    pub fn emulator_for(domain: &Domain) -> String {
        domain
            .devices
            .emulator
            .clone()
            .unwrap_or_else(|| DEFAULT_EMULATOR.to_owned())
    }

    /// libvirt's short name: `<id>-<name cut to 20 characters>`.
    pub fn short_name(domain_id: u32, name: &str) -> String {
        let cut: String = name.chars().take(20).collect();
        format!("{domain_id}-{cut}")
    }
}
