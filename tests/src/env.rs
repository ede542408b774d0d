//! Whether the environment can run namespace tests, and what to do if not.

use crate::bins::find_tool;

/// True when running under CI (`CI=true` or `CI=1`).
pub fn is_ci() -> bool {
    matches!(
        std::env::var("CI")
            .ok()
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("true" | "1" | "yes")
    )
}

/// Why network-namespace tests cannot run here, if they cannot.
pub fn netns_unavailable_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not running as root".into());
    }
    for tool in ["ip", "nft"] {
        if find_tool(tool).is_none() {
            return Some(format!(
                "`{tool}` is not installed (scripts/setup.sh installs iproute2 and nftables)"
            ));
        }
    }
    None
}

/// Call at the start of a test that needs root and network namespaces.
/// Returns true when the test can run. Otherwise: under CI it panics with a
/// clear message (such tests never skip silently in CI); elsewhere it prints a
/// clear skip message and returns false, and the test should return.
#[track_caller]
pub fn require_netns(test: &str) -> bool {
    match netns_unavailable_reason() {
        None => true,
        Some(reason) if is_ci() => panic!(
            "{test}: this test needs root, `ip` and `nft` to build network namespaces, but {reason}. \
             Under CI=true it fails instead of skipping: run scripts/setup.sh and the tests as root."
        ),
        Some(reason) => {
            println!("SKIP {test}: needs root, `ip` and `nft` for network namespaces, but {reason}");
            eprintln!("SKIP {test}: needs root, `ip` and `nft` for network namespaces, but {reason}");
            false
        }
    }
}
