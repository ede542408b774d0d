//! Raw media frames: 20 ms mono 48 kHz PCM and I420 video.

use crate::error::{MediaError, MediaResult};

/// Audio sample rate used everywhere in the pipeline.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms mono frame at 48 kHz.
pub const SAMPLES_PER_FRAME: usize = 960;
/// Duration of one audio frame in microseconds.
pub const FRAME_DURATION_US: u64 = 20_000;

/// One 20 ms frame of mono 48 kHz 16-bit PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Exactly [`SAMPLES_PER_FRAME`] samples for frames produced by this crate.
    pub samples: Vec<i16>,
    /// Capture time of the first sample, in the caller's microsecond clock.
    pub capture_us: u64,
}

/// One video frame in I420 (YUV 4:2:0 planar, BT.601 limited range), tightly packed planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Width in pixels (even for frames produced by this crate).
    pub width: u32,
    /// Height in pixels (even for frames produced by this crate).
    pub height: u32,
    /// Luma plane, `width * height` bytes, row stride `width`.
    pub y: Vec<u8>,
    /// Cb plane, `chroma_width * chroma_height` bytes.
    pub u: Vec<u8>,
    /// Cr plane, same size as `u`.
    pub v: Vec<u8>,
    /// Sequence number assigned by the producer (source or decoder).
    pub frame_no: u64,
    /// Capture time in the producer's microsecond clock (for decoded frames: what the caller passed).
    pub capture_us: u64,
}

impl VideoFrame {
    /// Width of the chroma planes.
    pub fn chroma_width(&self) -> usize {
        (self.width as usize).div_ceil(2)
    }

    /// Height of the chroma planes.
    pub fn chroma_height(&self) -> usize {
        (self.height as usize).div_ceil(2)
    }

    /// A frame filled with one colour.
    pub fn filled(width: u32, height: u32, y: u8, u: u8, v: u8) -> VideoFrame {
        let luma = width as usize * height as usize;
        let chroma = (width as usize).div_ceil(2) * (height as usize).div_ceil(2);
        VideoFrame {
            width,
            height,
            y: vec![y; luma],
            u: vec![u; chroma],
            v: vec![v; chroma],
            frame_no: 0,
            capture_us: 0,
        }
    }

    /// Checks that the plane sizes match the dimensions.
    pub fn validate(&self) -> MediaResult<()> {
        if self.width == 0 || self.height == 0 {
            return Err(MediaError::InvalidInput(format!(
                "video frame {}x{} is empty",
                self.width, self.height
            )));
        }
        let luma = self.width as usize * self.height as usize;
        let chroma = self.chroma_width() * self.chroma_height();
        if self.y.len() != luma || self.u.len() != chroma || self.v.len() != chroma {
            return Err(MediaError::InvalidInput(format!(
                "video frame {}x{} has planes of {}/{}/{} bytes, expected {luma}/{chroma}/{chroma}",
                self.width,
                self.height,
                self.y.len(),
                self.u.len(),
                self.v.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_frame_is_valid() {
        let f = VideoFrame::filled(641, 361, 16, 128, 128);
        assert_eq!(f.u.len(), 321 * 181);
        f.validate().unwrap();
    }

    #[test]
    fn bad_planes_are_rejected() {
        let mut f = VideoFrame::filled(64, 36, 16, 128, 128);
        f.u.pop();
        assert!(matches!(f.validate(), Err(MediaError::InvalidInput(_))));
        let f = VideoFrame::filled(0, 36, 16, 128, 128);
        assert!(f.validate().is_err());
    }
}
