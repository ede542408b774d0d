//! The "Export diagnostics" report: what the app is, its connection, settings,
//! the timeline and the tail of the log, written as one JSON file.

use std::path::{Path, PathBuf};

use serde::Serialize;
use tether_client::Record;
use tracing::info;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::types::ConnectionInfo;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppInfo {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) os: &'static str,
    pub(crate) arch: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Diagnostics {
    pub(crate) app: AppInfo,
    pub(crate) started_at: u64,
    pub(crate) exported_at: u64,
    pub(crate) connection: ConnectionInfo,
    pub(crate) embedded_server: String,
    pub(crate) settings: crate::settings::Settings,
    /// `(audio, video)` as last asked through `set_muted`.
    pub(crate) requested_mute: (bool, bool),
    pub(crate) timeline: Vec<Record>,
    pub(crate) timeline_dropped: u64,
    pub(crate) log_file: Option<String>,
    pub(crate) log_tail: Vec<String>,
}

impl AppInfo {
    /// This build of the app on this machine.
    pub(crate) fn this() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }
}

impl Diagnostics {
    /// Write the report under `data_dir/diagnostics/` (atomically); return its path.
    pub(crate) fn write(&self, data_dir: &Path) -> IpcResult<PathBuf> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
        let path = data_dir
            .join("diagnostics")
            .join(format!("tether-diagnostics-{}.json", self.exported_at));
        crate::settings::write_atomic(&path, &bytes)?;
        info!(path = %path.display(), records = self.timeline.len(), "diagnostics exported");
        Ok(path)
    }
}
