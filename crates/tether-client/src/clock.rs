//! Turning the session's monotonic instants into Unix milliseconds.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Maps instants to wall-clock time, anchored once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    instant: Instant,
    unix_ms: u64,
}

impl WallClock {
    pub(crate) fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix_ms: unix_ms(),
        }
    }

    pub(crate) fn to_unix_ms(self, t: Instant) -> u64 {
        if t >= self.instant {
            let ahead = u64::try_from(t.duration_since(self.instant).as_millis()).unwrap_or(0);
            self.unix_ms.saturating_add(ahead)
        } else {
            let behind = u64::try_from(self.instant.duration_since(t).as_millis()).unwrap_or(0);
            self.unix_ms.saturating_sub(behind)
        }
    }
}
