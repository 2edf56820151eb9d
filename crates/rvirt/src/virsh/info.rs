//! Commands that read a domain: dumpxml, domstate, dominfo, domid, domuuid,
//! domname.

use remote_protocol::procs::{MessagesRet, SecurityModelRet};
use remote_protocol::xdr::{CharVec, DecodeLimited, Reader, to_bytes};
use remote_protocol::{ClientError, Domain, Procedure};

use super::{BY_ALL, BY_ID, BY_NAME, BY_UUID, R, Session, d, df, is_no_support, message};
use crate::format::{reason_str, state_str, uuid_string};

impl Session<'_> {
    pub(super) async fn dumpxml(&mut self, domain: &str, inactive: bool) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        let flags = if inactive { 2 } else { 0 };
        match self.c.get_xml_desc(&dom, flags).await {
            Ok(x) => {
                self.print(&x);
                Ok(())
            }
            Err(e) => self.fail1(&e),
        }
    }

    pub(super) async fn domstate(&mut self, domain: &str, reason: bool) -> R {
        let dom = self.lookup(domain, BY_ALL).await?;
        match self.c.get_state(&dom).await {
            Ok(s) => {
                let line = if reason {
                    format!(
                        "{} ({})\n",
                        state_str(s.state),
                        reason_str(s.state, s.reason)
                    )
                } else {
                    format!("{}\n", state_str(s.state))
                };
                self.print(&line);
                Ok(())
            }
            Err(e) => self.fail1(&e),
        }
    }

    pub(super) async fn domid(&mut self, domain: &str) -> R {
        let dom = self.lookup(domain, BY_NAME | BY_UUID).await?;
        if dom.id < 0 {
            self.print("-\n");
        } else {
            self.print(&format!("{}\n", dom.id));
        }
        Ok(())
    }

    pub(super) async fn domuuid(&mut self, domain: &str) -> R {
        let dom = self.lookup(domain, BY_NAME | BY_ID).await?;
        self.print(&format!("{}\n", uuid_string(&dom.uuid)));
        Ok(())
    }

    pub(super) async fn domname(&mut self, domain: &str) -> R {
        let dom = self.lookup(domain, BY_ID | BY_UUID).await?;
        self.print(&format!("{}\n", dom.name));
        Ok(())
    }

    pub(super) async fn dominfo(&mut self, arg: &str) -> R {
        let dom = self.lookup(arg, BY_ALL).await?;
        let mut ok = true;
        let kv = |k: &str, v: &str| format!("{k:<15} {v}\n");
        let id = if dom.id < 0 {
            "-".to_string()
        } else {
            dom.id.to_string()
        };
        self.print(&kv("Id:", &id));
        self.print(&kv("Name:", &dom.name));
        self.print(&kv("UUID:", &uuid_string(&dom.uuid)));
        let os: Result<String, ClientError> =
            self.c.call(Procedure::DomainGetOsType, &d(&dom)).await;
        if let Ok(os) = os {
            self.print(&kv("OS Type:", &os));
        }
        match self.c.get_info(&dom).await {
            Ok(info) => {
                self.print(&kv("State:", state_str(i32::from(info.state))));
                self.print(&kv("CPU(s):", &info.nr_virt_cpu.to_string()));
                if info.cpu_time != 0 {
                    let secs = info.cpu_time as f64 / 1e9;
                    self.print(&kv("CPU time:", &format!("{secs:.1}s")));
                }
                if info.max_mem != u64::from(u32::MAX) {
                    self.print(&kv("Max memory:", &format!("{} KiB", info.max_mem)));
                } else {
                    self.print(&kv("Max memory:", "no limit"));
                }
                self.print(&kv("Used memory:", &format!("{} KiB", info.memory)));
            }
            Err(e) => {
                ok = false;
                self.out.err(message(&e));
            }
        }
        match self.c.is_persistent(&dom).await {
            Ok(p) => self.print(&kv("Persistent:", if p { "yes" } else { "no" })),
            Err(_) => self.print(&kv("Persistent:", "unknown")),
        }
        if let Ok(a) = self.c.get_autostart(&dom).await {
            self.print(&kv("Autostart:", if a { "enable" } else { "disable" }));
        }
        let ms: Result<i32, ClientError> = self
            .c
            .call(Procedure::DomainHasManagedSaveImage, &df(&dom, 0))
            .await;
        match ms {
            Ok(v) => self.print(&kv("Managed save:", if v != 0 { "yes" } else { "no" })),
            Err(_) => self.print(&kv("Managed save:", "unknown")),
        }
        self.dominfo_security(&dom).await?;
        let msgs: Result<MessagesRet, ClientError> = self
            .c
            .call(Procedure::DomainGetMessages, &df(&dom, 0))
            .await;
        if let Ok(m) = msgs {
            for (i, line) in m.msgs.iter().enumerate() {
                self.print(&kv(if i == 0 { "Messages:" } else { "" }, line));
            }
        }
        if ok { Ok(()) } else { Err(()) }
    }

    /// dominfo's security lines (model, DOI, label), when the host has a model.
    async fn dominfo_security(&mut self, dom: &Domain) -> R {
        let kv = |k: &str, v: &str| format!("{k:<15} {v}\n");
        let sm: Result<SecurityModelRet, ClientError> =
            self.c.call(Procedure::NodeGetSecurityModel, &()).await;
        match sm {
            Ok(m) if !m.model.0.is_empty() && m.model.0[0] != 0 => {
                let text = |v: &[u8]| {
                    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
                    String::from_utf8_lossy(&v[..end]).into_owned()
                };
                self.print(&kv("Security model:", &text(&m.model.0)));
                self.print(&kv("Security DOI:", &text(&m.doi.0)));
                // DOMAIN_GET_SECURITY_LABEL (121): char label<4097>; int enforcing.
                match self.c.call_raw(121, to_bytes(&d(dom))).await {
                    Ok(body) => {
                        let mut r = Reader::new(&body);
                        if let (Ok(label), Ok(enf)) =
                            (CharVec::decode_limited(&mut r, 4097), r.get_i32())
                        {
                            let l = text(&label.0);
                            if !l.is_empty() {
                                let mode = if enf != 0 { "enforcing" } else { "permissive" };
                                self.print(&kv("Security label:", &format!("{l} ({mode})")));
                            }
                        }
                    }
                    Err(e) => return self.fail1(&e),
                }
            }
            Ok(_) => {}
            Err(e) if is_no_support(&e) => {}
            Err(e) => {
                self.out.err(message(&e));
                return Err(());
            }
        }
        Ok(())
    }
}
