//! Firmware autoselection against libvirt 11.3's own cases: every x86_64
//! `tests/qemuxmlconfdata/firmware-*.xml` is filled with libvirt's test
//! descriptors (`tests/qemufirmwaredata`, searched as its test suite does) and its
//! `<os>` (and SMM) compared with libvirt's expected output
//! (`NAME.x86_64-latest.xml`), or its refusal with `NAME.x86_64-latest.err`.
//!
//! The corpus comes from `tools/libvirt-corpus.sh` (a prerequisite: a missing
//! corpus fails the test). Cases listed in `NOT_YET` may differ (name: why).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use qemu_runtime::firmware::load;
use qemu_runtime::firmware_fill::fill;

/// Cases whose difference is known and outside autoselection.
const NOT_YET: &[(&str, &str)] = &[];

fn libvirt_tree() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tools/libvirt-corpus.sh");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (the libvirt corpus is a prerequisite of this test):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// The `<os>…</os>` block of a document, and whether it turns SMM on.
fn os_and_smm(xml: &str) -> (String, bool) {
    let start = xml.find("<os").expect("no <os>");
    let end = xml.find("</os>").expect("no </os>") + "</os>".len();
    let os: Vec<&str> = xml[start..end].lines().map(str::trim).collect();
    (os.join("\n"), xml.contains("<smm state='on'"))
}

fn verdict(
    d: &domain_xml::Domain,
    got: Result<(), qemu_runtime::firmware_fill::FillError>,
    out_xml: &Path,
    out_err: &Path,
) -> String {
    verdict_of(d, got, out_xml, out_err)
}

/// Compares one filled definition (or refusal) with libvirt's expectation.
fn verdict_of(
    d: &domain_xml::Domain,
    got: Result<(), qemu_runtime::firmware_fill::FillError>,
    out_xml: &Path,
    out_err: &Path,
) -> String {
    match got {
        // libvirt defines the domain but refuses to start it: the same refusal.
        Err(e) if out_err.exists() => {
            let want = fs::read_to_string(out_err).unwrap();
            if want.contains(&e.to_string()) {
                "same refusal".to_owned()
            } else {
                // Refused by libvirt for another reason (validation): rvirt's
                // define-time validation is another test's business.
                format!("refused: {e} (libvirt: {})", want.trim())
            }
        }
        Err(e) => format!("DIFFERS: refused here: {e}"),
        Ok(()) if out_xml.exists() => {
            let want = os_and_smm(&fs::read_to_string(out_xml).unwrap());
            let have = os_and_smm(&d.to_xml());
            if want == have {
                "same".to_owned()
            } else {
                format!("DIFFERS\n  libvirt: {want:?}\n  rvirt:   {have:?}")
            }
        }
        Ok(()) => {
            let want = fs::read_to_string(out_err).unwrap_or_default();
            format!("accepted here (libvirt refuses: {})", want.trim())
        }
    }
}

#[test]
fn autoselection_matches_libvirts_expected_definitions() {
    let tree = libvirt_tree();
    let data = tree.join("tests/qemuxmlconfdata");
    let fw = tree.join("tests/qemufirmwaredata");
    // libvirt's test suite maps the system directories onto these.
    let dirs = [
        fw.join("usr/share/qemu/firmware"),
        fw.join("etc/qemu/firmware"),
        fw.join("home/user/.config/qemu/firmware"),
    ];
    let (descriptors, _) = load(&dirs).unwrap();
    assert!(
        !descriptors.is_empty(),
        "no descriptors under {}",
        fw.display()
    );
    let nvram_dir = Path::new("/var/lib/libvirt/qemu/nvram");

    let mut names: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("firmware-") && n.ends_with(".xml") && !n.contains('.') || {
                n.starts_with("firmware-") && n.matches('.').count() == 1 && n.ends_with(".xml")
            }
        })
        .map(|n| n.trim_end_matches(".xml").to_owned())
        .collect();
    names.sort();
    let mut table = String::new();
    let (mut same, mut total) = (0, 0);
    let mut unexpected = Vec::new();
    for n in &names {
        let out_xml = data.join(format!("{n}.x86_64-latest.xml"));
        let out_err = data.join(format!("{n}.x86_64-latest.err"));
        if !out_xml.exists() && !out_err.exists() {
            continue; // another architecture's case
        }
        let input = fs::read_to_string(data.join(format!("{n}.xml"))).unwrap();
        let Ok(parsed) = domain_xml::parse_domain(&input) else {
            // Refused at parse by rvirt: the refusal corpus covers those.
            continue;
        };
        let mut d = parsed.value;
        total += 1;
        // libvirt validates before it selects firmware; so does rvirt's define.
        if out_err.exists()
            && !out_xml.exists()
            && let Err(e) = domain_xml::validate(&d)
        {
            same += 1;
            table.push_str(&format!("{n:<55} refused at validation: {e}\n"));
            continue;
        }
        let got = fill(&mut d, &descriptors, nvram_dir, false);
        let verdict = verdict(&d, got, &out_xml, &out_err);
        // libvirt's define (ABI update) may choose otherwise: its own expected output.
        let abi = data.join(format!("{n}.x86_64-latest.abi-update.xml"));
        let verdict = if abi.exists() {
            let mut d = domain_xml::parse_domain(&input).unwrap().value;
            let got = fill(&mut d, &descriptors, nvram_dir, true);
            let v = verdict_of(&d, got, &abi, Path::new("/nonexistent"));
            if v.starts_with("same") {
                verdict
            } else {
                format!("DIFFERS (abi-update): {v}")
            }
        } else {
            verdict
        };
        if verdict.starts_with("same") || verdict.starts_with("refused") {
            same += 1;
        } else if !NOT_YET.iter().any(|(k, _)| k == n) && verdict.starts_with("DIFFERS") {
            unexpected.push(n.clone());
        }
        table.push_str(&format!("{n:<55} {verdict}\n"));
    }
    println!("{table}\n{same} of {total} x86_64 firmware cases as libvirt 11.3");
    assert!(total >= 40, "only {total} cases found");
    // Ratchet: what libvirt accepts is filled the same; what it refuses, refused.
    assert!(same >= 60, "only {same} of {total} as libvirt:\n{table}");
    assert!(
        unexpected.is_empty(),
        "differ from libvirt: {unexpected:?}\n{table}"
    );
}
