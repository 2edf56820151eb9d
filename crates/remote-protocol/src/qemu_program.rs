//! libvirt's QEMU program (`0x20008087`): `virDomainQemuMonitorCommand`, what
//! `virsh qemu-monitor-command` and `libvirt_qemu.qemuMonitorCommand` send — the
//! monitor passthrough that goes with command-line passthrough.
//!
//! | proc | name                   | args            | ret    |
//! |-----:|------------------------|-----------------|--------|
//! | 1    | DOMAIN_MONITOR_COMMAND | dom, cmd, flags | result |
//! | 3    | DOMAIN_AGENT_COMMAND   | dom, cmd, timeout, flags | optional result |
//!
//! `flags`: 1 = the command is HMP text, else a QMP JSON object.

use crate::procs::Domain;
use crate::xdr::{self, STRING_MAX, XdrError};
use crate::xdr_struct;

pub use crate::frame::PROGRAM_QEMU;

/// `VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP`.
pub const MONITOR_COMMAND_HMP: u32 = 1;

/// `QEMU_PROC_DOMAIN_MONITOR_COMMAND`.
pub const PROC_DOMAIN_MONITOR_COMMAND: i32 = 1;

/// The API name used in read-only refusals.
pub const MONITOR_COMMAND_API: &str = "virDomainQemuMonitorCommand";

xdr_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct MonitorCommandArgs {
        pub dom: Domain,
        pub cmd: String => max STRING_MAX,
        pub flags: u32,
    }
}

impl MonitorCommandArgs {
    pub fn decode(body: &[u8]) -> Result<Self, XdrError> {
        xdr::from_bytes(body)
    }
}

/// `QEMU_PROC_DOMAIN_AGENT_COMMAND`: `virsh qemu-agent-command`.
pub const PROC_DOMAIN_AGENT_COMMAND: i32 = 3;

/// The API name used in read-only refusals.
pub const AGENT_COMMAND_API: &str = "virDomainQemuAgentCommand";

xdr_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct AgentCommandArgs {
        pub dom: Domain,
        pub cmd: String => max STRING_MAX,
        /// Seconds; -2 = the default, -1 = block, 0 = no wait.
        pub timeout: i32,
        pub flags: u32,
    }
}

impl AgentCommandArgs {
    pub fn decode(body: &[u8]) -> Result<Self, XdrError> {
        xdr::from_bytes(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = MonitorCommandArgs {
            dom: Domain {
                name: "vm".into(),
                uuid: [2; 16],
                id: 1,
            },
            cmd: r#"{"execute":"query-status"}"#.into(),
            flags: 0,
        };
        assert_eq!(MonitorCommandArgs::decode(&xdr::to_bytes(&a)).unwrap(), a);
        assert!(MonitorCommandArgs::decode(&[0, 0, 0]).is_err());
    }
}
