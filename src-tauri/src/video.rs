//! The binary video frame of docs/ipc.md "Video": a 16-byte little-endian
//! header `uid: u32, width: u16, height: u16, frameNo: u32, flags: u32`
//! followed by `width * height * 4` RGBA bytes (ui/src/video/frame.ts
//! decodes it). Remote frames carry the publisher's uid and flags 0; the
//! local preview (self-view) carries the local uid and [`FLAG_PREVIEW`].

use tether_client::RgbaFrame;

/// Header bytes before the RGBA pixels.
pub const HEADER_BYTES: usize = 16;
/// At most this many frames per second per peer (and of the preview) reach the UI.
pub const MAX_FPS: u32 = 15;
/// Header flag: the local preview (the frames we publish, before encoding).
pub const FLAG_PREVIEW: u32 = 1;

/// Sends one encoded frame to the UI; `false` when the receiver is gone.
pub type VideoOut = std::sync::Arc<dyn Fn(Vec<u8>) -> bool + Send + Sync>;

/// One frame as its IPC message, or `None` for a frame the header cannot
/// describe (a side over 65535 pixels, or pixels that do not match the size).
pub fn encode_frame(frame: &RgbaFrame) -> Option<Vec<u8>> {
    encode(frame, frame.uid, 0)
}

/// A local preview frame as its IPC message: tagged with the local `uid`
/// and [`FLAG_PREVIEW`]; `None` as for [`encode_frame`].
pub fn encode_preview(frame: &RgbaFrame, uid: u32) -> Option<Vec<u8>> {
    encode(frame, uid, FLAG_PREVIEW)
}

fn encode(frame: &RgbaFrame, uid: u32, flags: u32) -> Option<Vec<u8>> {
    let width = u16::try_from(frame.width).ok()?;
    let height = u16::try_from(frame.height).ok()?;
    if width == 0 || height == 0 || frame.rgba.len() != usize::from(width) * usize::from(height) * 4
    {
        return None;
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + frame.rgba.len());
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    // The counter wraps in the header (2^32 frames is years of video).
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(frame.frame_no as u32).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&frame.rgba);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_ui_decoder() {
        let frame = RgbaFrame {
            uid: 0x0102_0304,
            width: 3,
            height: 2,
            frame_no: (1 << 32) + 7,
            rgba: (0..24).collect(),
        };
        let msg = encode_frame(&frame).expect("encodable");
        assert_eq!(msg.len(), HEADER_BYTES + 24);
        assert_eq!(&msg[0..4], &[4, 3, 2, 1]);
        assert_eq!(&msg[4..6], &[3, 0]);
        assert_eq!(&msg[6..8], &[2, 0]);
        assert_eq!(&msg[8..12], &[7, 0, 0, 0]);
        assert_eq!(&msg[12..16], &[0, 0, 0, 0]);
        assert_eq!(&msg[16..], &frame.rgba[..]);
    }

    #[test]
    fn preview_frames_carry_the_local_uid_and_the_flag() {
        let frame = RgbaFrame {
            uid: tether_client::PREVIEW_UID,
            width: 1,
            height: 1,
            frame_no: 9,
            rgba: vec![1, 2, 3, 255],
        };
        let msg = encode_preview(&frame, 0x0A0B_0C0D).expect("encodable");
        assert_eq!(&msg[0..4], &[0x0D, 0x0C, 0x0B, 0x0A]);
        assert_eq!(&msg[8..12], &[9, 0, 0, 0]);
        assert_eq!(&msg[12..16], &[1, 0, 0, 0]);
        assert_eq!(&msg[16..], &[1, 2, 3, 255]);
        // Remote frames keep flags 0.
        assert_eq!(&encode_frame(&frame).expect("encodable")[12..16], &[0; 4]);
    }

    #[test]
    fn frames_the_header_cannot_carry_are_dropped() {
        let mut frame = RgbaFrame {
            uid: 1,
            width: 70_000,
            height: 1,
            frame_no: 0,
            rgba: vec![0; 70_000 * 4],
        };
        assert!(encode_frame(&frame).is_none());
        frame.width = 2;
        assert!(
            encode_frame(&frame).is_none(),
            "pixels do not match the size"
        );
        frame.width = 0;
        frame.rgba.clear();
        assert!(encode_frame(&frame).is_none());
    }
}
