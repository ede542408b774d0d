//! Send side: frames from a source → Opus / VP8 → the published tracks.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Handle;
use tracing::{debug, warn};

use tether_media::{
    AudioFrame, CameraCapture, CameraConfig, MicCapture, OpusEncoder, SyntheticAudio,
    SyntheticVideo, VideoFrame, Vp8Config, Vp8Encoder,
};

use super::{unix_us, PublishSource};
use crate::call::{RgbaFrame, VideoSink, PREVIEW_UID};
use crate::media::{Publication, SampleWriter};

const AUDIO_FRAME: Duration = Duration::from_millis(20);
const VIDEO_FRAME: Duration = Duration::from_nanos(1_000_000_000 / 30);
/// A feeder that fell this far behind (a stalled machine) skips ahead
/// instead of bursting the backlog into the network.
const MAX_LAG: Duration = Duration::from_millis(200);

enum Raw {
    Audio(AudioFrame),
    Video(VideoFrame),
}

/// Reports a recoverable problem as `exception {code, message}`.
pub(crate) type Report = Arc<dyn Fn(&'static str, String) + Send + Sync>;

/// A running send pipeline. Dropping it stops the threads and captures.
pub(crate) struct SendPipeline {
    stop: Arc<AtomicBool>,
    keyframe: Arc<AtomicBool>,
    bitrate_kbps: Arc<AtomicU32>,
    audio_loss_percent: Arc<AtomicU8>,
    video_muted: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    _mic: Option<MicCapture>,
    _camera: Option<CameraCapture>,
}

impl SendPipeline {
    /// Start feeding `publication` from `source`. Missing devices are
    /// reported; with `fallback_synthetic` the synthetic source stands in.
    /// `preview` gets the published video frames (RGBA, rate-capped) while
    /// video is not muted.
    pub(crate) fn start(
        source: &PublishSource,
        publication: Publication,
        runtime: Handle,
        report: Report,
        preview: Option<VideoSink>,
        video_muted: bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let keyframe = Arc::new(AtomicBool::new(false));
        let bitrate_kbps = Arc::new(AtomicU32::new(Vp8Config::default().bitrate_kbps));
        let audio_loss_percent = Arc::new(AtomicU8::new(0));
        let video_muted = Arc::new(AtomicBool::new(video_muted));
        let (tx, rx) = mpsc::sync_channel::<Raw>(8);
        let want_audio = publication.audio.is_some();
        let want_video = publication.video.is_some();
        let mut mic = None;
        let mut camera = None;
        let (synth_audio, synth_video) = match source {
            PublishSource::Synthetic => (want_audio, want_video),
            PublishSource::Devices {
                audio_input,
                video_input,
                fallback_synthetic,
            } => {
                if want_audio {
                    mic = start_mic(audio_input.as_deref(), tx.clone(), &report);
                }
                if want_video {
                    camera = start_camera(video_input.clone(), tx.clone(), &report);
                }
                (
                    want_audio && mic.is_none() && *fallback_synthetic,
                    want_video && camera.is_none() && *fallback_synthetic,
                )
            }
        };
        let mut threads = Vec::new();
        if synth_audio || synth_video {
            let stop = stop.clone();
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("tether-synth".into())
                .spawn(move || synthesize(synth_audio, synth_video, &tx, &stop));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => report("SOURCE_FAILED", format!("synthetic source: {e}")),
            }
        }
        drop(tx);
        let encoder = Encoder {
            audio: publication.audio,
            video: publication.video,
            runtime,
            keyframe: keyframe.clone(),
            bitrate_kbps: bitrate_kbps.clone(),
            audio_loss_percent: audio_loss_percent.clone(),
            report: report.clone(),
            preview: preview.map(|sink| Preview {
                sink,
                muted: video_muted.clone(),
                due: None,
            }),
        };
        let stop_enc = stop.clone();
        match std::thread::Builder::new()
            .name("tether-encode".into())
            .spawn(move || encoder.run(&rx, &stop_enc))
        {
            Ok(t) => threads.push(t),
            Err(e) => report("ENCODER_FAILED", format!("encoder thread: {e}")),
        }
        Self {
            stop,
            keyframe,
            bitrate_kbps,
            audio_loss_percent,
            video_muted,
            threads,
            _mic: mic,
            _camera: camera,
        }
    }

    /// Make the next video frame a keyframe.
    pub(crate) fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::Relaxed);
    }

    /// The video bitrate target now.
    pub(crate) fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps.load(Ordering::Relaxed)
    }

    /// Change the video bitrate target (applied from the next frame).
    pub(crate) fn set_bitrate_kbps(&self, kbps: u32) {
        self.bitrate_kbps.store(kbps, Ordering::Relaxed);
    }

    /// Video is muted (camera off): the preview gets no frames meanwhile.
    pub(crate) fn set_video_muted(&self, muted: bool) {
        self.video_muted.store(muted, Ordering::Relaxed);
    }

    /// Tell the Opus encoder how much loss to protect against (in-band FEC).
    pub(crate) fn set_audio_loss(&self, fraction: f64) {
        let percent = (fraction * 100.0).round().clamp(0.0, 100.0) as u8;
        self.audio_loss_percent.store(percent, Ordering::Relaxed);
    }
}

impl Drop for SendPipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                warn!("a media send thread panicked");
            }
        }
    }
}

fn start_mic(
    device: Option<&str>,
    tx: mpsc::SyncSender<Raw>,
    report: &Report,
) -> Option<MicCapture> {
    let on_error = {
        let report = report.clone();
        move |e: tether_media::MediaError| report("DEVICE_ERROR", format!("microphone: {e}"))
    };
    match MicCapture::start(
        device,
        unix_us(),
        move |f| {
            // A full queue means the encoder is behind: drop, don't block the device.
            let _dropped = tx.try_send(Raw::Audio(f));
        },
        on_error,
    ) {
        Ok(m) => Some(m),
        Err(e) => {
            report("NO_DEVICE", format!("no microphone: {e}"));
            None
        }
    }
}

fn start_camera(
    device: Option<String>,
    tx: mpsc::SyncSender<Raw>,
    report: &Report,
) -> Option<CameraCapture> {
    let on_error = {
        let report = report.clone();
        move |e: tether_media::MediaError| report("DEVICE_ERROR", format!("camera: {e}"))
    };
    let config = CameraConfig {
        device_id: device,
        ..CameraConfig::default()
    };
    match CameraCapture::start(
        config,
        unix_us,
        move |f| {
            let _dropped = tx.try_send(Raw::Video(f));
        },
        on_error,
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            report("NO_DEVICE", format!("no camera: {e}"));
            None
        }
    }
}

/// Produce synthetic frames in real time until stopped.
fn synthesize(audio: bool, video: bool, tx: &mpsc::SyncSender<Raw>, stop: &AtomicBool) {
    let mut tone = SyntheticAudio::default();
    let mut pattern = SyntheticVideo::default();
    let start = Instant::now();
    let mut next_audio = start;
    let mut next_video = start;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if audio && next_audio <= now {
            if tx.send(Raw::Audio(tone.next_frame(unix_us()))).is_err() {
                return;
            }
            next_audio = catch_up(next_audio + AUDIO_FRAME, now);
        }
        if video && next_video <= now {
            if tx.send(Raw::Video(pattern.next_frame(unix_us()))).is_err() {
                return;
            }
            next_video = catch_up(next_video + VIDEO_FRAME, now);
        }
        let next = match (audio, video) {
            (true, true) => next_audio.min(next_video),
            (true, false) => next_audio,
            (false, true) => next_video,
            (false, false) => return,
        };
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// The next due time, moved up to `now` when the feeder lags too far.
fn catch_up(next: Instant, now: Instant) -> Instant {
    if now.saturating_duration_since(next) > MAX_LAG {
        now
    } else {
        next
    }
}

/// A preview frame may come this much before its deadline (source jitter).
const PREVIEW_SLACK: Duration = Duration::from_millis(5);

/// The local self-view: published frames as RGBA, at most `max_fps`.
struct Preview {
    sink: VideoSink,
    muted: Arc<AtomicBool>,
    /// When the next frame may go out.
    due: Option<Instant>,
}

impl Preview {
    /// Hand `frame` to the sink unless video is muted or the sink had one
    /// too recently (converted only when it is delivered).
    fn offer(&mut self, frame: &VideoFrame) {
        self.offer_at(frame, Instant::now());
    }

    fn offer_at(&mut self, frame: &VideoFrame, now: Instant) {
        if self.muted.load(Ordering::Relaxed) {
            return;
        }
        if self.due.is_some_and(|due| now + PREVIEW_SLACK < due) {
            return;
        }
        let Some(rgba) = tether_media::i420_to_rgba(frame) else {
            return;
        };
        // Deadlines, not gaps: a 30 fps source jittering around a 15 fps
        // cap still yields 15 fps (a plain "gap since the last one" check
        // skips a late-by-a-hair frame and drops to 10).
        let gap = Duration::from_secs(1) / self.sink.max_fps.max(1);
        self.due = Some(match self.due {
            Some(due) if now.saturating_duration_since(due) < gap => due + gap,
            _ => now + gap,
        });
        self.sink.deliver(RgbaFrame {
            uid: PREVIEW_UID,
            width: frame.width,
            height: frame.height,
            frame_no: frame.frame_no,
            rgba,
        });
    }
}

struct Encoder {
    audio: Option<SampleWriter>,
    video: Option<SampleWriter>,
    runtime: Handle,
    keyframe: Arc<AtomicBool>,
    bitrate_kbps: Arc<AtomicU32>,
    audio_loss_percent: Arc<AtomicU8>,
    report: Report,
    preview: Option<Preview>,
}

impl Encoder {
    fn run(mut self, rx: &mpsc::Receiver<Raw>, stop: &AtomicBool) {
        let mut opus = match OpusEncoder::new() {
            Ok(e) => Some(e),
            Err(e) => {
                (self.report)("ENCODER_FAILED", format!("opus: {e}"));
                None
            }
        };
        let mut vp8 = match Vp8Encoder::new(Vp8Config::default()) {
            Ok(e) => Some(e),
            Err(e) => {
                (self.report)("ENCODER_FAILED", format!("vp8: {e}"));
                None
            }
        };
        let mut applied_kbps = Vp8Config::default().bitrate_kbps;
        let mut applied_loss = 0u8;
        while !stop.load(Ordering::Relaxed) {
            let raw = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(raw) => raw,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            match raw {
                Raw::Audio(frame) => {
                    let (Some(writer), Some(enc)) = (&self.audio, opus.as_mut()) else {
                        continue;
                    };
                    let loss = self.audio_loss_percent.load(Ordering::Relaxed);
                    if loss != applied_loss && enc.set_packet_loss_percent(loss).is_ok() {
                        applied_loss = loss;
                    }
                    match enc.encode(&frame.samples) {
                        Ok(packet) => self.write(writer, packet, AUDIO_FRAME),
                        Err(e) => debug!(error = %e, "opus encode failed"),
                    }
                }
                Raw::Video(frame) => {
                    if let Some(preview) = self.preview.as_mut() {
                        preview.offer(&frame);
                    }
                    let (Some(writer), Some(enc)) = (&self.video, vp8.as_mut()) else {
                        continue;
                    };
                    if self.keyframe.swap(false, Ordering::Relaxed) {
                        enc.request_keyframe();
                    }
                    let kbps = self.bitrate_kbps.load(Ordering::Relaxed);
                    if kbps != applied_kbps {
                        // Below the ordinary floor (after an overload) fewer frames
                        // instead of an overshoot the link cannot carry.
                        let dropping = tether_media::drops_frames(kbps);
                        match enc
                            .set_bitrate(kbps)
                            .and_then(|()| enc.set_frame_dropping(dropping))
                        {
                            Ok(()) => {
                                debug!(kbps, dropping, "video bitrate");
                                applied_kbps = kbps;
                            }
                            Err(e) => debug!(error = %e, "bitrate not changed"),
                        }
                    }
                    match enc.encode(&frame) {
                        Ok(packets) => {
                            for p in packets {
                                self.write(writer, p.data, VIDEO_FRAME);
                            }
                        }
                        Err(e) => debug!(error = %e, "vp8 encode failed"),
                    }
                }
            }
        }
    }

    fn write(&self, writer: &SampleWriter, payload: Vec<u8>, duration: Duration) {
        if let Err(e) = self
            .runtime
            .block_on(writer.write(Bytes::from(payload), duration))
        {
            debug!(error = %e, "sample not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn preview(max_fps: u32) -> (Preview, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let muted = Arc::new(AtomicBool::new(false));
        let sink = VideoSink::new(max_fps, move |f| {
            assert_eq!((f.uid, f.rgba.len()), (PREVIEW_UID, 4 * 4 * 4));
            seen.fetch_add(1, Ordering::Relaxed);
        });
        let p = Preview {
            sink,
            muted: muted.clone(),
            due: None,
        };
        (p, count, muted)
    }

    fn frame(n: u64) -> VideoFrame {
        VideoFrame {
            width: 4,
            height: 4,
            y: vec![16; 16],
            u: vec![128; 4],
            v: vec![128; 4],
            frame_no: n,
            capture_us: 0,
        }
    }

    /// Feed a 30 fps source for `secs`, each frame up to ±2 ms off its slot.
    fn feed(p: &mut Preview, t0: Instant, secs: u64) {
        for n in 0..secs * 30 {
            let jitter = [0i64, 2, -2, 1, -1][(n % 5) as usize];
            let at_us = (n * 1_000_000 / 30) as i64 + jitter * 1000 + 2000;
            p.offer_at(&frame(n), t0 + Duration::from_micros(at_us as u64));
        }
    }

    #[test]
    fn a_jittery_30_fps_source_gives_15_fps() {
        let (mut p, count, _) = preview(15);
        feed(&mut p, Instant::now(), 4);
        let n = count.load(Ordering::Relaxed);
        assert!((59..=61).contains(&n), "{n} frames in 4 s at a 15 fps cap");
    }

    #[test]
    fn the_cap_holds_for_a_faster_source() {
        let (mut p, count, _) = preview(10);
        feed(&mut p, Instant::now(), 4);
        let n = count.load(Ordering::Relaxed);
        assert!((39..=41).contains(&n), "{n} frames in 4 s at a 10 fps cap");
    }

    #[test]
    fn nothing_while_muted() {
        let (mut p, count, muted) = preview(15);
        muted.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        feed(&mut p, t0, 1);
        assert_eq!(count.load(Ordering::Relaxed), 0);
        muted.store(false, Ordering::Relaxed);
        p.offer_at(&frame(99), t0 + Duration::from_secs(2));
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }
}
