//! UEFI with firmware autoselection and a per-domain NVRAM, and a swtpm-backed TPM,
//! on the TCG test guest through the daemon with `virsh` (its bzImage: the PVH
//! vmlinux does not boot under OVMF).

mod daemon_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use daemon_support::{Daemon, name, wait_until};

fn require_all() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
}

fn account(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .unwrap_or_else(|| panic!("no account {user}"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

/// The test guest's kernel and initramfs, copied into the test's root: other
/// tests (other daemons) use the shared files at the same time, and a file one of
/// them holds under another owner is refused by DAC.
struct Boot {
    vmlinux: PathBuf,
    vmlinuz: PathBuf,
    initramfs: PathBuf,
}

fn boot_files(root: &Path) -> Boot {
    let g = testkit::guest();
    let copy = |src: &Path| {
        let dst = root.join(src.file_name().unwrap());
        std::fs::copy(src, &dst).unwrap();
        dst
    };
    Boot {
        vmlinux: copy(&g.vmlinux),
        vmlinuz: copy(&g.vmlinuz),
        initramfs: copy(&g.initramfs),
    }
}

fn guest_xml(name: &str, serial: &Path, os_attr: &str, os_extra: &str, devices: &str) -> String {
    let g = boot_files(serial.parent().unwrap());
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory>\
         <os{os_attr}><type arch='x86_64' machine='q35'>hvm</type>{os_extra}<kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>\
         <devices><serial type='file'><source path='{}'/></serial>{devices}</devices></domain>",
        g.vmlinuz.display(),
        g.initramfs.display(),
        serial.display()
    )
}

fn wait_ready(d: &Daemon, serial: &Path) {
    let ok = wait_until(Duration::from_secs(240), || {
        std::fs::read_to_string(serial)
            .unwrap_or_default()
            .contains("GUEST-READY")
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "no GUEST-READY on the serial console:\n{}\ndaemon log:\n{}",
        std::fs::read_to_string(serial).unwrap_or_default(),
        d.log_tail()
    );
}

fn status_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn status_field(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_owned())
        .unwrap_or_default()
}

/// The swtpm processes whose command line mentions `root`.
fn swtpm_pids(root: &Path) -> Vec<u32> {
    let root = root.to_string_lossy().into_owned();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        )
        .into_owned();
        if cmd.starts_with("/usr/bin/swtpm\0") && cmd.contains(&root) {
            v.push(pid);
        }
    }
    v
}

/// Kills any swtpm of this test's root when the test ends, even on failure (the
/// daemon guard stops QEMU, not helpers).
struct SwtpmGuard(PathBuf);

impl Drop for SwtpmGuard {
    fn drop(&mut self) {
        for pid in swtpm_pids(&self.0) {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
}

#[test]
fn guest_uefi_autoselected_firmware_boots_confined_with_its_own_nvram() {
    require_all();
    let mut d = Daemon::start();
    let g = name("uefi");
    let serial = d.root().join("uefi-serial.log");
    // Secure Boot firmware (SMM, secure pflash) with an empty variable store: keys
    // are not enrolled, so the directly booted kernel is not checked.
    let features = "<firmware><feature enabled='yes' name='secure-boot'/>\
                    <feature enabled='no' name='enrolled-keys'/></firmware>";
    d.define(&g, &guest_xml(&g, &serial, " firmware='efi'", features, ""));
    let xml = d.ok(&["dumpxml", &g]);
    let nvram = d
        .root()
        .join(format!("var/lib/rvirt/qemu/nvram/{g}_VARS.fd"));
    assert!(
        xml.contains(
            "<loader readonly='yes' secure='yes' type='pflash' format='raw'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd' templateFormat='raw' format='raw'>{}</nvram>",
            nvram.display()
        )),
        "{xml}"
    );
    assert!(xml.contains("<smm state='on'/>"), "{xml}");
    assert!(!nvram.exists(), "the NVRAM is made at the first start");

    d.ok(&["start", &g]);
    wait_ready(&d, &serial);
    let pid = d.qemu_pid(&g);
    let (quid, qgid) = account("rvirt-qemu");
    // QEMU confined: its account, no new privileges, seccomp, its own mount namespace.
    assert_eq!(status_uid(pid), quid);
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    assert_eq!(status_field(pid, "Seccomp:"), "2");
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        std::fs::read_link("/proc/self/ns/mnt").unwrap()
    );
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(cmdline.contains("smm=on"), "{cmdline}");
    assert!(
        cmdline.contains("driver=cfi.pflash01,property=secure,value=on"),
        "{cmdline}"
    );
    // The variable store: a full copy of the template, QEMU's while it runs.
    let meta = std::fs::metadata(&nvram).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (quid, qgid));
    assert_eq!(
        meta.len(),
        std::fs::metadata("/usr/share/OVMF/OVMF_VARS_4M.fd")
            .unwrap()
            .len()
    );
    assert!(
        meta.blocks() * 512 >= meta.len(),
        "the NVRAM copy is sparse"
    );
    let log = std::fs::read_to_string(d.root().join(format!("var/log/rvirt/qemu/{g}.log")))
        .unwrap_or_default();
    assert!(log.contains("Landlock: ABI"), "{log}");

    d.ok(&["destroy", &g]);
    let meta = std::fs::metadata(&nvram).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "the NVRAM's owner before the start is restored"
    );
    // Kept across starts; undefine refuses without a flag, --nvram removes it.
    let e = d.fails(&["undefine", &g]);
    assert!(e.contains("cannot undefine domain with nvram"), "{e}");
    d.ok(&["undefine", "--nvram", &g]);
    assert!(!nvram.exists());
}

#[test]
fn guest_uefi_undefine_keep_nvram_keeps_it() {
    require_all();
    let mut d = Daemon::start();
    let g = name("uefikeep");
    let serial = d.root().join("uk-serial.log");
    let features = "<firmware><feature enabled='no' name='secure-boot'/></firmware>";
    d.define(&g, &guest_xml(&g, &serial, " firmware='efi'", features, ""));
    let xml = d.ok(&["dumpxml", &g]);
    assert!(
        xml.contains("/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"),
        "{xml}"
    );
    d.ok(&["start", &g]);
    let nvram = d
        .root()
        .join(format!("var/lib/rvirt/qemu/nvram/{g}_VARS.fd"));
    assert!(nvram.exists());
    d.ok(&["destroy", &g]);
    // The second start uses the store as it is (not made again from the
    // template): a mark in its last byte survives.
    let mut vars = std::fs::read(&nvram).unwrap();
    let last = vars.len() - 1;
    vars[last] ^= 0x5a;
    std::fs::write(&nvram, &vars).unwrap();
    d.ok(&["start", &g]);
    d.ok(&["destroy", &g]);
    assert_eq!(std::fs::read(&nvram).unwrap()[last], vars[last]);
    // rvirt's own CLI takes the same flags.
    let out = d.rvirt(&["undefine", &g]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot undefine domain with nvram"), "{err}");
    let out = d.rvirt(&["undefine", "--keep-nvram", &g]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(nvram.exists());
}

#[test]
fn guest_tpm_crb_emulator_boots_with_swtpm_as_qemus_account() {
    require_all();
    let mut d = Daemon::start();
    let _guard = SwtpmGuard(d.root().to_path_buf());
    let g = name("tpm");
    let serial = d.root().join("tpm-serial.log");
    let tpm = "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>";
    let g2 = boot_files(d.root());
    // The PVH kernel boots fastest; the TPM is a platform device either way.
    let xml = format!(
        "<domain type='qemu'><name>{g}</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os><features><acpi/></features>\
         <devices><serial type='file'><source path='{}'/></serial>{tpm}</devices></domain>",
        g2.vmlinux.display(),
        g2.initramfs.display(),
        serial.display()
    );
    d.define(&g, &xml);
    d.ok(&["start", &g]);
    wait_ready(&d, &serial);
    let (quid, _) = account("rvirt-qemu");
    let swtpm = swtpm_pids(d.root());
    assert_eq!(swtpm.len(), 1, "one swtpm for the domain");
    let spid = swtpm[0];
    assert_eq!(status_uid(spid), quid, "swtpm runs as QEMU's account");
    assert_eq!(
        status_field(spid, "NoNewPrivs:"),
        "1",
        "swtpm is under Landlock"
    );
    assert_eq!(
        status_field(spid, "Seccomp:"),
        "2",
        "swtpm's own seccomp filter"
    );
    // In the VM's cgroup, with QEMU.
    let qpid = d.qemu_pid(&g);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{spid}/cgroup")).unwrap(),
        std::fs::read_to_string(format!("/proc/{qpid}/cgroup")).unwrap()
    );
    // QEMU sees the TPM.
    let q = d.ok(&["qemu-monitor-command", &g, "{\"execute\":\"query-tpm\"}"]);
    assert!(q.contains("\"model\":\"tpm-crb\""), "{q}");
    assert!(q.contains("\"type\":\"emulator\""), "{q}");
    // The state: made once, owned by QEMU's account; the log kept.
    let uuid = d.ok(&["domuuid", &g]).trim().to_owned();
    let state = d.root().join(format!("var/lib/rvirt/swtpm/{uuid}/tpm2"));
    let meta = std::fs::metadata(state.join("tpm2-00.permall")).unwrap();
    assert_eq!(meta.uid(), quid);
    let log = d
        .root()
        .join(format!("var/log/swtpm/rvirt/qemu/{g}-swtpm.log"));
    assert!(log.exists());

    d.ok(&["destroy", &g]);
    let gone = wait_until(Duration::from_secs(10), || {
        swtpm_pids(d.root()).is_empty().then_some(())
    });
    assert!(gone.is_some(), "swtpm left running after destroy");
    // A second start reuses the state; a restarted daemon still knows its swtpm
    // (from the status file) and stops it with the domain.
    d.ok(&["start", &g]);
    let again = swtpm_pids(d.root());
    assert_eq!(again.len(), 1);
    d.stop();
    d.spawn();
    assert_eq!(
        swtpm_pids(d.root()),
        again,
        "swtpm survives a daemon restart"
    );
    d.ok(&["destroy", &g]);
    let gone = wait_until(Duration::from_secs(10), || {
        swtpm_pids(d.root()).is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "swtpm left running after a reconnect and destroy"
    );
    d.ok(&["undefine", &g]);
    assert!(!state.exists(), "undefine removes the TPM state");
}

#[test]
fn guest_tpm_transient_domain_takes_its_state_along() {
    require_all();
    let d = Daemon::start();
    let _guard = SwtpmGuard(d.root().to_path_buf());
    let g = name("tpmtr");
    let g2 = boot_files(d.root());
    let xml = format!(
        "<domain type='qemu'><name>{g}</name><uuid>6c5a2c4e-0d43-4a57-9d5e-6f1f6a000001</uuid>\
         <memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd></os>\
         <features><acpi/></features>\
         <devices><tpm model='tpm-tis'><backend type='emulator' version='2.0'/></tpm></devices></domain>",
        g2.vmlinux.display(),
        g2.initramfs.display(),
    );
    let f = d.write("tpmtr.xml", &xml);
    d.ok(&["create", f.to_str().unwrap()]);
    let state = d
        .root()
        .join("var/lib/rvirt/swtpm/6c5a2c4e-0d43-4a57-9d5e-6f1f6a000001");
    assert!(state.join("tpm2/tpm2-00.permall").exists());
    assert_eq!(swtpm_pids(d.root()).len(), 1);
    d.ok(&["destroy", &g]);
    assert!(
        !state.exists(),
        "a transient domain's TPM state goes when it stops"
    );
    let gone = wait_until(Duration::from_secs(10), || {
        swtpm_pids(d.root()).is_empty().then_some(())
    });
    assert!(gone.is_some());
}
