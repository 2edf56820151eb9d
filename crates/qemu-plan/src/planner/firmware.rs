//! UEFI pflash units as libvirt 11.3 gives them to QEMU: the code image as a
//! `file` node under a read-only format node; a raw variable store as one
//! writable `file` node used directly (no format layer), a qcow2 one as a `file`
//! node under a `qcow2` format node without backing.

use super::state::Planner;
use crate::json::Obj;

/// The node `-machine pflashN=` names for a unit in `format`.
pub(super) fn pflash_node(unit: u8, format: &str) -> String {
    if unit == 1 && format == "raw" {
        format!("libvirt-pflash{unit}-storage")
    } else {
        format!("libvirt-pflash{unit}-format")
    }
}

impl Planner<'_> {
    /// The `-blockdev` nodes of pflash unit `unit` (0 code, 1 variables).
    pub(super) fn pflash_unit(&mut self, unit: u8, path: &str, format: &str, readonly: bool) {
        let storage = format!("libvirt-pflash{unit}-storage");
        let mut file = Obj::new()
            .with("driver", "file")
            .with("filename", path)
            .with("node-name", storage.as_str());
        let direct = pflash_node(unit, format) == storage;
        if direct {
            file = file.with("read-only", readonly);
        } else {
            file = file.with("auto-read-only", true).with("discard", "unmap");
        }
        self.arg2("-blockdev", file.to_json());
        if direct {
            return;
        }
        let mut fmt = Obj::new()
            .with("node-name", format!("libvirt-pflash{unit}-format"))
            .with("read-only", readonly)
            .with("driver", format)
            .with("file", storage.as_str());
        if format == "qcow2" {
            fmt = fmt.with("backing", crate::json::Json::Null);
        }
        self.arg2("-blockdev", fmt.to_json());
    }
}
