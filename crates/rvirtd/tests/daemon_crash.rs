//! Crash safety: the daemon is killed with SIGKILL at random points while it
//! defines, starts, stops and undefines domains whose files belong to a non-root
//! user (each its own disk, all three one read-only ISO). After each restart no
//! definition is lost or half-written, every QEMU is tracked (listed as running) or
//! gone, no start journal is left, every disk of a domain that is not running is
//! back with its owner (the shared ISO once no domain runs), and no mount of the
//! daemon's tree is left. `RVIRT_CRASH_ROUNDS` (default 200: one kill a round) and
//! `RVIRT_CRASH_SEED` replay a run; `make soak` runs more.

mod daemon_support;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, name};

const OWNER: u32 = 4242;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn xml(name: &str, disk: &std::path::Path, iso: &std::path::Path, mem: u32) -> String {
    format!(
        "<domain type='kvm'><name>{name}</name><memory unit='MiB'>{mem}</memory>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/>\
         <source file='{}'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
         <source file='{}'/><target dev='hdc' bus='ide'/><readonly/></disk>\
         </devices></domain>",
        disk.display(),
        iso.display()
    )
}

/// A file of `size` bytes owned by `OWNER`, mode 0640.
fn user_file(path: &std::path::Path, size: usize) {
    std::fs::write(path, vec![0u8; size]).unwrap();
    rustix::fs::chown(
        path,
        Some(rustix::fs::Uid::from_raw(OWNER)),
        Some(rustix::fs::Gid::from_raw(OWNER)),
    )
    .unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
}

fn check(
    d: &Daemon,
    defined: &BTreeSet<String>,
    disks: &[(String, PathBuf)],
    iso: &std::path::Path,
    round: usize,
) {
    let ctx = || format!("round {round}\n{}", d.log_tail());
    // Definitions: all there, none half-written.
    for e in std::fs::read_dir(d.root().join("etc/rvirt/qemu")).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_file() && n.ends_with(".xml") && !n.starts_with('.') {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                domain_xml::parse_domain(&text).is_ok(),
                "{} is damaged:\n{text}\n{}",
                p.display(),
                ctx()
            );
        }
    }
    let all: BTreeSet<String> = d
        .ok(&["list", "--all", "--name"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for n in defined {
        assert!(
            all.contains(n),
            "definition of {n} lost; have {all:?}\n{}",
            ctx()
        );
    }
    // Every QEMU is tracked.
    let running: BTreeSet<String> = d
        .ok(&["list", "--name"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let pids = d.qemu_pids();
    let mut tracked = BTreeSet::new();
    for n in &running {
        tracked.insert(d.qemu_pid(n));
    }
    for pid in &pids {
        assert!(
            tracked.contains(pid),
            "QEMU pid {pid} is not tracked (running: {running:?}); state dir {:?}; \
             status {:?}; cmdline {}\n{}",
            std::fs::read_dir(d.root().join("run/rvirt/qemu"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("State") || l.starts_with("PPid"))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(
                &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
            )
            .replace('\0', " "),
            ctx()
        );
    }
    let leftover: Vec<_> = std::fs::read_dir(d.root().join("run/rvirt/qemu"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".starting"))
        .collect();
    assert!(
        leftover.is_empty(),
        "start journals left: {leftover:?}\n{}",
        ctx()
    );
    // No mount of the daemon's tree in the host's namespace (the private /dev lives
    // only in QEMU's).
    let root = d.root().to_string_lossy().into_owned();
    let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root))
        .map(str::to_owned)
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}\n{}", ctx());
    if running.is_empty() {
        let md = std::fs::metadata(iso).unwrap();
        assert_eq!(
            (md.uid(), md.gid()),
            (OWNER, OWNER),
            "shared ISO not back with its owner with no domain running\n{}",
            ctx()
        );
    }
    // Owners of the disks of domains that are not running.
    for (n, disk) in disks {
        if !running.contains(n) {
            let md = std::fs::metadata(disk).unwrap();
            assert_eq!(
                (md.uid(), md.gid()),
                (OWNER, OWNER),
                "{} of stopped {n} not back with its owner\n{}",
                disk.display(),
                ctx()
            );
        }
    }
}

#[test]
fn qemu_live_crash_safety_daemon_killed_at_random_points() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let rounds: usize = std::env::var("RVIRT_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed = std::env::var("RVIRT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("RVIRT_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut d = Daemon::start();
    let doms: Vec<String> = (0..3).map(|i| name(&format!("c{i}"))).collect();
    let mut disks = Vec::new();
    let iso = d.root().join("shared.iso");
    user_file(&iso, 1 << 16);
    for n in &doms {
        d.names.push(n.clone());
        let disk = d.root().join(format!("{n}.raw"));
        user_file(&disk, 1 << 20);
        disks.push((n.clone(), disk));
    }
    let mut defined = BTreeSet::new();
    let mut kills = 0;
    let t = Instant::now();
    for round in 0..rounds {
        let i = rng.below(doms.len() as u64) as usize;
        let n = doms[i].clone();
        let (op, args): (&str, Vec<String>) = match rng.below(7) {
            0 | 1 => {
                let mem = 128 + 32 * rng.below(4) as u32;
                let f = d.write(&format!("{n}.def.xml"), &xml(&n, &disks[i].1, &iso, mem));
                (
                    "define",
                    vec!["define".into(), f.to_string_lossy().into_owned()],
                )
            }
            2 | 3 => ("start", vec!["start".into(), n.clone()]),
            4 | 5 => ("destroy", vec!["destroy".into(), n.clone()]),
            _ => ("undefine", vec!["undefine".into(), n.clone()]),
        };
        if op == "undefine" {
            // Whether it went through is unknown until the client answers.
            defined.remove(&n);
        }
        let mut c = d.client("virsh");
        c.arg("-c").arg(d.uri()).args(&args);
        let client = std::thread::spawn(move || daemon_support::run(c));
        std::thread::sleep(Duration::from_micros(rng.below(150_000)));
        let mut child = d.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
        let out = client.join().unwrap();
        if op == "define" && out.status.success() {
            defined.insert(n.clone());
        }
        d.spawn();
        check(&d, &defined, &disks, &iso, round);
    }
    println!("{kills} daemon kills in {:?}", t.elapsed());
    for n in &doms {
        let _ = d.virsh(&["destroy", n]);
    }
    check(&d, &defined, &disks, &iso, rounds);
    assert!(d.qemu_pids().is_empty());
    // cgroups of QEMUs killed while no daemon ran go once the process is reaped.
    for n in &doms {
        let gone = daemon_support::wait_until(Duration::from_secs(15), || {
            daemon_support::cgroup_dirs(n).is_empty().then_some(())
        });
        assert!(
            gone.is_some(),
            "cgroups left: {:?}\n{}",
            daemon_support::cgroup_dirs(n),
            d.log_tail()
        );
    }
}
