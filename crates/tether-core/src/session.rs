//! The session state machine: one explicit phase enum, inputs in, outputs out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use tether_proto::{
    ClientMessage, DepartedPeer, ErrorCode, Media, PeerInfo, ResumeRequest, ServerMessage,
    CLOSE_GOING_AWAY, PROTOCOL_VERSION,
};

use crate::policy::probe_delay;
use crate::{
    is_legal_transition, ConnectMode, ConnectionState, InterruptCause, ReconnectMode, Roster,
    SessionConfig, SessionEvent, StateDetail, StateReason,
};

/// Identifies one transport connection (one WebSocket) the session asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Everything that can happen to a session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// The user joins the channel.
    Join,
    /// The user leaves.
    Leave,
    /// The user publishes (kept across reconnects and re-sent after a rejoin).
    Publish(Media),
    /// The user stops publishing.
    Unpublish,
    /// The user asks to retry now instead of waiting for the next attempt.
    RetryNow,
    /// A fresh token (same channel and uid).
    RenewToken(String),
    /// The OS reported a network change (link or address).
    NetworkChanged,
    /// Another layer saw the connection die (e.g. the media transport failed).
    Interrupt {
        /// What it saw.
        cause: InterruptCause,
    },
    /// Time passed; deadlines at or before `now` fire.
    Timeout,
    /// The transport of `conn` is open (WebSocket handshake done).
    TransportUp {
        /// Which connection.
        conn: ConnId,
    },
    /// `conn` could not be opened.
    TransportFailed {
        /// Which connection.
        conn: ConnId,
        /// What went wrong.
        reason: String,
    },
    /// `conn` closed or errored after it was open.
    TransportClosed {
        /// Which connection.
        conn: ConnId,
        /// WebSocket close code, if the peer sent one.
        code: Option<u16>,
        /// Close reason or error text.
        reason: String,
    },
    /// A message arrived on `conn`.
    Message {
        /// Which connection.
        conn: ConnId,
        /// The decoded message.
        msg: ServerMessage,
    },
}

/// What the session asks its driver to do, or tells it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Open a transport connection to the server for `conn`.
    Connect {
        /// The id to report back with.
        conn: ConnId,
    },
    /// Send `msg` on `conn`.
    Transmit {
        /// Which connection.
        conn: ConnId,
        /// The message.
        msg: ClientMessage,
    },
    /// Close and forget `conn` (idempotent).
    Close {
        /// Which connection.
        conn: ConnId,
    },
    /// Tell the user.
    Event(SessionEvent),
    /// Nothing more to do now; feed [`Input::Timeout`] at this instant.
    Timeout(Instant),
    /// Nothing more to do and nothing scheduled.
    Idle,
}

/// Misuse of the session by its caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// `join` while already joining, in, or leaving a channel.
    #[error("already in a channel (state {})", .0.as_str())]
    AlreadyJoined(ConnectionState),
}

#[derive(Debug, Clone, Copy)]
enum Purpose {
    Join { deadline: Instant },
    Reconnect { give_up_at: Instant },
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    conn: ConnId,
    deadline: Instant,
    hello_sent: bool,
}

#[derive(Debug, Clone)]
struct Connecting {
    purpose: Purpose,
    attempts: u32,
    backoff_step: u32,
    next_attempt_at: Instant,
    pending: Vec<Attempt>,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    conn: ConnId,
    last_rx: Instant,
    next_ping_at: Instant,
    ping_seq: u64,
    hint_deadline: Option<Instant>,
}

#[derive(Debug, Clone)]
enum Phase {
    Disconnected,
    Connecting(Connecting),
    Connected(Live),
    Disconnecting {
        conn: Option<ConnId>,
        deadline: Instant,
    },
}

#[derive(Debug, Clone)]
struct ServerSession {
    id: String,
    timeout: Duration,
    last_rx: Instant,
}

#[derive(Debug, Clone, Copy)]
struct TokenTimer {
    generation: u64,
    expires_at: Instant,
    warned: bool,
    expired: bool,
}

/// A client's session in one channel. See the crate docs for the loop.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    phase: Phase,
    roster: Roster,
    intent: Option<Media>,
    server: Option<ServerSession>,
    token_generation: u64,
    token_timer: Option<TokenTimer>,
    next_conn: u64,
    rng: fastrand::Rng,
    queue: VecDeque<Output>,
    scratch: Vec<SessionEvent>,
}

impl Session {
    /// A new session in `DISCONNECTED`. `now` is only the time origin; no
    /// clock is read.
    pub fn new(config: SessionConfig, _now: Instant) -> Self {
        let rng = fastrand::Rng::with_seed(config.rng_seed);
        Self {
            config,
            phase: Phase::Disconnected,
            roster: Roster::default(),
            intent: None,
            server: None,
            token_generation: 0,
            token_timer: None,
            next_conn: 0,
            rng,
            queue: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        match self.phase {
            Phase::Disconnected => ConnectionState::Disconnected,
            Phase::Connecting(_) => ConnectionState::Connecting,
            Phase::Connected(_) => ConnectionState::Connected,
            Phase::Disconnecting { .. } => ConnectionState::Disconnecting,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Everyone else in the channel, as far as we know.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// What the user wants to publish.
    pub fn publishing(&self) -> Option<Media> {
        self.intent
    }

    /// The server session id, while there is one.
    pub fn session_id(&self) -> Option<&str> {
        self.server.as_ref().map(|s| s.id.as_str())
    }

    /// Feed one input that happened at `now`.
    pub fn handle_input(&mut self, input: Input, now: Instant) -> Result<(), SessionError> {
        match input {
            Input::Join => return self.join(now),
            Input::Leave => self.leave(now),
            Input::Publish(media) => {
                self.intent = Some(media);
                self.transmit_live(ClientMessage::Publish {
                    audio: media.audio,
                    video: media.video,
                });
            }
            Input::Unpublish => {
                self.intent = None;
                self.transmit_live(ClientMessage::Unpublish);
            }
            Input::RetryNow => self.hurry(now),
            Input::RenewToken(token) => {
                self.config.token = Some(token.clone());
                self.token_generation += 1;
                self.transmit_live(ClientMessage::RenewToken { token });
            }
            Input::NetworkChanged => match &mut self.phase {
                Phase::Connected(live) => {
                    if live.hint_deadline.is_none() {
                        live.hint_deadline = Some(now + self.config.timing.network_hint_timeout);
                        live.ping_seq += 1;
                        let (conn, seq) = (live.conn, live.ping_seq);
                        self.queue.push_back(Output::Transmit {
                            conn,
                            msg: ClientMessage::Ping { seq },
                        });
                    }
                }
                _ => self.hurry(now),
            },
            Input::Interrupt { cause } => self.interrupt(cause, now),
            Input::Timeout => self.on_timeout(now),
            Input::TransportUp { conn } => self.on_transport_up(conn),
            Input::TransportFailed { conn, .. } => self.drop_attempt(conn),
            Input::TransportClosed { conn, code, .. } => self.on_closed(conn, code, now),
            Input::Message { conn, msg } => self.on_message(conn, msg, now),
        }
        Ok(())
    }

    /// The next thing to do. Drain until `Timeout` or `Idle`.
    pub fn poll_output(&mut self) -> Output {
        if let Some(out) = self.queue.pop_front() {
            return out;
        }
        self.next_deadline().map_or(Output::Idle, Output::Timeout)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let timing = &self.config.timing;
        let phase = match &self.phase {
            Phase::Disconnected => return None,
            Phase::Connected(live) => [
                Some(live.next_ping_at),
                Some(live.last_rx + timing.keepalive_timeout),
                live.hint_deadline,
            ]
            .into_iter()
            .flatten()
            .min(),
            Phase::Connecting(c) => {
                let purpose = match c.purpose {
                    Purpose::Join { deadline } => deadline,
                    Purpose::Reconnect { give_up_at } => give_up_at,
                };
                c.pending
                    .iter()
                    .map(|a| a.deadline)
                    .chain([purpose, c.next_attempt_at])
                    .min()
            }
            Phase::Disconnecting { deadline, .. } => Some(*deadline),
        };
        let token = self.token_timer.and_then(|t| {
            if !t.warned {
                Some(
                    t.expires_at
                        .checked_sub(timing.token_warning)
                        .unwrap_or(t.expires_at),
                )
            } else if !t.expired {
                Some(t.expires_at)
            } else {
                None
            }
        });
        [phase, token].into_iter().flatten().min()
    }

    // ---- user commands -------------------------------------------------

    fn join(&mut self, now: Instant) -> Result<(), SessionError> {
        if !matches!(self.phase, Phase::Disconnected) {
            return Err(SessionError::AlreadyJoined(self.state()));
        }
        let deadline = now + self.config.timing.join_timeout;
        self.enter_connecting(Purpose::Join { deadline }, now);
        self.set_phase_emit(StateReason::Join, StateDetail::default());
        self.start_attempt(now);
        Ok(())
    }

    fn leave(&mut self, now: Instant) {
        match &self.phase {
            Phase::Connected(live) => {
                let conn = live.conn;
                self.queue.push_back(Output::Transmit {
                    conn,
                    msg: ClientMessage::Leave,
                });
                self.phase = Phase::Disconnecting {
                    conn: Some(conn),
                    deadline: now + self.config.timing.leave_timeout,
                };
                self.emit_state_change(ConnectionState::Connected, StateReason::Leave, None);
            }
            Phase::Connecting(c) => {
                let pending: Vec<ConnId> = c.pending.iter().map(|a| a.conn).collect();
                for conn in pending {
                    self.queue.push_back(Output::Close { conn });
                }
                self.phase = Phase::Disconnecting {
                    conn: None,
                    deadline: now,
                };
                self.emit_state_change(ConnectionState::Connecting, StateReason::Leave, None);
                self.finish_leave();
            }
            Phase::Disconnected | Phase::Disconnecting { .. } => {}
        }
    }

    /// Retry now: on the next timeout tick, with the backoff reset.
    fn hurry(&mut self, now: Instant) {
        if let Phase::Connecting(c) = &mut self.phase {
            c.backoff_step = 0;
            c.next_attempt_at = c.next_attempt_at.min(now);
        }
    }

    fn transmit_live(&mut self, msg: ClientMessage) {
        if let Phase::Connected(live) = &self.phase {
            self.queue.push_back(Output::Transmit {
                conn: live.conn,
                msg,
            });
        }
    }

    // ---- connecting ------------------------------------------------------

    fn enter_connecting(&mut self, purpose: Purpose, now: Instant) {
        self.phase = Phase::Connecting(Connecting {
            purpose,
            attempts: 0,
            backoff_step: 0,
            next_attempt_at: now,
            pending: Vec::new(),
        });
    }

    fn expected_mode(&self, now: Instant) -> ReconnectMode {
        match &self.server {
            Some(s) if now < s.last_rx + s.timeout => ReconnectMode::Resume,
            _ => ReconnectMode::Rejoin,
        }
    }

    fn start_attempt(&mut self, now: Instant) {
        let mode = self.expected_mode(now);
        let timing = self.config.timing;
        let conn = ConnId(self.next_conn);
        let unit = self.rng.f64();
        let Phase::Connecting(c) = &mut self.phase else {
            return;
        };
        self.next_conn += 1;
        while c.pending.len() >= timing.max_parallel_attempts.max(1) {
            let oldest = c.pending.remove(0);
            self.queue.push_back(Output::Close { conn: oldest.conn });
        }
        c.pending.push(Attempt {
            conn,
            deadline: now + timing.attempt_timeout,
            hello_sent: false,
        });
        c.attempts += 1;
        c.backoff_step += 1;
        c.next_attempt_at = now + probe_delay(&timing.probe, c.backoff_step, unit);
        self.queue.push_back(Output::Connect { conn });
        if let Purpose::Reconnect { give_up_at } = c.purpose {
            let event = SessionEvent::ReconnectAttempt {
                attempt: c.attempts,
                mode,
                next_at: c.next_attempt_at,
                give_up_at,
            };
            self.queue.push_back(Output::Event(event));
        }
    }

    fn on_transport_up(&mut self, conn: ConnId) {
        let resume = self.server.as_ref().map(|s| ResumeRequest {
            session_id: s.id.clone(),
        });
        let hello = ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            channel: self.config.channel.clone(),
            uid: self.config.uid,
            name: self.config.name.clone(),
            token: self.config.token.clone(),
            resume,
        };
        if let Phase::Connecting(c) = &mut self.phase {
            if c.pending.iter().any(|a| a.conn == conn) {
                // The first transport up wins; the others are redundant, and
                // two hellos would race each other into a uid conflict.
                if c.pending.iter().any(|a| a.hello_sent) {
                    c.pending.retain(|a| a.conn != conn);
                    self.queue.push_back(Output::Close { conn });
                    return;
                }
                for other in c.pending.iter().filter(|a| a.conn != conn) {
                    self.queue.push_back(Output::Close { conn: other.conn });
                }
                c.pending.retain(|a| a.conn == conn);
                if let Some(a) = c.pending.first_mut() {
                    a.hello_sent = true;
                }
                self.queue.push_back(Output::Transmit { conn, msg: hello });
                return;
            }
        }
        if !self.owns(conn) {
            self.queue.push_back(Output::Close { conn });
        }
    }

    /// Forget a pending attempt that failed (no close needed: it is gone).
    fn drop_attempt(&mut self, conn: ConnId) {
        if let Phase::Connecting(c) = &mut self.phase {
            c.pending.retain(|a| a.conn != conn);
        }
    }

    fn owns(&self, conn: ConnId) -> bool {
        match &self.phase {
            Phase::Disconnected => false,
            Phase::Connecting(c) => c.pending.iter().any(|a| a.conn == conn),
            Phase::Connected(live) => live.conn == conn,
            Phase::Disconnecting { conn: c, .. } => *c == Some(conn),
        }
    }

    fn on_closed(&mut self, conn: ConnId, code: Option<u16>, now: Instant) {
        match &self.phase {
            Phase::Connected(live) if live.conn == conn => {
                let cause = if code == Some(CLOSE_GOING_AWAY) {
                    InterruptCause::ServerRestart
                } else {
                    InterruptCause::SocketClosed
                };
                self.interrupt(cause, now);
            }
            Phase::Connecting(_) => self.drop_attempt(conn),
            Phase::Disconnecting { conn: Some(c), .. } if *c == conn => self.finish_leave(),
            _ => {}
        }
    }

    fn on_message(&mut self, conn: ConnId, msg: ServerMessage, now: Instant) {
        match &mut self.phase {
            Phase::Connected(live) if live.conn == conn => {
                live.last_rx = now;
                live.hint_deadline = None;
                if let Some(server) = &mut self.server {
                    server.last_rx = now;
                }
                self.on_live_message(msg, now);
            }
            Phase::Connecting(c) if c.pending.iter().any(|a| a.conn == conn) => match msg {
                ServerMessage::Welcome {
                    session_id,
                    resumed,
                    peers,
                    departed,
                    publishing,
                    session_timeout_ms,
                    token_expires_in_ms,
                } => self.on_welcome(
                    conn,
                    Welcome {
                        session_id,
                        resumed,
                        peers,
                        departed,
                        publishing,
                        session_timeout: Duration::from_millis(session_timeout_ms),
                        token_expires_in: token_expires_in_ms.map(Duration::from_millis),
                    },
                    now,
                ),
                ServerMessage::Error {
                    code,
                    message,
                    fatal: true,
                } => self.on_fatal(conn, code, message),
                ServerMessage::Error { code, message, .. } => self.exception(code, message),
                ServerMessage::GoingAway => {
                    self.drop_attempt(conn);
                    self.queue.push_back(Output::Close { conn });
                }
                _ => {}
            },
            Phase::Disconnecting { conn: Some(c), .. } if *c == conn => {
                if matches!(msg, ServerMessage::Bye) {
                    self.finish_leave();
                }
            }
            _ => {}
        }
    }

    fn on_live_message(&mut self, msg: ServerMessage, now: Instant) {
        match msg {
            ServerMessage::Pong { .. } | ServerMessage::Welcome { .. } | ServerMessage::Bye => {}
            ServerMessage::TokenRenewed { expires_in_ms } => {
                self.token_timer = Some(TokenTimer {
                    generation: self.token_generation,
                    expires_at: now + Duration::from_millis(expires_in_ms),
                    warned: false,
                    expired: false,
                });
            }
            ServerMessage::GoingAway => self.interrupt(InterruptCause::ServerRestart, now),
            ServerMessage::Error {
                code,
                message,
                fatal: true,
            } => {
                if let Phase::Connected(live) = &self.phase {
                    let conn = live.conn;
                    self.on_fatal(conn, code, message);
                }
            }
            ServerMessage::Error { code, message, .. } => self.exception(code, message),
            roster => {
                self.roster.apply(&roster, &mut self.scratch);
                self.flush_scratch();
            }
        }
    }

    fn on_welcome(&mut self, conn: ConnId, w: Welcome, now: Instant) {
        let Phase::Connecting(c) = &self.phase else {
            return;
        };
        let (purpose, attempts) = (c.purpose, c.attempts);
        for other in c.pending.iter().filter(|a| a.conn != conn) {
            self.queue.push_back(Output::Close { conn: other.conn });
        }
        let (reason, mode, detail) = match purpose {
            Purpose::Join { .. } => (
                StateReason::JoinSuccess,
                ConnectMode::Join,
                StateDetail::default(),
            ),
            Purpose::Reconnect { .. } => {
                let (mode, rmode) = if w.resumed {
                    (ConnectMode::Resume, ReconnectMode::Resume)
                } else {
                    (ConnectMode::Rejoin, ReconnectMode::Rejoin)
                };
                let detail = StateDetail {
                    attempt: Some(attempts),
                    mode: Some(rmode),
                    ..StateDetail::default()
                };
                (StateReason::ReconnectSuccess, mode, detail)
            }
        };
        self.server = Some(ServerSession {
            id: w.session_id.clone(),
            timeout: w.session_timeout,
            last_rx: now,
        });
        self.token_timer = match (w.token_expires_in, self.token_timer) {
            (None, _) => None,
            (Some(_), Some(t)) if t.generation == self.token_generation => Some(t),
            (Some(left), _) => Some(TokenTimer {
                generation: self.token_generation,
                expires_at: now + left,
                warned: false,
                expired: false,
            }),
        };
        let interval = self.config.timing.keepalive_interval;
        self.phase = Phase::Connected(Live {
            conn,
            last_rx: now,
            next_ping_at: now + interval,
            ping_seq: 0,
            hint_deadline: None,
        });
        self.emit_state_change(ConnectionState::Connecting, reason, Some(detail));
        self.emit(SessionEvent::Connected {
            mode,
            session_id: w.session_id,
        });
        self.roster
            .reconcile(&w.peers, &w.departed, &mut self.scratch);
        self.flush_scratch();
        if self.intent != w.publishing {
            let msg = match self.intent {
                Some(m) => ClientMessage::Publish {
                    audio: m.audio,
                    video: m.video,
                },
                None => ClientMessage::Unpublish,
            };
            self.queue.push_back(Output::Transmit { conn, msg });
        }
    }

    fn on_fatal(&mut self, conn: ConnId, code: ErrorCode, message: String) {
        let reason = match code {
            ErrorCode::InvalidToken => StateReason::InvalidToken,
            ErrorCode::TokenExpired => StateReason::TokenExpired,
            ErrorCode::UidConflict => StateReason::UidConflict,
            ErrorCode::Kicked => StateReason::Kicked,
            ErrorCode::ServerBusy | ErrorCode::Internal => {
                // Worth another attempt, not an end: treat as a failed attempt
                // (while connecting) or a dropped socket (while connected).
                self.queue.push_back(Output::Close { conn });
                match &self.phase {
                    Phase::Connecting(_) => self.drop_attempt(conn),
                    Phase::Connected(_) => {
                        self.exception(code, message);
                    }
                    _ => {}
                }
                return;
            }
            _ => StateReason::ServerRejected,
        };
        self.fail(reason, message);
    }

    fn exception(&mut self, code: ErrorCode, message: String) {
        let code = match serde_code(code) {
            Some(c) => c,
            None => "UNKNOWN".to_owned(),
        };
        self.emit(SessionEvent::Exception { code, message });
    }

    // ---- connected -------------------------------------------------------

    fn interrupt(&mut self, cause: InterruptCause, now: Instant) {
        let Phase::Connected(live) = &self.phase else {
            return;
        };
        self.queue.push_back(Output::Close { conn: live.conn });
        let mode = self.expected_mode(now);
        let give_up_at = now + self.config.timing.give_up_after;
        self.enter_connecting(Purpose::Reconnect { give_up_at }, now);
        let detail = StateDetail {
            cause: Some(cause),
            attempt: Some(1),
            mode: Some(mode),
            next_attempt_at: Some(now),
            give_up_at: Some(give_up_at),
            message: None,
        };
        self.emit_state_change(
            ConnectionState::Connected,
            StateReason::Interrupted,
            Some(detail),
        );
        self.start_attempt(now);
    }

    fn on_timeout(&mut self, now: Instant) {
        self.token_timers(now);
        let timing = self.config.timing;
        match &mut self.phase {
            Phase::Disconnected => {}
            Phase::Connected(live) => {
                if live.hint_deadline.is_some_and(|d| d <= now) {
                    self.interrupt(InterruptCause::NetworkChanged, now);
                } else if live.last_rx + timing.keepalive_timeout <= now {
                    self.interrupt(InterruptCause::KeepaliveTimeout, now);
                } else if live.next_ping_at <= now {
                    live.ping_seq += 1;
                    live.next_ping_at = now + timing.keepalive_interval;
                    let (conn, seq) = (live.conn, live.ping_seq);
                    self.queue.push_back(Output::Transmit {
                        conn,
                        msg: ClientMessage::Ping { seq },
                    });
                }
            }
            Phase::Connecting(c) => {
                match c.purpose {
                    Purpose::Join { deadline } if deadline <= now => {
                        let msg = format!(
                            "could not reach the server within {} s",
                            timing.join_timeout.as_secs()
                        );
                        self.fail(StateReason::JoinFailed, msg);
                        return;
                    }
                    Purpose::Reconnect { give_up_at } if give_up_at <= now => {
                        let msg = format!(
                            "could not reconnect within {} s",
                            timing.give_up_after.as_secs()
                        );
                        self.fail(StateReason::GaveUp, msg);
                        return;
                    }
                    _ => {}
                }
                let (expired, kept): (Vec<Attempt>, Vec<Attempt>) =
                    c.pending.iter().partition(|a| a.deadline <= now);
                c.pending = kept;
                for a in expired {
                    self.queue.push_back(Output::Close { conn: a.conn });
                }
                let Phase::Connecting(c) = &mut self.phase else {
                    return;
                };
                if c.next_attempt_at <= now {
                    if c.pending.iter().any(|a| a.hello_sent) {
                        // A transport is up and the server is answering our
                        // hello: no new dial, look again a little later.
                        c.next_attempt_at = now + timing.probe.base;
                    } else {
                        self.start_attempt(now);
                    }
                }
            }
            Phase::Disconnecting { deadline, .. } => {
                if *deadline <= now {
                    self.finish_leave();
                }
            }
        }
    }

    fn token_timers(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Disconnected) {
            return;
        }
        let warning = self.config.timing.token_warning;
        let Some(timer) = &mut self.token_timer else {
            return;
        };
        let mut events = Vec::new();
        let warn_at = timer
            .expires_at
            .checked_sub(warning)
            .unwrap_or(timer.expires_at);
        if !timer.warned && warn_at <= now {
            timer.warned = true;
            events.push(SessionEvent::TokenPrivilegeWillExpire {
                expires_at: timer.expires_at,
            });
        }
        if !timer.expired && timer.expires_at <= now {
            timer.expired = true;
            events.push(SessionEvent::TokenPrivilegeDidExpire);
        }
        for e in events {
            self.emit(e);
        }
    }

    // ---- endings -----------------------------------------------------------

    fn close_all(&mut self) {
        let conns: Vec<ConnId> = match &self.phase {
            Phase::Disconnected => vec![],
            Phase::Connecting(c) => c.pending.iter().map(|a| a.conn).collect(),
            Phase::Connected(live) => vec![live.conn],
            Phase::Disconnecting { conn, .. } => conn.iter().copied().collect(),
        };
        for conn in conns {
            self.queue.push_back(Output::Close { conn });
        }
    }

    fn end(&mut self) -> ConnectionState {
        self.close_all();
        let prev = self.state();
        self.phase = Phase::Disconnected;
        self.server = None;
        self.token_timer = None;
        self.roster.clear();
        prev
    }

    fn fail(&mut self, reason: StateReason, message: String) {
        let prev = self.end();
        let detail = StateDetail {
            message: Some(message),
            ..StateDetail::default()
        };
        self.emit_state_change(prev, reason, Some(detail));
    }

    fn finish_leave(&mut self) {
        let prev = self.end();
        self.emit_state_change(prev, StateReason::Leave, None);
    }

    // ---- emitting ----------------------------------------------------------

    fn set_phase_emit(&mut self, reason: StateReason, detail: StateDetail) {
        self.emit_state_change(ConnectionState::Disconnected, reason, Some(detail));
    }

    /// Emit a state change from `prev` to the current state, if it is one.
    fn emit_state_change(
        &mut self,
        prev: ConnectionState,
        reason: StateReason,
        detail: Option<StateDetail>,
    ) {
        let cur = self.state();
        if prev == cur {
            return;
        }
        debug_assert!(
            is_legal_transition(prev, cur, reason),
            "illegal transition {prev:?} -> {cur:?} ({reason:?})"
        );
        self.emit(SessionEvent::ConnectionStateChanged {
            prev,
            cur,
            reason,
            detail: detail.unwrap_or_default(),
        });
    }

    fn emit(&mut self, event: SessionEvent) {
        self.queue.push_back(Output::Event(event));
    }

    fn flush_scratch(&mut self) {
        for event in self.scratch.drain(..) {
            self.queue.push_back(Output::Event(event));
        }
    }
}

struct Welcome {
    session_id: String,
    resumed: bool,
    peers: Vec<PeerInfo>,
    departed: Vec<DepartedPeer>,
    publishing: Option<Media>,
    session_timeout: Duration,
    token_expires_in: Option<Duration>,
}

/// The wire name of an error code (e.g. `RATE_LIMITED`).
fn serde_code(code: ErrorCode) -> Option<String> {
    match tether_proto::encode(&code).trim_matches('"') {
        "" => None,
        s => Some(s.to_owned()),
    }
}
