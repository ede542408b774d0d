//! A media test participant through the real SFU on loopback: a raw
//! signalling connection plus the client's media module, a synthetic sender
//! whose payloads carry frame numbers, and waits with deadlines.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tether_client::media::{MediaConfig, MediaEvent, MediaKind, MediaSession, Publication};
use tether_proto::{decode_server, encode, ClientMessage, ServerMessage, PROTOCOL_VERSION};
use tether_server::{Server, ServerConfig, ServerHandle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

pub const CHANNEL: &str = "media";
pub const WAIT: Duration = Duration::from_secs(5);

pub async fn server() -> ServerHandle {
    let server = Server::bind(ServerConfig::open_loopback())
        .await
        .expect("bind");
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    handle
}

/// One participant: a raw signalling connection plus the client's media module.
pub struct Peer {
    pub uid: u32,
    pub media: MediaSession,
    pub events: mpsc::Receiver<MediaEvent>,
    pub url: String,
    /// Non-media server messages.
    pub signalling: mpsc::UnboundedReceiver<ServerMessage>,
    pub sig_tx: mpsc::UnboundedSender<ServerMessage>,
    pub out: mpsc::UnboundedSender<ClientMessage>,
    pub outbox: Outbox,
    pub io: JoinHandle<()>,
    pub session_id: String,
    /// Every non-media event so far (for failure messages).
    pub seen: Vec<MediaEvent>,
    /// Non-media events not yet matched by an `expect`.
    pub backlog: Vec<MediaEvent>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.io.abort();
    }
}

pub type Outbox = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<ClientMessage>>>;

/// Run one signalling connection: hello first, then frames both ways.
pub async fn connect(
    url: &str,
    hello: ClientMessage,
    outbox: Outbox,
    media: MediaSession,
    sig_tx: mpsc::UnboundedSender<ServerMessage>,
) -> JoinHandle<()> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("dial");
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(encode(&hello)))
        .await
        .expect("send hello");
    tokio::spawn(async move {
        let mut out_rx = outbox.lock().await;
        loop {
            tokio::select! {
                Some(msg) = out_rx.recv() => {
                    if sink.send(Message::text(encode(&msg))).await.is_err() {
                        return;
                    }
                }
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        let msg = decode_server(t.as_str()).expect("server speaks the protocol");
                        if !media.on_server_message(&msg) {
                            let _gone = sig_tx.send(msg);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    })
}

pub fn hello(uid: u32, resume: Option<String>) -> ClientMessage {
    ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        channel: CHANNEL.into(),
        uid,
        name: format!("u{uid}"),
        token: None,
        resume: resume.map(|session_id| tether_proto::ResumeRequest { session_id }),
    }
}

pub async fn join(url: &str, uid: u32) -> Peer {
    let (out, out_rx) = mpsc::unbounded_channel::<ClientMessage>();
    let outbox: Outbox = Arc::new(tokio::sync::Mutex::new(out_rx));
    let (sig_tx, signalling) = mpsc::unbounded_channel();
    let (ev_tx, events) = mpsc::channel(4096);
    let signal_out = out.clone();
    let media = MediaSession::new(
        MediaConfig::for_server(url),
        move |m| {
            let _gone = signal_out.send(m);
        },
        ev_tx,
    );
    let io = connect(
        url,
        hello(uid, None),
        outbox.clone(),
        media.clone(),
        sig_tx.clone(),
    )
    .await;
    let mut peer = Peer {
        uid,
        url: url.to_owned(),
        media,
        events,
        signalling,
        sig_tx,
        out,
        outbox,
        io,
        session_id: String::new(),
        seen: Vec::new(),
        backlog: Vec::new(),
    };
    let welcome = peer
        .expect_signal("welcome", |m| matches!(m, ServerMessage::Welcome { .. }))
        .await;
    if let ServerMessage::Welcome { session_id, .. } = welcome {
        peer.session_id = session_id;
    }
    peer
}

impl Peer {
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&MediaEvent) -> bool) -> MediaEvent {
        self.expect_within(what, WAIT, pred).await
    }

    pub async fn expect_within(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&MediaEvent) -> bool,
    ) -> MediaEvent {
        // An event seen while waiting for something else still counts (once).
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    let hit = pred(&e);
                    if !matches!(e, MediaEvent::Frame { .. } | MediaEvent::Rtp { .. }) {
                        self.seen.push(e.clone());
                        if !hit {
                            self.backlog.push(e.clone());
                        }
                    }
                    if hit {
                        return e;
                    }
                }
                Ok(None) => panic!("uid {}: media events ended waiting for {what}", self.uid),
                Err(_) => panic!(
                    "uid {}: no {what} within {within:?}; seen: {:#?}",
                    self.uid, self.seen
                ),
            }
        }
    }

    pub async fn expect_signal(
        &mut self,
        what: &str,
        pred: impl Fn(&ServerMessage) -> bool,
    ) -> ServerMessage {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.signalling.recv()).await {
                Ok(Some(m)) if pred(&m) => return m,
                Ok(Some(_)) => {}
                Ok(None) => panic!("uid {}: signalling ended waiting for {what}", self.uid),
                Err(_) => panic!("uid {}: no {what} in time", self.uid),
            }
        }
    }

    /// Drop the signalling socket and everything not sent on it yet (as a
    /// link that dies does); [`Peer::reconnect`] resumes.
    #[allow(dead_code)]
    pub async fn lose_signalling(&mut self) {
        self.io.abort();
        let mut outbox = self.outbox.lock().await;
        while outbox.try_recv().is_ok() {}
    }

    /// With the signalling socket lost ([`Peer::lose_signalling`]), wait
    /// until a message matching `pred` is sent into the void, and drop it
    /// (with everything before it).
    #[allow(dead_code)]
    pub async fn lose_until(&mut self, what: &str, pred: impl Fn(&ClientMessage) -> bool) {
        let mut outbox = self.outbox.lock().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, outbox.recv()).await {
                Ok(Some(m)) if pred(&m) => return,
                Ok(Some(_)) => {}
                Ok(None) => panic!("uid {}: outbox closed waiting for {what}", self.uid),
                Err(_) => panic!("uid {}: no {what} sent within {WAIT:?}", self.uid),
            }
        }
    }

    /// Drop the signalling socket and resume the session on a new one.
    pub async fn reconnect(&mut self) {
        self.io.abort();
        let hello = hello(self.uid, Some(self.session_id.clone()));
        self.io = connect(
            &self.url,
            hello,
            self.outbox.clone(),
            self.media.clone(),
            self.sig_tx.clone(),
        )
        .await;
        let welcome = self
            .expect_signal("welcome", |m| matches!(m, ServerMessage::Welcome { .. }))
            .await;
        assert!(
            matches!(welcome, ServerMessage::Welcome { resumed: true, .. }),
            "resumed: {welcome:?}"
        );
    }

    pub fn send(&self, msg: ClientMessage) {
        self.out.send(msg).expect("io task alive");
    }

    pub async fn publish(&self, audio: bool, video: bool) -> Publication {
        self.send(ClientMessage::Publish { audio, video });
        self.media.publish(audio, video).await.expect("publish")
    }
}

/// Frame `n` of a synthetic stream: the number up front so order can be checked.
pub fn audio_frame(n: u32) -> Bytes {
    let mut v = n.to_be_bytes().to_vec();
    v.resize(60, 0xA5);
    Bytes::from(v)
}

/// VP8-shaped: a frame tag (bit 0 clear = keyframe), then the number; a
/// keyframe is large enough to span several packets.
pub fn video_frame(n: u32, key: bool) -> Bytes {
    let mut v = vec![if key { 0x10 } else { 0x11 }];
    v.extend_from_slice(&n.to_be_bytes());
    v.resize(if key { 3000 } else { 700 }, (n % 251) as u8);
    Bytes::from(v)
}

pub fn frame_no(payload: &[u8], kind: MediaKind) -> u32 {
    let at = match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    };
    let b: [u8; 4] = payload[at..at + 4].try_into().expect("numbered frame");
    u32::from_be_bytes(b)
}

/// A synthetic sender: audio every 10 ms, video every 20 ms (faster than real
/// time, to keep tests short). Keyframes at start and whenever asked.
pub struct Sender {
    pub stop: tokio_util_like::Stop,
    pub task: JoinHandle<(u32, u32)>,
    pub keyframe: Arc<tokio::sync::Notify>,
}

pub mod tokio_util_like {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[derive(Clone, Default)]
    pub struct Stop(Arc<AtomicBool>);

    impl Stop {
        pub fn stop(&self) {
            self.0.store(true, Ordering::Relaxed);
        }
        pub fn stopped(&self) -> bool {
            self.0.load(Ordering::Relaxed)
        }
    }
}

pub fn start_sending(p: Publication) -> Sender {
    let stop = tokio_util_like::Stop::default();
    let keyframe = Arc::new(tokio::sync::Notify::new());
    let (s, k) = (stop.clone(), keyframe.clone());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let (mut a, mut v) = (0u32, 0u32);
        let mut key_due = true;
        while !s.stopped() {
            tick.tick().await;
            if let Some(w) = &p.audio {
                w.write(audio_frame(a), Duration::from_millis(20))
                    .await
                    .expect("write audio");
                a += 1;
            }
            if let Some(w) = &p.video {
                if a % 2 == 0 {
                    let asked = futures_util::FutureExt::now_or_never(k.notified()).is_some();
                    let key = key_due || asked;
                    key_due = false;
                    w.write(video_frame(v, key), Duration::from_millis(33))
                        .await
                        .expect("write video");
                    v += 1;
                }
            }
        }
        (a, v)
    });
    Sender {
        stop,
        task,
        keyframe,
    }
}

impl Sender {
    pub async fn finish(self) -> (u32, u32) {
        self.stop.stop();
        self.task.await.expect("sender")
    }
}

/// Forward `KeyframeRequested` from the publisher's events to its sender.
pub fn is_keyframe_request(e: &MediaEvent) -> bool {
    matches!(e, MediaEvent::KeyframeRequested)
}

/// Collect frame numbers of `uid`'s `kind` until `until` frames are seen.
pub async fn frames(peer: &mut Peer, uid: u32, kind: MediaKind, count: usize) -> Vec<u32> {
    let mut got = Vec::new();
    while got.len() < count {
        if let MediaEvent::Frame {
            uid: u, kind: k, payload, ..
        } = peer
            .expect("frames", |e| {
                matches!(e, MediaEvent::Frame { uid: u, kind: k, .. } if *u == uid && *k == kind)
            })
            .await
        {
            assert_eq!((u, k), (uid, kind));
            got.push(frame_no(&payload, kind));
        }
    }
    got
}

pub fn assert_contiguous(what: &str, nums: &[u32]) {
    for w in nums.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{what}: frames out of order or missing: {nums:?}"
        );
    }
}

/// Strictly increasing; returns how many numbers were skipped.
pub fn assert_ordered(what: &str, nums: &[u32]) -> u32 {
    let mut missing = 0;
    for w in nums.windows(2) {
        assert!(w[1] > w[0], "{what}: frames out of order: {nums:?}");
        missing += w[1] - w[0] - 1;
    }
    missing
}

pub fn init_logs() {
    let _already = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// CPU time of this whole process (server and clients), from /proc.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz on Linux).
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
