//! Joining, the welcome snapshot, publish/unpublish, leave, uid conflict.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use tether_proto::{
    ClientMessage, ErrorCode, Media, PeerLeaveReason, PeerPresence, ServerMessage,
    StreamRemovedReason,
};
use tokio::time::Instant;

#[tokio::test]
async fn join_reaches_the_other_peer_within_one_hop() {
    let server = TestServer::start(open_config()).await;
    let (mut a, _) = server.joined("demo", 1).await;
    let b = server.client().await;
    let sent = Instant::now();
    b.hello("demo", 2, None, None).await;
    let msg = a
        .wait_for(SOON, "peer-online", |m| {
            matches!(m, ServerMessage::PeerOnline { .. })
        })
        .await;
    let hop = sent.elapsed();
    assert_eq!(
        msg,
        ServerMessage::PeerOnline {
            uid: 2,
            name: "user2".into()
        }
    );
    // One loopback hop: far below the reference's ~100 ms.
    assert!(hop < Duration::from_millis(100), "peer-online took {hop:?}");
    eprintln!("peer-online latency: {hop:?}");
}

#[tokio::test]
async fn welcome_is_a_snapshot_of_the_channel() {
    let server = TestServer::start(open_config()).await;
    let (a, w) = server.joined("demo", 1).await;
    let ServerMessage::Welcome {
        session_id,
        resumed,
        peers,
        publishing,
        session_timeout_ms,
        token_expires_in_ms,
        ..
    } = w
    else {
        panic!("welcome expected")
    };
    assert!(!session_id.is_empty());
    assert!(!resumed && peers.is_empty() && publishing.is_none());
    assert_eq!(session_timeout_ms, 10_000);
    assert_eq!(token_expires_in_ms, None, "open mode has no expiry");

    a.send(&ClientMessage::Publish {
        audio: true,
        video: false,
    })
    .await;
    let (mut c, _) = server.joined("demo", 3).await;
    c.send(&ClientMessage::Leave).await;
    c.wait_for(SOON, "bye", |m| *m == ServerMessage::Bye).await;

    let (_b, w) = server.joined("demo", 2).await;
    let ServerMessage::Welcome {
        peers, departed, ..
    } = w
    else {
        panic!("welcome expected")
    };
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].uid, 1);
    assert_eq!(peers[0].name, "user1");
    assert_eq!(peers[0].presence, PeerPresence::Online);
    assert_eq!(
        peers[0].stream,
        Some(Media {
            audio: true,
            video: false
        })
    );
    assert_eq!(departed.len(), 1);
    assert_eq!(departed[0].uid, 3);
    assert_eq!(departed[0].reason, PeerLeaveReason::Quit);
}

#[tokio::test]
async fn publish_and_unpublish_reach_others() {
    let server = TestServer::start(open_config()).await;
    let (mut a, _) = server.joined("demo", 1).await;
    let (b, _) = server.joined("demo", 2).await;
    b.send(&ClientMessage::Publish {
        audio: true,
        video: true,
    })
    .await;
    let m = a
        .wait_for(SOON, "stream-added", |m| {
            matches!(m, ServerMessage::StreamAdded { .. })
        })
        .await;
    assert_eq!(
        m,
        ServerMessage::StreamAdded {
            uid: 2,
            audio: true,
            video: true
        }
    );
    b.send(&ClientMessage::Unpublish).await;
    let m = a
        .wait_for(SOON, "stream-removed", |m| {
            matches!(m, ServerMessage::StreamRemoved { .. })
        })
        .await;
    assert_eq!(
        m,
        ServerMessage::StreamRemoved {
            uid: 2,
            reason: StreamRemovedReason::Unpublished
        }
    );
}

#[tokio::test]
async fn leave_gets_bye_and_others_see_quit() {
    let server = TestServer::start(open_config()).await;
    let (mut a, _) = server.joined("demo", 1).await;
    let (mut b, _) = server.joined("demo", 2).await;
    b.send(&ClientMessage::Leave).await;
    let (msgs, closed) = b.messages_then_close(SOON).await;
    assert_eq!(msgs, vec![ServerMessage::Bye]);
    assert_eq!(closed.code, Some(1000));
    let m = a
        .wait_for(SOON, "peer-leave", |m| is_peer_leave(m, 2))
        .await;
    assert_eq!(
        m,
        ServerMessage::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::Quit
        }
    );
    // The leaver's session is gone; the channel still has uid 1.
    let stats = server.handle.stats();
    assert_eq!((stats.channels, stats.sessions), (1, 1));
    a.send(&ClientMessage::Leave).await;
    a.closed(SOON).await;
    let deadline = Instant::now() + SOON;
    while server.handle.stats().channels != 0 {
        assert!(Instant::now() < deadline, "empty channel not removed");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn uid_conflict_closes_the_old_connection() {
    let server = TestServer::start(open_config()).await;
    let (mut a, _) = server.joined("demo", 1).await;
    let (mut old, _) = server.joined("demo", 2).await;
    a.wait_for(SOON, "peer-online", |m| {
        matches!(m, ServerMessage::PeerOnline { uid: 2, .. })
    })
    .await;
    let (_new, w) = server.joined("demo", 2).await;
    assert!(matches!(w, ServerMessage::Welcome { resumed: false, .. }));
    let (msgs, closed) = old.messages_then_close(SOON).await;
    assert!(
        msgs.iter()
            .any(|m| m.fatal_code() == Some(ErrorCode::UidConflict)),
        "{msgs:?}"
    );
    assert!(closed.code.is_some());
    let seen = a.collect_until_marker(7).await;
    assert_eq!(
        seen,
        vec![
            ServerMessage::PeerLeave {
                uid: 2,
                reason: PeerLeaveReason::Quit
            },
            ServerMessage::PeerOnline {
                uid: 2,
                name: "user2".into()
            }
        ]
    );
}

#[tokio::test]
async fn hello_ordering_errors_are_not_fatal() {
    let server = TestServer::start(open_config()).await;
    let mut c = server.client().await;
    c.send(&ClientMessage::Ping { seq: 1 }).await;
    let m = c.next_within(SOON).await.expect("open");
    assert!(
        matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::NotJoined,
                fatal: false,
                ..
            }
        ),
        "{m:?}"
    );
    c.hello("demo", 1, None, None).await;
    c.expect_welcome().await;
    c.hello("demo", 1, None, None).await;
    let m = c.next_within(SOON).await.expect("open");
    assert!(
        matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::AlreadyJoined,
                fatal: false,
                ..
            }
        ),
        "{m:?}"
    );
    c.send(&ClientMessage::Ping { seq: 9 }).await;
    assert_eq!(
        c.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 9 })
    );
}

#[tokio::test]
async fn channels_are_isolated() {
    let server = TestServer::start(open_config()).await;
    let (mut a, _) = server.joined("one", 1).await;
    let (_b, w) = server.joined("two", 2).await;
    assert!(matches!(w, ServerMessage::Welcome { ref peers, .. } if peers.is_empty()));
    assert!(a.collect_until_marker(3).await.is_empty());
}
