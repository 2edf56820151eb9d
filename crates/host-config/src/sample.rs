//! A commented sample qemu.conf for packaging and documentation.

/// A qemu.conf in which every setting rvirt reads is present but commented
/// out, showing its default. Parsing it gives [`crate::HostConfig::default`].
///
/// Lines of the form `#key = value` show a default; removing the `#` leaves
/// the behaviour unchanged. Keys whose default is "not set" are shown as
/// `# key = …` examples instead.
pub fn sample() -> &'static str {
    SAMPLE
}

const SAMPLE: &str = r#"# qemu.conf for rvirt, a drop-in for libvirt's QEMU driver daemon.
#
# Syntax: one "name = value" per line (or separated by ';'). Values are
# quoted strings ("..." or '...', or """...""" across lines; there are no
# escape sequences), whole numbers, or [ lists, ] that may span lines.
# On/off settings are written 0 or 1. If a key appears twice, the first
# one counts. Keys rvirt does not use are reported and otherwise ignored.

# --- Who QEMU runs as --------------------------------------------------------
#
# Account and group for QEMU processes. A name is looked up as a name first,
# even if it is all digits; put '+' in front to give a numeric id ("+0" is
# root). When the host has a "kvm" group, QEMU is also added to it.
#user = "rvirt-qemu"
#group = "rvirt-qemu"

# Hand disk images and other guest files to the account above while the
# guest runs (1), or leave ownership alone (0).
#dynamic_ownership = 1

# Record the owner a file had before rvirt changed it, and give it back
# when the guest stops.
#remember_owner = 1

# --- Confinement -------------------------------------------------------------
#
# Security drivers to use, from "selinux" and "dac". When this is not set,
# rvirt uses what the host supports. "none" (or an empty list) turns
# confinement off. Examples:
# security_driver = "selinux"
# security_driver = [ "selinux", "dac" ]

# Confine guests that do not ask for anything in particular.
#security_default_confined = 1

# Refuse to start guests that ask to run unconfined.
#security_require_confined = 0

# Namespaces to start QEMU in. "mount" gives each guest its own /dev with
# only the devices it needs. An empty list turns this off.
#namespaces = [ "mount" ]

# QEMU's seccomp sandbox: 1 on, 0 off, -1 whatever QEMU itself defaults to
# (which is also on).
#seccomp_sandbox = 1

# Restrict QEMU further with Landlock where the kernel supports it.
# This key is rvirt's own; libvirt does not have it.
#landlock = 1

# --- Control groups ----------------------------------------------------------
#
# Controllers rvirt may use for guests. Known names: cpu, cpuacct, cpuset,
# memory, devices, freezer, blkio, net_cls, perf_event, name=systemd.
#cgroup_controllers = [ "cpu", "devices", "memory", "blkio", "cpuset", "cpuacct" ]

# Device nodes every guest may open. Each must be an absolute path.
#cgroup_device_acl = [
#    "/dev/null", "/dev/full", "/dev/zero",
#    "/dev/random", "/dev/urandom",
#    "/dev/ptmx", "/dev/kvm",
#]

# --- Memory ------------------------------------------------------------------
#
# Where hugetlbfs is mounted. When not set, rvirt finds the mounts itself;
# "" turns huge page backing off. One path or a list of absolute paths:
# hugetlbfs_mount = "/dev/hugepages"
# hugetlbfs_mount = [ "/dev/hugepages2M", "/dev/hugepages1G" ]

# Directory for file-backed guest RAM. When not set, rvirt picks one.
# memory_backing_dir = "/var/lib/rvirt/qemu/ram"

# --- QEMU behaviour ----------------------------------------------------------
#
# What QEMU should do when a guest uses a deprecated feature: "none" (just
# run), "omit" (hide deprecated things), "reject" (fail the request) or
# "crash" (stop QEMU; for testing only).
#deprecation_behavior = "none"

# Put a timestamp in front of lines in each guest's QEMU log.
#log_timestamp = 1
"#;
