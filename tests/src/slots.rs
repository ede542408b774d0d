//! Limits how many media-heavy scenarios run at once.
//!
//! nextest runs each test in its own process, several at a time. A scenario
//! that encodes and decodes 640×360 VP8 at 30 fps (debug builds) uses about a
//! third of a core per publisher/subscriber pair; on a 2-core machine a
//! handful of them at once starve each other, and the media timings they
//! measure become the scheduler's. So such scenarios (every
//! [`crate::NetPair`], and the loopback media scenarios) take one of
//! [`MEDIA_SLOTS`] slots first: an exclusive `flock` on one of the files
//! `target/tether-test-logs/.media-slot-N.lock`, released when the returned
//! guard drops (or the process dies).

use std::fs::{File, OpenOptions};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::measure::measure;

/// How many media-heavy scenarios run at once (`TETHER_MEDIA_SLOTS`
/// overrides it).
pub const MEDIA_SLOTS: usize = 2;

/// A held slot; dropping it frees the slot.
pub struct MediaSlot {
    _lock: Flock<File>,
    /// Which slot.
    pub index: usize,
}

/// The 1-minute load average, if readable.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits (at most 10 minutes) for a free media slot and takes it. Prints how
/// long it waited and the machine's load average then, as `MEASURE` lines.
#[track_caller]
pub fn media_slot() -> MediaSlot {
    let slots = std::env::var("TETHER_MEDIA_SLOTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(MEDIA_SLOTS);
    let dir = crate::bins::target_dir().join("tether-test-logs");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let started = Instant::now();
    loop {
        for index in 0..slots {
            let path = dir.join(format!(".media-slot-{index}.lock"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
            if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                measure("media_slot_wait_ms", started.elapsed().as_millis());
                if let Some(load) = load_average() {
                    measure("loadavg_1m", load);
                }
                return MediaSlot { _lock: lock, index };
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no free media slot after 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
