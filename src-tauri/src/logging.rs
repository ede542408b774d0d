//! Logs: `tracing` to a daily-rotated file in the app's log folder (the last
//! [`KEEP_FILES`] kept), and to stderr in debug builds or with
//! `TETHER_LOG_STDERR=1`. `RUST_LOG` sets the filter (default `info`).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Log files are `tether.YYYY-MM-DD.log`.
pub const FILE_PREFIX: &str = "tether";
/// Suffix of log files.
pub const FILE_SUFFIX: &str = "log";
/// Daily files kept.
pub const KEEP_FILES: usize = 7;

/// Keeps the file writer flushing; drop it last.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

/// Install the global subscriber. Without a usable log folder the app logs
/// to stderr only (said on stderr). Calling it twice is harmless.
pub fn init(log_dir: &Path) -> LogGuard {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let appender = fs::create_dir_all(log_dir)
        .and_then(|()| private_dir(log_dir))
        .map_err(|e| e.to_string())
        .and_then(|()| {
            RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix(FILE_PREFIX)
                .filename_suffix(FILE_SUFFIX)
                .max_log_files(KEEP_FILES)
                .build(log_dir)
                .map_err(|e| e.to_string())
        });
    let (file_layer, guard) = match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        Err(e) => {
            eprintln!("tether-app: cannot log to {}: {e}", log_dir.display());
            (None, None)
        }
    };
    let to_stderr = cfg!(debug_assertions)
        || std::env::var("TETHER_LOG_STDERR").is_ok_and(|v| v == "1")
        || file_layer.is_none();
    let stderr_layer = to_stderr.then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    // Err: a subscriber is already installed (tests); keep that one.
    let _already = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    LogGuard { _file: guard }
}

/// Logs name peers' addresses and servers: the folder is the user's only
/// (0700; the appender's files inside are then unreadable to others).
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The newest log file in `log_dir`.
pub fn current_file(log_dir: &Path) -> Option<PathBuf> {
    let entries = fs::read_dir(log_dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(FILE_PREFIX) && name.ends_with(FILE_SUFFIX)
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

/// The last `max_bytes` of `path` as whole lines.
pub fn tail(path: &Path, max_bytes: u64) -> std::io::Result<Vec<String>> {
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if start > 0 && !lines.is_empty() {
        // The first line was cut.
        lines.remove(0);
    }
    Ok(lines)
}
