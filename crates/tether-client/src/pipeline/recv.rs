//! Receive side: encoded frames → decoders → levels, playback and statistics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};

use tether_media::{
    AudioJitterBuffer, AudioPlayback, LevelMeter, OpusDecoder, VideoReceiveStats, Vp8Decoder,
    SAMPLES_PER_FRAME,
};

use super::{network_quality, unix_us};
use crate::actor::ClientEvent;
use crate::call::{RgbaFrame, VideoSink};
use crate::clock::unix_ms;
use crate::media::MediaKind;
use crate::record::{EventRecord, LevelRecord, Record};

/// What the actor hands to the receive thread.
#[derive(Debug)]
pub(crate) enum RecvInput {
    Frame {
        uid: u32,
        kind: MediaKind,
        payload: Vec<u8>,
        rtp_timestamp: u32,
        after_loss: bool,
    },
    Stats {
        uid: u32,
        kind: MediaKind,
        packets_received: u64,
        packets_lost: u64,
        frames_dropped: u64,
        jitter_ms: f64,
    },
    TrackEnded {
        uid: u32,
        kind: MediaKind,
    },
}

const TICK: Duration = Duration::from_millis(20);
const VOLUME_EVERY: Duration = Duration::from_millis(250);
const STATS_EVERY: Duration = Duration::from_secs(1);
const QUALITY_EVERY: Duration = Duration::from_secs(2);
const KEYFRAME_REQUEST_GAP: Duration = Duration::from_millis(500);
const MIX_QUEUE_FRAMES: usize = 10;

/// Asks a publisher for a keyframe (through the media session).
pub(crate) type KeyframeRequest = Arc<dyn Fn(u32) + Send + Sync>;

/// A running receive pipeline. Dropping it stops the thread.
pub(crate) struct RecvPipeline {
    tx: Option<mpsc::SyncSender<RecvInput>>,
    thread: Option<JoinHandle<()>>,
}

impl RecvPipeline {
    pub(crate) fn start(
        uplink: Arc<AtomicU8>,
        events: UnboundedSender<ClientEvent>,
        keyframe: KeyframeRequest,
        playback_device: Option<String>,
        video_sink: Option<VideoSink>,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel(256);
        let thread = std::thread::Builder::new()
            .name("tether-decode".into())
            .spawn(move || {
                let mut receiver = Receiver::new(uplink, events, keyframe, playback_device);
                receiver.video_sink = video_sink;
                receiver.run(&rx);
            })
            .map_err(|e| warn!(error = %e, "no decode thread"))
            .ok();
        Self {
            tx: Some(tx),
            thread,
        }
    }

    /// Hand over an input; dropped (and logged) if the decoder is far behind.
    pub(crate) fn push(&self, input: RecvInput) {
        if let Some(tx) = &self.tx {
            if tx.try_send(input).is_err() {
                debug!("decoder behind; input dropped");
            }
        }
    }
}

impl Drop for RecvPipeline {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                warn!("the decode thread panicked");
            }
        }
    }
}

#[derive(Default)]
struct Counters {
    received: u64,
    lost: u64,
    jitter_ms: f64,
    /// (received, lost) at the last quality report.
    quality_mark: (u64, u64),
    /// A statistics report arrived for this track (before the first one,
    /// "nothing arrived" means "not counted yet", not "down").
    counted: bool,
}

struct AudioRx {
    jitter: AudioJitterBuffer,
    decoder: Option<OpusDecoder>,
    /// Peak since the last `volume-indicator`.
    meter: LevelMeter,
    /// Peak since the last `media-stats` (its own meter: the two reports
    /// must not reset each other's peak).
    stats_meter: LevelMeter,
    frames: u64,
    counters: Counters,
}

struct VideoRx {
    decoder: Option<Vp8Decoder>,
    stats: VideoReceiveStats,
    dropped: u64,
    last_request: Option<Instant>,
    last_sunk: Option<Instant>,
    /// When an oversized frame was last reported (`exception`).
    last_oversize_report: Option<Instant>,
    counters: Counters,
}

/// At most one `exception` per peer this often for frames too large to decode.
const OVERSIZE_REPORT_GAP: Duration = Duration::from_secs(10);

/// Hand a frame to the sink unless it had one too recently.
fn sink_frame(
    sink: &VideoSink,
    uid: u32,
    frame: &tether_media::VideoFrame,
    last: &mut Option<Instant>,
) {
    let now = Instant::now();
    let gap = Duration::from_secs(1) / sink.max_fps.max(1);
    if last.is_some_and(|t| now.duration_since(t) < gap) {
        return;
    }
    let Some(rgba) = tether_media::i420_to_rgba(frame) else {
        return;
    };
    *last = Some(now);
    sink.deliver(RgbaFrame {
        uid,
        width: frame.width,
        height: frame.height,
        frame_no: frame.frame_no,
        rgba,
    });
}

struct Receiver {
    video_sink: Option<VideoSink>,
    uplink: Arc<AtomicU8>,
    events: UnboundedSender<ClientEvent>,
    keyframe: KeyframeRequest,
    audio: BTreeMap<u32, AudioRx>,
    video: BTreeMap<u32, VideoRx>,
    mix: Arc<Mutex<VecDeque<Vec<i16>>>>,
    _playback: Option<AudioPlayback>,
}

impl Receiver {
    fn new(
        uplink: Arc<AtomicU8>,
        events: UnboundedSender<ClientEvent>,
        keyframe: KeyframeRequest,
        playback_device: Option<String>,
    ) -> Self {
        let mix: Arc<Mutex<VecDeque<Vec<i16>>>> = Arc::default();
        let source = mix.clone();
        // No speaker (a headless machine) is normal: levels and statistics
        // still work, nothing is played.
        let playback = AudioPlayback::start(
            playback_device.as_deref(),
            move || {
                source
                    .lock()
                    .ok()
                    .and_then(|mut q| q.pop_front())
                    .unwrap_or_else(|| vec![0; SAMPLES_PER_FRAME])
            },
            |e| warn!(error = %e, "playback error"),
        )
        .map_err(|e| debug!(error = %e, "no audio playback"))
        .ok();
        Self {
            video_sink: None,
            uplink,
            events,
            keyframe,
            audio: BTreeMap::new(),
            video: BTreeMap::new(),
            mix,
            _playback: playback,
        }
    }

    fn run(mut self, rx: &mpsc::Receiver<RecvInput>) {
        let start = Instant::now();
        let mut next_tick = start + TICK;
        let mut next_volume = start + VOLUME_EVERY;
        let mut next_stats = start + STATS_EVERY;
        let mut next_quality = start + QUALITY_EVERY;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(input) => self.on_input(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if now >= next_tick {
                self.play_tick();
                next_tick = (next_tick + TICK).max(now);
            }
            if now >= next_volume {
                self.report_volume();
                next_volume = now + VOLUME_EVERY;
            }
            if now >= next_stats {
                self.report_stats();
                next_stats = now + STATS_EVERY;
            }
            if now >= next_quality {
                self.report_quality();
                next_quality = now + QUALITY_EVERY;
            }
        }
    }

    fn on_input(&mut self, input: RecvInput) {
        match input {
            RecvInput::Frame {
                uid,
                kind: MediaKind::Audio,
                payload,
                rtp_timestamp,
                ..
            } => {
                let rx = self.audio.entry(uid).or_insert_with(|| AudioRx {
                    jitter: AudioJitterBuffer::default(),
                    decoder: OpusDecoder::new()
                        .map_err(|e| warn!(error = %e, "no opus decoder"))
                        .ok(),
                    meter: LevelMeter::new(),
                    stats_meter: LevelMeter::new(),
                    frames: 0,
                    counters: Counters::default(),
                });
                // 20 ms Opus frames at 48 kHz: the timestamp counts frames.
                let seq = (rtp_timestamp / 960) as u16;
                rx.jitter.push(seq, rtp_timestamp, payload, unix_us());
            }
            RecvInput::Frame {
                uid,
                kind: MediaKind::Video,
                payload,
                after_loss,
                ..
            } => {
                let keyframe = self.keyframe.clone();
                let rx = self.video.entry(uid).or_insert_with(|| VideoRx {
                    decoder: Vp8Decoder::new()
                        .map_err(|e| warn!(error = %e, "no vp8 decoder"))
                        .ok(),
                    stats: VideoReceiveStats::new(),
                    dropped: 0,
                    last_request: None,
                    last_sunk: None,
                    last_oversize_report: None,
                    counters: Counters::default(),
                });
                let Some(decoder) = rx.decoder.as_mut() else {
                    return;
                };
                let mut oversize = None;
                if after_loss {
                    // libvpx would decode the next delta frames into wrong
                    // pictures: wait for a keyframe, and ask for one now.
                    decoder.mark_loss();
                }
                match decoder.decode(&payload, 0) {
                    Ok(Some(decoded)) => {
                        rx.stats.on_decoded(&decoded.frame, unix_us());
                        if decoded.corrupted {
                            decoder.mark_loss();
                        } else if let Some(sink) = &self.video_sink {
                            sink_frame(sink, uid, &decoded.frame, &mut rx.last_sunk);
                        }
                    }
                    Ok(None) => {}
                    Err(e @ tether_media::MediaError::FrameTooLarge { .. }) => {
                        // A peer (or a server) sending what we refuse to
                        // decode: say so, at most once per gap.
                        let now = Instant::now();
                        if rx
                            .last_oversize_report
                            .is_none_or(|t| now.duration_since(t) >= OVERSIZE_REPORT_GAP)
                        {
                            rx.last_oversize_report = Some(now);
                            warn!(uid, error = %e, "oversized video frame dropped");
                            oversize = Some(EventRecord::Exception {
                                code: e.code().to_owned(),
                                message: format!("uid {uid}: {e}"),
                            });
                        }
                    }
                    Err(e) => debug!(uid, error = %e, "vp8 decode failed"),
                }
                if decoder.needs_keyframe() {
                    let now = Instant::now();
                    if rx
                        .last_request
                        .is_none_or(|t| now.duration_since(t) >= KEYFRAME_REQUEST_GAP)
                    {
                        rx.last_request = Some(now);
                        keyframe(uid);
                    }
                }
                if let Some(event) = oversize {
                    self.emit(event);
                }
            }
            RecvInput::Stats {
                uid,
                kind,
                packets_received,
                packets_lost,
                frames_dropped,
                jitter_ms,
            } => {
                let counters = match kind {
                    MediaKind::Audio => self.audio.get_mut(&uid).map(|a| &mut a.counters),
                    MediaKind::Video => {
                        if let Some(v) = self.video.get_mut(&uid) {
                            if frames_dropped > v.dropped {
                                // A frame never completed: the picture is
                                // wrong until the next keyframe.
                                v.dropped = frames_dropped;
                                if let Some(d) = v.decoder.as_mut() {
                                    d.mark_loss();
                                }
                            }
                        }
                        self.video.get_mut(&uid).map(|v| &mut v.counters)
                    }
                };
                if let Some(c) = counters {
                    c.received = packets_received;
                    c.lost = packets_lost;
                    c.jitter_ms = jitter_ms;
                    c.counted = true;
                }
            }
            RecvInput::TrackEnded { uid, kind } => match kind {
                MediaKind::Audio => {
                    self.audio.remove(&uid);
                }
                MediaKind::Video => {
                    self.video.remove(&uid);
                }
            },
        }
    }

    fn play_tick(&mut self) {
        if self.audio.is_empty() {
            return;
        }
        let now_us = unix_us();
        let mut mixed = vec![0i32; SAMPLES_PER_FRAME];
        for rx in self.audio.values_mut() {
            let Some(decoder) = rx.decoder.as_mut() else {
                continue;
            };
            let playout = rx.jitter.pop(now_us);
            let samples = playout.render(decoder);
            if !matches!(playout, tether_media::Playout::Silence) {
                rx.frames += 1;
            }
            rx.meter.push(&samples);
            rx.stats_meter.push(&samples);
            for (m, s) in mixed.iter_mut().zip(samples) {
                *m += i32::from(s);
            }
        }
        if self._playback.is_some() {
            let frame: Vec<i16> = mixed
                .into_iter()
                .map(|s| s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
                .collect();
            if let Ok(mut q) = self.mix.lock() {
                if q.len() >= MIX_QUEUE_FRAMES {
                    q.pop_front();
                }
                q.push_back(frame);
            }
        }
    }

    fn emit(&self, event: EventRecord) {
        let record = Record {
            ts: unix_ms(),
            event,
        };
        // The client may be gone already; nothing to do then.
        let _gone = self.events.send(ClientEvent::from_record(record));
    }

    fn report_volume(&mut self) {
        if self.audio.is_empty() {
            return;
        }
        let levels = self
            .audio
            .iter_mut()
            .map(|(uid, rx)| LevelRecord {
                uid: *uid,
                level: rx.meter.take(),
            })
            .collect();
        self.emit(EventRecord::VolumeIndicator { levels });
    }

    fn report_stats(&mut self) {
        let now_us = unix_us();
        let mut out = Vec::new();
        for (uid, rx) in &mut self.video {
            let snap = rx.stats.snapshot(now_us);
            out.push(EventRecord::MediaStats {
                uid: *uid,
                kind: MediaKind::Video,
                frames_decoded: snap.frames_decoded,
                fps: (snap.fps * 10.0).round() / 10.0,
                packets_lost: rx.counters.lost,
                e2e_latency_ms: snap.e2e_latency_ms.map(|l| (l * 10.0).round() / 10.0),
                last_frame_no: snap.last_frame_no,
                frames_missing: Some(snap.frames_missing),
                audio_level: None,
            });
        }
        for (uid, rx) in &mut self.audio {
            out.push(EventRecord::MediaStats {
                uid: *uid,
                kind: MediaKind::Audio,
                frames_decoded: rx.frames,
                fps: 50.0,
                packets_lost: rx.counters.lost,
                e2e_latency_ms: None,
                last_frame_no: None,
                frames_missing: None,
                audio_level: Some(rx.stats_meter.take()),
            });
        }
        for e in out {
            self.emit(e);
        }
    }

    fn report_quality(&mut self) {
        let mut uids: Vec<u32> = self
            .audio
            .keys()
            .chain(self.video.keys())
            .copied()
            .collect();
        uids.sort_unstable();
        uids.dedup();
        let mut worst = 0u8;
        for uid in uids {
            let mut received = 0;
            let mut lost = 0;
            let mut jitter: f64 = 0.0;
            let mut counted = false;
            for c in [
                self.audio.get_mut(&uid).map(|a| &mut a.counters),
                self.video.get_mut(&uid).map(|v| &mut v.counters),
            ]
            .into_iter()
            .flatten()
            {
                received += c.received.saturating_sub(c.quality_mark.0);
                lost += c.lost.saturating_sub(c.quality_mark.1);
                jitter = jitter.max(c.jitter_ms);
                c.quality_mark = (c.received, c.lost);
                counted |= c.counted;
            }
            let expected = received + lost;
            let loss = (expected > 0).then(|| lost as f64 / expected as f64);
            // A track whose first statistics have not come yet (its first
            // frame came less than a second ago) is unknown, not down: the
            // app showed a peer whose video had just started as "down".
            let q = if counted {
                network_quality(loss.or(Some(1.0)), jitter, received > 0)
            } else {
                network_quality(None, 0.0, false)
            };
            worst = worst.max(q);
            self.emit(EventRecord::NetworkQuality {
                uid: Some(uid),
                uplink: 0,
                downlink: q,
            });
        }
        self.emit(EventRecord::NetworkQuality {
            uid: None,
            uplink: self.uplink.load(Ordering::Relaxed),
            downlink: worst,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EventRecord;

    fn qualities(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<ClientEvent>,
    ) -> Vec<(Option<u32>, u8)> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let EventRecord::NetworkQuality { uid, downlink, .. } = e.record.event {
                out.push((uid, downlink));
            }
        }
        out
    }

    #[test]
    fn an_oversized_keyframe_is_dropped_with_one_exception() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let requests = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = requests.clone();
        let mut r = Receiver::new(
            Arc::default(),
            tx,
            Arc::new(move |_| {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }),
            None,
        );
        // A keyframe header claiming 16383x16383 (frame tag, start code, sizes), then junk.
        let mut huge = vec![0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f];
        huge.extend_from_slice(&[0x11; 200]);
        for _ in 0..3 {
            r.on_input(RecvInput::Frame {
                uid: 9,
                kind: MediaKind::Video,
                payload: huge.clone(),
                rtp_timestamp: 0,
                after_loss: false,
            });
        }
        let mut exceptions = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let EventRecord::Exception { code, message } = e.record.event {
                exceptions.push((code, message));
            }
        }
        assert_eq!(exceptions.len(), 1, "{exceptions:?}");
        assert_eq!(exceptions[0].0, "MEDIA_FRAME_TOO_LARGE");
        assert!(
            exceptions[0].1.contains("16383x16383"),
            "{}",
            exceptions[0].1
        );
        // Still waiting for a usable keyframe, asked for (rate-limited).
        assert_eq!(requests.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn a_track_not_counted_yet_is_unknown_not_down() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut r = Receiver::new(Arc::default(), tx, Arc::new(|_| {}), None);
        // The first frame of uid 7's video: the track exists, no statistics yet.
        r.on_input(RecvInput::Frame {
            uid: 7,
            kind: MediaKind::Video,
            payload: vec![0; 10],
            rtp_timestamp: 0,
            after_loss: false,
        });
        r.report_quality();
        assert_eq!(qualities(&mut rx), vec![(Some(7), 0), (None, 0)]);
        // Its first statistics: 90 packets, none lost.
        let stats = |received| RecvInput::Stats {
            uid: 7,
            kind: MediaKind::Video,
            packets_received: received,
            packets_lost: 0,
            frames_dropped: 0,
            jitter_ms: 2.0,
        };
        r.on_input(stats(90));
        r.report_quality();
        assert_eq!(qualities(&mut rx), vec![(Some(7), 1), (None, 1)]);
        // Statistics keep coming but nothing more arrived: down.
        r.on_input(stats(90));
        r.report_quality();
        assert_eq!(qualities(&mut rx), vec![(Some(7), 6), (None, 6)]);
    }
}
