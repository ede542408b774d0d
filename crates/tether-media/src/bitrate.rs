//! Video bitrate policy: the next target from RTCP loss and RTT. A pure function, called about once
//! per receiver report (≈1 s).

/// Lowest target under ordinary loss, in kbps.
pub const POLICY_MIN_KBPS: u32 = 150;
/// Lowest target under overload (loss above [`OVERLOAD_LOSS`]), in kbps: video beside audio on a
/// 256 kbit/s link. Targets below [`POLICY_MIN_KBPS`] only follow an overload; see
/// [`drops_frames`].
pub const OVERLOAD_MIN_KBPS: u32 = 60;
/// Highest target the policy returns, in kbps.
pub const POLICY_MAX_KBPS: u32 = 1500;
/// Above this loss fraction the bitrate backs off.
pub const BACKOFF_LOSS: f64 = 0.10;
/// Above this loss fraction the link is taken as overloaded (a bandwidth squeeze drops whatever
/// does not fit), not merely lossy: the target goes below what got through. High enough that the
/// one-second reports of a 20 % random loss (which scatter, up to ~35 % seen) do not reach it.
pub const OVERLOAD_LOSS: f64 = 0.40;
/// Below this loss fraction the bitrate may grow.
pub const GROW_LOSS: f64 = 0.02;
/// At or above this round-trip time the bitrate does not grow (queues are probably building).
pub const HIGH_RTT_MS: u32 = 400;
/// Growth per call when the network looks clean: +8 % (and at least +15 kbps).
const GROW_FACTOR: f64 = 1.08;
const GROW_MIN_KBPS: f64 = 15.0;
/// Under overload, the share of what got through to aim for (room for audio, packet overhead and
/// repairs).
const OVERLOAD_HEADROOM: f64 = 0.85;

/// The next video target bitrate in kbps:
/// - loss above 40 %: the link is overloaded; aim at 85 % of what got through,
///   `current × (1 − loss) × 0.85`, down to [`OVERLOAD_MIN_KBPS`] (700 kbps into a 256 kbit/s
///   squeeze, 68 % lost: ~190 kbps in one report instead of creeping down over ten);
/// - loss 10–40 %: GCC's loss controller, multiply by `1 − loss/2` (20 % loss → ×0.9), down to
///   [`POLICY_MIN_KBPS`] (or where an overload left it);
/// - loss 2–10 %: hold;
/// - loss below 2 %: grow by 8 % (at least 15 kbps) unless RTT ≥ 400 ms, then hold.
///
/// The result never exceeds [`POLICY_MAX_KBPS`]. A loss that is not a number holds the current rate;
/// loss outside 0–1 is clamped.
pub fn next_bitrate(current_kbps: u32, loss_fraction: f64, rtt_ms: u32) -> u32 {
    let current = current_kbps.clamp(OVERLOAD_MIN_KBPS, POLICY_MAX_KBPS);
    // Below the ordinary floor only after an overload; from there it only grows back.
    let floor = POLICY_MIN_KBPS.min(current);
    let c = f64::from(current);
    let (next, floor) = if loss_fraction.is_nan() {
        (c, floor)
    } else {
        let loss = loss_fraction.clamp(0.0, 1.0);
        if loss > OVERLOAD_LOSS {
            (c * (1.0 - loss) * OVERLOAD_HEADROOM, OVERLOAD_MIN_KBPS)
        } else if loss > BACKOFF_LOSS {
            (c * (1.0 - loss / 2.0), floor)
        } else if loss >= GROW_LOSS || rtt_ms >= HIGH_RTT_MS {
            (c, floor)
        } else {
            ((c * GROW_FACTOR).max(c + GROW_MIN_KBPS), floor)
        }
    };
    (next.round() as u32).clamp(floor, POLICY_MAX_KBPS)
}

/// Whether the encoder should drop frames to meet `target_kbps`: only below the ordinary floor,
/// i.e. after an overload. A 640×360 picture at 30 fps needs a few hundred kbps however coarsely
/// it is quantised (the synthetic pattern ~270); there a lower frame rate is what gets video
/// through a squeeze at all. Under ordinary loss the frame rate stays whole.
pub fn drops_frames(target_kbps: u32) -> bool {
    target_kbps < POLICY_MIN_KBPS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_multiplicatively_above_ten_percent() {
        assert_eq!(next_bitrate(1000, 0.20, 50), 900);
        assert_eq!(next_bitrate(1000, 0.25, 50), 875);
        assert_eq!(next_bitrate(1000, 0.40, 50), 800);
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
        assert_eq!(next_bitrate(150, 0.01, 30), 165);
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
        // Below every floor reads as "after an overload": held there.
        assert_eq!(next_bitrate(0, 0.05, 0), OVERLOAD_MIN_KBPS);
        assert_eq!(next_bitrate(u32::MAX, 0.05, u32::MAX), POLICY_MAX_KBPS);
        assert_eq!(next_bitrate(800, f64::NAN, 10), 800);
        assert_eq!(next_bitrate(800, -1.0, 10), 864);
        assert_eq!(next_bitrate(800, f64::INFINITY, 10), OVERLOAD_MIN_KBPS);
    }

    #[test]
    fn overload_goes_below_what_got_through_and_frames_drop_only_there() {
        // A 256 kbit/s squeeze under a 700 kbps stream: 68 % lost.
        assert_eq!(next_bitrate(700, 0.68, 50), 190);
        assert_eq!(next_bitrate(1000, 0.50, 50), 425);
        assert_eq!(next_bitrate(1000, 1.0, 50), OVERLOAD_MIN_KBPS);
        assert!(!drops_frames(POLICY_MIN_KBPS));
        assert!(drops_frames(next_bitrate(190, 0.5, 50)));
        // Ordinary loss after an overload does not push further down, nor back up.
        assert_eq!(next_bitrate(80, 0.2, 50), 80);
        assert_eq!(next_bitrate(80, 0.05, 50), 80);
        // Clean reports bring it back above the ordinary floor in 6 reports.
        let mut rate = OVERLOAD_MIN_KBPS;
        let mut steps = 0;
        while drops_frames(rate) {
            rate = next_bitrate(rate, 0.0, 20);
            steps += 1;
        }
        assert_eq!((steps, rate), (6, 150));
        // Ordinary loss alone never goes below the ordinary floor.
        let mut rate = POLICY_MAX_KBPS;
        for i in 0..100 {
            rate = next_bitrate(rate, [0.15, 0.25, 0.35][i % 3], 50);
        }
        assert_eq!(rate, POLICY_MIN_KBPS);
    }
}
