//! The commands through Tauri's IPC, on the mock runtime, against a real
//! embedded server on a free loopback port.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow};

use tether_app::AppOptions;

struct TestApp {
    app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
    events: mpsc::Receiver<Value>,
}

fn options(dir: &Path) -> AppOptions {
    AppOptions {
        data_dir: Some(dir.to_path_buf()),
        log_dir: None,
        embedded_port: 0,
        start_embedded: false,
        network_hints: false,
        logging: false,
        deep_links: false,
    }
}

fn app(dir: &Path) -> TestApp {
    let mut app = tether_app::configure(mock_builder(), options(dir))
        .build(mock_context(noop_assets()))
        .expect("app builds");
    // One iteration runs the setup hook; the mock runtime returns at once.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("window");
    let (tx, events) = mpsc::channel();
    app.listen_any("tether-event", move |event| {
        if let Ok(v) = serde_json::from_str::<Value>(event.payload()) {
            let _gone = tx.send(v);
        }
    });
    TestApp {
        app,
        webview,
        events,
    }
}

fn request(cmd: &str, args: Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // On Linux the mock webview's origin; anything else counts as remote.
        url: "tauri://localhost".parse().expect("url"),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

impl TestApp {
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(&self.webview, request(cmd, args))
            .map(|body| body.deserialize::<Value>().expect("JSON response"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// The error's code, after checking the error is `{code, message}`.
    fn err(&self, cmd: &str, args: Value) -> String {
        let e = match self.invoke(cmd, args.clone()) {
            Ok(v) => panic!("{cmd} {args} succeeded: {v}"),
            Err(e) => e,
        };
        let message = e["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{cmd}: no message in {e}");
        e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{cmd}: no code in {e}"))
            .to_owned()
    }

    /// Wait for an event matching `pred`; return it.
    fn wait_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    fn wait_state(&self, state: &str) -> Value {
        self.wait_event(state, |v| {
            v["event"] == "connection-state-change" && v["curState"] == state
        })
    }
}

#[test]
fn join_state_leave_against_the_embedded_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = app(dir.path());

    let s = t.ok("get_connection_state", json!({}));
    assert_eq!(
        s,
        json!({"state": "DISCONNECTED", "channel": null, "uid": null, "server": null})
    );

    let joined = t.ok(
        "join",
        json!({"channel": "ipc-test", "name": "Ann", "server": null, "token": null}),
    );
    assert_eq!(joined["channel"], "ipc-test");
    let uid = joined["uid"].as_u64().expect("uid");
    let server = joined["server"].as_str().expect("server").to_owned();
    assert!(server.starts_with("ws://127.0.0.1:"), "{server}");

    let connecting = t.wait_state("CONNECTING");
    assert_eq!(connecting["prevState"], "DISCONNECTED");
    assert_eq!(connecting["reason"], "JOIN");
    assert!(connecting["ts"].as_u64().is_some(), "{connecting}");
    let connected = t.wait_state("CONNECTED");
    assert_eq!(connected["reason"], "JOIN_SUCCESS");
    t.wait_event("connected", |v| v["event"] == "connected");

    let s = t.ok("get_connection_state", json!({}));
    assert_eq!(s["state"], "CONNECTED");
    assert_eq!(s["channel"], "ipc-test");
    assert_eq!(s["uid"].as_u64(), Some(uid));
    assert_eq!(s["server"], server.as_str());

    // The join is remembered.
    let settings = t.ok("get_settings", json!({}));
    assert_eq!(settings["displayName"], "Ann");
    assert_eq!(settings["recentChannels"], json!(["ipc-test"]));

    assert_eq!(
        t.err(
            "join",
            json!({"channel": "other", "name": "Ann", "server": null, "token": null})
        ),
        "ALREADY_JOINED"
    );
    // No reconnection is pending, but retry_now while connected is harmless.
    t.ok("retry_now", json!({}));

    assert_eq!(t.ok("leave", json!({})), Value::Null);
    t.wait_state("DISCONNECTING");
    let left = t.wait_state("DISCONNECTED");
    assert_eq!(left["reason"], "LEAVE");
    let s = t.ok("get_connection_state", json!({}));
    assert_eq!(s["state"], "DISCONNECTED");
    assert_eq!(s["channel"], Value::Null);
    assert_eq!(t.err("leave", json!({})), "NOT_JOINED");
    assert_eq!(t.err("retry_now", json!({})), "NOT_JOINED");

    // Joining again works (same built-in server).
    let again = t.ok(
        "join",
        json!({"channel": "ipc-test-2", "name": "Ann", "server": null, "token": null}),
    );
    assert_eq!(again["server"], server.as_str());
    t.wait_state("CONNECTED");

    // The diagnostics file holds the whole timeline.
    let path = t.ok("export_diagnostics", json!({}));
    let path = path.as_str().expect("path");
    assert!(
        path.starts_with(dir.path().to_str().expect("utf-8")),
        "{path}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(path).expect("diagnostics file")).expect("JSON");
    let timeline = report["timeline"].as_array().expect("timeline");
    let states: Vec<&str> = timeline
        .iter()
        .filter(|r| r["event"] == "connection-state-change")
        .filter_map(|r| r["curState"].as_str())
        .collect();
    assert_eq!(
        states,
        [
            "CONNECTING",
            "CONNECTED",
            "DISCONNECTING",
            "DISCONNECTED",
            "CONNECTING",
            "CONNECTED"
        ]
    );
    assert!(timeline.iter().all(|r| r["ts"].as_u64().is_some()));
    assert_eq!(report["connection"]["channel"], "ipc-test-2");
    // Other local users cannot read it (it names servers, channels, peers).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o077, 0, "diagnostics mode {mode:o}");
    }
    // The same records, for a UI that loads late.
    // (Later events, e.g. network-quality, may have been added since.)
    let replay = t.ok("get_timeline", json!({}));
    let replay = replay.as_array().expect("array");
    assert!(replay.len() >= timeline.len());
    assert_eq!(&replay[..timeline.len()], &timeline[..]);
    assert!(report["logTail"].is_array());
    t.ok("leave", json!({}));
    t.wait_state("DISCONNECTED");
}

#[test]
fn bad_arguments_are_code_and_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = app(dir.path());
    let join = |channel: &str, name: &str, server: Value, token: Value| {
        t.err(
            "join",
            json!({"channel": channel, "name": name, "server": server, "token": token}),
        )
    };
    assert_eq!(
        join("has space", "Ann", Value::Null, Value::Null),
        "INVALID_CHANNEL"
    );
    assert_eq!(join("", "Ann", Value::Null, Value::Null), "INVALID_CHANNEL");
    assert_eq!(
        join(&"x".repeat(65), "Ann", Value::Null, Value::Null),
        "INVALID_CHANNEL"
    );
    assert_eq!(
        join("demo", "a\nb", Value::Null, Value::Null),
        "INVALID_NAME"
    );
    assert_eq!(
        join("demo", &"n".repeat(65), Value::Null, Value::Null),
        "INVALID_NAME"
    );
    assert_eq!(
        join("demo", "Ann", json!("http://example.com"), Value::Null),
        "INVALID_SERVER"
    );
    assert_eq!(
        join("demo", "Ann", json!("ws://"), Value::Null),
        "INVALID_SERVER"
    );
    assert_eq!(
        join("demo", "Ann", Value::Null, json!("two words")),
        "INVALID_TOKEN"
    );
    // Nothing was joined by any of those.
    assert_eq!(
        t.ok("get_connection_state", json!({}))["state"],
        "DISCONNECTED"
    );

    assert_eq!(t.err("leave", json!({})), "NOT_JOINED");
    assert_eq!(
        t.err("set_muted", json!({"audio": true, "video": false})),
        "NOT_JOINED"
    );
    assert_eq!(
        t.err(
            "select_device",
            json!({"kind": "audioInput", "id": "no-such-device"})
        ),
        "NO_DEVICE"
    );
    // null selects the system default.
    t.ok("select_device", json!({"kind": "videoInput", "id": null}));
    let devices = t.ok("list_devices", json!({}));
    for kind in ["audioInputs", "audioOutputs", "videoInputs"] {
        assert!(devices[kind].is_array(), "{devices}");
    }
}

#[test]
fn settings_get_set_validate_and_persist() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let t = app(dir.path());
        let defaults = t.ok("get_settings", json!({}));
        assert_eq!(
            defaults,
            json!({
                "displayName": "",
                "server": null,
                "recentChannels": [],
                "audioInput": null,
                "audioOutput": null,
                "videoInput": null,
                "muteOnJoin": {"audio": false, "video": false},
                "joinLinksWithoutAsking": false
            })
        );
        let stored = t.ok(
            "set_settings",
            json!({"settings": {
                "displayName": "  Ann  ",
                "server": "ws://10.0.0.5:7800",
                "recentChannels": ["b", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"],
                "audioInput": "",
                "audioOutput": null,
                "videoInput": "cam-0",
                "muteOnJoin": {"audio": true, "video": false},
                "joinLinksWithoutAsking": false
            }}),
        );
        // Normalised: trimmed, deduplicated, at most ten, "" is null.
        assert_eq!(stored["displayName"], "Ann");
        assert_eq!(
            stored["recentChannels"],
            json!(["b", "a", "c", "d", "e", "f", "g", "h", "i", "j"])
        );
        assert_eq!(stored["audioInput"], Value::Null);
        assert_eq!(t.ok("get_settings", json!({})), stored);

        for bad in [
            json!({"recentChannels": ["ok", "not ok"]}),
            json!({"server": "http://x"}),
            json!({"displayName": "x".repeat(65)}),
            json!({"videoInput": "a\u{7}b"}),
        ] {
            let mut settings = stored.clone();
            for (k, v) in bad.as_object().expect("object") {
                settings[k] = v.clone();
            }
            assert_eq!(
                t.err("set_settings", json!({"settings": settings})),
                "INVALID_SETTINGS",
                "{bad}"
            );
        }
        // A refused set changes nothing.
        assert_eq!(t.ok("get_settings", json!({})), stored);
    }
    // A new app over the same folder finds them.
    let t = app(dir.path());
    let settings = t.ok("get_settings", json!({}));
    assert_eq!(settings["displayName"], "Ann");
    assert_eq!(settings["server"], "ws://10.0.0.5:7800");
    assert_eq!(settings["muteOnJoin"]["audio"], true);
}

#[test]
fn join_uses_the_configured_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = app(dir.path());
    // A server that refuses connections: the join starts (CONNECTING) and
    // the result names the configured URL, not the built-in one.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("ws://127.0.0.1:{port}");
    let mut settings = t.ok("get_settings", json!({}));
    settings["server"] = json!(url);
    t.ok("set_settings", json!({"settings": settings}));
    let joined = t.ok(
        "join",
        json!({"channel": "demo", "name": "", "server": null, "token": null}),
    );
    assert_eq!(joined["server"], url.as_str());
    t.wait_state("CONNECTING");
    t.ok("leave", json!({}));
    t.wait_state("DISCONNECTED");
}

#[test]
fn deep_links_ask_first_then_join_switch_and_report_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = app(dir.path());
    let state = tauri::Manager::state::<tether_app::state::AppState>(&t.app)
        .inner()
        .clone();
    let open = |link: &str| {
        let state = state.clone();
        let link = link.to_owned();
        tauri::async_runtime::block_on(async move { state.open_link(&link).await });
    };
    let (tx, invites) = mpsc::channel();
    t.app.listen_any("tether-invite", move |event| {
        if let Ok(v) = serde_json::from_str::<Value>(event.payload()) {
            let _gone = tx.send(v);
        }
    });
    let next_invite = || {
        invites
            .recv_timeout(Duration::from_secs(10))
            .expect("a tether-invite event")
    };
    // A "server" that must never hear from us: a link naming it is only a question.
    let foreign = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let foreign_url = format!("ws://{}", foreign.local_addr().expect("addr"));

    // A link to our own (built-in) server: asked about; nothing connects,
    // captures or is stored before the answer.
    open("tether://join/demo?name=Ann");
    let invite = next_invite();
    assert_eq!(invite["channel"], "demo", "{invite}");
    assert_eq!(invite["name"], "Ann", "{invite}");
    assert_eq!(invite["server"], Value::Null, "{invite}");
    assert_eq!(invite["foreignServer"], false, "{invite}");
    assert_eq!(invite["leaves"], Value::Null, "{invite}");
    assert_eq!(t.ok("get_invite", json!({})), invite);
    assert_eq!(
        t.ok("get_connection_state", json!({}))["state"],
        "DISCONNECTED"
    );
    assert!(
        t.events.try_recv().is_err(),
        "a link alone produced client events (a session started)"
    );

    // A link to another server replaces it, and says the server is foreign.
    open(&format!(
        "tether://join/demo?server={foreign_url}&name=Eve&token=abc"
    ));
    let foreign_invite = next_invite();
    assert_eq!(foreign_invite["server"], foreign_url.as_str());
    assert_eq!(foreign_invite["foreignServer"], true);
    assert_eq!(foreign_invite["hasToken"], true);
    assert_ne!(foreign_invite["id"], invite["id"]);
    // The replaced invitation can no longer be accepted.
    assert_eq!(
        t.err("answer_invite", json!({"id": invite["id"], "accept": true})),
        "NO_INVITE"
    );
    // Declined: gone, and still nothing happened.
    assert_eq!(
        t.ok(
            "answer_invite",
            json!({"id": foreign_invite["id"], "accept": false})
        ),
        Value::Null
    );
    assert_eq!(next_invite(), Value::Null);
    assert_eq!(t.ok("get_invite", json!({})), Value::Null);
    assert!(t.events.try_recv().is_err(), "declining started a session");

    // Accepted: joins with the link's name, which is not remembered.
    open("tether://join/demo?name=Ann");
    let invite = next_invite();
    let joined = t.ok("answer_invite", json!({"id": invite["id"], "accept": true}));
    assert_eq!(joined["channel"], "demo");
    assert_eq!(next_invite(), Value::Null, "answered: no longer pending");
    t.wait_state("CONNECTED");
    let s = t.ok("get_connection_state", json!({}));
    assert_eq!(s["channel"], "demo");
    let settings = t.ok("get_settings", json!({}));
    assert_eq!(settings["displayName"], "", "a link overwrote the name");
    assert_eq!(settings["recentChannels"], json!([]), "{settings}");

    // The same channel again: nothing happens, not even a question.
    open("tether://join/demo");
    assert_eq!(t.ok("get_connection_state", json!({}))["uid"], s["uid"]);
    assert_eq!(t.ok("get_invite", json!({})), Value::Null);

    // Another channel: the question says which call it leaves.
    open("tether://join/standup");
    let invite = next_invite();
    assert_eq!(invite["leaves"], "demo");
    t.ok("answer_invite", json!({"id": invite["id"], "accept": true}));
    assert_eq!(next_invite(), Value::Null);
    t.wait_state("DISCONNECTED");
    t.wait_state("CONNECTED");
    assert_eq!(
        t.ok("get_connection_state", json!({}))["channel"],
        "standup"
    );

    // The user's choice: links to our own server join without asking;
    // links to any other server still ask.
    let mut settings = t.ok("get_settings", json!({}));
    settings["joinLinksWithoutAsking"] = json!(true);
    t.ok("set_settings", json!({ "settings": settings }));
    open("tether://join/auto");
    t.wait_state("DISCONNECTED");
    t.wait_state("CONNECTED");
    assert_eq!(t.ok("get_connection_state", json!({}))["channel"], "auto");
    open(&format!("tether://join/elsewhere?server={foreign_url}"));
    assert_eq!(next_invite()["foreignServer"], true);
    assert_eq!(t.ok("get_connection_state", json!({}))["channel"], "auto");

    // A bad link reaches the UI as an exception and changes nothing.
    open("tether://join/not%20a%20channel");
    // (The joins above may still report `exception {NO_DEVICE}` from their
    // media start on a machine without devices; that one is not the link's.)
    let e = t.wait_event("exception INVALID_CHANNEL", |v| {
        v["event"] == "exception" && v["code"] == "INVALID_CHANNEL"
    });
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid channel name")),
        "{e}"
    );
    assert_eq!(t.ok("get_connection_state", json!({}))["channel"], "auto");
    t.ok("leave", json!({}));
    t.wait_state("DISCONNECTED");

    // The foreign server never saw a connection attempt.
    foreign.set_nonblocking(true).expect("nonblocking");
    assert!(
        matches!(foreign.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "something connected to the server a link named"
    );
}
