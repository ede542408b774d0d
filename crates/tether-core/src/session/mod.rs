//! The session state machine: one explicit phase enum, inputs in, outputs out.
//! Split by concern: [`io`] (inputs and outputs), `connect` (attempts,
//! hello and welcome), `live` (keepalive, interruption, timers, endings).

mod connect;
mod io;
mod live;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tether_proto::{ClientMessage, Media};

use crate::{ConnectionState, Roster, SessionConfig, SessionEvent, StateDetail, StateReason};

pub use io::{ConnId, Input, Output, SessionError};

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
    /// The ping sent for the last network-change hint: its pong clears the deadline.
    hint_probe_seq: u64,
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
        let roster = Roster::new(config.media_gating, config.timing.no_data_timeout);
        Self {
            config,
            phase: Phase::Disconnected,
            roster,
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
                        live.hint_probe_seq = live.ping_seq;
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
            Input::MediaActivity { uid } => {
                self.roster.media_activity(uid, now, &mut self.scratch);
                self.flush_scratch();
            }
            Input::StreamSubscribed { uid } => {
                self.roster.subscribed(uid, &mut self.scratch);
                self.flush_scratch();
            }
            Input::SendMedia(msg) => self.transmit_live(msg),
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
        let media = self.roster.next_deadline();
        [phase, token, media].into_iter().flatten().min()
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
}
