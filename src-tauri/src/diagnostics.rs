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

/// A server URL as a report shows it: without userinfo (`user:pass@`),
/// query or fragment, which can carry credentials.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (authority_path, cut) = (&rest[..end], end < rest.len());
    let slash = authority_path.find('/').unwrap_or(authority_path.len());
    let (authority, path) = authority_path.split_at(slash);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hidden_user = host.len() < authority.len();
    let mut out = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    if hidden_user {
        out.push_str("<redacted>@");
    }
    out.push_str(host);
    out.push_str(path);
    if cut {
        out.push_str("?<redacted>");
    }
    out
}

impl Diagnostics {
    /// Write the report under `data_dir/diagnostics/` (atomically, 0600);
    /// return its path. Server URLs lose userinfo and query first.
    pub(crate) fn write(mut self, data_dir: &Path) -> IpcResult<PathBuf> {
        self.connection.server = self.connection.server.as_deref().map(redact_url);
        self.settings.server = self.settings.server.as_deref().map(redact_url);
        let bytes = serde_json::to_vec_pretty(&self)
            .map_err(|e| IpcError::new(ErrorCode::Internal, e.to_string()))?;
        let path = data_dir
            .join("diagnostics")
            .join(format!("tether-diagnostics-{}.json", self.exported_at));
        crate::settings::write_atomic(&path, &bytes)?;
        info!(path = %path.display(), records = self.timeline.len(), "diagnostics exported");
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(redact_url("ws://10.0.0.5:7800"), "ws://10.0.0.5:7800");
        assert_eq!(redact_url("ws://h:1/path"), "ws://h:1/path");
        assert_eq!(
            redact_url("ws://ann:s3cret@h:1/p?token=abc#x"),
            "ws://<redacted>@h:1/p?<redacted>"
        );
        assert_eq!(
            redact_url("ws://a@b@h/?t=1"),
            "ws://<redacted>@h/?<redacted>"
        );
    }
}
