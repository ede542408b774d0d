//! Remote roster bookkeeping: turns server messages, `welcome` snapshots and
//! media activity into peer and stream events, each emitted once.
//!
//! A stream is *visible* (the user has seen `stream-added` and no removal
//! since) when its publisher announced it and, with media gating on, its
//! packets are flowing. Every change is applied as "visibility before →
//! after", so each `stream-added`/`stream-removed` comes exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tether_proto::{
    DepartedPeer, Media, PeerInfo, PeerLeaveReason, PeerPresence, ServerMessage,
    StreamRemovedReason,
};

use crate::SessionEvent;

/// Whether a peer's media is arriving (only tracked with media gating).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Announced by signalling; no packet seen yet.
    Waiting,
    /// Packets arriving; the last one was seen at this instant.
    Flowing(Instant),
    /// No packet for the no-data timeout.
    Stalled,
}

/// What the client knows of one remote peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Display name.
    pub name: String,
    /// Online or reconnecting.
    pub presence: PeerPresence,
    /// What it publishes, according to signalling.
    pub stream: Option<Media>,
    /// Whether its media arrives.
    pub flow: Flow,
    /// What it has muted.
    pub muted: Media,
    /// `stream-subscribed` was emitted for the visible stream.
    pub subscribed: bool,
    /// Missing from a rejoin snapshot with no known departure (e.g. after a
    /// server restart): shown as reconnecting, and gone with
    /// `SERVER_TIMEOUT` unless it is back by this instant.
    pub missing_until: Option<Instant>,
}

impl Peer {
    fn new(name: String) -> Self {
        Self {
            name,
            presence: PeerPresence::Online,
            stream: None,
            flow: Flow::Waiting,
            muted: Media {
                audio: false,
                video: false,
            },
            subscribed: false,
            missing_until: None,
        }
    }

    /// Every published kind is muted: silence is expected, not a fault.
    fn fully_muted(&self) -> bool {
        self.stream
            .is_some_and(|m| (!m.audio || self.muted.audio) && (!m.video || self.muted.video))
    }
}

/// Everyone else in the channel, as far as this client knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    peers: BTreeMap<u32, Peer>,
    gating: bool,
    no_data: Duration,
}

impl Default for Roster {
    fn default() -> Self {
        Self::new(false, Duration::from_secs(10))
    }
}

/// A peer whose data stopped this long before it left is reported as
/// `NO_DATA` rather than `PEER_LEFT`: the media had already gone.
const STALE_AT_LEAVE: Duration = Duration::from_secs(1);

impl Roster {
    /// A roster; with `gating`, streams become visible only when media flows
    /// and are removed `no_data` after the last packet.
    pub fn new(gating: bool, no_data: Duration) -> Self {
        Self {
            peers: BTreeMap::new(),
            gating,
            no_data,
        }
    }

    /// The peers, by uid.
    pub fn peers(&self) -> &BTreeMap<u32, Peer> {
        &self.peers
    }

    /// Forget everyone without events (the session ended).
    pub fn clear(&mut self) {
        self.peers.clear();
    }

    fn visible(&self, peer: &Peer) -> Option<Media> {
        let media = peer.stream?;
        match (self.gating, peer.flow) {
            (false, _) | (true, Flow::Flowing(_)) => Some(media),
            (true, _) => None,
        }
    }

    /// Change one peer and emit the difference in stream visibility.
    fn update(
        &mut self,
        uid: u32,
        removed: StreamRemovedReason,
        out: &mut Vec<SessionEvent>,
        change: impl FnOnce(&mut Peer),
    ) {
        let Some(peer) = self.peers.get(&uid) else {
            return;
        };
        let before = self.visible(peer);
        let mut peer = peer.clone();
        change(&mut peer);
        let after = self.visible(&peer);
        if before != after {
            peer.subscribed = false;
        }
        self.peers.insert(uid, peer);
        match (before, after) {
            (None, Some(m)) => out.push(SessionEvent::StreamAdded {
                uid,
                audio: m.audio,
                video: m.video,
            }),
            (Some(_), None) => out.push(SessionEvent::StreamRemoved {
                uid,
                reason: removed,
            }),
            (Some(a), Some(b)) if a != b => out.push(SessionEvent::StreamAdded {
                uid,
                audio: b.audio,
                video: b.video,
            }),
            _ => {}
        }
    }

    /// Apply one roster message. Messages that change nothing emit nothing.
    pub(crate) fn apply(&mut self, msg: &ServerMessage, now: Instant, out: &mut Vec<SessionEvent>) {
        match msg {
            ServerMessage::PeerOnline { uid, name } => {
                if let Some(peer) = self.peers.get_mut(uid) {
                    peer.name.clone_from(name);
                    if peer.missing_until.take().is_some() {
                        self.set_presence(*uid, PeerPresence::Online, out);
                    }
                } else {
                    self.peers.insert(*uid, Peer::new(name.clone()));
                    out.push(SessionEvent::PeerOnline {
                        uid: *uid,
                        name: name.clone(),
                    });
                }
            }
            ServerMessage::PeerLeave { uid, reason } => self.remove(*uid, *reason, now, out),
            ServerMessage::PeerReconnecting { uid } => {
                self.set_presence(*uid, PeerPresence::Reconnecting, out)
            }
            ServerMessage::PeerReconnected { uid } => {
                self.set_presence(*uid, PeerPresence::Online, out)
            }
            ServerMessage::StreamAdded { uid, audio, video } => {
                let media = Media {
                    audio: *audio,
                    video: *video,
                };
                self.set_stream(*uid, Some(media), StreamRemovedReason::Unpublished, out);
            }
            ServerMessage::StreamRemoved { uid, reason } => {
                self.set_stream(*uid, None, *reason, out)
            }
            ServerMessage::MuteChanged { uid, audio, video } => {
                let muted = Media {
                    audio: *audio,
                    video: *video,
                };
                let Some(peer) = self.peers.get_mut(uid) else {
                    return;
                };
                if peer.muted == muted {
                    return;
                }
                peer.muted = muted;
                // Unmuting restarts the no-data clock: silence was expected.
                if let Flow::Flowing(last) = &mut peer.flow {
                    *last = (*last).max(now);
                }
                out.push(SessionEvent::MuteChanged {
                    uid: *uid,
                    audio: *audio,
                    video: *video,
                });
            }
            _ => {}
        }
    }

    /// Media packets from `uid` arrived (the latest at `at`).
    pub(crate) fn media_activity(&mut self, uid: u32, at: Instant, out: &mut Vec<SessionEvent>) {
        self.update(uid, StreamRemovedReason::NoData, out, |peer| {
            peer.flow = match peer.flow {
                Flow::Flowing(last) => Flow::Flowing(last.max(at)),
                _ => Flow::Flowing(at),
            };
        });
    }

    /// The subscription to `uid`'s visible stream is set up.
    pub(crate) fn subscribed(&mut self, uid: u32, out: &mut Vec<SessionEvent>) {
        let visible = self.peers.get(&uid).and_then(|p| self.visible(p)).is_some();
        if let Some(peer) = self.peers.get_mut(&uid) {
            if visible && !peer.subscribed {
                peer.subscribed = true;
                out.push(SessionEvent::StreamSubscribed { uid });
            }
        }
    }

    /// When the next stream would be removed for lack of data, or a missing
    /// peer given up.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let missing = self.peers.values().filter_map(|p| p.missing_until).min();
        [missing, self.next_no_data()].into_iter().flatten().min()
    }

    fn next_no_data(&self) -> Option<Instant> {
        if !self.gating {
            return None;
        }
        self.peers
            .values()
            .filter(|p| p.stream.is_some() && !p.fully_muted())
            .filter_map(|p| match p.flow {
                Flow::Flowing(last) => Some(last + self.no_data),
                _ => None,
            })
            .min()
    }

    /// Remove streams whose data stopped `no_data` ago, and missing peers
    /// that did not come back.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Vec<SessionEvent>) {
        let expired: Vec<u32> = self
            .peers
            .iter()
            .filter(|(_, p)| p.missing_until.is_some_and(|t| t <= now))
            .map(|(uid, _)| *uid)
            .collect();
        for uid in expired {
            self.remove(uid, PeerLeaveReason::ServerTimeout, now, out);
        }
        let no_data = self.no_data;
        let stale: Vec<u32> = self
            .peers
            .iter()
            .filter(|(_, p)| p.stream.is_some() && !p.fully_muted())
            .filter(|(_, p)| matches!(p.flow, Flow::Flowing(last) if last + no_data <= now))
            .map(|(uid, _)| *uid)
            .collect();
        for uid in stale {
            self.update(uid, StreamRemovedReason::NoData, out, |p| {
                p.flow = Flow::Stalled
            });
        }
    }

    /// Bring the roster in line with a `welcome` snapshot, emitting the
    /// difference. Peers that vanished leave with their reason from
    /// `departed` (newest entry wins). A peer the server does not know at all
    /// (it restarted, or forgot) has not been seen to leave: it shows as
    /// reconnecting and leaves with `SERVER_TIMEOUT` if it is not back within
    /// `grace` (the server's session timeout).
    pub(crate) fn reconcile(
        &mut self,
        snapshot: &[PeerInfo],
        departed: &[DepartedPeer],
        grace: Duration,
        now: Instant,
        out: &mut Vec<SessionEvent>,
    ) {
        let gone: Vec<u32> = self
            .peers
            .keys()
            .copied()
            .filter(|uid| !snapshot.iter().any(|p| p.uid == *uid))
            .collect();
        for uid in gone {
            match departed.iter().rev().find(|d| d.uid == uid) {
                Some(d) => self.remove(uid, d.reason, now, out),
                None => {
                    self.set_presence(uid, PeerPresence::Reconnecting, out);
                    if let Some(peer) = self.peers.get_mut(&uid) {
                        peer.missing_until.get_or_insert(now + grace);
                    }
                }
            }
        }
        for info in snapshot {
            if let Some(peer) = self.peers.get_mut(&info.uid) {
                peer.missing_until = None;
            }
            self.apply(
                &ServerMessage::PeerOnline {
                    uid: info.uid,
                    name: info.name.clone(),
                },
                now,
                out,
            );
            self.set_presence(info.uid, info.presence, out);
            self.set_stream(info.uid, info.stream, StreamRemovedReason::Unpublished, out);
        }
    }

    fn remove(
        &mut self,
        uid: u32,
        reason: PeerLeaveReason,
        now: Instant,
        out: &mut Vec<SessionEvent>,
    ) {
        let Some(peer) = self.peers.get(&uid) else {
            return;
        };
        let removed = match peer.flow {
            Flow::Flowing(last) if self.gating && last + STALE_AT_LEAVE <= now => {
                StreamRemovedReason::NoData
            }
            _ => StreamRemovedReason::PeerLeft,
        };
        self.update(uid, removed, out, |p| p.stream = None);
        self.peers.remove(&uid);
        out.push(SessionEvent::PeerLeave { uid, reason });
    }

    fn set_presence(&mut self, uid: u32, presence: PeerPresence, out: &mut Vec<SessionEvent>) {
        let Some(peer) = self.peers.get_mut(&uid) else {
            return;
        };
        if peer.presence == presence {
            return;
        }
        peer.presence = presence;
        out.push(match presence {
            PeerPresence::Online => SessionEvent::PeerReconnected { uid },
            PeerPresence::Reconnecting => SessionEvent::PeerReconnecting { uid },
        });
    }

    fn set_stream(
        &mut self,
        uid: u32,
        stream: Option<Media>,
        removed: StreamRemovedReason,
        out: &mut Vec<SessionEvent>,
    ) {
        self.update(uid, removed, out, |peer| {
            if peer.stream.is_none() && stream.is_some() {
                // A new publication waits for its own packets.
                peer.flow = Flow::Waiting;
            }
            peer.stream = stream;
        });
    }
}

#[cfg(test)]
mod tests;
