//! One WebSocket connection: handshake, `hello`, the frame loop, rate limiting,
//! and a clean close with a reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tether_proto::{
    decode_client, validate_channel, validate_name, validate_uid, ClientMessage, ErrorCode, Media,
    ServerMessage, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_TOO_BIG, MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument, Span};

use crate::hub::{ConnId, ConnLink, JoinRequest, Outbound, SessionKey, CLOSE_NORMAL};
use crate::ratelimit::TokenBucket;
use crate::server::Shared;
use crate::sfu::{SfuInput, Signal};
use crate::slots::Ticket;

/// Outbound queue per connection; a connection this far behind is dropped.
const OUTBOUND_QUEUE: usize = 1024;
/// How long to wait for the peer's close reply after sending ours.
const CLOSE_LINGER: Duration = Duration::from_millis(300);
/// WebSocket close code for "try again later" (server busy).
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// Most bytes of an oversized frame read and discarded before giving up.
const DRAIN_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The kernel send buffer of a signalling socket. Autotuning lets it grow
/// to 4 MiB (`tcp_wmem`), which for a peer that stopped reading is 4 MiB of
/// kernel memory per connection and minutes before a write blocks; signalling
/// needs a few KiB. (Linux doubles the value for its own bookkeeping.)
const SEND_BUFFER_BYTES: usize = 128 * 1024;

/// Bytes read from the socket at a time.
const WS_READ_BUFFER_BYTES: usize = 8 * 1024;

/// The WebSocket limits every connection gets.
pub(crate) fn ws_config() -> WebSocketConfig {
    // Signalling frames are small (a few hundred bytes; SDP a few KiB), so
    // an 8 KiB read chunk (tungstenite's default is 128 KiB, allocated per
    // connection) reads any frame in a few calls and keeps a participant's
    // resident memory ~120 KiB lower (BENCHMARKS.md, server memory).
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Serve one accepted TCP connection until it ends or the server shuts down.
/// `ticket` holds its slots (handshake, then session, and its address's
/// count) until the connection ends.
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    mut ticket: Ticket,
) {
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, "set_nodelay failed: {e}");
    }
    if let Err(e) = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER_BYTES) {
        debug!(%peer, "setting the send buffer failed: {e}");
    }
    let origins = shared.config.allowed_origins.clone();
    let key = shared.config.instance_key.clone();
    // The callback's error type is tungstenite's (an HTTP response).
    #[allow(clippy::result_large_err)]
    let on_request = move |req: &Request, resp: Response| {
        check_origin(&origins, req, resp).map(|resp| prove_instance(key.as_ref(), req, resp))
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, on_request, Some(ws_config()));
    let ws = tokio::select! {
        () = shutdown.cancelled() => return,
        res = timeout(shared.config.handshake_timeout, handshake) => match res {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                debug!("websocket handshake failed: {e}");
                return;
            }
            Err(_) => {
                debug!("websocket handshake timed out");
                return;
            }
        },
    };
    let write_timeout = shared.config.write_timeout;
    if !ticket.handshake_done() {
        warn!("connection limit reached; refusing");
        refuse_busy(ws, write_timeout).await;
        return;
    }
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let id = shared.hub.next_conn_id();
    let kill = CancellationToken::new();
    let now = Instant::now();
    debug!(conn = id, "connected");
    let conn = Connection {
        bucket: TokenBucket::new(shared.config.rate_limit, now),
        negotiations: TokenBucket::new(shared.config.negotiation_limit, now),
        ws,
        link: ConnLink {
            id,
            tx,
            kill: kill.clone(),
        },
        rx,
        kill,
        shared,
        joined: None,
        dropped: 0,
        last_rate_error: None,
        write_timeout,
        span: Span::none(),
    };
    conn.run(shutdown).await;
    drop(ticket);
}

/// Refuse a handshake from a web page whose origin is not allowed (see
/// `ServerConfig::allowed_origins`).
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn check_origin(
    allowed: &[String],
    req: &Request,
    resp: Response,
) -> Result<Response, ErrorResponse> {
    let Some(origin) = req.headers().get("origin") else {
        return Ok(resp);
    };
    let allowed_here = origin
        .to_str()
        .is_ok_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
    if allowed_here {
        return Ok(resp);
    }
    info!(origin = ?origin, "handshake from a web page origin that is not allowed; refusing");
    let mut refusal = ErrorResponse::new(Some(
        "web pages may not connect to this server (Origin not allowed)".into(),
    ));
    *refusal.status_mut() = StatusCode::FORBIDDEN;
    Err(refusal)
}

/// Answer a prober's challenge with our proof, when we have a key.
fn prove_instance(key: Option<&crate::Secret>, req: &Request, mut resp: Response) -> Response {
    let Some(key) = key else {
        return resp;
    };
    let challenge = req
        .headers()
        .get(crate::CHALLENGE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|c| c.len() <= crate::MAX_CHALLENGE);
    if let Some(challenge) = challenge {
        let proof = crate::instance_proof(key, challenge);
        if let Ok(value) = proof.parse() {
            resp.headers_mut().insert(crate::PROOF_HEADER, value);
        }
    }
    resp
}

/// Write one frame, or fail after `limit`: a peer that stops reading must
/// not hold its task (and its slot) in a write forever.
async fn write(
    ws: &mut WebSocketStream<TcpStream>,
    msg: Message,
    limit: Duration,
) -> Result<(), String> {
    match timeout(limit, ws.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("peer read nothing for {} ms", limit.as_millis())),
    }
}

async fn refuse_busy(mut ws: WebSocketStream<TcpStream>, limit: Duration) {
    let busy = ServerMessage::Error {
        code: ErrorCode::ServerBusy,
        message: "server is at its connection limit; try again later".into(),
        fatal: false,
    };
    let text = Message::Text(tether_proto::encode(&busy).into());
    if write(&mut ws, text, limit).await.is_ok() {
        close_ws(&mut ws, CLOSE_TRY_AGAIN_LATER, "server busy", limit).await;
    }
}

/// Send a close frame and wait briefly for the peer's reply, so the peer reads
/// our reason before the TCP connection goes away.
async fn close_ws(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str, limit: Duration) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    match timeout(limit, ws.close(Some(frame))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            debug!("sending close failed: {e}");
            return;
        }
        Err(_) => {
            debug!("peer read nothing for {} ms; dropping", limit.as_millis());
            return;
        }
    }
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    if timeout(CLOSE_LINGER, drain).await.is_err() {
        debug!("peer did not answer our close in time");
    }
}

/// Why the frame loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The socket closed or failed (or we closed it for misbehaving): detach
    /// the session, keep it for resume.
    Dropped,
    /// We ended the session deliberately (leave, fatal error, hub's request).
    Closed,
    /// The server is shutting down.
    Shutdown,
}

enum Flow {
    Continue,
    Stop(End),
}

struct Connection {
    ws: WebSocketStream<TcpStream>,
    shared: Arc<Shared>,
    link: ConnLink,
    rx: mpsc::Receiver<Outbound>,
    kill: CancellationToken,
    joined: Option<SessionKey>,
    bucket: TokenBucket,
    negotiations: TokenBucket,
    dropped: u32,
    last_rate_error: Option<Instant>,
    write_timeout: Duration,
    /// The session's span once joined (inside the connection's span).
    span: Span,
}

impl Connection {
    fn id(&self) -> ConnId {
        self.link.id
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let hello_deadline = Instant::now() + self.shared.config.hello_timeout;
        let end = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    self.going_away().await;
                    break End::Shutdown;
                }
                () = self.kill.cancelled() => break End::Dropped,
                Some(out) = self.rx.recv() => match out {
                    Outbound::Text(text) => {
                        if let Flow::Stop(end) = self.send_frame(Message::Text(text)).await {
                            break end;
                        }
                    }
                    Outbound::Close { code, reason } => {
                        self.close(code, reason).await;
                        break End::Closed;
                    }
                },
                () = sleep_until(hello_deadline), if self.joined.is_none() => {
                    info!("no hello in time; closing");
                    self.close(CLOSE_POLICY, "no hello in time").await;
                    break End::Closed;
                }
                frame = self.ws.next() => {
                    let span = self.span.clone();
                    match self.on_frame(frame).instrument(span).await {
                        Flow::Continue => {}
                        Flow::Stop(end) => break end,
                    }
                }
            }
        };
        if end != End::Shutdown {
            if let Some(key) = &self.joined {
                // A no-op unless this connection is still the session's.
                self.shared.hub.detach(key, self.id());
            }
        }
        debug!(?end, "connection ended");
    }

    async fn going_away(&mut self) {
        if let Flow::Continue = self.send(&ServerMessage::GoingAway).await {
            self.close(CLOSE_GOING_AWAY, "server shutting down").await;
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        close_ws(&mut self.ws, code, reason, self.write_timeout).await;
    }

    async fn send_frame(&mut self, msg: Message) -> Flow {
        match write(&mut self.ws, msg, self.write_timeout).await {
            Ok(()) => Flow::Continue,
            Err(e) => {
                debug!("send failed: {e}");
                Flow::Stop(End::Dropped)
            }
        }
    }

    async fn send(&mut self, msg: &ServerMessage) -> Flow {
        self.send_frame(Message::Text(tether_proto::encode(msg).into()))
            .await
    }

    async fn error(&mut self, code: ErrorCode, message: impl Into<String>) -> Flow {
        self.send(&ServerMessage::Error {
            code,
            message: message.into(),
            fatal: false,
        })
        .await
    }

    /// Send a fatal error and close: the client must not retry.
    async fn fatal(&mut self, code: ErrorCode, message: String, reason: &str) -> Flow {
        info!(?code, %message, "fatal error; closing");
        let msg = ServerMessage::Error {
            code,
            message,
            fatal: true,
        };
        if let Flow::Continue = self.send(&msg).await {
            self.close(CLOSE_POLICY, reason).await;
        }
        Flow::Stop(End::Closed)
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> Flow {
        let msg = match frame {
            None => return Flow::Stop(End::Dropped),
            Some(Ok(msg)) => msg,
            Some(Err(WsError::Capacity(e))) => {
                info!("oversized frame: {e}; closing with {CLOSE_TOO_BIG}");
                self.close_too_big().await;
                return Flow::Stop(End::Dropped);
            }
            Some(Err(e)) => {
                debug!("socket error: {e}");
                return Flow::Stop(End::Dropped);
            }
        };
        let now = Instant::now();
        // Every frame but a close counts against the rate limit, pings and
        // pongs too (each is answered and takes the hub's lock below), and
        // is counted before it costs anything.
        if !matches!(msg, Message::Close(_)) {
            if let Some(flow) = self.rate_limit(now).await {
                return flow;
            }
        }
        if let Some(key) = &self.joined {
            // Every frame counts as "heard from", control frames included.
            // NotAttached means the hub moved the session on and already
            // queued our close.
            if self.shared.hub.heard(key, self.id(), now).is_err() {
                return Flow::Continue;
            }
        }
        match msg {
            Message::Text(text) => self.on_text(text.as_str(), now).await,
            Message::Binary(_) => {
                self.error(
                    ErrorCode::BadMessage,
                    "binary frames are not supported; send JSON text frames",
                )
                .await
            }
            // Pings are answered by tungstenite; a close is answered too and
            // the stream then ends.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {
                Flow::Continue
            }
        }
    }

    /// `Some(flow)` when the message must be dropped.
    async fn rate_limit(&mut self, now: Instant) -> Option<Flow> {
        if self.bucket.try_take(now) {
            return None;
        }
        self.dropped = self.dropped.saturating_add(1);
        let limit = self.shared.config.rate_limit;
        if self.dropped > limit.close_after_dropped {
            warn!(dropped = self.dropped, "message flood; closing");
            self.close(CLOSE_POLICY, "message flood").await;
            return Some(Flow::Stop(End::Dropped));
        }
        let due = self
            .last_rate_error
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if due {
            self.last_rate_error = Some(now);
            debug!(dropped = self.dropped, "rate limited");
            let msg = format!(
                "too many messages (limit {}/s, burst {}); {} dropped so far",
                limit.per_second, limit.burst, self.dropped
            );
            return Some(self.error(ErrorCode::RateLimited, msg).await);
        }
        Some(Flow::Continue)
    }

    /// Close with 1009 after an oversized frame. The rest of that frame is
    /// still arriving: drain it so the peer reads our close instead of a reset.
    async fn close_too_big(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::from(CLOSE_TOO_BIG),
            reason: format!("frame exceeds {MAX_FRAME_BYTES} bytes").into(),
        };
        match timeout(self.write_timeout, self.ws.close(Some(frame))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!("sending close failed: {e}");
                return;
            }
            Err(_) => return,
        }
        let tcp = self.ws.get_mut();
        let drain = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0usize;
            while total < DRAIN_MAX_BYTES {
                match timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => total += n,
                    _ => break,
                }
            }
        };
        if timeout(Duration::from_secs(2), drain).await.is_err() {
            debug!("peer kept sending after close");
        }
    }

    async fn on_text(&mut self, text: &str, now: Instant) -> Flow {
        let msg = match decode_client(text) {
            Ok(msg) => msg,
            Err(e) => {
                debug!("bad frame: {e}");
                return self.error(e.code(), e.to_string()).await;
            }
        };
        let Some(key) = self.joined.clone() else {
            return match msg {
                ClientMessage::Hello {
                    version,
                    channel,
                    uid,
                    name,
                    token,
                    resume,
                } => {
                    let hello = Hello {
                        version,
                        channel,
                        uid,
                        name,
                        token,
                        resume: resume.map(|r| r.session_id),
                    };
                    self.hello(hello, now).await
                }
                _ => {
                    self.error(ErrorCode::NotJoined, "send hello before anything else")
                        .await
                }
            };
        };
        let hub = &self.shared.hub;
        let id = self.id();
        // NotAttached below: the hub already queued our close; nothing to answer.
        match msg {
            ClientMessage::Hello { .. } => {
                self.error(ErrorCode::AlreadyJoined, "this connection already joined")
                    .await
            }
            ClientMessage::Ping { seq } => self.send(&ServerMessage::Pong { seq }).await,
            ClientMessage::Publish { audio, video } => {
                match hub.publish(&key, id, Media { audio, video }) {
                    Ok(Some(reply)) => self.send(&reply).await,
                    Ok(None) | Err(_) => Flow::Continue,
                }
            }
            ClientMessage::Unpublish => {
                if hub.unpublish(&key, id).is_err() {
                    debug!("unpublish on a detached session");
                }
                Flow::Continue
            }
            ClientMessage::RenewToken { token } => self.renew(&key, &token, now).await,
            ClientMessage::Leave => {
                if hub.leave(&key, id, now).is_err() {
                    return Flow::Continue;
                }
                if let Flow::Continue = self.send(&ServerMessage::Bye).await {
                    self.close(CLOSE_NORMAL, "bye").await;
                }
                Flow::Stop(End::Closed)
            }
            ClientMessage::PublisherOffer { .. } | ClientMessage::SubscriberRestart
                if !self.negotiations.try_take(now) =>
            {
                let l = self.shared.config.negotiation_limit;
                let msg = format!(
                    "too many renegotiations (limit {}/s, burst {}); this one was dropped",
                    l.per_second, l.burst
                );
                self.error(ErrorCode::RateLimited, msg).await
            }
            ClientMessage::PublisherOffer { sdp } => self.media(key, Signal::PublisherOffer(sdp)),
            ClientMessage::SubscriberAnswer { sdp } => {
                self.media(key, Signal::SubscriberAnswer(sdp))
            }
            ClientMessage::IceCandidate { target, candidate } => {
                self.media(key, Signal::IceCandidate { target, candidate })
            }
            ClientMessage::SubscriberRestart => self.media(key, Signal::SubscriberRestart),
            ClientMessage::Mute { audio, video } => {
                if hub.mute(&key, id, Media { audio, video }).is_err() {
                    debug!("mute on a detached session");
                }
                Flow::Continue
            }
        }
    }

    /// Hand media signalling to the SFU (answers come back through the hub).
    fn media(&self, key: SessionKey, signal: Signal) -> Flow {
        if self
            .shared
            .sfu
            .send(SfuInput::Signal { key, signal })
            .is_err()
        {
            debug!("media signal after the SFU stopped");
        }
        Flow::Continue
    }

    async fn renew(&mut self, key: &SessionKey, token: &str, now: Instant) -> Flow {
        if self.shared.auth.is_open() {
            return self
                .error(
                    ErrorCode::BadMessage,
                    "this server runs in open mode; tokens are not used",
                )
                .await;
        }
        let grant = match self.shared.auth.verify(Some(token), &key.channel, key.uid) {
            Ok(grant) => grant,
            Err(e) => {
                info!("token renewal refused: {e}");
                return self.error(e.code(), e.to_string()).await;
            }
        };
        match self.shared.hub.renew(key, self.id(), grant, now) {
            Ok(reply) => self.send(&reply).await,
            Err(_) => Flow::Continue,
        }
    }

    async fn hello(&mut self, hello: Hello, now: Instant) -> Flow {
        if hello.version != PROTOCOL_VERSION {
            let msg = format!(
                "server speaks protocol version {PROTOCOL_VERSION}, client sent {}",
                hello.version
            );
            return self
                .fatal(ErrorCode::VersionMismatch, msg, "version mismatch")
                .await;
        }
        if let Err(e) = validate_channel(&hello.channel) {
            return self
                .fatal(ErrorCode::InvalidChannel, e.to_string(), "invalid channel")
                .await;
        }
        if let Err(e) = validate_uid(hello.uid) {
            return self
                .fatal(ErrorCode::InvalidUid, e.to_string(), "invalid uid")
                .await;
        }
        if let Err(e) = validate_name(&hello.name) {
            return self
                .fatal(ErrorCode::InvalidName, e.to_string(), "invalid name")
                .await;
        }
        let grant = match self
            .shared
            .auth
            .verify(hello.token.as_deref(), &hello.channel, hello.uid)
        {
            Ok(grant) => grant,
            Err(e) => {
                let reason = if e.code() == ErrorCode::TokenExpired {
                    "token expired"
                } else {
                    "invalid token"
                };
                return self.fatal(e.code(), e.to_string(), reason).await;
            }
        };
        let req = JoinRequest {
            channel: hello.channel,
            uid: hello.uid,
            name: hello.name,
            resume: hello.resume,
            grant,
            conn: self.link.clone(),
        };
        let channel = req.channel.clone();
        let (key, welcome) = match self.shared.hub.join(req, now) {
            Ok(joined) => joined,
            Err(full) => {
                let msg = format!(
                    "channel {channel:?} is full ({} participants); try again when someone leaves",
                    full.max
                );
                return self
                    .fatal(ErrorCode::ChannelFull, msg, "channel full")
                    .await;
            }
        };
        self.span =
            info_span!("session", channel = %key.channel, uid = key.uid, session = %key.session_id);
        self.joined = Some(key);
        // Sent before anything the hub queued for us after the join.
        self.send(&welcome).await
    }
}

/// The fields of a `hello`.
struct Hello {
    version: u32,
    channel: String,
    uid: u32,
    name: String,
    token: Option<String>,
    resume: Option<String>,
}
