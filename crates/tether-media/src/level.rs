//! Audio level for `volume-indicator`: RMS in dBFS mapped onto 0–100.

/// dBFS that maps to level 0; anything quieter is 0 too.
pub const LEVEL_FLOOR_DBFS: f64 = -60.0;

/// Level of a block of samples, 0–100: RMS in dBFS, with [`LEVEL_FLOOR_DBFS`] → 0 and 0 dBFS → 100,
/// linear in between. A full-scale sine (−3 dBFS RMS) gives 95; the synthetic tone (−15 dBFS RMS)
/// gives 75; digital silence or an empty slice gives 0.
pub fn level(samples: &[i16]) -> u8 {
    if samples.is_empty() {
        return 0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32768.0;
    if rms <= 0.0 {
        return 0;
    }
    let dbfs = 20.0 * rms.log10();
    ((dbfs - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS * 100.0)
        .round()
        .clamp(0.0, 100.0) as u8
}

/// Peak level over a reporting period, for a `volume-indicator` every few hundred ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelMeter {
    peak: u8,
}

impl LevelMeter {
    /// A meter at 0.
    pub fn new() -> LevelMeter {
        LevelMeter::default()
    }

    /// Adds one frame; returns that frame's level.
    pub fn push(&mut self, samples: &[i16]) -> u8 {
        let l = level(samples);
        self.peak = self.peak.max(l);
        l
    }

    /// The highest frame level since the last `take`, and starts a new period.
    pub fn take(&mut self) -> u8 {
        std::mem::take(&mut self.peak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_keeps_the_peak_per_period() {
        let mut m = LevelMeter::new();
        assert_eq!(m.push(&sine(8192.0)), m.push(&sine(8192.0)));
        m.push(&[0; 960]);
        let peak = m.take();
        assert!((73..=77).contains(&peak));
        assert_eq!(m.take(), 0);
    }

    fn sine(amplitude: f64) -> Vec<i16> {
        (0..960)
            .map(|i| (amplitude * (i as f64 * 0.0573).sin()).round() as i16)
            .collect()
    }

    #[test]
    fn silence_is_zero() {
        assert_eq!(level(&[]), 0);
        assert_eq!(level(&[0; 960]), 0);
        assert_eq!(level(&[1; 960]), 0);
    }

    #[test]
    fn full_scale_is_near_100() {
        assert_eq!(level(&[i16::MIN; 960]), 100);
        assert_eq!(level(&[i16::MAX; 960]), 100);
        let l = level(&sine(32767.0));
        assert!((94..=96).contains(&l), "{l}");
    }

    #[test]
    fn monotonic_in_amplitude() {
        let levels: Vec<u8> = [30.0, 300.0, 3000.0, 8192.0, 30000.0]
            .iter()
            .map(|&a| level(&sine(a)))
            .collect();
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
        let l = level(&sine(8192.0));
        assert!((73..=77).contains(&l), "{l}");
    }
}
