//! A simulated-time driver with a tiny network-and-server model, so tests run
//! hours of session time in milliseconds.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tether_core::{
    ConnId, ConnectionState, Input, Output, Session, SessionConfig, SessionEvent, StateReason,
    Timing,
};
use tether_proto::{ClientMessage, ErrorCode, Media, PeerInfo, ServerMessage};

/// What the modelled server does with a `hello`.
#[derive(Debug, Clone)]
pub enum ServerMode {
    /// Welcome everyone; resume a session heard from within `session_timeout`.
    Accept,
    /// Answer every hello with this fatal error.
    Refuse(ErrorCode),
}

pub struct Sim {
    pub session: Session,
    pub now: Instant,
    pub start: Instant,
    pub events: Vec<(Instant, SessionEvent)>,
    pub connects: Vec<(Instant, ConnId)>,
    pub sent: Vec<(Instant, ConnId, ClientMessage)>,
    pub closed: Vec<ConnId>,
    /// Every output except timeouts, in order.
    pub outputs: Vec<Output>,
    /// Network up: dials succeed after `rtt`, messages flow.
    pub net_up: bool,
    /// Network down mode: dials hang (silent drop) or fail at once (link down).
    pub dial_fails_fast: bool,
    pub rtt: Duration,
    pub server: ServerMode,
    pub auto: bool,
    pub peers: Vec<PeerInfo>,
    pub departed: Vec<tether_proto::DepartedPeer>,
    pub session_timeout: Duration,
    /// When the modelled server last heard from the client.
    pub server_heard: Option<Instant>,
    pub server_session: u32,
    pub publishing: Option<Media>,
    /// Scheduled deliveries (at, input).
    pending: VecDeque<(Instant, Input)>,
}

pub fn config() -> SessionConfig {
    SessionConfig::new("demo", 1, "Ann").expect("valid")
}

impl Sim {
    pub fn new(config: SessionConfig) -> Self {
        let now = Instant::now();
        Self {
            session: Session::new(config, now),
            now,
            start: now,
            events: vec![],
            connects: vec![],
            sent: vec![],
            closed: vec![],
            outputs: vec![],
            net_up: true,
            dial_fails_fast: false,
            rtt: Duration::from_millis(20),
            server: ServerMode::Accept,
            auto: true,
            peers: vec![],
            departed: vec![],
            session_timeout: Duration::from_secs(10),
            server_heard: None,
            server_session: 0,
            publishing: None,
            pending: VecDeque::new(),
        }
    }

    pub fn timing(&self) -> Timing {
        self.session.config().timing
    }

    pub fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    pub fn elapsed_ms(&self, t: Instant) -> u64 {
        t.duration_since(self.start).as_millis() as u64
    }

    pub fn input(&mut self, input: Input) {
        let now = self.now;
        self.session
            .handle_input(input, now)
            .expect("input accepted");
        self.drain();
    }

    fn schedule(&mut self, after: Duration, input: Input) {
        let at = self.now + after;
        let idx = self.pending.iter().position(|(t, _)| *t > at);
        match idx {
            Some(i) => self.pending.insert(i, (at, input)),
            None => self.pending.push_back((at, input)),
        }
    }

    /// Process outputs until the session waits; returns its deadline.
    pub fn drain(&mut self) -> Option<Instant> {
        loop {
            let out = self.session.poll_output();
            if !matches!(out, Output::Timeout(_) | Output::Idle) {
                self.outputs.push(out.clone());
            }
            match out {
                Output::Connect { conn } => {
                    self.connects.push((self.now, conn));
                    if self.auto {
                        self.model_dial(conn);
                    }
                }
                Output::Transmit { conn, msg } => {
                    self.sent.push((self.now, conn, msg.clone()));
                    if self.auto {
                        self.model_server(conn, msg);
                    }
                }
                Output::Close { conn } => {
                    self.closed.push(conn);
                    self.pending.retain(|(_, i)| conn_of(i) != Some(conn));
                }
                Output::Event(e) => self.events.push((self.now, e)),
                Output::Timeout(t) => return Some(t),
                Output::Idle => return None,
                _ => {}
            }
        }
    }

    fn model_dial(&mut self, conn: ConnId) {
        if self.net_up {
            self.schedule(self.rtt, Input::TransportUp { conn });
        } else if self.dial_fails_fast {
            self.schedule(
                Duration::from_millis(1),
                Input::TransportFailed {
                    conn,
                    reason: "network unreachable".into(),
                },
            );
        }
        // else: the SYN is silently dropped; the attempt times out.
    }

    fn model_server(&mut self, conn: ConnId, msg: ClientMessage) {
        if !self.net_up {
            return;
        }
        let alive = self.server_heard.is_some();
        self.server_heard = Some(self.now + self.rtt / 2);
        let reply = match msg {
            ClientMessage::Hello { resume, .. } => match &self.server {
                ServerMode::Refuse(code) => ServerMessage::Error {
                    code: *code,
                    message: "refused".into(),
                    fatal: true,
                },
                ServerMode::Accept => {
                    let resumed = resume.is_some() && alive;
                    if !resumed {
                        self.server_session += 1;
                        self.publishing = None;
                    }
                    ServerMessage::Welcome {
                        session_id: format!("s{}", self.server_session),
                        resumed,
                        peers: self.peers.clone(),
                        departed: self.departed.clone(),
                        publishing: self.publishing,
                        session_timeout_ms: self.session_timeout.as_millis() as u64,
                        token_expires_in_ms: None,
                    }
                }
            },
            ClientMessage::Ping { seq } => ServerMessage::Pong { seq },
            ClientMessage::Publish { audio, video } => {
                self.publishing = Some(Media { audio, video });
                return;
            }
            ClientMessage::Unpublish => {
                self.publishing = None;
                return;
            }
            ClientMessage::Leave => ServerMessage::Bye,
            ClientMessage::RenewToken { .. } => return,
            _ => return,
        };
        self.schedule(self.rtt, Input::Message { conn, msg: reply });
    }

    /// The modelled server forgets a session it has not heard from in time.
    fn server_expire(&mut self) {
        if let Some(h) = self.server_heard {
            if self.now >= h + self.session_timeout {
                self.server_heard = None;
            }
        }
    }

    /// Run simulated time up to `until`, delivering scheduled inputs and
    /// firing the session's timeouts in order.
    pub fn run_until(&mut self, until: Instant) {
        let mut guard = 0u64;
        loop {
            guard += 1;
            assert!(guard < 5_000_000, "simulation did not settle");
            let deadline = self.drain();
            let next_delivery = self.pending.front().map(|(t, _)| *t);
            let next = [deadline, next_delivery].into_iter().flatten().min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.server_expire();
                    if next_delivery == Some(t) {
                        let (_, input) = self.pending.pop_front().expect("front exists");
                        let input = self.filter_delivery(input);
                        if let Some(input) = input {
                            let now = self.now;
                            self.session.handle_input(input, now).expect("accepted");
                        }
                    } else {
                        let now = self.now;
                        self.session
                            .handle_input(Input::Timeout, now)
                            .expect("accepted");
                    }
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
    }

    /// Messages in flight when the network goes down are lost.
    fn filter_delivery(&mut self, input: Input) -> Option<Input> {
        match input {
            Input::Message { .. } | Input::TransportUp { .. } if !self.net_up => None,
            other => Some(other),
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    pub fn state(&self) -> ConnectionState {
        self.session.state()
    }

    pub fn state_changes(&self) -> Vec<(ConnectionState, ConnectionState, StateReason)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                SessionEvent::ConnectionStateChanged {
                    prev, cur, reason, ..
                } => Some((*prev, *cur, *reason)),
                _ => None,
            })
            .collect()
    }

    pub fn last_change_at(&self, to: ConnectionState) -> Option<Instant> {
        self.events.iter().rev().find_map(|(t, e)| match e {
            SessionEvent::ConnectionStateChanged { cur, .. } if *cur == to => Some(*t),
            _ => None,
        })
    }

    /// Join and run until connected.
    pub fn join_connected(&mut self) {
        self.input(Input::Join);
        self.run_for(Duration::from_secs(1));
        assert_eq!(
            self.state(),
            ConnectionState::Connected,
            "{:?}",
            self.events
        );
    }

    pub fn connect_times(&self, after: Instant) -> Vec<Instant> {
        self.connects
            .iter()
            .filter(|(t, _)| *t >= after)
            .map(|(t, _)| *t)
            .collect()
    }

    pub fn clear_log(&mut self) {
        self.events.clear();
        self.sent.clear();
        self.connects.clear();
        self.closed.clear();
    }
}

fn conn_of(input: &Input) -> Option<ConnId> {
    match input {
        Input::TransportUp { conn }
        | Input::TransportFailed { conn, .. }
        | Input::TransportClosed { conn, .. }
        | Input::Message { conn, .. } => Some(*conn),
        _ => None,
    }
}

/// The connection the last hello went out on.
pub fn live_conn(sim: &Sim) -> ConnId {
    sim.sent
        .iter()
        .rev()
        .find(|(_, _, m)| matches!(m, ClientMessage::Hello { .. }))
        .map(|(_, c, _)| *c)
        .expect("a hello was sent")
}

/// The network goes silent.
pub fn cut(sim: &mut Sim) {
    sim.net_up = false;
}
