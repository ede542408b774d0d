//! Video bitrate policy: the next target from RTCP loss and RTT. A pure function, called about once
//! per receiver report (≈1 s).

/// Lowest target the policy returns, in kbps.
pub const POLICY_MIN_KBPS: u32 = 150;
/// Highest target the policy returns, in kbps.
pub const POLICY_MAX_KBPS: u32 = 1500;
/// Above this loss fraction the bitrate backs off.
pub const BACKOFF_LOSS: f64 = 0.10;
/// Below this loss fraction the bitrate may grow.
pub const GROW_LOSS: f64 = 0.02;
/// At or above this round-trip time the bitrate does not grow (queues are probably building).
pub const HIGH_RTT_MS: u32 = 400;
/// Growth per call when the network looks clean: +8 % (and at least +10 kbps).
const GROW_FACTOR: f64 = 1.08;
const GROW_MIN_KBPS: f64 = 10.0;

/// The next video target bitrate in kbps, loss-based as in Google Congestion Control's loss
/// controller:
/// - loss above 10 %: multiply by `1 − loss/2` (20 % loss → ×0.9, 50 % → ×0.75);
/// - loss 2–10 %: hold;
/// - loss below 2 %: grow by 8 % (at least 10 kbps) unless RTT ≥ 400 ms, then hold.
///
/// The result is clamped to [[`POLICY_MIN_KBPS`], [`POLICY_MAX_KBPS`]]. A loss that is not a number
/// holds the current rate; loss outside 0–1 is clamped.
pub fn next_bitrate(current_kbps: u32, loss_fraction: f64, rtt_ms: u32) -> u32 {
    let current = f64::from(current_kbps.clamp(POLICY_MIN_KBPS, POLICY_MAX_KBPS));
    let next = if loss_fraction.is_nan() {
        current
    } else {
        let loss = loss_fraction.clamp(0.0, 1.0);
        if loss > BACKOFF_LOSS {
            current * (1.0 - loss / 2.0)
        } else if loss >= GROW_LOSS || rtt_ms >= HIGH_RTT_MS {
            current
        } else {
            (current * GROW_FACTOR).max(current + GROW_MIN_KBPS)
        }
    };
    (next.round() as u32).clamp(POLICY_MIN_KBPS, POLICY_MAX_KBPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_multiplicatively_above_ten_percent() {
        assert_eq!(next_bitrate(1000, 0.20, 50), 900);
        assert_eq!(next_bitrate(1000, 0.50, 50), 750);
        assert_eq!(next_bitrate(1000, 1.0, 50), 500);
        // Sustained 20 % loss reaches the floor and stays there.
        let mut rate = 1500;
        for _ in 0..40 {
            rate = next_bitrate(rate, 0.2, 80);
        }
        assert_eq!(rate, POLICY_MIN_KBPS);
    }

    #[test]
    fn holds_between_two_and_ten_percent() {
        for loss in [0.02, 0.05, 0.10] {
            assert_eq!(next_bitrate(700, loss, 30), 700, "loss {loss}");
        }
    }

    #[test]
    fn grows_slowly_when_clean_unless_rtt_is_high() {
        assert_eq!(next_bitrate(1000, 0.0, 30), 1080);
        assert_eq!(next_bitrate(150, 0.01, 30), 162);
        assert_eq!(next_bitrate(1000, 0.0, HIGH_RTT_MS), 1000);
        // From the floor to the ceiling takes about half a minute of clean reports.
        let mut rate = POLICY_MIN_KBPS;
        let mut steps = 0;
        while rate < POLICY_MAX_KBPS {
            rate = next_bitrate(rate, 0.0, 20);
            steps += 1;
        }
        assert!((25..=35).contains(&steps), "{steps}");
        assert_eq!(next_bitrate(rate, 0.0, 20), POLICY_MAX_KBPS);
    }

    #[test]
    fn clamps_odd_inputs() {
        assert_eq!(next_bitrate(0, 0.05, 0), POLICY_MIN_KBPS);
        assert_eq!(next_bitrate(u32::MAX, 0.05, u32::MAX), POLICY_MAX_KBPS);
        assert_eq!(next_bitrate(800, f64::NAN, 10), 800);
        assert_eq!(next_bitrate(800, -1.0, 10), 864);
        assert_eq!(next_bitrate(800, f64::INFINITY, 10), 400);
    }
}
