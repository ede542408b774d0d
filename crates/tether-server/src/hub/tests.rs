//! Hub tests on a simulated clock: `now` is an input, so hours of presence
//! logic run in microseconds and deadlines are checked exactly.

use super::*;
use tether_proto::{decode_server, Privileges, CLOSE_POLICY};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_millis(10_000);
const STALE: Duration = Duration::from_millis(3_000);

fn hub() -> Hub {
    Hub::new(HubConfig {
        peer_timeout: TIMEOUT,
        peer_stale: STALE,
        departed_ttl: Duration::from_secs(300),
        departed_max: 3,
        max_participants: 5,
    })
}

struct Peer {
    link: ConnLink,
    rx: mpsc::Receiver<Outbound>,
}

impl Peer {
    fn new(hub: &Hub) -> Self {
        let (tx, rx) = mpsc::channel(64);
        Self {
            link: ConnLink {
                id: hub.next_conn_id(),
                tx,
                kill: CancellationToken::new(),
            },
            rx,
        }
    }

    /// Everything queued so far: messages, and `None` for a close.
    fn drain(&mut self) -> Vec<Result<ServerMessage, u16>> {
        let mut out = Vec::new();
        while let Ok(o) = self.rx.try_recv() {
            out.push(match o {
                Outbound::Text(t) => Ok(decode_server(t.as_str()).expect("server frames decode")),
                Outbound::Close { code, .. } => Err(code),
            });
        }
        out
    }
}

fn open_grant() -> Grant {
    Grant {
        privileges: Privileges {
            join: true,
            publish: true,
        },
        expires_in: None,
    }
}

fn join(
    hub: &Hub,
    peer: &Peer,
    uid: u32,
    resume: Option<&str>,
    now: Instant,
) -> (SessionKey, ServerMessage) {
    join_with(hub, peer, uid, resume, open_grant(), now)
}

fn join_with(
    hub: &Hub,
    peer: &Peer,
    uid: u32,
    resume: Option<&str>,
    grant: Grant,
    now: Instant,
) -> (SessionKey, ServerMessage) {
    hub.join(
        JoinRequest {
            channel: "demo".into(),
            uid,
            name: format!("user{uid}"),
            resume: resume.map(str::to_owned),
            grant,
            conn: peer.link.clone(),
        },
        now,
    )
    .unwrap_or_else(|full| panic!("{full:?}"))
}

fn leave(uid: u32, reason: PeerLeaveReason) -> Result<ServerMessage, u16> {
    Ok(ServerMessage::PeerLeave { uid, reason })
}

#[test]
fn join_announces_and_welcome_lists_peers() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, b) = (Peer::new(&hub), Peer::new(&hub));
    let (_, w1) = join(&hub, &a, 1, None, t0);
    assert!(
        matches!(w1, ServerMessage::Welcome { ref peers, resumed: false, .. } if peers.is_empty())
    );
    let (kb, w2) = join(&hub, &b, 2, None, t0);
    assert_eq!(
        a.drain(),
        vec![Ok(ServerMessage::PeerOnline {
            uid: 2,
            name: "user2".into()
        })]
    );
    let ServerMessage::Welcome {
        session_id,
        peers,
        session_timeout_ms,
        token_expires_in_ms,
        ..
    } = w2
    else {
        panic!("welcome expected");
    };
    assert_eq!(session_id, kb.session_id);
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].uid, 1);
    assert_eq!(peers[0].presence, PeerPresence::Online);
    assert_eq!(session_timeout_ms, 10_000);
    assert_eq!(token_expires_in_ms, None);
    assert_eq!(
        hub.stats(),
        HubStats {
            channels: 1,
            sessions: 2,
            attached: 2
        }
    );
}

#[test]
fn timeout_fires_exactly_at_last_heard_plus_timeout() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, b) = (Peer::new(&hub), Peer::new(&hub));
    let (ka, _) = join(&hub, &a, 1, None, t0);
    let (kb, _) = join(&hub, &b, 2, None, t0);
    a.drain();
    let heard = t0 + Duration::from_millis(1234);
    hub.heard(&kb, b.link.id, heard).expect("attached");
    hub.detach(&kb, b.link.id);
    assert_eq!(
        a.drain(),
        vec![Ok(ServerMessage::PeerReconnecting { uid: 2 })]
    );
    let next = hub.run_timers(heard + Duration::from_millis(1));
    // Uid 1 was last heard at t0: its stale deadline comes first.
    assert_eq!(next, Some(t0 + STALE));
    // Keep uid 1 alive.
    hub.heard(&ka, a.link.id, t0 + Duration::from_millis(9_000))
        .expect("attached");
    a.drain();
    let just_before = heard + TIMEOUT - Duration::from_millis(1);
    assert_eq!(hub.run_timers(just_before), Some(heard + TIMEOUT));
    assert!(a.drain().is_empty());
    hub.run_timers(heard + TIMEOUT);
    assert_eq!(a.drain(), vec![leave(2, PeerLeaveReason::ServerTimeout)]);
    assert_eq!(hub.stats().sessions, 1);
}

#[test]
fn silence_makes_reconnecting_then_a_frame_makes_online() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, b) = (Peer::new(&hub), Peer::new(&hub));
    let (ka, _) = join(&hub, &a, 1, None, t0);
    let (kb, _) = join(&hub, &b, 2, None, t0);
    a.drain();
    hub.heard(&ka, a.link.id, t0 + STALE).expect("attached");
    assert_eq!(hub.run_timers(t0 + STALE), Some(t0 + STALE + STALE));
    assert_eq!(
        a.drain(),
        vec![Ok(ServerMessage::PeerReconnecting { uid: 2 })]
    );
    // Only once.
    hub.run_timers(t0 + STALE + Duration::from_millis(500));
    assert!(a.drain().is_empty());
    hub.heard(&kb, b.link.id, t0 + STALE + Duration::from_millis(600))
        .expect("attached");
    assert_eq!(
        a.drain(),
        vec![Ok(ServerMessage::PeerReconnected { uid: 2 })]
    );
}

#[test]
fn resume_keeps_session_and_closes_old_socket_quietly() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, mut b1, b2) = (Peer::new(&hub), Peer::new(&hub), Peer::new(&hub));
    join(&hub, &a, 1, None, t0);
    let (kb, _) = join(&hub, &b1, 2, None, t0);
    hub.publish(
        &kb,
        b1.link.id,
        Media {
            audio: true,
            video: false,
        },
    )
    .expect("attached");
    a.drain();
    b1.drain();
    // Resume while the old socket is still attached: no presence events.
    let (kb2, w) = join(
        &hub,
        &b2,
        2,
        Some(&kb.session_id),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(kb2, kb);
    assert!(matches!(
        w,
        ServerMessage::Welcome {
            resumed: true,
            publishing: Some(Media {
                audio: true,
                video: false
            }),
            ..
        }
    ));
    assert!(a.drain().is_empty());
    assert_eq!(b1.drain(), vec![Err(CLOSE_NORMAL)]);
    // The old connection's late detach changes nothing.
    hub.detach(&kb, b1.link.id);
    assert!(a.drain().is_empty());
    assert_eq!(hub.heard(&kb, b1.link.id, t0), Err(NotAttached));
    // Drop, then resume: reconnecting, then reconnected.
    hub.detach(&kb, b2.link.id);
    let b3 = Peer::new(&hub);
    let (_, w) = join(
        &hub,
        &b3,
        2,
        Some(&kb.session_id),
        t0 + Duration::from_secs(5),
    );
    assert!(matches!(w, ServerMessage::Welcome { resumed: true, .. }));
    assert_eq!(
        a.drain(),
        vec![
            Ok(ServerMessage::PeerReconnecting { uid: 2 }),
            Ok(ServerMessage::PeerReconnected { uid: 2 })
        ]
    );
}

#[test]
fn resume_after_timeout_is_a_fresh_join() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, b) = (Peer::new(&hub), Peer::new(&hub));
    let (ka, _) = join(&hub, &a, 1, None, t0);
    let (kb, _) = join(&hub, &b, 2, None, t0);
    hub.detach(&kb, b.link.id);
    hub.heard(&ka, a.link.id, t0 + TIMEOUT).expect("attached");
    hub.run_timers(t0 + TIMEOUT);
    a.drain();
    let b2 = Peer::new(&hub);
    let (kb2, w) = join(&hub, &b2, 2, Some(&kb.session_id), t0 + TIMEOUT);
    assert_ne!(kb2.session_id, kb.session_id);
    assert!(matches!(w, ServerMessage::Welcome { resumed: false, .. }));
    assert_eq!(
        a.drain(),
        vec![Ok(ServerMessage::PeerOnline {
            uid: 2,
            name: "user2".into()
        })]
    );
}

#[test]
fn uid_conflict_kicks_the_old_connection() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, mut b1, b2) = (Peer::new(&hub), Peer::new(&hub), Peer::new(&hub));
    join(&hub, &a, 1, None, t0);
    join(&hub, &b1, 2, None, t0);
    a.drain();
    join(&hub, &b2, 2, None, t0);
    let old = b1.drain();
    assert!(matches!(
        old.as_slice(),
        [
            Ok(ServerMessage::Error {
                code: ErrorCode::UidConflict,
                fatal: true,
                ..
            }),
            Err(CLOSE_POLICY)
        ]
    ));
    assert_eq!(
        a.drain(),
        vec![
            leave(2, PeerLeaveReason::Quit),
            Ok(ServerMessage::PeerOnline {
                uid: 2,
                name: "user2".into()
            })
        ]
    );
}

#[test]
fn publish_unpublish_and_privileges() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, b, c) = (Peer::new(&hub), Peer::new(&hub), Peer::new(&hub));
    join(&hub, &a, 1, None, t0);
    let (kb, _) = join(&hub, &b, 2, None, t0);
    let no_publish = Grant {
        privileges: Privileges {
            join: true,
            publish: false,
        },
        expires_in: None,
    };
    let (kc, _) = join_with(&hub, &c, 3, None, no_publish, t0);
    a.drain();
    let media = Media {
        audio: true,
        video: true,
    };
    assert_eq!(hub.publish(&kb, b.link.id, media), Ok(None));
    // Same media again: nothing new to announce.
    assert_eq!(hub.publish(&kb, b.link.id, media), Ok(None));
    assert!(matches!(
        hub.publish(&kc, c.link.id, media),
        Ok(Some(ServerMessage::Error {
            code: ErrorCode::NoPrivilege,
            fatal: false,
            ..
        }))
    ));
    hub.unpublish(&kb, b.link.id).expect("attached");
    hub.unpublish(&kb, b.link.id).expect("attached");
    assert_eq!(
        a.drain(),
        vec![
            Ok(ServerMessage::StreamAdded {
                uid: 2,
                audio: true,
                video: true
            }),
            Ok(ServerMessage::StreamRemoved {
                uid: 2,
                reason: StreamRemovedReason::Unpublished
            })
        ]
    );
}

#[test]
fn leave_removes_and_lists_departed() {
    let hub = hub();
    let t0 = Instant::now();
    let peers: Vec<Peer> = (0..6).map(|_| Peer::new(&hub)).collect();
    let keys: Vec<SessionKey> = (1..=5)
        .map(|uid| join(&hub, &peers[uid as usize], uid, None, t0).0)
        .collect();
    for k in &keys[..4] {
        let conn = peers[k.uid as usize].link.id;
        hub.leave(k, conn, t0).expect("attached");
    }
    // Uid 1 comes back: it is present, so it is not listed as departed.
    join(&hub, &peers[1], 1, None, t0);
    let (_, w) = join(&hub, &peers[0], 9, None, t0 + Duration::from_secs(1));
    let ServerMessage::Welcome {
        departed,
        peers: present,
        ..
    } = w
    else {
        panic!("welcome expected");
    };
    // At most 3 kept (test config), newest last, present uids excluded.
    assert_eq!(
        departed.iter().map(|d| d.uid).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert!(departed.iter().all(|d| d.reason == PeerLeaveReason::Quit));
    assert_eq!(
        present.iter().map(|p| p.uid).collect::<Vec<_>>(),
        vec![1, 5]
    );
    // Departures older than the ttl are not listed.
    let late = Peer::new(&hub);
    let (_, w) = join(&hub, &late, 10, None, t0 + Duration::from_secs(301));
    assert!(matches!(w, ServerMessage::Welcome { ref departed, .. } if departed.is_empty()));
}

#[test]
fn channel_is_removed_when_empty() {
    let hub = hub();
    let t0 = Instant::now();
    let a = Peer::new(&hub);
    let (ka, _) = join(&hub, &a, 1, None, t0);
    hub.detach(&ka, a.link.id);
    assert_eq!(hub.stats().attached, 0);
    assert_eq!(hub.run_timers(t0 + TIMEOUT), None);
    assert_eq!(hub.stats(), HubStats::default());
}

#[test]
fn token_expiry_kicks_the_session() {
    let hub = hub();
    let t0 = Instant::now();
    let (mut a, mut b) = (Peer::new(&hub), Peer::new(&hub));
    let (ka, _) = join(&hub, &a, 1, None, t0);
    let grant = Grant {
        privileges: Privileges {
            join: true,
            publish: true,
        },
        expires_in: Some(Duration::from_millis(2_000)),
    };
    let (kb, w) = join_with(&hub, &b, 2, None, grant, t0);
    assert!(matches!(
        w,
        ServerMessage::Welcome {
            token_expires_in_ms: Some(2_000),
            ..
        }
    ));
    a.drain();
    // Renewal moves the deadline.
    let renewed = Grant {
        expires_in: Some(Duration::from_millis(2_500)),
        ..grant
    };
    let t1 = t0 + Duration::from_millis(1_000);
    assert_eq!(
        hub.renew(&kb, b.link.id, renewed, t1),
        Ok(ServerMessage::TokenRenewed {
            expires_in_ms: 2_500
        })
    );
    hub.heard(&ka, a.link.id, t1).expect("attached");
    hub.heard(&kb, b.link.id, t1).expect("attached");
    hub.run_timers(t0 + Duration::from_millis(2_000));
    assert!(b.drain().is_empty());
    hub.run_timers(t1 + Duration::from_millis(2_500));
    assert!(matches!(
        b.drain().as_slice(),
        [
            Ok(ServerMessage::Error {
                code: ErrorCode::TokenExpired,
                fatal: true,
                ..
            }),
            Err(CLOSE_POLICY)
        ]
    ));
    assert_eq!(a.drain(), vec![leave(2, PeerLeaveReason::Kicked)]);
}

fn request(uid: u32, peer: &Peer, name: String, resume: Option<String>) -> JoinRequest {
    JoinRequest {
        channel: "demo".into(),
        uid,
        name,
        resume,
        grant: open_grant(),
        conn: peer.link.clone(),
    }
}

#[test]
fn a_full_channel_refuses_new_uids_and_keeps_its_members() {
    let hub = hub(); // at most 5
    let t0 = Instant::now();
    let peers: Vec<Peer> = (0..7).map(|_| Peer::new(&hub)).collect();
    let keys: Vec<SessionKey> = (1..=5u32)
        .map(|uid| join(&hub, &peers[uid as usize - 1], uid, None, t0).0)
        .collect();
    let sixth = |p: &Peer| hub.join(request(6, p, "six".into(), None), t0);
    assert_eq!(sixth(&peers[5]).err(), Some(ChannelFull { max: 5 }));
    // A member resuming is not a new participant.
    let resume = Some(keys[2].session_id.clone());
    assert!(hub
        .join(request(3, &peers[6], "user3".into(), resume), t0)
        .is_ok());
    // One leaves: there is room again.
    hub.leave(&keys[0], peers[0].link.id, t0).expect("attached");
    assert!(sixth(&peers[5]).is_ok());
    assert_eq!(hub.stats().sessions, 5);
}

#[test]
fn the_welcome_of_a_full_channel_fits_a_frame() {
    let config = crate::ServerConfig::open_loopback();
    let hub = Hub::new(HubConfig {
        peer_timeout: TIMEOUT,
        peer_stale: STALE,
        departed_ttl: config.departed_ttl,
        departed_max: config.departed_max,
        max_participants: config.max_participants,
    });
    let t0 = Instant::now();
    // The longest names (64 characters of 4 bytes), the longest uids, and
    // a full list of departures.
    let name = "\u{1D54F}".repeat(tether_proto::MAX_NAME_CHARS);
    let mut peers = Vec::new();
    let mut keys = Vec::new();
    let mut next_uid = 4_000_000_000u32;
    let mut add = |peers: &mut Vec<Peer>| {
        let p = Peer::new(&hub);
        let r = hub.join(request(next_uid, &p, name.clone(), None), t0);
        next_uid += 1;
        peers.push(p);
        r
    };
    for _ in 0..config.departed_max {
        keys.push(add(&mut peers).expect("room").0);
    }
    for (k, p) in keys.iter().zip(&peers) {
        hub.leave(k, p.link.id, t0).expect("attached");
    }
    let mut last = None;
    for _ in 0..config.max_participants {
        last = Some(add(&mut peers).expect("room").1);
    }
    assert!(add(&mut peers).is_err(), "the cap holds");
    let welcome = tether_proto::encode(&last.expect("joined"));
    eprintln!(
        "welcome at {} participants: {} bytes",
        config.max_participants,
        welcome.len()
    );
    assert!(
        welcome.len() <= tether_proto::MAX_FRAME_BYTES,
        "{}",
        welcome.len()
    );
}

#[test]
fn the_fuzz_driver_holds_its_invariants_on_a_sample() {
    // A fixed pseudo-random sample (xorshift), so a broken invariant shows
    // in the ordinary tests too and not only under the fuzzer.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..50 {
        let ops: Vec<u8> = (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        super::fuzz::run(&ops);
    }
}
