//! Capability probe against the real QEMU (names `qemu_live_*` run
//! serially) and against fake emulators that misbehave.

mod common;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use common::qemu_binary;
use qemu::caps::{Capabilities, CapsCache, CapsError, Prober, QemuProber, flags};

/// Counts how often the real prober runs.
struct Counting {
    inner: QemuProber,
    count: AtomicUsize,
}

impl Prober for Counting {
    fn probe(
        &self,
        emulator: &Path,
    ) -> impl Future<Output = Result<Capabilities, CapsError>> + Send {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.probe(emulator)
    }
}

#[tokio::test]
async fn qemu_live_probe_real_qemu_and_cache() -> Result<()> {
    let emulator = qemu_binary();
    let dir = tempfile::tempdir()?;
    let cache = CapsCache::new(dir.path().join("var/cache/rvirt/qemu/capabilities"));
    let prober = Counting {
        inner: QemuProber::default(),
        count: AtomicUsize::new(0),
    };

    let t = Instant::now();
    let caps = cache.get_with(emulator, &prober).await?;
    let cold = t.elapsed();
    assert_eq!(prober.count.load(Ordering::SeqCst), 1);

    let (major, minor, _) = caps.version();
    assert!(major >= 7, "QEMU {major}.{minor} too old for this test");
    assert_eq!(caps.arch, "x86_64");
    assert_eq!(
        caps.resolve_machine_alias("pc"),
        Some(format!("pc-i440fx-{major}.{minor}").as_str())
    );
    assert_eq!(
        caps.resolve_machine_alias("q35"),
        Some(format!("pc-q35-{major}.{minor}").as_str())
    );
    assert!(caps.machine("pc").is_some_and(|m| m.is_default));
    assert!(caps.has_device("virtio-blk-pci"));
    assert!(caps.has_device("virtio-net-pci"));
    assert!(caps.has_object("memory-backend-file"));
    assert!(caps.has_command("query-status"));
    assert!(caps.has_command("blockdev-add"));
    assert!(caps.sandbox_supported());
    assert!(caps.has_option("sandbox", Some("elevateprivileges")));
    assert!(caps.cpu_model("qemu64").is_some());
    assert!(caps.accelerators.contains("tcg"));
    for f in [
        flags::TCG,
        flags::SECCOMP_SANDBOX,
        flags::BLOCKDEV,
        flags::DEVICE_JSON,
        flags::OBJECT_JSON,
        flags::COMPAT_DEPRECATED,
    ] {
        assert!(caps.has_flag(f), "{f} missing: {:?}", caps.flags);
    }
    // /dev/kvm here may or may not work; the flag must agree with query-kvm.
    assert_eq!(caps.has_flag(flags::KVM), caps.kvm.enabled);
    assert_eq!(caps.probe_accel == "kvm", caps.kvm.enabled);
    // With KVM, a second TCG-only QEMU tells the models' usability under TCG
    // (qemu64 always is); without, the probe's own answer is TCG's.
    let qemu64 = caps.cpu_model("qemu64").unwrap();
    assert_eq!(caps.cpu_model_usable(qemu64, "tcg"), Some(true));
    assert_eq!(caps.tcg_unavailable.is_some(), caps.kvm.enabled);
    if caps.kvm.enabled {
        assert!(caps.hyperv.is_some(), "KVM's Hyper-V answer was not probed");
    }

    let t = Instant::now();
    let again = cache.get_with(emulator, &prober).await?;
    let warm = t.elapsed();
    assert_eq!(
        prober.count.load(Ordering::SeqCst),
        1,
        "second call hits the cache"
    );
    assert_eq!(again, caps);
    assert_eq!(cache.lookup(emulator)?, Some(caps));
    eprintln!("cold probe {cold:?}, cached read {warm:?}");
    Ok(())
}

fn script(dir: &Path, name: &str, body: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

#[tokio::test]
async fn probe_of_failing_emulator_reports_stderr() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let fake = script(
        dir.path(),
        "qemu-broken",
        "echo 'boom: no such machine' >&2; exit 1",
    )?;
    let err = QemuProber::default()
        .probe(&fake)
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, CapsError::Query { query, .. } if query == "<greeting>"),
        "{err}"
    );
    assert!(err.to_string().contains("boom: no such machine"), "{err}");

    let err = QemuProber::default()
        .probe(&dir.path().join("absent"))
        .await
        .expect_err("must fail");
    assert!(matches!(err, CapsError::Spawn { .. }), "{err}");
    Ok(())
}

#[tokio::test]
async fn probe_of_hanging_emulator_times_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let fake = script(dir.path(), "qemu-hangs", "echo starting >&2; exec sleep 30")?;
    let prober = QemuProber {
        timeout: Duration::from_millis(300),
        ..QemuProber::default()
    };
    let t = Instant::now();
    let err = prober.probe(&fake).await.expect_err("must time out");
    // Whichever fires first (greeting or overall), it's a timeout, quickly.
    assert!(
        matches!(&err, CapsError::Timeout { .. })
            || matches!(&err, CapsError::Query { source, .. } if matches!(**source, qemu::QmpError::Timeout { .. })),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(err.to_string().contains("starting"), "{err}");
    Ok(())
}
