//! Giving freed heap back to the kernel once the daemon goes quiet. A burst of
//! calls (a thousand defines, a start) leaves glibc's arenas holding freed pages
//! it only returns from the top of each heap; `malloc_trim(0)` returns the free
//! pages everywhere. It runs once per quiet period (a second without calls after
//! some), never while the daemon is busy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Calls seen so far (bumped by the backend on every call).
static ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// Notes that the daemon did something that may have allocated.
pub fn touch() {
    ACTIVITY.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" {
    /// glibc: release free memory from the heap to the system; returns 1 if any was.
    fn malloc_trim(pad: usize) -> i32;
}

fn trim() {
    // SAFETY: malloc_trim only walks and madvises glibc's own free lists under the
    // allocator's locks; it does not touch memory the program owns. rvirtd links
    // glibc (the only target it is built for).
    unsafe {
        malloc_trim(0);
    }
}

/// Runs forever: trims after each quiet second that follows activity.
pub async fn run() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Loading the definitions is activity too.
    let mut seen = u64::MAX;
    let mut trimmed = u64::MAX;
    loop {
        tick.tick().await;
        let now = ACTIVITY.load(Ordering::Relaxed);
        if now == seen && now != trimmed {
            tokio::task::spawn_blocking(trim).await.ok();
            trimmed = now;
        }
        seen = now;
    }
}
