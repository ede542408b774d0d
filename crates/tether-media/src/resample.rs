//! Sample-format glue between devices and the 48 kHz mono pipeline: down/up-mixing, a streaming
//! linear resampler, and packing into 20 ms frames.

use crate::frame::{AudioFrame, FRAME_DURATION_US, SAMPLES_PER_FRAME};

/// Streaming linear-interpolation resampler for one channel. Good enough for voice between the
/// usual device rates (44.1/48/96 kHz); it has no anti-alias filter.
#[derive(Debug, Clone)]
pub(crate) struct Resampler {
    step: f64,
    pos: f64,
    pending: Vec<f32>,
}

impl Resampler {
    pub(crate) fn new(from_hz: u32, to_hz: u32) -> Resampler {
        Resampler {
            step: f64::from(from_hz.max(1)) / f64::from(to_hz.max(1)),
            pos: 0.0,
            pending: Vec::new(),
        }
    }

    /// Whether input and output rates are equal (then `process` only copies).
    pub(crate) fn is_passthrough(&self) -> bool {
        self.step == 1.0
    }

    /// Appends the resampled version of `input` to `out`.
    pub(crate) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.is_passthrough() {
            out.extend_from_slice(input);
            return;
        }
        self.pending.extend_from_slice(input);
        while self.pos + 1.0 < self.pending.len() as f64 {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            out.push(self.pending[i] * (1.0 - frac) + self.pending[i + 1] * frac);
            self.pos += self.step;
        }
        let consumed = (self.pos as usize).min(self.pending.len());
        self.pending.drain(..consumed);
        self.pos -= consumed as f64;
    }
}

/// Averages interleaved `channels`-channel samples to mono.
pub(crate) fn downmix(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let channels = channels.max(1);
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|c| c.iter().sum::<f32>() / channels as f32),
    );
}

/// Converts a float sample (−1..1) to i16 with saturation.
pub(crate) fn to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Collects mono 48 kHz samples into 20 ms [`AudioFrame`]s stamped from a start time.
#[derive(Debug, Clone)]
pub(crate) struct FramePacker {
    pending: Vec<i16>,
    next_capture_us: u64,
}

impl FramePacker {
    pub(crate) fn new(start_us: u64) -> FramePacker {
        FramePacker {
            pending: Vec::with_capacity(2 * SAMPLES_PER_FRAME),
            next_capture_us: start_us,
        }
    }

    /// Adds samples; calls `emit` for every complete frame.
    pub(crate) fn push(&mut self, samples: &[f32], mut emit: impl FnMut(AudioFrame)) {
        for &s in samples {
            self.pending.push(to_i16(s));
            if self.pending.len() == SAMPLES_PER_FRAME {
                let samples =
                    std::mem::replace(&mut self.pending, Vec::with_capacity(SAMPLES_PER_FRAME));
                emit(AudioFrame {
                    samples,
                    capture_us: self.next_capture_us,
                });
                self.next_capture_us = self.next_capture_us.saturating_add(FRAME_DURATION_US);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_copies() {
        let mut r = Resampler::new(48_000, 48_000);
        let mut out = Vec::new();
        r.process(&[0.1, 0.2, 0.3], &mut out);
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn rate_ratio_is_kept_across_blocks() {
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (96_000, 48_000),
            (16_000, 48_000),
        ] {
            let mut r = Resampler::new(from, to);
            let mut out = Vec::new();
            let block: Vec<f32> = (0..441).map(|i| (i as f32 * 0.01).sin()).collect();
            for _ in 0..100 {
                r.process(&block, &mut out);
            }
            let expected = 441.0 * 100.0 * f64::from(to) / f64::from(from);
            assert!(
                (out.len() as f64 - expected).abs() <= 2.0,
                "{from}->{to}: {} vs {expected}",
                out.len()
            );
        }
    }

    #[test]
    fn interpolates_a_ramp() {
        let mut r = Resampler::new(1, 2);
        let mut out = Vec::new();
        r.process(&[0.0, 1.0, 2.0], &mut out);
        assert_eq!(out, vec![0.0, 0.5, 1.0, 1.5]);
        r.process(&[3.0], &mut out);
        assert_eq!(out, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    }

    #[test]
    fn downmix_and_convert() {
        let mut out = Vec::new();
        downmix(&[1.0, 0.0, -0.5, -0.5, 0.25], 2, &mut out);
        assert_eq!(out, vec![0.5, -0.5]);
        assert_eq!(to_i16(1.5), i16::MAX);
        assert_eq!(to_i16(-1.0), i16::MIN);
        assert_eq!(to_i16(f32::NAN), 0);
    }

    #[test]
    fn packer_emits_stamped_20ms_frames() {
        let mut p = FramePacker::new(1_000);
        let mut frames = Vec::new();
        p.push(&vec![0.5; 2500], |f| frames.push(f));
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].capture_us, 21_000);
        assert!(frames.iter().all(|f| f.samples.len() == SAMPLES_PER_FRAME));
        p.push(&vec![0.5; 420], |f| frames.push(f));
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2].capture_us, 41_000);
    }
}
