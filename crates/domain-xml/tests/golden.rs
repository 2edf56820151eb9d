//! Golden files: every `data/ok/NAME.xml` has its canonical form in `NAME.out.xml.snap`
//! (and its warnings in `NAME.warnings.snap` when there are any); every
//! `data/err/NAME.xml` has its error message in `NAME.err.snap`. They are insta
//! snapshots whose body is the expected text; `cargo insta test -p domain-xml --test
//! golden --review` (or `INSTA_UPDATE=always`) changes them.

use std::fs;
use std::path::{Path, PathBuf};

use domain_xml::parse_domain_with;

fn data(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".xml") && !n.ends_with(".out.xml")
        })
        .collect();
    files.sort();
    files
}

fn fixed_uuid() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
}

/// Checks `actual` against the insta snapshot `PATH.snap` made from `input`, or,
/// when there is no output, that no such snapshot is left over; `cargo insta
/// review` (or `INSTA_UPDATE`) changes it.
fn check_golden(path: &Path, input: &Path, actual: Option<&str>) {
    let dir = path.parent().expect("golden directory");
    let name = path.file_name().expect("golden name").to_string_lossy();
    let Some(actual) = actual else {
        let stale = dir.join(format!("{name}.snap"));
        assert!(
            !stale.exists(),
            "{}: the document no longer produces this output; delete the stale snapshot",
            stale.display()
        );
        return;
    };
    // insta compares with trailing whitespace trimmed. Every golden ends in exactly
    // one newline, so demanding that of the output keeps the comparison byte-exact.
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
        insta::assert_snapshot!(name.as_ref(), actual);
    });
}

#[test]
fn canonical_output_matches_golden_files() {
    let files = data("ok");
    assert!(files.len() >= 30, "expected at least 30 golden documents");
    for input in &files {
        let text = fs::read_to_string(input).unwrap();
        let parsed = parse_domain_with(&text, &mut fixed_uuid)
            .unwrap_or_else(|e| panic!("{}: unexpected error: {e}", input.display()));
        let out = parsed.value.to_xml();
        check_golden(&input.with_extension("out.xml"), input, Some(&out));
        let warnings: String = parsed.warnings.iter().map(|w| format!("{w}\n")).collect();
        let warnings = (!warnings.is_empty()).then_some(warnings);
        check_golden(
            &input.with_extension("warnings"),
            input,
            warnings.as_deref(),
        );

        // The canonical form is a fixed point and means the same domain.
        let again = parse_domain_with(&out, &mut fixed_uuid).unwrap();
        assert_eq!(
            again.value,
            parsed.value,
            "{}: re-parse differs",
            input.display()
        );
        assert_eq!(
            again.value.to_xml(),
            out,
            "{}: output not stable",
            input.display()
        );
    }
}

#[test]
fn errors_match_golden_files() {
    let files = data("err");
    for input in &files {
        let text = fs::read_to_string(input).unwrap();
        match parse_domain_with(&text, &mut fixed_uuid) {
            Ok(_) => panic!("{}: parsed but should fail", input.display()),
            Err(e) => {
                assert!(
                    e.pos.is_some(),
                    "{}: error without position: {e}",
                    input.display()
                );
                check_golden(&input.with_extension("err"), input, Some(&format!("{e}\n")));
            }
        }
    }
}

#[test]
fn both_kbase_passthrough_examples_give_identical_bytes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ok");
    let a = fs::read_to_string(dir.join("01-kbase-ns-on-domain.xml")).unwrap();
    let b = fs::read_to_string(dir.join("02-kbase-ns-at-use.xml")).unwrap();
    let a = parse_domain_with(&a, &mut fixed_uuid)
        .unwrap()
        .value
        .to_xml();
    let b = parse_domain_with(&b, &mut fixed_uuid)
        .unwrap()
        .value
        .to_xml();
    assert_eq!(a, b);
    assert!(a.starts_with(
        "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
    ));
    assert!(a.ends_with("  <qemu:commandline>\n    <qemu:arg value='-newarg'/>\n    <qemu:arg value='parameter'/>\n    <qemu:env name='ID' value='wibble'/>\n    <qemu:env name='BAR'/>\n  </qemu:commandline>\n</domain>\n"));
}

#[test]
fn unknown_content_is_listed_for_refusal() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ok");
    let text = fs::read_to_string(dir.join("28-unknown-kept.xml")).unwrap();
    let d = parse_domain_with(&text, &mut fixed_uuid).unwrap().value;
    let unsupported: Vec<String> = d.unsupported().iter().map(|w| w.message.clone()).collect();
    for needle in ["'futureattr'", "<acpi>", "'newattr'", "<tpm>", "<sysinfo>"] {
        assert!(
            unsupported.iter().any(|m| m.contains(needle)),
            "{needle} not in {unsupported:#?}"
        );
    }
    let plain = fs::read_to_string(dir.join("30-virt-install-debian.xml")).unwrap();
    let d = parse_domain_with(&plain, &mut fixed_uuid).unwrap().value;
    assert!(d.unsupported().is_empty(), "{:#?}", d.unsupported());
}

#[test]
fn missing_uuid_is_generated() {
    let d = domain_xml::parse_domain(
        "<domain type='kvm'><name>x</name><memory>1</memory><os><type>hvm</type></os></domain>",
    )
    .unwrap()
    .value;
    assert_ne!(d.uuid, uuid::Uuid::nil());
}
