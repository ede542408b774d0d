//! `ui/src/bindings.ts` is generated from the Rust types and committed; this
//! fails when it is stale. Regenerate with
//! `TETHER_UPDATE_BINDINGS=1 cargo test -p tether-app --test bindings`.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts")
}

fn generate() -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bindings.ts");
    tether_app::export_bindings(&path).expect("export bindings");
    std::fs::read_to_string(&path).expect("read generated bindings")
}

#[test]
fn bindings_are_fresh() {
    let fresh = generate();
    let path = committed_path();
    if std::env::var("TETHER_UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write ui/src/bindings.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ui/src/bindings.ts is stale (or missing): run \
         `TETHER_UPDATE_BINDINGS=1 cargo test -p tether-app --test bindings` and commit it"
    );
}

#[test]
fn bindings_say_generated_and_cover_the_contract() {
    let ts = generate();
    assert!(
        ts.starts_with("// GENERATED"),
        "header: {}",
        &ts[..ts.len().min(200)]
    );
    assert!(ts.contains("DO NOT EDIT"));
    for command in [
        "join",
        "leave",
        "getConnectionState",
        "setMuted",
        "listDevices",
        "selectDevice",
        "retryNow",
        "exportDiagnostics",
        "getTimeline",
        "getSettings",
        "setSettings",
    ] {
        assert!(
            ts.contains(&format!("\t{command}: (")),
            "command {command} missing"
        );
    }
    for snippet in [
        "\"tether-event\"",
        "\"connection-state-change\"",
        "\"DISCONNECTED\"",
        "\"INVALID_CHANNEL\"",
        "recentChannels",
        "muteOnJoin",
    ] {
        assert!(ts.contains(snippet), "{snippet} missing from the bindings");
    }
}

#[test]
fn identifier_matches_the_config() {
    let conf =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tauri.conf.json"))
            .expect("tauri.conf.json");
    let conf: serde_json::Value = serde_json::from_str(&conf).expect("valid JSON");
    assert_eq!(conf["identifier"].as_str(), Some(tether_app::IDENTIFIER));
}
