//! The IPC shapes (commands' arguments and results, the event), exported to
//! `ui/src/bindings.ts`. docs/ipc.md describes them for people.

use serde::{Deserialize, Serialize};
use specta::Type;
use tauri_specta::Event;

use tether_client::{ConnectionState, Record};

/// What `join` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct JoinResult {
    /// The channel.
    pub channel: String,
    /// Our uid in it.
    pub uid: u32,
    /// The server URL actually used (the built-in one when none was given).
    pub server: String,
}

/// `get_connection_state`: the state, and the channel while in one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// The client's state.
    pub state: ConnectionState,
    /// The channel, unless `DISCONNECTED`.
    pub channel: Option<String>,
    /// Our uid, unless `DISCONNECTED`.
    pub uid: Option<u32>,
    /// The server URL, unless `DISCONNECTED`.
    pub server: Option<String>,
}

/// A capture or playback device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Stable id to pass to `select_device`.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// The system's default of its kind.
    pub is_default: bool,
}

/// Every device `list_devices` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    /// Microphones.
    pub audio_inputs: Vec<Device>,
    /// Speakers and headphones.
    pub audio_outputs: Vec<Device>,
    /// Cameras.
    pub video_inputs: Vec<Device>,
}

/// Which device `select_device` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub enum DeviceKind {
    /// Microphone.
    AudioInput,
    /// Speaker or headphones.
    AudioOutput,
    /// Camera.
    VideoInput,
}

/// Every client event, as it happens: the Tauri event `tether-event` whose
/// payload is exactly the CLI's JSON line.
#[derive(Debug, Clone, Serialize, Type, Event)]
#[tauri_specta(event_name = "tether-event")]
pub struct TetherEvent(pub Record);

/// An invitation (deep link) waiting for the user's answer: nothing is
/// captured, sent or connected until `answer_invite` accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    /// Pass to `answer_invite`; a newer link replaces this one.
    pub id: u32,
    /// The channel the link names.
    pub channel: String,
    /// The server the link names; null = the configured server, else the
    /// built-in one.
    pub server: Option<String>,
    /// The link names a server other than the configured one: camera and
    /// microphone would go to a server the user never chose.
    pub foreign_server: bool,
    /// The name the call would use (the link's, else the remembered one);
    /// never stored.
    pub name: String,
    /// The link carries a join token.
    pub has_token: bool,
    /// The channel that accepting leaves, when in a call.
    pub leaves: Option<String>,
}

/// The pending invitation changed: `tether-invite`, null once answered.
#[derive(Debug, Clone, Serialize, Type, Event)]
#[tauri_specta(event_name = "tether-invite")]
pub struct TetherInvite(pub Option<Invite>);
