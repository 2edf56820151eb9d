use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::hostops::{HostCall, HostOp, RecordingHostOps};

const DOMAIN: &str = "system_u:system_r:svirt_t:s0\nsystem_u:system_r:svirt_tcg_t:s0\n";
const IMAGE: &str = "system_u:object_r:svirt_image_t:s0\nsystem_u:object_r:virt_content_t:s0\n";

fn ctxs() -> VirtContexts {
    VirtContexts::parse(DOMAIN, IMAGE).unwrap()
}

fn own() -> Context {
    "system_u:system_r:virtd_t:s0-s0:c0.c1023".parse().unwrap()
}

#[test]
fn context_parse_and_display() {
    let c: Context = "system_u:system_r:virtd_t:s0-s0:c0.c1023".parse().unwrap();
    assert_eq!(c.type_, "virtd_t");
    assert_eq!(c.range.as_deref(), Some("s0-s0:c0.c1023"));
    assert_eq!(c.to_string(), "system_u:system_r:virtd_t:s0-s0:c0.c1023");
    let c: Context = "u:r:t\0".parse().unwrap();
    assert_eq!((c.range.clone(), c.to_string()), (None, "u:r:t".to_owned()));
    for bad in ["", "u:r", "u::t", "u:r:t:", "u:r:t x"] {
        assert!(bad.parse::<Context>().is_err(), "{bad}");
    }
}

#[test]
fn context_files() {
    let c = ctxs();
    assert_eq!(c.domain.type_, "svirt_t");
    assert_eq!(c.tcg_domain.as_ref().unwrap().type_, "svirt_tcg_t");
    assert_eq!(c.content.as_ref().unwrap().type_, "virt_content_t");
    let c = VirtContexts::parse("system_u:system_r:svirt_t:s0\n", "a:b:c:s0").unwrap();
    assert!(c.tcg_domain.is_none() && c.content.is_none());
    assert!(VirtContexts::parse("\n", IMAGE).is_err());
}

#[test]
fn process_ranges() {
    let r = parse_process_range(Some("s0-s0:c0.c1023")).unwrap();
    assert_eq!(
        r,
        McsRange {
            sens: "s0".into(),
            lo: 0,
            hi: 1023
        }
    );
    let r = parse_process_range(Some("s1-s15:c10.c20")).unwrap();
    assert_eq!((r.sens.as_str(), r.lo, r.hi), ("s1", 10, 20));
    assert_eq!(parse_process_range(Some("s0")).unwrap().hi, 1023);
    assert_eq!(parse_process_range(Some("s0-s0")).unwrap().sens, "s0");
    assert_eq!(parse_process_range(None).unwrap().sens, "s0");
    assert!(matches!(
        parse_process_range(Some("s0:c5")),
        Err(SelinuxError::NoCategoryRange(_))
    ));
    assert!(matches!(
        parse_process_range(Some("s0:x5")),
        Err(SelinuxError::BadCategory(_))
    ));
    assert!(matches!(
        parse_process_range(Some("s0:c1.5")),
        Err(SelinuxError::BadCategory(_))
    ));
}

#[test]
fn mcs_allocation_unique_ordered_in_range() {
    let mut t = McsTable::new();
    let r = parse_process_range(Some("s0-s0:c0.c1023")).unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..3000 {
        let l = t.allocate(&r).unwrap();
        let cats = l.strip_prefix("s0:c").unwrap();
        let (a, b) = cats.split_once(",c").unwrap();
        let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(a < b && b <= 1023, "{l}");
        assert!(seen.insert(l));
    }
    assert_eq!(t.len(), 3000);
}

#[test]
fn mcs_small_range_fills_then_exhausts() {
    let r = McsRange {
        sens: "s0".into(),
        lo: 100,
        hi: 107,
    };
    let mut t = McsTable::new();
    let mut n = 0u32;
    // A fixed, unlucky source: always the same pair after the first.
    let mut rand = |bound: u32| {
        n += 1;
        n % bound
    };
    let mut all = BTreeSet::new();
    for _ in 0..28 {
        all.insert(t.allocate_with(&r, &mut rand).unwrap());
    }
    assert_eq!(all.len(), 28);
    assert!(all.iter().all(|l| l.starts_with("s0:c10")));
    assert!(matches!(
        t.allocate_with(&r, &mut rand),
        Err(SelinuxError::Exhausted(_))
    ));
    assert!(t.release("s0:c100,c101"));
    assert_eq!(t.allocate_with(&r, &mut rand).unwrap(), "s0:c100,c101");
    let tiny = McsRange {
        sens: "s0".into(),
        lo: 0,
        hi: 6,
    };
    assert_eq!(
        t.allocate(&tiny).unwrap_err().to_string(),
        "Category range c0-c6 too small"
    );
}

#[test]
fn equal_draws_are_discarded() {
    let r = parse_process_range(None).unwrap();
    let mut t = McsTable::new();
    let mut draws = [7u32, 7, 9, 3].into_iter();
    let l = t.allocate_with(&r, &mut |_| draws.next().unwrap()).unwrap();
    assert_eq!(l, "s0:c3,c9");
}

#[test]
fn reserve_and_release() {
    let mut t = McsTable::new();
    t.reserve_label("system_u:system_r:svirt_t:s0:c41,c264")
        .unwrap();
    assert!(t.contains("s0:c41,c264"));
    let e = t
        .reserve_label("system_u:system_r:svirt_t:s0:c41,c264")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "MCS level for existing domain label system_u:system_r:svirt_t:s0:c41,c264 \
         already reserved"
    );
    assert!(t.release("s0:c41,c264"));
    assert!(t.is_empty());
}

fn fixed(mut v: Vec<u32>) -> impl FnMut(u32) -> u32 {
    v.reverse();
    move |_| v.pop().unwrap()
}

#[test]
fn dynamic_labels() {
    let mut t = McsTable::new();
    let d = SelinuxDecision::Dynamic { baselabel: None };
    let l = build_labels_with(
        &d,
        &ctxs(),
        &own(),
        false,
        &mut t,
        &mut fixed(vec![264, 41]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(l.mcs, "s0:c41,c264");
    assert_eq!(
        l.process.as_deref(),
        Some("system_u:system_r:svirt_t:s0:c41,c264")
    );
    assert_eq!(l.image, "system_u:object_r:svirt_image_t:s0:c41,c264");
    assert!(l.allocated && t.contains("s0:c41,c264"));
    let c = ctxs();
    assert_eq!(
        l.image_label(&c, ImageUse::Shared),
        "system_u:object_r:svirt_image_t:s0"
    );
    assert_eq!(
        l.image_label(&c, ImageUse::Readonly),
        "system_u:object_r:virt_content_t:s0"
    );
    // Per-disk rules.
    assert_eq!(
        l.disk_label(&d, &c, None, ImageUse::Exclusive).as_deref(),
        Some("system_u:object_r:svirt_image_t:s0:c41,c264")
    );
    let no = DiskSeclabel {
        relabel: false,
        label: None,
    };
    assert_eq!(l.disk_label(&d, &c, Some(&no), ImageUse::Exclusive), None);
    let own_label = DiskSeclabel {
        relabel: true,
        label: Some("a:b:c:s0".into()),
    };
    assert_eq!(
        l.disk_label(&d, &c, Some(&own_label), ImageUse::Exclusive)
            .as_deref(),
        Some("a:b:c:s0")
    );
    // TCG and baselabel; the daemon's user/role replace the base's.
    let me: Context = "unconfined_u:unconfined_r:virtd_t:s0-s0:c0.c1023"
        .parse()
        .unwrap();
    let l = build_labels_with(&d, &ctxs(), &me, true, &mut t, &mut fixed(vec![1, 2]))
        .unwrap()
        .unwrap();
    assert_eq!(
        l.process.as_deref(),
        Some("unconfined_u:unconfined_r:svirt_tcg_t:s0:c1,c2")
    );
    assert_eq!(l.image, "unconfined_u:object_r:svirt_image_t:s0:c1,c2");
    let b = SelinuxDecision::Dynamic {
        baselabel: Some("system_u:system_r:my_t:s0".into()),
    };
    let l = build_labels_with(&b, &ctxs(), &own(), false, &mut t, &mut fixed(vec![5, 6]))
        .unwrap()
        .unwrap();
    assert_eq!(
        l.process.as_deref(),
        Some("system_u:system_r:my_t:s0:c5,c6")
    );
}

#[test]
fn static_and_none_labels() {
    let mut t = McsTable::new();
    let s = SelinuxDecision::Static {
        label: "system_u:system_r:svirt_custom_t:s0:c192,c392".into(),
        relabel: false,
    };
    let l = build_labels(&s, &ctxs(), &own(), false, &mut t)
        .unwrap()
        .unwrap();
    assert_eq!(
        l.process.as_deref(),
        Some("system_u:system_r:svirt_custom_t:s0:c192,c392")
    );
    assert_eq!(l.image, "system_u:object_r:svirt_image_t:s0:c192,c392");
    assert!(!l.allocated && t.is_empty());
    assert_eq!(l.disk_label(&s, &ctxs(), None, ImageUse::Exclusive), None);
    let l = build_labels(&SelinuxDecision::Unconfined, &ctxs(), &own(), false, &mut t)
        .unwrap()
        .unwrap();
    assert_eq!((l.process, l.mcs.as_str()), (None, "s0"));
    assert_eq!(l.image, "system_u:object_r:svirt_image_t:s0");
    assert_eq!(
        build_labels(&SelinuxDecision::Inactive, &ctxs(), &own(), false, &mut t).unwrap(),
        None
    );
}

fn sl(kind: SeclabelType) -> SeclabelSpec {
    SeclabelSpec {
        model: Some("selinux".into()),
        kind,
        ..Default::default()
    }
}

#[test]
fn decisions() {
    let cfg = SelinuxConfig::default();
    let dynamic = SelinuxDecision::Dynamic { baselabel: None };
    assert_eq!(decide(&[], &cfg, true).unwrap(), dynamic);
    assert_eq!(
        decide(&[sl(SeclabelType::Default)], &cfg, true).unwrap(),
        dynamic
    );
    assert_eq!(
        decide(&[sl(SeclabelType::None)], &cfg, true).unwrap(),
        SelinuxDecision::Unconfined
    );
    let not_default = SelinuxConfig {
        default_confined: false,
        ..cfg
    };
    assert_eq!(
        decide(&[], &not_default, true).unwrap(),
        SelinuxDecision::Unconfined
    );
    let require = SelinuxConfig {
        require_confined: true,
        ..cfg
    };
    assert!(matches!(
        decide(&[sl(SeclabelType::None)], &require, true),
        Err(SelinuxError::UnconfinedNotAllowed)
    ));
    assert_eq!(decide(&[], &require, true).unwrap(), dynamic);
    let both = SelinuxConfig {
        require_confined: true,
        default_confined: false,
        ..cfg
    };
    assert!(decide(&[], &both, true).is_err());
    // Model-less seclabel applies to SELinux when it is the primary driver.
    let mut none_nomodel = sl(SeclabelType::None);
    none_nomodel.model = None;
    assert_eq!(
        decide(&[none_nomodel.clone()], &cfg, true).unwrap(),
        SelinuxDecision::Unconfined
    );
    // A DAC seclabel is not ours.
    let mut dac = sl(SeclabelType::None);
    dac.model = Some("dac".into());
    assert_eq!(decide(&[dac], &cfg, true).unwrap(), dynamic);
    // Static.
    let mut st = sl(SeclabelType::Static);
    st.label = Some("system_u:system_r:svirt_custom_t:s0:c192,c392".into());
    assert_eq!(
        decide(&[st.clone()], &cfg, true).unwrap(),
        SelinuxDecision::Static {
            label: "system_u:system_r:svirt_custom_t:s0:c192,c392".into(),
            relabel: false
        }
    );
    st.label = None;
    assert!(decide(&[st], &cfg, true).is_err());
    let mut dy = sl(SeclabelType::Dynamic);
    dy.relabel = Some(false);
    assert!(decide(&[dy.clone()], &cfg, true).is_err());
    dy.relabel = None;
    dy.baselabel = Some("system_u:system_r:my_t:s0".into());
    assert_eq!(
        decide(&[dy], &cfg, true).unwrap(),
        SelinuxDecision::Dynamic {
            baselabel: Some("system_u:system_r:my_t:s0".into())
        }
    );
}

#[test]
fn decisions_without_selinux() {
    let cfg = SelinuxConfig::default();
    assert_eq!(decide(&[], &cfg, false).unwrap(), SelinuxDecision::Inactive);
    assert_eq!(
        decide(&[sl(SeclabelType::None)], &cfg, false).unwrap(),
        SelinuxDecision::Inactive
    );
    let mut nomodel = sl(SeclabelType::Dynamic);
    nomodel.model = None;
    assert_eq!(
        decide(&[nomodel], &cfg, false).unwrap(),
        SelinuxDecision::Inactive
    );
    for k in [SeclabelType::Dynamic, SeclabelType::Static] {
        let e = decide(&[sl(k)], &cfg, false).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("SELinux is not enabled on this host"),
            "{msg}"
        );
        assert!(msg.contains("model='selinux'"), "{msg}");
    }
    let off = SelinuxConfig {
        driver_enabled: false,
        ..cfg
    };
    let e = decide(&[sl(SeclabelType::Dynamic)], &off, true).unwrap_err();
    assert!(e.to_string().contains("disabled in qemu.conf"), "{e}");
    let require = SelinuxConfig {
        require_confined: true,
        ..cfg
    };
    assert!(matches!(
        decide(&[], &require, false),
        Err(SelinuxError::NotEnabled(_))
    ));
}

#[test]
fn detection_with_injected_root() {
    let ops = RecordingHostOps::new();
    assert_eq!(detect(&ops, Path::new("/fake")), None);
    ops.add_text("/fake/sys/fs/selinux/enforce", "1");
    ops.add_text(
        "/fake/etc/selinux/config",
        "SELINUX=enforcing\nSELINUXTYPE=mls\n",
    );
    let h = detect(&ops, Path::new("/fake")).unwrap();
    assert!(h.enforcing);
    assert_eq!(
        h.contexts_dir(),
        Path::new("/fake/etc/selinux/mls/contexts")
    );
    ops.add_text(
        "/fake/etc/selinux/mls/contexts/virtual_domain_context",
        DOMAIN,
    );
    ops.add_text(
        "/fake/etc/selinux/mls/contexts/virtual_image_context",
        IMAGE,
    );
    assert_eq!(VirtContexts::load(&ops, &h).unwrap(), ctxs());
    // Mount table present but no selinuxfs: not enabled.
    ops.add_text("/fake/proc/self/mounts", "proc /proc proc rw 0 0\n");
    assert_eq!(detect(&ops, Path::new("/fake")), None);
    ops.add_text(
        "/fake/proc/self/mounts",
        "selinuxfs /sys/fs/selinux selinuxfs rw 0 0\n",
    );
    assert!(detect(&ops, Path::new("/fake")).is_some());
}

#[test]
fn driver_sets_remembers_and_restores() {
    let ops = RecordingHostOps::new();
    let p = Path::new("/img.qcow2");
    ops.add_file(p, 0, 0, 0o600);
    ops.put_xattr(p, XATTR, "system_u:object_r:virt_image_t:s0\0");
    let d = SelinuxDriver::new(ops, true);
    let label = "system_u:object_r:svirt_image_t:s0:c1,c2";
    assert_eq!(
        d.set_file_label(p, label, true).unwrap(),
        LabelOutcome::Set(label.into())
    );
    assert_eq!(d.ops.xattr(p, XATTR).unwrap(), format!("{label}\0"));
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.selinux")
            .as_deref(),
        Some("system_u:object_r:virt_image_t:s0")
    );
    // A second domain with another label is refused.
    let e = d
        .set_file_label(p, "system_u:object_r:svirt_image_t:s0:c3,c4", true)
        .unwrap_err();
    assert!(matches!(e, SelinuxError::InUse { .. }), "{e}");
    assert_eq!(
        d.ops
            .xattr(p, "trusted.libvirt.security.ref_selinux")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        d.restore_file_label(p, true).unwrap(),
        LabelOutcome::Set("system_u:object_r:virt_image_t:s0".into())
    );
    assert_eq!(d.ops.xattr(p, "trusted.libvirt.security.selinux"), None);
    assert_eq!(
        d.restore_file_label(p, true).unwrap(),
        LabelOutcome::NoDefault
    );
}

#[test]
fn driver_errors_and_tolerance() {
    let ops = RecordingHostOps::new();
    let p = Path::new("/nfs.img");
    ops.add_file(p, 0, 0, 0o600);
    ops.set_xattr_support(p, false);
    let d = SelinuxDriver::new(ops, true);
    assert!(matches!(
        d.set_file_label(p, "a:b:c:s0", true).unwrap(),
        LabelOutcome::NotChanged { .. }
    ));
    let e = d
        .set_file_label(Path::new("/missing"), "a:b:c:s0", false)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to set security context 'a:b:c:s0' on '/missing': No such file or directory"
    );
    d.ops.add_file("/x", 0, 0, 0o600);
    d.ops.fail(HostOp::SetXattr, "/x", libc::EACCES);
    assert!(
        d.set_file_label(Path::new("/x"), "a:b:c:s0", false)
            .is_err()
    );
    let permissive = SelinuxDriver::new(RecordingHostOps::new(), false);
    permissive.ops.add_file("/x", 0, 0, 0o600);
    permissive.ops.fail(HostOp::SetXattr, "/x", libc::EACCES);
    assert!(matches!(
        permissive
            .set_file_label(Path::new("/x"), "a:b:c:s0", false)
            .unwrap(),
        LabelOutcome::NotChanged { .. }
    ));
}

#[test]
fn exec_label_write() {
    let ops = RecordingHostOps::new();
    ops.add_text(EXEC_ATTR, "");
    set_exec_label_with(&ops, "system_u:system_r:svirt_t:s0:c1,c2").unwrap();
    assert_eq!(
        ops.mutations(),
        vec![HostCall::WriteFile(
            EXEC_ATTR.into(),
            "system_u:system_r:svirt_t:s0:c1,c2\0".into()
        )]
    );
}
