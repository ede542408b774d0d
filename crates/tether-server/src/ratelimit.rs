//! A token bucket: the per-connection message rate limit.

use tokio::time::Instant;

use crate::config::RateLimit;

/// Refills `per_second` tokens a second up to `burst`; each message takes one.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        let burst = f64::from(limit.burst);
        Self {
            tokens: burst,
            burst,
            per_second: limit.per_second,
            last: now,
        }
    }

    /// Take one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 50.0,
            burst: 200,
            close_after_dropped: 2000,
        };
        let mut b = TokenBucket::new(limit, t0);
        assert_eq!((0..300).filter(|_| b.try_take(t0)).count(), 200);
        // 100 ms later: 5 more tokens.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!((0..10).filter(|_| b.try_take(t1)).count(), 5);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..1000).filter(|_| b.try_take(t2)).count(), 200);
    }

    #[test]
    fn steady_client_is_never_limited() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimit::default(), t0);
        for i in 0..10_000u64 {
            // 4 pings a second plus a control message each second.
            let t = t0 + Duration::from_millis(i * 200);
            assert!(b.try_take(t));
        }
    }
}
