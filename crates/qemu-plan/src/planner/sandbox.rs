//! QEMU's seccomp sandbox (`-sandbox`).

use qemu_caps::flags;

use super::state::Planner;

/// The `-sandbox` value libvirt uses when the sandbox is on.
pub const SANDBOX_ON: &str =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

impl Planner<'_> {
    /// The `-sandbox` value; `None` where this QEMU has no seccomp sandbox.
    pub(super) fn sandbox_setting(&self) -> Option<&'static str> {
        if !self.caps.has_flag(flags::SECCOMP_SANDBOX) {
            None
        } else if self.host.sandbox_enabled() {
            Some(SANDBOX_ON)
        } else {
            Some("off")
        }
    }

    pub(super) fn sandbox_arg(&mut self) {
        if let Some(setting) = self.sandbox_setting() {
            if setting == SANDBOX_ON {
                self.sandbox_params_known();
            }
            self.arg2("-sandbox", setting);
        }
    }

    /// Every filter [`SANDBOX_ON`] denies must be one this QEMU's `-sandbox`
    /// knows: a silently weaker sandbox is worse than a refused start.
    fn sandbox_params_known(&mut self) {
        for part in SANDBOX_ON.split(',').skip(1) {
            let param = part.split('=').next().unwrap_or_default();
            if !self.caps.has_option("sandbox", Some(param)) {
                self.problem(
                    "",
                    format!(
                        "the seccomp sandbox needs -sandbox {param}=, which {} lacks \
                         (seccomp_sandbox = 0 in qemu.conf starts it unsandboxed)",
                        self.rt.emulator
                    ),
                );
            }
        }
    }
}
