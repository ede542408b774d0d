//! Tauri's build step. The app manifest lists the app's own commands, so each
//! one gets an `allow-<command>` permission and a command is callable only when
//! a capability (capabilities/*.json) grants it.

const COMMANDS: &[&str] = &[
    "join",
    "leave",
    "get_connection_state",
    "set_muted",
    "list_devices",
    "select_device",
    "retry_now",
    "export_diagnostics",
    "get_timeline",
    "get_settings",
    "set_settings",
    "get_invite",
    "answer_invite",
    "open_video",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
