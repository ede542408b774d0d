//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in the media pipeline.
///
/// [`MediaError::code`] gives a stable upper-case code the client puts in `exception {code, message}`;
/// the `Display` text is the message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// No device of the requested kind exists (or the named one is gone).
    #[error("no {kind} device{}", .name.as_deref().map(|n| format!(" named {n:?}")).unwrap_or_default())]
    NoDevice {
        /// "microphone", "speaker" or "camera".
        kind: &'static str,
        /// The device the caller asked for, if any.
        name: Option<String>,
    },
    /// The device exists but could not be opened or started.
    #[error("{kind} device failed: {message}")]
    Device {
        /// "microphone", "speaker" or "camera".
        kind: &'static str,
        /// What the platform backend said.
        message: String,
    },
    /// The device offers no format we can convert from.
    #[error("{kind} device has no usable format: {message}")]
    UnsupportedFormat {
        /// "microphone", "speaker" or "camera".
        kind: &'static str,
        /// What was offered.
        message: String,
    },
    /// A frame or parameter did not have the expected shape (wrong sample count, plane sizes, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A received keyframe declares a picture larger than the receiver decodes.
    #[error("video frame {width}x{height} is larger than the {max_w}x{max_h} ({max_px} pixels) this client decodes; dropped",
        max_w = crate::MAX_DECODED_WIDTH, max_h = crate::MAX_DECODED_HEIGHT, max_px = crate::MAX_DECODED_PIXELS)]
    FrameTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// libopus reported an error.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// libvpx reported an error.
    #[error("vp8 {op}: {message}")]
    Vpx {
        /// The libvpx call that failed.
        op: &'static str,
        /// libvpx's error text.
        message: String,
    },
}

impl MediaError {
    /// Stable machine-readable code for `exception {code, message}`.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::NoDevice { .. } => "MEDIA_NO_DEVICE",
            MediaError::Device { .. } => "MEDIA_DEVICE_FAILED",
            MediaError::UnsupportedFormat { .. } => "MEDIA_UNSUPPORTED_FORMAT",
            MediaError::InvalidInput(_) => "MEDIA_INVALID_INPUT",
            MediaError::FrameTooLarge { .. } => "MEDIA_FRAME_TOO_LARGE",
            MediaError::Opus(_) => "MEDIA_AUDIO_CODEC",
            MediaError::Vpx { .. } => "MEDIA_VIDEO_CODEC",
        }
    }
}

/// Result alias for this crate.
pub type MediaResult<T> = Result<T, MediaError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let e = MediaError::NoDevice {
            kind: "camera",
            name: None,
        };
        assert_eq!(e.code(), "MEDIA_NO_DEVICE");
        assert_eq!(e.to_string(), "no camera device");
        let e = MediaError::NoDevice {
            kind: "microphone",
            name: Some("USB".into()),
        };
        assert_eq!(e.to_string(), "no microphone device named \"USB\"");
    }
}
