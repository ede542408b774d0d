//! Connecting: attempts, the first transport up, hello, welcome, refusals.

use std::time::{Duration, Instant};

use tether_proto::{
    ClientMessage, DepartedPeer, ErrorCode, Media, PeerInfo, ResumeRequest, ServerMessage,
    CLOSE_GOING_AWAY, PROTOCOL_VERSION,
};

use super::{
    Attempt, ConnId, Connecting, Live, Output, Phase, Purpose, ServerSession, Session, TokenTimer,
};
use crate::policy::probe_delay;
use crate::{
    ConnectMode, ConnectionState, InterruptCause, ReconnectMode, SessionEvent, StateDetail,
    StateReason,
};

impl Session {
    // ---- connecting ------------------------------------------------------

    pub(super) fn enter_connecting(&mut self, purpose: Purpose, now: Instant) {
        self.phase = Phase::Connecting(Connecting {
            purpose,
            attempts: 0,
            backoff_step: 0,
            next_attempt_at: now,
            pending: Vec::new(),
        });
    }

    pub(super) fn expected_mode(&self, now: Instant) -> ReconnectMode {
        match &self.server {
            Some(s) if now < s.last_rx + s.timeout => ReconnectMode::Resume,
            _ => ReconnectMode::Rejoin,
        }
    }

    pub(super) fn start_attempt(&mut self, now: Instant) {
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

    pub(super) fn on_transport_up(&mut self, conn: ConnId) {
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
    pub(super) fn drop_attempt(&mut self, conn: ConnId) {
        if let Phase::Connecting(c) = &mut self.phase {
            c.pending.retain(|a| a.conn != conn);
        }
    }

    pub(super) fn owns(&self, conn: ConnId) -> bool {
        match &self.phase {
            Phase::Disconnected => false,
            Phase::Connecting(c) => c.pending.iter().any(|a| a.conn == conn),
            Phase::Connected(live) => live.conn == conn,
            Phase::Disconnecting { conn: c, .. } => *c == Some(conn),
        }
    }

    pub(super) fn on_closed(&mut self, conn: ConnId, code: Option<u16>, now: Instant) {
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

    pub(super) fn on_message(&mut self, conn: ConnId, msg: ServerMessage, now: Instant) {
        match &mut self.phase {
            Phase::Connected(live) if live.conn == conn => {
                live.last_rx = now;
                // Only the answer to the probe sent after the hint proves the
                // link still works; a message already in flight does not.
                if let ServerMessage::Pong { seq } = &msg {
                    if *seq >= live.hint_probe_seq {
                        live.hint_deadline = None;
                    }
                }
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

    pub(super) fn on_live_message(&mut self, msg: ServerMessage, now: Instant) {
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
            media @ (ServerMessage::PublisherAnswer { .. }
            | ServerMessage::SubscriberOffer { .. }
            | ServerMessage::IceCandidate { .. }) => self.queue.push_back(Output::Media(media)),
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
                self.roster.apply(&roster, now, &mut self.scratch);
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
            hint_probe_seq: 0,
        });
        self.emit_state_change(ConnectionState::Connecting, reason, Some(detail));
        self.emit(SessionEvent::Connected {
            mode,
            session_id: w.session_id,
        });
        self.roster.reconcile(
            &w.peers,
            &w.departed,
            w.session_timeout,
            now,
            &mut self.scratch,
        );
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

    pub(super) fn exception(&mut self, code: ErrorCode, message: String) {
        let code = match serde_code(code) {
            Some(c) => c,
            None => "UNKNOWN".to_owned(),
        };
        self.emit(SessionEvent::Exception { code, message });
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
