//! Host facts beyond capabilities: `domcapabilities` and `sysinfo`, printed
//! as the daemon sends them (as virsh does).

use remote_protocol::procs::{DomainCapabilitiesArgs, FlagsArgs, Procedure};

use super::{R, Session};

impl Session<'_> {
    pub(super) async fn domcapabilities(
        &mut self,
        virttype: Option<&str>,
        emulatorbin: Option<&str>,
        arch: Option<&str>,
        machine: Option<&str>,
    ) -> R {
        let args = DomainCapabilitiesArgs {
            emulatorbin: emulatorbin.map(str::to_owned),
            arch: arch.map(str::to_owned),
            machine: machine.map(str::to_owned),
            virttype: virttype.map(str::to_owned),
            flags: 0,
        };
        match self
            .c
            .call::<_, String>(Procedure::ConnectGetDomainCapabilities, &args)
            .await
        {
            Ok(x) => {
                self.print(&x);
                Ok(())
            }
            Err(e) => self.fail2("failed to get emulator capabilities".into(), &e),
        }
    }

    pub(super) async fn sysinfo(&mut self) -> R {
        match self
            .c
            .call::<_, String>(Procedure::ConnectGetSysinfo, &FlagsArgs { flags: 0 })
            .await
        {
            Ok(x) => {
                self.print(&x);
                Ok(())
            }
            Err(e) => self.fail2("failed to get sysinfo".into(), &e),
        }
    }
}
