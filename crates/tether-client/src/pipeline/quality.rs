//! Network quality as the SPEC's 0–6 scale, from receive statistics.

/// Quality from the loss fraction (0..1) and jitter (ms) seen over the last
/// interval, and whether any packet arrived in it.
///
/// | value | meaning | when |
/// |---|---|---|
/// | 0 | unknown | no statistics yet |
/// | 1 | excellent | loss < 1 % and jitter < 30 ms |
/// | 2 | good | loss < 3 % and jitter < 60 ms |
/// | 3 | poor | loss < 8 % and jitter < 120 ms |
/// | 4 | bad | loss < 15 % |
/// | 5 | very bad | loss ≥ 15 % |
/// | 6 | down | nothing arrived in the interval |
pub fn network_quality(loss: Option<f64>, jitter_ms: f64, packets_arrived: bool) -> u8 {
    let Some(loss) = loss else {
        return 0;
    };
    if !packets_arrived {
        return 6;
    }
    match (loss, jitter_ms) {
        (l, j) if l < 0.01 && j < 30.0 => 1,
        (l, j) if l < 0.03 && j < 60.0 => 2,
        (l, j) if l < 0.08 && j < 120.0 => 3,
        (l, _) if l < 0.15 => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale() {
        assert_eq!(network_quality(None, 0.0, false), 0);
        assert_eq!(network_quality(Some(0.0), 5.0, true), 1);
        assert_eq!(network_quality(Some(0.02), 5.0, true), 2);
        assert_eq!(network_quality(Some(0.0), 50.0, true), 2);
        assert_eq!(network_quality(Some(0.05), 5.0, true), 3);
        assert_eq!(network_quality(Some(0.10), 5.0, true), 4);
        assert_eq!(network_quality(Some(0.20), 5.0, true), 5);
        assert_eq!(network_quality(Some(0.0), 0.0, false), 6);
    }
}
