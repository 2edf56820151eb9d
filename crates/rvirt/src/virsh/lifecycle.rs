//! Commands that change a domain: define, create, undefine, start, the
//! one-call ones (shutdown, destroy, reboot, suspend, resume), autostart.

use remote_protocol::{ClientError, Procedure};

use super::{BY_ALL, R, Session, d, df, is_no_support};

/// A command that is one call on a domain, with virsh's messages (`{}`: the
/// domain as given).
struct Simple {
    proc_: Procedure,
    /// `Some`: the call takes flags (these).
    flags: Option<u32>,
    done: &'static str,
    failed: &'static str,
}

const SHUTDOWN: Simple = Simple {
    proc_: Procedure::DomainShutdown,
    flags: None,
    done: "Domain '{}' is being shutdown\n",
    failed: "Failed to shutdown domain '{}'",
};
const DESTROY: Simple = Simple {
    proc_: Procedure::DomainDestroy,
    flags: None,
    done: "Domain '{}' destroyed\n",
    failed: "Failed to destroy domain '{}'",
};
const REBOOT: Simple = Simple {
    proc_: Procedure::DomainReboot,
    flags: Some(0),
    done: "Domain '{}' is being rebooted\n",
    failed: "Failed to reboot domain '{}'",
};
const SUSPEND: Simple = Simple {
    proc_: Procedure::DomainSuspend,
    flags: None,
    done: "Domain '{}' suspended\n",
    failed: "Failed to suspend domain '{}'",
};
const RESUME: Simple = Simple {
    proc_: Procedure::DomainResume,
    flags: None,
    done: "Domain '{}' resumed\n",
    failed: "Failed to resume domain '{}'",
};

impl Session<'_> {
    pub(super) async fn shutdown(&mut self, domain: &str) -> R {
        self.simple(domain, &SHUTDOWN).await
    }

    pub(super) async fn destroy(&mut self, domain: &str) -> R {
        self.simple(domain, &DESTROY).await
    }

    pub(super) async fn reboot(&mut self, domain: &str) -> R {
        self.simple(domain, &REBOOT).await
    }

    pub(super) async fn suspend(&mut self, domain: &str) -> R {
        self.simple(domain, &SUSPEND).await
    }

    pub(super) async fn resume(&mut self, domain: &str) -> R {
        self.simple(domain, &RESUME).await
    }

    async fn simple(&mut self, arg: &str, cmd: &Simple) -> R {
        let dom = self.lookup(arg, BY_ALL).await?;
        let r: Result<(), ClientError> = match cmd.flags {
            Some(f) => self.c.call(cmd.proc_, &df(&dom, f)).await,
            None => self.c.call(cmd.proc_, &d(&dom)).await,
        };
        match r {
            Ok(()) => {
                self.extra(&cmd.done.replace("{}", arg));
                Ok(())
            }
            Err(e) => self.fail2(cmd.failed.replace("{}", arg), &e),
        }
    }

    pub(super) async fn define(&mut self, file: &str) -> R {
        let xml = self.read(file)?;
        match self.c.define_xml(&xml, 0).await {
            Ok(dom) => {
                self.extra(&format!("Domain '{}' defined from {file}\n", dom.name));
                Ok(())
            }
            Err(e) => self.fail2(format!("Failed to define domain from {file}"), &e),
        }
    }

    pub(super) async fn create(&mut self, file: &str) -> R {
        let xml = self.read(file)?;
        match self.c.create_xml(&xml, 0).await {
            Ok(dom) => {
                self.extra(&format!("Domain '{}' created from {file}\n", dom.name));
                Ok(())
            }
            Err(e) => self.fail2(format!("Failed to create domain from {file}"), &e),
        }
    }

    pub(super) async fn undefine(&mut self, domain: &str, flags: u32) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        let mut r: Result<(), ClientError> = self
            .c
            .call(Procedure::DomainUndefineFlags, &df(&dom, flags))
            .await;
        if let Err(e) = &r
            && flags == 0
            && is_no_support(e)
        {
            r = self.c.call(Procedure::DomainUndefine, &d(&dom)).await;
        }
        match r {
            Ok(()) => {
                self.extra(&format!("Domain '{domain}' has been undefined\n"));
                Ok(())
            }
            Err(e) => self.fail2(format!("Failed to undefine domain '{domain}'"), &e),
        }
    }

    pub(super) async fn start(&mut self, domain: &str) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        if dom.id >= 0 {
            self.out.err("Domain is already active");
            return Err(());
        }
        let r: Result<(), ClientError> = self.c.call(Procedure::DomainCreate, &d(&dom)).await;
        match r {
            Ok(()) => {
                // The library re-reads the id (CREATE returns void).
                let _ = self.c.lookup_by_uuid(dom.uuid).await;
                self.extra(&format!("Domain '{}' started\n", dom.name));
                Ok(())
            }
            Err(e) => self.fail2(format!("Failed to start domain '{}'", dom.name), &e),
        }
    }

    pub(super) async fn autostart(&mut self, domain: &str, disable: bool) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        match self.c.set_autostart(&dom, !disable).await {
            Ok(()) => {
                let m = if disable {
                    format!("Domain '{domain}' unmarked as autostarted\n")
                } else {
                    format!("Domain '{domain}' marked as autostarted\n")
                };
                self.extra(&m);
                Ok(())
            }
            Err(e) => {
                let m = if disable {
                    format!("Failed to unmark domain '{domain}' as autostarted")
                } else {
                    format!("Failed to mark domain '{domain}' as autostarted")
                };
                self.fail2(m, &e)
            }
        }
    }
}
