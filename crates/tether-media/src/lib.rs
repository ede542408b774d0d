//! Tether's media pipeline (WIP docs).

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
mod synth;
mod vp8;

pub use audio_codec::{OpusDecoder, OpusEncoder, DEFAULT_OPUS_BITRATE};
pub use audio_io::{AudioPlayback, MicCapture};
pub use bitrate::{next_bitrate, POLICY_MAX_KBPS, POLICY_MIN_KBPS};
pub use camera::{CameraCapture, CameraConfig};
pub use convert::rgb_to_i420;
pub use devices::{list_devices, DeviceInfo, Devices};
pub use error::{MediaError, MediaResult};
pub use frame::{AudioFrame, VideoFrame, FRAME_DURATION_US, SAMPLES_PER_FRAME, SAMPLE_RATE};
pub use jitter::{AudioJitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use level::level;
pub use stamp::read_stamp;
pub use synth::{SyntheticAudio, SyntheticVideo};
pub use vp8::{
    is_vp8_keyframe, DecodedVideo, EncodedVideo, Vp8Config, Vp8Decoder, Vp8Encoder, MAX_VIDEO_KBPS,
    MIN_VIDEO_KBPS,
};
