//! The media pipeline around the WebRTC module: raw frames from a source are
//! encoded and written into the published tracks (`send`), and received
//! encoded frames are decoded, measured and played (`recv`). Both run on
//! their own threads: encoding and decoding are CPU work that must not stall
//! the actor or the runtime.

mod quality;
mod recv;
mod send;

pub use quality::network_quality;
pub(crate) use recv::{RecvInput, RecvPipeline};
pub(crate) use send::{Report, SendPipeline};

/// Where published media comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishSource {
    /// A tone and a moving, stamped test pattern (every frame carries its
    /// number and capture time, so receivers can measure continuity and
    /// end-to-end latency).
    Synthetic,
    /// The microphone and camera.
    Devices {
        /// Microphone id from `list_devices` (`None`: the default one).
        audio_input: Option<String>,
        /// Camera id from `list_devices` (`None`: the first one).
        video_input: Option<String>,
        /// Use the synthetic source when a device is missing.
        fallback_synthetic: bool,
    },
}

/// Microseconds since the Unix epoch: the capture clock for stamps, shared
/// by every process on a machine (so e2e latency can be measured).
pub(crate) fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
