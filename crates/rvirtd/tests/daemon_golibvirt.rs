//! go-libvirt (Debian's golang-github-digitalocean-go-libvirt-dev, built in GOPATH mode
//! with no network) against a real rvirtd: it connects over the unix socket (sending
//! XDR booleans as words other than 1, which glibc's xdr_bool takes), lists, defines,
//! starts, destroys and undefines a domain.

mod daemon_support;

use std::process::Command;

use daemon_support::{Daemon, kvm_xml, name};

const GOPATH: &str = "/usr/share/gocode";

#[test]
fn qemu_live_go_libvirt_client() {
    daemon_support::require_root();
    daemon_support::require_qemu();
    daemon_support::require_clients();
    let go = testkit::require_binary("go");
    assert!(
        std::path::Path::new(GOPATH)
            .join("src/github.com/digitalocean/go-libvirt/libvirt.go")
            .exists(),
        "go-libvirt is missing: apt-get install golang-github-digitalocean-go-libvirt-dev \
         (tools/setup-host.sh installs it)"
    );
    let mut d = Daemon::start();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golibvirt");
    let bin = d.root().join("golibvirt");
    let built = Command::new(&go)
        .current_dir(&src)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", d.root().join("go-cache"))
        .env("GOPROXY", "off")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .output()
        .expect("run go build");
    assert!(
        built.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let n = name("golibvirt");
    let xml = d.write("golibvirt.xml", &kvm_xml(&n));
    d.names.push(n.clone());
    let out = Command::new(&bin)
        .arg(d.socket())
        .arg(&xml)
        .output()
        .expect("run the go-libvirt client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "go-libvirt client failed: {}\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_tail()
    );
    let want = [
        "libversion 11003000".to_owned(),
        format!("defined {n}"),
        format!("listed {n}"),
        "state 1".to_owned(),
        "state 5".to_owned(),
        "done".to_owned(),
    ];
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got, want, "{text}");
    let gone = d.fails(&["dominfo", &n]);
    assert!(gone.contains("failed to get domain"), "{gone}");
    d.stop();
}
