//! The domain commands that change or tell one thing, with the real `virsh` on a
//! running QEMU (SeaBIOS, no guest OS: QEMU answers, not the guest): screenshot,
//! send-key, setmem, setvcpus, metadata, desc, the agent commands (libvirt's
//! errors, the guest has no agent), domifaddr, and domrename of the stopped
//! domain.

mod daemon_support;

use daemon_support::{Daemon, name};

fn ops_xml(name: &str) -> String {
    format!(
        "<domain type='kvm'><name>{name}</name><memory unit='MiB'>256</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>\
         <devices><controller type='virtio-serial' index='0'/>\
         <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\
         <graphics type='vnc'/><video><model type='vga'/></video><memballoon model='virtio'/>\
         </devices></domain>"
    )
}

const PY_METADATA_EVENT: &str = r#"
import os, libvirt
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open(os.environ['URI'])
got = []
def cb(conn, dom, mtype, nsuri, opaque):
    got.append((dom.name(), mtype, nsuri))
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, cb, None)
d = c.lookupByName(os.environ['DOM'])
d.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, 'evented', None, None, 0)
for _ in range(100):
    if got:
        break
    libvirt.virEventRunDefaultImpl()
for g in got:
    print('EVENT', *g)
"#;

#[test]
fn qemu_live_domain_ops() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let g = name("ops");
    d.define(&g, &ops_xml(&g));
    d.ok(&["start", &g]);

    // screenshot: QEMU dumps into a descriptor it was given; the PPM comes back.
    let shot = d.root().join("screen.ppm");
    let out = d.ok(&["screenshot", &g, shot.to_str().unwrap()]);
    assert!(out.contains("image/x-portable-pixmap"), "{out}");
    let img = std::fs::read(&shot).unwrap();
    assert!(
        img.starts_with(b"P6\n"),
        "not a PPM: {:?}",
        &img[..img.len().min(16)]
    );
    assert!(img.len() > 1000, "{} bytes", img.len());

    // domdisplay from the live XML: the VNC socket the display listens on.
    let disp = d.ok(&["domdisplay", &g]);
    assert!(
        disp.trim().starts_with("vnc+unix:///") && disp.trim().ends_with("/vnc.sock"),
        "{disp}"
    );

    d.ok(&["send-key", &g, "KEY_A"]);
    d.ok(&["send-key", &g, "--codeset", "usb", "4", "5"]);
    let e = d.fails(&["send-key", &g, "--codeset", "win32", "65"]);
    assert!(
        e.contains("cannot translate keycode 65 of win32 codeset"),
        "{e}"
    );

    // setmem: the balloon live, checked against the maximum.
    d.ok(&["setmem", &g, "200M", "--live"]);
    let info = d.ok(&["dominfo", &g]);
    assert!(info.contains("204800 KiB"), "{info}");
    let e = d.fails(&["setmem", &g, "300M", "--live"]);
    assert!(
        e.contains("cannot set memory higher than max memory"),
        "{e}"
    );
    let e = d.fails(&["setmem", &g, "100M", "--live", "--config", "--maximum"]);
    assert!(
        e.contains("maximum memory on an active domain") || e.contains("--maximum"),
        "{e}"
    );

    // setvcpus: the same count live is fine; more than the maximum is libvirt's error.
    d.ok(&["setvcpus", &g, "1", "--live"]);
    let e = d.fails(&["setvcpus", &g, "2", "--live"]);
    assert!(
        e.contains(
            "requested vcpus is greater than max allowable vcpus for the live domain: 2 > 1"
        ),
        "{e}"
    );

    // metadata and desc on the running domain.
    d.ok(&[
        "metadata",
        &g,
        "--uri",
        "http://example.org/rvirt",
        "--key",
        "rv",
        "--set",
        "<x>1</x>",
    ]);
    let m = d.ok(&["metadata", &g, "--uri", "http://example.org/rvirt"]);
    assert!(
        m.contains(">1</rv:x>") && m.contains("http://example.org/rvirt"),
        "{m}"
    );
    let xml = d.ok(&["dumpxml", &g]);
    assert!(xml.contains("<metadata>"), "{xml}");
    d.ok(&["desc", &g, "--title", "--new-desc", "everyday"]);
    assert_eq!(d.ok(&["desc", &g, "--title"]).trim(), "everyday");
    d.ok(&["desc", &g, "--new-desc", "described"]);
    assert_eq!(d.ok(&["desc", &g]).trim(), "described");
    // The definition was not touched (current = live for a running domain).
    let inactive = d.ok(&["dumpxml", "--inactive", &g]);
    assert!(!inactive.contains("described"), "{inactive}");
    d.ok(&["desc", &g, "--config", "--new-desc", "stored"]);
    assert!(
        d.ok(&["dumpxml", "--inactive", &g])
            .contains("<description>stored</description>")
    );

    // A metadata change is an event (METADATA_CHANGE) for libvirt-python.
    let mut py = d.client("/usr/bin/python3");
    py.arg("-c")
        .arg(PY_METADATA_EVENT)
        .env("URI", d.uri())
        .env("DOM", &g);
    let out = daemon_support::run(py);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("EVENT {g} 1 None")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The agent channel exists, but no agent runs in the guest: libvirt's error.
    for cmd in [
        vec!["domtime", g.as_str()],
        vec!["domhostname", g.as_str()],
        vec!["domfsinfo", g.as_str()],
        vec![
            "qemu-agent-command",
            g.as_str(),
            r#"{"execute":"guest-ping"}"#,
        ],
    ] {
        let e = d.fails(&cmd);
        assert!(
            e.contains("Guest agent is not responding: QEMU guest agent is not connected"),
            "{cmd:?}: {e}"
        );
    }
    // No interfaces: no addresses (from leases, the default source).
    d.ok(&["domifaddr", &g]);

    let e = d.fails(&["domrename", &g, &format!("{g}-renamed")]);
    assert!(e.contains("cannot rename active domain"), "{e}");
    d.ok(&["destroy", &g]);

    // The stopped domain: the definition changes; rename moves it.
    d.ok(&["setmem", &g, "128M", "--config"]);
    d.ok(&["setvcpus", &g, "2", "--config", "--maximum"]);
    d.ok(&["setvcpus", &g, "2", "--config"]);
    let inactive = d.ok(&["dumpxml", &g]);
    assert!(
        inactive.contains("<currentMemory unit='KiB'>131072</currentMemory>"),
        "{inactive}"
    );
    assert!(inactive.contains(">2</vcpu>"), "{inactive}");
    let renamed = format!("{g}-renamed");
    d.names.push(renamed.clone());
    d.ok(&["autostart", &g]);
    d.ok(&["domrename", &g, &renamed]);
    let list = d.ok(&["list", "--all", "--name"]);
    assert!(list.lines().any(|l| l == renamed), "{list}");
    assert!(!list.lines().any(|l| l == g), "{list}");
    assert!(
        d.ok(&["dumpxml", &renamed])
            .contains(&format!("<name>{renamed}</name>"))
    );
    assert!(
        d.ok(&["dominfo", &renamed])
            .contains("Autostart:      enable")
    );
    // It stays renamed after a daemon restart (the files moved).
    d.stop();
    d.spawn();
    let list = d.ok(&["list", "--all", "--name"]);
    assert!(
        list.lines().any(|l| l == renamed) && !list.lines().any(|l| l == g),
        "{list}"
    );
    assert!(d.ok(&["desc", &renamed]).contains("stored"));
    d.ok(&["autostart", "--disable", &renamed]);
    d.ok(&["undefine", &renamed]);
}

/// `setvcpus --live` plugs vCPUs into the free slots of `maxcpus` (TCG,
/// SeaBIOS); unplugging is refused with a reason.
#[test]
fn qemu_live_setvcpus_hotplug() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let mut d = Daemon::start();
    let g = name("hot");
    d.define(
        &g,
        &format!(
            "<domain type='qemu'><name>{g}</name><memory unit='MiB'>128</memory>\
             <vcpu current='1'>3</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
        ),
    );
    d.ok(&["start", &g]);
    d.ok(&["setvcpus", &g, "3", "--live"]);
    assert_eq!(d.ok(&["vcpucount", &g, "--live", "--current"]).trim(), "3");
    let cpus = d.ok(&[
        "qemu-monitor-command",
        &g,
        r#"{"execute":"query-cpus-fast"}"#,
    ]);
    assert_eq!(cpus.matches("\"cpu-index\"").count(), 3, "{cpus}");
    let e = d.fails(&["setvcpus", &g, "1", "--live"]);
    assert!(e.contains("removing vCPUs"), "{e}");
    let e = d.fails(&["setvcpus", &g, "4", "--live"]);
    assert!(e.contains("4 > 3"), "{e}");
    // The definition is unchanged by a live change.
    assert!(
        d.ok(&["dumpxml", "--inactive", &g])
            .contains("<vcpu placement='static' current='1'>3</vcpu>")
    );
    d.ok(&["destroy", &g]);
}
