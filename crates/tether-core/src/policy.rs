//! The reconnect probe schedule as a pure function.

use std::time::Duration;

use crate::config::Growth;
use crate::ProbePolicy;

/// The gap after attempt `attempt` (from 1) before the next one starts.
/// `unit` is a uniform random number in `[0, 1)` supplied by the caller.
pub fn probe_delay(policy: &ProbePolicy, attempt: u32, unit: f64) -> Duration {
    let factor = match policy.growth {
        Growth::Doubling => 1u32 << attempt.saturating_sub(1).min(20),
        Growth::Quadratic => {
            let n = attempt.clamp(1, 1 << 15);
            n * n
        }
    };
    let grown = policy.base.saturating_mul(factor);
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
    fn quadratic_growth_gives_the_common_sfu_client_schedule() {
        let p = ProbePolicy::sfu_client_default();
        let gaps: Vec<u64> = (1..=8)
            .map(|n| probe_delay(&p, n, 0.7).as_millis() as u64)
            .collect();
        // No jitter: `unit` changes nothing. Attempt 1 starts at once; then
        // 0.3, 1.2, 2.7, 4.8 s, then the 7 s cap.
        assert_eq!(gaps, [300, 1200, 2700, 4800, 7000, 7000, 7000, 7000]);
        assert_eq!(probe_delay(&p, u32::MAX, 0.0), Duration::from_secs(7));
        assert_eq!(probe_delay(&p, 0, 0.0), Duration::from_millis(300));
    }

    #[test]
    fn quadratic_growth_respects_jitter_and_cap() {
        let p = ProbePolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            jitter: 1.0,
            growth: Growth::Quadratic,
        };
        assert_eq!(probe_delay(&p, 2, 0.0), Duration::from_millis(400));
        assert_eq!(probe_delay(&p, 2, 0.5), Duration::from_millis(200));
        assert_eq!(probe_delay(&p, 4, 0.0), Duration::from_millis(1000));
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
