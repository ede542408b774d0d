//! Locating the binaries under test.

use std::path::{Path, PathBuf};

/// The directory holding the workspace's binaries for the profile this test
/// binary was built with (`target/debug`). Test binaries live in
/// `target/debug/deps/`. `TETHER_BIN_DIR` overrides it.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TETHER_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("cannot find the path of the test binary");
    let mut dir = exe
        .parent()
        .expect("the test binary has no parent directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// The path of a workspace binary; panics with a clear message when it is
/// missing.
#[track_caller]
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.is_file() {
        panic!(
            "binary `{name}` not found at {}: build it first with \
             `cargo build -p tether-server -p tether-cli` (scripts/test.sh does), \
             or set TETHER_BIN_DIR",
            path.display()
        );
    }
    path
}

/// `target/debug/tether-server`.
#[track_caller]
pub fn server_bin() -> PathBuf {
    bin("tether-server")
}

/// `target/debug/tether`.
#[track_caller]
pub fn client_bin() -> PathBuf {
    bin("tether")
}

/// The target directory (`target/`), for logs.
pub fn target_dir() -> PathBuf {
    let dir = bin_dir();
    dir.parent().map(Path::to_path_buf).unwrap_or(dir)
}

/// Finds an executable in PATH or the sbin directories (which a non-root PATH
/// may lack).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}
