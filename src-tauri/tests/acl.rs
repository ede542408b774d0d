//! Least privilege: with the real configuration (capabilities/main-window.json),
//! the main window may call Tether's commands and listen to events, and
//! nothing else — no store, deep-link, shell or fs commands, no emitting.

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
use tauri::webview::InvokeRequest;

fn invoke(
    webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().expect("JSON"))
}

#[test]
fn the_window_gets_only_tethers_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = tether_app::AppOptions {
        data_dir: Some(dir.path().to_path_buf()),
        log_dir: None,
        embedded_port: 0,
        start_embedded: false,
        network_hints: false,
        logging: false,
        deep_links: false,
    };
    let mut app = tether_app::configure(mock_builder(), options)
        .build(tauri::generate_context!())
        .expect("app builds with the real config");
    // One iteration runs the setup hook; the mock runtime returns at once.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let webview =
        tauri::Manager::get_webview_window(&app, "main").expect("the config's main window");

    // Granted.
    assert!(invoke(&webview, "get_settings", json!({})).is_ok());
    assert!(invoke(&webview, "get_connection_state", json!({})).is_ok());
    let listen = invoke(
        &webview,
        "plugin:event|listen",
        json!({"event": "tether-event", "target": {"kind": "Any"}, "handler": 7}),
    );
    assert!(listen.is_ok(), "listen refused: {listen:?}");
    // The binary video stream (outside the typed bindings, still granted).
    let video = invoke(&webview, "open_video", json!({"onFrame": "__CHANNEL__:9"}));
    assert!(video.is_ok(), "open_video refused: {video:?}");

    // Not granted.
    for (cmd, args) in [
        ("plugin:store|load", json!({"path": "x.json"})),
        ("plugin:store|get", json!({"rid": 1, "key": "settings"})),
        (
            "plugin:event|emit",
            json!({"event": "tether-event", "payload": {}}),
        ),
        ("plugin:webview|create_webview_window", json!({})),
        ("plugin:window|close", json!({})),
        ("plugin:app|version", json!({})),
    ] {
        let result = invoke(&webview, cmd, args);
        let Err(e) = result else {
            panic!("{cmd} allowed: {result:?}")
        };
        eprintln!("{cmd}: {e}");
    }
}

#[test]
fn the_csp_is_strict() {
    let conf: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tauri.conf.json"))
            .expect("conf"),
    )
    .expect("JSON");
    let csp = &conf["app"]["security"]["csp"];
    assert_eq!(csp["default-src"], "'self'");
    assert_eq!(csp["script-src"], "'self'");
    assert_eq!(csp["object-src"], "'none'");
    let connect = csp["connect-src"].as_str().expect("connect-src");
    assert!(connect.contains("ipc:") && connect.contains("http://ipc.localhost"));
    for (directive, value) in csp.as_object().expect("object") {
        let value = value.as_str().unwrap_or_default();
        assert!(!value.contains("unsafe-eval"), "{directive}: {value}");
        assert!(!value.contains("unsafe-inline"), "{directive}: {value}");
        assert!(
            !value.contains("https:") && !value.contains('*'),
            "{directive}: {value}"
        );
    }
    // No shell or fs plugin in the app at all.
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("manifest");
    assert!(!manifest.contains("tauri-plugin-shell") && !manifest.contains("tauri-plugin-fs"));
}
