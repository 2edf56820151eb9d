//! Network interfaces: a `-netdev` backend (user, or a tap the daemon opens)
//! and the NIC `-device`.

use domain_xml::model::devices::{Interface, InterfaceType};

use super::pci::PciDev;
use super::state::Planner;
use crate::json::Obj;
use crate::launch::FdSource;

impl Planner<'_> {
    pub(super) fn nets(&mut self) {
        let dom = self.dom;
        for (i, n) in dom.devices.interfaces.iter().enumerate() {
            self.net(i, n);
        }
    }

    fn net(&mut self, i: usize, n: &Interface) {
        let alias = n.info.alias.clone().unwrap_or_else(|| format!("net{i}"));
        let subject = format!("interface '{alias}'");
        let before = self.problem_count();
        for (what, present) in [
            (
                "<driver><host>/<guest> offloads",
                n.driver_host.is_some() || n.driver_guest.is_some(),
            ),
            ("<link>", n.link_state.is_some()),
            ("<mtu>", n.mtu.is_some()),
            (
                "attributes managed, trustGuestRxFilters",
                !n.attrs.attrs.is_empty(),
            ),
            ("children of <source>", !n.source_children.is_empty()),
            ("<ip>", !n.ips.is_empty()),
            ("<route>", !n.routes.is_empty()),
            ("<bandwidth>", n.bandwidth.is_some()),
            ("<vlan>", n.vlan.is_some()),
            ("<virtualport>", n.virtualport.is_some()),
            ("<coalesce>", n.coalesce_rx_frames.is_some()),
            ("<tune>", n.tune_sndbuf.is_some()),
        ] {
            if present {
                self.problem(&subject, format!("{what} is not supported yet"));
            }
        }
        for (name, _) in &n.leaves {
            self.problem(&subject, format!("<{name}> is not supported yet"));
        }
        let Some(mac) = &n.mac else {
            self.problem(
                &subject,
                "it has no MAC address (one is assigned when the domain is defined)",
            );
            return;
        };
        let model = n.model.as_deref().unwrap_or("rtl8139");
        let driver = match model {
            "virtio" => "virtio-net-pci",
            "e1000" | "e1000e" | "rtl8139" => model,
            other => {
                self.problem(&subject, format!("model '{other}' is not supported yet"));
                return;
            }
        };
        if !self.caps.has_device(driver) {
            self.problem(
                &subject,
                format!("device '{driver}' is not available in {}", self.rt.emulator),
            );
        }
        let netdev_id = format!("hostnet{i}");
        let Some(netdev) = self.netdev(n, &netdev_id, &alias, &subject, before) else {
            return;
        };
        if self.problem_count() > before {
            return;
        }
        let netdev_arg = if self.caps.has_flag(qemu_caps::flags::NETDEV_JSON) {
            netdev.to_json()
        } else {
            netdev.to_opts("type")
        };
        self.arg2("-netdev", netdev_arg);
        let mut props = Obj::new().with("driver", driver);
        self.net_driver_props(n, driver == "virtio-net-pci", &subject, &mut props);
        let props = props
            .with("netdev", netdev_id)
            .with("id", alias)
            .with("mac", mac.as_str())
            .with_opt("bootindex", self.net_boot.get(&i).copied());
        let props = self.pci_props(PciDev::Net(i), props);
        self.device(props);
    }

    /// `<driver>` of a NIC: the virtio-net device properties libvirt sets;
    /// what needs more than a property (vhost, multiqueue, RSS) is refused.
    fn net_driver_props(&mut self, n: &Interface, virtio: bool, subject: &str, props: &mut Obj) {
        let Some(d) = &n.driver else {
            return;
        };
        for (k, v) in &d.attrs {
            let on = v == "on";
            match (k.as_str(), virtio) {
                ("name", _) if v == "qemu" => {}
                ("txmode", true) if v == "iothread" || v == "timer" => {
                    props.set("tx", if v == "iothread" { "bh" } else { "timer" });
                }
                ("ioeventfd", true) | ("event_idx", true) => {
                    props.set(k, on);
                }
                ("rx_queue_size" | "tx_queue_size", true) => match v.parse::<u64>() {
                    Ok(q) => {
                        props.set(k, q);
                    }
                    Err(_) => self.problem(subject, format!("<driver {k}='{v}'> is not a number")),
                },
                ("iommu", true) => {
                    props.set("iommu_platform", on);
                }
                ("ats" | "packed", true) => {
                    props.set(k, on);
                }
                ("page_per_vq", true) => {
                    props.set("page-per-vq", on);
                }
                _ => self.problem(subject, format!("<driver {k}='{v}'> is not supported yet")),
            }
        }
    }

    /// The `-netdev` backend; `None` after a problem (`before` is the
    /// problem count when this interface started).
    fn netdev(
        &mut self,
        n: &Interface,
        netdev_id: &str,
        alias: &str,
        subject: &str,
        before: usize,
    ) -> Option<Obj> {
        match n.if_type {
            InterfaceType::User => {
                if n.source.is_some() || n.target.is_some() {
                    self.problem(subject, "type 'user' takes no <source> or <target>");
                }
                Some(Obj::new().with("type", "user").with("id", netdev_id))
            }
            InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Network => {
                let bridge = if n.if_type == InterfaceType::Network {
                    let net = n
                        .source
                        .as_ref()
                        .and_then(|s| s.get("network"))
                        .unwrap_or_default();
                    let found = self
                        .rt
                        .network_bridges
                        .iter()
                        .find(|(name, _)| name == net)
                        .map(|(_, br)| br.clone());
                    if found.is_none() {
                        self.problem(
                            subject,
                            format!("network '{net}' is not active (no bridge is known for it)"),
                        );
                    }
                    found
                } else {
                    n.source
                        .as_ref()
                        .and_then(|s| s.get("bridge"))
                        .map(str::to_owned)
                };
                let ifname = n
                    .target
                    .as_ref()
                    .and_then(|t| t.get("dev"))
                    .map(str::to_owned);
                if self.problem_count() > before {
                    return None;
                }
                let fd = self.pass_fd(alias, FdSource::Tap { ifname, bridge });
                Some(
                    Obj::new()
                        .with("type", "tap")
                        .with("fd", fd.to_string())
                        .with("id", netdev_id),
                )
            }
            other => {
                self.problem(subject, format!("type '{other}' is not supported yet"));
                None
            }
        }
    }
}
