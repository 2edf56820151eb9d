//! `rvirt validate` as a user runs it: exit codes, FILE:LINE:COL messages, canonical bytes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rvirt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvirt"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

#[test]
fn both_kbase_examples_give_the_same_canonical_bytes() {
    let a = rvirt(&["validate", "--canonical", "examples/kbase-ns-on-domain.xml"]);
    let b = rvirt(&["validate", "--canonical", "examples/kbase-ns-at-use.xml"]);
    assert!(a.status.success() && b.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    assert!(
        a.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
}

#[test]
fn errors_and_warnings_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<domain type='kvm'>\n  <name>x</name>\n  <memory unit='parsecs'>1</memory>\n</domain>\n",
    )
    .unwrap();
    let warn = dir.path().join("warn.xml");
    std::fs::write(
        &warn,
        "<domain type='kvm'>\n  <name>x</name>\n  <memory>1</memory>\n  <os><type>hvm</type></os>\n  <launchSecurity type='sev'/>\n</domain>\n",
    )
    .unwrap();
    let (bad, warn) = (bad.to_str().unwrap(), warn.to_str().unwrap());

    let out = rvirt(&["validate", bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!("{bad}:3:11: error: unknown unit 'parsecs' in <memory>\n")
    );

    // Warnings alone pass; the kept element is still in the canonical output.
    let out = rvirt(&["validate", "--canonical", warn]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "{warn}:5:3: warning: element <launchSecurity> in <domain>"
        )),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("  <launchSecurity type='sev'/>\n"));

    // Several files: one bad one fails the run, the others are still checked.
    let out = rvirt(&["validate", warn, bad, "/nonexistent.xml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent.xml: error: cannot read '/nonexistent.xml'"),
        "{err}"
    );
}

#[test]
fn define_time_rules_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("timeout.xml");
    std::fs::write(
        &bad,
        "<domain type='kvm'>\n  <name>x</name>\n  <memory>1024</memory>\n  <os><type>hvm</type><bootmenu enable='yes' timeout='70000'/></os>\n</domain>\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let out = rvirt(&["validate", bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "{bad}: error: unsupported configuration: <bootmenu timeout='70000'>"
        )),
        "{err}"
    );
}
