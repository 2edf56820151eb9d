//! SELinux detection on the real host, and what a domain asking for a label gets.

use std::path::Path;

use confine::hostops::RealHostOps;
use confine::selinux::{
    SeclabelSpec, SeclabelType, SelinuxConfig, SelinuxDecision, decide, detect, set_exec_label,
};

fn host_has_selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

#[test]
fn selinux_host_detection_matches_selinuxfs() {
    let found = detect(&RealHostOps, Path::new("/"));
    assert_eq!(found.is_some(), host_has_selinux(), "{found:?}");
}

#[test]
fn selinux_host_required_label_without_selinux_is_a_clear_error() {
    let available = detect(&RealHostOps, Path::new("/")).is_some();
    let cfg = SelinuxConfig::default();
    let want = SeclabelSpec {
        model: Some("selinux".into()),
        kind: SeclabelType::Dynamic,
        ..Default::default()
    };
    let got = decide(&[want], &cfg, available);
    if available {
        assert_eq!(got.unwrap(), SelinuxDecision::Dynamic { baselabel: None });
    } else {
        let msg = got.unwrap_err().to_string();
        assert_eq!(
            msg,
            "SELinux is not enabled on this host: the domain requires \
             <seclabel type='dynamic' model='selinux'>"
        );
        // Domains that do not ask for SELinux are unaffected.
        assert_eq!(
            decide(&[], &cfg, available).unwrap(),
            SelinuxDecision::Inactive
        );
    }
}

/// Without SELinux the kernel refuses an exec context; the error names the label.
/// Run in a child process so the test runner's own exec context is never touched.
#[test]
fn selinux_host_exec_label_error_names_label() {
    if host_has_selinux() {
        return;
    }
    if std::env::var_os("RVIRT_SELINUX_CHILD").is_some() {
        let e = set_exec_label("system_u:system_r:svirt_t:s0:c1,c2").unwrap_err();
        println!("ERR {e}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "selinux_host_exec_label_error_names_label",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RVIRT_SELINUX_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "ERR unable to set the exec context 'system_u:system_r:svirt_t:s0:c1,c2': \
             Invalid argument (is SELinux enabled on this host?)"
        ),
        "{stdout}"
    );
}
