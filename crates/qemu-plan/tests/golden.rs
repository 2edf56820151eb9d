//! Golden tests: `tests/data/NAME.xml` (+ optional `NAME.conf`, a qemu.conf)
//! is planned against each capability set of [`CAPS_SETS`] (captured from
//! real QEMU binaries) and a fake host; the expected output of set `SET` is
//! in `tests/data/SET/`:
//!
//! * success: `NAME.args` (libvirt's `.args` layout), `NAME.resources` (one
//!   line per resource) and `NAME.confine` (taints, fds, /dev nodes, cgroup
//!   ACL, chown list, Landlock rules);
//! * failure: `NAME.err` (the error, then one problem per line).
//!
//! Each is an insta snapshot, `tests/data/SET/NAME.EXT.snap`, whose body is
//! the expected output; `cargo insta test -p qemu-plan --test golden
//! --review` (or `INSTA_UPDATE=always`) changes them.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use host_config::{HostConfig, HugetlbfsMount};
use qemu_caps::Capabilities;
use qemu_plan::{
    HostFacts, HugetlbfsMountInfo, ImageBacking, LaunchPlan, PathKind, PlanInput, Runtime, plan,
};

/// The capability sets the goldens are planned against, each captured from
/// the real binary (`cargo run -p qemu --example capture-caps`): bookworm's
/// QEMU 7.2 and bookworm-backports' (Debian 13's) QEMU 10.0.
const CAPS_SETS: [&str; 2] = ["qemu-7.2", "qemu-10.0"];

fn caps(set: &str) -> Capabilities {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/caps/{set}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A host where `/dev` nodes come from a table, paths containing `missing`
/// do not exist, and everything else is a regular file (or a socket under
/// `/run/`).
struct FakeHost;

impl HostFacts for FakeHost {
    /// libvirt's test suite's clock.
    fn now_unix(&self) -> Option<i64> {
        Some(1_234_567_890)
    }

    fn free_tcp_port(&self, _address: &str, from: u16, taken: &[u16]) -> Option<u16> {
        (from..=65535).find(|p| !FakeHost::port_busy(*p) && !taken.contains(p))
    }

    fn stat(&self, path: &str) -> Option<PathKind> {
        let dev = |major, minor| Some(PathKind::CharDev { major, minor });
        match path {
            "/dev/null" => dev(1, 3),
            "/dev/zero" => dev(1, 5),
            "/dev/full" => dev(1, 7),
            "/dev/random" => dev(1, 8),
            "/dev/urandom" => dev(1, 9),
            "/dev/ptmx" => dev(5, 2),
            "/dev/kvm" => dev(10, 232),
            "/dev/hwrng" => dev(10, 183),
            "/dev/tpm0" => dev(10, 224),
            "/dev/sdb" => Some(PathKind::BlockDev {
                major: 8,
                minor: 16,
            }),
            "/dev/sdc" => Some(PathKind::BlockDev {
                major: 8,
                minor: 32,
            }),
            p if p.starts_with("/dev/") => None,
            p if p.contains("missing") => None,
            p if p.starts_with("/run/") => Some(PathKind::Other),
            p if p.ends_with('/') || p.ends_with("/shared") => Some(PathKind::Dir),
            _ => Some(PathKind::File),
        }
    }

    fn backing_file(&self, path: &str) -> Option<ImageBacking> {
        let img = |p: &str, f: Option<&str>| {
            Some(ImageBacking {
                path: format!("/var/lib/rvirt/images/{p}"),
                format: f.map(str::to_owned),
            })
        };
        match path.rsplit('/').next().unwrap_or_default() {
            "top-probed.qcow2" => img("mid-probed.qcow2", Some("qcow2")),
            "mid-probed.qcow2" => img("base-probed.raw", Some("raw")),
            "noformat.qcow2" => img("base-probed.raw", None),
            "loop-a.qcow2" => img("loop-b.qcow2", Some("qcow2")),
            "loop-b.qcow2" => img("loop-a.qcow2", Some("qcow2")),
            _ => None,
        }
    }
}

impl FakeHost {
    /// Ports 5900 and 5700 are taken on the fake host (another VM's display).
    fn port_busy(port: u16) -> bool {
        port == 5900 || port == 5700
    }
}

fn page_size_of(path: &str) -> u64 {
    if path.contains("1G") { 1_048_576 } else { 2048 }
}

fn runtime<'a>(
    name: &str,
    emulator: String,
    host: &HostConfig,
    facts: &'a FakeHost,
) -> Runtime<'a> {
    let lib = format!("/var/lib/rvirt/qemu/domain-1-{name}");
    let hugetlbfs = match &host.hugetlbfs_mount {
        HugetlbfsMount::AutoDetect => vec![
            HugetlbfsMountInfo {
                path: "/dev/hugepages".into(),
                page_size_kib: 2048,
                default: true,
            },
            HugetlbfsMountInfo {
                path: "/dev/hugepages1G".into(),
                page_size_kib: 1_048_576,
                default: false,
            },
        ],
        HugetlbfsMount::Disabled => Vec::new(),
        HugetlbfsMount::Explicit(list) => list
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let path = p.to_string_lossy().into_owned();
                HugetlbfsMountInfo {
                    page_size_kib: page_size_of(&path),
                    path,
                    default: i == 0,
                }
            })
            .collect(),
    };
    Runtime {
        domain_id: 1,
        emulator,
        monitor_socket: format!("{lib}/monitor.sock"),
        channel_dir: format!("/var/lib/rvirt/qemu/channel/target/domain-1-{name}"),
        network_bridges: vec![("default".into(), "virbr0".into())],
        master_key: Some(format!("{lib}/master-key.aes")),
        lib_dir: lib,
        monitor_fd: 27,
        first_free_fd: 30,
        log_path: format!("/var/log/rvirt/qemu/{name}.log"),
        hugetlbfs,
        hugepage_subdir: "qemu".into(),
        host: facts,
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn confine_report(p: &LaunchPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# taints");
    for t in &p.taints {
        let _ = writeln!(s, "{t}");
    }
    let _ = writeln!(s, "# fds");
    for f in &p.fds {
        let _ = writeln!(s, "{} {} {:?}", f.fd, f.owner, f.source);
    }
    let _ = writeln!(s, "# sandbox\n{}", p.sandbox.as_deref().unwrap_or("(none)"));
    if let Some(l) = &p.dac_label {
        let _ = writeln!(
            s,
            "# dac label {l} (images: {})",
            p.dac_image_label.as_deref().unwrap_or("-")
        );
    }
    if let Some((t, n)) = &p.nvram_from_template {
        let _ = writeln!(s, "# nvram {n} from template {t}");
    }
    for t in &p.tpm_emulators {
        let _ = writeln!(
            s,
            "# swtpm {} TPM {} listening on {}",
            t.alias, t.version, t.socket
        );
    }
    if let Some(t) = p.balloon_target_kib {
        let _ = writeln!(s, "# balloon target {t} KiB (QMP)");
    }
    if p.reboot_is_shutdown {
        let _ = writeln!(s, "# reboot is shutdown (QMP set-action)");
    }
    for c in &p.monitor_commands {
        let _ = writeln!(s, "# QMP {c:?}");
    }
    for g in &p.graphics_live {
        let _ = writeln!(s, "# graphics live {g:?}");
    }
    let _ = writeln!(s, "# /dev nodes (mount namespace: {})", p.mount_namespace);
    for n in p.dev_nodes(&FakeHost) {
        let _ = writeln!(s, "{} {}", n.path.display(), n.kind_and_numbers());
    }
    for (dir, access) in p.hotplug_dirs() {
        let _ = writeln!(s, "{dir}/ dir (hot-plug, {access})");
    }
    let _ = writeln!(s, "# cgroup device ACL");
    for r in p.cgroup_acl() {
        let _ = writeln!(s, "{r}");
    }
    let _ = writeln!(s, "# chown (DAC)");
    for c in p.chown_paths() {
        let _ = writeln!(s, "{c}");
    }
    let _ = writeln!(s, "# landlock (enabled: {})", p.landlock);
    for r in p.landlock_rules() {
        let _ = writeln!(s, "{r}");
    }
    s
}

/// Plans one case; returns `(extension, content)` pairs.
fn run_case(xml_path: &Path, caps: &Capabilities) -> Vec<(&'static str, String)> {
    let text = fs::read_to_string(xml_path).expect("read xml");
    let conf_path = xml_path.with_extension("conf");
    let host = if conf_path.exists() {
        let conf = fs::read_to_string(&conf_path).expect("read conf");
        HostConfig::parse(&conf, "qemu.conf").expect("qemu.conf").0
    } else {
        HostConfig::default()
    };
    let dom = match domain_xml::parse_domain(&text) {
        Ok(p) => p.value,
        Err(e) => return vec![("err", format!("parse error: {e}\n"))],
    };
    let facts = FakeHost;
    let rt = runtime(&dom.name, Runtime::emulator_for(&dom), &host, &facts);
    let input = PlanInput {
        domain: &dom,
        host: &host,
        caps,
        runtime: &rt,
    };
    match plan(&input) {
        Ok(p) => {
            let mut res = String::new();
            for r in &p.resources {
                res.push_str(&r.describe());
                res.push('\n');
            }
            vec![
                ("args", p.to_args_file()),
                ("resources", res),
                ("confine", confine_report(&p)),
            ]
        }
        Err(e) => {
            let mut s = format!("{e}\n");
            for p in e.problems() {
                let _ = writeln!(s, "- {p}");
            }
            vec![("err", s)]
        }
    }
}

/// Checks `actual` against the insta snapshot `dir/NAME.snap` made from
/// `input`; `cargo insta review` (or `INSTA_UPDATE`) changes it.
fn assert_golden(dir: &Path, input: &Path, name: &str, actual: &str) {
    // insta compares with trailing whitespace trimmed. Every golden ends in
    // exactly one newline, so demanding that of the output keeps the
    // comparison byte-exact.
    assert!(
        actual.ends_with('\n') && actual.trim_end().len() + 1 == actual.len(),
        "{name}: output must end in exactly one newline:\n{actual}"
    );
    assert!(
        !actual.contains('\r'),
        "{name}: output has a carriage return"
    );
    insta::with_settings!({
        snapshot_path => dir,
        prepend_module_to_snapshot => false,
        omit_expression => true,
        input_file => input,
    }, {
        insta::assert_snapshot!(name, actual);
    });
}

/// A case that no longer produces `NAME` must not leave its old snapshot
/// behind as if it were still expected.
fn assert_no_golden(dir: &Path, name: &str) {
    let path = dir.join(format!("{name}.snap"));
    assert!(
        !path.exists(),
        "{}: the case no longer produces this output; delete the stale snapshot",
        path.display()
    );
}

#[test]
fn golden() {
    let mut cases: Vec<PathBuf> = fs::read_dir(data_dir())
        .expect("tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 25,
        "expected at least 25 cases, found {}",
        cases.len()
    );
    for set in CAPS_SETS {
        let caps = caps(set);
        let snapshot_dir = data_dir().join(set);
        for case in &cases {
            let outputs = run_case(case, &caps);
            let stem = case.file_stem().expect("case name").to_string_lossy();
            for ext in ["args", "resources", "confine", "err"] {
                let name = format!("{stem}.{ext}");
                match outputs.iter().find(|(e, _)| *e == ext) {
                    Some((_, content)) => assert_golden(&snapshot_dir, case, &name, content),
                    None => assert_no_golden(&snapshot_dir, &name),
                }
            }
        }
    }
}

/// The two kbase passthrough spellings (namespace on `<domain>` and at the
/// point of use) must give the same command line.
#[test]
fn kbase_spellings_agree() {
    for set in CAPS_SETS {
        let caps = caps(set);
        let a = run_case(&data_dir().join("kbase-ns-on-domain.xml"), &caps);
        let b = run_case(&data_dir().join("kbase-ns-at-use.xml"), &caps);
        assert_eq!(a[0].0, "args", "{set}");
        assert_eq!(a[0], b[0], "{set}");
    }
}

/// Planning twice gives the same result (no hidden state, no randomness).
#[test]
fn deterministic() {
    let caps = caps(CAPS_SETS[1]);
    for name in ["anchor-cmdline", "disks-many"] {
        let path = data_dir().join(format!("{name}.xml"));
        assert_eq!(run_case(&path, &caps), run_case(&path, &caps));
    }
}

/// Every document of domain-xml's own golden set plans or fails with named
/// problems; none panics, and every failure names at least one problem.
#[test]
fn domain_xml_corpus_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../domain-xml/tests/data/ok");
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    let caps = caps(CAPS_SETS[1]);
    let mut planned = 0;
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".xml") || name.ends_with(".out.xml") {
            continue;
        }
        for (ext, content) in run_case(&path, &caps) {
            if ext == "err" && std::env::var_os("SHOW_CORPUS").is_some() {
                eprintln!("{name}: {}", content.lines().next().unwrap_or_default());
            }
            if ext == "err" {
                assert!(
                    content.lines().count() >= 2 || content.starts_with("parse error"),
                    "{name}: an error without problems: {content}"
                );
            } else {
                planned += 1;
            }
        }
    }
    if std::env::var_os("SHOW_CORPUS").is_some() {
        eprintln!("planned {planned}");
    }
    assert!(planned > 0, "no document of the corpus could be planned");
}

/// Absolute host paths named on a command line (JSON values, `-kernel`-like
/// options, `path=`/`unix:` in option strings).
fn argv_paths(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in argv.iter().enumerate() {
        let prev = if i > 0 { argv[i - 1].as_str() } else { "" };
        if ["-kernel", "-initrd", "-bios"].contains(&prev) {
            out.push(a.clone());
            continue;
        }
        if a.starts_with('{') {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(a) {
                for key in ["filename", "file", "mem-path"] {
                    if let Some(p) = v.get(key).and_then(|p| p.as_str())
                        && p.starts_with('/')
                    {
                        out.push(p.to_owned());
                    }
                }
            }
            continue;
        }
        for part in a.split(',') {
            for prefix in ["path=", "vnc=unix:"] {
                if let Some(p) = part.strip_prefix(prefix)
                    && p.starts_with('/')
                    && !p.starts_with("/dev/fdset/")
                {
                    out.push(p.to_owned());
                }
            }
        }
    }
    out
}

/// The resource list is the one list: every host path on any planned
/// command line is a resource (or lies in a resource directory), every fd
/// named on it is one the daemon passes, and device ids are unique.
#[test]
fn argv_is_covered_by_resources_and_fds() {
    let mut cases: Vec<PathBuf> = fs::read_dir(data_dir())
        .expect("tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    cases.sort();
    let sets: Vec<(&str, Capabilities)> = CAPS_SETS.iter().map(|s| (*s, caps(s))).collect();
    let mut checked = 0;
    for (case, (set, caps)) in cases.iter().flat_map(|c| sets.iter().map(move |s| (c, s))) {
        let text = fs::read_to_string(case).expect("xml");
        let conf_path = case.with_extension("conf");
        let host = if conf_path.exists() {
            HostConfig::parse(&fs::read_to_string(&conf_path).expect("conf"), "qemu.conf")
                .expect("qemu.conf")
                .0
        } else {
            HostConfig::default()
        };
        let Ok(dom) = domain_xml::parse_domain(&text).map(|p| p.value) else {
            continue;
        };
        let facts = FakeHost;
        let rt = runtime(&dom.name, Runtime::emulator_for(&dom), &host, &facts);
        let Ok(p) = plan(&PlanInput {
            domain: &dom,
            host: &host,
            caps,
            runtime: &rt,
        }) else {
            continue;
        };
        checked += 1;
        let name = format!("{} ({set})", case.display());
        for path in argv_paths(&p.argv) {
            let covered = p.resources.iter().any(|r| {
                r.path == path
                    || (r.kind == qemu_plan::ResourceKind::Dir
                        && path.starts_with(&format!("{}/", r.path)))
            });
            assert!(
                covered,
                "{name}: {path} is on the command line but not a resource"
            );
        }
        let fds: Vec<i32> = p.fds.iter().map(|f| f.fd).collect();
        for a in &p.argv {
            for part in a.split([',', '"', ':']) {
                if let Some(n) = part.strip_prefix("fd=").and_then(|n| n.parse::<i32>().ok()) {
                    assert!(fds.contains(&n), "{name}: fd {n} is not passed");
                }
            }
            if a.contains("\"fd\":\"") {
                let n: i32 = a
                    .split("\"fd\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|n| n.parse().ok())
                    .expect("fd number");
                assert!(fds.contains(&n), "{name}: netdev fd {n} is not passed");
            }
        }
        let mut ids = Vec::new();
        for (i, a) in p.argv.iter().enumerate() {
            if i > 0 && p.argv[i - 1] == "-device" && a.starts_with('{') {
                let v: serde_json::Value = serde_json::from_str(a).expect("device json");
                // libvirt gives ich9's UHCI companions (they join their
                // EHCI's bus through `masterbus`) and pvpanic no id.
                if v["driver"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("ich9-usb-uhci") || d.starts_with("pvpanic"))
                {
                    continue;
                }
                let id = v["id"].as_str().expect("device id").to_owned();
                assert!(!ids.contains(&id), "{name}: device id {id} twice");
                ids.push(id);
            }
        }
    }
    assert!(checked >= 25, "only {checked} cases planned");
}

/// Plans `xml` against `caps` with the fake host; the argv or the error text.
fn plan_with(xml: &str, caps: &Capabilities) -> Result<Vec<String>, String> {
    let dom = domain_xml::parse_domain(xml).expect("parse").value;
    let host = HostConfig::default();
    let facts = FakeHost;
    let rt = runtime(&dom.name, Runtime::emulator_for(&dom), &host, &facts);
    plan(&PlanInput {
        domain: &dom,
        host: &host,
        caps,
        runtime: &rt,
    })
    .map(|p| p.argv)
    .map_err(|e| e.to_string())
}

fn machine_line(argv: &[String]) -> &str {
    let i = argv.iter().position(|a| a == "-machine").expect("-machine");
    &argv[i + 1]
}

const PLAIN: &str = "<domain type='kvm'><name>acpi</name>\
    <uuid>11111111-2222-3333-4444-555555555555</uuid><memory unit='MiB'>64</memory>\
    <os><type machine='MACHINE'>hvm</type></os>FEATURES<clock offset='utc'>TIMER</clock>\
    </domain>";

fn domain(machine: &str, features: &str, timer: &str) -> String {
    PLAIN
        .replace("MACHINE", machine)
        .replace("FEATURES", features)
        .replace("TIMER", timer)
}

/// ACPI and HPET are `-machine` properties on both QEMUs, for pc and q35;
/// neither spelling QEMU 9 removed is ever planned.
#[test]
fn acpi_and_hpet_are_machine_properties_on_both_qemus() {
    for set in CAPS_SETS {
        let caps = caps(set);
        for machine in ["pc", "q35"] {
            let argv = plan_with(&domain(machine, "", ""), &caps).expect("plan");
            assert!(
                machine_line(&argv).ends_with(",acpi=off"),
                "{set} {machine}"
            );
            let argv = plan_with(
                &domain(
                    machine,
                    "<features><acpi/></features>",
                    "<timer name='hpet' present='no'/>",
                ),
                &caps,
            )
            .expect("plan");
            assert!(
                machine_line(&argv).ends_with(",hpet=off,acpi=on"),
                "{set} {machine}: {}",
                machine_line(&argv)
            );
            for removed in ["-no-acpi", "-no-hpet"] {
                assert!(!argv.iter().any(|a| a == removed), "{set}: {removed}");
            }
        }
    }
}

/// What the machine type's probed properties decide when they lack a switch.
#[test]
fn acpi_and_hpet_without_a_machine_property() {
    let mut caps = caps(CAPS_SETS[1]);
    let pc = caps
        .machines
        .iter_mut()
        .find(|m| m.alias.as_deref() == Some("pc"))
        .expect("pc");
    pc.properties.remove("acpi");
    pc.properties.remove("hpet");

    // ACPI that cannot be turned off, and the user asked for it off.
    let err = plan_with(&domain("pc", "", ""), &caps).expect_err("no acpi switch");
    assert!(
        err.contains("cannot turn ACPI off") && err.contains("add <acpi/> to <features>"),
        "{err}"
    );
    let err = plan_with(
        &domain(
            "pc",
            "<features><acpi/></features>",
            "<timer name='hpet' present='no'/>",
        ),
        &caps,
    )
    .expect_err("no hpet switch");
    assert!(err.contains("no HPET switch"), "{err}");

    // A machine type without ACPI at all: absent is fine, <acpi/> is refused.
    let pc = caps
        .machines
        .iter_mut()
        .find(|m| m.alias.as_deref() == Some("pc"))
        .expect("pc");
    pc.acpi = Some(false);
    let argv = plan_with(&domain("pc", "", ""), &caps).expect("no acpi at all");
    assert!(!machine_line(&argv).contains("acpi"));
    let err = plan_with(&domain("pc", "<features><acpi/></features>", ""), &caps)
        .expect_err("acpi unsupported");
    assert!(err.contains("does not support ACPI"), "{err}");
}
