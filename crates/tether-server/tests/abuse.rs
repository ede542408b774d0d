//! Bad input: malformed and oversized frames, unknown types, floods, silent
//! connections, too many connections. The server keeps serving everyone else.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use tether_proto::{ClientMessage, ErrorCode, ServerMessage};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

fn non_fatal(m: &ServerMessage, want: ErrorCode) -> bool {
    matches!(m, ServerMessage::Error { code, fatal: false, .. } if *code == want)
}

#[tokio::test]
async fn malformed_and_unknown_frames_get_errors_and_the_connection_stays() {
    let server = TestServer::start(open_config()).await;
    let (mut c, _) = server.joined("demo", 1).await;
    for (frame, code, says) in [
        ("{", ErrorCode::BadMessage, "malformed"),
        ("[1,2]", ErrorCode::BadMessage, "object"),
        (r#"{"type":"ping"}"#, ErrorCode::BadMessage, "seq"),
        (r#"{"type":"dance"}"#, ErrorCode::UnknownType, "dance"),
    ] {
        c.send_raw(frame).await;
        let m = c.next_within(SOON).await.expect("still open");
        assert!(non_fatal(&m, code), "{frame}: {m:?}");
        let ServerMessage::Error { message, .. } = m else {
            unreachable!()
        };
        assert!(message.contains(says), "{frame}: {message}");
    }
    c.send_frame(Message::Binary(vec![1u8, 2, 3].into())).await;
    let m = c.next_within(SOON).await.expect("still open");
    assert!(non_fatal(&m, ErrorCode::BadMessage), "{m:?}");
    c.send(&ClientMessage::Ping { seq: 5 }).await;
    assert_eq!(
        c.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 5 })
    );
}

#[tokio::test]
async fn oversized_frame_is_closed_with_1009() {
    let server = TestServer::start(open_config()).await;
    let (mut watcher, _) = server.joined("demo", 2).await;
    let (mut c, _) = server.joined("demo", 1).await;
    let big = format!(
        r#"{{"type":"ping","seq":1,"pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    c.send_raw(&big).await;
    let closed = c.closed(SOON).await;
    assert_eq!(closed.code, Some(1009), "{closed:?}");
    assert!(closed.reason.contains("65536"), "{closed:?}");
    // Everyone else is still served.
    watcher.send(&ClientMessage::Ping { seq: 3 }).await;
    watcher
        .wait_for(SOON, "pong", |m| *m == ServerMessage::Pong { seq: 3 })
        .await;
}

#[tokio::test]
async fn frame_at_the_limit_is_accepted() {
    let server = TestServer::start(open_config()).await;
    let (mut c, _) = server.joined("demo", 1).await;
    let prefix = r#"{"type":"ping","seq":1,"pad":""#;
    let pad = tether_proto::MAX_FRAME_BYTES - prefix.len() - 2;
    let frame = format!("{prefix}{}\"}}", "x".repeat(pad));
    assert_eq!(frame.len(), tether_proto::MAX_FRAME_BYTES);
    c.send_raw(&frame).await;
    assert_eq!(
        c.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 1 })
    );
}

#[tokio::test]
async fn flood_is_limited_while_others_keep_their_pongs() {
    let server = TestServer::start(open_config()).await;
    let (mut good, _) = server.joined("demo", 2).await;
    let (mut flooder, _) = server.joined("demo", 1).await;
    let flood = tokio::spawn(async move {
        let ping = tether_proto::encode(&ClientMessage::Ping { seq: 0 });
        let sink = flooder.sink_handle();
        let mut rate_limited = 0u32;
        let mut sent = 0u32;
        // Send until the server closes us, counting what it says.
        let reader = async {
            loop {
                match flooder.next_within(Duration::from_secs(10)).await {
                    Some(ServerMessage::Error {
                        code: ErrorCode::RateLimited,
                        fatal: false,
                        ..
                    }) => rate_limited += 1,
                    Some(_) => {}
                    None => return,
                }
            }
        };
        let writer = async {
            use futures_util::SinkExt;
            for _ in 0..5_000 {
                if sink
                    .lock()
                    .await
                    .send(Message::Text(ping.clone().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
        };
        tokio::join!(reader, writer);
        (rate_limited, sent)
    });
    let started = Instant::now();
    let mut seq = 0;
    while !flood.is_finished() && started.elapsed() < Duration::from_secs(5) {
        seq += 1;
        let sent = Instant::now();
        good.send(&ClientMessage::Ping { seq }).await;
        good.wait_for(SOON, "pong", |m| *m == ServerMessage::Pong { seq })
            .await;
        assert!(
            sent.elapsed() < Duration::from_millis(500),
            "pong took {:?}",
            sent.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (rate_limited, sent) = flood.await.unwrap();
    eprintln!(
        "flood: {sent} sent, {rate_limited} RATE_LIMITED errors, good client got {seq} pongs"
    );
    // Errors at most once a second: the flood lasts well under 5 s.
    assert!((1..=5).contains(&rate_limited), "{rate_limited}");
    assert!(seq >= 1);
}

#[tokio::test]
async fn silent_connection_is_closed_after_hello_timeout() {
    let mut config = open_config();
    config.hello_timeout = Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut c = server.client().await;
    let start = Instant::now();
    let closed = c.closed(SOON).await;
    assert_eq!(closed.code, Some(1008));
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn connection_cap_answers_server_busy() {
    let mut config = open_config();
    config.max_connections = 1;
    let server = TestServer::start(config).await;
    let (mut first, _) = server.joined("demo", 1).await;
    let mut second = server.client().await;
    let (msgs, closed) = second.messages_then_close(SOON).await;
    assert!(
        matches!(
            msgs.as_slice(),
            [ServerMessage::Error {
                code: ErrorCode::ServerBusy,
                fatal: false,
                ..
            }]
        ),
        "{msgs:?}"
    );
    assert_eq!(closed.code, Some(1013));
    first.send(&ClientMessage::Ping { seq: 1 }).await;
    assert_eq!(
        first.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 1 })
    );
}
