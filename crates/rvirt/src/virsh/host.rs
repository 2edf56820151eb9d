//! Commands about the connection and the host: version, uri, hostname,
//! capabilities, nodeinfo, list, domxml-to-native.

use remote_protocol::ClientError;
use remote_protocol::procs::list_flags;

use super::{API_VERSION, R, Session};
use crate::format::{list_order, state_str, table, uuid_string};

impl Session<'_> {
    pub(super) async fn version(&mut self, daemon: bool) -> R {
        let v = API_VERSION;
        self.print(&format!("Compiled against library: libvirt {v}\n"));
        self.print(&format!("Using library: libvirt {v}\n"));
        let typ = match self.c.get_type().await {
            Ok(t) => t,
            Err(e) => return self.fail2("failed to get hypervisor type".into(), &e),
        };
        self.print(&format!("Using API: {typ} {v}\n"));
        match self.c.get_version().await {
            Ok(0) => self.print(&format!(
                "Cannot extract running {typ} hypervisor version\n"
            )),
            Ok(hv) => self.print(&format!(
                "Running hypervisor: {typ} {}.{}.{}\n",
                hv / 1_000_000,
                (hv / 1000) % 1000,
                hv % 1000
            )),
            Err(e) => return self.fail2("failed to get the hypervisor version".into(), &e),
        }
        if daemon {
            match self.c.get_lib_version().await {
                Ok(lv) => self.print(&format!(
                    "Running against daemon: {}.{}.{}\n",
                    lv / 1_000_000,
                    (lv / 1000) % 1000,
                    lv % 1000
                )),
                Err(e) => {
                    return self.fail2("failed to get the daemon version".into(), &e);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn list(&mut self, all: bool, inactive: bool, name: bool, uuid: bool) -> R {
        let mut flags = list_flags::ACTIVE;
        if inactive {
            flags = list_flags::INACTIVE;
        }
        if all {
            flags = list_flags::ACTIVE | list_flags::INACTIVE;
        }
        let mut doms = match self.c.list_all_domains(flags).await {
            Ok(v) => v,
            Err(e) => return self.fail2("Failed to list domains".into(), &e),
        };
        doms.sort_by(|a, b| list_order((a.id, &a.name), (b.id, &b.name)));
        if name || uuid {
            for dom in &doms {
                let line = match (uuid, name) {
                    (true, true) => format!("{} {}\n", uuid_string(&dom.uuid), dom.name),
                    (true, false) => format!("{}\n", uuid_string(&dom.uuid)),
                    _ => format!("{}\n", dom.name),
                };
                self.print(&line);
            }
            return Ok(());
        }
        let mut rows = Vec::with_capacity(doms.len());
        for dom in &doms {
            let state = match self.c.get_state(dom).await {
                Ok(s) => s.state,
                Err(_) => -1,
            };
            let id = if dom.id < 0 {
                "-".to_string()
            } else {
                dom.id.to_string()
            };
            rows.push(vec![id, dom.name.clone(), state_str(state).to_string()]);
        }
        let t = table(&["Id", "Name", "State"], &rows, !self.quiet);
        self.print(&t);
        Ok(())
    }

    pub(super) async fn uri(&mut self) -> R {
        match &self.target.uri {
            Some(u) => {
                let u = u.clone();
                self.print(&format!("{u}\n"));
                Ok(())
            }
            None => match self.c.get_uri().await {
                Ok(u) => {
                    self.print(&format!("{u}\n"));
                    Ok(())
                }
                Err(e) => self.fail2("failed to get URI".into(), &e),
            },
        }
    }

    pub(super) async fn hostname(&mut self) -> R {
        match self.c.get_hostname().await {
            Ok(h) => {
                self.print(&format!("{h}\n"));
                Ok(())
            }
            Err(e) => self.fail2("failed to get hostname".into(), &e),
        }
    }

    pub(super) async fn capabilities(&mut self) -> R {
        match self.c.get_capabilities().await {
            Ok(x) => {
                // virsh 11.3 prints the document as the daemon sent it.
                self.print(&x);
                Ok(())
            }
            Err(e) => self.fail2("failed to get capabilities".into(), &e),
        }
    }

    pub(super) async fn nodeinfo(&mut self) -> R {
        match self.c.node_get_info().await {
            Ok(n) => {
                let mut s = String::new();
                s += &format!("{:<20} {}\n", "CPU model:", n.model.to_string_lossy());
                s += &format!("{:<20} {}\n", "CPU(s):", n.cpus);
                if n.mhz != 0 {
                    s += &format!("{:<20} {} MHz\n", "CPU frequency:", n.mhz);
                }
                s += &format!("{:<20} {}\n", "CPU socket(s):", n.sockets);
                s += &format!("{:<20} {}\n", "Core(s) per socket:", n.cores);
                s += &format!("{:<20} {}\n", "Thread(s) per core:", n.threads);
                s += &format!("{:<20} {}\n", "NUMA cell(s):", n.nodes);
                s += &format!("{:<20} {} KiB\n", "Memory size:", n.memory);
                self.print(&s);
                Ok(())
            }
            Err(e) => self.fail2("failed to get node information".into(), &e),
        }
    }

    pub(super) async fn xml_to_native(&mut self, format: &str, file: &str) -> R {
        let xml = self.read(file)?;
        let r: Result<String, ClientError> = self.c.domain_xml_to_native(format, &xml, 0).await;
        match r {
            Ok(s) => {
                self.print(&s);
                Ok(())
            }
            Err(e) => self.fail1(&e),
        }
    }
}
