//! Helpers for integration tests: a real server on 127.0.0.1:0 and
//! tokio-tungstenite clients that wait for messages with deadlines.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tether_proto::{decode_server, encode, ClientMessage, ResumeRequest, ServerMessage};
use tether_server::{AuthMode, Secret, Server, ServerConfig, ServerHandle};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous deadline for things that should happen "at once".
pub const SOON: Duration = Duration::from_secs(2);

pub fn secret() -> Secret {
    Secret::from_bytes(b"test-secret-0123456789abcdef").unwrap()
}

pub fn other_secret() -> Secret {
    Secret::from_bytes(b"some-other-secret-0123456789").unwrap()
}

pub fn open_config() -> ServerConfig {
    ServerConfig::open_loopback()
}

pub fn token_config() -> ServerConfig {
    ServerConfig::new("127.0.0.1:0".parse().unwrap(), AuthMode::Token(secret()))
}

pub fn token(channel: &str, uid: u32) -> String {
    tether_server::issue_token(&secret(), channel, uid, Duration::from_secs(600), true).unwrap()
}

pub struct TestServer {
    pub url: String,
    pub handle: ServerHandle,
    pub task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        let server = Server::bind(config).await.unwrap();
        let url = format!("ws://{}", server.local_addr());
        let handle = server.handle();
        let task = tokio::spawn(server.run(std::future::pending()));
        Self { url, handle, task }
    }

    /// Wait for `run` to return; panics after `limit`.
    pub async fn wait_stopped(&mut self, limit: Duration) {
        timeout(limit, &mut self.task)
            .await
            .expect("run returns promptly")
            .expect("no panic");
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url).await
    }

    /// A client that joined `channel` as `uid` (open mode) and got its welcome.
    pub async fn joined(&self, channel: &str, uid: u32) -> (Client, ServerMessage) {
        let mut c = self.client().await;
        c.hello(channel, uid, None, None).await;
        let w = c.expect_welcome().await;
        (c, w)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

pub struct Client {
    sink: Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>,
    stream: SplitStream<Ws>,
    /// When the last frame was written, by us or the pinger.
    pub last_sent: Arc<Mutex<Instant>>,
    pinger: Option<JoinHandle<()>>,
}

pub fn hello(
    channel: &str,
    uid: u32,
    token: Option<String>,
    resume: Option<String>,
) -> ClientMessage {
    ClientMessage::Hello {
        version: tether_proto::PROTOCOL_VERSION,
        channel: channel.into(),
        uid,
        name: format!("user{uid}"),
        token,
        resume: resume.map(|session_id| ResumeRequest { session_id }),
    }
}

/// What ended a connection, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (sink, stream) = ws.split();
        Self {
            sink: Arc::new(tokio::sync::Mutex::new(sink)),
            stream,
            last_sent: Arc::new(Mutex::new(Instant::now())),
            pinger: None,
        }
    }

    /// Connect from `source` (another loopback address is another client
    /// machine as the server counts them), with a receive buffer of
    /// `recv_buffer` bytes if given; the handshake's error if it fails.
    pub async fn connect_from(
        url: &str,
        source: std::net::IpAddr,
        recv_buffer: Option<u32>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let addr: std::net::SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((source, 0).into()).unwrap();
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let tcp = socket.connect(addr).await?;
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
        let (sink, stream) = ws.split();
        Ok(Self {
            sink: Arc::new(tokio::sync::Mutex::new(sink)),
            stream,
            last_sent: Arc::new(Mutex::new(Instant::now())),
            pinger: None,
        })
    }

    /// The shared write half, for tests that write concurrently with reading.
    pub fn sink_handle(&self) -> Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>> {
        self.sink.clone()
    }

    pub async fn send_frame(&self, msg: Message) {
        self.sink.lock().await.send(msg).await.unwrap();
        *self.last_sent.lock().unwrap() = Instant::now();
    }

    pub async fn send_raw(&self, text: &str) {
        self.send_frame(Message::Text(text.into())).await;
    }

    pub async fn send(&self, msg: &ClientMessage) {
        self.send_raw(&encode(msg)).await;
    }

    pub async fn hello(
        &self,
        channel: &str,
        uid: u32,
        token: Option<String>,
        resume: Option<String>,
    ) {
        self.send(&hello(channel, uid, token, resume)).await;
    }

    /// Ping every `every` in the background, like our client does.
    pub fn start_pinging(&mut self, every: Duration) {
        let sink = self.sink.clone();
        let last = self.last_sent.clone();
        self.pinger = Some(tokio::spawn(async move {
            let mut seq = 1_000_000u64;
            loop {
                seq += 1;
                let frame = Message::Text(encode(&ClientMessage::Ping { seq }).into());
                if sink.lock().await.send(frame).await.is_err() {
                    return;
                }
                *last.lock().unwrap() = Instant::now();
                tokio::time::sleep(every).await;
            }
        }));
    }

    /// Stop pinging; returns when the last frame was sent.
    pub async fn stop_pinging(&mut self) -> Instant {
        if let Some(p) = self.pinger.take() {
            p.abort();
            if let Err(e) = p.await {
                assert!(e.is_cancelled(), "pinger failed: {e}");
            }
        }
        *self.last_sent.lock().unwrap()
    }

    /// The next server message (pongs included), or None if the socket ended.
    pub async fn next_within(&mut self, limit: Duration) -> Option<ServerMessage> {
        let deadline = Instant::now() + limit;
        loop {
            let frame = timeout(
                deadline.saturating_duration_since(Instant::now()),
                self.stream.next(),
            )
            .await
            .unwrap_or_else(|_| panic!("no message within {limit:?}"));
            match frame {
                Some(Ok(Message::Text(t))) => return Some(decode_server(t.as_str()).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Wait for a message matching `pred`, skipping others; panics after `limit`.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        what: &str,
        mut pred: impl FnMut(&ServerMessage) -> bool,
    ) -> ServerMessage {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = timeout(left, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} within {limit:?}"));
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let msg = decode_server(t.as_str()).unwrap();
                    if pred(&msg) {
                        return msg;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended while waiting for {what}: {other:?}"),
            }
        }
    }

    /// Every message until a pong for a fresh marker ping (everything the
    /// server sent us before it answered).
    pub async fn collect_until_marker(&mut self, seq: u64) -> Vec<ServerMessage> {
        self.send(&ClientMessage::Ping { seq }).await;
        let mut seen = Vec::new();
        loop {
            let msg = self.next_within(SOON).await.expect("socket open");
            if msg == (ServerMessage::Pong { seq }) {
                return seen;
            }
            seen.push(msg);
        }
    }

    pub async fn expect_welcome(&mut self) -> ServerMessage {
        self.wait_for(SOON, "welcome", |m| {
            matches!(m, ServerMessage::Welcome { .. })
        })
        .await
    }

    /// Wait for the close frame (skipping messages); returns its code and reason.
    pub async fn closed(&mut self, limit: Duration) -> Closed {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = timeout(left, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no close within {limit:?}"));
            match frame {
                Some(Ok(Message::Close(frame))) => {
                    return Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("socket error instead of a close frame: {e}"),
                None => panic!("socket ended without a close frame"),
            }
        }
    }

    /// Messages until the close frame, and the close.
    pub async fn messages_then_close(&mut self, limit: Duration) -> (Vec<ServerMessage>, Closed) {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.stream.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Text(t))) => seen.push(decode_server(t.as_str()).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    let closed = Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                    return (seen, closed);
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    }

    /// Drop the socket without a close handshake (a network loss as the server sees it).
    pub async fn drop_socket(mut self) {
        self.stop_pinging().await;
        drop(self);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(p) = self.pinger.take() {
            p.abort();
        }
    }
}

pub fn is_peer_leave(m: &ServerMessage, uid: u32) -> bool {
    matches!(m, ServerMessage::PeerLeave { uid: u, .. } if *u == uid)
}
