//! Subscriber connections: keep each session's outgoing tracks in line with
//! what the others publish, offer, and apply the answers.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rtc::peer_connection::configuration::RTCOfferOptions;
use tether_proto::{ErrorCode, ServerMessage};
use tracing::{debug, info};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::RTCSessionDescription;

use super::super::forward::{sink_feedback, Sink, Source};
use super::super::rtc::{OPUS_PT, VP8_PT};
use super::super::Kind;
use super::{Down, Role, Room};

fn random_ssrc() -> u32 {
    let v = uuid::Uuid::new_v4().as_u128();
    // Any 32 bits of a random uuid; 0 is avoided for readability in captures.
    (v as u32).max(1)
}

impl Room {
    pub(super) async fn resubscribe_all(&mut self) {
        let uids: Vec<u32> = self.parts.keys().copied().collect();
        for uid in uids {
            self.resubscribe(uid).await;
        }
    }

    /// Bring `uid`'s subscriber connection in line with what the others
    /// publish, and (re)offer if anything changed.
    pub(super) async fn resubscribe(&mut self, uid: u32) {
        if let Err(e) = self.try_resubscribe(uid).await {
            self.error(
                uid,
                ErrorCode::Internal,
                format!("subscriber connection: {e}"),
            );
        }
    }

    async fn try_resubscribe(&mut self, uid: u32) -> webrtc::error::Result<()> {
        let wanted: BTreeMap<(u32, Kind), Arc<Source>> = self
            .parts
            .iter()
            .filter(|(u, _)| **u != uid)
            .flat_map(|(u, p)| p.published.iter().map(|(k, s)| ((*u, *k), s.clone())))
            .collect();
        let needs_pc = self
            .parts
            .get(&uid)
            .is_some_and(|p| p.subscriber.is_none() && !wanted.is_empty());
        if needs_pc {
            let pc = self.new_pc(uid, Role::Subscriber).await?;
            if let Some(p) = self.parts.get_mut(&uid) {
                p.subscriber = Some(pc);
            }
        }
        let Some(p) = self.parts.get_mut(&uid) else {
            return Ok(());
        };
        let Some(sub) = p.subscriber.as_ref() else {
            return Ok(());
        };
        let stale: Vec<(u32, Kind)> = p
            .down
            .iter()
            .filter(|(k, d)| !wanted.get(k).is_some_and(|s| Arc::ptr_eq(s, &d.source)))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(d) = p.down.remove(&k) {
                d.source.remove_sink(uid);
                if let Some(f) = d.feedback {
                    f.abort();
                }
                sub.pc.remove_track(&d.sender).await?;
                p.needs_offer = true;
            }
        }
        for (k, source) in wanted {
            if p.down.contains_key(&k) {
                continue;
            }
            let pt = match k.1 {
                Kind::Audio => OPUS_PT,
                Kind::Video => VP8_PT,
            };
            let sink = Arc::new(Sink::new(uid, &source, random_ssrc(), pt));
            let sender = sub
                .pc
                .add_track(sink.track.clone() as Arc<dyn TrackLocal>)
                .await?;
            source.add_sink(sink.clone());
            p.down.insert(
                k,
                Down {
                    source,
                    sink,
                    sender,
                    negotiated: false,
                    feedback: None,
                },
            );
            p.needs_offer = true;
        }
        self.maybe_offer(uid).await
    }

    pub(super) async fn maybe_offer(&mut self, uid: u32) -> webrtc::error::Result<()> {
        let Some(p) = self.parts.get_mut(&uid) else {
            return Ok(());
        };
        if !p.needs_offer || p.offered.is_some() {
            return Ok(());
        }
        let Some(sub) = p.subscriber.as_ref() else {
            return Ok(());
        };
        let options = RTCOfferOptions {
            ice_restart: p.needs_restart,
        };
        let started = Instant::now();
        let offer = sub.pc.create_offer(Some(options)).await?;
        let sdp = self.factory.advertise(sub.set_local(offer).await?);
        p.offered = Some(p.down.keys().copied().collect());
        p.needs_offer = false;
        let restart = std::mem::take(&mut p.needs_restart);
        info!(parent: &p.span, tracks = p.down.len(), restart,
              took_us = started.elapsed().as_micros() as u64, "subscriber offer");
        if !self.send(uid, &ServerMessage::SubscriberOffer { sdp }) {
            debug!("subscriber offer not delivered (detached); waiting for subscriber-restart");
        }
        Ok(())
    }

    pub(super) async fn subscriber_answer(
        &mut self,
        uid: u32,
        sdp: String,
    ) -> webrtc::error::Result<()> {
        let Some(p) = self.parts.get_mut(&uid) else {
            return Ok(());
        };
        let (Some(sub), Some(offered)) = (p.subscriber.as_ref(), p.offered.take()) else {
            debug!(parent: &p.span, "subscriber answer without an offer out; ignored");
            return Ok(());
        };
        sub.pc
            .set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        let connected = p.subscriber_connected;
        for k in offered {
            let Some(d) = p.down.get_mut(&k) else {
                continue;
            };
            if d.negotiated {
                continue;
            }
            d.negotiated = true;
            if let Ok(params) = d.sender.get_parameters().await {
                let mime = match k.1 {
                    Kind::Audio => "audio/opus",
                    Kind::Video => "video/vp8",
                };
                if let Some(c) = params
                    .rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
                {
                    d.sink.payload_type.store(c.payload_type, Ordering::Relaxed);
                }
            }
            d.feedback = Some(tokio::spawn(sink_feedback(
                d.sink.clone(),
                d.source.clone(),
            )));
            if connected {
                d.sink.active.store(true, Ordering::Release);
                d.source.request_keyframe("new subscriber");
            }
        }
        debug!(parent: &p.span, "subscriber answer applied");
        self.maybe_offer(uid).await
    }
}
