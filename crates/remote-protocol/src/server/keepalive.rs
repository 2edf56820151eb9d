//! Server-initiated keepalive: PING an idle client, drop it after
//! [`Keepalive::count`] unanswered PINGs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::api::Keepalive;
use super::conn::Conn;
use crate::frame::{Header, KEEPALIVE_PING};

pub(super) async fn keepalive_task(conn: Arc<Conn>, ka: Keepalive) {
    let mut tick = tokio::time::interval(ka.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !conn.lock().keepalive {
            continue;
        }
        let idle = conn
            .last_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if idle < ka.interval {
            continue;
        }
        if conn.missed_pings.fetch_add(1, Ordering::Relaxed) >= ka.count {
            conn.shutdown.notify_one();
            return;
        }
        conn.send_packet(&Header::keepalive(KEEPALIVE_PING), &[])
            .await;
    }
}
