use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/firmware")
}

fn share_only() -> Vec<Descriptor> {
    let (good, _) = load(&[fixtures().join("share")]).unwrap();
    good
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| {
            let dir = p.parent().unwrap().file_name().unwrap().to_string_lossy();
            format!("{dir}/{}", p.file_name().unwrap().to_string_lossy())
        })
        .collect()
}

fn q35(interface: Option<Interface>) -> Request {
    Request::new("x86_64", "pc-q35-10.0", interface)
}

fn chosen(descs: &[Descriptor], req: &Request) -> Option<String> {
    select(descs, req).map(|d| d.path.file_name().unwrap().to_string_lossy().into_owned())
}

#[test]
fn later_directories_override_by_name_empty_files_mask_and_order_is_by_name() {
    let base = fixtures();
    let files = effective_files(&[
        base.join("share"),
        base.join("etc"),
        base.join("user"),
        base.join("absent"),
    ])
    .unwrap();
    assert_eq!(
        names(&files),
        [
            "share/50-ovmf-sb.json",
            "etc/60-ovmf.json",
            "share/70-ovmf-sev-rom.json",
            "share/75-ovmf-stateless.json",
            "user/80-seabios.json",
            "share/85-aavmf.json",
            "share/90-broken.json",
            "share/95-unknown-iface.json",
        ]
    );
}

#[test]
fn search_dirs_include_the_user_directory_only_unprivileged() {
    assert_eq!(
        search_dirs(true, Some(Path::new("/x")), Some(Path::new("/root"))),
        [
            PathBuf::from("/usr/share/qemu/firmware"),
            PathBuf::from("/etc/qemu/firmware")
        ]
    );
    assert_eq!(
        search_dirs(false, Some(Path::new("/x")), Some(Path::new("/home/u")))[2],
        PathBuf::from("/x/qemu/firmware")
    );
    assert_eq!(
        search_dirs(false, None, Some(Path::new("/home/u")))[2],
        PathBuf::from("/home/u/.config/qemu/firmware")
    );
}

#[test]
fn unusable_files_are_reported_not_fatal() {
    let (good, bad) = load(&[fixtures().join("share")]).unwrap();
    assert_eq!(good.len(), 7);
    let msgs: Vec<String> = bad.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("90-broken.json is not JSON"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("unknown interface type 'coreboot'"),
        "{}",
        msgs[1]
    );
}

#[test]
fn parses_every_part_of_a_descriptor() {
    let d = share_only()
        .into_iter()
        .find(|d| d.path.ends_with("60-ovmf.json"))
        .unwrap();
    assert_eq!(
        d.description.as_deref(),
        Some("fixture: OVMF without Secure Boot")
    );
    assert_eq!(d.interfaces, [Interface::Uefi]);
    assert_eq!(
        d.mapping,
        Mapping::Flash {
            mode: FlashMode::Split,
            executable: FlashFile {
                filename: "/fw/OVMF_CODE_4M.fd".into(),
                format: "raw".into()
            },
            nvram_template: Some(FlashFile {
                filename: "/fw/OVMF_VARS_4M.fd".into(),
                format: "raw".into()
            }),
        }
    );
    assert_eq!(d.targets[0].machines, ["pc-i440fx-*", "pc-q35-*"]);
    assert_eq!(
        d.features,
        [
            Feature::AcpiS3,
            Feature::AmdSev,
            Feature::VerboseDynamic,
            Feature::Other("some-future-feature".into())
        ]
    );
    assert_eq!(d.tags, ["fixture"]);
    assert_eq!(d.inconsistency(), None);
}

#[test]
fn parse_errors_name_the_file_and_field() {
    let p = Path::new("/d/x.json");
    let e = parse(p, r#"{"interface-types":["uefi"],"mapping":{"device":"flash","executable":{"filename":"/a"}},"targets":[],"features":[]}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "firmware descriptor /d/x.json: 'executable' lacks the string 'format'"
    );
    let e = parse(p, r#"{"interface-types":["uefi"],"mapping":{"device":"flash","executable":{"filename":"/a","format":"raw"}},"targets":[],"features":[]}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "firmware descriptor /d/x.json: 'mapping' lacks 'nvram-template'"
    );
    let e = parse(
        p,
        r#"{"interface-types":["uefi"],"mapping":{"device":"floppy"},"targets":[],"features":[]}"#,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "firmware descriptor /d/x.json: unknown mapping device 'floppy'"
    );
    let e = parse(p, r#"{"interface-types":["uefi"],"mapping":{"device":"flash","mode":"odd"},"targets":[],"features":[]}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "firmware descriptor /d/x.json: unknown flash mode \"odd\""
    );
}

#[test]
fn globs() {
    assert!(glob_match("pc-q35-*", "pc-q35-10.0"));
    assert!(!glob_match("pc-q35-*", "pc-i440fx-10.0"));
    assert!(glob_match("pc-q35-?.?", "pc-q35-7.2"));
    assert!(!glob_match("pc-q35-?.?", "pc-q35-10.0"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "axxbyyc"));
    assert!(!glob_match("a*b*c", "axxbyy"));
    assert!(glob_match("virt-*", "virt-10.0"));
    assert!(!glob_match("virt", "virt-10.0"));
}

#[test]
fn efi_without_features_picks_the_first_in_priority_order() {
    let descs = share_only();
    assert_eq!(
        chosen(&descs, &q35(Some(Interface::Uefi))).as_deref(),
        Some("40-ovmf-sb-keys.json")
    );
    // i440fx has no SMM-capable entries here: the plain one.
    let pc = Request::new("x86_64", "pc-i440fx-10.0", Some(Interface::Uefi));
    assert_eq!(chosen(&descs, &pc).as_deref(), Some("60-ovmf.json"));
}

#[test]
fn secure_boot_and_enrolled_keys_wanted_or_refused() {
    let descs = share_only();
    let mut r = q35(Some(Interface::Uefi));
    r.features.insert(Feature::SecureBoot, true);
    r.features.insert(Feature::EnrolledKeys, false);
    assert_eq!(chosen(&descs, &r).as_deref(), Some("50-ovmf-sb.json"));

    let mut r = q35(Some(Interface::Uefi));
    r.features.insert(Feature::SecureBoot, false);
    assert_eq!(chosen(&descs, &r).as_deref(), Some("60-ovmf.json"));

    let mut r = q35(Some(Interface::Uefi));
    r.features.insert(Feature::EnrolledKeys, true);
    assert_eq!(chosen(&descs, &r).as_deref(), Some("40-ovmf-sb-keys.json"));

    let mut r = Request::new("x86_64", "pc-i440fx-10.0", Some(Interface::Uefi));
    r.features.insert(Feature::SecureBoot, true);
    assert_eq!(chosen(&descs, &r), None);
    let d = descs
        .iter()
        .find(|d| d.path.ends_with("60-ovmf.json"))
        .unwrap();
    assert_eq!(
        mismatch(d, &r).as_deref(),
        Some("lacks secure-boot, which the domain requires")
    );
}

#[test]
fn smm_off_or_insecure_loader_rules_out_smm_firmware() {
    let descs = share_only();
    let mut r = q35(Some(Interface::Uefi));
    r.smm = Some(false);
    assert_eq!(chosen(&descs, &r).as_deref(), Some("60-ovmf.json"));

    let mut r = q35(Some(Interface::Uefi));
    r.loader = Some(LoaderRequest {
        secure: Some(false),
        ..Default::default()
    });
    assert_eq!(chosen(&descs, &r).as_deref(), Some("60-ovmf.json"));

    let mut r = q35(Some(Interface::Uefi));
    r.loader = Some(LoaderRequest {
        secure: Some(true),
        ..Default::default()
    });
    assert_eq!(chosen(&descs, &r).as_deref(), Some("40-ovmf-sb-keys.json"));
}

#[test]
fn a_hand_written_loader_path_selects_its_descriptor() {
    let descs = share_only();
    let mut r = q35(None);
    r.loader = Some(LoaderRequest {
        pflash: Some(true),
        readonly: Some(true),
        path: Some("/fw/OVMF_CODE_4M.secboot.fd".into()),
        ..Default::default()
    });
    let d = select(&descs, &r).unwrap();
    assert!(d.path.ends_with("50-ovmf-sb.json"));
    let c = Choice::of(d);
    assert!(c.smm && c.secure_boot && !c.enrolled_keys);
    assert_eq!(
        c.loader,
        ChosenLoader::Pflash {
            code: FlashFile {
                filename: "/fw/OVMF_CODE_4M.secboot.fd".into(),
                format: "raw".into()
            },
            nvram_template: Some(FlashFile {
                filename: "/fw/OVMF_VARS_4M.fd".into(),
                format: "raw".into()
            }),
            stateless: false,
        }
    );

    // A custom template no descriptor has: no match (the caller keeps the user's paths).
    r.loader.as_mut().unwrap().nvram_template = Some("/mine/VARS.fd".into());
    assert_eq!(chosen(&descs, &r), None);
}

#[test]
fn stateless_rom_bios_and_other_arches() {
    let descs = share_only();
    let mut r = q35(Some(Interface::Uefi));
    r.loader = Some(LoaderRequest {
        stateless: Some(true),
        ..Default::default()
    });
    // Without a loader type, the SEV ROM (not flash) fits first, as in libvirt.
    assert_eq!(chosen(&descs, &r).as_deref(), Some("70-ovmf-sev-rom.json"));
    r.loader.as_mut().unwrap().pflash = Some(true);
    assert_eq!(
        chosen(&descs, &r).as_deref(),
        Some("75-ovmf-stateless.json")
    );
    assert_eq!(
        Choice::of(select(&descs, &r).unwrap()).loader,
        ChosenLoader::Pflash {
            code: FlashFile {
                filename: "/fw/OVMF.inside.fd".into(),
                format: "raw".into()
            },
            nvram_template: None,
            stateless: true
        }
    );

    let mut r = q35(Some(Interface::Uefi));
    r.sev = Some(Sev::SevEs);
    assert_eq!(chosen(&descs, &r).as_deref(), Some("70-ovmf-sev-rom.json"));

    let r = q35(Some(Interface::Bios));
    assert_eq!(chosen(&descs, &r).as_deref(), Some("80-seabios.json"));
    let r = Request::new("i386", "pc-i440fx-10.0", Some(Interface::Bios));
    assert_eq!(chosen(&descs, &r).as_deref(), Some("80-seabios.json"));

    let r = Request::new("aarch64", "virt-10.0", Some(Interface::Uefi));
    assert_eq!(chosen(&descs, &r).as_deref(), Some("85-aavmf.json"));
    let mut r = Request::new("aarch64", "virt-10.0", Some(Interface::Uefi));
    r.loader = Some(LoaderRequest {
        format: Some("raw".into()),
        ..Default::default()
    });
    assert_eq!(chosen(&descs, &r), None);
}

#[test]
fn s3_s4_requests() {
    let descs = share_only();
    let mut r = q35(Some(Interface::Uefi));
    r.s3 = Some(true);
    assert_eq!(chosen(&descs, &r).as_deref(), Some("40-ovmf-sb-keys.json"));
    r.s4 = Some(true);
    assert_eq!(chosen(&descs, &r), None);
}

#[test]
fn no_interface_means_no_match() {
    let descs = share_only();
    assert_eq!(chosen(&descs, &q35(None)), None);
    let d = &descs[0];
    assert_eq!(
        mismatch(d, &q35(None)).as_deref(),
        Some("does not offer the '(none)' interface")
    );
}

#[test]
fn for_machine_lists_what_domain_capabilities_offer() {
    let descs = share_only();
    let q: Vec<_> = for_machine(&descs, "x86_64", "pc-q35-10.0")
        .map(|d| d.path.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(q.len(), 6);
    let pc: Vec<_> = for_machine(&descs, "x86_64", "pc-i440fx-10.0").collect();
    assert_eq!(pc.len(), 2);
}

#[test]
fn inconsistent_descriptors_are_flagged() {
    let d = parse(
        Path::new("/d/odd.json"),
        r#"{"interface-types":["uefi"],"mapping":{"device":"memory","filename":"/a"},"targets":[],"features":["secure-boot"],"tags":[]}"#,
    )
    .unwrap();
    assert!(
        d.inconsistency()
            .unwrap()
            .contains("requires-smm=false, secure-boot=true")
    );
}
