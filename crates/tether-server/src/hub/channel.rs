//! A channel's state: its sessions, recent departures, broadcasting and the
//! `welcome` snapshot.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tether_proto::{
    encode, DepartedPeer, Media, PeerInfo, PeerLeaveReason, PeerPresence, Privileges, ServerMessage,
};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::Span;

use super::{ConnId, ConnLink, HubConfig, Outbound};

#[derive(Debug)]
pub(super) struct Session {
    pub(super) name: String,
    pub(super) session_id: String,
    pub(super) publishing: Option<Media>,
    pub(super) presence: PeerPresence,
    pub(super) last_heard: Instant,
    pub(super) conn: Option<ConnLink>,
    pub(super) privileges: Privileges,
    pub(super) token_expires: Option<Instant>,
    /// Mute state as the client last reported it (`audio`/`video` true = muted).
    pub(super) muted: Media,
    pub(super) span: Span,
}

/// Nothing muted.
pub(super) const UNMUTED: Media = Media {
    audio: false,
    video: false,
};

impl Session {
    pub(super) fn attached_to(&self, conn: ConnId) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == conn)
    }
}

#[derive(Debug)]
pub(super) struct Departure {
    pub(super) uid: u32,
    pub(super) reason: PeerLeaveReason,
    pub(super) at: Instant,
}

#[derive(Debug, Default)]
pub(super) struct Channel {
    pub(super) sessions: BTreeMap<u32, Session>,
    pub(super) departed: VecDeque<Departure>,
}

impl Channel {
    /// Send `msg` to every attached session except `except`.
    pub(super) fn broadcast(&self, except: u32, msg: &ServerMessage) {
        let mut text: Option<Utf8Bytes> = None;
        for (uid, s) in &self.sessions {
            if *uid == except {
                continue;
            }
            if let Some(conn) = &s.conn {
                let t = text.get_or_insert_with(|| encode(msg).into()).clone();
                conn.send(Outbound::Text(t));
            }
        }
    }

    pub(super) fn record_departure(
        &mut self,
        uid: u32,
        reason: PeerLeaveReason,
        now: Instant,
        max: usize,
    ) {
        self.departed.retain(|d| d.uid != uid);
        self.departed.push_back(Departure {
            uid,
            reason,
            at: now,
        });
        while self.departed.len() > max {
            self.departed.pop_front();
        }
    }

    /// Remove a session and tell the others it left.
    pub(super) fn remove(
        &mut self,
        uid: u32,
        reason: PeerLeaveReason,
        now: Instant,
        cfg: &HubConfig,
    ) {
        if self.sessions.remove(&uid).is_some() {
            self.record_departure(uid, reason, now, cfg.departed_max);
            self.broadcast(uid, &ServerMessage::PeerLeave { uid, reason });
        }
    }

    pub(super) fn welcome(
        &self,
        uid: u32,
        resumed: bool,
        now: Instant,
        cfg: &HubConfig,
    ) -> ServerMessage {
        let me = self.sessions.get(&uid);
        let peers = self
            .sessions
            .iter()
            .filter(|(u, _)| **u != uid)
            .map(|(u, s)| PeerInfo {
                uid: *u,
                name: s.name.clone(),
                presence: s.presence,
                stream: s.publishing,
            })
            .collect();
        let departed = self
            .departed
            .iter()
            .filter(|d| now.saturating_duration_since(d.at) < cfg.departed_ttl)
            .filter(|d| !self.sessions.contains_key(&d.uid))
            .map(|d| DepartedPeer {
                uid: d.uid,
                reason: d.reason,
            })
            .collect();
        ServerMessage::Welcome {
            session_id: me.map(|s| s.session_id.clone()).unwrap_or_default(),
            resumed,
            peers,
            departed,
            publishing: me.and_then(|s| s.publishing),
            session_timeout_ms: millis(cfg.peer_timeout),
            token_expires_in_ms: me
                .and_then(|s| s.token_expires)
                .map(|t| millis(t.saturating_duration_since(now))),
        }
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
