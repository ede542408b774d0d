//! Deterministic synthetic sources: a chirping tone and a moving, stamped test pattern.
//!
//! Neither reads a clock: the caller paces them and passes the capture timestamp of each frame.

use crate::frame::{AudioFrame, VideoFrame, SAMPLES_PER_FRAME, SAMPLE_RATE};
use crate::stamp::{band_height, write_stamp};

/// A tone sweeping up and down between two frequencies (a slow chirp) at a fixed level.
///
/// The default is 300 → 900 → 300 Hz over 2 s at amplitude 8192 (about −12 dBFS), which Opus codes
/// well and which gives a steady, clearly non-zero `level()`.
#[derive(Debug, Clone)]
pub struct SyntheticAudio {
    amplitude: f64,
    low_hz: f64,
    high_hz: f64,
    sweep_samples: u64,
    sample_index: u64,
    phase: f64,
}

impl Default for SyntheticAudio {
    fn default() -> Self {
        SyntheticAudio::new(8192, 300.0, 900.0, 2.0)
    }
}

impl SyntheticAudio {
    /// A chirp between `low_hz` and `high_hz` and back every `period_s` seconds, peak `amplitude`.
    /// Equal frequencies give a plain tone. Non-finite or out-of-range values are clamped.
    pub fn new(amplitude: i16, low_hz: f64, high_hz: f64, period_s: f64) -> SyntheticAudio {
        let nyquist = f64::from(SAMPLE_RATE) / 2.0 - 1.0;
        let clamp_hz = |f: f64| {
            if f.is_finite() {
                f.clamp(1.0, nyquist)
            } else {
                440.0
            }
        };
        let period = if period_s.is_finite() {
            period_s.clamp(0.04, 3600.0)
        } else {
            2.0
        };
        SyntheticAudio {
            amplitude: f64::from(amplitude.unsigned_abs().min(i16::MAX as u16)),
            low_hz: clamp_hz(low_hz),
            high_hz: clamp_hz(high_hz),
            sweep_samples: (period * f64::from(SAMPLE_RATE)) as u64,
            sample_index: 0,
            phase: 0.0,
        }
    }

    /// The next 20 ms frame, stamped with `capture_us`.
    pub fn next_frame(&mut self, capture_us: u64) -> AudioFrame {
        let mut samples = Vec::with_capacity(SAMPLES_PER_FRAME);
        let half = (self.sweep_samples / 2).max(1) as f64;
        for _ in 0..SAMPLES_PER_FRAME {
            let pos = (self.sample_index % self.sweep_samples.max(1)) as f64;
            // Triangle sweep 0 → 1 → 0 over one period.
            let t = if pos < half {
                pos / half
            } else {
                2.0 - pos / half
            };
            let freq = self.low_hz + (self.high_hz - self.low_hz) * t;
            self.phase += std::f64::consts::TAU * freq / f64::from(SAMPLE_RATE);
            if self.phase > std::f64::consts::TAU {
                self.phase -= std::f64::consts::TAU;
            }
            samples.push((self.amplitude * self.phase.sin()).round() as i16);
            self.sample_index += 1;
        }
        AudioFrame {
            samples,
            capture_us,
        }
    }
}

/// A moving test pattern (scrolling diagonal bars, a bouncing box, drifting colours) whose every frame
/// carries its frame number and capture timestamp in a band at the top (see [`crate::read_stamp`]).
#[derive(Debug, Clone)]
pub struct SyntheticVideo {
    width: u32,
    height: u32,
    frame_no: u64,
}

impl Default for SyntheticVideo {
    fn default() -> Self {
        SyntheticVideo::new(640, 360)
    }
}

impl SyntheticVideo {
    /// A source of `width`×`height` frames (rounded up to even; at least 160×64 so the stamp fits).
    pub fn new(width: u32, height: u32) -> SyntheticVideo {
        SyntheticVideo {
            width: (width.max(160) + 1) & !1,
            height: (height.max(64) + 1) & !1,
            frame_no: 0,
        }
    }

    /// Frame size `(width, height)`.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The frame number the next call to [`SyntheticVideo::next_frame`] will carry.
    pub fn next_frame_no(&self) -> u64 {
        self.frame_no
    }

    /// The next frame, stamped with its frame number (counting from 0) and `capture_us`.
    pub fn next_frame(&mut self, capture_us: u64) -> VideoFrame {
        let n = self.frame_no;
        self.frame_no += 1;
        let (w, h) = (self.width as usize, self.height as usize);
        let mut frame = VideoFrame::filled(self.width, self.height, 16, 128, 128);
        frame.frame_no = n;
        frame.capture_us = capture_us;
        let band = band_height(self.width, self.height) as usize;
        let shift = (n * 4) as usize;
        // Bouncing box: 64 px square moving 6 px/frame horizontally and 4 px/frame vertically.
        let box_size = 64usize.min(w / 4).min((h - band) / 2).max(1);
        let bx = bounce(n * 6, w - box_size);
        let by = band + bounce(n * 4, h - band - box_size);
        for row in band..h {
            let line = &mut frame.y[row * w..(row + 1) * w];
            for (x, p) in line.iter_mut().enumerate() {
                let inside_box =
                    (bx..bx + box_size).contains(&x) && (by..by + box_size).contains(&row);
                *p = if inside_box {
                    235
                } else {
                    // Diagonal bars, 32 px period, scrolling 4 px/frame.
                    let d = (x + row + shift) % 64;
                    let tri = if d < 32 { d } else { 63 - d };
                    40 + (tri * 4) as u8
                };
            }
        }
        let (cw, ch) = (frame.chroma_width(), frame.chroma_height());
        for row in band.div_ceil(2)..ch {
            for x in 0..cw {
                let i = row * cw + x;
                frame.u[i] = (64 + (x * 128 / cw + n as usize) % 128) as u8;
                frame.v[i] = (64 + (row * 128 / ch + 2 * n as usize) % 128) as u8;
            }
        }
        write_stamp(&mut frame, n, capture_us);
        frame
    }
}

/// Position bouncing between 0 and `max` as `travel` grows.
fn bounce(travel: u64, max: usize) -> usize {
    if max == 0 {
        return 0;
    }
    let period = 2 * max as u64;
    let p = (travel % period) as usize;
    if p <= max {
        p
    } else {
        2 * max - p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::read_stamp;

    #[test]
    fn audio_frames_are_full_deterministic_and_loud() {
        let mut a = SyntheticAudio::default();
        let mut b = SyntheticAudio::default();
        for i in 0..100u64 {
            let fa = a.next_frame(i * 20_000);
            let fb = b.next_frame(i * 20_000);
            assert_eq!(fa, fb);
            assert_eq!(fa.samples.len(), SAMPLES_PER_FRAME);
            assert_eq!(fa.capture_us, i * 20_000);
            let peak = fa
                .samples
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap_or(0);
            assert!(peak > 7000 && peak <= 8192, "peak {peak}");
        }
    }

    #[test]
    fn odd_audio_parameters_are_clamped() {
        let mut a = SyntheticAudio::new(i16::MIN, f64::NAN, 1e9, -1.0);
        let f = a.next_frame(0);
        assert_eq!(f.samples.len(), SAMPLES_PER_FRAME);
    }

    #[test]
    fn video_frames_move_and_carry_stamps() {
        let mut v = SyntheticVideo::default();
        let f0 = v.next_frame(1_000);
        let f1 = v.next_frame(34_333);
        f0.validate().unwrap();
        assert_eq!((f0.width, f0.height), (640, 360));
        assert_ne!(f0.y[100 * 640..], f1.y[100 * 640..]);
        assert_eq!(read_stamp(&f0), Some((0, 1_000)));
        assert_eq!(read_stamp(&f1), Some((1, 34_333)));
        assert_eq!((f1.frame_no, f1.capture_us), (1, 34_333));
        assert_eq!(v.next_frame_no(), 2);
    }

    #[test]
    fn small_and_odd_sizes_work() {
        for (w, h) in [(1, 1), (321, 181), (160, 64)] {
            let mut v = SyntheticVideo::new(w, h);
            for i in 0..50 {
                let f = v.next_frame(i);
                f.validate().unwrap();
                assert_eq!(read_stamp(&f), Some((i, i)), "{w}x{h}");
            }
        }
    }
}
