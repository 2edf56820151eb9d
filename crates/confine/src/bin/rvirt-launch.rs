//! The launcher helper (in progress).
fn main() {}
