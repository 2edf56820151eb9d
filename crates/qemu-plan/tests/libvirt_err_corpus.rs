//! Conformance with libvirt's own refused-domain corpus: every x86_64 case of libvirt
//! 11.3's `tests/qemuxmlconfdata/` that has an expected error (`NAME.x86_64-*.err`) is
//! run through rvirt's define and start path without QEMU: parse → define-time defaults
//! → `domain_xml::validate` → `qemu_plan::plan` (QEMU 10.0's captured capabilities,
//! a fake host where every path exists). Each case must be refused at one of those
//! stages, unless it is in `libvirt_err_corpus.not-yet` (name, then why).
//!
//! The corpus comes from `tools/libvirt-corpus.sh` (run here; quick once cached). A
//! missing corpus fails the test: it is a prerequisite, never a reason to skip.
//!
//! The table (also written to `target/tmp/libvirt-err-corpus.txt`) says per case where
//! it was refused and the first line of rvirt's message, and whether that message is
//! about what libvirt's is ("genuine": they share a significant word, or the case's
//! name does) or only a refusal of something else ("unrelated").

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use common::{EverythingExists, captured_caps, corpus_dir, fill_defaults};
use host_config::HostConfig;
use qemu_caps::Capabilities;
use qemu_plan::{PlanInput, Runtime, plan};

const NOT_YET: &str = include_str!("libvirt_err_corpus.not-yet");

fn caps() -> Capabilities {
    captured_caps("10.0")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Parse,
    Validate,
    Plan,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Validate => "validate",
            Stage::Plan => "plan",
        }
    }
}

/// Devices libvirt's own test removes from its capabilities for a case
/// (`ARG_QEMU_CAPS_DEL` in `qemuxmlconftest.c`), as QEMU device names.
const CAPS_DEL: &[(&str, &[&str])] = &[
    (
        "usb-controller-default-unavailable-i440fx",
        &["piix3-usb-uhci"],
    ),
    (
        "usb-controller-default-unavailable-q35",
        &["piix3-usb-uhci"],
    ),
    ("usb-controller-nec-xhci-unavailable", &["nec-usb-xhci"]),
];

/// Where a case was refused and every reason given, or `None` when rvirt accepts it.
fn run_case(xml: &Path, caps: &Capabilities) -> Option<(Stage, Vec<String>)> {
    let text = match fs::read_to_string(xml) {
        Ok(t) => t,
        Err(e) => return Some((Stage::Parse, vec![format!("cannot read the file: {e}")])),
    };
    let uuid = uuid::Uuid::from_u128(0xc7a5fdbd_edaf_9455_926a_d65c16db1809);
    let mut dom = match domain_xml::parse_domain_with(&text, &mut || uuid) {
        Ok(p) => p.value,
        Err(e) => return Some((Stage::Parse, vec![e.to_string()])),
    };
    fill_defaults(&mut dom, caps, true);
    let errors = domain_xml::validate_all(&dom);
    if !errors.is_empty() {
        let msgs = errors
            .iter()
            .map(|e| format!("{}: {e}", e.kind.prefix()))
            .collect();
        return Some((Stage::Validate, msgs));
    }
    let facts = EverythingExists::default();
    let lib = format!("/var/lib/rvirt/qemu/domain-1-{}", dom.name);
    let rt = Runtime {
        domain_id: 1,
        emulator: Runtime::emulator_for(&dom),
        monitor_socket: format!("{lib}/monitor.sock"),
        channel_dir: format!("{lib}/channel"),
        network_bridges: vec![("default".into(), "virbr0".into())],
        master_key: Some(format!("{lib}/master-key.aes")),
        lib_dir: lib,
        monitor_fd: 3,
        first_free_fd: 4,
        log_path: "/var/log/rvirt/qemu/corpus.log".into(),
        hugetlbfs: Vec::new(),
        hugepage_subdir: "qemu".into(),
        host: &facts,
    };
    let host = HostConfig::default();
    let input = PlanInput {
        domain: &dom,
        host: &host,
        caps,
        runtime: &rt,
    };
    match plan(&input) {
        Ok(_) => None,
        Err(e) => Some((
            Stage::Plan,
            e.problems().iter().map(ToString::to_string).collect(),
        )),
    }
}

/// Words too common to tie two messages together.
const STOP: &[&str] = &[
    "the",
    "and",
    "for",
    "not",
    "with",
    "are",
    "is",
    "can",
    "cannot",
    "only",
    "must",
    "has",
    "have",
    "does",
    "supported",
    "support",
    "unsupported",
    "configuration",
    "yet",
    "xml",
    "error",
    "domain",
    "line",
    "column",
    "canonical",
    "element",
    "attribute",
    "value",
    "this",
    "that",
    "binary",
    "qemu",
    "when",
    "than",
    "more",
    "one",
    "type",
    "model",
    "device",
    "devices",
    "internal",
    "invalid",
    "argument",
    "operation",
    "failed",
    "guest",
    "kept",
    "use",
    "used",
    "set",
    "which",
    "there",
    "without",
    "should",
    "into",
    "from",
    "its",
    "expected",
    "found",
    "allowed",
    "requires",
    "requested",
    "specified",
    "missing",
    "need",
    "needs",
    "index",
    "address",
    "number",
    "name",
    "all",
    "any",
    "per",
    "abs",
    "srcdir",
    "qemuxmlconfdata",
    "x86",
    "latest",
    "yes",
];

fn words(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_ascii_lowercase)
        .filter(|w| {
            w.len() >= 3 && !STOP.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit())
        })
        .collect()
}

/// How a refusal relates to libvirt's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    /// A check about the same thing as libvirt's message.
    Genuine,
    /// The element libvirt complains about is refused as not supported (yet).
    UnsupportedElement,
    /// Refused, but only for something else.
    Unrelated,
}

/// A refusal that only says rvirt does not do something (yet), not what is wrong.
fn generic(msg: &str) -> bool {
    msg.contains("not supported yet")
        || msg.contains("is not supported by rvirt")
        || msg.contains("are not supported yet")
}

/// Classifies rvirt's reasons against libvirt's message (and the case's name, which
/// says what the case is about); returns the class and the most relevant reason.
fn classify<'a>(case: &str, libvirt_msg: &str, ours: &'a [String]) -> (Reason, &'a str) {
    let theirs: BTreeSet<String> = words(libvirt_msg).union(&words(case)).cloned().collect();
    let related = |m: &String| words(m).intersection(&theirs).next().is_some();
    if let Some(m) = ours.iter().find(|m| related(m) && !generic(m)) {
        return (Reason::Genuine, m);
    }
    if let Some(m) = ours.iter().find(|m| related(m)) {
        return (Reason::UnsupportedElement, m);
    }
    (
        Reason::Unrelated,
        ours.first().map(String::as_str).unwrap_or(""),
    )
}

struct Case {
    name: String,
    /// The expected-error file's first line.
    libvirt: String,
}

fn list_cases(dir: &Path) -> Vec<Case> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for entry in fs::read_dir(dir).expect("read the corpus directory") {
        let path = entry.expect("directory entry").path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(".err") else {
            continue;
        };
        // NAME.x86_64-latest.err or NAME.x86_64-X.Y.0.err; other architectures are not ours.
        let Some((name, variant)) = stem.split_once(".x86_64-") else {
            continue;
        };
        let msg = fs::read_to_string(&path).unwrap_or_default();
        let first = msg.lines().next().unwrap_or_default().to_owned();
        // A case pinned to several versions is one case; keep the newest message.
        let key = if variant == "latest" {
            name.to_owned()
        } else {
            format!("{name}@{variant}")
        };
        by_name.insert(key, first);
    }
    by_name
        .into_iter()
        .map(|(name, libvirt)| Case { name, libvirt })
        .collect()
}

fn not_yet() -> BTreeMap<String, String> {
    NOT_YET
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((n, why)) => (n.to_owned(), why.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

#[test]
fn libvirt_err_corpus() {
    let dir = corpus_dir();
    let full_caps = caps();
    let cases = list_cases(&dir);
    assert!(
        cases.len() >= 170,
        "expected libvirt 11.3's ~174 x86_64 .err cases in {}, found {}",
        dir.display(),
        cases.len()
    );
    let listed = not_yet();
    let mut table = String::new();
    let mut by_stage: BTreeMap<Stage, usize> = BTreeMap::new();
    let mut by_reason: BTreeMap<Reason, usize> = BTreeMap::new();
    let mut accepted = 0usize;
    let mut problems = Vec::new();
    for case in &cases {
        let base = case.name.split('@').next().unwrap_or(&case.name);
        let xml = dir.join(format!("{base}.xml"));
        let mut caps = full_caps.clone();
        for (_, devices) in CAPS_DEL.iter().filter(|(n, _)| *n == case.name) {
            for d in *devices {
                caps.devices.remove(*d);
                caps.object_types.remove(*d);
            }
        }
        let outcome = run_case(&xml, &caps);
        match &outcome {
            Some((stage, msgs)) => {
                *by_stage.entry(*stage).or_default() += 1;
                let (reason, msg) = classify(base, &case.libvirt, msgs);
                *by_reason.entry(reason).or_default() += 1;
                let first = msg.lines().next().unwrap_or_default();
                let tag = match reason {
                    Reason::Genuine => "refused",
                    Reason::UnsupportedElement => "refused (element not supported)",
                    Reason::Unrelated => "refused (unrelated)",
                };
                let _ = writeln!(
                    table,
                    "{:<58} {tag} at {}: {first}\n{:<58}   libvirt: {}",
                    case.name,
                    stage.name(),
                    "",
                    case.libvirt
                );
                if listed.contains_key(&case.name) {
                    problems.push(format!(
                        "{} is listed as not yet refused but is now ({}: {first}): take it off the list",
                        case.name,
                        stage.name()
                    ));
                }
            }
            None => {
                accepted += 1;
                let why = listed.get(&case.name).map(String::as_str).unwrap_or("");
                let _ = writeln!(
                    table,
                    "{:<58} NOT-YET {why}\n{:<58}   libvirt: {}",
                    case.name, "", case.libvirt
                );
                if !listed.contains_key(&case.name) {
                    problems.push(format!(
                        "{} is accepted but libvirt refuses it ({}); it is not in the not-yet list",
                        case.name, case.libvirt
                    ));
                }
            }
        }
    }
    for name in listed.keys() {
        if !cases.iter().any(|c| &c.name == name) {
            problems.push(format!(
                "{name} is in the not-yet list but is not a corpus case"
            ));
        }
    }
    let stage = |s| by_stage.get(&s).copied().unwrap_or(0);
    let reason = |r| by_reason.get(&r).copied().unwrap_or(0);
    let _ = writeln!(
        table,
        "\n{} cases: refused {} (parse {}, validate {}, plan {}; genuine {}, \
         element not supported {}, unrelated reason {}), not yet {}",
        cases.len(),
        cases.len() - accepted,
        stage(Stage::Parse),
        stage(Stage::Validate),
        stage(Stage::Plan),
        reason(Reason::Genuine),
        reason(Reason::UnsupportedElement),
        reason(Reason::Unrelated),
        accepted
    );
    println!("{table}");
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libvirt-err-corpus.txt");
    let _ = fs::write(&report, &table);
    assert!(
        problems.is_empty(),
        "{} problem(s) (table in {}):\n{}",
        problems.len(),
        report.display(),
        problems.join("\n")
    );
}
