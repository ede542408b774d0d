//! The built-in channel server: with no server configured, the app serves
//! `ws://127.0.0.1:7800` itself (open mode, loopback only; port from
//! `TETHER_EMBEDDED_PORT`).
//!
//! If the port is taken, the app asks whoever holds it whether it is a Tether
//! server in open mode: it opens a WebSocket, sends a `hello` for a fresh
//! channel of its own (`tether-probe-<random>`, so nobody sees it) and expects
//! `welcome`, then sends `leave`. If so, the app uses that server, and two app
//! windows (or the app and the headless client) meet without any setup. If
//! that instance exits later, the next `ensure` (every join, and a watcher
//! every few seconds while shared) takes the port over, and clients reconnect
//! to this app's own server.
//!
//! Answering `welcome` proves nothing (any local process, another user's
//! included, could listen on the port first and collect the calls). The app
//! that starts the server gives it a random key and writes the key to
//! [`key_file`] (0600, in a 0700 folder of this user's); a prober sends a
//! random challenge in the handshake and shares the server only if the
//! proof that comes back is right (see `tether_server`'s `instance` module).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tracing::{info, warn};

use tether_proto::{decode_server, encode, ClientMessage, ServerMessage, PROTOCOL_VERSION};
use tether_server::{
    instance_proof, new_instance_key, AuthMode, Secret, Server, ServerConfig, ServerError,
    ServerHandle, CHALLENGE_HEADER, PROOF_HEADER,
};

use crate::error::{ErrorCode, IpcError, IpcResult};

/// The built-in server's default port.
pub const DEFAULT_PORT: u16 = 7800;
/// Environment variable that changes it (0 = any free port).
pub const PORT_ENV: &str = "TETHER_EMBEDDED_PORT";
/// Environment variable: the address the built-in server binds instead of
/// 127.0.0.1 (e.g. a test network's address, so another machine or network
/// namespace can join). Open mode then serves everyone who reaches it.
pub const HOST_ENV: &str = "TETHER_EMBEDDED_HOST";
/// How long the probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The port from [`PORT_ENV`], else [`DEFAULT_PORT`].
pub fn port_from_env() -> u16 {
    match std::env::var(PORT_ENV) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            // Read before logging is set up: say it on stderr too.
            eprintln!("tether-app: {PORT_ENV}={v:?} is not a port number; using {DEFAULT_PORT}");
            warn!(value = %v, "{PORT_ENV} is not a port number; using {DEFAULT_PORT}");
            DEFAULT_PORT
        }),
        Err(_) => DEFAULT_PORT,
    }
}

/// Who serves the built-in server's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Nothing yet.
    NotStarted,
    /// This app runs it.
    Own {
        /// `ws://127.0.0.1:PORT`.
        url: String,
    },
    /// Another Tether on this machine runs it.
    Shared {
        /// `ws://127.0.0.1:PORT`.
        url: String,
    },
}

/// What a probe of the port found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A Tether server in open mode.
    OpenTether,
    /// A Tether server that refused us (e.g. it needs tokens): `(code, message)`.
    Refused(String),
    /// Not a Tether server, or no answer.
    NotTether(String),
}

/// The built-in server of one app.
pub struct Embedded {
    port: u16,
    state: Mutex<State>,
}

enum Bind {
    InUse(SocketAddr),
    Failed(ServerError),
}

struct State {
    mode: Mode,
    handle: Option<ServerHandle>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Embedded {
    /// Not started; `port` 0 picks a free port when started.
    pub fn new(port: u16) -> Self {
        Self {
            port,
            state: Mutex::new(State {
                mode: Mode::NotStarted,
                handle: None,
            }),
        }
    }

    /// Who serves it now.
    pub async fn mode(&self) -> Mode {
        self.state.lock().await.mode.clone()
    }

    /// Make sure a Tether server answers at the built-in URL and return it:
    /// start one, or use the one another Tether runs on the port.
    pub async fn ensure(&self) -> IpcResult<String> {
        let mut state = self.state.lock().await;
        if let Mode::Own { url } = &state.mode {
            return Ok(url.clone());
        }
        let addr = match self.try_bind(&mut state).await {
            Ok(url) => return Ok(url),
            Err(Bind::InUse(addr)) => addr,
            Err(Bind::Failed(e)) => {
                return Err(IpcError::new(
                    ErrorCode::EmbeddedServer,
                    format!("cannot start the built-in server: {e}"),
                ))
            }
        };
        let url = format!("ws://{addr}");
        match probe(&url).await {
            Probe::OpenTether => {
                if state.mode == Mode::NotStarted {
                    info!(%url, "another Tether serves the built-in port; using it");
                }
                state.mode = Mode::Shared { url: url.clone() };
                Ok(url)
            }
            Probe::Refused(why) | Probe::NotTether(why) => Err(IpcError::new(
                ErrorCode::EmbeddedServer,
                format!(
                    "port {} is in use by something other than an open Tether server ({why}); \
                     set {PORT_ENV} to another port, or choose a server in the settings",
                    addr.port()
                ),
            )),
        }
    }

    /// While another Tether serves the port, try to serve it ourselves (it
    /// succeeds once that one has exited).
    pub async fn take_over_if_shared(&self) {
        let mut state = self.state.lock().await;
        if matches!(state.mode, Mode::Shared { .. }) {
            // In use: the other one still runs. Failed: logged, try later.
            if let Err(Bind::Failed(e)) = self.try_bind(&mut state).await {
                warn!("taking over the built-in port: {e}");
            }
        }
    }

    async fn try_bind(&self, state: &mut State) -> Result<String, Bind> {
        let host = std::env::var(HOST_ENV)
            .ok()
            .and_then(|h| h.trim().parse::<std::net::IpAddr>().ok())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let listen = SocketAddr::from((host, self.port));
        let mut config = ServerConfig::new(listen, AuthMode::Open);
        // Asked for explicitly through HOST_ENV.
        config.allow_open_on_public = !host.is_loopback();
        let key = new_instance_key();
        config.instance_key = Some(key.clone());
        match Server::bind(config).await {
            Ok(server) => {
                let url = format!("ws://{}", server.local_addr());
                // Without the file, other Tethers of this user cannot share
                // the server (they say so); this one still works.
                if let Err(e) = write_key(server.local_addr().port(), &key) {
                    warn!("cannot write the built-in server's key file: {}", e.message);
                }
                let was_shared = matches!(state.mode, Mode::Shared { .. });
                state.handle = Some(server.handle());
                state.mode = Mode::Own { url: url.clone() };
                tokio::spawn(server.run(std::future::pending()));
                if was_shared {
                    info!(%url, "built-in server taken over (the other Tether left)");
                } else {
                    info!(%url, "built-in server started (open mode, loopback only)");
                }
                Ok(url)
            }
            Err(ServerError::Bind { addr, source })
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                Err(Bind::InUse(addr))
            }
            Err(e) => Err(Bind::Failed(e)),
        }
    }

    /// Stop this app's server (if it runs one).
    pub async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        if let Some(handle) = state.handle.take() {
            handle.shutdown();
        }
        state.mode = Mode::NotStarted;
    }
}

/// Where the key of the built-in server on `port` is kept: this user's
/// runtime folder (`XDG_RUNTIME_DIR`), else their cache folder, under
/// `tether/`.
pub fn key_file(port: u16) -> std::path::PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            if cfg!(windows) {
                std::env::var_os("LOCALAPPDATA").map(std::path::PathBuf::from)
            } else {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache"))
            }
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("tether").join(format!("embedded-{port}.key"))
}

fn write_key(port: u16, key: &Secret) -> IpcResult<()> {
    let path = key_file(port);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .and_then(|()| crate::logging::private_dir(dir))
            .map_err(|e| {
                IpcError::new(ErrorCode::Io, format!("cannot make {}: {e}", dir.display()))
            })?;
    }
    crate::settings::write_atomic(&path, key.as_bytes())
}

/// Ask `url` whether it is a Tether server in open mode (see the module doc).
pub async fn probe(url: &str) -> Probe {
    match tokio::time::timeout(PROBE_TIMEOUT, probe_inner(url)).await {
        Ok(result) => result,
        Err(_) => Probe::NotTether("no answer within 2 s".into()),
    }
}

async fn probe_inner(url: &str) -> Probe {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let challenge = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let mut request = match url.into_client_request() {
        Ok(r) => r,
        Err(e) => return Probe::NotTether(format!("bad URL: {e}")),
    };
    if let Ok(value) = challenge.parse() {
        request.headers_mut().insert(CHALLENGE_HEADER, value);
    }
    let (mut ws, response) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(e) => return Probe::NotTether(format!("no WebSocket: {e}")),
    };
    let port = url_port(url);
    let proven = port.is_some_and(|port| {
        let key = std::fs::read(key_file(port))
            .ok()
            .and_then(|k| Secret::from_bytes(&k).ok());
        let proof = response
            .headers()
            .get(PROOF_HEADER)
            .and_then(|v| v.to_str().ok());
        matches!((key, proof), (Some(k), Some(p)) if instance_proof(&k, &challenge) == p)
    });
    let hello = ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        channel: format!("tether-probe-{:016x}", fastrand::u64(..)),
        uid: fastrand::u32(1..u32::MAX),
        name: "probe".into(),
        token: None,
        resume: None,
    };
    if let Err(e) = ws.send(Message::text(encode(&hello))).await {
        return Probe::NotTether(format!("send failed: {e}"));
    }
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => return Probe::NotTether(format!("read failed: {e}")),
        };
        return match decode_server(text.as_str()) {
            Ok(ServerMessage::Welcome { .. }) => {
                // Polite exit: others never see the probe channel anyway.
                if ws
                    .send(Message::text(encode(&ClientMessage::Leave)))
                    .await
                    .is_ok()
                {
                    let _closed =
                        tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
                }
                if proven {
                    Probe::OpenTether
                } else {
                    Probe::NotTether(
                        "it answers as an open Tether server but cannot prove it is one of \
                         this user's (no key, or a wrong proof)"
                            .into(),
                    )
                }
            }
            Ok(ServerMessage::Error { code, message, .. }) => {
                Probe::Refused(format!("{}: {message}", encode(&code).trim_matches('"')))
            }
            Ok(other) => Probe::NotTether(format!("unexpected first message {other:?}")),
            Err(e) => Probe::NotTether(format!("not the Tether protocol: {e}")),
        };
    }
    Probe::NotTether("closed without answering".into())
}

/// The port of a `ws://host:port` URL.
fn url_port(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}
