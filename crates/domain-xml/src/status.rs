//! The status file of a running domain: `<domstatus>` wrapping what the daemon needs
//! to find QEMU again after a restart, and the live `<domain>`.

use crate::model::Domain;
use crate::xml::{El, ParseError, RawElement, XmlWriter};
use crate::{Parsed, parse_document};

/// libvirt's layout: state/reason/pid on the root, then taints, monitor, namespaces,
/// private directories, then the live definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainStatus {
    pub state: String,
    pub reason: String,
    pub pid: u32,
    pub taints: Vec<String>,
    pub monitor_path: String,
    /// The domain runs in its own mount namespace (`<namespaces><mount/></namespaces>`).
    pub mount_namespace: bool,
    pub lib_dir: Option<String>,
    /// Daemon-private records (rvirt's own elements), kept verbatim so that a newer
    /// daemon's additions survive an older reader.
    pub private: Vec<RawElement>,
    pub domain: Domain,
}

impl DomainStatus {
    pub fn parse(text: &str) -> Result<Parsed<DomainStatus>, ParseError> {
        parse_document(text, read)
    }

    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.start("domstatus")
            .attr("state", &self.state)
            .attr("reason", &self.reason)
            .attr("pid", self.pid);
        for t in &self.taints {
            w.start("taint").attr("flag", t);
            w.end();
        }
        w.start("monitor")
            .attr("path", &self.monitor_path)
            .attr("type", "unix");
        w.end();
        if self.mount_namespace {
            w.start("namespaces");
            w.empty("mount");
            w.end();
        }
        if let Some(d) = &self.lib_dir {
            w.start("libDir").attr("path", d);
            w.end();
        }
        for p in &self.private {
            w.raw(p);
        }
        self.domain.write(&mut w);
        w.end();
        w.finish()
    }
}

fn read(el: El<'_, '_>) -> Result<DomainStatus, ParseError> {
    if el.name() != "domstatus" {
        return Err(el.err(format!("expected <domstatus>, found <{}>", el.name())));
    }
    let state = el.req_attr("state")?.to_owned();
    let reason = el.attr("reason").unwrap_or("unknown").to_owned();
    let pid = el
        .attr_parse::<u32>("pid", "a process id")?
        .ok_or_else(|| el.err("<domstatus> needs a 'pid'"))?;
    let mut taints = Vec::new();
    for t in el.children("taint") {
        taints.push(t.req_attr("flag")?.to_owned());
        t.done()?;
    }
    let m = el
        .child("monitor")
        .ok_or_else(|| el.err("<domstatus> needs a <monitor path=...>"))?;
    let monitor_path = m.req_attr("path")?.to_owned();
    m.attr("type");
    m.done()?;
    let mount_namespace = match el.child("namespaces") {
        Some(n) => {
            let mount = n.child("mount");
            let has = mount.is_some();
            if let Some(mt) = mount {
                mt.done()?;
            }
            n.done()?;
            has
        }
        None => false,
    };
    let lib_dir = match el.child("libDir") {
        Some(l) => {
            let p = l.req_attr("path")?.to_owned();
            l.done()?;
            Some(p)
        }
        None => None,
    };
    let d = el
        .child("domain")
        .ok_or_else(|| el.err("<domstatus> needs the live <domain>"))?;
    let domain = Domain::read(d, &mut || uuid::Uuid::nil())?;
    let private = el.take_raw_children();
    el.finish();
    Ok(DomainStatus {
        state,
        reason,
        pid,
        taints,
        monitor_path,
        mount_namespace,
        lib_dir,
        private,
        domain,
    })
}
