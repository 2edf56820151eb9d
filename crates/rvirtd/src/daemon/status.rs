//! The status file of a running domain (`run/rvirt/qemu/NAME.xml`): libvirt's
//! `<domstatus>` plus rvirt's private record, written atomically on every
//! transition so a restarted (or crashed) daemon finds every QEMU again and can
//! undo everything done for one that died meanwhile.

use std::path::{Path, PathBuf};

use domain_xml::Domain;
use domain_xml::status::DomainStatus;
use domain_xml::xml::{Pos, RawElement, RawNode};

use confine::cgroup::DeviceRule;

use crate::launch::CleanupRecord;
use crate::states::DomainState;
use crate::store::{self, StoreError};

/// The element holding [`Record`] as JSON.
pub const RECORD_ELEMENT: &str = "rvirtRecord";

/// rvirt's private part of a status file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub id: i32,
    /// `/proc/PID/stat` field 22 of QEMU.
    pub start_time: u64,
    pub cleanup: CleanupRecord,
    pub landlock_abi: Option<u32>,
    pub reboot_is_shutdown: bool,
    /// The guest asked to power off (SHUTDOWN event) before the daemon stopped.
    #[serde(default)]
    pub shutdown_seen: bool,
    /// The Landlock rules QEMU got at start (when Landlock is enforced): a grant
    /// added while it runs must fall inside them.
    #[serde(default)]
    pub landlock_rules: Option<confine::spec::LandlockRules>,
    /// Grants added while QEMU runs, with what each changed.
    #[serde(default)]
    pub hotplug: Vec<HotGrant>,
}

/// Everything a status file says.
#[derive(Clone, Debug)]
pub struct Status {
    pub state: DomainState,
    pub pid: u32,
    pub taints: Vec<String>,
    pub monitor_path: PathBuf,
    pub mount_namespace: bool,
    pub lib_dir: Option<PathBuf>,
    pub record: Record,
    pub domain: Domain,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("status file '{path}': {message}")]
    Damaged { path: PathBuf, message: String },
}

impl Status {
    pub fn to_xml(&self) -> String {
        let json = serde_json::to_string(&self.record).unwrap_or_default();
        let record = RawElement {
            ns: None,
            prefix: None,
            name: RECORD_ELEMENT.into(),
            attrs: Vec::new(),
            children: vec![RawNode::Text(json)],
            pos: Pos { line: 0, col: 0 },
        };
        DomainStatus {
            state: self.state.name().into(),
            reason: self.state.reason_name().into(),
            pid: self.pid,
            taints: self.taints.clone(),
            monitor_path: self.monitor_path.to_string_lossy().into_owned(),
            mount_namespace: self.mount_namespace,
            lib_dir: self
                .lib_dir
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            private: vec![record],
            domain: self.domain.clone(),
        }
        .to_xml()
    }

    pub fn parse(path: &Path, text: &str) -> Result<Status, StatusError> {
        let damaged = |message: String| StatusError::Damaged {
            path: path.to_path_buf(),
            message,
        };
        let s = DomainStatus::parse(text)
            .map_err(|e| damaged(e.to_string()))?
            .value;
        let state = DomainState::parse(&s.state, &s.reason)
            .ok_or_else(|| damaged(format!("unknown state '{}'", s.state)))?;
        let raw = s
            .private
            .iter()
            .find(|e| e.name == RECORD_ELEMENT)
            .ok_or_else(|| damaged(format!("no <{RECORD_ELEMENT}>")))?;
        let json: String = raw
            .children
            .iter()
            .filter_map(|c| match c {
                RawNode::Text(t) => Some(t.as_str()),
                RawNode::Element(_) => None,
            })
            .collect();
        let record: Record =
            serde_json::from_str(&json).map_err(|e| damaged(format!("<{RECORD_ELEMENT}>: {e}")))?;
        Ok(Status {
            state,
            pid: s.pid,
            taints: s.taints,
            monitor_path: PathBuf::from(s.monitor_path),
            mount_namespace: s.mount_namespace,
            lib_dir: s.lib_dir.map(PathBuf::from),
            record,
            domain: s.domain,
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        store::replace_file(path, self.to_xml().as_bytes())
    }
}

/// Written before a start changes anything on the host and removed once the status
/// file exists: a daemon killed in between finds what to undo (and the paused QEMU
/// to stop) at its next start.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartJournal {
    pub uuid: String,
    pub name: String,
    pub id: i32,
    pub cleanup: CleanupRecord,
}

/// `NAME.starting` next to the status files.
pub fn journal_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(format!("{name}.starting"))
}

impl StartJournal {
    /// Durable (fsync'd) once it names an owner about to change: that original
    /// owner must outlive anything that happens next. Files QEMU's account owns
    /// already (its private directory, made for it by this start) lose nothing, and
    /// a start with only those skips the two fsyncs.
    pub fn write(&self, state_dir: &Path) -> Result<(), StoreError> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let path = journal_path(state_dir, &self.name);
        let changes_an_owner = self
            .cleanup
            .owners
            .iter()
            .any(|o| o.orig != Some((o.uid, o.gid)));
        if changes_an_owner {
            store::atomic_write(&path, &json)
        } else {
            store::replace_file(&path, &json)
        }
    }
}

/// Best-effort `pid='N'` from a status file too damaged to parse, so its QEMU is
/// never mistaken for gone.
pub fn salvage_pid(text: &str) -> Option<u32> {
    let i = text.find(" pid=")? + 5;
    let rest = &text[i..];
    let q = rest.chars().next()?;
    let rest = &rest[1..];
    let end = rest.find(q)?;
    rest[..end].parse().ok()
}

/// What a grant added to a running domain changed; each part is cleared once
/// undone, so a revoke that failed half-way can be retried without undoing twice.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HotGrant {
    pub path: String,
    pub read_write: bool,
    /// The node made in QEMU's hot-plug directory (with a symlink at `path`).
    pub node: Option<PathBuf>,
    /// The cgroup rule added (the access the ACL did not give already).
    pub cgroup_rule: Option<DeviceRule>,
    /// The file's owner was changed (one item of the domain's DAC cleanup).
    pub owner: bool,
    /// The path the grant resolved to when it was made (whose owner changed).
    #[serde(default)]
    pub real: Option<PathBuf>,
}

impl HotGrant {
    pub(crate) fn is_undone(&self) -> bool {
        self.node.is_none() && self.cgroup_rule.is_none() && !self.owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::states::RunningReason;

    #[test]
    fn round_trip_with_record() {
        let d = domain_xml::parse_domain(
            "<domain type='kvm' id='3'><name>vm</name><memory>1024</memory><os><type>hvm</type></os></domain>",
        )
        .unwrap()
        .value;
        let st = Status {
            state: DomainState::Running(RunningReason::Booted),
            pid: 4321,
            taints: vec!["custom-argv".into()],
            monitor_path: "/r/mon.sock".into(),
            mount_namespace: true,
            lib_dir: Some("/r/lib".into()),
            record: Record {
                id: 3,
                start_time: 99,
                cleanup: CleanupRecord {
                    domain: "vm".into(),
                    cgroup_dirs: vec!["/sys/fs/cgroup/machine/x".into()],
                    owners: vec![crate::launch::OwnerRecord {
                        what: "disk <a&b>".into(),
                        path: "/img".into(),
                        uid: 1,
                        gid: 2,
                        remember: true,
                        orig: Some((7, 8)),
                    }],
                    ..CleanupRecord::default()
                },
                landlock_abi: Some(4),
                reboot_is_shutdown: true,
                shutdown_seen: false,
                landlock_rules: Some(confine::spec::LandlockRules {
                    read: vec!["/usr".into()],
                    read_write: vec!["/dev/.rvirt-hotplug/rw".into()],
                }),
                hotplug: vec![HotGrant {
                    path: "/dev/sdb".into(),
                    read_write: true,
                    node: Some("/dev/.rvirt-hotplug/rw/sdb".into()),
                    cgroup_rule: Some(qemu_plan::DeviceRule::rw(
                        qemu_plan::DeviceKind::Block,
                        Some(8),
                        Some(16),
                    )),
                    owner: true,
                    real: Some("/dev/sdb".into()),
                }],
            },
            domain: d,
        };
        let xml = st.to_xml();
        let back = Status::parse(Path::new("x"), &xml).unwrap();
        assert_eq!(back.record, st.record);
        assert_eq!(back.state, st.state);
        assert_eq!(back.pid, 4321);
        assert_eq!(back.domain.id, Some(3));
        assert!(back.mount_namespace);
        assert_eq!(salvage_pid(&xml), Some(4321));
        assert!(Status::parse(Path::new("x"), &xml[..xml.len() / 2]).is_err());
    }
}
