//! An in-process participant: the real client library (`tether_client`),
//! started on a [`Host`], with every event and every decoded remote video
//! frame time-stamped (monotonic) as it arrives.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use tether_client::{
    Client, ClientConfig, ConnectionState, EventRecord, Media, MediaOptions, PublishSource,
    SessionConfig, StateReason, Timing, VideoSink,
};

use crate::host::Host;

#[derive(Debug, Clone)]
pub struct PeerOpts {
    pub publish: bool,
    pub subscribe: bool,
    pub timing: Timing,
    pub network_hints: bool,
}

impl PeerOpts {
    pub fn publisher() -> Self {
        Self {
            publish: true,
            subscribe: false,
            timing: Timing::default(),
            network_hints: true,
        }
    }

    pub fn viewer() -> Self {
        Self {
            publish: false,
            subscribe: true,
            timing: Timing::default(),
            network_hints: false,
        }
    }
}

type Log<T> = Arc<Mutex<Vec<(Instant, T)>>>;

pub struct Peer {
    pub uid: u32,
    pub client: Client,
    events: Log<EventRecord>,
    /// (arrival, publisher uid) of every decoded remote video frame.
    frames: Log<u32>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Peer {
    /// Start a client on `host` (in `DISCONNECTED`; call [`Peer::join`]).
    pub async fn start(
        host: &Host,
        server: &str,
        channel: &str,
        uid: u32,
        opts: PeerOpts,
    ) -> anyhow::Result<Self> {
        let session = SessionConfig::new(channel, uid, &format!("bench{uid}"))?
            .with_timing(opts.timing)
            .with_rng_seed(0xbe4c_0000 ^ u64::from(uid));
        let mut config = ClientConfig::new(server, session)?;
        config.network_hints = opts.network_hints;
        let frames: Log<u32> = Arc::default();
        if opts.publish || opts.subscribe {
            let sink_log = frames.clone();
            config.media = Some(MediaOptions {
                source: PublishSource::Synthetic,
                subscribe: opts.subscribe,
                playback_device: None,
                video_sink: opts.subscribe.then(|| {
                    VideoSink::new(1000, move |f| lock(&sink_log).push((Instant::now(), f.uid)))
                }),
                preview_sink: None,
            });
        }
        let events: Log<EventRecord> = Arc::default();
        let log = events.clone();
        let client = host
            .run(move || async move {
                let (client, mut rx) = Client::spawn(config);
                tokio::spawn(async move {
                    while let Some(e) = rx.recv().await {
                        lock(&log).push((Instant::now(), e.record.event));
                    }
                });
                client
            })
            .await?;
        if opts.publish {
            client.publish(Media {
                audio: true,
                video: true,
            })?;
        }
        Ok(Self {
            uid,
            client,
            events,
            frames,
        })
    }

    /// Ask to join; returns the instant just before the request went out.
    pub async fn join(&self) -> anyhow::Result<Instant> {
        let t0 = Instant::now();
        self.client.join().await?;
        Ok(t0)
    }

    /// The first event after `after` matching `pred`, waiting until `deadline`.
    pub async fn wait_event(
        &self,
        after: Instant,
        within: Duration,
        pred: impl Fn(&EventRecord) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(t) = self.find_event(after, &pred) {
                return Some(t);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn find_event(
        &self,
        after: Instant,
        pred: impl Fn(&EventRecord) -> bool,
    ) -> Option<Instant> {
        lock(&self.events)
            .iter()
            .find(|(t, e)| *t >= after && pred(e))
            .map(|(t, _)| *t)
    }

    /// Any event after `after` matching `pred`.
    pub fn any_event(&self, after: Instant, pred: impl Fn(&EventRecord) -> bool) -> bool {
        self.find_event(after, pred).is_some()
    }

    /// The first decoded frame from `from` after `after`.
    pub async fn wait_frame(&self, from: u32, after: Instant, within: Duration) -> Option<Instant> {
        let deadline = Instant::now() + within;
        loop {
            let found = lock(&self.frames)
                .iter()
                .find(|(t, uid)| *t >= after && *uid == from)
                .map(|(t, _)| *t);
            if found.is_some() {
                return found;
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub async fn wait_state(
        &self,
        after: Instant,
        state: ConnectionState,
        within: Duration,
    ) -> Option<Instant> {
        self.wait_event(after, within, |e| {
            matches!(e, EventRecord::ConnectionStateChange { cur_state, .. } if *cur_state == state)
        })
        .await
    }

    /// Leave and wait for `DISCONNECTED` (bounded).
    pub async fn leave(self) -> anyhow::Result<()> {
        let t = Instant::now();
        self.client.leave()?;
        let done = self
            .wait_event(t, Duration::from_secs(3), |e| {
                matches!(
                    e,
                    EventRecord::ConnectionStateChange {
                        cur_state: ConnectionState::Disconnected,
                        ..
                    }
                )
            })
            .await;
        done.map(|_| ())
            .ok_or_else(|| anyhow!("uid {} did not reach DISCONNECTED after leave", self.uid))
            .context("leave")
    }

    /// A human-readable dump of the events (for failures).
    pub fn dump(&self) -> String {
        lock(&self.events)
            .iter()
            .filter(|(_, e)| !matches!(e, EventRecord::MediaStats { .. }))
            .map(|(_, e)| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn is_reconnect_success(e: &EventRecord) -> bool {
    matches!(
        e,
        EventRecord::ConnectionStateChange {
            cur_state: ConnectionState::Connected,
            reason: StateReason::ReconnectSuccess,
            ..
        }
    )
}

pub fn is_interrupted(e: &EventRecord) -> bool {
    matches!(
        e,
        EventRecord::ConnectionStateChange {
            cur_state: ConnectionState::Connecting,
            reason: StateReason::Interrupted,
            ..
        }
    )
}
