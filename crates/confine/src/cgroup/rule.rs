//! Device ACL rules, defined once in `launch-spec` (the planner makes them, the cgroup
//! drivers load them).

pub use launch_spec::{DeviceKind, DeviceRule};
