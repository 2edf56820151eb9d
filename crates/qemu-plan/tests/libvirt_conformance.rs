//! Conformance with libvirt 11.3's own accepted-domain corpus (`tests/qemuxmlconfdata`):
//! every x86_64 case with an expected output for the newest QEMU
//! (`NAME.x86_64-latest.args` and/or `NAME.x86_64-latest.xml`) is parsed, given the
//! define-time defaults and, where libvirt expects a command line, planned with the
//! capabilities libvirt's test uses (QEMU 10.0: `tests/qemucapabilitiesdata/
//! caps_10.0.0_x86_64.replies`, replayed through our own probe decoding).
//!
//! Three numbers, each over its own set of cases:
//! * fully modelled: parsed, and nothing kept-but-not-understood
//!   (`Domain::unsupported()` empty), over all cases;
//! * argv-equal: the planned argv (without the environment and the emulator), as a
//!   multiset of `-option value` pairs, equals libvirt's `.args`, over the `.args` cases;
//! * xml2xml (reported, not gated): our canonical XML after the defaults equals
//!   `NAME.x86_64-latest.xml` line by line (leading blanks aside).
//!
//! The table (also `target/tmp/libvirt-conformance.txt`) gives the totals and, per gap,
//! how many cases it touches: unmodelled elements/attributes, plan refusals and
//! differing options. The test fails when a number drops below its floor below
//! (ratchet the floors up as gaps close) and when the corpus is missing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use common::{EverythingExists, fill_defaults, libvirt_tree};
use host_config::HostConfig;
use qemu_caps::Capabilities;
use qemu_plan::{HugetlbfsMountInfo, PlanInput, Runtime, plan};
use qemu_runtime::firmware::{Descriptor, load};
use qemu_runtime::firmware_fill::fill;

/// Floors (percent, one decimal) this test enforces; the targets beside them.
const FLOOR_MODELLED: f64 = 89.9;
const FLOOR_ARGV_EQUAL: f64 = 31.0;
const FLOOR_PLANNED: f64 = 39.6;
const TARGET_MODELLED: f64 = 85.0;
const TARGET_ARGV_EQUAL: f64 = 70.0;

/// How many gap lines per section the table shows.
const TOP: usize = 80;

fn caps(tree: &Path) -> Capabilities {
    let path = tree.join("tests/qemucapabilitiesdata/caps_10.0.0_x86_64.replies");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let replayed = qemu::caps::replay_replies(Path::new("/usr/bin/qemu-system-x86_64"), &text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for s in &replayed.substitutions {
        println!("caps replay: {s}");
    }
    replayed.caps
}

/// The runtime libvirt's test gives every case (`qemuxmlconftest.c`, `testutilsqemu.c`):
/// domain id -1, lib dir `/var/lib/libvirt/qemu/domain--1-NAME`, the monitor on fd 1729,
/// the master key in the lib dir, channels under `/var/run/libvirt/qemu/channel`, and
/// hugetlbfs mounts of 2 MiB (default) and 1 GiB pages. Our ids are unsigned; the id
/// only shows in hugepage paths, where the gap is reported like any other.
fn runtime<'a>(dom: &domain_xml::Domain, host: &'a EverythingExists) -> Runtime<'a> {
    // libvirt's per-domain directories use the short name (the name cut to 20
    // characters) after the id, and its test runs every domain with id -1.
    let short: String = dom.name.chars().take(20).collect();
    let lib = format!("/var/lib/libvirt/qemu/domain--1-{short}");
    Runtime {
        domain_id: 1,
        emulator: Runtime::emulator_for(dom),
        monitor_socket: format!("{lib}/monitor.sock"),
        channel_dir: format!("/var/run/libvirt/qemu/channel/-1-{short}"),
        network_bridges: vec![("default".into(), "virbr0".into())],
        master_key: Some(format!("{lib}/master-key.aes")),
        lib_dir: lib,
        monitor_fd: 1729,
        first_free_fd: 1730,
        log_path: "/var/log/libvirt/qemu/test.log".into(),
        hugetlbfs: vec![
            HugetlbfsMountInfo {
                path: "/dev/hugepages2M".into(),
                page_size_kib: 2048,
                default: true,
            },
            HugetlbfsMountInfo {
                path: "/dev/hugepages1G".into(),
                page_size_kib: 1024 * 1024,
                default: false,
            },
        ],
        hugepage_subdir: "qemu".into(),
        host,
    }
}

/// Splits a `.args` file (libvirt writes one option per line, ` \` continuations,
/// single-quoted words) into words.
fn shell_words(text: &str) -> Vec<String> {
    let text = text.replace("\\\n", " ");
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        _ => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// A JSON value (`-device {...}`, `-blockdev {...}`, `-object {...}`) with its members
/// in one order: QEMU parses JSON arguments into a dictionary, so member order has no
/// meaning. Anything else is kept as written.
fn normalize_value(v: &str) -> String {
    if v.starts_with('{')
        && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(v)
    {
        // serde_json's maps are sorted (no `preserve_order`), so this orders members.
        return parsed.to_string();
    }
    v.to_owned()
}

/// Groups argv words into `-option value` pairs (an option without a value pairs with
/// the empty string), as a sorted multiset.
fn option_pairs(argv: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let opt = argv[i].clone();
        let value = argv
            .get(i + 1)
            .filter(|v| !v.starts_with('-') || !opt.starts_with('-'));
        match value {
            Some(v) if opt.starts_with('-') => {
                out.push((opt, normalize_value(v)));
                i += 2;
            }
            _ => {
                out.push((opt, String::new()));
                i += 1;
            }
        }
    }
    out.sort();
    out
}

/// libvirt's argv: the `.args` words without the environment and the emulator.
fn expected_argv(text: &str) -> Vec<String> {
    let words = shell_words(text);
    let start = words
        .iter()
        .position(|w| !is_env_assignment(w))
        .map_or(words.len(), |i| i + 1);
    words[start..].to_vec()
}

fn is_env_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((k, _)) => !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        None => false,
    }
}

/// A short name for an option pair in the gap table: the option, and for JSON
/// devices/objects/blockdevs their driver or type, for `-machine`/`-cpu` the first
/// word and each property name.
fn pair_key(opt: &str, value: &str) -> String {
    if value.starts_with('{')
        && let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(value)
    {
        let kind = ["driver", "qom-type", "type"]
            .iter()
            .find_map(|k| m.get(*k).and_then(|v| v.as_str()))
            .unwrap_or("?");
        return format!("{opt} {kind}");
    }
    match opt {
        "-machine" | "-cpu" | "-sandbox" | "-smp" | "-m" | "-overcommit" | "-rtc" | "-boot"
        | "-name" | "-chardev" | "-netdev" | "-display" | "-vnc" | "-spice" | "-accel"
        | "-numa" | "-global" | "-audiodev" => {
            let first = value.split(',').next().unwrap_or_default();
            let first = if first.contains('=') {
                first.split('=').next().unwrap_or_default()
            } else {
                first
            };
            format!("{opt} {first}")
        }
        _ => opt.to_owned(),
    }
}

/// The element or attribute a kept-but-not-understood diagnostic is about.
fn unsupported_key(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("element <")
        && let Some((el, rest)) = rest.split_once('>')
        && let Some(rest) = rest.strip_prefix(" in <")
        && let Some((parent, _)) = rest.split_once('>')
    {
        return format!("<{parent}><{el}>");
    }
    if let Some(rest) = message.strip_prefix("attribute '")
        && let Some((attr, rest)) = rest.split_once('\'')
        && let Some(rest) = rest.strip_prefix(" of <")
        && let Some((el, _)) = rest.split_once('>')
    {
        return format!("<{el} {attr}=>");
    }
    message.chars().take(70).collect()
}

/// A plan refusal without the values that make each case's message unique.
fn problem_key(p: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in p.chars() {
        if c == '\'' {
            quoted = !quoted;
            out.push_str(if quoted { "'…" } else { "'" });
        } else if !quoted {
            out.push(c);
        }
    }
    out.chars().take(90).collect()
}

struct Case {
    name: String,
    args: Option<String>,
    xml_out: Option<String>,
}

fn list_cases(dir: &Path) -> Vec<Case> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir).expect("read the corpus directory") {
        let path = entry.expect("directory entry").path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let name = file
            .strip_suffix(".x86_64-latest.args")
            .or_else(|| file.strip_suffix(".x86_64-latest.xml"));
        if let Some(n) = name {
            names.insert(n.to_owned());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let read = |suffix: &str| fs::read_to_string(dir.join(format!("{name}{suffix}"))).ok();
            Case {
                args: read(".x86_64-latest.args"),
                xml_out: read(".x86_64-latest.xml"),
                name,
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    cases: usize,
    parsed: usize,
    modelled: usize,
    args_cases: usize,
    planned: usize,
    argv_equal: usize,
    xml_cases: usize,
    xml_equal: usize,
    /// gap → cases it touches (each case counted once per gap).
    unmodelled: BTreeMap<String, BTreeSet<String>>,
    parse_errors: BTreeMap<String, BTreeSet<String>>,
    /// Cases with one unmodelled part only (modelling it makes them fully modelled).
    sole_unmodelled: BTreeMap<String, BTreeSet<String>>,
    refusals: BTreeMap<String, BTreeSet<String>>,
    /// Cases refused for one reason only (closing it plans them).
    sole_refusal: BTreeMap<String, BTreeSet<String>>,
    missing: BTreeMap<String, BTreeSet<String>>,
    extra: BTreeMap<String, BTreeSet<String>>,
    /// Cases whose argv differs in exactly one option pair key.
    one_off: BTreeMap<String, BTreeSet<String>>,
    per_case: Vec<String>,
}

fn add(map: &mut BTreeMap<String, BTreeSet<String>>, key: String, case: &str) {
    map.entry(key).or_default().insert(case.to_owned());
}

fn run_case(case: &Case, dir: &Path, caps: &Capabilities, firmware: &[Descriptor], t: &mut Tally) {
    t.cases += 1;
    let name = case.name.as_str();
    let xml = dir.join(format!("{name}.xml"));
    let text = fs::read_to_string(&xml).unwrap_or_default();
    let uuid = uuid::Uuid::from_u128(0xc7a5fdbd_edaf_9455_926a_d65c16db1809);
    let has_args = case.args.is_some();
    if has_args {
        t.args_cases += 1;
    }
    if case.xml_out.is_some() {
        t.xml_cases += 1;
    }
    let mut dom = match domain_xml::parse_domain_with(&text, &mut || uuid) {
        Ok(p) => p.value,
        Err(e) => {
            add(&mut t.parse_errors, problem_key(&e.to_string()), name);
            t.per_case.push(format!("{name:<60} parse error: {e}"));
            return;
        }
    };
    t.parsed += 1;
    fill_defaults(&mut dom, caps, false);
    // Firmware autoselection, as the daemon's define does it; libvirt's expected
    // outputs are of definitions read back (`abi_update` false).
    let firmware_refusal = fill(
        &mut dom,
        firmware,
        Path::new("/var/lib/libvirt/qemu/nvram"),
        false,
    )
    .err()
    .map(|e| e.to_string());
    let unsupported = dom.unsupported();
    if unsupported.is_empty() {
        t.modelled += 1;
    }
    let keys: BTreeSet<String> = unsupported
        .iter()
        .map(|d| unsupported_key(&d.message))
        .collect();
    if keys.len() == 1 {
        let k = keys.iter().next().cloned().unwrap_or_default();
        add(&mut t.sole_unmodelled, k, name);
    }
    for k in keys {
        add(&mut t.unmodelled, k, name);
    }
    if let Some(want) = &case.xml_out {
        let ours = dom.to_xml();
        let norm = |s: &str| -> Vec<String> {
            s.lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        };
        if norm(&ours) == norm(want) {
            t.xml_equal += 1;
        }
    }
    let Some(args) = &case.args else {
        return;
    };
    // A refused firmware choice is a refusal before planning, as at define.
    if let Some(why) = firmware_refusal {
        let key = format!("firmware: {}", problem_key(&why));
        add(&mut t.refusals, key.clone(), name);
        add(&mut t.sole_refusal, key, name);
        t.per_case
            .push(format!("{name:<60} refused: firmware: {why}"));
        return;
    }
    // The directories the domain shares (libvirt's test does not look at them).
    let facts = EverythingExists {
        dirs: dom
            .devices
            .filesystems
            .iter()
            .filter_map(|f| f.source.as_ref()?.get("dir").map(str::to_owned))
            .collect(),
    };
    let rt = runtime(&dom, &facts);
    let host = HostConfig::default();
    let planned = plan(&PlanInput {
        domain: &dom,
        host: &host,
        caps,
        runtime: &rt,
    });
    let launch = match planned {
        Ok(l) => l,
        Err(e) => {
            let problems = e.problems();
            let mut keys = BTreeSet::new();
            for p in problems {
                // The subject's kind (`disk`, `interface`, …) without its name.
                let kind = p.subject.split(' ').next().unwrap_or_default();
                keys.insert(format!("{kind}: {}", problem_key(&p.message)));
            }
            if keys.len() == 1 {
                let k = keys.iter().next().cloned().unwrap_or_default();
                add(&mut t.sole_refusal, k, name);
            }
            for k in keys {
                add(&mut t.refusals, k, name);
            }
            let first = problems
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            t.per_case.push(format!("{name:<60} refused: {first}"));
            return;
        }
    };
    t.planned += 1;
    // The one place the planner prints the domain id itself (the per-domain
    // hugetlbfs directory `ID-NAME`): rvirt's ids start at 1, libvirt's test
    // uses -1, as the runtime above does for the directories it names.
    // libvirt's test also opens every listening chardev socket as the fake
    // descriptor 1729 (as it does the monitor's); rvirt numbers them from 1730.
    let argv: Vec<String> = launch
        .argv
        .iter()
        .map(|a| {
            let a = a.replace("/libvirt/qemu/1-", "/libvirt/qemu/-1-");
            if a.starts_with("socket,") {
                a.split(',')
                    .map(|p| if p.starts_with("fd=") { "fd=1729" } else { p })
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                a
            }
        })
        .collect();
    let ours = option_pairs(&argv);
    let want = option_pairs(&expected_argv(args));
    if ours == want {
        t.argv_equal += 1;
        t.per_case.push(format!("{name:<60} argv equal"));
        return;
    }
    let mut only_want = want.clone();
    let mut only_ours = Vec::new();
    for p in ours {
        match only_want.iter().position(|w| *w == p) {
            Some(i) => {
                only_want.remove(i);
            }
            None => only_ours.push(p),
        }
    }
    let mut keys = BTreeSet::new();
    for (o, v) in &only_want {
        let k = pair_key(o, v);
        keys.insert(k.clone());
        add(&mut t.missing, k, name);
    }
    for (o, v) in &only_ours {
        let k = pair_key(o, v);
        keys.insert(k.clone());
        add(&mut t.extra, k, name);
    }
    if keys.len() == 1 {
        add(
            &mut t.one_off,
            keys.into_iter().next().unwrap_or_default(),
            name,
        );
    }
    let show = |ps: &[(String, String)]| {
        ps.iter()
            .map(|(o, v)| format!("{o} {v}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    t.per_case.push(format!(
        "{name:<60} argv differs\n{:<62}libvirt only: {}\n{:<62}rvirt only:   {}",
        "",
        show(&only_want),
        "",
        show(&only_ours)
    ));
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        (n as f64 * 1000.0 / of as f64).round() / 10.0
    }
}

fn section(out: &mut String, title: &str, map: &BTreeMap<String, BTreeSet<String>>) {
    let mut rows: Vec<_> = map.iter().collect();
    rows.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let _ = writeln!(out, "\n{title} ({} distinct):", rows.len());
    for (k, cases) in rows.iter().take(TOP) {
        let example = cases.iter().next().map(String::as_str).unwrap_or("");
        let _ = writeln!(out, "  {:>4}  {k}   (e.g. {example})", cases.len());
    }
    if rows.len() > TOP {
        let _ = writeln!(out, "  … {} more", rows.len() - TOP);
    }
}

#[test]
fn libvirt_conformance() {
    let tree = libvirt_tree();
    let dir = tree.join("tests/qemuxmlconfdata");
    let caps = caps(&tree);
    let cases = list_cases(&dir);
    assert!(
        cases.len() >= 780,
        "expected libvirt 11.3's ~786 x86_64-latest cases in {}, found {}",
        dir.display(),
        cases.len()
    );
    // libvirt's test maps the system firmware directories onto these.
    let fw = tree.join("tests/qemufirmwaredata");
    let (firmware, _) = load(&[
        fw.join("usr/share/qemu/firmware"),
        fw.join("etc/qemu/firmware"),
        fw.join("home/user/.config/qemu/firmware"),
    ])
    .unwrap_or_else(|e| panic!("firmware descriptors under {}: {e}", fw.display()));
    assert!(
        !firmware.is_empty(),
        "no firmware descriptors under {}",
        fw.display()
    );
    let mut t = Tally::default();
    for case in &cases {
        run_case(case, &dir, &caps, &firmware, &mut t);
    }
    let modelled = pct(t.modelled, t.cases);
    let planned = pct(t.planned, t.args_cases);
    let argv_equal = pct(t.argv_equal, t.args_cases);
    let xml_equal = pct(t.xml_equal, t.xml_cases);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "libvirt 11.3 qemuxmlconfdata, x86_64-latest, QEMU 10.0 capabilities\n\
         cases {}: parsed {}, fully modelled {} ({modelled}%, floor {FLOOR_MODELLED}%, target {TARGET_MODELLED}%)\n\
         .args cases {}: planned {} ({planned}%, floor {FLOOR_PLANNED}%), argv equal {} ({argv_equal}%, floor {FLOOR_ARGV_EQUAL}%, target {TARGET_ARGV_EQUAL}%)\n\
         .xml cases {}: xml2xml equal {} ({xml_equal}%, not gated)",
        t.cases,
        t.parsed,
        t.modelled,
        t.args_cases,
        t.planned,
        t.argv_equal,
        t.xml_cases,
        t.xml_equal,
    );
    section(&mut out, "parse errors", &t.parse_errors);
    section(&mut out, "unmodelled (kept, not understood)", &t.unmodelled);
    section(
        &mut out,
        "cases with one unmodelled part only",
        &t.sole_unmodelled,
    );
    section(&mut out, "plan refusals", &t.refusals);
    section(
        &mut out,
        "cases refused for one reason only",
        &t.sole_refusal,
    );
    section(&mut out, "options libvirt has and rvirt lacks", &t.missing);
    section(&mut out, "options rvirt has and libvirt lacks", &t.extra);
    section(&mut out, "cases one option key away from equal", &t.one_off);
    let _ = writeln!(out, "\nper case:");
    for line in &t.per_case {
        let _ = writeln!(out, "{line}");
    }
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libvirt-conformance.txt");
    let _ = fs::write(&report, &out);
    let head: String = out
        .split("\nper case:")
        .next()
        .unwrap_or_default()
        .to_owned();
    println!("{head}\n(full table: {})", report.display());
    let mut low = Vec::new();
    for (what, got, floor) in [
        ("fully modelled", modelled, FLOOR_MODELLED),
        ("planned", planned, FLOOR_PLANNED),
        ("argv equal", argv_equal, FLOOR_ARGV_EQUAL),
    ] {
        if got < floor {
            low.push(format!("{what} {got}% is below its floor {floor}%"));
        }
    }
    assert!(low.is_empty(), "{}", low.join("\n"));
}

#[test]
fn args_files_split_as_the_shell_does() {
    let text = "LC_ALL=C \\\nPATH=/bin \\\n/usr/bin/qemu-system-x86_64 \\\n-name guest=a,debug-threads=on \\\n-S \\\n-object '{\"qom-type\":\"secret\",\"id\":\"x\"}' \\\n-device 'a'\\''b' \\\n-msg timestamp=on\n";
    let argv = expected_argv(text);
    assert_eq!(
        argv,
        [
            "-name",
            "guest=a,debug-threads=on",
            "-S",
            "-object",
            "{\"qom-type\":\"secret\",\"id\":\"x\"}",
            "-device",
            "a'b",
            "-msg",
            "timestamp=on"
        ]
    );
    let pairs = option_pairs(&argv);
    assert!(pairs.contains(&("-S".into(), String::new())));
    assert!(pairs.contains(&("-name".into(), "guest=a,debug-threads=on".into())));
}
