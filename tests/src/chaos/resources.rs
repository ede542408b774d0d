//! A process's open file descriptors and resident memory, from `/proc`.

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Entries in `/proc/PID/fd`.
    pub fds: usize,
    /// `VmRSS` from `/proc/PID/status`, in KiB.
    pub rss_kib: u64,
}

/// Reads `pid`'s usage; `None` if the process is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(Usage { fds, rss_kib })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_usage() {
        let u = super::usage(std::process::id()).expect("own /proc entry");
        assert!(u.fds >= 3 && u.rss_kib > 0, "{u:?}");
    }
}
