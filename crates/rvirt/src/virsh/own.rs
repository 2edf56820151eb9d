//! rvirt's own commands (grants) and `qemu-monitor-command`.

use super::{BY_ALL, R, Session};

impl Session<'_> {
    /// `rvirt grant`: a grant on the running domain and/or its definition.
    pub(super) async fn grant(
        &mut self,
        domain: &str,
        path: &str,
        read_write: bool,
        flags: u32,
    ) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        match self.c.domain_grant(&dom, path, read_write, flags).await {
            Ok(()) => {
                self.extra("Grant added successfully\n");
                Ok(())
            }
            Err(e) => self.fail2(format!("Failed to grant '{path}' to domain '{domain}'"), &e),
        }
    }

    /// `rvirt revoke`: take a grant back.
    pub(super) async fn revoke(&mut self, domain: &str, path: &str, flags: u32) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        match self.c.domain_revoke(&dom, path, flags).await {
            Ok(()) => {
                self.extra("Grant revoked successfully\n");
                Ok(())
            }
            Err(e) => self.fail2(
                format!("Failed to revoke '{path}' from domain '{domain}'"),
                &e,
            ),
        }
    }

    /// virsh's `qemu-monitor-command`: text that is not a JSON object (and not HMP)
    /// is sent as the name of a QMP command.
    pub(super) async fn monitor_command(
        &mut self,
        domain: &str,
        hmp: bool,
        pretty: bool,
        cmd: &str,
    ) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        let text = if hmp || cmd.trim_start().starts_with('{') {
            cmd.to_owned()
        } else {
            serde_json::json!({ "execute": cmd }).to_string()
        };
        let flags = u32::from(hmp);
        match self.c.qemu_monitor_command(&dom, &text, flags).await {
            Ok(reply) => {
                let shown = if pretty && !hmp {
                    crate::pretty::pretty(&reply)
                } else {
                    None
                }
                .unwrap_or_else(|| format!("{reply}\n"));
                self.print(&shown);
                Ok(())
            }
            Err(e) => self.fail1(&e),
        }
    }
}
