//! Harness for Tether's end-to-end tests: real `tether-server` and `tether`
//! binaries, real sockets, and real network faults inside Linux network
//! namespaces.
//!
//! - [`server::Server`] starts a channel server and waits (with a deadline) for
//!   its `listening on ws://…` line.
//! - [`client::Client`] starts `tether join` (optionally inside a network
//!   namespace) and collects its JSON event lines on a background thread;
//!   [`client::Client::wait_for`] waits for a matching event with a deadline and
//!   fails with every event seen so far.
//! - [`netns::NetFixture`] builds a server namespace and a client namespace
//!   joined by a veth pair, and injects faults: a silent cut (nftables drop, no
//!   OS-visible change), link down/up (an OS-visible change), and random
//!   loss (nftables `numgen`, counting what it dropped).
//! - [`media`] reads `media-stats` and `volume-indicator` lines: frame
//!   continuity of the stamped synthetic video, decoded-frame ratios, levels,
//!   percentiles, and waiting for decoding to make progress.
//! - [`slots::media_slot`] limits how many media-heavy scenarios run at once
//!   (a cross-process `flock`), so that they measure media, not a starved CPU.
//! - [`states::check_transitions`] checks a client's `connection-state-change`
//!   events against the legal transitions of SPEC §2.
//!
//! Everything is torn down on drop (processes killed, namespaces deleted), also
//! when a test panics; the logs of a failed test are printed and kept under
//! `target/tether-test-logs/`.
//!
//! Binaries are taken from the target directory this test binary runs from
//! (`target/debug/tether`, `target/debug/tether-server`); build them first with
//! `cargo build -p tether-server -p tether-cli` (scripts/test.sh does).

pub mod bins;
pub mod chaos;
pub mod client;
pub mod env;
pub mod events;
pub mod measure;
pub mod media;
pub mod netns;
pub mod pair;
pub mod process;
pub mod scenario;
pub mod server;
pub mod slots;
pub mod states;

pub use client::{Client, JoinOpts};
pub use env::{is_ci, require_netns};
pub use events::{Event, EventLog};
pub use measure::measure;
pub use netns::{LossCounters, LossDirection, NetFixture};
pub use pair::{NetPair, Side};
pub use scenario::Scenario;
pub use server::{Auth, Server, ServerOpts};
pub use slots::media_slot;
pub use states::check_transitions;

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
