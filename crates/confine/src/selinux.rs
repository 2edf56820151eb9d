//! selinux (in progress)
