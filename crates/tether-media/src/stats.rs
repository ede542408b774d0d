//! Receive-side video statistics from stamped frames, for the client's `media-stats` lines.

use std::collections::VecDeque;

use crate::frame::VideoFrame;
use crate::stamp::read_stamp;

const WINDOW_US: u64 = 1_000_000;

/// A snapshot of [`VideoReceiveStats`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoStatsSnapshot {
    /// Frames decoded since the start.
    pub frames_decoded: u64,
    /// Frames decoded in the last second.
    pub fps: f64,
    /// Highest stamped frame number seen.
    pub last_frame_no: Option<u64>,
    /// Stamped frame numbers skipped (never decoded) so far.
    pub frames_missing: u64,
    /// Stamped frames that arrived with a number at or below one already seen.
    pub out_of_order: u64,
    /// Mean `now − capture time` over the last second's stamped frames, in ms. Meaningful only
    /// when sender and receiver use the same clock (e.g. both pass UNIX-epoch microseconds).
    pub e2e_latency_ms: Option<f64>,
}

/// Counts decoded frames and reads their stamps (see [`crate::SyntheticVideo`]): continuity,
/// frame rate and end-to-end latency. Pure: the caller passes the time.
#[derive(Debug, Clone, Default)]
pub struct VideoReceiveStats {
    frames_decoded: u64,
    last_frame_no: Option<u64>,
    frames_missing: u64,
    out_of_order: u64,
    /// `(decoded at, latency if stamped)` for the last second.
    recent: VecDeque<(u64, Option<u64>)>,
}

impl VideoReceiveStats {
    /// Empty statistics.
    pub fn new() -> VideoReceiveStats {
        VideoReceiveStats::default()
    }

    /// Records a decoded frame at `now_us`; returns its stamp `(frame_no, capture_us)` if it has one.
    pub fn on_decoded(&mut self, frame: &VideoFrame, now_us: u64) -> Option<(u64, u64)> {
        let stamp = read_stamp(frame);
        self.frames_decoded += 1;
        let mut latency = None;
        if let Some((frame_no, capture_us)) = stamp {
            match self.last_frame_no {
                Some(last) if frame_no <= last => self.out_of_order += 1,
                Some(last) => {
                    self.frames_missing += frame_no - last - 1;
                    self.last_frame_no = Some(frame_no);
                }
                None => self.last_frame_no = Some(frame_no),
            }
            latency = Some(now_us.saturating_sub(capture_us));
        }
        self.recent.push_back((now_us, latency));
        self.expire(now_us);
        stamp
    }

    /// The statistics as of `now_us`.
    pub fn snapshot(&mut self, now_us: u64) -> VideoStatsSnapshot {
        self.expire(now_us);
        let latencies: Vec<u64> = self.recent.iter().filter_map(|(_, l)| *l).collect();
        let e2e_latency_ms = (!latencies.is_empty())
            .then(|| latencies.iter().sum::<u64>() as f64 / latencies.len() as f64 / 1000.0);
        VideoStatsSnapshot {
            frames_decoded: self.frames_decoded,
            fps: self.recent.len() as f64 * 1_000_000.0 / WINDOW_US as f64,
            last_frame_no: self.last_frame_no,
            frames_missing: self.frames_missing,
            out_of_order: self.out_of_order,
            e2e_latency_ms,
        }
    }

    fn expire(&mut self, now_us: u64) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now_us.saturating_sub(*at) >= WINDOW_US)
        {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SyntheticVideo;

    #[test]
    fn counts_fps_gaps_reordering_and_latency() {
        let mut src = SyntheticVideo::new(320, 180);
        let frames: Vec<VideoFrame> = (0..40)
            .map(|i| src.next_frame(1_000_000 + i * 33_333))
            .collect();
        let mut stats = VideoReceiveStats::new();
        for (i, f) in frames.iter().enumerate() {
            if i == 10 || i == 11 {
                continue; // lost
            }
            let stamp = stats.on_decoded(f, f.capture_us + 50_000);
            assert_eq!(stamp, Some((i as u64, f.capture_us)));
        }
        stats.on_decoded(&frames[5], frames[39].capture_us + 50_000); // a late duplicate
        let s = stats.snapshot(frames[39].capture_us + 50_000);
        assert_eq!(s.frames_decoded, 39);
        assert_eq!(s.last_frame_no, Some(39));
        assert_eq!(s.frames_missing, 2);
        assert_eq!(s.out_of_order, 1);
        assert!((28.0..=31.0).contains(&s.fps), "{}", s.fps);
        let latency = s.e2e_latency_ms.unwrap();
        assert!(latency >= 50.0, "{latency}");
        // A second later with nothing decoded: no rate, no latency, totals kept.
        let s = stats.snapshot(10_000_000);
        assert_eq!((s.fps, s.e2e_latency_ms, s.frames_decoded), (0.0, None, 39));
    }

    #[test]
    fn unstamped_frames_only_count() {
        let mut stats = VideoReceiveStats::new();
        let f = VideoFrame::filled(320, 180, 100, 128, 128);
        assert_eq!(stats.on_decoded(&f, 0), None);
        let s = stats.snapshot(1);
        assert_eq!(
            (s.frames_decoded, s.last_frame_no, s.e2e_latency_ms),
            (1, None, None)
        );
    }
}
