use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::probe::{RawAnswers, assemble};
use super::*;

/// A small but realistically shaped set of answers (QEMU 7.2 on x86_64).
fn answers(major: u32, minor: u32) -> RawAnswers {
    let machine = |name: &str, alias: Option<&str>, default: bool| {
        let mut m = json!({"name": name, "cpu-max": 255, "deprecated": false,
            "hotpluggable-cpus": true, "numa-mem-supported": false,
            "default-cpu-type": "qemu64-x86_64-cpu", "default-ram-id": "pc.ram"});
        if let Some(a) = alias {
            m["alias"] = json!(a);
        }
        if default {
            m["is-default"] = json!(true);
        }
        // QEMU 8.0 added `acpi` to query-machines.
        if major >= 8 {
            m["acpi"] = json!(name != "none");
        }
        m
    };
    let new = (major, minor) >= (7, 2);
    let mut commands = vec![
        json!({"name": "query-status"}),
        json!({"name": "blockdev-add"}),
        json!({"name": "device_add"}),
    ];
    commands.push(json!({"name": if new { "blockdev-reopen" } else { "x-blockdev-reopen" }}));
    let generic = ["usb", "memory-backend"];
    let props = |names: &[&str]| {
        json!(
            names
                .iter()
                .map(|n| json!({"name": n, "type": "string"}))
                .collect::<Vec<_>>()
        )
    };
    let mut device_add =
        json!({"name": "device_add", "meta-type": "command", "arg-type": "1", "ret-type": "0"});
    if new {
        device_add["features"] = json!(["json-cli", "json-cli-hotplug"]);
    }
    let netdev_types = if new {
        json!(["none", "user", "tap", "stream", "dgram"])
    } else {
        json!(["none", "user", "tap"])
    };
    RawAnswers {
        version: json!({"qemu": {"major": major, "minor": minor, "micro": 0}, "package": "test"}),
        target: json!({"arch": "x86_64"}),
        kvm: json!({"enabled": false, "present": true}),
        machines: json!([
            machine(&format!("pc-q35-{major}.{minor}"), Some("q35"), false),
            machine(&format!("pc-i440fx-{major}.{minor}"), Some("pc"), true),
            machine("pc-i440fx-2.0", None, false),
            machine("none", None, false),
        ]),
        accel_types: json!([{"name": "tcg-accel", "parent": "accel"},
            {"name": "kvm-accel", "parent": "accel"}, {"name": "accel", "parent": "object"}]),
        device_types: json!([{"name": "virtio-blk-pci", "parent": "x"}, {"name": "e1000", "parent": "pci-device"}]),
        all_types: json!([{"name": "virtio-blk-pci"}, {"name": "e1000"}, {"name": "memory-backend-file"}]),
        command_line_options: json!([
            {"option": "sandbox", "parameters": [{"name": "enable", "type": "boolean"},
                {"name": "spawn", "type": "string"}]},
            {"option": "machine", "parameters": [{"name": "mem-merge", "type": "boolean", "help": "x"}]},
        ]),
        commands: json!(commands),
        cpu_definitions: json!([
            {"name": "qemu64", "typename": "qemu64-x86_64-cpu", "unavailable-features": [],
             "static": false, "migration-safe": true, "deprecated": false},
            {"name": "Skylake-Client", "typename": "Skylake-Client-x86_64-cpu",
             "unavailable-features": ["avx512f"], "static": false, "migration-safe": true,
             "deprecated": false, "alias-of": "Skylake-Client-v1"},
        ]),
        schema: json!([
            device_add,
            {"name": "1", "meta-type": "object", "members": [{"name": "driver", "type": "str"}]},
            {"name": "object-add", "meta-type": "command", "arg-type": "2", "ret-type": "0"},
            {"name": "2", "meta-type": "object", "tag": "qom-type",
             "members": [{"name": "qom-type", "type": "3"}, {"name": "id", "type": "str"}],
             "variants": [{"case": "secret", "type": "9"}]},
            {"name": "3", "meta-type": "enum", "values": ["secret", "iothread"]},
            {"name": "netdev_add", "meta-type": "command", "arg-type": "4", "ret-type": "0"},
            {"name": "4", "meta-type": "object", "members": [{"name": "id", "type": "str"}, {"name": "type", "type": "5"}]},
            {"name": "5", "meta-type": "enum", "values": netdev_types},
            {"name": "query-old", "meta-type": "command", "arg-type": "0", "ret-type": "0",
             "features": if new { json!(["deprecated"]) } else { json!([]) }},
        ]),
        machine_types: json!([
            {"name": "machine", "abstract": true, "parent": "object"},
            {"name": "x86-machine", "abstract": true, "parent": "machine"},
            {"name": "generic-pc-machine", "abstract": true, "parent": "x86-machine"},
            {"name": format!("pc-q35-{major}.{minor}-machine"), "parent": "generic-pc-machine"},
            {"name": format!("pc-i440fx-{major}.{minor}-machine"), "parent": "generic-pc-machine"},
            {"name": "pc-i440fx-2.0-machine", "parent": "generic-pc-machine"},
            {"name": "none-machine", "parent": "machine"},
        ]),
        machine_class_props: [
            ("machine", props(&generic)),
            ("x86-machine", props(&[generic[0], generic[1], "acpi"])),
            (
                "generic-pc-machine",
                props(&[generic[0], generic[1], "acpi", "hpet"]),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        host_cpu_full: None,
    }
}

fn caps_72() -> Capabilities {
    assemble(Path::new("/usr/bin/qemu-system-x86_64"), answers(7, 2)).expect("assemble")
}

#[test]
fn machine_aliases_and_default() {
    let caps = caps_72();
    assert_eq!(caps.resolve_machine_alias("pc"), Some("pc-i440fx-7.2"));
    assert_eq!(caps.resolve_machine_alias("q35"), Some("pc-q35-7.2"));
    assert_eq!(
        caps.resolve_machine_alias("pc-i440fx-2.0"),
        Some("pc-i440fx-2.0")
    );
    assert_eq!(caps.resolve_machine_alias("virt"), None);
    assert_eq!(
        caps.default_machine().map(|m| m.name.as_str()),
        Some("pc-i440fx-7.2")
    );
    let m = caps.machine("q35").expect("q35");
    assert_eq!(m.cpu_max, 255);
    assert_eq!(m.default_ram_id.as_deref(), Some("pc.ram"));
}

#[test]
fn lookups_and_version() {
    let caps = caps_72();
    assert_eq!(caps.version(), (7, 2, 0));
    assert!(caps.has_device("virtio-blk-pci"));
    assert!(!caps.has_device("memory-backend-file"));
    assert!(caps.has_object("memory-backend-file"));
    assert!(caps.has_command("query-status"));
    assert!(!caps.has_command("query-nothing"));
    assert!(caps.sandbox_supported());
    assert!(caps.has_option("sandbox", Some("spawn")));
    assert!(!caps.has_option("sandbox", Some("nope")));
    assert!(caps.has_option("machine", None));
    assert_eq!(
        caps.accelerators
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["kvm", "tcg"]
    );
    assert_eq!(caps.probe_accel, "tcg");
    let cpu = caps.cpu_model("Skylake-Client").expect("cpu");
    assert_eq!(cpu.alias_of.as_deref(), Some("Skylake-Client-v1"));
    assert_eq!(cpu.unavailable_features, ["avx512f"]);
    assert!(
        caps.cpu_model("qemu64")
            .expect("qemu64")
            .unavailable_features
            .is_empty()
    );
}

#[test]
fn flags_derived_for_new_qemu() {
    let caps = caps_72();
    for f in [
        flags::TCG,
        flags::SECCOMP_SANDBOX,
        flags::BLOCKDEV,
        flags::DEVICE_JSON,
        flags::OBJECT_JSON,
        flags::NETDEV_JSON,
        flags::NETDEV_STREAM,
        flags::COMPAT_DEPRECATED,
    ] {
        assert!(caps.has_flag(f), "{f} missing from {:?}", caps.flags);
    }
    // KVM present but not enabled in the probe: not usable.
    assert!(!caps.has_flag(flags::KVM));
}

#[test]
fn flags_derived_for_old_qemu() {
    let caps = assemble(Path::new("/x"), answers(5, 2)).expect("assemble");
    assert!(!caps.has_flag(flags::DEVICE_JSON));
    assert!(!caps.has_flag(flags::NETDEV_JSON));
    assert!(!caps.has_flag(flags::COMPAT_DEPRECATED));
    assert!(caps.has_flag(flags::OBJECT_JSON));
    assert!(caps.has_flag(flags::BLOCKDEV));
}

/// Machine properties come from the nearest abstract QOM ancestor; ACPI from
/// QEMU's own answer where it gives one (8.0+), else from the property.
#[test]
fn machine_properties_and_acpi() {
    let caps = caps_72();
    let pc = caps.machine("pc").expect("pc");
    assert!(pc.has_property("acpi") && pc.has_property("hpet") && pc.has_property("usb"));
    assert_eq!(pc.acpi, None);
    assert!(pc.supports_acpi());
    let none = caps.machine("none").expect("none");
    assert!(!none.has_property("acpi") && none.has_property("memory-backend"));
    assert!(!none.supports_acpi());

    let caps = assemble(Path::new("/x"), answers(10, 0)).expect("assemble");
    assert_eq!(caps.machine("q35").expect("q35").acpi, Some(true));
    let none = caps.machine("none").expect("none");
    assert_eq!(none.acpi, Some(false));
    assert!(!none.supports_acpi());

    // An answer without machine classes leaves the properties unknown.
    let mut raw = answers(7, 2);
    raw.machine_types = serde_json::Value::Null;
    raw.machine_class_props.clear();
    let caps = assemble(Path::new("/x"), raw).expect("assemble");
    assert!(caps.machine("pc").expect("pc").properties.is_empty());
}

#[test]
fn kvm_flag_needs_enabled() {
    let mut raw = answers(7, 2);
    raw.kvm = json!({"enabled": true, "present": true});
    let caps = assemble(Path::new("/x"), raw).expect("assemble");
    assert!(caps.has_flag(flags::KVM));
    assert_eq!(caps.probe_accel, "kvm");
}

#[test]
fn overrides_add_and_remove_flags() {
    let mut caps = caps_72();
    caps.apply_overrides(["custom-flag"], [flags::DEVICE_JSON, "not-there"]);
    assert!(caps.has_flag("custom-flag"));
    assert!(!caps.has_flag(flags::DEVICE_JSON));
}

#[test]
fn malformed_answers_are_errors_naming_the_query() {
    let mut raw = answers(7, 2);
    raw.machines = json!({"not": "a list"});
    let (query, _) = assemble(Path::new("/x"), raw).expect_err("bad machines");
    assert_eq!(query, "query-machines");
}

#[test]
fn serde_round_trip() {
    let caps = caps_72();
    let s = serde_json::to_string(&caps).expect("ser");
    let back: Capabilities = serde_json::from_str(&s).expect("de");
    assert_eq!(back, caps);
}

/// Counts probes and returns canned capabilities.
struct FakeProber {
    count: AtomicUsize,
}

impl FakeProber {
    fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
        }
    }
    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Prober for FakeProber {
    fn probe(
        &self,
        emulator: &Path,
    ) -> impl Future<Output = Result<Capabilities, CapsError>> + Send {
        self.count.fetch_add(1, Ordering::SeqCst);
        let caps = assemble(emulator, answers(7, 2)).expect("assemble");
        async move { Ok(caps) }
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    emulator: std::path::PathBuf,
    modules: std::path::PathBuf,
    cache: CapsCache,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let emulator = tmp.path().join("qemu-system-fake");
    std::fs::write(&emulator, b"not really an emulator").expect("write");
    let modules = tmp.path().join("modules");
    std::fs::create_dir(&modules).expect("mkdir");
    let cache = CapsCache::new(tmp.path().join("cache/capabilities"))
        .with_module_dirs(vec![modules.clone()]);
    Setup {
        _tmp: tmp,
        emulator,
        modules,
        cache,
    }
}

fn set_mtime(path: &Path, t: SystemTime) {
    // futimens needs ownership, not write access: works for directories.
    let f = std::fs::File::open(path).expect("open");
    f.set_modified(t).expect("set mtime");
}

#[tokio::test]
async fn second_get_hits_the_cache_without_probing() {
    let s = setup();
    let prober = FakeProber::new();
    assert!(s.cache.lookup(&s.emulator).expect("lookup").is_none());
    let first = s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 1);
    let second = s
        .cache
        .get_with(&s.emulator, &prober)
        .await
        .expect("cached");
    assert_eq!(prober.count(), 1, "cached read must not probe");
    assert_eq!(first, second);
    assert_eq!(s.cache.lookup(&s.emulator).expect("lookup"), Some(first));
    // Only the entry itself is left in the directory: no temp files.
    let names: Vec<_> = std::fs::read_dir(s.cache.dir())
        .expect("readdir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(
        Path::new(&names[0]),
        s.cache
            .path_for(&s.emulator)
            .file_name()
            .map(Path::new)
            .expect("name")
    );
}

#[tokio::test]
async fn changed_binary_invalidates() {
    let s = setup();
    let prober = FakeProber::new();
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");

    // Size change.
    let mtime = std::fs::metadata(&s.emulator)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&s.emulator, b"a different, longer emulator binary").expect("write");
    set_mtime(&s.emulator, mtime);
    assert!(s.cache.lookup(&s.emulator).expect("lookup").is_none());
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 2);

    // Same size, new mtime.
    set_mtime(&s.emulator, mtime - Duration::from_secs(3600));
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 3);
    s.cache
        .get_with(&s.emulator, &prober)
        .await
        .expect("cached");
    assert_eq!(prober.count(), 3);

    // A module installed next to QEMU.
    std::fs::write(s.modules.join("hw-usb-redirect.so"), b"").expect("module");
    set_mtime(&s.modules, SystemTime::now() + Duration::from_secs(5));
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 4);
}

#[tokio::test]
async fn stale_format_and_corrupt_entries_are_reprobed() {
    let s = setup();
    let prober = FakeProber::new();
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    let path = s.cache.path_for(&s.emulator);

    let mut entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(entry["stamp"]["format"], CACHE_FORMAT_VERSION);
    entry["stamp"]["format"] = json!(CACHE_FORMAT_VERSION + 1);
    std::fs::write(&path, entry.to_string()).expect("write");
    assert!(s.cache.lookup(&s.emulator).expect("lookup").is_none());
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 2);

    std::fs::write(&path, b"{\"stamp\": garbage").expect("write");
    assert!(s.cache.lookup(&s.emulator).expect("lookup").is_none());
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 3);
    s.cache
        .get_with(&s.emulator, &prober)
        .await
        .expect("cached");
    assert_eq!(prober.count(), 3);

    s.cache.invalidate(&s.emulator).expect("invalidate");
    s.cache.invalidate(&s.emulator).expect("invalidate twice");
    s.cache.get_with(&s.emulator, &prober).await.expect("probe");
    assert_eq!(prober.count(), 4);
}

#[tokio::test]
async fn missing_emulator_and_unwritable_cache() {
    let s = setup();
    let prober = FakeProber::new();
    let missing = s.emulator.with_file_name("no-such-qemu");
    let err = s
        .cache
        .get_with(&missing, &prober)
        .await
        .expect_err("missing");
    assert!(matches!(err, CapsError::Emulator { .. }), "{err}");
    assert_eq!(prober.count(), 0);

    // The cache directory can't be created: the probe result still comes
    // back, it just isn't cached.
    let blocker = s.emulator.with_file_name("blocker");
    std::fs::write(&blocker, b"").expect("write");
    let cache = CapsCache::new(blocker.join("sub")).with_module_dirs(vec![]);
    cache.get_with(&s.emulator, &prober).await.expect("probe");
    cache
        .get_with(&s.emulator, &prober)
        .await
        .expect("probe again");
    assert_eq!(prober.count(), 2);
}

#[test]
fn cache_file_names_are_stable_per_path() {
    let c = CapsCache::new("/var/cache/rvirt/qemu/capabilities");
    let a = c.path_for(Path::new("/usr/bin/qemu-system-x86_64"));
    assert_eq!(a, c.path_for(Path::new("/usr/bin/qemu-system-x86_64")));
    assert_ne!(a, c.path_for(Path::new("/usr/bin/qemu-system-aarch64")));
    assert!(a.starts_with("/var/cache/rvirt/qemu/capabilities"));
}

#[test]
fn hyperv_from_the_host_cpu_expansion() {
    let mut raw = answers(10, 0);
    raw.host_cpu_full = Some(json!({"model": {"name": "host", "props": {
        "hv-relaxed": true, "hv-vapic": false, "hv-spinlocks": 4095,
        "hv-vendor-id": "", "hv-version-id-minor": 0, "x2apic": true,
        "hv-no-nonarch-coresharing": "off"
    }}}));
    let caps = assemble(Path::new("/usr/bin/qemu-system-x86_64"), raw).unwrap();
    let hv: Vec<&str> = caps
        .hyperv
        .as_ref()
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        hv,
        [
            "no-nonarch-coresharing",
            "relaxed",
            "spinlocks",
            "vendor-id"
        ]
    );
    assert_eq!(caps_72().hyperv, None);
}
