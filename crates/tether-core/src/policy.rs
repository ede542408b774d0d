//! The reconnect probe schedule as a pure function.

use std::time::Duration;

use crate::ProbePolicy;

/// The gap after attempt `attempt` (from 1) before the next one starts.
/// `unit` is a uniform random number in `[0, 1)` supplied by the caller.
pub fn probe_delay(policy: &ProbePolicy, attempt: u32, unit: f64) -> Duration {
    let shift = attempt.saturating_sub(1).min(20);
    let grown = policy.base.saturating_mul(1u32 << shift);
    let ceiling = grown.min(policy.max);
    let jitter = policy.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
    ceiling.mul_f64(1.0 - jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let p = ProbePolicy::default();
        assert_eq!(probe_delay(&p, 1, 0.0), Duration::from_millis(100));
        assert_eq!(probe_delay(&p, 2, 0.0), Duration::from_millis(200));
        assert_eq!(probe_delay(&p, 3, 0.0), Duration::from_millis(400));
        assert_eq!(probe_delay(&p, 4, 0.0), Duration::from_millis(600));
        assert_eq!(probe_delay(&p, 4000, 0.0), Duration::from_millis(600));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let p = ProbePolicy::default();
        for attempt in 1..50 {
            for i in 0..100 {
                let unit = f64::from(i) / 100.0;
                let d = probe_delay(&p, attempt, unit);
                let ceiling = probe_delay(&p, attempt, 0.0);
                assert!(d <= ceiling);
                assert!(d >= ceiling.mul_f64(0.5), "{d:?} {ceiling:?}");
                assert!(d <= p.max);
            }
        }
    }
}
