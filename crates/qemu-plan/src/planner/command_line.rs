//! The command line in libvirt 9.0's order, and what is settled once it is
//! complete: the device ACL and `<qemu:override>`.

use super::state::{Expect, Item, Planner};
use crate::error::Problem;
use crate::json::{Json, Obj};
use crate::launch::{FdSource, PassFd};
use crate::resources::{Access, Provision, Resource, ResourceClass, ResourceKind, SelinuxRole};
use crate::runtime::PathKind;

impl Planner<'_> {
    /// The command line, in libvirt 9.0's order.
    pub(super) fn build(&mut self, machine: &str) {
        let dom = self.dom;
        self.daemon_resources();
        self.arg2(
            "-name",
            format!("guest={},debug-threads=on", dom.name.replace(',', ",,")),
        );
        self.compat();
        self.arg("-S");
        self.master_key();
        self.pflash();
        self.machine_arg(machine);
        self.accel();
        self.cpu();
        self.loader();
        self.memory();
        self.smp();
        self.numa();
        self.iothreads();
        self.arg2("-uuid", dom.uuid.hyphenated().to_string());
        if dom.devices.graphics.is_empty() {
            self.arg2("-display", "none");
        }
        self.arg("-no-user-config");
        self.arg("-nodefaults");
        self.monitor();
        let base = self.rtc_base().unwrap_or_else(|| "utc".into());
        self.clock(&base);
        self.arg("-no-shutdown");
        self.power_management();
        self.boot();
        self.controllers();
        self.hubs();
        self.disks();
        self.filesystems();
        self.nets();
        self.serials();
        self.channels();
        self.consoles();
        self.tpms();
        self.inputs();
        self.audio();
        self.graphics();
        self.videos();
        self.sounds();
        self.watchdogs();
        self.redirdevs();
        self.balloon();
        self.rngs();
        self.hostdevs();
        self.refuse_unplanned_devices();
        for a in &dom.qemu.args {
            self.arg(a.clone());
        }
        self.grants();
        self.sandbox_arg();
        self.panics();
        if self.host.log_timestamp && self.caps.has_option("msg", Some("timestamp")) {
            self.arg2("-msg", "timestamp=on");
        }
    }

    /// What the daemon makes or opens for every domain: the private
    /// directory, the monitor socket and the log.
    fn daemon_resources(&mut self) {
        let rt = self.rt;
        let priv_dir = rt.lib_dir.clone();
        self.push_resource(Resource {
            path: priv_dir,
            kind: ResourceKind::Dir,
            access: Access::ReadWrite,
            origin: "private directory".into(),
            class: ResourceClass::Device,
            provision: Provision::DaemonCreates,
            dac_relabel: self.dac,
            dac_label: None,
            selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
        });
        self.push_resource(Resource {
            path: rt.monitor_socket.clone(),
            kind: ResourceKind::Socket,
            access: Access::ReadWrite,
            origin: "monitor".into(),
            class: ResourceClass::Device,
            provision: Provision::PassedAsFd,
            dac_relabel: false,
            dac_label: None,
            selinux: SelinuxRole::Untouched,
        });
        self.push_resource(Resource {
            path: rt.log_path.clone(),
            kind: ResourceKind::File,
            access: Access::ReadWrite,
            origin: "log".into(),
            class: ResourceClass::Device,
            provision: Provision::PassedAsFd,
            dac_relabel: false,
            dac_label: None,
            selinux: SelinuxRole::Untouched,
        });
    }

    /// The master key secret QEMU decrypts other secrets with.
    fn master_key(&mut self) {
        let rt = self.rt;
        if let Some(key) = &rt.master_key {
            self.push_resource(Resource {
                path: key.clone(),
                kind: ResourceKind::File,
                access: Access::ReadOnly,
                origin: "master key".into(),
                class: ResourceClass::Device,
                provision: Provision::DaemonCreates,
                dac_relabel: self.dac,
                dac_label: None,
                selinux: self.selinux_for(&[], SelinuxRole::Exclusive),
            });
            self.object(
                Obj::new()
                    .with("qom-type", "secret")
                    .with("id", "masterKey0")
                    .with("format", "raw")
                    .with("file", key.as_str()),
            );
        }
    }

    /// A ROM loader (`-bios`); a pflash loader is a `-blockdev` (`pflash`).
    fn loader(&mut self) {
        let dom = self.dom;
        if let Some(l) = &dom.os.loader
            && let Some(path) = &l.path
        {
            if l.attrs.get("secure") == Some("yes") {
                self.arg2("-global", "driver=cfi.pflash01,property=secure,value=on");
            }
            if l.attrs.get("type").unwrap_or("rom") == "rom" {
                // System firmware is shared and read-only: not chowned.
                let se = self.selinux_for(&[], SelinuxRole::ReadOnly);
                self.existing(
                    "loader",
                    "loader",
                    path,
                    Expect::File,
                    Access::ReadOnly,
                    ResourceClass::Device,
                    false,
                    se,
                );
                self.arg2("-bios", path.clone());
            }
        }
    }

    fn iothreads(&mut self) {
        let dom = self.dom;
        if let Some(ids) = &dom.iothreadids {
            for t in &ids.threads {
                if t.attrs.len() > 1 {
                    self.problem(
                        "iothreadids",
                        "<iothread thread_pool_min/max> is not supported yet",
                    );
                }
                let id = t.get("id").unwrap_or_default();
                self.object(
                    Obj::new()
                        .with("qom-type", "iothread")
                        .with("id", format!("iothread{id}")),
                );
            }
            let given = u32::try_from(ids.threads.len()).unwrap_or(u32::MAX);
            // Threads counted by <iothreads> beyond the listed ids get the
            // lowest free ids, as libvirt numbers them.
            let mut next = 1u32;
            for _ in given..dom.iothreads.unwrap_or(0) {
                while ids
                    .threads
                    .iter()
                    .any(|t| t.get("id") == Some(&next.to_string()))
                {
                    next += 1;
                }
                self.object(
                    Obj::new()
                        .with("qom-type", "iothread")
                        .with("id", format!("iothread{next}")),
                );
                next += 1;
            }
        } else if let Some(n) = dom.iothreads {
            for i in 1..=n {
                self.object(
                    Obj::new()
                        .with("qom-type", "iothread")
                        .with("id", format!("iothread{i}")),
                );
            }
        }
    }

    /// The QMP monitor on a listening socket the daemon passes in.
    fn monitor(&mut self) {
        let rt = self.rt;
        self.arg2(
            "-chardev",
            format!(
                "socket,id=charmonitor,fd={},server=on,wait=off",
                rt.monitor_fd
            ),
        );
        self.fds.push(PassFd {
            fd: rt.monitor_fd,
            owner: "monitor".into(),
            source: FdSource::UnixListener {
                path: rt.monitor_socket.clone(),
            },
        });
        self.arg2("-mon", "chardev=charmonitor,id=monitor,mode=control");
    }

    /// `<rvirt:grant>`s: each path enters the one resource list, so the private
    /// `/dev`, the cgroup ACL, DAC, SELinux and Landlock all allow exactly it.
    pub(super) fn grants(&mut self) {
        let dom = self.dom;
        for g in &dom.grants {
            match crate::grants::grant_resource(g, self.rt.host, self.dac, self.selinux) {
                Ok(r) => self.push_resource(r),
                Err(m) => self.problem(format!("grant '{}'", g.path), m),
            }
        }
    }

    /// The `cgroup_device_acl` entries (default list or qemu.conf's), skipping
    /// paths the host lacks as libvirt does.
    pub(super) fn acl_resources(&mut self) {
        for p in &self.host.cgroup_device_acl {
            let path = p.to_string_lossy().into_owned();
            if self.resources.iter().any(|r| r.path == path) {
                continue;
            }
            let kind = match self.rt.host.stat(&path) {
                Some(PathKind::CharDev { major, minor }) => ResourceKind::CharDev { major, minor },
                Some(PathKind::BlockDev { major, minor }) => {
                    ResourceKind::BlockDev { major, minor }
                }
                _ => continue,
            };
            self.push_resource(Resource {
                path,
                kind,
                access: Access::ReadWrite,
                origin: "device ACL".into(),
                class: ResourceClass::DeviceAcl,
                provision: Provision::Exists,
                dac_relabel: false,
                dac_label: None,
                selinux: SelinuxRole::Untouched,
            });
        }
    }

    /// Merges `<qemu:override>` properties into the matching `-device`.
    pub(super) fn apply_overrides(&mut self) {
        use domain_xml::model::qemu_ns::PropertyType as T;
        for ov in &self.dom.qemu.overrides {
            let target = self.items.iter_mut().find_map(|i| match i {
                Item::Device { alias, props } if *alias == ov.alias => Some(props),
                _ => None,
            });
            let Some(props) = target else {
                self.problems.push(Problem {
                    subject: format!("qemu:override for alias '{}'", ov.alias),
                    message: "no device with that alias is on the command line".into(),
                });
                continue;
            };
            for p in &ov.frontend {
                let v = p.value.clone().unwrap_or_default();
                match p.ptype {
                    T::Remove => props.remove(&p.name),
                    T::String => {
                        props.set(&p.name, v);
                    }
                    T::Signed => {
                        props.set(&p.name, Json::Int(v.parse().unwrap_or_default()));
                    }
                    T::Unsigned => {
                        props.set(&p.name, Json::UInt(v.parse().unwrap_or_default()));
                    }
                    T::Bool => {
                        props.set(&p.name, v == "true");
                    }
                }
            }
        }
    }
}
