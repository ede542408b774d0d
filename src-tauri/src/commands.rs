//! The IPC commands (docs/ipc.md). Each one only checks its arguments and
//! hands over to [`AppState`]; errors are `{ code, message }`.

use std::sync::Arc;

use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::State;

use tether_client::Record;

use crate::error::IpcResult;
use crate::settings::Settings;
use crate::state::{self, AppState};
use crate::types::{ConnectionInfo, DeviceKind, DeviceList, Invite, JoinResult};

/// Join `channel` as `name`. `server` null: the configured server, else the
/// built-in one. Returns once joining has started; the `tether-event`s tell
/// how it goes.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, token), fields(token = token.is_some()))]
pub async fn join(
    state: State<'_, AppState>,
    channel: String,
    name: String,
    server: Option<String>,
    token: Option<String>,
) -> IpcResult<JoinResult> {
    state.join(&channel, &name, server, token).await
}

/// Leave the channel (`NOT_JOINED` when not in one).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn leave(state: State<'_, AppState>) -> IpcResult<()> {
    state.leave().await
}

/// The connection state, and the channel while in one.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn get_connection_state(state: State<'_, AppState>) -> IpcResult<ConnectionInfo> {
    Ok(state.connection().await)
}

/// Mute or unmute what we publish.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn set_muted(state: State<'_, AppState>, audio: bool, video: bool) -> IpcResult<()> {
    state.set_muted(audio, video).await
}

/// Microphones, speakers and cameras.
#[tauri::command]
#[specta::specta]
#[tracing::instrument]
pub async fn list_devices() -> IpcResult<DeviceList> {
    state::list_devices().await
}

/// Choose the device of `kind` (`id` null: the system default); remembered.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn select_device(
    state: State<'_, AppState>,
    kind: DeviceKind,
    id: Option<String>,
) -> IpcResult<()> {
    state.select_device(kind, id).await
}

/// Reconnect now instead of waiting for the next attempt.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn retry_now(state: State<'_, AppState>) -> IpcResult<()> {
    state.retry_now().await
}

/// Write the session timeline and the recent log to a file; returns its path.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn export_diagnostics(state: State<'_, AppState>) -> IpcResult<String> {
    state
        .export_diagnostics()
        .await
        .map(|p| p.display().to_string())
}

/// Every `tether-event` of this run so far, oldest first: for a UI that
/// (re)loads after events were sent, e.g. after a deep link at start-up.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn get_timeline(state: State<'_, AppState>) -> IpcResult<Vec<Record>> {
    Ok(state.timeline())
}

/// The invitation (deep link) waiting for the user's answer, if any: for a UI
/// that loads after the link arrived.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn get_invite(state: State<'_, AppState>) -> IpcResult<Option<Invite>> {
    Ok(state.invite())
}

/// Answer invitation `id`: `accept` joins its channel (leaving the current
/// one), else it is dropped; `NO_INVITE` when it is no longer pending.
/// Returns what the join did (null when declined or already there).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn answer_invite(
    state: State<'_, AppState>,
    id: u32,
    accept: bool,
) -> IpcResult<Option<JoinResult>> {
    state.answer_invite(id, accept).await
}

/// The settings.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn get_settings(state: State<'_, AppState>) -> IpcResult<Settings> {
    Ok(state.settings().get())
}

/// Validate and store the settings; returns them as stored.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state))]
pub async fn set_settings(state: State<'_, AppState>, settings: Settings) -> IpcResult<Settings> {
    state.settings().set(settings)
}

/// Open the binary video stream (docs/ipc.md "Video"): every decoded remote
/// frame, at most 15 per second per peer, and the local preview (self-view,
/// flag `FLAG_PREVIEW`, 15 per second while the camera is on), each as ONE
/// raw message (16-byte header + RGBA; `crate::video`). Raw bytes have no specta type, so this command is
/// outside the generated bindings; `ui/src/api.ts` calls it by name with a
/// `Channel<ArrayBuffer>`.
#[tauri::command]
#[tracing::instrument(skip(state, on_frame))]
pub fn open_video(
    state: State<'_, AppState>,
    on_frame: Channel<InvokeResponseBody>,
) -> IpcResult<()> {
    state.open_video(Arc::new(move |msg| {
        on_frame.send(InvokeResponseBody::Raw(msg)).is_ok()
    }));
    Ok(())
}
