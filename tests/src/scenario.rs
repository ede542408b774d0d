//! Per-test context: a log directory, removed when the test passes and kept
//! (and named) when it fails, or always with `TETHER_KEEP_LOGS=1`.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// One test's context.
pub struct Scenario {
    name: String,
    dir: PathBuf,
    started: Instant,
}

impl Scenario {
    /// Creates `target/tether-test-logs/<name>-<pid>/`.
    pub fn new(name: &str) -> Self {
        crate::events::epoch();
        let base = crate::bins::target_dir().join("tether-test-logs");
        let dir = base.join(format!("{name}-{}", std::process::id()));
        drop(std::fs::remove_dir_all(&dir));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create log dir {}: {e}", dir.display()));
        Self {
            name: name.to_string(),
            dir,
            started: Instant::now(),
        }
    }

    /// The test's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the processes' logs go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file path inside the log directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// When the scenario started.
    pub fn started(&self) -> Instant {
        self.started
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{}: failed after {:.1}s; logs kept in {}",
                self.name,
                self.started.elapsed().as_secs_f64(),
                self.dir.display()
            );
        } else if std::env::var_os("TETHER_KEEP_LOGS").is_some_and(|v| v == "1") {
            eprintln!("{}: logs kept in {}", self.name, self.dir.display());
        } else {
            drop(std::fs::remove_dir_all(&self.dir));
        }
    }
}
