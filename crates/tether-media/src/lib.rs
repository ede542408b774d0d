//! Tether's media pipeline: sources, codecs, jitter buffer and sinks. It depends on nothing else of
//! ours, on no async runtime and on no WebRTC stack: `tether-client` feeds RTP payloads in and takes
//! encoded frames out, and owns all timers and sockets.
//!
//! # Pieces
//! | concern | API |
//! |---|---|
//! | raw frames | [`AudioFrame`] (20 ms, 48 kHz mono `i16`), [`VideoFrame`] (I420) |
//! | synthetic sources | [`SyntheticAudio`] (chirp, −12 dBFS peak), [`SyntheticVideo`] (moving pattern with [`read_stamp`]-able frame number and capture time) |
//! | audio codec | [`OpusEncoder`] / [`OpusDecoder`]: 20 ms, in-band FEC, settable expected loss, FEC and PLC decode |
//! | video codec | [`Vp8Encoder`] / [`Vp8Decoder`]: real-time CBR, error resilient, [`Vp8Encoder::request_keyframe`], [`Vp8Encoder::set_bitrate`] |
//! | congestion | [`next_bitrate`]: loss/RTT → next video target in [60, 1500] kbps (below 150 only after an overload) |
//! | receive audio | [`AudioJitterBuffer`] → [`Playout`] → [`Playout::render`]; [`level`] / [`LevelMeter`] for `volume-indicator` |
//! | receive video | [`VideoReceiveStats`]: frames decoded, fps, missing frame numbers, e2e latency from stamps |
//! | devices | [`list_devices`], [`MicCapture`], [`AudioPlayback`], [`CameraCapture`] (feature `camera`) |
//!
//! Time is always passed in (`capture_us`, `now_us`): nothing here reads a clock except
//! [`CameraCapture`], which calls the clock function it is given.
//!
//! # Send and receive
//! ```
//! use tether_media::*;
//!
//! # fn main() -> Result<(), MediaError> {
//! // Video: synthetic frame → VP8 → (RTP) → VP8 → stamp read back.
//! let mut source = SyntheticVideo::default();
//! let mut encoder = Vp8Encoder::new(Vp8Config::default())?;
//! let mut decoder = Vp8Decoder::new()?;
//! let frame = source.next_frame(1_000_000);
//! for packet in encoder.encode(&frame)? {
//!     if let Some(decoded) = decoder.decode(&packet.data, 0)? {
//!         assert_eq!(read_stamp(&decoded.frame), Some((0, 1_000_000)));
//!     }
//! }
//! // Back off when RTCP reports 20 % loss.
//! encoder.set_bitrate(next_bitrate(encoder.config().bitrate_kbps, 0.2, 60))?;
//!
//! // Audio: tone → Opus → jitter buffer → playout.
//! let mut tone = SyntheticAudio::default();
//! let mut opus = OpusEncoder::new()?;
//! let mut jitter = AudioJitterBuffer::default();
//! let mut opus_dec = OpusDecoder::new()?;
//! for seq in 0..5u16 {
//!     let now_us = u64::from(seq) * FRAME_DURATION_US;
//!     let payload = opus.encode(&tone.next_frame(now_us).samples)?;
//!     jitter.push(seq, u32::from(seq) * 960, payload, now_us);
//!     let samples = jitter.pop(now_us).render(&mut opus_dec);
//!     assert_eq!(samples.len(), SAMPLES_PER_FRAME);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Chosen crates, and why
//! - **`opus` 0.4.0** (safe wrapper; `opusic-sys` builds the bundled libopus 1.6.1 with cmake). The
//!   same libopus on Linux, macOS and Windows straight from crates.io, with no system library to
//!   match; it exposes everything we need (in-band FEC, expected loss, FEC decode, PLC). Needs
//!   `cmake` and a C compiler. (`opus` 0.3 links the system libopus instead: one more thing to
//!   install on macOS and Windows.)
//! - **`libvpx-native-sys` 5.0.17** (raw libvpx bindings) for VP8. It links the platform's libvpx
//!   (pkg-config: `apt install libvpx-dev`, `brew install libvpx`; Windows: vcpkg's libvpx with
//!   `VPX_LIB_DIR`, `VPX_VERSION` and optionally `VPX_STATIC=1`) and ships bindings for libvpx
//!   1.5–1.17, picking the closest for other versions. `env-libvpx-sys` 5.1.3 (measured in
//!   TOOLCHAIN.md) is the same bindings but stops at libvpx 1.13 and fails the build on 1.14+
//!   (Ubuntu 24.04, Homebrew) unless bindgen is enabled. No safe wrapper fits: `vpx-encode` 0.6 is
//!   encoder-only, with no keyframe request and no bitrate change; `vpx` 0.3 is unmaintained and
//!   does not build from the registry. So the crate wraps libvpx itself in `vp8::ffi`, the only
//!   module allowed `unsafe` (the crate denies it everywhere else), every block with a `SAFETY`
//!   comment, unit-tested on its own. VP8 rather than H.264: `openh264` builds OpenH264 from
//!   source, which Cisco's patent licence does not cover; VP8 is mandatory-to-implement in WebRTC.
//! - **`cpal` 0.18.2** for microphones and speakers (ALSA/PulseAudio/PipeWire, CoreAudio, WASAPI);
//!   the current release. It enumerates ALSA's `null` PCM even without a sound card, and its
//!   `default_*_device()` returns "default" with no card: [`list_devices`] lists neither, and
//!   opening without a named device fails with `NoDevice` unless a real device enumerates.
//! - **`nokhwa` 0.10.11** for cameras, with the native backend per OS (`input-v4l`,
//!   `input-avfoundation`, `input-msmf`), behind the default `camera` feature. On Linux it needs
//!   `clang`/`libclang-dev` at build time (bindgen over the V4L2 headers). Without the feature the
//!   crate still builds; cameras are then never listed and opening one is `NoDevice`.
//!
//! Debian/Ubuntu packages (in `scripts/setup.sh`): `cmake libvpx-dev libasound2-dev clang
//! libclang-dev pkg-config`.
//!
//! # Threads
//! Codecs, jitter buffer and sources are plain values (`Send`), driven by the caller. Device
//! streams run on their own threads (cpal streams are not `Send` everywhere) and deliver through
//! callbacks; dropping a [`MicCapture`], [`AudioPlayback`] or [`CameraCapture`] stops it.
//!
//! # Measured (2-core Debian 12 VM, shared with other builds; `examples/bench_codecs.rs`)
//! Synthetic 640×360 pattern, 30 fps, 300 frames per run, libvpx 1.12 (distro build, so the codec
//! cost is the same in debug and release builds of this crate):
//!
//! | build | target kbps | cpu_used | encode ms/frame (p95) | decode ms/frame (p95) | delta B/frame (kbps) | keyframe B | stamps read |
//! |---|---|---|---|---|---|---|---|
//! | debug | 150 | −6 | 2.2 (5.8) | 1.3 (4.2) | 1024 (245) | 3535 | 300/300 |
//! | debug | 800 | −6 | 2.7 (6.1) | 1.2 (2.7) | 3288 (789) | 6395 | 300/300 |
//! | debug | 1500 | −6 | 2.2 (5.8) | 1.1 (2.7) | 4980 (1195) | 7677 | 300/300 |
//! | release | 150 | −6 | 1.7 (5.4) | 1.0 (4.7) | 1024 (245) | 3535 | 300/300 |
//! | release | 800 | −6 | 2.2 (5.7) | 1.0 (4.8) | 3288 (789) | 6395 | 300/300 |
//! | release | 1500 | −6 | 2.4 (6.2) | 1.2 (4.9) | 4980 (1195) | 7677 | 300/300 |
//! | release | 800 | −4 | 4.5 (11.4) | 1.1 (4.8) | 3289 (789) | 6395 | 300/300 |
//! | release | 800 | −12 | 1.5 (2.2) | 0.7 (1.0) | 3324 (797) | 6395 | 300/300 |
//!
//! Opus 20 ms mono at 32 kbps with FEC: encode ≈0.23 ms, decode ≈0.02 ms, ≈69 bytes per packet.
//! Generating one synthetic 640×360 frame: ≈4.3 ms debug; reading its stamp ≈0.2 ms debug.
//! The synthetic pattern is busy (full-frame motion): at a 150 kbps target the encoder cannot go
//! below ≈245 kbps without dropping frames, which we never do (frame continuity is measured).
//!
//! # The stamp
//! [`SyntheticVideo`] writes 160 bits into a band of 16×16 luma blocks (at 640 wide) at the top
//! of each frame: frame number (64), capture time in µs (64) and a CRC-32 (32). Blocks are black or
//! white and read by averaging their interior, so they survive VP8 at every bitrate measured above;
//! [`read_stamp`] returns `None` for frames without a valid stamp (camera frames, corruption).

// In unit tests a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod audio_codec;
mod audio_io;
mod bitrate;
mod camera;
mod convert;
mod devices;
mod error;
mod frame;
mod jitter;
mod level;
mod resample;
mod stamp;
mod stats;
mod synth;
mod vp8;

pub use audio_codec::{OpusDecoder, OpusEncoder, DEFAULT_OPUS_BITRATE};
pub use audio_io::{AudioPlayback, MicCapture};
pub use bitrate::{
    drops_frames, next_bitrate, OVERLOAD_MIN_KBPS, POLICY_MAX_KBPS, POLICY_MIN_KBPS,
};
pub use camera::{CameraCapture, CameraConfig};
pub use convert::{i420_to_rgba, rgb_to_i420};
pub use devices::{list_devices, DeviceInfo, Devices};
pub use error::{MediaError, MediaResult};
pub use frame::{AudioFrame, VideoFrame, FRAME_DURATION_US, SAMPLES_PER_FRAME, SAMPLE_RATE};
pub use jitter::{AudioJitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use level::{level, LevelMeter, LEVEL_FLOOR_DBFS};
pub use stamp::{read_stamp, write_stamp};
pub use stats::{VideoReceiveStats, VideoStatsSnapshot};
pub use synth::{SyntheticAudio, SyntheticVideo};
pub use vp8::{
    is_vp8_keyframe, vp8_keyframe_size, DecodedVideo, EncodedVideo, Vp8Config, Vp8Decoder,
    Vp8Encoder, MAX_DECODED_HEIGHT, MAX_DECODED_PIXELS, MAX_DECODED_WIDTH, MAX_VIDEO_KBPS,
    MIN_VIDEO_KBPS,
};
