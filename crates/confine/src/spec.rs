//! The launch vocabulary, defined once in `launch-spec` and shared with the planner.

pub use launch_spec::{DevNode, Identity, LandlockRules, LaunchSpec, NamespaceSpec, NodeKind};
