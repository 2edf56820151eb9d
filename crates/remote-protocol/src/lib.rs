//! remote-protocol (in progress)
