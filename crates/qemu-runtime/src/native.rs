//! `domxml-to-native qemu-argv`: what QEMU would be started with for a domain XML,
//! as one shell line (like `virsh domxml-to-native`). Shared by the daemon's RPC
//! handler and the CLI's offline path.

use domain_xml::Domain;
use domain_xml::defaults::{DefaultsContext, apply};
use host_config::HostConfig;
use qemu::Capabilities;
use qemu_plan::runtime::DEFAULT_EMULATOR;
use qemu_plan::{PlanInput, shell_quote};

use crate::hostfacts::PreviewHostFacts;
use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{0}")]
    Parse(#[from] domain_xml::ParseError),
    #[error("{0}")]
    Plan(#[from] qemu_plan::PlanError),
    #[error("{0}")]
    Firmware(#[from] crate::firmware_fill::FillError),
}

/// The emulator a domain runs: its `<emulator>` or the default.
pub fn emulator_of(d: &Domain) -> String {
    d.devices
        .emulator
        .clone()
        .unwrap_or_else(|| DEFAULT_EMULATOR.to_owned())
}

/// Fills libvirt's define-time defaults using what the emulator reports.
pub fn fill_defaults(d: &mut Domain, caps: &Capabilities) {
    let emulator = emulator_of(d);
    let default_machine = caps
        .default_machine()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "pc".into());
    let resolve = |m: &str| caps.resolve_machine_alias(m).map(str::to_owned);
    let ctx = DefaultsContext {
        emulator: &emulator,
        arch: "x86_64",
        default_machine: &default_machine,
        resolve_machine: &resolve,
    };
    apply(d, &ctx);
}

/// The firmware descriptors of this host (QEMU's interop directories; the per-user
/// one only for an unprivileged daemon), with the files that could not be used.
pub fn host_firmware() -> (
    Vec<crate::firmware::Descriptor>,
    Vec<crate::firmware::FirmwareError>,
) {
    let privileged = rustix::process::geteuid().is_root();
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(std::path::PathBuf::from);
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let dirs = crate::firmware::search_dirs(privileged, xdg.as_deref(), home.as_deref());
    match crate::firmware::load(&dirs) {
        Ok(loaded) => loaded,
        Err(e) => (Vec::new(), vec![e]),
    }
}

/// Firmware autoselection and the per-domain NVRAM path, recorded in `d` as
/// libvirt does at define time, from this host's firmware descriptors.
pub fn fill_firmware(
    d: &mut Domain,
    paths: &Paths,
    abi_update: bool,
) -> Result<(), crate::firmware_fill::FillError> {
    let (descriptors, _) = host_firmware();
    crate::firmware_fill::fill(d, &descriptors, &paths.nvram_dir(), abi_update)
}

/// Plans `d` as if it were started now with id `id` (libvirt uses -1 here; ids are
/// unsigned in the plan, so the preview uses 1) and prints env + argv on one line.
pub fn to_native(
    mut d: Domain,
    config: &HostConfig,
    caps: &Capabilities,
    paths: &Paths,
) -> Result<String, NativeError> {
    fill_defaults(&mut d, caps);
    fill_firmware(&mut d, paths, true)?;
    // Planned without requiring the files the XML names (as libvirt's
    // preview); the start checks them.
    let facts = PreviewHostFacts;
    let runtime = crate::runtime::runtime(paths, config, 1, &d, &facts);
    let plan = qemu_plan::plan(&PlanInput {
        domain: &d,
        host: config,
        caps,
        runtime: &runtime,
    })?;
    let mut words: Vec<String> = plan
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", shell_quote(v)))
        .collect();
    words.push(shell_quote(&plan.emulator));
    words.extend(plan.argv.iter().map(|a| shell_quote(a)));
    Ok(words.join(" "))
}

/// Parses and plans an XML document.
pub fn xml_to_native(
    xml: &str,
    config: &HostConfig,
    caps: &Capabilities,
    paths: &Paths,
) -> Result<String, NativeError> {
    let d = domain_xml::parse_domain(xml)?.value;
    to_native(d, config, caps, paths)
}

/// Host paths a `<qemu:commandline>` passthrough mentions (`file=`, `path=`,
/// `filename=`, JSON string values, bare absolute arguments) that no
/// `<rvirt:grant>` covers: each is likely refused by a confinement layer at start.
pub fn ungranted_passthrough_paths(d: &Domain) -> Vec<String> {
    let covered = |p: &str| {
        d.grants
            .iter()
            .any(|g| p == g.path || p.starts_with(&format!("{}/", g.path.trim_end_matches('/'))))
    };
    let mut out: Vec<String> = Vec::new();
    for arg in &d.qemu.args {
        for p in paths_in_arg(arg) {
            if !covered(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Absolute paths inside one argument: `key=/path` in keyval syntax (commas doubled
/// to escape), string values of JSON arguments, or the argument itself.
fn paths_in_arg(arg: &str) -> Vec<String> {
    const KEYS: &[&str] = &[
        "file",
        "path",
        "filename",
        "script",
        "downscript",
        "romfile",
        "mem-path",
        "dir",
        "socket",
    ];
    let mut out = Vec::new();
    let arg = arg.trim();
    if arg.starts_with('/') {
        out.push(arg.to_owned());
    } else if arg.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(arg) {
            collect_json_paths(&v, &mut out);
        }
    } else {
        // keyval: split on single commas; ",," is a literal comma.
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = arg.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ',' {
                if chars.peek() == Some(&',') {
                    chars.next();
                    cur.push(',');
                } else {
                    parts.push(std::mem::take(&mut cur));
                }
            } else {
                cur.push(c);
            }
        }
        parts.push(cur);
        for part in parts {
            if let Some((k, v)) = part.split_once('=')
                && KEYS.contains(&k)
                && v.starts_with('/')
            {
                out.push(v.to_owned());
            }
        }
    }
    out
}

fn collect_json_paths(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.starts_with('/') => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_json_paths(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_json_paths(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ungranted_passthrough_paths() {
        let xml = "<domain type='kvm' xmlns:rvirt='urn:rvirt:schemas:domain:1.0'><name>p</name><memory>1024</memory>\
            <os><type>hvm</type></os>\
            <commandline xmlns='http://libvirt.org/schemas/domain/qemu/1.0'>\
            <arg value='-chardev'/><arg value='file,id=c,path=/srv/out.txt'/>\
            <arg value='-fw_cfg'/><arg value='name=opt/x,file=/srv/fw/a,,b.bin'/>\
            <arg value='-blockdev'/><arg value='{\"driver\":\"host_device\",\"filename\":\"/dev/sdb\",\"node-name\":\"n\"}'/>\
            <arg value='-drive'/><arg value='file=/var/lib/x.img,if=none'/>\
            <arg value='-kernel'/><arg value='/boot/other'/>\
            <arg value='-name'/><arg value='name=notapath'/></commandline>\
            <rvirt:grant path='/srv/fw' access='ro'/><rvirt:grant path='/dev/sdb'/></domain>";
        let d = domain_xml::parse_domain(xml).unwrap().value;
        assert_eq!(
            ungranted_passthrough_paths(&d),
            ["/srv/out.txt", "/var/lib/x.img", "/boot/other"]
        );
    }
}
