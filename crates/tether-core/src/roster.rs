//! Remote roster bookkeeping: turns server messages and `welcome` snapshots
//! into peer and stream events, each emitted once.

use std::collections::BTreeMap;

use tether_proto::{
    DepartedPeer, Media, PeerInfo, PeerLeaveReason, PeerPresence, ServerMessage,
    StreamRemovedReason,
};

use crate::SessionEvent;

/// What the client knows of one remote peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Display name.
    pub name: String,
    /// Online or reconnecting.
    pub presence: PeerPresence,
    /// What it publishes.
    pub stream: Option<Media>,
}

/// Everyone else in the channel, as far as this client knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    peers: BTreeMap<u32, Peer>,
}

impl Roster {
    /// The peers, by uid.
    pub fn peers(&self) -> &BTreeMap<u32, Peer> {
        &self.peers
    }

    /// Forget everyone without events (the session ended).
    pub fn clear(&mut self) {
        self.peers.clear();
    }

    /// Apply one roster message. Messages that change nothing emit nothing.
    pub(crate) fn apply(&mut self, msg: &ServerMessage, out: &mut Vec<SessionEvent>) {
        match msg {
            ServerMessage::PeerOnline { uid, name } => {
                if let Some(peer) = self.peers.get_mut(uid) {
                    peer.name.clone_from(name);
                } else {
                    self.peers.insert(
                        *uid,
                        Peer {
                            name: name.clone(),
                            presence: PeerPresence::Online,
                            stream: None,
                        },
                    );
                    out.push(SessionEvent::PeerOnline {
                        uid: *uid,
                        name: name.clone(),
                    });
                }
            }
            ServerMessage::PeerLeave { uid, reason } => self.remove(*uid, *reason, out),
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
            _ => {}
        }
    }

    /// Bring the roster in line with a `welcome` snapshot, emitting the
    /// difference. Peers that vanished take their reason from `departed`
    /// (newest entry wins), or `QUIT` when the server no longer remembers.
    pub(crate) fn reconcile(
        &mut self,
        snapshot: &[PeerInfo],
        departed: &[DepartedPeer],
        out: &mut Vec<SessionEvent>,
    ) {
        let gone: Vec<u32> = self
            .peers
            .keys()
            .copied()
            .filter(|uid| !snapshot.iter().any(|p| p.uid == *uid))
            .collect();
        for uid in gone {
            let reason = departed
                .iter()
                .rev()
                .find(|d| d.uid == uid)
                .map_or(PeerLeaveReason::Quit, |d| d.reason);
            self.remove(uid, reason, out);
        }
        for info in snapshot {
            self.apply(
                &ServerMessage::PeerOnline {
                    uid: info.uid,
                    name: info.name.clone(),
                },
                out,
            );
            self.set_presence(info.uid, info.presence, out);
            self.set_stream(info.uid, info.stream, StreamRemovedReason::Unpublished, out);
        }
    }

    fn remove(&mut self, uid: u32, reason: PeerLeaveReason, out: &mut Vec<SessionEvent>) {
        if let Some(peer) = self.peers.remove(&uid) {
            if peer.stream.is_some() {
                out.push(SessionEvent::StreamRemoved {
                    uid,
                    reason: StreamRemovedReason::PeerLeft,
                });
            }
            out.push(SessionEvent::PeerLeave { uid, reason });
        }
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
        let Some(peer) = self.peers.get_mut(&uid) else {
            return;
        };
        if peer.stream == stream {
            return;
        }
        peer.stream = stream;
        out.push(match stream {
            Some(m) => SessionEvent::StreamAdded {
                uid,
                audio: m.audio,
                video: m.video,
            },
            None => SessionEvent::StreamRemoved {
                uid,
                reason: removed,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(uid: u32) -> ServerMessage {
        ServerMessage::PeerOnline {
            uid,
            name: format!("p{uid}"),
        }
    }

    #[test]
    fn duplicates_emit_nothing() {
        let mut r = Roster::default();
        let mut out = vec![];
        r.apply(&online(2), &mut out);
        r.apply(&online(2), &mut out);
        r.apply(&ServerMessage::PeerReconnected { uid: 2 }, &mut out);
        r.apply(
            &ServerMessage::PeerLeave {
                uid: 9,
                reason: PeerLeaveReason::Quit,
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![SessionEvent::PeerOnline {
                uid: 2,
                name: "p2".into()
            }]
        );
    }

    #[test]
    fn leave_of_a_publisher_removes_its_stream_first() {
        let mut r = Roster::default();
        let mut out = vec![];
        r.apply(&online(1), &mut out);
        r.apply(
            &ServerMessage::StreamAdded {
                uid: 1,
                audio: true,
                video: true,
            },
            &mut out,
        );
        out.clear();
        r.apply(
            &ServerMessage::PeerLeave {
                uid: 1,
                reason: PeerLeaveReason::ServerTimeout,
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                SessionEvent::StreamRemoved {
                    uid: 1,
                    reason: StreamRemovedReason::PeerLeft
                },
                SessionEvent::PeerLeave {
                    uid: 1,
                    reason: PeerLeaveReason::ServerTimeout
                },
            ]
        );
    }

    #[test]
    fn reconcile_emits_the_difference() {
        let mut r = Roster::default();
        let mut out = vec![];
        r.apply(&online(1), &mut out);
        r.apply(&online(2), &mut out);
        r.apply(&online(3), &mut out);
        out.clear();
        let snapshot = vec![
            PeerInfo {
                uid: 2,
                name: "p2".into(),
                presence: PeerPresence::Reconnecting,
                stream: Some(Media {
                    audio: true,
                    video: false,
                }),
            },
            PeerInfo {
                uid: 4,
                name: "p4".into(),
                presence: PeerPresence::Online,
                stream: None,
            },
        ];
        let departed = vec![DepartedPeer {
            uid: 1,
            reason: PeerLeaveReason::ServerTimeout,
        }];
        r.reconcile(&snapshot, &departed, &mut out);
        assert_eq!(
            out,
            vec![
                SessionEvent::PeerLeave {
                    uid: 1,
                    reason: PeerLeaveReason::ServerTimeout
                },
                SessionEvent::PeerLeave {
                    uid: 3,
                    reason: PeerLeaveReason::Quit
                },
                SessionEvent::PeerReconnecting { uid: 2 },
                SessionEvent::StreamAdded {
                    uid: 2,
                    audio: true,
                    video: false
                },
                SessionEvent::PeerOnline {
                    uid: 4,
                    name: "p4".into()
                },
            ]
        );
        out.clear();
        r.reconcile(&snapshot, &departed, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
