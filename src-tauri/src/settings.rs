//! Settings: validated on load and on `set_settings`, kept in a
//! tauri-plugin-store store, written crash-safely.
//!
//! The plugin writes its file in place (`fs::write`: truncate, then write), so
//! a kill during its save can leave an empty or half-written file. We never let
//! it save: [`persist`] writes a temp file, fsyncs it, renames it over
//! `settings.json` (atomic on POSIX) and fsyncs the directory; then it does the
//! same for `settings.json.bak`. The plugin still saves its stores once on a
//! clean exit, in place; if that is interrupted, [`load`] falls back to the
//! backup. At any instant at least one of the two files holds a complete,
//! valid copy of the last settings saved.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use specta::Type;
use tracing::{info, warn};

use crate::error::{ErrorCode, IpcError, IpcResult};

/// The key the settings live under in the store (and in the file).
pub const STORE_KEY: &str = "settings";
/// The settings file, in the app's data folder.
pub const FILE_NAME: &str = "settings.json";
/// Most recent channels remembered.
pub const MAX_RECENT: usize = 10;
/// Longest device id or server URL accepted.
const MAX_TEXT: usize = 2048;

/// Mute state to apply when joining.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct MuteOnJoin {
    /// Join with the microphone muted.
    pub audio: bool,
    /// Join with the camera off.
    pub video: bool,
}

/// Everything the app remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The name others see (may be empty: the UI then shows the uid).
    pub display_name: String,
    /// Server URL; null = the built-in (embedded) server.
    pub server: Option<String>,
    /// Channels joined, newest first, at most 10.
    pub recent_channels: Vec<String>,
    /// Microphone id; null = system default.
    pub audio_input: Option<String>,
    /// Speaker id; null = system default.
    pub audio_output: Option<String>,
    /// Camera id; null = system default.
    pub video_input: Option<String>,
    /// Mute state to apply when joining.
    pub mute_on_join: MuteOnJoin,
    /// Invitation links to the configured (or built-in) server join at once,
    /// without asking. Links naming any other server always ask.
    pub join_links_without_asking: bool,
}

impl Settings {
    /// Check and normalise: trims text, turns empty optional strings into
    /// null, drops duplicate recent channels and keeps the newest ten.
    pub fn validated(mut self) -> IpcResult<Self> {
        let invalid = |msg: String| IpcError::new(ErrorCode::InvalidSettings, msg);
        self.display_name = self.display_name.trim().to_owned();
        tether_proto::validate_name(&self.display_name)
            .map_err(|e| invalid(format!("displayName: {e}")))?;
        self.server = non_empty(self.server);
        if let Some(server) = &self.server {
            check_server_url(server).map_err(|e| invalid(format!("server: {}", e.message)))?;
        }
        let mut recent: Vec<String> = Vec::with_capacity(MAX_RECENT);
        for channel in self.recent_channels {
            let channel = channel.trim().to_owned();
            tether_proto::validate_channel(&channel)
                .map_err(|e| invalid(format!("recentChannels: {e}")))?;
            if !recent.contains(&channel) && recent.len() < MAX_RECENT {
                recent.push(channel);
            }
        }
        self.recent_channels = recent;
        for (field, value) in [
            ("audioInput", &mut self.audio_input),
            ("audioOutput", &mut self.audio_output),
            ("videoInput", &mut self.video_input),
        ] {
            *value = non_empty(value.take());
            if let Some(id) = value {
                if id.len() > MAX_TEXT || id.chars().any(char::is_control) {
                    return Err(invalid(format!(
                        "{field}: a device id is at most {MAX_TEXT} bytes without control characters"
                    )));
                }
            }
        }
        Ok(self)
    }

    /// Put `channel` first in the recent list.
    pub fn remember_channel(&mut self, channel: &str) {
        self.recent_channels.retain(|c| c != channel);
        self.recent_channels.insert(0, channel.to_owned());
        self.recent_channels.truncate(MAX_RECENT);
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The client library's own rule for server URLs (`ws://HOST[:PORT][/path]`;
/// `wss://` is refused until the client has TLS).
pub fn check_server_url(server: &str) -> IpcResult<()> {
    if server.len() > MAX_TEXT {
        return Err(IpcError::new(
            ErrorCode::InvalidServer,
            format!("server URL longer than {MAX_TEXT} bytes"),
        ));
    }
    let probe = tether_client::SessionConfig::new("x", 1, "")
        .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
    tether_client::ClientConfig::new(server, probe)
        .map(|_| ())
        .map_err(|e| IpcError::new(ErrorCode::InvalidServer, e.to_string()))
}

/// What [`load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The main file was valid.
    Main(Settings),
    /// The main file was missing or bad; the backup was valid.
    Backup(Settings),
    /// Neither was usable (or this is the first start): defaults.
    Defaults(Settings),
}

impl Loaded {
    /// The settings, wherever they came from.
    pub fn into_settings(self) -> Settings {
        match self {
            Self::Main(s) | Self::Backup(s) | Self::Defaults(s) => s,
        }
    }
}

/// The backup written next to `path`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// Read the settings from `path` (or its backup). Never fails: anything
/// unreadable or invalid is logged at `warn` and replaced by defaults.
pub fn load(path: &Path) -> Loaded {
    match read_file(path) {
        Ok(Some(settings)) => return Loaded::Main(settings),
        Ok(None) => {}
        Err(e) => warn!(path = %path.display(), "settings unusable: {e}; trying the backup"),
    }
    let backup = backup_path(path);
    match read_file(&backup) {
        Ok(Some(settings)) => {
            warn!(path = %backup.display(), "settings restored from the backup");
            Loaded::Backup(settings)
        }
        Ok(None) => {
            if path.exists() {
                warn!("no usable settings; using defaults");
            } else {
                info!(path = %path.display(), "no settings yet; using defaults");
            }
            Loaded::Defaults(Settings::default())
        }
        Err(e) => {
            warn!(path = %backup.display(), "settings backup unusable: {e}; using defaults");
            Loaded::Defaults(Settings::default())
        }
    }
}

/// `Ok(None)`: no such file. Missing keys take their defaults (files written
/// by an older version); anything else wrong is an error.
fn read_file(path: &Path) -> Result<Option<Settings>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let file: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let stored = file
        .get(STORE_KEY)
        .ok_or_else(|| format!("no {STORE_KEY:?} key"))?;
    from_value(stored).map(Some)
}

/// Settings from a JSON value: missing keys default, the rest must be valid.
pub fn from_value(stored: &Value) -> Result<Settings, String> {
    let Value::Object(stored) = stored else {
        return Err("settings are not an object".into());
    };
    let Ok(Value::Object(mut merged)) = serde_json::to_value(Settings::default()) else {
        return Err("default settings do not serialise".into());
    };
    for (k, v) in stored {
        merged.insert(k.clone(), v.clone());
    }
    let settings: Settings =
        serde_json::from_value(Value::Object(merged)).map_err(|e| format!("invalid: {e}"))?;
    settings.validated().map_err(|e| e.message)
}

/// The file's content: the store's entries (the plugin's own format).
pub fn file_bytes(settings: &Settings) -> IpcResult<Vec<u8>> {
    let value = serde_json::to_value(settings)
        .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
    let mut entries = Map::new();
    entries.insert(STORE_KEY.to_owned(), value);
    serde_json::to_vec_pretty(&Value::Object(entries))
        .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))
}

/// Write `settings` crash-safely: the main file, then the backup, each by
/// temp file + fsync + rename + directory fsync.
pub fn persist(path: &Path, settings: &Settings) -> IpcResult<()> {
    let bytes = file_bytes(settings)?;
    write_atomic(path, &bytes)?;
    write_atomic(&backup_path(path), &bytes)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> IpcResult<()> {
    let io = |what: &str, e: std::io::Error| {
        IpcError::new(
            ErrorCode::Io,
            format!("cannot {what} {}: {e}", path.display()),
        )
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io("create the folder of", e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        // Settings and diagnostics are the user's own: not readable by
        // other local users (they name servers, channels and peers).
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ignored = fs::remove_file(&tmp);
        return Err(io("write a temporary file for", e));
    }
    fs::rename(&tmp, path).map_err(|e| io("replace", e))?;
    // The rename is durable only once the directory entry is on disk.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync the folder of", e))?;
    Ok(())
}

/// Temp files a killed writer left behind (`settings.json.tmp-<pid>`, and
/// the backup's).
fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let prefixes = [format!("{name}.tmp-"), format!("{name}.bak.tmp-")];
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if prefixes.iter().any(|p| file.starts_with(p.as_str())) {
            let _already_gone = fs::remove_file(entry.path());
        }
    }
}

/// Where the store keeps the settings in memory: the tauri-plugin-store
/// `Store` in the app, a plain map in tests.
pub trait KeyValue: Send + Sync {
    /// The value under `key`.
    fn get(&self, key: &str) -> Option<Value>;
    /// Replace the value under `key`.
    fn set(&self, key: &str, value: Value);
}

impl<R: tauri::Runtime> KeyValue for tauri_plugin_store::Store<R> {
    fn get(&self, key: &str) -> Option<Value> {
        tauri_plugin_store::Store::get(self, key)
    }
    fn set(&self, key: &str, value: Value) {
        tauri_plugin_store::Store::set(self, key, value);
    }
}

/// A map, for tests and for running without the plugin.
#[derive(Debug, Default)]
pub struct MemoryKeyValue(Mutex<Map<String, Value>>);

impl KeyValue for MemoryKeyValue {
    fn get(&self, key: &str) -> Option<Value> {
        self.0.lock().ok()?.get(key).cloned()
    }
    fn set(&self, key: &str, value: Value) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key.to_owned(), value);
        }
    }
}

/// The settings of a running app.
pub struct SettingsStore {
    path: PathBuf,
    store: Box<dyn KeyValue>,
    /// Serialises writers (the store and the file change together).
    write: Mutex<()>,
}

impl std::fmt::Debug for SettingsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SettingsStore {
    /// Load (validated, with fallbacks) from `path` into `store`.
    pub fn open(path: PathBuf, store: Box<dyn KeyValue>) -> Self {
        remove_stale_temp_files(&path);
        let loaded = load(&path);
        let settings = loaded.clone().into_settings();
        if let Ok(value) = serde_json::to_value(&settings) {
            store.set(STORE_KEY, value);
        }
        let this = Self {
            path,
            store,
            write: Mutex::new(()),
        };
        // A recovered or defaulted file is rewritten, so the next start finds
        // a valid main file again.
        let rewrite = match loaded {
            Loaded::Main(_) => false,
            Loaded::Backup(_) => true,
            Loaded::Defaults(_) => this.path.exists(),
        };
        if rewrite {
            if let Err(e) = persist(&this.path, &settings) {
                warn!("cannot rewrite the settings: {e}");
            }
        }
        this
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current settings.
    pub fn get(&self) -> Settings {
        self.store
            .get(STORE_KEY)
            .and_then(|v| from_value(&v).ok())
            .unwrap_or_default()
    }

    /// Validate, store and persist; returns what was stored.
    pub fn set(&self, settings: Settings) -> IpcResult<Settings> {
        self.update(|s| *s = settings)
    }

    /// Change the settings with `f`, then validate, store and persist the
    /// result (one writer at a time, so concurrent updates do not lose each
    /// other's changes).
    pub fn update(&self, f: impl FnOnce(&mut Settings)) -> IpcResult<Settings> {
        let _writer = self
            .write
            .lock()
            .map_err(|_| IpcError::new(ErrorCode::Internal, "settings lock poisoned"))?;
        let mut settings = self.get();
        f(&mut settings);
        let settings = settings.validated()?;
        persist(&self.path, &settings)?;
        let value = serde_json::to_value(&settings)
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
        self.store.set(STORE_KEY, value);
        Ok(settings)
    }
}
