//! Connection slots under abuse: half-open handshakes, one address taking
//! every slot, a client that stops reading, a ping flood. A fresh client
//! from elsewhere still gets in.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::*;
use tether_proto::{ClientMessage, ErrorCode, ServerMessage};
use tether_server::{RateLimit, DEFAULT_HANDSHAKE_TIMEOUT};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The attacker's address: another loopback address, so the server counts
/// it apart from the fresh client on 127.0.0.1.
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const FRESH: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn raw_tcp_from(url: &str, source: IpAddr) -> TcpStream {
    let addr = url.trim_start_matches("ws://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Wait until the server closes `tcp` (EOF or reset); when it did.
async fn server_closes(tcp: &mut TcpStream, limit: Duration) -> Instant {
    let mut buf = [0u8; 256];
    timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("server closed the connection in time")
}

/// Join from `source` until it works (a slot freed a moment ago is given
/// back when its task ends); panics after `limit`.
async fn join_within(server: &TestServer, source: IpAddr, uid: u32, limit: Duration) -> Client {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut c) = Client::connect_from(&server.url, source, None).await {
            c.hello("demo", uid, None, None).await;
            if let Some(ServerMessage::Welcome { .. }) = c.next_within(SOON).await {
                return c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "uid {uid} not in within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn half_open_handshakes_do_not_keep_a_fresh_client_out() {
    let mut config = open_config();
    config.max_connections = 4;
    config.max_connections_per_ip = 4;
    assert_eq!(config.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
    let server = TestServer::start(config).await;
    // 20 TCP connections that never start their WebSocket handshake.
    let opened = Instant::now();
    let mut half_open = Vec::new();
    for _ in 0..20 {
        half_open.push(raw_tcp_from(&server.url, ATTACKER).await);
    }
    // A fresh client joins at once: handshakes hold no session slot.
    let (mut fresh, _) = server.joined("demo", 1).await;
    // Past the per-address cap: closed at accept. The 4 within it: closed
    // when their handshake time is up.
    let watchers: Vec<_> = half_open
        .into_iter()
        .map(|mut tcp| {
            tokio::spawn(
                async move { server_closes(&mut tcp, DEFAULT_HANDSHAKE_TIMEOUT * 3).await },
            )
        })
        .collect();
    let mut closed_at = Vec::new();
    for w in watchers {
        closed_at.push(w.await.unwrap());
    }
    let early = closed_at
        .iter()
        .filter(|t| t.duration_since(opened) < Duration::from_secs(1))
        .count();
    let late: Vec<_> = closed_at
        .iter()
        .map(|t| t.duration_since(opened))
        .filter(|d| *d >= Duration::from_secs(1))
        .collect();
    eprintln!("half-open: {early} closed at accept, closed after the handshake time: {late:?}");
    assert_eq!(early, 16);
    assert_eq!(late.len(), 4);
    assert!(late.iter().all(
        |d| *d >= DEFAULT_HANDSHAKE_TIMEOUT - Duration::from_millis(300)
            && *d < DEFAULT_HANDSHAKE_TIMEOUT * 2
    ));
    fresh.send(&ClientMessage::Ping { seq: 1 }).await;
    assert_eq!(
        fresh.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 1 })
    );
}

#[tokio::test]
async fn an_address_at_its_cap_is_refused_and_others_are_not() {
    let mut config = open_config();
    config.max_connections_per_ip = 3;
    let server = TestServer::start(config).await;
    let mut held = Vec::new();
    for uid in 1..=3 {
        held.push(join_within(&server, ATTACKER, uid, SOON).await);
    }
    // The fourth from the same address gets no handshake.
    assert!(Client::connect_from(&server.url, ATTACKER, None)
        .await
        .is_err());
    // Another address is not affected.
    let _fresh = join_within(&server, FRESH, 10, SOON).await;
    // One leaves: the address may connect again.
    held.pop().unwrap().drop_socket().await;
    let _again = join_within(&server, ATTACKER, 4, SOON).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_frees_its_slot() {
    let mut config = open_config();
    config.max_connections = 2;
    config.write_timeout = Duration::from_millis(300);
    // Silence alone must not be what drops it: only the write deadline.
    config.peer_stale = Duration::from_secs(60);
    config.peer_timeout = Duration::from_secs(120);
    // The noisy member below may send as fast as it likes.
    config.rate_limit = RateLimit {
        per_second: 1_000_000.0,
        burst: 1_000_000,
        close_after_dropped: 1_000_000,
    };
    let server = TestServer::start(config).await;
    // A member whose receive window is tiny and who never reads.
    let stuck = Client::connect_from(&server.url, ATTACKER, Some(4096))
        .await
        .unwrap();
    stuck.hello("demo", 1, None, None).await;
    let (mut noisy, _) = server.joined("demo", 2).await;
    // Everything the noisy member does is told to the stuck one: far more
    // than its socket takes, so the server's writes to it block.
    let sink = noisy.sink_handle();
    let writer = tokio::spawn(async move {
        use futures_util::SinkExt;
        for i in 0..20_000u32 {
            // In bursts the stuck member's queue takes: what fills is its
            // socket, and the server's write to it blocks.
            if i % 500 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mute = ClientMessage::Mute {
                audio: i % 2 == 0,
                video: false,
            };
            let frame = Message::Text(tether_proto::encode(&mute).into());
            if sink.lock().await.send(frame).await.is_err() {
                return;
            }
        }
    });
    // The server gives up on the stuck member (write deadline, then its
    // outbound queue) and tells the others.
    let flood = Instant::now();
    noisy
        .wait_for(
            Duration::from_secs(10),
            "stuck member shown reconnecting",
            |m| matches!(m, ServerMessage::PeerReconnecting { uid: 1, .. }),
        )
        .await;
    eprintln!("stuck reader dropped {:?} into the flood", flood.elapsed());
    writer.await.unwrap();
    // Its slot is free again: a fresh client gets in (the cap is 2).
    let _fresh = join_within(&server, FRESH, 3, SOON).await;
    drop(stuck);
}

#[tokio::test]
async fn a_ping_flood_is_rate_limited_and_closed() {
    let mut config = open_config();
    config.rate_limit = RateLimit {
        per_second: 50.0,
        burst: 100,
        close_after_dropped: 500,
    };
    let server = TestServer::start(config).await;
    let (mut good, _) = server.joined("demo", 1).await;
    let (mut flood, _) = server.joined("demo", 2).await;
    let sink = flood.sink_handle();
    let writer = tokio::spawn(async move {
        use futures_util::SinkExt;
        let mut sent = 0u32;
        for _ in 0..5_000u32 {
            let ping = Message::Ping(vec![0u8; 16].into());
            if sink.lock().await.send(ping).await.is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    let (msgs, closed) = flood.messages_then_close(Duration::from_secs(5)).await;
    let sent = writer.await.unwrap();
    let limited = msgs
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    eprintln!("ping flood: {sent} pings sent, {limited} RATE_LIMITED, closed {closed:?}");
    assert!(limited >= 1, "{msgs:?}");
    assert_eq!(closed.code, Some(1008));
    assert!(closed.reason.contains("flood"), "{closed:?}");
    // The other member is still served.
    good.send(&ClientMessage::Ping { seq: 7 }).await;
    good.wait_for(SOON, "pong", |m| *m == ServerMessage::Pong { seq: 7 })
        .await;
}

#[tokio::test]
async fn a_full_channel_says_so_and_closes() {
    let mut config = open_config();
    config.max_participants = 2;
    let server = TestServer::start(config).await;
    let (_a, _) = server.joined("demo", 1).await;
    let (_b, _) = server.joined("demo", 2).await;
    let mut c = server.client().await;
    c.hello("demo", 3, None, None).await;
    let (msgs, closed) = c.messages_then_close(SOON).await;
    assert!(
        matches!(
            msgs.as_slice(),
            [ServerMessage::Error {
                code: ErrorCode::ChannelFull,
                fatal: true,
                ..
            }]
        ),
        "{msgs:?}"
    );
    assert_eq!(closed.code, Some(1008));
    // Another channel has room.
    let (_d, _) = server.joined("other", 3).await;
}

/// A WebSocket handshake as a browser on `origin` makes it.
async fn connect_with_origin(
    url: &str,
    origin: &str,
) -> Result<u16, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await?;
    Ok(resp.status().as_u16())
}

#[tokio::test]
async fn web_pages_may_not_connect_unless_their_origin_is_allowed() {
    use tokio_tungstenite::tungstenite::Error;
    let mut config = open_config();
    config.allowed_origins = vec!["https://call.example.com".into()];
    let server = TestServer::start(config).await;
    for origin in ["https://evil.example", "null", "http://localhost:1420"] {
        match connect_with_origin(&server.url, origin).await {
            Err(Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403, "{origin}"),
            other => panic!("{origin}: {other:?}"),
        }
    }
    assert_eq!(
        connect_with_origin(&server.url, "https://call.example.com")
            .await
            .unwrap(),
        101
    );
    // Native clients send no Origin.
    let (_c, _) = server.joined("demo", 1).await;
    // The default (what the app's built-in server runs) allows no page.
    let plain = TestServer::start(open_config()).await;
    assert!(connect_with_origin(&plain.url, "https://call.example.com")
        .await
        .is_err());
}

#[tokio::test]
async fn renegotiation_floods_are_limited_per_member() {
    let server = TestServer::start(open_config()).await;
    let (mut c, _) = server.joined("demo", 1).await;
    for _ in 0..30 {
        c.send(&ClientMessage::SubscriberRestart).await;
    }
    let said = c.collect_until_marker(3).await;
    let limited = said
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    fatal: false,
                    ..
                }
            )
        })
        .count();
    // A burst of 10 goes to the SFU; the other 20 are refused (one may have
    // refilled on a slow machine).
    assert!((19..=20).contains(&limited), "{limited}: {said:?}");
}
