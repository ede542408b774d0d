//! The server: binding, the accept loop, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, info_span, warn, Instrument};

use crate::auth::Authenticator;
use crate::config::{AuthMode, ServerConfig};
use crate::error::ServerError;
use crate::hub::{Hub, HubConfig, HubStats};
use crate::sfu::{self, rtc::PcFactory, SfuInput};
use crate::slots::{Refused, Slots};
use crate::{connection, presence};

/// How long shutdown waits for connections to finish their close handshake.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(700);

/// Logs refusals at accept at most once a second (a flood of them is the
/// point of an attack, and must not become a flood of log lines).
#[derive(Default)]
struct RefusedLog {
    last: Option<tokio::time::Instant>,
    since: u64,
}

impl RefusedLog {
    fn refused(&mut self, why: Refused, peer: SocketAddr) {
        self.since += 1;
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            warn!(%peer, ?why, refused = self.since, "connection refused at accept");
            self.last = Some(now);
            self.since = 0;
        }
    }
}

/// State every connection task shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) hub: Arc<Hub>,
    pub(crate) auth: Authenticator,
    /// Media signalling goes to the SFU through the same ordered queue as the
    /// hub's session notices.
    pub(crate) sfu: mpsc::UnboundedSender<SfuInput>,
}

/// A bound channel server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    sfu_rx: mpsc::UnboundedReceiver<SfuInput>,
}

/// Stops a running server and reads its counters; cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    stop: CancellationToken,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl ServerHandle {
    /// Ask the server to shut down: every connection gets `going-away` and a
    /// 1001 close, then [`Server::run`] returns.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Channels and sessions right now.
    pub fn stats(&self) -> HubStats {
        self.shared.hub.stats()
    }
}

impl Server {
    /// Check the configuration and bind the listener. Open mode on a
    /// non-loopback address is refused before anything is bound unless
    /// explicitly allowed.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        config.validate()?;
        if config.is_open_on_public() {
            warn!(
                listen = %config.listen,
                "OPEN MODE ON A NON-LOOPBACK ADDRESS: anyone who can reach this server can join \
                 any channel as any uid without a token"
            );
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let hub = Arc::new(Hub::new(HubConfig {
            peer_timeout: config.peer_timeout,
            peer_stale: config.peer_stale,
            departed_ttl: config.departed_ttl,
            departed_max: config.departed_max,
            max_participants: config.max_participants,
        }));
        let (sfu, sfu_rx) = mpsc::unbounded_channel();
        hub.set_media(sfu.clone());
        let auth = Authenticator::new(&config.auth);
        let mode = match config.auth {
            AuthMode::Open => "open",
            AuthMode::Token(_) => "token",
        };
        info!(%local_addr, auth = mode, peer_timeout_ms = config.peer_timeout.as_millis() as u64,
              peer_stale_ms = config.peer_stale.as_millis() as u64, "bound");
        Ok(Self {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                config,
                hub,
                auth,
                sfu,
            }),
            stop: CancellationToken::new(),
            sfu_rx,
        })
    }

    /// The bound address (the real port when the configuration asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            stop: self.stop.clone(),
            shared: self.shared.clone(),
            local_addr: self.local_addr,
        }
    }

    /// Serve until `shutdown` completes or [`ServerHandle::shutdown`] is called,
    /// then say `going-away` to every connection, close them with 1001 and return.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            shared,
            stop,
            sfu_rx,
            ..
        } = self;
        let tasks = TaskTracker::new();
        tasks.spawn(presence::run(shared.hub.clone(), stop.child_token()));
        let factory = Arc::new(PcFactory::new(
            shared.config.media.clone(),
            shared.config.listen.ip(),
        ));
        tasks.spawn(
            sfu::run(shared.hub.clone(), factory, sfu_rx, stop.child_token())
                .instrument(info_span!("sfu")),
        );
        let slots = Arc::new(Slots::new(
            shared.config.max_connections_per_ip,
            shared.config.max_handshakes,
            shared.config.max_connections,
        ));
        let mut refused_log = RefusedLog::default();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => match slots.admit(peer.ip()) {
                        Ok(ticket) => {
                            let conn = connection::serve(tcp, peer, shared.clone(), stop.child_token(), ticket);
                            tasks.spawn(conn.instrument(info_span!("conn", %peer)));
                        }
                        // Closed before any task or handshake is spent on it.
                        Err(why) => refused_log.refused(why, peer),
                    },
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
        info!("shutting down");
        stop.cancel();
        drop(listener);
        tasks.close();
        if timeout(SHUTDOWN_GRACE, tasks.wait()).await.is_err() {
            warn!("some connections did not finish closing in time");
        }
        info!("stopped");
    }
}
