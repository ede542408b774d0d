//! Frame number and capture timestamp written into the luma plane, readable after lossy coding.
//!
//! Layout: a band at the top of the frame, [`ROWS`] rows of [`COLS`] square blocks, each block one bit
//! (black = 0, white = 1), read by averaging the block's interior. The 160 bits are `frame_no` (64, MSB
//! first), `capture_us` (64) and a CRC-32 of those 16 bytes (32). Blocks are `width / 40` pixels square
//! (16 at 640 wide, so they line up with VP8's 16×16 macroblocks). Chroma under the band is neutral.

use crate::frame::VideoFrame;

/// Blocks per band row.
pub const COLS: u32 = 40;
/// Rows of blocks in the band.
pub const ROWS: u32 = 4;
const BITS: usize = (COLS * ROWS) as usize;
const BLACK: u8 = 16;
const WHITE: u8 = 235;
const THRESHOLD: u32 = (BLACK as u32 + WHITE as u32) / 2;

/// Side of one stamp block for a frame of this width, or `None` if the frame is too small.
pub fn block_size(width: u32, height: u32) -> Option<u32> {
    let block = width / COLS;
    (block >= 4 && height >= block * ROWS).then_some(block)
}

/// Height in pixels of the stamp band for this frame size (0 when no stamp fits).
pub fn band_height(width: u32, height: u32) -> u32 {
    block_size(width, height).map_or(0, |b| b * ROWS)
}

/// Writes `frame_no` and `capture_us` into the top band of `frame`. Does nothing if the frame is too
/// small (narrower than 160 pixels, or too short for the band) or its planes do not match its size.
pub fn write_stamp(frame: &mut VideoFrame, frame_no: u64, capture_us: u64) {
    let Some(block) = block_size(frame.width, frame.height) else {
        return;
    };
    if frame.validate().is_err() {
        return;
    }
    let bits = payload_bits(frame_no, capture_us);
    let width = frame.width as usize;
    let block = block as usize;
    for (i, bit) in bits.iter().enumerate() {
        let (bx, by) = (i % COLS as usize, i / COLS as usize);
        let value = if *bit { WHITE } else { BLACK };
        for row in by * block..(by + 1) * block {
            let start = row * width + bx * block;
            frame.y[start..start + block].fill(value);
        }
    }
    // Neutral chroma under the band, and luma right of the last column.
    let band = block * ROWS as usize;
    for row in 0..band {
        let start = row * width + COLS as usize * block;
        frame.y[start..(row + 1) * width].fill(BLACK);
    }
    let cw = frame.chroma_width();
    let chroma_rows = band.div_ceil(2).min(frame.chroma_height());
    frame.u[..chroma_rows * cw].fill(128);
    frame.v[..chroma_rows * cw].fill(128);
}

/// Reads the stamp written by [`write_stamp`]: `(frame_no, capture_us)`, or `None` if the frame
/// carries no stamp, is too small, or the checksum does not match.
pub fn read_stamp(frame: &VideoFrame) -> Option<(u64, u64)> {
    let block = block_size(frame.width, frame.height)? as usize;
    frame.validate().ok()?;
    let width = frame.width as usize;
    let margin = block / 4;
    let inner = block - 2 * margin;
    let mut bits = [false; BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        let (bx, by) = (i % COLS as usize, i / COLS as usize);
        let mut sum = 0u32;
        for row in by * block + margin..by * block + margin + inner {
            let start = row * width + bx * block + margin;
            sum += frame.y[start..start + inner]
                .iter()
                .map(|&p| u32::from(p))
                .sum::<u32>();
        }
        *bit = sum / (inner * inner) as u32 > THRESHOLD;
    }
    let word = |range: std::ops::Range<usize>| {
        bits[range]
            .iter()
            .fold(0u64, |acc, &b| (acc << 1) | u64::from(b))
    };
    let frame_no = word(0..64);
    let capture_us = word(64..128);
    let crc = word(128..160) as u32;
    (crc == crc32(&payload_bytes(frame_no, capture_us))).then_some((frame_no, capture_us))
}

fn payload_bytes(frame_no: u64, capture_us: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&frame_no.to_be_bytes());
    bytes[8..].copy_from_slice(&capture_us.to_be_bytes());
    bytes
}

fn payload_bits(frame_no: u64, capture_us: u64) -> [bool; BITS] {
    let crc = crc32(&payload_bytes(frame_no, capture_us));
    let mut bits = [false; BITS];
    for i in 0..64 {
        bits[i] = (frame_no >> (63 - i)) & 1 == 1;
        bits[64 + i] = (capture_us >> (63 - i)) & 1 == 1;
    }
    for i in 0..32 {
        bits[128 + i] = (crc >> (31 - i)) & 1 == 1;
    }
    bits
}

/// CRC-32 (IEEE 802.3, reflected, as in zlib), bitwise: 16 bytes per frame need no table.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip_raw() {
        for (w, h) in [(640, 360), (320, 180), (1280, 720), (161, 100)] {
            let mut f = VideoFrame::filled(w, h, 128, 128, 128);
            write_stamp(&mut f, 123_456_789, u64::MAX - 7);
            assert_eq!(read_stamp(&f), Some((123_456_789, u64::MAX - 7)), "{w}x{h}");
        }
    }

    #[test]
    fn unstamped_frames_read_none() {
        for y in [0, 16, 128, 235, 255] {
            assert_eq!(read_stamp(&VideoFrame::filled(640, 360, y, 128, 128)), None);
        }
        assert_eq!(
            read_stamp(&VideoFrame::filled(100, 100, 16, 128, 128)),
            None
        );
    }

    #[test]
    fn a_flipped_block_is_detected() {
        let mut f = VideoFrame::filled(640, 360, 128, 128, 128);
        write_stamp(&mut f, 42, 1_000_000);
        // Invert the block holding bit 63 (lowest bit of frame_no).
        let (bx, by) = (63 % 40, 63 / 40);
        for row in by * 16..(by + 1) * 16 {
            for x in bx * 16..(bx + 1) * 16 {
                f.y[row * 640 + x] = 251 - f.y[row * 640 + x];
            }
        }
        assert_eq!(read_stamp(&f), None);
    }

    #[test]
    fn noise_below_threshold_is_tolerated() {
        let mut f = VideoFrame::filled(640, 360, 128, 128, 128);
        write_stamp(&mut f, 7, 99);
        for (i, p) in f.y.iter_mut().enumerate() {
            let noise = (i * 2_654_435_761 % 61) as i32 - 30;
            *p = (i32::from(*p) + noise).clamp(0, 255) as u8;
        }
        assert_eq!(read_stamp(&f), Some((7, 99)));
    }

    #[test]
    fn too_small_frames_are_left_alone() {
        let mut f = VideoFrame::filled(120, 60, 1, 2, 3);
        let before = f.clone();
        write_stamp(&mut f, 1, 2);
        assert_eq!(f, before);
    }
}
