//! Media through the real SFU on loopback: real sockets, real DTLS-SRTP, no
//! sleeping "long enough" — every wait is for an event, with a deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tether_client::media::{
    MediaConfig, MediaEvent, MediaKind, MediaSession, Publication, TransportRole, TransportState,
};
use tether_proto::{decode_server, encode, ClientMessage, ServerMessage, PROTOCOL_VERSION};
use tether_server::{Server, ServerConfig, ServerHandle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const CHANNEL: &str = "media";
const WAIT: Duration = Duration::from_secs(5);

async fn server() -> ServerHandle {
    let server = Server::bind(ServerConfig::open_loopback())
        .await
        .expect("bind");
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    handle
}

/// One participant: a raw signalling connection plus the client's media module.
struct Peer {
    uid: u32,
    media: MediaSession,
    events: mpsc::Receiver<MediaEvent>,
    url: String,
    /// Non-media server messages.
    signalling: mpsc::UnboundedReceiver<ServerMessage>,
    sig_tx: mpsc::UnboundedSender<ServerMessage>,
    out: mpsc::UnboundedSender<ClientMessage>,
    outbox: Outbox,
    io: JoinHandle<()>,
    session_id: String,
    /// Every non-media event so far (for failure messages).
    seen: Vec<MediaEvent>,
    /// Non-media events not yet matched by an `expect`.
    backlog: Vec<MediaEvent>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.io.abort();
    }
}

type Outbox = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<ClientMessage>>>;

/// Run one signalling connection: hello first, then frames both ways.
async fn connect(
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

fn hello(uid: u32, resume: Option<String>) -> ClientMessage {
    ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        channel: CHANNEL.into(),
        uid,
        name: format!("u{uid}"),
        token: None,
        resume: resume.map(|session_id| tether_proto::ResumeRequest { session_id }),
    }
}

async fn join(url: &str, uid: u32) -> Peer {
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
    async fn expect(&mut self, what: &str, pred: impl Fn(&MediaEvent) -> bool) -> MediaEvent {
        self.expect_within(what, WAIT, pred).await
    }

    async fn expect_within(
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

    async fn expect_signal(
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

    /// Drop the signalling socket and resume the session on a new one.
    async fn reconnect(&mut self) {
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

    fn send(&self, msg: ClientMessage) {
        self.out.send(msg).expect("io task alive");
    }

    async fn publish(&self, audio: bool, video: bool) -> Publication {
        self.send(ClientMessage::Publish { audio, video });
        self.media.publish(audio, video).await.expect("publish")
    }
}

/// Frame `n` of a synthetic stream: the number up front so order can be checked.
fn audio_frame(n: u32) -> Bytes {
    let mut v = n.to_be_bytes().to_vec();
    v.resize(60, 0xA5);
    Bytes::from(v)
}

/// VP8-shaped: a frame tag (bit 0 clear = keyframe), then the number; a
/// keyframe is large enough to span several packets.
fn video_frame(n: u32, key: bool) -> Bytes {
    let mut v = vec![if key { 0x10 } else { 0x11 }];
    v.extend_from_slice(&n.to_be_bytes());
    v.resize(if key { 3000 } else { 700 }, (n % 251) as u8);
    Bytes::from(v)
}

fn frame_no(payload: &[u8], kind: MediaKind) -> u32 {
    let at = match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    };
    let b: [u8; 4] = payload[at..at + 4].try_into().expect("numbered frame");
    u32::from_be_bytes(b)
}

/// A synthetic sender: audio every 10 ms, video every 20 ms (faster than real
/// time, to keep tests short). Keyframes at start and whenever asked.
struct Sender {
    stop: tokio_util_like::Stop,
    task: JoinHandle<(u32, u32)>,
    keyframe: Arc<tokio::sync::Notify>,
}

mod tokio_util_like {
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

fn start_sending(p: Publication) -> Sender {
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
    async fn finish(self) -> (u32, u32) {
        self.stop.stop();
        self.task.await.expect("sender")
    }
}

/// Forward `KeyframeRequested` from the publisher's events to its sender.
fn is_keyframe_request(e: &MediaEvent) -> bool {
    matches!(e, MediaEvent::KeyframeRequested)
}

/// Collect frame numbers of `uid`'s `kind` until `until` frames are seen.
async fn frames(peer: &mut Peer, uid: u32, kind: MediaKind, count: usize) -> Vec<u32> {
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

fn assert_contiguous(what: &str, nums: &[u32]) {
    for w in nums.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{what}: frames out of order or missing: {nums:?}"
        );
    }
}

/// Strictly increasing; returns how many numbers were skipped.
fn assert_ordered(what: &str, nums: &[u32]) -> u32 {
    let mut missing = 0;
    for w in nums.windows(2) {
        assert!(w[1] > w[0], "{what}: frames out of order: {nums:?}");
        missing += w[1] - w[0] - 1;
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_media_reaches_subscriber_in_order() {
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;

    let t0 = Instant::now();
    let publication = a.publish(true, true).await;
    let sender = start_sending(publication);
    b.expect("audio track", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    let first_rtp = b
        .expect("first rtp", |e| matches!(e, MediaEvent::Rtp { uid: 1, .. }))
        .await;
    let MediaEvent::Rtp { at, .. } = first_rtp else {
        unreachable!()
    };
    let offer_to_rtp = at.duration_since(t0);
    a.expect("publisher connected", |e| {
        matches!(
            e,
            MediaEvent::TransportState {
                role: TransportRole::Publisher,
                state: TransportState::Connected
            }
        )
    })
    .await;

    let audio = frames(&mut b, 1, MediaKind::Audio, 100).await;
    assert_contiguous("audio", &audio);
    let video = frames(&mut b, 1, MediaKind::Video, 50).await;
    assert_contiguous("video", &video);
    let (sent_a, sent_v) = sender.finish().await;
    println!(
        "publisher-offer -> first RTP at subscriber: {:.1} ms; audio frames {}..{} of {sent_a} sent, video {}..{} of {sent_v}",
        offer_to_rtp.as_secs_f64() * 1e3,
        audio[0],
        audio[audio.len() - 1],
        video[0],
        video[video.len() - 1],
    );
    assert!(
        offer_to_rtp < Duration::from_secs(2),
        "media took {offer_to_rtp:?}"
    );
    // Stats arrive once a second.
    let stats = b
        .expect("stats", |e| matches!(e, MediaEvent::Stats { uid: 1, .. }))
        .await;
    println!("subscriber stats: {stats:?}");
    a.media.close().await;
    b.media.close().await;
}

fn init_logs() {
    let _already = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_gets_tracks_and_a_keyframe_within_a_second() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sender = start_sending(a.publish(true, true).await);
    b.expect("video frames at B", |e| {
        matches!(
            e,
            MediaEvent::Frame {
                uid: 1,
                kind: MediaKind::Video,
                ..
            }
        )
    })
    .await;
    // Drain A's keyframe requests caused by B before C arrives.
    while a.events.try_recv().is_ok() {}

    let t_join = Instant::now();
    let mut c = join(&url, 3).await;
    c.expect("audio track at C", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    a.expect_within(
        "keyframe request at A",
        Duration::from_secs(1),
        is_keyframe_request,
    )
    .await;
    let t_req = t_join.elapsed();
    sender.keyframe.notify_one();
    let key = c
        .expect_within("keyframe at C", Duration::from_secs(1), |e| {
            matches!(
                e,
                MediaEvent::Frame {
                    uid: 1,
                    kind: MediaKind::Video,
                    is_keyframe: true,
                    ..
                }
            )
        })
        .await;
    let t_key = t_join.elapsed();
    assert!(matches!(key, MediaEvent::Frame { .. }));
    println!(
        "late joiner: keyframe request at publisher {:.1} ms after join, keyframe decoded-ready at joiner {:.1} ms",
        t_req.as_secs_f64() * 1e3,
        t_key.as_secs_f64() * 1e3
    );
    assert!(t_key < Duration::from_secs(1));
    // And C's audio flows in order from its first frame.
    let audio = frames(&mut c, 1, MediaKind::Audio, 30).await;
    assert_contiguous("audio at C", &audio);
    sender.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_ice_restart_keeps_media_flowing_both_ways() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, true).await);
    let sb = start_sending(b.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Audio, 10).await;
    frames(&mut a, 2, MediaKind::Audio, 10).await;

    // A's signalling drops and comes back: same session, ICE restart on both
    // of A's connections, no renegotiation of tracks.
    a.reconnect().await;
    let t = Instant::now();
    a.media.ice_restart().expect("restart");
    // The server re-offers A's subscriber connection with new ICE credentials.
    let at_b = frames(&mut b, 1, MediaKind::Audio, 50).await;
    let at_a = frames(&mut a, 2, MediaKind::Audio, 50).await;
    // Audio has no retransmission: allow a packet lost while the selected
    // candidate pair switches, but nothing out of order and no stall.
    let missing_b = assert_ordered("A's audio at B across the restart", &at_b);
    let missing_a = assert_ordered("B's audio at A across the restart", &at_a);
    println!(
        "resume + ICE restart: 50 frames each way within {:.1} ms; audio frames lost: {missing_b} (A->B), {missing_a} (B->A)",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(
        missing_a + missing_b <= 4,
        "too many lost: {at_b:?} {at_a:?}"
    );
    // No track was renegotiated away.
    assert!(
        !a.seen
            .iter()
            .chain(b.seen.iter())
            .any(|e| matches!(e, MediaEvent::TrackEnded { .. })),
        "no track ended: A {:?} B {:?}",
        a.seen,
        b.seen
    );
    sa.finish().await;
    sb.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublish_and_leave_remove_tracks_from_subscribers() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let c = join(&url, 3).await;
    let sa = start_sending(a.publish(true, true).await);
    let sc = start_sending(c.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Video, 5).await;
    frames(&mut b, 3, MediaKind::Audio, 5).await;

    // A unpublishes: B loses both of A's tracks, keeps C's.
    a.send(ClientMessage::Unpublish);
    a.media.unpublish().expect("unpublish");
    sa.finish().await;
    b.expect("A's video ends at B", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 1,
                kind: MediaKind::Video
            }
        )
    })
    .await;
    b.expect("A's audio ends at B", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    let c_audio = frames(&mut b, 3, MediaKind::Audio, 20).await;
    assert_contiguous("C's audio at B after A unpublished", &c_audio);

    // A publishes again: a new publisher connection; B gets A's tracks again.
    b.backlog.clear();
    let sa = start_sending(a.publish(true, false).await);
    b.expect("A's audio again at B", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    frames(&mut b, 1, MediaKind::Audio, 10).await;

    // C leaves: its track ends at A and B.
    c.send(ClientMessage::Leave);
    sc.finish().await;
    b.expect("C's audio ends at B", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 3,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    a.expect("C's audio ends at A", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 3,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    sa.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_is_broadcast_and_told_to_late_joiners() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    a.media.set_muted(true, false).expect("mute");
    b.expect_signal("mute-changed at B", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: true,
                video: false
            }
        )
    })
    .await;
    // A late joiner hears it right after its welcome.
    let mut c = join(&url, 3).await;
    c.expect_signal("mute-changed at C", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: true,
                video: false
            }
        )
    })
    .await;
    a.media.set_muted(false, false).expect("unmute");
    c.expect_signal("unmute at C", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: false,
                video: false
            }
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_audio_stops_rtp_and_unmute_resumes_it() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Audio, 5).await;
    a.media.set_muted(true, false).expect("mute");
    b.expect_signal("mute-changed", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: true,
                ..
            }
        )
    })
    .await;
    // Drain what was in flight, then expect silence for 300 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while b.events.try_recv().is_ok() {}
    let quiet = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(MediaEvent::Frame { uid: 1, .. }) = b.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "no audio frames while muted");
    a.media.set_muted(false, false).expect("unmute");
    frames(&mut b, 1, MediaKind::Audio, 5).await;
    sa.finish().await;
}

/// CPU time of this whole process (server and clients), from /proc.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz on Linux).
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_range_and_advertised_ip_carry_media_and_bad_sdp_is_refused() {
    init_logs();
    let mut config = ServerConfig::open_loopback();
    config.media.udp_port_min = 47_400;
    config.media.udp_port_max = 47_419;
    config.media.advertise_ip = Some("127.0.0.1".parse().expect("ip"));
    let server = Server::bind(config).await.expect("bind");
    let srv = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let url = format!("ws://{}", srv.local_addr());

    // Garbage SDP gets a clear, non-fatal error; the session goes on.
    let mut a = join(&url, 1).await;
    a.send(ClientMessage::PublisherOffer {
        sdp: "not an sdp".into(),
    });
    let err = a
        .expect_signal("error", |m| matches!(m, ServerMessage::Error { .. }))
        .await;
    assert!(
        matches!(err, ServerMessage::Error { fatal: false, .. }),
        "{err:?}"
    );
    a.send(ClientMessage::SubscriberAnswer {
        sdp: "unasked".into(),
    });

    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, true).await);
    frames(&mut b, 1, MediaKind::Audio, 20).await;

    // Steady state: CPU of the whole process (server + both clients) while
    // one audio (100 pkt/s here) and one video stream are forwarded.
    let (cpu0, t0) = (process_cpu(), Instant::now());
    let audio = frames(&mut b, 1, MediaKind::Audio, 200).await;
    let (cpu1, wall) = (process_cpu(), t0.elapsed());
    assert_ordered("audio through the port range", &audio);
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        println!(
            "whole process (server + 2 clients, debug build) CPU while forwarding 1 audio + 1 video stream: {:.1}% of one core over {:.1} s",
            (c1 - c0).as_secs_f64() / wall.as_secs_f64() * 100.0,
            wall.as_secs_f64()
        );
    }
    sa.finish().await;
}
