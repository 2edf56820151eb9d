//! SPICE and QXL need QEMU's spice modules, which neither captured capability
//! set has (Debian ships them in qemu-system-modules-spice). These goldens
//! plan against QEMU 10.0's set with those modules' option and devices added,
//! so the argv libvirt 11.3 gives them is checked too.

use std::path::Path;

use host_config::HostConfig;
use qemu_caps::Capabilities;
use qemu_plan::{HostFacts, ImageBacking, PathKind, PlanInput, Runtime, plan};

struct Host;

impl HostFacts for Host {
    fn stat(&self, path: &str) -> Option<PathKind> {
        match path {
            "/dev/null" => Some(PathKind::CharDev { major: 1, minor: 3 }),
            "/dev/urandom" => Some(PathKind::CharDev { major: 1, minor: 9 }),
            "/dev/kvm" => Some(PathKind::CharDev {
                major: 10,
                minor: 232,
            }),
            "/dev/ptmx" => Some(PathKind::CharDev { major: 5, minor: 2 }),
            p if p.starts_with("/dev/") => None,
            _ => Some(PathKind::File),
        }
    }

    fn backing_file(&self, _path: &str) -> Option<ImageBacking> {
        None
    }

    fn free_tcp_port(&self, _address: &str, from: u16, taken: &[u16]) -> Option<u16> {
        (from..=65535).find(|p| !taken.contains(p))
    }
}

fn spice_caps() -> Capabilities {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/caps/qemu-10.0.json");
    let mut caps: Capabilities =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    caps.command_line_options
        .insert("spice".into(), Default::default());
    for d in ["qxl-vga", "qxl"] {
        caps.devices.insert(d.into());
    }
    caps
}

fn argv(name: &str) -> String {
    let xml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.xml")),
    )
    .unwrap();
    let dom = domain_xml::parse_domain(&xml).unwrap().value;
    let host = HostConfig::default();
    let lib = format!("/var/lib/rvirt/qemu/domain-1-{}", dom.name);
    let rt = Runtime {
        domain_id: 1,
        emulator: Runtime::emulator_for(&dom),
        monitor_socket: format!("{lib}/monitor.sock"),
        channel_dir: format!("{lib}/channel"),
        network_bridges: Vec::new(),
        master_key: None,
        lib_dir: lib,
        monitor_fd: 27,
        first_free_fd: 30,
        log_path: format!("/var/log/rvirt/qemu/{}.log", dom.name),
        hugetlbfs: Vec::new(),
        hugepage_subdir: "qemu".into(),
        host: &Host,
    };
    let caps = spice_caps();
    match plan(&PlanInput {
        domain: &dom,
        host: &host,
        caps: &caps,
        runtime: &rt,
    }) {
        Ok(p) => {
            let mut out: Vec<String> = Vec::new();
            for (i, a) in p.argv.iter().enumerate() {
                let prev = if i > 0 { p.argv[i - 1].as_str() } else { "" };
                let wanted = ["-spice", "-audiodev", "-chardev"].contains(&prev)
                    || a.contains("qxl")
                    || a.contains("virtserialport")
                    || a.contains("usb-redir");
                if wanted {
                    out.push(format!("{prev} {a}"));
                }
            }
            out.extend(p.monitor_commands.iter().map(|c| format!("QMP {c:?}")));
            out.extend(p.graphics_live.iter().map(|g| format!("{g:?}")));
            out.join("\n")
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn spice_and_qxl_with_the_spice_modules() {
    for name in [
        "graphics-spice",
        "graphics-spice-passwd",
        "video-qxl",
        "virt-manager-spice",
    ] {
        insta::assert_snapshot!(name, argv(name));
    }
}
