//! Unit tests of the roster.

use super::*;
use std::time::Instant;

fn online(uid: u32) -> ServerMessage {
    ServerMessage::PeerOnline {
        uid,
        name: format!("p{uid}"),
    }
}

#[test]
fn duplicates_emit_nothing() {
    let mut r = Roster::default();
    let now = Instant::now();
    let mut out = vec![];
    r.apply(&online(2), now, &mut out);
    r.apply(&online(2), now, &mut out);
    r.apply(&ServerMessage::PeerReconnected { uid: 2 }, now, &mut out);
    r.apply(
        &ServerMessage::PeerLeave {
            uid: 9,
            reason: PeerLeaveReason::Quit,
        },
        now,
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
    let now = Instant::now();
    let mut out = vec![];
    r.apply(&online(1), now, &mut out);
    r.apply(
        &ServerMessage::StreamAdded {
            uid: 1,
            audio: true,
            video: true,
        },
        now,
        &mut out,
    );
    out.clear();
    r.apply(
        &ServerMessage::PeerLeave {
            uid: 1,
            reason: PeerLeaveReason::ServerTimeout,
        },
        now,
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
    let now = Instant::now();
    let mut out = vec![];
    r.apply(&online(1), now, &mut out);
    r.apply(&online(2), now, &mut out);
    r.apply(&online(3), now, &mut out);
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
    let grace = Duration::from_secs(10);
    r.reconcile(&snapshot, &departed, grace, now, &mut out);
    assert_eq!(
        out,
        vec![
            SessionEvent::PeerLeave {
                uid: 1,
                reason: PeerLeaveReason::ServerTimeout
            },
            SessionEvent::PeerReconnecting { uid: 3 },
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
    r.reconcile(&snapshot, &departed, grace, now, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // Uid 3 was never seen to leave: it is given the server's grace.
    assert_eq!(r.next_deadline(), Some(now + grace));
    r.on_timeout(now + grace, &mut out);
    assert_eq!(
        out,
        vec![SessionEvent::PeerLeave {
            uid: 3,
            reason: PeerLeaveReason::ServerTimeout
        }]
    );
}

#[test]
fn a_missing_peer_that_comes_back_is_reconnected_not_new() {
    let mut r = Roster::default();
    let now = Instant::now();
    let mut out = vec![];
    r.apply(&online(2), now, &mut out);
    out.clear();
    r.reconcile(&[], &[], Duration::from_secs(10), now, &mut out);
    assert_eq!(out, vec![SessionEvent::PeerReconnecting { uid: 2 }]);
    out.clear();
    r.apply(&online(2), now + Duration::from_secs(3), &mut out);
    assert_eq!(out, vec![SessionEvent::PeerReconnected { uid: 2 }]);
    assert_eq!(r.next_deadline(), None);
}

fn published(r: &mut Roster, now: Instant, out: &mut Vec<SessionEvent>) {
    r.apply(&online(1), now, out);
    r.apply(
        &ServerMessage::StreamAdded {
            uid: 1,
            audio: true,
            video: true,
        },
        now,
        out,
    );
}

#[test]
fn gated_streams_appear_with_packets_and_go_after_silence() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut r = Roster::new(true, Duration::from_secs(10));
    let mut out = vec![];
    published(&mut r, t0, &mut out);
    assert_eq!(out.len(), 1, "announced, not yet added: {out:?}");
    out.clear();
    r.media_activity(1, ms(100), &mut out);
    r.media_activity(1, ms(200), &mut out);
    assert_eq!(
        out,
        vec![SessionEvent::StreamAdded {
            uid: 1,
            audio: true,
            video: true
        }]
    );
    out.clear();
    assert_eq!(r.next_deadline(), Some(ms(10_200)));
    r.on_timeout(ms(10_199), &mut out);
    assert!(out.is_empty());
    r.on_timeout(ms(10_200), &mut out);
    assert_eq!(
        out,
        vec![SessionEvent::StreamRemoved {
            uid: 1,
            reason: StreamRemovedReason::NoData
        }]
    );
    assert_eq!(r.next_deadline(), None);
    out.clear();
    r.media_activity(1, ms(20_000), &mut out);
    assert!(matches!(out[0], SessionEvent::StreamAdded { uid: 1, .. }));
}

#[test]
fn muting_everything_is_not_no_data() {
    let t0 = Instant::now();
    let mut r = Roster::new(true, Duration::from_secs(10));
    let mut out = vec![];
    published(&mut r, t0, &mut out);
    r.media_activity(1, t0, &mut out);
    out.clear();
    let mute = |audio, video| ServerMessage::MuteChanged {
        uid: 1,
        audio,
        video,
    };
    r.apply(&mute(true, true), t0, &mut out);
    assert_eq!(r.next_deadline(), None);
    r.on_timeout(t0 + Duration::from_secs(60), &mut out);
    assert_eq!(out.len(), 1, "only mute-changed: {out:?}");
    let later = t0 + Duration::from_secs(61);
    r.apply(&mute(false, true), later, &mut out);
    assert_eq!(r.next_deadline(), Some(later + Duration::from_secs(10)));
}

#[test]
fn leave_after_silence_reports_no_data_then_leave() {
    let t0 = Instant::now();
    let mut r = Roster::new(true, Duration::from_secs(10));
    let mut out = vec![];
    published(&mut r, t0, &mut out);
    r.media_activity(1, t0, &mut out);
    out.clear();
    let leave = ServerMessage::PeerLeave {
        uid: 1,
        reason: PeerLeaveReason::ServerTimeout,
    };
    r.apply(&leave, t0 + Duration::from_millis(9_800), &mut out);
    assert_eq!(
        out,
        vec![
            SessionEvent::StreamRemoved {
                uid: 1,
                reason: StreamRemovedReason::NoData
            },
            SessionEvent::PeerLeave {
                uid: 1,
                reason: PeerLeaveReason::ServerTimeout
            }
        ]
    );
}

#[test]
fn subscribed_once_per_visible_stream() {
    let t0 = Instant::now();
    let mut r = Roster::new(true, Duration::from_secs(10));
    let mut out = vec![];
    published(&mut r, t0, &mut out);
    out.clear();
    r.subscribed(1, &mut out);
    assert!(out.is_empty(), "not visible yet");
    r.media_activity(1, t0, &mut out);
    r.subscribed(1, &mut out);
    r.subscribed(1, &mut out);
    let subs = out
        .iter()
        .filter(|e| matches!(e, SessionEvent::StreamSubscribed { uid: 1 }))
        .count();
    assert_eq!(subs, 1);
}
