//! Host facts with the real clients against a real `rvirtd --root`: `virsh`
//! (domcapabilities, capabilities, sysinfo, cpu-models, nodecpumap,
//! nodememstats, nodecpustats, freecell, hypervisor-cpu-baseline/-compare),
//! virt-install's own domain capabilities parser (virtinst 4.1, what it
//! decides from them), and libvirt-python's calls. The daemon probes QEMU, so
//! these are `qemu_live_` tests.

mod daemon_support;

use std::path::Path;

use daemon_support::Daemon;

/// Whether UEFI firmware descriptors for q35 exist (Debian's ovmf package
/// installs them; tools/setup-host.sh does). Under tools/with-bookworm-qemu.sh
/// bookworm's QEMU data directory hides them: then the domain capabilities
/// must offer no UEFI, and the tests check that instead.
fn ovmf_present() -> bool {
    std::fs::read_dir("/usr/share/qemu/firmware").is_ok_and(|d| {
        d.filter_map(Result::ok).any(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|t| t.contains("\"uefi\"") && t.contains("pc-q35-"))
        })
    })
}

fn present_cpus() -> usize {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/present").unwrap();
    s.trim()
        .split(',')
        .map(|p| match p.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

#[test]
fn qemu_live_nodefacts_virsh() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let uefi = ovmf_present();
    let d = Daemon::start();

    // Domain capabilities: default machine, aliases resolved, UEFI offered
    // for q35, libvirt's errors for what cannot be served.
    let dc = d.ok(&["domcapabilities"]);
    assert!(dc.starts_with("<domainCapabilities>"), "{dc}");
    assert!(dc.contains("<machine>pc-i440fx-"), "{dc}");
    let q35 = d.ok(&["domcapabilities", "--virttype", "qemu", "--machine", "q35"]);
    for want in [
        "<domain>qemu</domain>",
        "<machine>pc-q35-",
        "<mode name='host-passthrough' supported='no'/>",
        "<mode name='custom' supported='yes'>",
        "<value>tpm-crb</value>",
        "<value>emulator</value>",
        "<value>vnc</value>",
        "<value>virtio</value>",
        "<vmcoreinfo supported='yes'/>",
    ] {
        assert!(q35.contains(want), "{want} missing:\n{q35}");
    }
    assert_eq!(q35.contains("<value>efi</value>"), uefi, "{q35}");
    let e = d.fails(&["domcapabilities", "--machine", "no-such-machine"]);
    assert!(
        e.contains("the machine 'no-such-machine' is not supported by emulator"),
        "{e}"
    );
    let e = d.fails(&["domcapabilities", "--virttype", "bogus"]);
    assert!(e.contains("unknown virttype: bogus"), "{e}");
    let e = d.fails(&["domcapabilities", "--arch", "aarch64"]);
    assert!(
        e.contains("unable to find any emulator to serve 'aarch64' architecture"),
        "{e}"
    );

    // Host capabilities: CPU, topology cells, migration, secmodel.
    let caps = d.ok(&["capabilities"]);
    for want in [
        "<arch>x86_64</arch>",
        "<topology sockets=",
        "<pages unit='KiB' size='4'/>",
        "<uri_transport>tcp</uri_transport>",
        "<cells num=",
        "<cpus num=",
        "<secmodel>",
        "<model>dac</model>",
        "<baselabel type='kvm'>+",
    ] {
        assert!(caps.contains(want), "{want} missing:\n{caps}");
    }

    let si = d.ok(&["sysinfo"]);
    assert!(si.starts_with("<sysinfo type='smbios'"), "{si}");

    let models = d.ok(&["cpu-models", "x86_64"]);
    let models: Vec<&str> = models.lines().collect();
    assert!(
        models.contains(&"qemu64") && models.contains(&"Skylake-Client"),
        "{models:?}"
    );
    assert!(!models.contains(&"host"), "{models:?}");

    let map = d.ok(&["nodecpumap"]);
    assert!(
        map.contains(&format!("CPUs present:   {}", present_cpus())),
        "{map}"
    );
    assert!(map.contains("CPU map:"), "{map}");

    let mem = d.ok(&["nodememstats"]);
    for k in ["total  :", "free   :", "buffers:", "cached :"] {
        assert!(mem.contains(k), "{mem}");
    }
    let cell = d.ok(&["nodememstats", "--cell", "0"]);
    assert!(
        cell.contains("total") && !cell.contains("buffers"),
        "{cell}"
    );
    let e = d.fails(&["nodememstats", "--cell", "4096"]);
    assert!(e.contains("cellNum"), "{e}");

    let cpu = d.ok(&["nodecpustats"]);
    for k in ["user:", "system:", "idle:", "iowait:"] {
        assert!(cpu.contains(k), "{cpu}");
    }
    assert!(d.ok(&["nodecpustats", "--cpu", "0"]).contains("idle:"));
    let pct = d.ok(&["nodecpustats", "--percent"]);
    assert!(pct.contains("usage:") && pct.contains('%'), "{pct}");
    let e = d.fails(&["nodecpustats", "--cpu", "100000"]);
    assert!(e.contains("Invalid cpuNum"), "{e}");

    let fc = d.ok(&["freecell", "--all"]);
    assert!(fc.contains("Total:") && fc.contains("0:"), "{fc}");

    // CPU baseline and comparison on what the hypervisor offers.
    let dcf = d.write("domcaps.xml", &dc);
    let base = d.ok(&["hypervisor-cpu-baseline", dcf.to_str().unwrap()]);
    assert!(
        base.contains("<cpu mode='custom' match='exact'>")
            && base.contains("<model fallback='forbid'>"),
        "{base}"
    );
    let usable = q35_usable_model(&d.ok(&["domcapabilities"]));
    let good = d.write("good.xml", &format!("<cpu><model>{usable}</model></cpu>"));
    let out = d.ok(&["hypervisor-cpu-compare", good.to_str().unwrap()]);
    assert!(
        out.contains("identical to") || out.contains("superset of"),
        "{out}"
    );
    let unknown = d.write("unknown.xml", "<cpu><model>NoSuchCPU</model></cpu>");
    let e = d.fails(&["hypervisor-cpu-compare", unknown.to_str().unwrap()]);
    assert!(e.contains("Unknown CPU model NoSuchCPU"), "{e}");
}

/// A model the domain capabilities call usable.
fn q35_usable_model(dc: &str) -> String {
    dc.lines()
        .find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("<model usable='yes'")?;
            let name = rest.split('>').nth(1)?.split('<').next()?;
            Some(name.to_owned())
        })
        .expect("no usable CPU model in domain capabilities")
}

/// What virt-install decides from the domain capabilities, with its own
/// parser (virtinst 4.1 under /usr/share/virt-manager, run by the system
/// python that has its GObject bindings).
const VIRTINST: &str = r#"
import os, sys
sys.path.insert(0, "/usr/share/virt-manager")
from virtinst import VirtinstConnection
from virtinst.domcapabilities import DomainCapabilities
conn = VirtinstConnection(os.environ["URI"])
conn.open(None, None)
dc = DomainCapabilities.build_from_params(conn, None, "x86_64", "q35", "kvm")
assert dc.machine.startswith("pc-q35-"), dc.machine
assert (dc.domain, dc.arch, dc.path) == ("kvm", "x86_64", "/usr/bin/qemu-system-x86_64"), (dc.domain, dc.arch, dc.path)
uefi = os.environ["UEFI"] == "1"
assert dc.supports_firmware_efi() == uefi
assert dc.supports_uefi_loader()
path = dc.find_uefi_path_for_arch()
assert (path is not None and os.path.exists(path)) == uefi, path
assert dc.supports_safe_host_passthrough()
assert "custom" in [m.name for m in dc.cpu.modes]
assert len(dc.get_cpu_models()) > 0
assert dc.supports_tpm_emulator()
assert dc.supports_video_virtio() and dc.supports_video_bochs()
assert dc.supports_filesystem_virtiofs()
assert dc.supports_memorybacking_memfd()
assert dc.devices.graphics.get_enum("type").has_value("vnc")
assert not dc.supports_sev_launch_security()
assert dc.devices.disk.get_enum("bus").has_value("sata")
# Used by virt-install for host-model guests: must not fail.
dc.get_cpu_security_features()
tcg = DomainCapabilities.build_from_params(conn, None, "x86_64", "pc", "qemu")
assert tcg.domain == "qemu" and tcg.machine.startswith("pc-i440fx-"), (tcg.domain, tcg.machine)
assert not tcg.supports_safe_host_passthrough()
assert tcg.devices.disk.get_enum("bus").has_value("ide")
print("VIRTINST-OK")
"#;

/// libvirt-python's host-fact calls.
const PYTHON: &str = r#"
import os, libvirt
c = libvirt.open(os.environ["URI"])
x = c.getDomainCapabilities(None, "x86_64", "q35", "qemu", 0)
assert "<machine>pc-q35-" in x, x[:300]
n, online, m = c.getCPUMap(0)
assert n == int(os.environ["NCPU"]) and len(online) == n and m >= 1, (n, online, m)
names = c.getCPUModelNames("x86_64", 0)
assert "qemu64" in names, names[:5]
assert c.getSysinfo(0).startswith("<sysinfo type='smbios'")
cells = c.getCellsFreeMemory(0, 64)
assert len(cells) >= 1 and cells[0] > 0, cells
cpu = c.getCPUStats(-1, 0)
assert set(cpu) == {"kernel", "user", "idle", "iowait"}, cpu
mem = c.getMemoryStats(-1, 0)
assert set(mem) == {"total", "free", "buffers", "cached"}, mem
base = c.baselineHypervisorCPU(None, "x86_64", None, "qemu",
    ["<cpu><model>qemu64</model><feature name='x2apic'/></cpu>",
     "<cpu><model>qemu64</model><feature name='x2apic'/><feature name='lm'/></cpu>"],
    libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
assert "<model fallback='forbid'>qemu64</model>" in base and "x2apic" in base and "'lm'" not in base, base
r = c.compareHypervisorCPU(None, "x86_64", None, None, "<cpu mode='host-passthrough'/>", 0)
assert r == libvirt.VIR_CPU_COMPARE_IDENTICAL, r
try:
    c.compareHypervisorCPU(None, "x86_64", None, None, "<cpu><model>NoSuchCPU</model></cpu>", 0)
    raise SystemExit("unknown model compared")
except libvirt.libvirtError as e:
    assert "NoSuchCPU" in str(e), str(e)
try:
    c.getDomainCapabilities(None, None, "no-such-machine", None, 0)
    raise SystemExit("unknown machine accepted")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e.get_error_code()
print("PYTHON-OK")
"#;

fn run_python(d: &Daemon, script: &str, marker: &str) {
    let mut c = d.client("/usr/bin/python3");
    c.arg("-c")
        .arg(script)
        .env("URI", d.uri())
        .env("NCPU", present_cpus().to_string())
        .env("UEFI", if ovmf_present() { "1" } else { "0" });
    let out = daemon_support::run(c);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(marker),
        "python failed ({}):\n{stdout}\n{}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
}

#[test]
fn qemu_live_nodefacts_virtinst_and_python() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    assert!(
        Path::new("/usr/share/virt-manager/virtinst/domcapabilities.py").exists(),
        "virtinst is missing: install virtinst (Debian)"
    );
    assert!(
        Path::new("/usr/bin/swtpm").exists(),
        "swtpm is missing: install swtpm-tools (tools/setup-host.sh does)"
    );
    let d = Daemon::start();
    run_python(&d, VIRTINST, "VIRTINST-OK");
    run_python(&d, PYTHON, "PYTHON-OK");
}
