//! Token auth and hello validation: every refusal is fatal with the right code.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use tether_proto::{
    ClientMessage, ErrorCode, PeerLeaveReason, Privileges, ServerMessage, TokenClaims,
};

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(channel: &str, uid: u32, exp_in: i64) -> TokenClaims {
    let now = unix_now();
    TokenClaims {
        channel: channel.into(),
        uid,
        privileges: Privileges {
            join: true,
            publish: true,
        },
        iat: now,
        exp: now.saturating_add_signed(exp_in),
    }
}

/// Send `hello` and expect a fatal error with `code`, then a close.
async fn refused(server: &TestServer, msg: ClientMessage, code: ErrorCode) -> String {
    let mut c = server.client().await;
    c.send(&msg).await;
    let (msgs, closed) = c.messages_then_close(SOON).await;
    let [ServerMessage::Error {
        code: got,
        message,
        fatal: true,
    }] = msgs.as_slice()
    else {
        panic!("expected one fatal error, got {msgs:?}");
    };
    assert_eq!(*got, code, "{message}");
    assert!(matches!(closed.code, Some(1000 | 1008)), "{closed:?}");
    message.clone()
}

#[tokio::test]
async fn valid_token_joins_with_expiry() {
    let server = TestServer::start(token_config()).await;
    let mut c = server.client().await;
    c.hello("demo", 1, Some(token("demo", 1)), None).await;
    let ServerMessage::Welcome {
        token_expires_in_ms,
        ..
    } = c.expect_welcome().await
    else {
        panic!("welcome expected")
    };
    let left = token_expires_in_ms.expect("token mode reports expiry");
    assert!(left > 590_000 && left <= 600_000, "{left}");
}

#[tokio::test]
async fn bad_tokens_are_fatal_with_the_right_code() {
    let server = TestServer::start(token_config()).await;
    let msg = refused(
        &server,
        hello("demo", 1, None, None),
        ErrorCode::InvalidToken,
    )
    .await;
    assert!(msg.contains("required"), "{msg}");

    let msg = refused(
        &server,
        hello("demo", 1, Some("not.a.jwt".into()), None),
        ErrorCode::InvalidToken,
    )
    .await;
    assert!(msg.contains("malformed"), "{msg}");

    let forged =
        tether_server::issue_token(&other_secret(), "demo", 1, Duration::from_secs(60), true)
            .unwrap();
    let msg = refused(
        &server,
        hello("demo", 1, Some(forged), None),
        ErrorCode::InvalidToken,
    )
    .await;
    assert!(msg.contains("signature"), "{msg}");

    let msg = refused(
        &server,
        hello("demo", 1, Some(token("other", 1)), None),
        ErrorCode::InvalidToken,
    )
    .await;
    assert!(msg.contains("channel"), "{msg}");

    let msg = refused(
        &server,
        hello("demo", 1, Some(token("demo", 2)), None),
        ErrorCode::InvalidToken,
    )
    .await;
    assert!(msg.contains("uid"), "{msg}");

    let mut no_join = claims("demo", 1, 60);
    no_join.privileges.join = false;
    let t = tether_server::sign_claims(&secret(), &no_join).unwrap();
    let msg = refused(
        &server,
        hello("demo", 1, Some(t), None),
        ErrorCode::InvalidToken,
    )
    .await;
    assert!(msg.contains("join"), "{msg}");

    let expired = tether_server::sign_claims(&secret(), &claims("demo", 1, -5)).unwrap();
    refused(
        &server,
        hello("demo", 1, Some(expired), None),
        ErrorCode::TokenExpired,
    )
    .await;

    // Nobody got in.
    assert_eq!(server.handle.stats().sessions, 0);
}

#[tokio::test]
async fn invalid_hello_fields_are_fatal() {
    let server = TestServer::start(open_config()).await;
    let msg = refused(
        &server,
        hello("has space", 1, None, None),
        ErrorCode::InvalidChannel,
    )
    .await;
    assert!(msg.contains("channel"), "{msg}");
    refused(
        &server,
        hello(&"x".repeat(65), 1, None, None),
        ErrorCode::InvalidChannel,
    )
    .await;
    refused(&server, hello("demo", 0, None, None), ErrorCode::InvalidUid).await;
    refused(
        &server,
        hello("demo", u32::MAX, None, None),
        ErrorCode::InvalidUid,
    )
    .await;
    let mut bad_name = hello("demo", 1, None, None);
    if let ClientMessage::Hello { name, .. } = &mut bad_name {
        *name = "a\u{7}b".into();
    }
    refused(&server, bad_name, ErrorCode::InvalidName).await;
    let mut old = hello("demo", 1, None, None);
    if let ClientMessage::Hello { version, .. } = &mut old {
        *version = 99;
    }
    refused(&server, old, ErrorCode::VersionMismatch).await;
}

#[tokio::test]
async fn publish_needs_the_privilege() {
    let server = TestServer::start(token_config()).await;
    let t =
        tether_server::issue_token(&secret(), "demo", 1, Duration::from_secs(60), false).unwrap();
    let mut c = server.client().await;
    c.hello("demo", 1, Some(t), None).await;
    c.expect_welcome().await;
    c.send(&ClientMessage::Publish {
        audio: true,
        video: true,
    })
    .await;
    let m = c.next_within(SOON).await.expect("still open");
    assert!(
        matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::NoPrivilege,
                fatal: false,
                ..
            }
        ),
        "{m:?}"
    );
    c.send(&ClientMessage::Ping { seq: 1 }).await;
    assert_eq!(
        c.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 1 })
    );
}

#[tokio::test]
async fn a_renewal_without_the_publish_right_stops_publishing() {
    let server = TestServer::start(token_config()).await;
    let mut watcher = server.client().await;
    watcher.hello("demo", 2, Some(token("demo", 2)), None).await;
    watcher.expect_welcome().await;
    let mut c = server.client().await;
    c.hello("demo", 1, Some(token("demo", 1)), None).await;
    c.expect_welcome().await;
    c.send(&ClientMessage::Publish {
        audio: true,
        video: true,
    })
    .await;
    watcher
        .wait_for(SOON, "stream-added", |m| {
            matches!(m, ServerMessage::StreamAdded { uid: 1, .. })
        })
        .await;
    let no_publish =
        tether_server::issue_token(&secret(), "demo", 1, Duration::from_secs(600), false).unwrap();
    c.send(&ClientMessage::RenewToken { token: no_publish })
        .await;
    let said = c.collect_until_marker(9).await;
    assert!(
        said.iter().any(|m| matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::NoPrivilege,
                fatal: false,
                ..
            }
        )),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|m| matches!(m, ServerMessage::TokenRenewed { .. })),
        "{said:?}"
    );
    watcher
        .wait_for(SOON, "stream-removed", |m| {
            matches!(m, ServerMessage::StreamRemoved { uid: 1, .. })
        })
        .await;
}

#[tokio::test]
async fn renew_token_extends_and_refuses_foreign_tokens() {
    let server = TestServer::start(token_config()).await;
    let short = tether_server::sign_claims(&secret(), &claims("demo", 1, 30)).unwrap();
    let mut c = server.client().await;
    c.hello("demo", 1, Some(short), None).await;
    let ServerMessage::Welcome {
        token_expires_in_ms: Some(before),
        ..
    } = c.expect_welcome().await
    else {
        panic!("welcome with expiry expected")
    };
    assert!(before <= 30_000);
    c.send(&ClientMessage::RenewToken {
        token: token("demo", 1),
    })
    .await;
    let m = c.next_within(SOON).await.expect("open");
    let ServerMessage::TokenRenewed { expires_in_ms } = m else {
        panic!("token-renewed expected, got {m:?}")
    };
    assert!(expires_in_ms > 590_000, "{expires_in_ms}");

    for (bad, code) in [
        (token("demo", 2), ErrorCode::InvalidToken),
        (token("other", 1), ErrorCode::InvalidToken),
        ("garbage".to_string(), ErrorCode::InvalidToken),
        (
            tether_server::sign_claims(&secret(), &claims("demo", 1, -5)).unwrap(),
            ErrorCode::TokenExpired,
        ),
    ] {
        c.send(&ClientMessage::RenewToken { token: bad }).await;
        let m = c.next_within(SOON).await.expect("still open");
        assert!(
            matches!(m, ServerMessage::Error { code: c2, fatal: false, .. } if c2 == code),
            "{m:?}"
        );
    }
    c.send(&ClientMessage::Ping { seq: 2 }).await;
    assert_eq!(
        c.next_within(SOON).await,
        Some(ServerMessage::Pong { seq: 2 })
    );
}

#[tokio::test]
async fn expired_token_without_renewal_kicks_the_session() {
    let server = TestServer::start(token_config()).await;
    let mut a = server.client().await;
    a.hello("demo", 1, Some(token("demo", 1)), None).await;
    a.expect_welcome().await;
    a.start_pinging(Duration::from_millis(250));
    let mut b = server.client().await;
    b.hello(
        "demo",
        2,
        Some(tether_server::sign_claims(&secret(), &claims("demo", 2, 2)).unwrap()),
        None,
    )
    .await;
    b.expect_welcome().await;
    b.start_pinging(Duration::from_millis(250));
    let (msgs, _) = b.messages_then_close(Duration::from_secs(4)).await;
    assert!(
        msgs.iter()
            .any(|m| m.fatal_code() == Some(ErrorCode::TokenExpired)),
        "{msgs:?}"
    );
    let m = a
        .wait_for(SOON, "peer-leave", |m| is_peer_leave(m, 2))
        .await;
    assert_eq!(
        m,
        ServerMessage::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::Kicked
        }
    );
}

#[tokio::test]
async fn open_mode_ignores_tokens() {
    let server = TestServer::start(open_config()).await;
    let mut c = server.client().await;
    c.hello("demo", 1, Some("whatever".into()), None).await;
    assert!(matches!(
        c.expect_welcome().await,
        ServerMessage::Welcome {
            token_expires_in_ms: None,
            ..
        }
    ));
}
