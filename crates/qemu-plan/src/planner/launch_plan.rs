//! Turning the finished planner into a [`LaunchPlan`].

use domain_xml::model::{CpuMode, LifecycleAction, SecLabelType};
use host_config::{IdSpec, Namespace};
use qemu_caps::{Capabilities, flags};

use super::state::{Item, Planner};
use crate::error::{PlanError, Problem};
use crate::launch::{LaunchPlan, Taint};
use crate::runtime::QEMU_PATH_ENV;

impl Planner<'_> {
    pub(super) fn finish(mut self) -> Result<LaunchPlan, PlanError> {
        self.check_fd_numbers();
        if !self.problems.is_empty() {
            return Err(PlanError::Domain {
                domain: self.dom.name.clone(),
                problems: self.problems,
            });
        }
        let dom = self.dom;
        let rt = self.rt;
        let sandbox = self.sandbox_setting().map(str::to_owned);
        let env = self.environment();
        let taints = self.taints();
        let static_dac = dom
            .seclabels
            .iter()
            .find(|s| s.is_model("dac") && s.label_type == Some(SecLabelType::Static));
        Ok(LaunchPlan {
            emulator: rt.emulator.clone(),
            argv: render_argv(self.items, &self.caps),
            env,
            fds: self.fds,
            taints,
            resources: self.resources,
            mount_namespace: self.host.namespaces.contains(&Namespace::Mount),
            landlock: self.host.landlock,
            sandbox,
            dac_label: static_dac.and_then(|s| s.label.clone()),
            dac_image_label: static_dac.and_then(|s| s.image_label.clone().or(s.label.clone())),
            log_path: rt.log_path.clone(),
            nvram_from_template: self.nvram_from_template.clone(),
            tpm_emulators: self.tpm_emulators.clone(),
            reboot_is_shutdown: dom.on_reboot == LifecycleAction::Destroy,
            balloon_target_kib: (dom.current_memory_kib < dom.memory_kib
                && dom
                    .devices
                    .memballoon
                    .as_ref()
                    .is_some_and(|b| b.model != "none"))
            .then_some(dom.current_memory_kib),
            monitor_commands: self.monitor_commands,
            graphics_live: self.graphics_live,
            channel_paths: self.channel_paths,
        })
    }

    /// The fds handed to QEMU are placed at their planned numbers, so two
    /// of them must never share one, nor take stdin/stdout/stderr.
    fn check_fd_numbers(&mut self) {
        let mut seen = Vec::new();
        for f in &self.fds {
            if f.fd < 3 || seen.contains(&f.fd) {
                self.problems.push(Problem {
                    subject: "runtime".into(),
                    message: format!(
                        "fd {} for {} is below 3 or already used; choose monitor_fd and first_free_fd apart",
                        f.fd, f.owner
                    ),
                });
            }
            seen.push(f.fd);
        }
    }

    /// libvirt's fixed environment (HOME and XDG dirs in the private
    /// directory), then `<qemu:env>`.
    fn environment(&self) -> Vec<(String, String)> {
        let lib = self.rt.lib_dir.trim_end_matches('/');
        let mut env = vec![
            ("LC_ALL".to_owned(), "C".to_owned()),
            ("PATH".to_owned(), QEMU_PATH_ENV.to_owned()),
            ("HOME".to_owned(), lib.to_owned()),
            ("XDG_DATA_HOME".to_owned(), format!("{lib}/.local/share")),
            ("XDG_CACHE_HOME".to_owned(), format!("{lib}/.cache")),
            ("XDG_CONFIG_HOME".to_owned(), format!("{lib}/.config")),
        ];
        env.extend(self.clock_env());
        for e in &self.dom.qemu.env {
            env.push((e.name.clone(), e.value.clone().unwrap_or_default()));
        }
        env
    }

    /// The taints libvirt records for this start.
    fn taints(&self) -> Vec<Taint> {
        let mut taints = Vec::new();
        let q = &self.dom.qemu;
        if q.has_custom_argv() {
            taints.push(Taint::CustomArgv);
        }
        let is_root = |id: &IdSpec| match id {
            IdSpec::Id(n) => *n == 0,
            IdSpec::Name(n) => n == "root",
        };
        if is_root(&self.host.user) || is_root(&self.host.group) {
            taints.push(Taint::HighPrivileges);
        }
        if self
            .dom
            .cpu
            .as_ref()
            .is_some_and(|c| c.mode == Some(CpuMode::HostPassthrough))
        {
            taints.push(Taint::HostCpu);
        }
        if !q.caps_add.is_empty() || !q.caps_del.is_empty() {
            taints.push(Taint::CustomHypervisorFeature);
        }
        if !q.overrides.is_empty() {
            taints.push(Taint::CustomDevice);
        }
        taints
    }
}

/// The argv: devices and objects as JSON where this QEMU takes it there,
/// QemuOpts otherwise.
fn render_argv(items: Vec<Item>, caps: &Capabilities) -> Vec<String> {
    let json_dev = caps.has_flag(flags::DEVICE_JSON);
    let json_obj = caps.has_flag(flags::OBJECT_JSON);
    let mut argv = Vec::with_capacity(items.len() * 2);
    for item in items {
        match item {
            Item::Arg(a) => argv.push(a),
            Item::Device { props, .. } => {
                argv.push("-device".into());
                argv.push(if json_dev {
                    props.to_json()
                } else {
                    props.to_opts("driver")
                });
            }
            Item::Object(props) => {
                argv.push("-object".into());
                argv.push(if json_obj {
                    props.to_json()
                } else {
                    props.to_opts("qom-type")
                });
            }
        }
    }
    argv
}
