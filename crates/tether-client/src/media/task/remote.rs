//! The subscriber side of the media task: which remote tracks an offer
//! brings, and one reader per remote track.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;
use tracing::{debug, info, trace, warn};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::super::receive::{Assembler, RecvStats};
use super::super::{MediaConfig, MediaEvent, MediaKind};
use super::{MediaTask, Remote};

/// The remote tracks an offer from the server sends: `a=msid:uid-<uid>
/// uid-<uid>-<kind>` in m-sections that are `sendonly` or `sendrecv`.
pub(super) fn offered_tracks(sdp: &str) -> Vec<(u32, MediaKind)> {
    let mut out = Vec::new();
    for section in sdp.split("\nm=").skip(1) {
        let sending = section
            .lines()
            .any(|l| matches!(l.trim(), "a=sendonly" | "a=sendrecv"));
        if !sending {
            continue;
        }
        let track = section.lines().find_map(|l| {
            let msid = l.trim().strip_prefix("a=msid:")?;
            let (stream, track) = msid.split_once(' ')?;
            let uid = uid_of(stream)?;
            let kind = match track.rsplit('-').next()? {
                "audio" => MediaKind::Audio,
                "video" => MediaKind::Video,
                _ => return None,
            };
            Some((uid, kind))
        });
        out.extend(track);
    }
    out
}

/// `uid-<uid>` → uid.
fn uid_of(stream_id: &str) -> Option<u32> {
    stream_id.strip_prefix("uid-")?.parse().ok()
}

impl MediaTask {
    pub(super) async fn on_track(&mut self, pc: u64, track: Arc<dyn TrackRemote>) {
        if self.subscriber.as_ref().is_none_or(|s| s.id != pc) {
            return;
        }
        let Some(uid) = uid_of(&track.stream_id().await) else {
            warn!("remote track with an unexpected stream id; ignored");
            return;
        };
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            RtpCodecKind::Video => MediaKind::Video,
            _ => return,
        };
        info!(uid, kind = kind.as_str(), "remote track");
        self.start_reader(uid, kind, track).await;
    }

    /// (Re)start reading a remote track, fresh state, and say so.
    pub(super) async fn start_reader(
        &mut self,
        uid: u32,
        kind: MediaKind,
        track: Arc<dyn TrackRemote>,
    ) {
        let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        let ssrc = Arc::new(AtomicU32::new(ssrc));
        self.emit(MediaEvent::Track { uid, kind }).await;
        let reader = tokio::spawn(read_track(
            Reading {
                uid,
                kind,
                ssrc: ssrc.clone(),
            },
            track.clone(),
            self.events.clone(),
            self.config.clone(),
        ));
        let old = self.remotes.insert(
            (uid, kind),
            Remote {
                track,
                ssrc,
                reader: Some(reader),
            },
        );
        if let Some(reader) = old.and_then(|r| r.reader) {
            reader.abort();
        }
    }
}

/// Which track a reader reads, and where it keeps the SSRC it sees.
struct Reading {
    uid: u32,
    kind: MediaKind,
    ssrc: Arc<AtomicU32>,
}

/// One remote track: frames, throttled RTP reports, periodic stats.
async fn read_track(
    reading: Reading,
    track: Arc<dyn TrackRemote>,
    events: mpsc::Sender<MediaEvent>,
    config: MediaConfig,
) {
    let Reading { uid, kind, ssrc } = reading;
    let start = Instant::now();
    let mut asm = Assembler::new(kind);
    let mut stats = RecvStats::new(kind, start);
    let mut next_rtp_report = start;
    let mut tick = tokio::time::interval_at(
        (start + config.stats_interval).into(),
        config.stats_interval,
    );
    loop {
        tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                    if ssrc.load(Ordering::Relaxed) != packet.header.ssrc {
                        debug!(uid, kind = kind.as_str(), ssrc = packet.header.ssrc, "remote track SSRC");
                        ssrc.store(packet.header.ssrc, Ordering::Relaxed);
                    }
                    let now = Instant::now();
                    stats.on_packet(&packet.header, now);
                    if now >= next_rtp_report {
                        next_rtp_report = now + config.rtp_event_interval;
                        if events.try_send(MediaEvent::Rtp { uid, kind, at: now }).is_err() {
                            trace!("rtp report dropped");
                        }
                    }
                    for f in asm.push(packet) {
                        let frame = MediaEvent::Frame {
                            uid,
                            kind,
                            payload: f.payload,
                            is_keyframe: f.is_keyframe,
                            rtp_timestamp: f.rtp_timestamp,
                            after_loss: f.after_loss,
                        };
                        if events.send(frame).await.is_err() {
                            return;
                        }
                    }
                }
                Some(TrackRemoteEvent::OnEnded) | None => break,
                Some(_) => {}
            },
            _ = tick.tick() => {
                let report = MediaEvent::Stats {
                    uid,
                    kind,
                    packets_received: stats.received(),
                    packets_lost: stats.lost(),
                    frames_dropped: asm.frames_dropped,
                    jitter_ms: stats.jitter_ms(),
                };
                if events.try_send(report).is_err() {
                    trace!("stats dropped");
                }
            }
        }
    }
    debug!(uid, kind = kind.as_str(), "remote track ended");
    if events
        .send(MediaEvent::TrackEnded { uid, kind })
        .await
        .is_err()
    {
        trace!("media event receiver gone");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_tracks_reads_msid_of_sending_sections() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\na=msid:uid-7 uid-7-audio\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\na=msid:uid-7 uid-7-video\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=msid:uid-9 uid-9-video\r\na=sendrecv\r\n";
        assert_eq!(
            offered_tracks(sdp),
            vec![(7, MediaKind::Audio), (9, MediaKind::Video)]
        );
    }
}
