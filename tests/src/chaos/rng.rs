//! A tiny seeded xorshift64* generator: the soak's schedule is reproducible
//! from the printed seed, with no dependency.

/// xorshift64* (Vigna). Not for anything but test schedules.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        // One splitmix64 step so that nearby seeds give unrelated sequences.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }

    /// A seed from `TETHER_CHAOS_SEED` if set, else from the clock and pid.
    pub fn seed_from_env() -> u64 {
        if let Some(s) = std::env::var("TETHER_CHAOS_SEED")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return s;
        }
        (crate::unix_ms() as u64) ^ (u64::from(std::process::id()) << 32)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi` (slightly biased for huge ranges; fine here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent` %.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 99) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        assert!(!items.is_empty(), "pick from an empty slice");
        let i = self.range(0, items.len() as u64 - 1) as usize;
        &items[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let sa: Vec<u64> = (0..100).map(|_| a.range(3, 9)).collect();
        let sb: Vec<u64> = (0..100).map(|_| b.range(3, 9)).collect();
        assert_eq!(sa, sb);
        assert!(sa.iter().all(|v| (3..=9).contains(v)));
        assert!((3..=9).all(|v| sa.contains(&v)), "{sa:?}");
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
