//! Scenario (e): bad input over a raw WebSocket — malformed JSON, unknown
//! types, missing fields, a 1 MiB frame, invalid channel names and uids, a
//! flood — gets clear errors (or a close with a code and reason), and a
//! `tether join` client in the same channel stays CONNECTED throughout.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tether_tests::{measure, JoinOpts, Scenario, Server, ServerOpts};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CHANNEL: &str = "abuse";
const REPLY: Duration = Duration::from_secs(3);

/// What the server sent next.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Close(Option<u16>, String),
    Ended(String),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(REPLY, tokio_tungstenite::connect_async(url))
        .await
        .expect("websocket connect timed out")
        .expect("websocket connect");
    ws
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send frame");
}

/// The next data or close frame (pings/pongs skipped), within `timeout`.
async fn next_frame(ws: &mut Ws, timeout: Duration) -> Frame {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Frame::Ended(format!("nothing within {timeout:?}")),
            Ok(None) => return Frame::Ended("stream ended without a close frame".into()),
            Ok(Some(Err(e))) => return Frame::Ended(format!("socket error: {e}")),
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str())
                    .unwrap_or_else(|e| panic!("server sent non-JSON text {t:?}: {e}"));
                return Frame::Json(v);
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                return Frame::Close(
                    c.as_ref().map(|f| u16::from(f.code)),
                    c.map(|f| f.reason.to_string()).unwrap_or_default(),
                )
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Reads until a message of `type`, skipping roster and pong traffic; panics
/// on a close, the end of the stream, or the deadline.
async fn expect_type(ws: &mut Ws, ty: &str, what: &str) -> Value {
    let deadline = Instant::now() + REPLY;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_frame(ws, left).await {
            Frame::Json(v) if v["type"] == ty => return v,
            Frame::Json(v) => seen.push(v),
            other => {
                panic!("{what}: expected a `{ty}` message, got {other:?}; before it: {seen:?}")
            }
        }
    }
}

/// Expects `{"type":"error","code":code,...}` with a non-empty message.
async fn expect_error(ws: &mut Ws, code: &str, fatal: Option<bool>, what: &str) -> Value {
    let v = expect_type(ws, "error", what).await;
    assert_eq!(v["code"], code, "{what}: wrong error code in {v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        !msg.trim().is_empty(),
        "{what}: error without a message: {v}"
    );
    if let Some(f) = fatal {
        assert_eq!(v["fatal"], f, "{what}: wrong `fatal` in {v}");
    }
    println!("{what}: {v}");
    v
}

/// Expects the connection to be closed (after an optional fatal error).
async fn expect_closed(ws: &mut Ws, what: &str) {
    loop {
        match next_frame(ws, REPLY).await {
            Frame::Json(v) if v["type"] == "error" => {}
            Frame::Json(_) => {}
            Frame::Close(..) => return,
            Frame::Ended(why) if why.starts_with("nothing within") => {
                panic!("{what}: the server did not close the connection: {why}")
            }
            Frame::Ended(_) => return,
        }
    }
}

fn hello(channel: &str, uid: u64) -> String {
    json!({"type":"hello","version":1,"channel":channel,"uid":uid,"name":format!("raw{uid}")})
        .to_string()
}

/// A connection that joined `CHANNEL` as `uid`.
async fn joined(url: &str, uid: u64) -> Ws {
    let mut ws = connect(url).await;
    send(&mut ws, &hello(CHANNEL, uid)).await;
    expect_type(&mut ws, "welcome", &format!("hello as uid {uid}")).await;
    ws
}

/// Checks that a joined connection still works: ping -> pong with the same seq.
async fn still_alive(ws: &mut Ws, seq: u64, what: &str) {
    send(ws, &json!({"type":"ping","seq":seq}).to_string()).await;
    let v = expect_type(ws, "pong", what).await;
    assert_eq!(v["seq"], seq, "{what}: pong with another seq: {v}");
}

/// Each kind of bad input gets the error code SPEC §5 asks for, and a joined
/// connection survives non-fatal errors. Needs only the server.
#[test]
fn bad_frames_get_clear_errors() {
    let sc = Scenario::new("bad_frames_get_clear_errors");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    runtime().block_on(async move {
        // Before hello.
        let mut ws = connect(&url).await;
        send(&mut ws, &json!({"type":"ping","seq":1}).to_string()).await;
        expect_error(&mut ws, "NOT_JOINED", None, "ping before hello").await;

        let mut ws = connect(&url).await;
        send(&mut ws, "{not json").await;
        expect_error(&mut ws, "BAD_MESSAGE", None, "malformed JSON before hello").await;

        // hello with invalid fields: a fatal error, then a close.
        for (what, frame, code) in [
            (
                "bad channel name",
                json!({"type":"hello","version":1,"channel":"bad channel/name!","uid":5,"name":"x"}),
                "INVALID_CHANNEL",
            ),
            (
                "empty channel name",
                json!({"type":"hello","version":1,"channel":"","uid":5,"name":"x"}),
                "INVALID_CHANNEL",
            ),
            (
                "channel name of 65 characters",
                json!({"type":"hello","version":1,"channel":"x".repeat(65),"uid":5,"name":"x"}),
                "INVALID_CHANNEL",
            ),
            (
                "uid 0",
                json!({"type":"hello","version":1,"channel":CHANNEL,"uid":0,"name":"x"}),
                "INVALID_UID",
            ),
            (
                "protocol version 99",
                json!({"type":"hello","version":99,"channel":CHANNEL,"uid":5,"name":"x"}),
                "VERSION_MISMATCH",
            ),
        ] {
            let mut ws = connect(&url).await;
            send(&mut ws, &frame.to_string()).await;
            expect_error(&mut ws, code, Some(true), what).await;
            expect_closed(&mut ws, what).await;
        }

        // A joined connection: non-fatal errors, and it keeps working.
        let mut ws = joined(&url, 100).await;
        send(&mut ws, "{not json").await;
        expect_error(&mut ws, "BAD_MESSAGE", Some(false), "malformed JSON").await;
        still_alive(&mut ws, 11, "after malformed JSON").await;
        send(&mut ws, "[1,2,3]").await;
        expect_error(&mut ws, "BAD_MESSAGE", Some(false), "a JSON array").await;
        send(&mut ws, r#"{"type":"frobnicate","x":1}"#).await;
        expect_error(&mut ws, "UNKNOWN_TYPE", Some(false), "unknown type").await;
        still_alive(&mut ws, 12, "after unknown type").await;
        send(&mut ws, r#"{"type":"ping"}"#).await;
        expect_error(&mut ws, "BAD_MESSAGE", Some(false), "ping without seq").await;
        ws.send(Message::binary(vec![0u8, 1, 2, 3]))
            .await
            .expect("send binary");
        expect_error(&mut ws, "BAD_MESSAGE", Some(false), "binary frame").await;
        send(&mut ws, &hello(CHANNEL, 100)).await;
        expect_error(&mut ws, "ALREADY_JOINED", None, "second hello").await;
        still_alive(&mut ws, 13, "after all the bad frames").await;

        // 1 MiB frame: closed with 1009 and a reason.
        let mut big = joined(&url, 101).await;
        let payload = format!(
            r#"{{"type":"ping","seq":1,"pad":"{}"}}"#,
            "x".repeat(1024 * 1024)
        );
        let started = Instant::now();
        // The server may close before the whole frame is written; a send
        // error is fine, the close frame is what counts.
        let sent = big.send(Message::text(payload)).await;
        match next_frame(&mut big, REPLY).await {
            Frame::Close(Some(1009), reason) => {
                println!("1 MiB frame: closed with 1009 {reason:?} (send result {sent:?})");
                assert!(!reason.is_empty(), "close 1009 without a reason");
            }
            other => panic!("1 MiB frame: expected close 1009, got {other:?} (send result {sent:?})"),
        }
        measure("oversize_close_ms", started.elapsed().as_millis());

        // The server still serves: a new joiner gets a welcome, the earlier
        // connection still answers.
        let _fresh = joined(&url, 102).await;
        still_alive(&mut ws, 14, "after the oversized frame elsewhere").await;
    });
    drop(server);
}

/// A flood from one connection is rate limited (RATE_LIMITED errors, then a
/// close with 1008 if it goes on) and a `tether join` client in the same
/// channel stays CONNECTED, with no interruption, through the flood, the
/// oversized frame and the malformed frames; and it still sees newcomers.
#[test]
fn abuse_leaves_other_clients_connected() {
    let sc = Scenario::new("abuse_leaves_other_clients_connected");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let watcher = JoinOpts::new(&url, CHANNEL, 1).spawn("uid1", sc.dir());
    let connected = watcher.wait_state("CONNECTED", Duration::from_secs(5));
    measure(
        "join_to_connected_loopback_ms",
        connected.ts - watcher.spawned_unix_ms,
    );
    let after_connected = watcher.mark();

    let rt = runtime();
    let u = url.clone();
    let (rate_limited, flood_closed, sent) = rt.block_on(async move {
        // Malformed and unknown frames from a joined peer.
        let mut ws = joined(&u, 200).await;
        send(&mut ws, "{not json").await;
        expect_error(&mut ws, "BAD_MESSAGE", Some(false), "malformed JSON").await;
        send(&mut ws, r#"{"type":"frobnicate"}"#).await;
        expect_error(&mut ws, "UNKNOWN_TYPE", Some(false), "unknown type").await;

        // 1 MiB frame.
        let mut big = joined(&u, 201).await;
        let payload = "y".repeat(1024 * 1024);
        let sent = big.send(Message::text(payload)).await;
        match next_frame(&mut big, REPLY).await {
            Frame::Close(Some(1009), _) => {}
            other => {
                panic!("1 MiB frame: expected close 1009, got {other:?} (send result {sent:?})")
            }
        }

        // Flood: up to 20 000 pings as fast as they go out, bounded to 10 s.
        let flood = joined(&u, 202).await;
        let (mut tx, mut rx) = flood.split();
        let reader = tokio::spawn(async move {
            let mut rate_limited = 0u32;
            let mut closed = None;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            loop {
                match tokio::time::timeout_at(deadline, rx.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        if v["type"] == "error" && v["code"] == "RATE_LIMITED" {
                            rate_limited += 1;
                        }
                    }
                    Ok(Some(Ok(Message::Close(c)))) => {
                        closed = Some(c.map(|f| (u16::from(f.code), f.reason.to_string())));
                        break;
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(_)) | None) | Err(_) => break,
                }
            }
            (rate_limited, closed)
        });
        let started = Instant::now();
        let mut sent = 0u32;
        for seq in 0..20_000u32 {
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
            let frame = json!({"type":"ping","seq":seq}).to_string();
            if tx.send(Message::text(frame)).await.is_err() {
                break;
            }
            sent += 1;
        }
        drop(tx);
        let (rate_limited, closed) = reader.await.expect("flood reader");
        (rate_limited, closed, sent)
    });
    println!(
        "flood: sent {sent} pings, {rate_limited} RATE_LIMITED errors, close {flood_closed:?}"
    );
    assert!(
        rate_limited > 0 || matches!(flood_closed, Some(Some((1008, _)))),
        "a flood of {sent} pings got neither a RATE_LIMITED error nor a close 1008 (close: {flood_closed:?})"
    );

    // The watcher sees a newcomer (its session is live) and was never interrupted.
    let u = url.clone();
    let late = rt.block_on(async move { joined(&u, 203).await });
    watcher.wait_peer("peer-online", 203, Duration::from_secs(3));
    let changes: Vec<_> = watcher
        .events_since(after_connected)
        .into_iter()
        .filter(|e| e.name == "connection-state-change")
        .collect();
    assert!(
        changes.is_empty(),
        "the watcher's connection changed state during the abuse: {changes:?}\n{}",
        watcher.log().dump()
    );
    let mut watcher = watcher;
    assert!(
        watcher.try_status().is_none(),
        "the watcher exited during the abuse"
    );
    watcher.assert_legal_transitions();
    drop(late);
    drop(server);
}
