//! Test support: an in-process server, a fault-injecting TCP relay, and
//! waiting for events with deadlines.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use tether_client::{Client, ClientConfig, ClientEvent, EventRecord, SessionConfig, Timing};
use tether_server::{AuthMode, Server, ServerConfig, ServerHandle};

/// A server on 127.0.0.1 with short presence timeouts.
pub async fn server(peer_timeout: Duration, auth: AuthMode) -> ServerHandle {
    server_at("127.0.0.1:0".parse().expect("addr"), peer_timeout, auth).await
}

pub async fn server_at(addr: SocketAddr, peer_timeout: Duration, auth: AuthMode) -> ServerHandle {
    let mut config = ServerConfig::new(addr, auth);
    config.peer_timeout = peer_timeout;
    config.peer_stale = Duration::from_millis(400);
    let server = Server::bind(config).await.expect("bind");
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    handle
}

/// Short thresholds so a test runs in seconds.
pub fn fast_timing() -> Timing {
    Timing {
        keepalive_interval: Duration::from_millis(100),
        keepalive_timeout: Duration::from_millis(600),
        attempt_timeout: Duration::from_millis(800),
        ..Timing::default()
    }
}

pub struct Peer {
    pub client: Client,
    pub events: mpsc::UnboundedReceiver<ClientEvent>,
    pub seen: Vec<ClientEvent>,
}

pub fn client(url: &str, uid: u32, token: Option<String>) -> Peer {
    let session = SessionConfig::new("itest", uid, &format!("u{uid}"))
        .expect("valid")
        .with_token(token)
        .with_timing(fast_timing())
        .with_rng_seed(u64::from(uid));
    let mut config = ClientConfig::new(url, session).expect("url");
    // Loopback tests must not react to the host's own network events.
    config.network_hints = false;
    let (client, events) = Client::spawn(config);
    Peer {
        client,
        events,
        seen: vec![],
    }
}

impl Peer {
    /// Wait for the first event (after those already consumed) matching `pred`.
    pub async fn expect(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&EventRecord) -> bool,
    ) -> ClientEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if pred(&event.record.event) {
                        return event;
                    }
                }
                Ok(None) => panic!("client stopped while waiting for {what}"),
                Err(_) => panic!(
                    "no {what} within {within:?}; saw: {:#?}",
                    self.seen.iter().map(|e| &e.record).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Everything that arrives within `window` (for asserting absences).
    pub async fn collect_for(&mut self, window: Duration) -> Vec<EventRecord> {
        let deadline = tokio::time::Instant::now() + window;
        let mut out = vec![];
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            out.push(event.record.event.clone());
            self.seen.push(event);
        }
        out
    }
}

/// A TCP relay in front of the server that can silently swallow traffic,
/// like a network that drops packets without telling anyone.
pub struct Relay {
    pub url: String,
    pass: watch::Sender<bool>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("addr");
        let (pass, pass_rx) = watch::channel(true);
        let relay = Arc::new(Self {
            url: format!("ws://{addr}"),
            pass,
        });
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let pass = pass_rx.clone();
                tokio::spawn(async move {
                    let Ok(up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _nodelay = down.set_nodelay(true);
                    let _nodelay = up.set_nodelay(true);
                    let (dr, dw) = down.into_split();
                    let (ur, uw) = up.into_split();
                    tokio::join!(pipe(dr, uw, pass.clone()), pipe(ur, dw, pass));
                });
            }
        });
        relay
    }

    /// Swallow everything from now on (no FIN, no RST).
    pub fn cut(&self) {
        self.pass.send_replace(false);
    }

    pub fn restore(&self) {
        self.pass.send_replace(true);
    }
}

/// Forward bytes while the relay passes; while cut, stop reading, so data
/// waits in socket buffers as it would behind a dead link that TCP retries.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut pass: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if pass.wait_for(|p| *p).await.is_err() {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = pass.wait_for(|p| !*p) => continue,
        };
        if pass.wait_for(|p| *p).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

pub fn is_state(e: &EventRecord, cur: &str) -> bool {
    matches!(e, EventRecord::ConnectionStateChange { cur_state, .. } if cur_state.as_str() == cur)
}
