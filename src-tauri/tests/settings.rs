//! Settings: validation on load, fallbacks, and crash safety (a writer killed
//! with SIGKILL at random moments never leaves unusable settings behind).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tether_app::settings::{
    self, backup_path, load, persist, Loaded, MemoryKeyValue, Settings, SettingsStore,
};

fn sample(name: &str) -> Settings {
    Settings {
        display_name: name.into(),
        server: Some("ws://127.0.0.1:7800".into()),
        recent_channels: vec!["demo".into(), "standup".into()],
        ..Settings::default()
    }
}

fn file(dir: &Path) -> PathBuf {
    dir.join(settings::FILE_NAME)
}

#[test]
fn valid_file_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path());
    assert_eq!(
        load(&path),
        Loaded::Defaults(Settings::default()),
        "first start"
    );
    persist(&path, &sample("Ann")).expect("persist");
    assert_eq!(load(&path), Loaded::Main(sample("Ann")));
    // The plugin's own format: the settings under one key.
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
    assert_eq!(raw["settings"]["displayName"], "Ann");
}

#[test]
fn missing_keys_take_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path());
    std::fs::write(
        &path,
        json!({"settings": {"displayName": "Old"}}).to_string(),
    )
    .expect("write");
    let loaded = load(&path).into_settings();
    assert_eq!(loaded.display_name, "Old");
    assert_eq!(loaded.server, None);
    assert!(loaded.recent_channels.is_empty());
}

#[test]
fn invalid_files_fall_back_without_crashing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path());
    for bad in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"other\": 1}",
        b"{\"settings\": 5}",
        b"{\"settings\": {\"displayName\": 7}}",
        b"{\"settings\": {\"recentChannels\": [\"not ok\"]}}",
        b"{\"settings\": {\"server\": \"http://example.com\"}}",
        b"\xff\xfe garbage",
    ] {
        std::fs::write(&path, bad).expect("write");
        assert_eq!(
            load(&path),
            Loaded::Defaults(Settings::default()),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn a_truncated_main_file_falls_back_to_the_backup() {
    // What the plugin's in-place save (truncate, then write) leaves when it is
    // killed half-way.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path());
    persist(&path, &sample("Ann")).expect("persist");
    let full = std::fs::read(&path).expect("read");
    for cut in [0, 1, full.len() / 2, full.len() - 1] {
        std::fs::write(&path, &full[..cut]).expect("truncate");
        assert_eq!(load(&path), Loaded::Backup(sample("Ann")), "cut at {cut}");
    }
    // Opening the store repairs the main file.
    let store = SettingsStore::open(path.clone(), Box::new(MemoryKeyValue::default()));
    assert_eq!(store.get(), sample("Ann"));
    assert_eq!(load(&path), Loaded::Main(sample("Ann")));
}

#[test]
fn store_set_validates_and_persists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path());
    let store = SettingsStore::open(path.clone(), Box::new(MemoryKeyValue::default()));
    let mut bad = sample("Ann");
    bad.recent_channels.push("no spaces please".into());
    let err = store.set(bad).expect_err("invalid channel refused");
    assert_eq!(
        serde_json::to_value(err.code).expect("code"),
        "INVALID_SETTINGS"
    );
    assert!(err.message.contains("recentChannels"), "{}", err.message);
    assert!(!path.exists(), "nothing written");
    store.set(sample("Ann")).expect("valid");
    store
        .update(|s| s.remember_channel("standup"))
        .expect("update");
    let expected = Settings {
        recent_channels: vec!["standup".into(), "demo".into()],
        ..sample("Ann")
    };
    assert_eq!(store.get(), expected);
    assert_eq!(load(&path), Loaded::Main(expected.clone()));
    assert_eq!(load(&backup_path(&path)), Loaded::Main(expected));
    #[cfg(unix)]
    for written in [&path, &backup_path(&path)] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(written)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{} mode {mode:o}", written.display());
    }
}

/// Child side of the kill test: persist forever, each time with the next
/// generation number. Does nothing unless run by the parent.
#[test]
#[ignore = "run by kill_9_during_saves_never_loses_the_settings"]
fn settings_writer_child() {
    let Some(path) = std::env::var_os("TETHER_SETTINGS_WRITER") else {
        return;
    };
    let path = PathBuf::from(path);
    let start: u64 = std::env::var("TETHER_SETTINGS_GEN")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    for generation in start.. {
        let mut s = sample(&format!("gen-{generation}"));
        // A bigger file makes a torn write more likely, were writes not atomic.
        s.recent_channels = (0..10)
            .map(|i| format!("channel-{generation}-{i}"))
            .collect();
        s.audio_input = Some("x".repeat(1500));
        persist(&path, &s).expect("persist");
    }
}

fn generation(s: &Settings) -> u64 {
    s.display_name
        .strip_prefix("gen-")
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("unexpected settings {s:?}"))
}

#[test]
#[cfg(unix)]
fn kill_9_during_saves_never_loses_the_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path());
    persist(&path, &sample("gen-0")).expect("first save");
    let exe = std::env::current_exe().expect("test binary");
    let mut last_seen = 0;
    for round in 1..=25u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "settings_writer_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TETHER_SETTINGS_WRITER", &path)
            .env("TETHER_SETTINGS_GEN", (last_seen + 1).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the writer");
        std::thread::sleep(Duration::from_millis(20 + fastrand::u64(0..60)));
        child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
        let _status = child.wait();
        let loaded = load(&path);
        let settings = match &loaded {
            Loaded::Main(s) | Loaded::Backup(s) => s,
            Loaded::Defaults(_) => panic!("round {round}: settings lost: {loaded:?}"),
        };
        let g = generation(settings);
        assert!(
            g >= last_seen,
            "round {round}: went back from {last_seen} to {g}"
        );
        assert_eq!(
            settings.recent_channels.len(),
            10,
            "round {round}: torn settings"
        );
        last_seen = g;
    }
    assert!(last_seen > 0, "the writer never saved");
    // Opening the store clears what the killed writers left behind.
    let store = SettingsStore::open(path.clone(), Box::new(MemoryKeyValue::default()));
    assert_eq!(generation(&store.get()), last_seen);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
