//! A participant with media but no decoding: raw signalling ([`crate::ws`])
//! plus the client's media module, counting what arrives from the RTP
//! statistics it reports, and optionally pumping synthetic RTP payloads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tether_client::media::{MediaConfig, MediaEvent, MediaKind, MediaSession};
use tether_proto::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ws::{self, Sig};

/// What one stream pumps: packets per write, writes per second, bytes per write.
#[derive(Debug, Clone, Copy)]
pub struct Pump {
    pub per_second: u32,
    pub bytes: usize,
}

/// (received, lost) per (publisher, kind), cumulative.
pub type Counts = Arc<Mutex<HashMap<(u32, MediaKind), (u64, u64)>>>;

pub struct MediaPeer {
    pub uid: u32,
    pub sig: Sig,
    pub media: MediaSession,
    pub counts: Counts,
    /// Samples written into published tracks so far.
    pub sent: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MediaPeer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl MediaPeer {
    /// Join `channel` as `uid`; publish the given pumps (audio, video).
    pub async fn join(
        url: &str,
        channel: &str,
        uid: u32,
        audio: Option<Pump>,
        video: Option<Pump>,
    ) -> anyhow::Result<Self> {
        let (out, out_rx) = mpsc::unbounded_channel();
        let (ev_tx, mut ev_rx) = mpsc::channel(4096);
        let signal = out.clone();
        let config = MediaConfig {
            stats_interval: Duration::from_millis(250),
            ..MediaConfig::for_server(url)
        };
        let media = MediaSession::new(
            config,
            move |m| {
                let _sent = signal.send(m);
            },
            ev_tx,
        );
        let mut sig =
            ws::connect(url, channel, uid, out, out_rx, Some(media.clone()), true).await?;
        sig.wait(Duration::from_secs(10), |m| {
            matches!(m, ServerMessage::Welcome { .. })
        })
        .await?;
        // Roster messages are not needed: drain them.
        let mut roster = std::mem::replace(&mut sig.rx, mpsc::unbounded_channel().1);
        let counts: Counts = Arc::default();
        let c = counts.clone();
        let mut tasks = vec![
            tokio::spawn(async move { while roster.recv().await.is_some() {} }),
            tokio::spawn(async move {
                while let Some(e) = ev_rx.recv().await {
                    if let MediaEvent::Stats {
                        uid,
                        kind,
                        packets_received,
                        packets_lost,
                        ..
                    } = e
                    {
                        c.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert((uid, kind), (packets_received, packets_lost));
                    }
                }
            }),
        ];
        let sent = Arc::new(AtomicU64::new(0));
        if audio.is_some() || video.is_some() {
            let _sent = sig.out.send(ClientMessage::Publish {
                audio: audio.is_some(),
                video: video.is_some(),
            });
            let publication = media.publish(audio.is_some(), video.is_some()).await?;
            for (writer, pump) in [(publication.audio, audio), (publication.video, video)] {
                let (Some(writer), Some(pump)) = (writer, pump) else {
                    continue;
                };
                let sent = sent.clone();
                tasks.push(tokio::spawn(async move {
                    let period = Duration::from_secs(1) / pump.per_second.max(1);
                    // Burst: a late tick is made up, so the average rate holds.
                    let mut tick = tokio::time::interval(period);
                    let payload = Bytes::from(vec![0x10u8; pump.bytes]);
                    loop {
                        tick.tick().await;
                        if writer.write(payload.clone(), period).await.is_err() {
                            return;
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
        }
        Ok(Self {
            uid,
            sig,
            media,
            counts,
            sent,
            tasks,
        })
    }

    /// Total (received, lost) over every stream this peer receives.
    pub fn totals(&self) -> (u64, u64) {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .fold((0, 0), |(r, l), (r2, l2)| (r + r2, l + l2))
    }

    /// Streams with at least one packet received.
    pub fn streams_flowing(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|(r, _)| *r > 0)
            .count()
    }

    pub async fn close(self) {
        self.sig.leave();
        self.media.close().await;
    }
}
