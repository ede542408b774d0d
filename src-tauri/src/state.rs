//! What the app holds while it runs: the settings, the built-in server, the
//! current client (at most one), and the session timeline. Everything about
//! connecting lives in the client library; this only starts, stops and relays.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;
use tracing::{info, warn};

use tether_client::{
    unix_ms, Client, ClientConfig, ClientError, ConnectionState, EventRecord, Media, MediaOptions,
    PublishSource, Record, SessionConfig, VideoSink,
};

use crate::diagnostics::{AppInfo, Diagnostics};
use crate::embedded::{Embedded, Mode};
use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::logging;
use crate::settings::{check_server_url, SettingsStore};
use crate::types::{ConnectionInfo, Device, DeviceKind, DeviceList, Invite, JoinResult};
use crate::video::{encode_frame, encode_preview, VideoOut, MAX_FPS};

mod invite;

/// Sends one record to the webview (`tether-event`).
pub type Emit = Arc<dyn Fn(&Record) + Send + Sync>;
/// Tells the webview the pending invitation changed (`tether-invite`).
pub type EmitInvite = Arc<dyn Fn(Option<&Invite>) + Send + Sync>;

/// Whether a join stores its name and channel in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remember {
    /// The user typed them (`join`).
    Yes,
    /// They came from a link: used for this call only.
    No,
}

/// Records kept for the timeline / diagnostics (oldest dropped first).
pub const TIMELINE_CAP: usize = 20_000;
/// Bytes of the current log file put into a diagnostics export.
const LOG_TAIL_BYTES: u64 = 256 * 1024;
/// Longest token `join` accepts.
const MAX_TOKEN: usize = 8 * 1024;

/// Folders the app writes to.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Settings and diagnostics.
    pub data_dir: PathBuf,
    /// Log files.
    pub log_dir: PathBuf,
}

/// Every event record of this run, with its time.
#[derive(Debug, Default)]
struct Timeline {
    records: VecDeque<Record>,
    dropped: u64,
}

/// The client of the current (or last) call.
struct Active {
    client: Client,
    channel: String,
    uid: u32,
    server: String,
    /// Forwards the client's events; ends after the last one once the
    /// client is dropped.
    pump: tokio::task::JoinHandle<()>,
}

/// The app's state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    settings: SettingsStore,
    embedded: Embedded,
    session: AsyncMutex<Option<Active>>,
    timeline: Arc<Mutex<Timeline>>,
    emit: Emit,
    invites: invite::Invites,
    paths: Paths,
    network_hints: bool,
    started_at: u64,
    mute: Mutex<(bool, bool)>,
    /// Where decoded remote video goes (`open_video`); the newest opener wins.
    video: Arc<Mutex<Option<VideoOut>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("paths", &self.0.paths)
            .finish_non_exhaustive()
    }
}

/// Into the timeline first, then to the webview: a UI that has seen an
/// event finds it in `get_timeline`.
fn push(timeline: &Mutex<Timeline>, emit: &Emit, record: Record) {
    if let Ok(mut t) = timeline.lock() {
        if t.records.len() >= TIMELINE_CAP {
            t.records.pop_front();
            t.dropped += 1;
        }
        t.records.push_back(record.clone());
    }
    emit(&record);
}

impl AppState {
    /// A state over `settings`, with the built-in server on `embedded_port`.
    pub fn new(
        settings: SettingsStore,
        embedded_port: u16,
        paths: Paths,
        emit: Emit,
        emit_invite: EmitInvite,
        network_hints: bool,
    ) -> Self {
        Self(Arc::new(Shared {
            settings,
            embedded: Embedded::new(embedded_port),
            session: AsyncMutex::new(None),
            timeline: Arc::new(Mutex::new(Timeline::default())),
            emit,
            invites: invite::Invites::new(emit_invite),
            paths,
            network_hints,
            started_at: unix_ms(),
            mute: Mutex::new((false, false)),
            video: Arc::new(Mutex::new(None)),
        }))
    }

    /// The settings.
    pub fn settings(&self) -> &SettingsStore {
        &self.0.settings
    }

    /// The built-in server.
    pub fn embedded(&self) -> &Embedded {
        &self.0.embedded
    }

    /// Record an app-level event (timeline + webview).
    pub fn record(&self, event: EventRecord) {
        push(
            &self.0.timeline,
            &self.0.emit,
            Record {
                ts: unix_ms(),
                event,
            },
        );
    }

    /// Every event record of this run so far, oldest first (at most
    /// [`TIMELINE_CAP`]).
    pub fn timeline(&self) -> Vec<Record> {
        self.0
            .timeline
            .lock()
            .map(|t| t.records.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Join `channel`. `server` `None`: the configured server, else the
    /// built-in one. The name and channel are remembered in the settings.
    pub async fn join(
        &self,
        channel: &str,
        name: &str,
        server: Option<String>,
        token: Option<String>,
    ) -> IpcResult<JoinResult> {
        self.start_call(channel, name, server, token, Remember::Yes)
            .await
    }

    /// [`Self::join`]; with [`Remember::No`] (an invitation) the settings
    /// are left alone.
    async fn start_call(
        &self,
        channel: &str,
        name: &str,
        server: Option<String>,
        token: Option<String>,
        remember: Remember,
    ) -> IpcResult<JoinResult> {
        tether_proto::validate_channel(channel)
            .map_err(|e| IpcError::new(ErrorCode::InvalidChannel, e.to_string()))?;
        let name = name.trim();
        tether_proto::validate_name(name)
            .map_err(|e| IpcError::new(ErrorCode::InvalidName, e.to_string()))?;
        let token = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if let Some(t) = &token {
            if t.len() > MAX_TOKEN || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(IpcError::new(
                    ErrorCode::InvalidToken,
                    format!(
                        "a token is at most {MAX_TOKEN} bytes without spaces or control characters"
                    ),
                ));
            }
        }
        let server = server
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if let Some(s) = &server {
            check_server_url(s)?;
        }

        let mut session = self.0.session.lock().await;
        if let Some(active) = session.as_ref() {
            let state = active.client.state();
            if state != ConnectionState::Disconnected {
                return Err(IpcError::new(
                    ErrorCode::AlreadyJoined,
                    format!(
                        "already in channel {:?} (state {}); leave first",
                        active.channel,
                        state.as_str()
                    ),
                ));
            }
        }
        let url = match server.or_else(|| self.0.settings.get().server) {
            Some(url) => url,
            None => self.0.embedded.ensure().await?,
        };
        let uid = fastrand::u32(1..u32::MAX);
        let config = SessionConfig::new(channel, uid, name)
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?
            .with_token(token)
            .with_rng_seed(fastrand::u64(..));
        let mut config = ClientConfig::new(&url, config)
            .map_err(|e| IpcError::new(ErrorCode::InvalidServer, e.to_string()))?;
        config.network_hints = self.0.network_hints;
        // Camera and microphone from the settings; a machine without them
        // publishes the synthetic tone and moving test pattern instead (the
        // client says so with `exception NO_DEVICE`, which the UI shows).
        let settings = self.0.settings.get();
        let video = self.0.video.clone();
        let preview = self.0.video.clone();
        config.media = Some(MediaOptions {
            source: PublishSource::Devices {
                audio_input: settings.audio_input.clone(),
                video_input: settings.video_input.clone(),
                fallback_synthetic: true,
            },
            subscribe: true,
            playback_device: settings.audio_output.clone(),
            video_sink: Some(VideoSink::new(MAX_FPS, move |frame| {
                send_video(&video, || encode_frame(&frame));
            })),
            // The "You" tile's self-view, on the same channel (docs/ipc.md "Video").
            preview_sink: Some(VideoSink::new(MAX_FPS, move |frame| {
                send_video(&preview, || encode_preview(&frame, uid));
            })),
        });
        let mute = settings.mute_on_join;

        // The previous client (ended) goes away with its handle; its last
        // events (the final DISCONNECTED) are forwarded before any of the
        // new one's, so the UI sees them in order.
        if let Some(Active { client, pump, .. }) = session.take() {
            drop(client);
            if tokio::time::timeout(Duration::from_secs(2), pump)
                .await
                .is_err()
            {
                warn!("the previous session's events are still being forwarded");
            }
        }
        let (client, mut events) = Client::spawn(config);
        let media = |e: ClientError| IpcError::new(ErrorCode::Internal, e.to_string());
        client
            .publish(Media {
                audio: true,
                video: true,
            })
            .map_err(media)?;
        client
            .set_muted(Media {
                audio: mute.audio,
                video: mute.video,
            })
            .map_err(media)?;
        if let Ok(mut m) = self.0.mute.lock() {
            *m = (mute.audio, mute.video);
        }
        let timeline = self.0.timeline.clone();
        let emit = self.0.emit.clone();
        let pump = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                push(&timeline, &emit, event.record);
            }
        });
        client.join().await.map_err(|e| match e {
            ClientError::AlreadyJoined(s) => IpcError::new(
                ErrorCode::AlreadyJoined,
                format!("already in a channel (state {})", s.as_str()),
            ),
            other => IpcError::new(ErrorCode::Internal, other.to_string()),
        })?;
        info!(channel, uid, server = %url, "joining");
        *session = Some(Active {
            client,
            channel: channel.to_owned(),
            uid,
            server: url.clone(),
            pump,
        });
        drop(session);

        if remember == Remember::Yes {
            if let Err(e) = self.0.settings.update(|s| {
                s.display_name = name.to_owned();
                s.remember_channel(channel);
            }) {
                warn!("cannot remember the channel and name: {e}");
            }
        }
        Ok(JoinResult {
            channel: channel.to_owned(),
            uid,
            server: url,
        })
    }

    /// Leave the current channel (the events say when it is done).
    pub async fn leave(&self) -> IpcResult<()> {
        let session = self.0.session.lock().await;
        let active = joined(session.as_ref())?;
        active
            .client
            .leave()
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Skip the wait before the next reconnect attempt.
    pub async fn retry_now(&self) -> IpcResult<()> {
        let session = self.0.session.lock().await;
        let active = joined(session.as_ref())?;
        active
            .client
            .retry_now()
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))
    }

    /// The state, and where we are.
    pub async fn connection(&self) -> ConnectionInfo {
        let session = self.0.session.lock().await;
        match session.as_ref() {
            Some(a) if a.client.state() != ConnectionState::Disconnected => ConnectionInfo {
                state: a.client.state(),
                channel: Some(a.channel.clone()),
                uid: Some(a.uid),
                server: Some(a.server.clone()),
            },
            _ => ConnectionInfo {
                state: ConnectionState::Disconnected,
                channel: None,
                uid: None,
                server: None,
            },
        }
    }

    /// Mute or unmute what we publish (`NOT_JOINED` outside a call; the
    /// settings' mute-on-join applies at the next join).
    pub async fn set_muted(&self, audio: bool, video: bool) -> IpcResult<()> {
        let session = self.0.session.lock().await;
        let active = joined(session.as_ref())?;
        active
            .client
            .set_muted(Media { audio, video })
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
        if let Ok(mut mute) = self.0.mute.lock() {
            *mute = (audio, video);
        }
        Ok(())
    }

    /// Send every decoded remote frame to `out` (replacing an earlier
    /// receiver, e.g. from before the UI reloaded).
    pub fn open_video(&self, out: VideoOut) {
        if let Ok(mut v) = self.0.video.lock() {
            *v = Some(out);
        }
    }

    /// Make `id` the device of `kind` (`None`: the system default).
    pub async fn select_device(&self, kind: DeviceKind, id: Option<String>) -> IpcResult<()> {
        let id = id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(id) = &id {
            let devices = list_devices().await?;
            let list = match kind {
                DeviceKind::AudioInput => &devices.audio_inputs,
                DeviceKind::AudioOutput => &devices.audio_outputs,
                DeviceKind::VideoInput => &devices.video_inputs,
            };
            if !list.iter().any(|d| d.id == *id) {
                return Err(IpcError::new(
                    ErrorCode::NoDevice,
                    format!("no {} with id {id:?}", kind_name(kind)),
                ));
            }
        }
        self.0
            .settings
            .update(|s| match kind {
                DeviceKind::AudioInput => s.audio_input = id,
                DeviceKind::AudioOutput => s.audio_output = id,
                DeviceKind::VideoInput => s.video_input = id,
            })
            .map(|_| ())
    }

    /// Write the timeline and the log tail to a file; return its path.
    pub async fn export_diagnostics(&self) -> IpcResult<PathBuf> {
        let connection = self.connection().await;
        let embedded = match self.0.embedded.mode().await {
            Mode::NotStarted => "not started".to_owned(),
            Mode::Own { url } => format!("running in this app at {url}"),
            Mode::Shared { url } => format!("served by another Tether at {url}"),
        };
        let (timeline, dropped) = match self.0.timeline.lock() {
            Ok(t) => (t.records.iter().cloned().collect::<Vec<_>>(), t.dropped),
            Err(_) => (Vec::new(), 0),
        };
        let log_file = logging::current_file(&self.0.paths.log_dir);
        let log_tail = match &log_file {
            Some(path) => logging::tail(path, LOG_TAIL_BYTES)
                .unwrap_or_else(|e| vec![format!("(cannot read {}: {e})", path.display())]),
            None => Vec::new(),
        };
        let report = Diagnostics {
            app: AppInfo::this(),
            started_at: self.0.started_at,
            exported_at: unix_ms(),
            connection,
            embedded_server: embedded,
            settings: self.0.settings.get(),
            requested_mute: self.0.mute.lock().map(|m| *m).unwrap_or_default(),
            timeline,
            timeline_dropped: dropped,
            log_file: log_file.map(|p| p.display().to_string()),
            log_tail,
        };
        report.write(&self.0.paths.data_dir)
    }

    async fn leave_and_wait(&self, limit: Duration) -> IpcResult<()> {
        let client = {
            let session = self.0.session.lock().await;
            let active = joined(session.as_ref())?;
            active
                .client
                .leave()
                .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
            active.client.clone()
        };
        tokio::time::timeout(limit, client.wait_for_state(ConnectionState::Disconnected))
            .await
            .map_err(|_| IpcError::new(ErrorCode::Internal, "leaving took too long"))?
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))
    }

    fn exception(&self, e: &IpcError) {
        let code = serde_json::to_value(e.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "INTERNAL".into());
        self.record(EventRecord::Exception {
            code,
            message: e.message.clone(),
        });
    }

    /// Leave (if in a call) and stop the built-in server: on app exit.
    pub async fn shutdown(&self) {
        if self.connection().await.state != ConnectionState::Disconnected {
            if let Err(e) = self.leave_and_wait(Duration::from_secs(2)).await {
                warn!("leaving on exit: {e}");
            }
        }
        self.0.embedded.shutdown().await;
    }
}

/// Hand one video message to the UI's `open_video` channel, if any (built
/// only then); a closed channel is forgotten.
fn send_video(video: &Mutex<Option<VideoOut>>, msg: impl FnOnce() -> Option<Vec<u8>>) {
    let Some(out) = video.lock().ok().and_then(|v| v.clone()) else {
        return;
    };
    if let Some(msg) = msg() {
        if !out(msg) {
            if let Ok(mut v) = video.lock() {
                *v = None;
            }
        }
    }
}

fn joined(active: Option<&Active>) -> IpcResult<&Active> {
    match active {
        Some(a) if a.client.state() != ConnectionState::Disconnected => Ok(a),
        _ => Err(IpcError::new(ErrorCode::NotJoined, "not in a channel")),
    }
}

fn kind_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::AudioInput => "microphone",
        DeviceKind::AudioOutput => "speaker",
        DeviceKind::VideoInput => "camera",
    }
}

/// The devices present (the media library's list; enumeration can block, so
/// it runs off the async threads).
pub async fn list_devices() -> IpcResult<DeviceList> {
    let devices = tokio::task::spawn_blocking(tether_media::list_devices)
        .await
        .map_err(|e| IpcError::new(ErrorCode::Internal, format!("device enumeration: {e}")))?;
    let convert = |list: Vec<tether_media::DeviceInfo>| {
        list.into_iter()
            .map(|d| Device {
                id: d.id,
                name: d.name,
                is_default: d.is_default,
            })
            .collect()
    };
    Ok(DeviceList {
        audio_inputs: convert(devices.audio_inputs),
        audio_outputs: convert(devices.audio_outputs),
        video_inputs: convert(devices.video_inputs),
    })
}
