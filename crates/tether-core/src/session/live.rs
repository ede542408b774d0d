//! Connected: keepalive, interruption, timers, and the endings.

use std::time::Instant;

use tether_proto::ClientMessage;

use super::{Attempt, ConnId, Output, Phase, Purpose, Session};
use crate::{
    is_legal_transition, ConnectionState, InterruptCause, SessionEvent, StateDetail, StateReason,
};

impl Session {
    // ---- connected -------------------------------------------------------

    pub(super) fn interrupt(&mut self, cause: InterruptCause, now: Instant) {
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

    pub(super) fn on_timeout(&mut self, now: Instant) {
        self.token_timers(now);
        if !matches!(self.phase, Phase::Disconnected) {
            self.roster.on_timeout(now, &mut self.scratch);
            self.flush_scratch();
        }
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

    pub(super) fn token_timers(&mut self, now: Instant) {
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

    pub(super) fn close_all(&mut self) {
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

    pub(super) fn end(&mut self) -> ConnectionState {
        self.close_all();
        let prev = self.state();
        self.phase = Phase::Disconnected;
        self.server = None;
        self.token_timer = None;
        self.roster.clear();
        prev
    }

    pub(super) fn fail(&mut self, reason: StateReason, message: String) {
        let prev = self.end();
        let detail = StateDetail {
            message: Some(message),
            ..StateDetail::default()
        };
        self.emit_state_change(prev, reason, Some(detail));
    }

    pub(super) fn finish_leave(&mut self) {
        let prev = self.end();
        self.emit_state_change(prev, StateReason::Leave, None);
    }

    // ---- emitting ----------------------------------------------------------

    pub(super) fn set_phase_emit(&mut self, reason: StateReason, detail: StateDetail) {
        self.emit_state_change(ConnectionState::Disconnected, reason, Some(detail));
    }

    /// Emit a state change from `prev` to the current state, if it is one.
    pub(super) fn emit_state_change(
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

    pub(super) fn emit(&mut self, event: SessionEvent) {
        self.queue.push_back(Output::Event(event));
    }

    pub(super) fn flush_scratch(&mut self) {
        for event in self.scratch.drain(..) {
            self.queue.push_back(Output::Event(event));
        }
    }
}
