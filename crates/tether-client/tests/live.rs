//! The client against the real server over real loopback sockets, with a
//! relay that cuts the link silently.

mod common;

use std::time::{Duration, Instant};

use common::{client, is_state, server, server_at, Relay};
use tether_client::{ConnectMode, EventRecord, InterruptCause, Media, StateReason};
use tether_proto::{PeerLeaveReason, StreamRemovedReason};
use tether_server::{issue_token, AuthMode, Secret};

const SEC: Duration = Duration::from_secs(1);

#[tokio::test]
async fn two_clients_see_each_other_and_streams() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let mut b = client(&url, 2, None);
    b.client.join().await.expect("join");
    b.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;

    let mut a = client(&url, 1, None);
    let started = Instant::now();
    a.client.join().await.expect("join");
    a.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    let join_ms = started.elapsed().as_secs_f64() * 1e3;
    b.expect("peer-online", 5 * SEC, |e| {
        matches!(e, EventRecord::PeerOnline { uid: 1, .. })
    })
    .await;
    let online_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "MEASURE loopback join_to_connected_ms={join_ms:.1} join_to_peer_online_ms={online_ms:.1}"
    );
    a.expect("peer-online 2", SEC, |e| {
        matches!(e, EventRecord::PeerOnline { uid: 2, .. })
    })
    .await;

    a.client
        .publish(Media {
            audio: true,
            video: false,
        })
        .expect("publish");
    b.expect("stream-added", 5 * SEC, |e| {
        matches!(
            e,
            EventRecord::StreamAdded {
                uid: 1,
                audio: true,
                video: false
            }
        )
    })
    .await;
    a.client.unpublish().expect("unpublish");
    b.expect("stream-removed", 5 * SEC, |e| {
        matches!(
            e,
            EventRecord::StreamRemoved {
                uid: 1,
                reason: StreamRemovedReason::Unpublished
            }
        )
    })
    .await;
    a.client.leave().expect("leave");
    a.expect("left", 5 * SEC, |e| is_state(e, "DISCONNECTED"))
        .await;
    b.expect("peer-leave", 5 * SEC, |e| {
        matches!(
            e,
            EventRecord::PeerLeave {
                uid: 1,
                reason: PeerLeaveReason::Quit
            }
        )
    })
    .await;
}

#[tokio::test]
async fn short_silent_cut_resumes_and_others_see_no_leave() {
    let srv = server(Duration::from_secs(3), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let relay = Relay::start(srv.local_addr()).await;
    let mut b = client(&url, 2, None);
    b.client.join().await.expect("join");
    b.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    let mut a = client(&relay.url, 1, None);
    a.client.join().await.expect("join");
    a.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    b.expect("peer-online", 5 * SEC, |e| {
        matches!(e, EventRecord::PeerOnline { uid: 1, .. })
    })
    .await;

    relay.cut();
    let interrupted = a
        .expect("interrupted", 5 * SEC, |e| is_state(e, "CONNECTING"))
        .await;
    assert!(matches!(
        interrupted.record.event,
        EventRecord::ConnectionStateChange {
            reason: StateReason::Interrupted,
            ref detail,
            ..
        } if detail.cause == Some(InterruptCause::KeepaliveTimeout)
    ));
    b.expect("peer-reconnecting", 5 * SEC, |e| {
        matches!(e, EventRecord::PeerReconnecting { uid: 1 })
    })
    .await;
    tokio::time::sleep(SEC).await; // the outage itself
    relay.restore();
    let restored = Instant::now();
    let back = a
        .expect("reconnected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    println!(
        "MEASURE relay restore_to_connected_ms={:.1}",
        restored.elapsed().as_secs_f64() * 1e3
    );
    assert!(matches!(
        back.record.event,
        EventRecord::ConnectionStateChange {
            reason: StateReason::ReconnectSuccess,
            ..
        }
    ));
    a.expect("connected resume", SEC, |e| {
        matches!(
            e,
            EventRecord::Connected {
                mode: ConnectMode::Resume,
                ..
            }
        )
    })
    .await;
    b.expect("peer-reconnected", 5 * SEC, |e| {
        matches!(e, EventRecord::PeerReconnected { uid: 1 })
    })
    .await;
    let later = b.collect_for(4 * SEC).await;
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, EventRecord::PeerLeave { .. })),
        "{later:?}"
    );
}

#[tokio::test]
async fn long_silent_cut_rejoins_and_republishes() {
    let srv = server(Duration::from_millis(1500), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let relay = Relay::start(srv.local_addr()).await;
    let mut b = client(&url, 2, None);
    b.client.join().await.expect("join");
    b.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    let mut a = client(&relay.url, 1, None);
    a.client
        .publish(Media {
            audio: true,
            video: true,
        })
        .expect("publish");
    a.client.join().await.expect("join");
    b.expect("stream-added", 5 * SEC, |e| {
        matches!(e, EventRecord::StreamAdded { uid: 1, .. })
    })
    .await;

    relay.cut();
    b.expect("stream-removed", 5 * SEC, |e| {
        matches!(
            e,
            EventRecord::StreamRemoved {
                uid: 1,
                reason: StreamRemovedReason::PeerLeft
            }
        )
    })
    .await;
    b.expect("peer-leave", SEC, |e| {
        matches!(
            e,
            EventRecord::PeerLeave {
                uid: 1,
                reason: PeerLeaveReason::ServerTimeout
            }
        )
    })
    .await;
    relay.restore();
    a.expect("connected rejoin", 5 * SEC, |e| {
        matches!(
            e,
            EventRecord::Connected {
                mode: ConnectMode::Rejoin,
                ..
            }
        )
    })
    .await;
    b.expect("peer-online again", 5 * SEC, |e| {
        matches!(e, EventRecord::PeerOnline { uid: 1, .. })
    })
    .await;
    b.expect("stream-added again", 5 * SEC, |e| {
        matches!(e, EventRecord::StreamAdded { uid: 1, .. })
    })
    .await;
}

#[tokio::test]
async fn server_restart_brings_everyone_back() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let addr = srv.local_addr();
    let url = format!("ws://{addr}");
    let mut a = client(&url, 1, None);
    let mut b = client(&url, 2, None);
    a.client.join().await.expect("join");
    b.client.join().await.expect("join");
    a.expect("peer 2", 5 * SEC, |e| {
        matches!(e, EventRecord::PeerOnline { uid: 2, .. })
    })
    .await;
    b.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    srv.shutdown();
    for p in [&mut a, &mut b] {
        let e = p
            .expect("interrupted", 5 * SEC, |e| is_state(e, "CONNECTING"))
            .await;
        assert!(matches!(
            e.record.event,
            EventRecord::ConnectionStateChange { ref detail, .. }
                if detail.cause == Some(InterruptCause::ServerRestart)
        ));
    }
    let _new = server_at(addr, Duration::from_secs(10), AuthMode::Open).await;
    for p in [&mut a, &mut b] {
        p.expect("back", 5 * SEC, |e| {
            matches!(
                e,
                EventRecord::Connected {
                    mode: ConnectMode::Rejoin,
                    ..
                }
            )
        })
        .await;
    }
    // They have each other in their rosters again: whatever order they came
    // back in, the last word on the other uid is "online".
    for (p, other) in [(&mut a, 2u32), (&mut b, 1u32)] {
        p.collect_for(SEC).await;
        let last = p.seen.iter().rev().find_map(|e| match e.record.event {
            EventRecord::PeerOnline { uid, .. } if uid == other => Some(true),
            EventRecord::PeerLeave { uid, .. } if uid == other => Some(false),
            _ => None,
        });
        assert_eq!(last, Some(true), "uid {other} present");
    }
}

#[tokio::test]
async fn leave_during_reconnect_stops_reconnecting() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let relay = Relay::start(srv.local_addr()).await;
    let mut a = client(&relay.url, 1, None);
    a.client.join().await.expect("join");
    a.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    relay.cut();
    a.expect("reconnecting", 5 * SEC, |e| is_state(e, "CONNECTING"))
        .await;
    a.expect("attempt 2", 5 * SEC, |e| {
        matches!(e, EventRecord::ReconnectAttempt { attempt: 2, .. })
    })
    .await;
    a.client.leave().expect("leave");
    a.expect("disconnecting", SEC, |e| is_state(e, "DISCONNECTING"))
        .await;
    let end = a
        .expect("disconnected", SEC, |e| is_state(e, "DISCONNECTED"))
        .await;
    assert!(matches!(
        end.record.event,
        EventRecord::ConnectionStateChange {
            reason: StateReason::Leave,
            ..
        }
    ));
    relay.restore();
    let later = a.collect_for(2 * SEC).await;
    assert!(later.is_empty(), "nothing after leaving: {later:?}");
}

#[tokio::test]
async fn bad_tokens_end_at_once_without_retry() {
    let secret = Secret::from_bytes(b"0123456789abcdef0123456789abcdef").expect("secret");
    let other = Secret::from_bytes(b"another-secret-another-secret!!").expect("secret");
    let srv = server(Duration::from_secs(10), AuthMode::Token(secret.clone())).await;
    let url = format!("ws://{}", srv.local_addr());
    let forged = issue_token(&other, "itest", 1, Duration::from_secs(60), true).expect("token");
    let wrong_uid = issue_token(&secret, "itest", 9, Duration::from_secs(60), true).expect("token");
    let wrong_channel =
        issue_token(&secret, "elsewhere", 1, Duration::from_secs(60), true).expect("token");
    for (token, reason) in [
        (None, StateReason::InvalidToken),
        (Some("not-a-jwt".to_owned()), StateReason::InvalidToken),
        (Some(forged), StateReason::InvalidToken),
        (Some(wrong_uid), StateReason::InvalidToken),
        (Some(wrong_channel), StateReason::InvalidToken),
    ] {
        let mut a = client(&url, 1, token);
        a.client.join().await.expect("join");
        let end = a
            .expect("disconnected", 5 * SEC, |e| is_state(e, "DISCONNECTED"))
            .await;
        match end.record.event {
            EventRecord::ConnectionStateChange {
                reason: got,
                detail,
                ..
            } => {
                assert_eq!(got, reason);
                assert!(detail.message.is_some());
            }
            other => panic!("{other:?}"),
        }
        let later = a.collect_for(Duration::from_millis(500)).await;
        assert!(later.is_empty(), "no retry: {later:?}");
    }
    let good = issue_token(&secret, "itest", 1, Duration::from_secs(60), true).expect("token");
    let mut a = client(&url, 1, Some(good));
    a.client.join().await.expect("join");
    a.expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
}

#[tokio::test]
async fn uid_conflict_ends_the_older_client() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let mut first = client(&url, 7, None);
    first.client.join().await.expect("join");
    first
        .expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    let mut second = client(&url, 7, None);
    second.client.join().await.expect("join");
    second
        .expect("connected", 5 * SEC, |e| is_state(e, "CONNECTED"))
        .await;
    let end = first
        .expect("ended", 5 * SEC, |e| is_state(e, "DISCONNECTED"))
        .await;
    assert!(matches!(
        end.record.event,
        EventRecord::ConnectionStateChange {
            reason: StateReason::UidConflict,
            ..
        }
    ));
    let later = second.collect_for(SEC).await;
    assert!(
        !later.iter().any(|e| is_state(e, "CONNECTING")),
        "{later:?}"
    );
}
