//! host-config
