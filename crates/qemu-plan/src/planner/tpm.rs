//! `<tpm>` as libvirt 11.3 gives it to QEMU, after the consoles: an emulator
//! backend is a swtpm the daemon starts before QEMU (QEMU connects to its control
//! socket: `-chardev socket,path=` + `-tpmdev emulator`); a passthrough backend is
//! the host TPM and its cancel file, opened by the daemon and passed as fd sets
//! (`-tpmdev passthrough,path=/dev/fdset/N,cancel-path=/dev/fdset/M`); then the
//! frontend `-device tpm-tis|tpm-crb`.

use domain_xml::model::devices::Tpm;

use super::state::Planner;
use crate::json::Obj;
use crate::launch::{FdSource, TpmEmulator};
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::PathKind;

/// The swtpm control socket of TPM `alias`, in the domain's private directory
/// (QEMU's account owns it, and it goes with the directory when QEMU stops).
pub fn swtpm_socket(lib_dir: &str, alias: &str) -> String {
    format!("{lib_dir}/swtpm-{alias}.sock")
}

/// Where the kernel offers a TPM's cancel file (libvirt looks in the same two
/// places).
fn cancel_paths(dev: &str) -> Vec<String> {
    let name = dev.rsplit('/').next().unwrap_or(dev);
    vec![
        format!("/sys/class/tpm/{name}/device/cancel"),
        format!("/sys/class/misc/{name}/device/cancel"),
    ]
}

impl Planner<'_> {
    pub(super) fn tpms(&mut self) {
        let dom = self.dom;
        for (i, t) in dom.devices.tpms.iter().enumerate() {
            let alias = t.info.alias.clone().unwrap_or_else(|| format!("tpm{i}"));
            let subject = format!("tpm '{alias}'");
            let model = t.model.as_deref().unwrap_or("tpm-tis");
            if model != "tpm-tis" && model != "tpm-crb" {
                self.problem(&subject, format!("model '{model}' is not supported on x86"));
                continue;
            }
            if t.info.address.is_some() {
                self.problem(&subject, "an <address> is not supported yet".to_owned());
            }
            let backend = match t.backend.backend_type.as_str() {
                "emulator" => self.tpm_emulator(t, &alias, &subject),
                "passthrough" => self.tpm_passthrough(t, &alias, &subject),
                "external" => self.tpm_external(t, &alias, &subject),
                other => {
                    self.problem(
                        &subject,
                        format!("backend type '{other}' is not supported yet"),
                    );
                    false
                }
            };
            if backend {
                self.device(
                    Obj::new()
                        .with("driver", model)
                        .with("tpmdev", format!("tpm-{alias}"))
                        .with("id", alias.as_str()),
                );
            }
        }
    }

    fn tpm_emulator(&mut self, t: &Tpm, alias: &str, subject: &str) -> bool {
        let b = &t.backend;
        let version = b.version.clone().unwrap_or_else(|| "2.0".into());
        if version != "2.0" {
            // swtpm's TPM 1.2 needs a setup rvirt does not do.
            self.problem(
                subject,
                format!("TPM version '{version}' is not supported yet"),
            );
            return false;
        }
        if let Some((k, _)) = b.attrs.attrs.first() {
            self.problem(
                subject,
                format!("backend attribute '{k}' is not supported yet"),
            );
            return false;
        }
        if b.source.is_some() {
            self.problem(
                subject,
                "a backend <source> (own state location) is not supported yet".to_owned(),
            );
            return false;
        }
        let socket = swtpm_socket(&self.rt.lib_dir, alias);
        self.tpm_emulators.push(TpmEmulator {
            alias: alias.to_owned(),
            socket: socket.clone(),
            version,
        });
        // libvirt names the chardev `chrtpm` whatever the alias.
        self.arg2("-chardev", format!("socket,id=chrtpm,path={socket}"));
        self.arg2("-tpmdev", format!("emulator,id=tpm-{alias},chardev=chrtpm"));
        true
    }

    /// A swtpm someone else runs: QEMU connects to its socket, which must exist
    /// and be usable by QEMU's account (it is not relabelled).
    fn tpm_external(&mut self, t: &Tpm, alias: &str, subject: &str) -> bool {
        let src = t.backend.source.as_ref();
        let get = |k: &str| src.and_then(|s| s.get(k));
        if get("type") != Some("unix") || get("mode").is_some_and(|m| m != "connect") {
            self.problem(
                subject,
                "an external backend needs <source type='unix' mode='connect' path=...>".to_owned(),
            );
            return false;
        }
        let Some(path) = get("path").map(str::to_owned) else {
            self.problem(
                subject,
                "an external backend needs a socket path".to_owned(),
            );
            return false;
        };
        self.push_resource(Resource {
            path: path.clone(),
            kind: ResourceKind::Socket,
            access: Access::ReadWrite,
            origin: alias.to_owned(),
            class: ResourceClass::Device,
            provision: Provision::Exists,
            dac_relabel: false,
            dac_label: None,
            selinux: SelinuxRole::Untouched,
        });
        self.arg2("-chardev", format!("socket,id=chrtpm,path={path}"));
        self.arg2("-tpmdev", format!("emulator,id=tpm-{alias},chardev=chrtpm"));
        true
    }

    fn tpm_passthrough(&mut self, t: &Tpm, alias: &str, subject: &str) -> bool {
        let dev = t
            .backend
            .device_path
            .clone()
            .unwrap_or_else(|| "/dev/tpm0".into());
        let kind = match self.rt.host.stat(&dev) {
            Some(PathKind::CharDev { major, minor }) => ResourceKind::CharDev { major, minor },
            Some(other) => {
                self.problem(subject, format!("'{dev}' is {other}, not a TPM device"));
                return false;
            }
            None => {
                self.problem(subject, format!("'{dev}' does not exist"));
                return false;
            }
        };
        let Some(cancel) = cancel_paths(&dev)
            .into_iter()
            .find(|p| self.rt.host.stat(p).is_some())
        else {
            self.problem(subject, format!("no cancel file for '{dev}' in /sys/class"));
            return false;
        };
        for (path, kind) in [(dev.clone(), kind), (cancel.clone(), ResourceKind::File)] {
            self.push_resource(Resource {
                path,
                kind,
                access: Access::ReadWrite,
                origin: alias.to_owned(),
                class: ResourceClass::Device,
                provision: Provision::PassedAsFd,
                dac_relabel: false,
                dac_label: None,
                selinux: SelinuxRole::Untouched,
            });
        }
        let tpm_fd = self.pass_fd(alias, FdSource::Device { path: dev });
        let tpm_set = self.next_fdset();
        self.arg2(
            "-add-fd",
            format!("set={tpm_set},fd={tpm_fd},opaque={alias}-tpm"),
        );
        let cancel_fd = self.pass_fd(
            alias,
            FdSource::File {
                path: cancel,
                append: true,
            },
        );
        let cancel_set = self.next_fdset();
        self.arg2(
            "-add-fd",
            format!("set={cancel_set},fd={cancel_fd},opaque={alias}-cancel"),
        );
        self.arg2(
            "-tpmdev",
            format!(
                "passthrough,id=tpm-{alias},path=/dev/fdset/{tpm_set},cancel-path=/dev/fdset/{cancel_set}"
            ),
        );
        true
    }
}
