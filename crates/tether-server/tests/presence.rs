//! Presence: reconnecting after silence or a dropped socket, the peer timeout
//! firing at last_heard + timeout, resume before and after the timeout.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use tether_proto::{PeerLeaveReason, ServerMessage};
use tokio::time::Instant;

const PING_EVERY: Duration = Duration::from_millis(50);

fn short_config(timeout_ms: u64, stale_ms: u64) -> tether_server::ServerConfig {
    let mut c = open_config();
    c.peer_timeout = Duration::from_millis(timeout_ms);
    c.peer_stale = Duration::from_millis(stale_ms);
    c
}

/// Two pinging clients in "demo"; uid 1 observes uid 2.
async fn pair(server: &TestServer, every: Duration) -> (Client, Client, String) {
    let (mut a, _) = server.joined("demo", 1).await;
    a.start_pinging(every);
    let (mut b, w) = server.joined("demo", 2).await;
    b.start_pinging(every);
    let ServerMessage::Welcome { session_id, .. } = w else {
        panic!("welcome expected")
    };
    a.wait_for(SOON, "peer-online", |m| {
        matches!(m, ServerMessage::PeerOnline { uid: 2, .. })
    })
    .await;
    (a, b, session_id)
}

/// Silence uid 2 and measure when uid 1 sees its peer-leave, relative to the
/// last frame uid 2 sent.
async fn measure_timeout(timeout: Duration, stale: Duration, every: Duration) -> Duration {
    let server = TestServer::start(short_config(
        timeout.as_millis() as u64,
        stale.as_millis() as u64,
    ))
    .await;
    let (mut a, mut b, _) = pair(&server, every).await;
    // Go silent but keep the socket open: only the timeout can remove it.
    let last = b.stop_pinging().await;
    let m = a
        .wait_for(timeout + Duration::from_secs(2), "peer-reconnecting", |m| {
            matches!(m, ServerMessage::PeerReconnecting { uid: 2 })
        })
        .await;
    assert_eq!(m, ServerMessage::PeerReconnecting { uid: 2 });
    let stale_at = last.elapsed();
    let m = a
        .wait_for(timeout + Duration::from_secs(2), "peer-leave", |m| {
            is_peer_leave(m, 2)
        })
        .await;
    let at = last.elapsed();
    assert_eq!(
        m,
        ServerMessage::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::ServerTimeout
        }
    );
    eprintln!("stale after {stale_at:?} (configured {stale:?}); timeout after {at:?} (configured {timeout:?})");
    assert!(
        stale_at + Duration::from_millis(100) >= stale,
        "reconnecting too early: {stale_at:?}"
    );
    // The silenced socket is closed by the server.
    let closed = b.closed(SOON).await;
    assert_eq!(closed.code, Some(1000));
    at
}

#[tokio::test]
async fn peer_timeout_fires_at_last_heard_plus_timeout() {
    let timeout = Duration::from_millis(300);
    let at = measure_timeout(timeout, Duration::from_millis(150), PING_EVERY).await;
    let error = at.as_secs_f64() - timeout.as_secs_f64();
    assert!(
        error.abs() < 0.1,
        "peer-leave after {at:?}, error {error:+.3}s"
    );
}

#[tokio::test]
async fn peer_timeout_at_the_default_ten_seconds() {
    let timeout = Duration::from_secs(10);
    let at = measure_timeout(timeout, Duration::from_secs(3), Duration::from_millis(250)).await;
    let error = at.as_secs_f64() - timeout.as_secs_f64();
    assert!(
        error.abs() < 0.5,
        "peer-leave after {at:?}, error {error:+.3}s"
    );
}

#[tokio::test]
async fn socket_drop_shows_reconnecting_at_once() {
    let server = TestServer::start(short_config(5_000, 3_000)).await;
    let (mut a, b, _) = pair(&server, PING_EVERY).await;
    let dropped = Instant::now();
    b.drop_socket().await;
    a.wait_for(SOON, "peer-reconnecting", |m| {
        matches!(m, ServerMessage::PeerReconnecting { uid: 2 })
    })
    .await;
    assert!(dropped.elapsed() < Duration::from_millis(500));
    let stats = server.handle.stats();
    assert_eq!((stats.sessions, stats.attached), (2, 1));
}

#[tokio::test]
async fn resume_within_timeout_is_seamless_for_others() {
    let timeout = Duration::from_millis(600);
    let server = TestServer::start(short_config(600, 200)).await;
    let (mut a, b, session_id) = pair(&server, PING_EVERY).await;
    b.drop_socket().await;
    a.wait_for(SOON, "peer-reconnecting", |m| {
        matches!(m, ServerMessage::PeerReconnecting { uid: 2 })
    })
    .await;
    let mut b2 = server.client().await;
    b2.hello("demo", 2, None, Some(session_id.clone())).await;
    let w = b2.expect_welcome().await;
    let ServerMessage::Welcome {
        session_id: resumed_id,
        resumed,
        peers,
        ..
    } = w
    else {
        panic!("welcome expected")
    };
    assert!(resumed);
    assert_eq!(resumed_id, session_id);
    assert_eq!(peers.len(), 1);
    b2.start_pinging(PING_EVERY);
    a.wait_for(SOON, "peer-reconnected", |m| {
        matches!(m, ServerMessage::PeerReconnected { uid: 2 })
    })
    .await;
    // Past the old deadline, uid 1 has seen no leave and no second online.
    tokio::time::sleep(timeout + Duration::from_millis(200)).await;
    let seen = a.collect_until_marker(42).await;
    assert!(
        seen.iter().all(|m| !matches!(
            m,
            ServerMessage::PeerLeave { .. } | ServerMessage::PeerOnline { .. }
        )),
        "{seen:?}"
    );
}

#[tokio::test]
async fn resume_after_timeout_is_a_new_session() {
    let server = TestServer::start(short_config(300, 100)).await;
    let (mut a, b, session_id) = pair(&server, PING_EVERY).await;
    b.drop_socket().await;
    a.wait_for(SOON, "peer-leave", |m| is_peer_leave(m, 2))
        .await;
    let mut b2 = server.client().await;
    b2.hello("demo", 2, None, Some(session_id.clone())).await;
    let ServerMessage::Welcome {
        session_id: new_id,
        resumed,
        departed,
        ..
    } = b2.expect_welcome().await
    else {
        panic!("welcome expected")
    };
    assert!(!resumed);
    assert_ne!(new_id, session_id);
    assert!(
        departed.is_empty(),
        "own uid is present again: {departed:?}"
    );
    let m = a
        .wait_for(SOON, "peer-online", |m| {
            matches!(m, ServerMessage::PeerOnline { .. })
        })
        .await;
    assert_eq!(
        m,
        ServerMessage::PeerOnline {
            uid: 2,
            name: "user2".into()
        }
    );
}

#[tokio::test]
async fn resume_replaces_a_half_dead_socket_without_events() {
    let server = TestServer::start(short_config(2_000, 1_000)).await;
    let (mut a, mut b, session_id) = pair(&server, PING_EVERY).await;
    // The old socket still looks alive to the server.
    let mut b2 = server.client().await;
    b2.hello("demo", 2, None, Some(session_id)).await;
    assert!(matches!(
        b2.expect_welcome().await,
        ServerMessage::Welcome { resumed: true, .. }
    ));
    b.stop_pinging().await;
    let closed = b.closed(SOON).await;
    assert_eq!(closed.code, Some(1000));
    b2.start_pinging(PING_EVERY);
    let seen = a.collect_until_marker(5).await;
    assert!(
        !seen.iter().any(|m| matches!(
            m,
            ServerMessage::PeerLeave { .. }
                | ServerMessage::PeerOnline { .. }
                | ServerMessage::PeerReconnecting { .. }
        )),
        "{seen:?}"
    );
}
