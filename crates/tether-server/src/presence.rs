//! The presence timer: one task that sleeps until the earliest session
//! deadline (stale, timeout, token expiry), applies what is due, and is woken
//! early when a new deadline may come sooner (mini-redis style).

use std::sync::Arc;

use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// Run until `shutdown`. Deadlines fire within the timer's resolution (≈1 ms)
/// of when they are due, not on a periodic sweep.
pub(crate) async fn run(hub: Arc<Hub>, shutdown: CancellationToken) {
    loop {
        let next = hub.run_timers(Instant::now());
        let sleep = async {
            match next {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = hub.wake.notified() => {}
            () = sleep => {}
        }
    }
}
