//! `domxml-to-native qemu-argv FILE`: through the daemon when it answers
//! (CONNECT_DOMAIN_XML_TO_NATIVE), otherwise offline: parse, probe the
//! emulator's capabilities (cached), plan with the host config, print the
//! one-line env + argv.

use std::path::PathBuf;

use host_config::HostConfig;
use qemu::CapsCache;
use qemu_runtime::paths::Paths;

use crate::target::Target;
use crate::virsh::{self, Output};

/// Where offline capability probes are cached: the instance's cache for a
/// `--root` instance; `/var/cache/rvirt/qemu/capabilities` as root; else
/// `$XDG_CACHE_HOME/rvirt/qemu/capabilities` (or `~/.cache/rvirt/...`).
pub fn caps_cache_dir(target: &Target) -> PathBuf {
    cache_dir_for(
        target,
        rustix::process::geteuid().is_root(),
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn cache_dir_for(
    target: &Target,
    root: bool,
    xdg_cache: Option<PathBuf>,
    home: Option<PathBuf>,
) -> PathBuf {
    if target.rooted {
        return target.paths.capabilities_cache();
    }
    if root {
        return Paths::system().capabilities_cache();
    }
    let base = xdg_cache
        .filter(|v| !v.as_os_str().is_empty())
        .or_else(|| home.map(|h| h.join(".cache")))
        .unwrap_or_else(|| std::env::temp_dir().join("rvirt-cache"));
    base.join("rvirt").join("qemu").join("capabilities")
}

/// The offline path. Returns the text virsh would print (ending in a
/// newline) or error lines.
pub async fn offline(target: &Target, format: &str, file: &str) -> Result<String, Vec<String>> {
    if format != "qemu-argv" {
        return Err(vec![format!(
            "invalid argument: unsupported config type {format}"
        )]);
    }
    let xml = virsh::read_file(file).map_err(|e| vec![e])?;
    let dom = domain_xml::parse_domain(&xml)
        .map_err(|e| vec![format!("XML error: {}", e.message)])?
        .value;
    let emulator = qemu_runtime::native::emulator_of(&dom);
    let cache = CapsCache::new(caps_cache_dir(target));
    let caps = cache
        .get(std::path::Path::new(&emulator))
        .await
        .map_err(|e| vec![format!("internal error: {e}")])?;
    let (config, _warnings) =
        HostConfig::load(&target.paths.qemu_conf).map_err(|e| vec![format!("{e}")])?;
    let line = qemu_runtime::native::to_native(dom, &config, &caps, &target.paths)
        .map_err(|e| vec![e.to_string()])?;
    Ok(format!("{line}\n"))
}

/// Host paths in the domain's passthrough arguments that no `<rvirt:grant>` covers
/// (empty when the file cannot be read or parsed: those errors are reported anyway).
pub fn ungranted(file: &str) -> Vec<String> {
    virsh::read_file(file)
        .ok()
        .and_then(|xml| domain_xml::parse_domain(&xml).ok())
        .map(|p| qemu_runtime::native::ungranted_passthrough_paths(&p.value))
        .unwrap_or_default()
}

/// Daemon first, offline when no daemon answers or it lacks the call.
pub async fn run(target: &Target, read_only: bool, format: &str, file: &str) -> (Output, bool) {
    let mut out = Output::default();
    if let Ok(c) = virsh::connect(target, read_only).await {
        match virsh::read_file(file) {
            Err(e) => {
                out.errors.push(e);
                return (out, false);
            }
            Ok(xml) => match c.domain_xml_to_native(format, &xml, 0).await {
                Ok(s) => {
                    let _ = c.close().await;
                    out.stdout = s;
                    return (out, true);
                }
                Err(e) if !virsh::is_no_support(&e) => {
                    out.errors.push(virsh::message(&e));
                    return (out, false);
                }
                Err(_) => {}
            },
        }
    }
    match offline(target, format, file).await {
        Ok(s) => {
            out.stdout = s;
            (out, true)
        }
        Err(e) => {
            out.errors = e;
            (out, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::resolve;
    use std::path::Path;

    #[test]
    fn cache_dirs() {
        let sys = resolve(None, false).unwrap();
        let x = || Some(PathBuf::from("/x"));
        let h = || Some(PathBuf::from("/home/u"));
        assert_eq!(
            cache_dir_for(&sys, true, x(), h()),
            Path::new("/var/cache/rvirt/qemu/capabilities")
        );
        assert_eq!(
            cache_dir_for(&sys, false, x(), h()),
            Path::new("/x/rvirt/qemu/capabilities")
        );
        assert_eq!(
            cache_dir_for(&sys, false, None, h()),
            Path::new("/home/u/.cache/rvirt/qemu/capabilities")
        );
        let embed = resolve(Some("qemu:///embed?root=/r"), false).unwrap();
        assert_eq!(
            cache_dir_for(&embed, false, x(), h()),
            Path::new("/r/var/cache/rvirt/qemu/capabilities")
        );
    }
}
