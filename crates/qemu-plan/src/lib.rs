//! qemu-plan
