//! Packed RGB → I420 conversion with centre-crop and scaling, for camera frames, and I420 → RGBA
//! for drawing decoded frames.

use crate::frame::VideoFrame;

/// Converts a packed 8-bit RGB image (`src_w * src_h * 3` bytes) to a `dst_w`×`dst_h` I420 frame
/// (BT.601 limited range). The source is centre-cropped to the destination's aspect ratio and
/// scaled by nearest neighbour; chroma is the average of each 2×2 block. Returns `None` when the
/// buffer is shorter than the stated size or a dimension is zero.
pub fn rgb_to_i420(
    rgb: &[u8],
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
) -> Option<VideoFrame> {
    let (sw, sh, dw, dh) = (
        src_w as usize,
        src_h as usize,
        dst_w as usize,
        dst_h as usize,
    );
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 || rgb.len() < sw.checked_mul(sh)?.checked_mul(3)? {
        return None;
    }
    // Crop window with the destination's aspect ratio.
    let (cw, ch) = if sw * dh > sh * dw {
        ((sh * dw / dh).max(1), sh)
    } else {
        (sw, (sw * dh / dw).max(1))
    };
    let (x0, y0) = ((sw - cw) / 2, (sh - ch) / 2);
    let src_x: Vec<usize> = (0..dw).map(|x| x0 + (x * cw / dw).min(cw - 1)).collect();
    let src_y: Vec<usize> = (0..dh).map(|y| y0 + (y * ch / dh).min(ch - 1)).collect();

    let mut frame = VideoFrame::filled(dst_w, dst_h, 16, 128, 128);
    let pixel = |x: usize, y: usize| {
        let i = (src_y[y] * sw + src_x[x]) * 3;
        (
            i32::from(rgb[i]),
            i32::from(rgb[i + 1]),
            i32::from(rgb[i + 2]),
        )
    };
    for y in 0..dh {
        for x in 0..dw {
            let (r, g, b) = pixel(x, y);
            frame.y[y * dw + x] =
                (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).clamp(0, 255) as u8;
        }
    }
    let cw2 = frame.chroma_width();
    for cy in 0..frame.chroma_height() {
        for cx in 0..cw2 {
            let (mut r, mut g, mut b, mut n) = (0, 0, 0, 0);
            for (x, y) in [
                (2 * cx, 2 * cy),
                (2 * cx + 1, 2 * cy),
                (2 * cx, 2 * cy + 1),
                (2 * cx + 1, 2 * cy + 1),
            ] {
                if x < dw && y < dh {
                    let p = pixel(x, y);
                    r += p.0;
                    g += p.1;
                    b += p.2;
                    n += 1;
                }
            }
            let (r, g, b) = (r / n, g / n, b / n);
            frame.u[cy * cw2 + cx] =
                (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
            frame.v[cy * cw2 + cx] =
                (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
        }
    }
    Some(frame)
}

/// Converts an I420 frame (BT.601 limited range) to packed RGBA, alpha 255, `width * height * 4`
/// bytes. Returns `None` when a plane is shorter than the frame's size says.
pub fn i420_to_rgba(frame: &VideoFrame) -> Option<Vec<u8>> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let cw = frame.chroma_width();
    let ch = frame.chroma_height();
    if frame.y.len() < w.checked_mul(h)? || frame.u.len() < cw * ch || frame.v.len() < cw * ch {
        return None;
    }
    let mut out = vec![255u8; w * h * 4];
    for y in 0..h {
        let crow = (y / 2) * cw;
        for x in 0..w {
            let c = 298 * (i32::from(frame.y[y * w + x]) - 16);
            let d = i32::from(frame.u[crow + x / 2]) - 128;
            let e = i32::from(frame.v[crow + x / 2]) - 128;
            let i = (y * w + x) * 4;
            out[i] = ((c + 409 * e + 128) >> 8).clamp(0, 255) as u8;
            out[i + 1] = ((c - 100 * d - 208 * e + 128) >> 8).clamp(0, 255) as u8;
            out[i + 2] = ((c + 516 * d + 128) >> 8).clamp(0, 255) as u8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: usize, h: usize, rgb: [u8; 3]) -> Vec<u8> {
        rgb.iter().copied().cycle().take(w * h * 3).collect()
    }

    #[test]
    fn primary_colours_map_to_bt601() {
        let f = rgb_to_i420(&solid(8, 8, [255, 255, 255]), 8, 8, 8, 8).unwrap();
        assert!(f.y.iter().all(|&y| y == 235) && f.u.iter().all(|&u| u == 128));
        let f = rgb_to_i420(&solid(8, 8, [0, 0, 0]), 8, 8, 4, 4).unwrap();
        assert!(f.y.iter().all(|&y| y == 16));
        let f = rgb_to_i420(&solid(8, 8, [255, 0, 0]), 8, 8, 4, 4).unwrap();
        assert_eq!((f.y[0], f.u[0], f.v[0]), (82, 90, 240));
        f.validate().unwrap();
    }

    #[test]
    fn crops_to_aspect_and_scales() {
        // 4:3 source: red bands in the top and bottom 60 rows, green between. A 16:9 crop of it is
        // the green middle 360 rows.
        let (w, h) = (640usize, 480usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for _ in 0..w {
                rgb.extend_from_slice(if (60..420).contains(&y) {
                    &[0, 255, 0]
                } else {
                    &[255, 0, 0]
                });
            }
        }
        let f = rgb_to_i420(&rgb, 640, 480, 320, 180).unwrap();
        assert_eq!((f.width, f.height), (320, 180));
        // Pure green is Y = 144.
        assert!(f.y.iter().all(|&y| y == 144), "crop kept red edges");
        let f = rgb_to_i420(&rgb, 640, 480, 321, 181).unwrap();
        f.validate().unwrap();
    }

    #[test]
    fn short_buffers_and_zero_sizes_are_none() {
        assert!(rgb_to_i420(&[0; 10], 4, 4, 4, 4).is_none());
        assert!(rgb_to_i420(&[], 0, 4, 4, 4).is_none());
        assert!(rgb_to_i420(&solid(4, 4, [1, 2, 3]), 4, 4, 0, 4).is_none());
        assert!(rgb_to_i420(&[0; 3], u32::MAX, u32::MAX, 4, 4).is_none());
    }

    #[test]
    fn rgba_round_trip_is_close() {
        let (w, h) = (4u32, 2u32);
        // One colour per 2x2 chroma block (left and right halves differ).
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                if i % w < 2 {
                    [200, 40, 90]
                } else {
                    [20, 180, 60]
                }
            })
            .collect();
        let frame = rgb_to_i420(&rgb, w, h, w, h).expect("frame");
        let rgba = i420_to_rgba(&frame).expect("rgba");
        assert_eq!(rgba.len(), (w * h * 4) as usize);
        assert!(rgba.chunks(4).all(|p| p[3] == 255));
        for (i, px) in rgba.chunks(4).enumerate() {
            for c in 0..3 {
                let want = i32::from(rgb[i * 3 + c]);
                assert!((i32::from(px[c]) - want).abs() <= 4, "{i} {c} {px:?}");
            }
        }
        let mut short = frame.clone();
        short.y.truncate(3);
        assert!(i420_to_rgba(&short).is_none());
    }
}
