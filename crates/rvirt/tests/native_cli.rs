//! `rvirt domxml-to-native qemu-argv`: offline (no daemon at the URI's
//! socket) and through a daemon that lacks CONNECT_DOMAIN_XML_TO_NATIVE
//! (falls back to offline). Needs `/usr/bin/qemu-system-x86_64` for the
//! capability probe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use remote_protocol::fake::FakeBackend;
use remote_protocol::procs::Procedure;
use remote_protocol::server::{Backend, BoxFuture, CallContext, ServeOptions, serve};
use remote_protocol::{RemoteError, Request, Response};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rvirt(uri: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvirt"))
        .arg("-c")
        .arg(uri)
        .args(args)
        .current_dir(repo())
        .env_remove("LIBVIRT_DEFAULT_URI")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .output()
        .unwrap()
}

fn ok_stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "rvirt failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

const SANDBOX: &str =
    "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

fn check_kbase_line(out: &str) {
    // virsh's shape: the one line (ending in a newline), then virsh's blank line.
    assert!(out.ends_with("\n\n"), "{out:?}");
    let line = out.trim_end_matches('\n');
    assert!(!line.contains('\n'), "one line expected: {out:?}");
    assert!(line.contains("ID=wibble BAR=''"), "{line}");
    assert!(
        line.contains(&format!(" -newarg parameter {SANDBOX}")),
        "-newarg parameter must come right before -sandbox: {line}"
    );
    let env_end = line
        .find(" /usr/bin/qemu-system-x86_64 ")
        .expect("emulator");
    assert!(
        line.find("ID=wibble").unwrap() < env_end,
        "the env comes before the emulator: {line}"
    );
}

#[test]
fn offline_kbase_examples_give_identical_argv() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", dir.path().join("root").display());
    let a = rvirt(
        &uri,
        dir.path(),
        &[
            "domxml-to-native",
            "qemu-argv",
            "examples/kbase-ns-on-domain.xml",
        ],
    );
    let b = rvirt(
        &uri,
        dir.path(),
        &[
            "domxml-to-native",
            "qemu-argv",
            "examples/kbase-ns-at-use.xml",
        ],
    );
    let (a, b) = (ok_stdout(&a), ok_stdout(&b));
    assert_eq!(a, b);
    check_kbase_line(&a);
    // The probe was cached in the instance's layout.
    assert!(
        dir.path()
            .join("root/var/cache/rvirt/qemu/capabilities")
            .is_dir()
    );
    // -q drops virsh's trailing blank line only.
    let q = rvirt(
        &uri,
        dir.path(),
        &[
            "-q",
            "domxml-to-native",
            "qemu-argv",
            "examples/kbase-ns-at-use.xml",
        ],
    );
    assert_eq!(format!("{}\n", ok_stdout(&q)), a);
    // Unknown formats and unreadable files are refused like virsh.
    let o = rvirt(
        &uri,
        dir.path(),
        &["domxml-to-native", "xen-xm", "examples/kbase-ns-at-use.xml"],
    );
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: invalid argument: unsupported config type xen-xm\n"
    );
    let o = rvirt(
        &uri,
        dir.path(),
        &["domxml-to-native", "qemu-argv", "no/such.xml"],
    );
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: Failed to open file 'no/such.xml': No such file or directory\n"
    );
}

/// A daemon without CONNECT_DOMAIN_XML_TO_NATIVE.
#[derive(Debug)]
struct NoNative(FakeBackend);

impl Backend for NoNative {
    fn call<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: Request,
    ) -> BoxFuture<'a, Result<Response, RemoteError>> {
        Box::pin(async move {
            if matches!(req, Request::ConnectDomainXmlToNative { .. }) {
                return Err(RemoteError::unknown_procedure(
                    Procedure::ConnectDomainXmlToNative.number(),
                ));
            }
            self.0.call(ctx, req).await
        })
    }
}

#[test]
fn daemon_without_the_call_falls_back_to_offline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let sock = root.join("run/rvirt/rvirt-sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    {
        let _g = rt.enter();
        let l = tokio::net::UnixListener::bind(&sock).unwrap();
        rt.spawn(serve(
            l,
            Arc::new(NoNative(FakeBackend::new())),
            ServeOptions::default(),
        ));
    }
    let uri = format!("qemu:///embed?root={}", root.display());
    // The embed URI finds the instance's socket: `list` goes to the daemon.
    let o = rvirt(&uri, dir.path(), &["list", "--all"]);
    assert_eq!(
        ok_stdout(&o),
        " Id   Name   State\n--------------------\n\n"
    );
    let o = rvirt(
        &uri,
        dir.path(),
        &[
            "domxml-to-native",
            "qemu-argv",
            "examples/kbase-ns-on-domain.xml",
        ],
    );
    check_kbase_line(&ok_stdout(&o));
}

/// Like libvirt's preview, domxml-to-native plans a domain whose files do not
/// exist (a disk image, a kernel, an RNG device) as the XML describes them;
/// only a start checks them.
#[test]
fn offline_preview_does_not_need_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", dir.path().join("root").display());
    let xml = dir.path().join("missing.xml");
    std::fs::write(
        &xml,
        "<domain type='qemu'><name>missing</name><memory unit='MiB'>128</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type>\
         <kernel>/nonexistent/vmlinuz</kernel><initrd>/nonexistent/initrd.gz</initrd></os>\
         <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>\
         <source file='/nonexistent/disk.img'/><target dev='vda' bus='virtio'/></disk>\
         <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>\
         <rng model='virtio'><backend model='random'>/dev/nonexistent-hwrng</backend></rng>\
         </devices></domain>",
    )
    .unwrap();
    let out = ok_stdout(&rvirt(
        &uri,
        dir.path(),
        &["domxml-to-native", "qemu-argv", xml.to_str().unwrap()],
    ));
    for want in [
        "-kernel /nonexistent/vmlinuz",
        "/nonexistent/disk.img",
        "/dev/nonexistent-hwrng",
        "-vnc 127.0.0.1:0",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
}
