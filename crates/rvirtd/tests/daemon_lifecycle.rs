//! The daemon's lifecycle guarantees, live: a QEMU killed with SIGKILL is shutoff
//! (crashed) and cleaned up at once; a QEMU that died while the daemon was down is
//! cleaned up from its status file at the next start (owners restored); a restart
//! reconnects and mounts a hugetlbfs that appeared meanwhile into QEMU's private
//! `/dev`; a hugepage domain started after the mount works without a restart.

mod daemon_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, kvm_xml, name, wait_until};

const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn kill9(pid: u32) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
}

fn lib_dirs(d: &Daemon, name: &str) -> Vec<PathBuf> {
    std::fs::read_dir(d.root().join("var/lib/rvirt/qemu"))
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains(name))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn qemu_live_sigkill_is_crashed_and_cleaned_within_100ms() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("ka");
    d.define(&a, &kvm_xml(&a));
    d.ok(&["start", &a]);
    let pid = d.qemu_pid(&a);
    assert!(
        !daemon_support::cgroup_dirs(&a).is_empty()
            || !Path::new("/sys/fs/cgroup/machine").exists()
    );
    assert_eq!(lib_dirs(&d, &a).len(), 1);
    let status = d.status_file(&a);
    let t = Instant::now();
    kill9(pid);
    // The status file goes after the cleanup, just before the snapshot is published.
    let gone = wait_until(Duration::from_secs(5), || {
        (!status.exists()).then(|| t.elapsed())
    });
    let took = gone.expect("status file still there after 5 s");
    println!("SIGKILL → cleaned up: {took:?}");
    assert!(
        took < Duration::from_millis(100),
        "cleanup took {took:?}\n{}",
        d.log_tail()
    );
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (crashed)"
    );
    assert!(daemon_support::cgroup_dirs(&a).is_empty());
    assert!(lib_dirs(&d, &a).is_empty(), "{:?}", lib_dirs(&d, &a));
    assert!(!alive(pid));
    // It starts again.
    d.ok(&["start", &a]);
    d.ok(&["destroy", &a]);
}

#[test]
fn qemu_live_qemu_dead_while_daemon_down_is_cleaned_up() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("da");
    let disk = d.root().join("disk.raw");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    rustix::fs::chown(
        &disk,
        Some(rustix::fs::Uid::from_raw(12345)),
        Some(rustix::fs::Gid::from_raw(12345)),
    )
    .unwrap();
    let xml = format!(
        "<domain type='kvm'><name>{a}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/>\
         <source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
        disk.display()
    );
    d.define(&a, &xml);
    d.ok(&["start", &a]);
    let pid = d.qemu_pid(&a);
    let running_owner = std::fs::metadata(&disk).unwrap().uid();
    assert_ne!(
        running_owner, 12345,
        "the disk should be chowned to QEMU's account"
    );
    d.stop();
    kill9(pid);
    wait_until(Duration::from_secs(5), || (!alive(pid)).then_some(())).expect("QEMU did not die");
    d.spawn();
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "shut off (crashed)"
    );
    let md = std::fs::metadata(&disk).unwrap();
    assert_eq!((md.uid(), md.gid()), (12345, 12345), "owner not restored");
    assert!(!d.status_file(&a).exists());
    assert!(daemon_support::cgroup_dirs(&a).is_empty());
    assert!(lib_dirs(&d, &a).is_empty(), "{:?}", lib_dirs(&d, &a));
    // And it starts again.
    d.ok(&["start", &a]);
    d.ok(&["destroy", &a]);
    assert_eq!(std::fs::metadata(&disk).unwrap().uid(), 12345);
}

/// Mounts a hugetlbfs under /dev for the test; unmounts it (and restores
/// nr_hugepages) when dropped.
struct HugeMount {
    path: PathBuf,
    nr_before: Option<String>,
}

impl HugeMount {
    fn new() -> HugeMount {
        let path = PathBuf::from(format!("/dev/hugepages-rvirt-test-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let m = HugeMount {
            path,
            nr_before: None,
        };
        let st = Command::new("mount")
            .args(["-t", "hugetlbfs", "none"])
            .arg(&m.path)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t hugetlbfs failed");
        m
    }

    /// Makes sure at least `pages` more default-size pages are free.
    fn reserve(&mut self, pages: u64) {
        let nr = std::fs::read_to_string("/proc/sys/vm/nr_hugepages").unwrap();
        let free: u64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("HugePages_Free:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if free < pages {
            let want = nr.trim().parse::<u64>().unwrap() + pages - free;
            std::fs::write("/proc/sys/vm/nr_hugepages", want.to_string()).unwrap();
            self.nr_before = Some(nr);
        }
    }
}

impl Drop for HugeMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
        if let Some(nr) = &self.nr_before {
            let _ = std::fs::write("/proc/sys/vm/nr_hugepages", nr.trim());
        }
    }
}

fn is_hugetlbfs(p: &Path) -> bool {
    rustix::fs::statfs(p).is_ok_and(|s| s.f_type as u64 == HUGETLBFS_MAGIC)
}

#[test]
fn qemu_live_reconnect_mounts_new_hugetlbfs_into_namespace() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let a = name("ha");
    let h = name("hh");
    d.define(&a, &kvm_xml(&a));
    d.ok(&["start", &a]);
    let pid = d.qemu_pid(&a);
    let own_ns = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        own_ns,
        "QEMU should have its own mount namespace"
    );

    // A hugetlbfs appears under /dev after QEMU started: missing inside.
    let mut huge = HugeMount::new();
    let mnt_name = huge.path.file_name().unwrap().to_owned();
    let inside = Path::new("/proc")
        .join(pid.to_string())
        .join("root/dev")
        .join(&mnt_name);
    assert!(!is_hugetlbfs(&inside), "the new mount is already inside?");

    // A hugepage domain started now works without a daemon restart.
    huge.reserve(40);
    d.names.push(h.clone());
    let hx = format!(
        "<domain type='kvm'><name>{h}</name><memory unit='MiB'>64</memory>\
         <memoryBacking><hugepages/></memoryBacking>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
    );
    d.define(&h, &hx);
    d.ok(&["start", &h]);
    let hpid = d.qemu_pid(&h);
    let maps = std::fs::read_to_string(format!("/proc/{hpid}/maps")).unwrap();
    assert!(
        maps.contains(&format!("/dev/{}/", mnt_name.to_string_lossy())),
        "guest RAM is not on the hugetlbfs:\n{maps}"
    );
    d.ok(&["destroy", &h]);

    // Restart: reconnect succeeds, same pid, and the mount now exists inside.
    d.stop();
    assert!(alive(pid));
    let t = Instant::now();
    d.spawn();
    println!(
        "daemon restart → listening (reconnect incl. nsexec): {:?}",
        t.elapsed()
    );
    assert_eq!(d.qemu_pid(&a), pid);
    assert_eq!(
        d.ok(&["domstate", "--reason", &a]).trim(),
        "running (booted)"
    );
    assert!(
        is_hugetlbfs(&inside),
        "{} is not a hugetlbfs after reconnect\n{}",
        inside.display(),
        d.log_tail()
    );
    d.ok(&["suspend", &a]);
    d.ok(&["resume", &a]);
    d.ok(&["destroy", &a]);
    drop(huge);
}
