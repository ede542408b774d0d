//! Graceful shutdown of the embedded server.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use tether_proto::ServerMessage;
use tokio::time::Instant;

#[tokio::test]
async fn shutdown_says_going_away_and_closes_with_1001() {
    let mut server = TestServer::start(open_config()).await;
    let (mut a, _) = server.joined("demo", 1).await;
    let (mut b, _) = server.joined("demo", 2).await;
    b.start_pinging(Duration::from_millis(20));
    let mut idle = server.client().await; // never joined
    let started = Instant::now();
    server.handle.shutdown();
    for c in [&mut a, &mut b, &mut idle] {
        let (msgs, closed) = c.messages_then_close(SOON).await;
        assert_eq!(msgs.last(), Some(&ServerMessage::GoingAway), "{msgs:?}");
        assert!(
            !msgs.iter().any(|m| matches!(
                m,
                ServerMessage::PeerLeave { .. } | ServerMessage::PeerReconnecting { .. }
            )),
            "{msgs:?}"
        );
        assert_eq!(closed.code, Some(1001));
    }
    server.wait_stopped(Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn run_stops_when_its_shutdown_future_completes() {
    let server = tether_server::Server::bind(open_config()).await.unwrap();
    let url = format!("ws://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        rx.await.ok();
    }));
    let mut c = Client::connect(&url).await;
    tx.send(()).unwrap();
    let (msgs, closed) = c.messages_then_close(SOON).await;
    assert_eq!(msgs, vec![ServerMessage::GoingAway]);
    assert_eq!(closed.code, Some(1001));
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("run returns promptly")
        .expect("no panic");
}
