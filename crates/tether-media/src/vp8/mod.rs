//! VP8 encoder and decoder (libvpx), configured for real-time conferencing.

mod ffi;

use crate::error::{MediaError, MediaResult};
use crate::frame::VideoFrame;
use ffi::{RawDecoder, RawEncoder, RawEncoderSettings};

/// Lowest bitrate [`Vp8Encoder::set_bitrate`] accepts, in kbps.
pub const MIN_VIDEO_KBPS: u32 = 30;
/// Highest bitrate [`Vp8Encoder::set_bitrate`] accepts, in kbps.
pub const MAX_VIDEO_KBPS: u32 = 20_000;

/// Encoder settings. The default is 640×360 at 30 fps, 800 kbps, speed 6 (`cpu_used = -6`, as WebRTC
/// uses for this size on desktops), one thread, a periodic keyframe every 10 s plus any requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp8Config {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Nominal frame rate (used when timestamps do not advance).
    pub fps: u32,
    /// Target bitrate in kbps (CBR).
    pub bitrate_kbps: u32,
    /// libvpx real-time speed: −16 (slowest) … 16; negative = fixed speed, as WebRTC uses.
    pub cpu_used: i32,
    /// Encoder threads.
    pub threads: u32,
    /// Frames between automatic keyframes; 0 means only on request (and the first frame).
    pub keyframe_interval: u32,
}

impl Default for Vp8Config {
    fn default() -> Self {
        Vp8Config {
            width: 640,
            height: 360,
            fps: 30,
            bitrate_kbps: 800,
            cpu_used: -6,
            threads: 1,
            keyframe_interval: 300,
        }
    }
}

/// One compressed VP8 frame, ready to packetize into RTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    /// The VP8 frame (what goes into the RTP VP8 payload after the payload descriptor).
    pub data: Vec<u8>,
    /// Whether this is a keyframe (decodable on its own).
    pub is_keyframe: bool,
    /// `frame_no` of the source frame.
    pub frame_no: u64,
    /// `capture_us` of the source frame.
    pub capture_us: u64,
}

/// Real-time VP8 encoder: CBR, no lookahead, no frame dropping, error-resilient mode, keyframes on
/// demand.
pub struct Vp8Encoder {
    raw: RawEncoder,
    config: Vp8Config,
    keyframe_requested: bool,
    frame_dropping: bool,
}

impl std::fmt::Debug for Vp8Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Vp8Encoder {
    /// Creates an encoder. Fails with `InvalidInput` on a zero or odd-sized frame or zero fps.
    pub fn new(config: Vp8Config) -> MediaResult<Vp8Encoder> {
        if config.width == 0
            || config.height == 0
            || config.width % 2 != 0
            || config.height % 2 != 0
        {
            return Err(MediaError::InvalidInput(format!(
                "vp8 frame size {}x{} must be non-zero and even",
                config.width, config.height
            )));
        }
        if config.fps == 0 {
            return Err(MediaError::InvalidInput("vp8 fps must be non-zero".into()));
        }
        let config = Vp8Config {
            bitrate_kbps: config.bitrate_kbps.clamp(MIN_VIDEO_KBPS, MAX_VIDEO_KBPS),
            ..config
        };
        let raw = RawEncoder::new(&RawEncoderSettings {
            width: config.width,
            height: config.height,
            fps: config.fps,
            bitrate_kbps: config.bitrate_kbps,
            cpu_used: config.cpu_used,
            threads: config.threads,
            keyframe_interval: config.keyframe_interval,
        })?;
        Ok(Vp8Encoder {
            raw,
            config,
            keyframe_requested: false,
            frame_dropping: false,
        })
    }

    /// The settings in force (bitrate reflects the last [`Vp8Encoder::set_bitrate`]).
    pub fn config(&self) -> &Vp8Config {
        &self.config
    }

    /// Makes the next encoded frame a keyframe (on a PLI/FIR from a subscriber).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Changes the target bitrate (kbps, clamped to [`MIN_VIDEO_KBPS`]..=[`MAX_VIDEO_KBPS`]); takes
    /// effect from the next frame.
    pub fn set_bitrate(&mut self, kbps: u32) -> MediaResult<()> {
        let kbps = kbps.clamp(MIN_VIDEO_KBPS, MAX_VIDEO_KBPS);
        if kbps != self.config.bitrate_kbps {
            self.raw.set_bitrate(kbps)?;
            self.config.bitrate_kbps = kbps;
        }
        Ok(())
    }

    /// Lets the encoder drop frames to meet its target (off by default: every frame is encoded,
    /// overshooting a target the picture cannot meet at full frame rate). See
    /// [`crate::drops_frames`].
    pub fn set_frame_dropping(&mut self, on: bool) -> MediaResult<()> {
        if on != self.frame_dropping {
            self.raw.set_frame_dropping(on)?;
            self.frame_dropping = on;
        }
        Ok(())
    }

    /// Encodes one frame of the configured size. Returns the compressed frames produced (one per
    /// input with these settings). The frame's `capture_us` drives rate control timing.
    pub fn encode(&mut self, frame: &VideoFrame) -> MediaResult<Vec<EncodedVideo>> {
        let force = std::mem::take(&mut self.keyframe_requested);
        let packets = match self.raw.encode(frame, frame.capture_us, force) {
            Ok(p) => p,
            Err(e) => {
                self.keyframe_requested |= force;
                return Err(e);
            }
        };
        Ok(packets
            .into_iter()
            .map(|p| EncodedVideo {
                data: p.data,
                is_keyframe: p.is_keyframe,
                frame_no: frame.frame_no,
                capture_us: frame.capture_us,
            })
            .collect())
    }
}

/// A decoded VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedVideo {
    /// The picture; `frame_no` counts decoded frames from 0, `capture_us` is what the caller passed.
    pub frame: VideoFrame,
    /// Whether the compressed frame was a keyframe.
    pub is_keyframe: bool,
    /// libvpx flagged the picture as corrupted: ask the sender for a keyframe. Rarely set for a
    /// plain missing frame (see [`Vp8Decoder::mark_loss`]).
    pub corrupted: bool,
}

/// VP8 decoder. Until the first keyframe (and after an error or [`Vp8Decoder::mark_loss`]) it skips
/// delta frames and [`Vp8Decoder::needs_keyframe`] is true: the client then sends a PLI.
pub struct Vp8Decoder {
    raw: RawDecoder,
    decoded: u64,
    awaiting_keyframe: bool,
}

impl std::fmt::Debug for Vp8Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Decoder")
            .field("decoded", &self.decoded)
            .field("awaiting_keyframe", &self.awaiting_keyframe)
            .finish_non_exhaustive()
    }
}

impl Vp8Decoder {
    /// A single-threaded decoder.
    pub fn new() -> MediaResult<Vp8Decoder> {
        Ok(Vp8Decoder {
            raw: RawDecoder::new(1)?,
            decoded: 0,
            awaiting_keyframe: true,
        })
    }

    /// Whether the decoder is waiting for a keyframe (delta frames are being skipped).
    pub fn needs_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Tells the decoder a frame was lost for good (an RTP gap NACK did not fill): delta frames are
    /// skipped until the next keyframe, which the client asks for with a PLI. Call it: libvpx does
    /// not notice a missing frame by itself — measured with the synthetic pattern, the 4 frames
    /// after one lost delta frame decoded without error and without the corrupted flag, but with
    /// wrong pixels (their stamps failed the checksum), before the picture healed.
    pub fn mark_loss(&mut self) {
        self.awaiting_keyframe = true;
    }

    /// Decodes one complete VP8 frame (reassembled from RTP). `Ok(None)` when the frame was skipped
    /// (waiting for a keyframe) or produced no picture; an error on a broken frame, after which the
    /// decoder waits for a keyframe.
    ///
    /// A keyframe larger than [`MAX_DECODED_WIDTH`] × [`MAX_DECODED_HEIGHT`] (or
    /// [`MAX_DECODED_PIXELS`]) is refused from its header, before libvpx allocates anything, with
    /// [`MediaError::FrameTooLarge`]: a hostile peer's 16383x16383 keyframe would otherwise cost
    /// ~400 MB of I420 and ~1 GiB of RGBA per frame.
    pub fn decode(&mut self, data: &[u8], capture_us: u64) -> MediaResult<Option<DecodedVideo>> {
        let is_keyframe = is_vp8_keyframe(data);
        if self.awaiting_keyframe && !is_keyframe {
            return Ok(None);
        }
        if let Some((width, height)) = vp8_keyframe_size(data) {
            if !fits(width, height) {
                self.awaiting_keyframe = true;
                return Err(MediaError::FrameTooLarge { width, height });
            }
        }
        let picture = match self.raw.decode(data) {
            Ok(p) => p,
            Err(e) => {
                self.awaiting_keyframe = true;
                return Err(e);
            }
        };
        let Some(p) = picture else {
            return Ok(None);
        };
        self.awaiting_keyframe = false;
        let frame = VideoFrame {
            width: p.width,
            height: p.height,
            y: p.y,
            u: p.u,
            v: p.v,
            frame_no: self.decoded,
            capture_us,
        };
        self.decoded += 1;
        Ok(Some(DecodedVideo {
            frame,
            is_keyframe,
            corrupted: p.corrupted,
        }))
    }
}

/// Widest picture a receiver decodes (a 1080p screen share fits, portrait or landscape).
pub const MAX_DECODED_WIDTH: u32 = 1920;
/// Tallest picture a receiver decodes.
pub const MAX_DECODED_HEIGHT: u32 = 1920;
/// Most pixels a receiver decodes: 1920x1088 (1080p rounded up to whole macroblocks), ~3 MB of
/// I420 and ~8 MB of RGBA per frame.
pub const MAX_DECODED_PIXELS: u32 = 1920 * 1088;

fn fits(width: u32, height: u32) -> bool {
    width <= MAX_DECODED_WIDTH
        && height <= MAX_DECODED_HEIGHT
        && width * height <= MAX_DECODED_PIXELS
}

/// The picture size a VP8 keyframe declares (RFC 6386 §9.1: 14-bit width and height after the
/// start code; the top two bits are upscaling hints, ignored), `None` for anything else.
pub fn vp8_keyframe_size(data: &[u8]) -> Option<(u32, u32)> {
    if !is_vp8_keyframe(data) {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff);
    Some((width, height))
}

/// Whether a VP8 frame (RTP payload after the VP8 payload descriptor) is a keyframe: the frame tag's
/// P bit is 0 and the keyframe start code `9d 01 2a` follows (RFC 6386 §9.1).
pub fn is_vp8_keyframe(data: &[u8]) -> bool {
    data.len() >= 10 && data[0] & 1 == 0 && data[3..6] == [0x9d, 0x01, 0x2a]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::read_stamp;
    use crate::synth::SyntheticVideo;

    #[test]
    fn invalid_configs_are_rejected() {
        for (w, h, fps) in [(0, 360, 30), (641, 360, 30), (640, 360, 0)] {
            let c = Vp8Config {
                width: w,
                height: h,
                fps,
                ..Vp8Config::default()
            };
            assert!(matches!(
                Vp8Encoder::new(c),
                Err(MediaError::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn stamps_survive_vp8_at_default_bitrate() {
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut src = SyntheticVideo::default();
        let mut bytes = 0;
        for i in 0..150u64 {
            let capture_us = 1_700_000_000_000_000 + i * 33_333;
            let frame = src.next_frame(capture_us);
            if i == 90 {
                enc.request_keyframe();
            }
            let out = enc.encode(&frame).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].is_keyframe, i == 0 || i == 90, "frame {i}");
            assert_eq!(is_vp8_keyframe(&out[0].data), out[0].is_keyframe);
            bytes += out[0].data.len();
            let d = dec.decode(&out[0].data, 7).unwrap().unwrap();
            assert_eq!(d.frame.frame_no, i);
            assert_eq!(d.frame.capture_us, 7);
            assert_eq!(read_stamp(&d.frame), Some((i, capture_us)), "frame {i}");
        }
        // Rate control keeps the average near the 800 kbps target (30 fps → ~3.3 KB/frame).
        let avg = bytes / 150;
        assert!(avg > 1000 && avg < 6000, "avg {avg} bytes");
    }

    #[test]
    fn stamps_survive_at_minimum_policy_bitrate() {
        let mut enc = Vp8Encoder::new(Vp8Config {
            bitrate_kbps: 150,
            ..Vp8Config::default()
        })
        .unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut src = SyntheticVideo::default();
        let mut read = 0;
        for i in 0..120u64 {
            let frame = src.next_frame(i * 33_333);
            for p in enc.encode(&frame).unwrap() {
                let d = dec.decode(&p.data, 0).unwrap().unwrap();
                if read_stamp(&d.frame) == Some((i, i * 33_333)) {
                    read += 1;
                }
            }
        }
        assert!(read >= 118, "{read}/120 stamps read at 150 kbps");
    }

    #[test]
    fn bitrate_changes_take_effect() {
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let mut src = SyntheticVideo::default();
        let mut size = |enc: &mut Vp8Encoder| -> usize {
            (0..60)
                .map(|i| {
                    let f = src.next_frame(i * 33_333);
                    enc.encode(&f)
                        .unwrap()
                        .iter()
                        .map(|p| p.data.len())
                        .sum::<usize>()
                })
                .sum()
        };
        enc.set_bitrate(1500).unwrap();
        let high = size(&mut enc);
        enc.set_bitrate(150).unwrap();
        assert_eq!(enc.config().bitrate_kbps, 150);
        size(&mut enc); // let the rate controller settle
        let low = size(&mut enc);
        assert!(low * 3 < high, "low {low} high {high}");
        enc.set_bitrate(0).unwrap();
        assert_eq!(enc.config().bitrate_kbps, MIN_VIDEO_KBPS);
    }

    #[test]
    fn oversized_keyframes_are_refused_before_decoding() {
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut src = SyntheticVideo::default();
        let key = enc.encode(&src.next_frame(0)).unwrap().remove(0).data;
        assert_eq!(vp8_keyframe_size(&key), Some((640, 360)));
        // The same keyframe claiming 16383x16383 (what libvpx would allocate ~1.2 GB of
        // pictures for): refused from the header.
        let mut huge = key.clone();
        huge[6..10].copy_from_slice(&[0xff, 0x3f, 0xff, 0x3f]);
        assert_eq!(vp8_keyframe_size(&huge), Some((16383, 16383)));
        let err = dec.decode(&huge, 0).unwrap_err();
        assert!(matches!(
            err,
            MediaError::FrameTooLarge {
                width: 16383,
                height: 16383
            }
        ));
        assert_eq!(err.code(), "MEDIA_FRAME_TOO_LARGE");
        assert!(dec.needs_keyframe());
        // Within the bounds of each side but too many pixels: refused too.
        let mut square = key.clone();
        square[6..10].copy_from_slice(&1920u16.to_le_bytes().repeat(2));
        assert!(matches!(
            dec.decode(&square, 0),
            Err(MediaError::FrameTooLarge { .. })
        ));
        // The genuine keyframe still decodes.
        assert!(dec.decode(&key, 0).unwrap().is_some());
        assert!(fits(1920, 1080) && fits(1080, 1920) && !fits(1921, 100));
    }

    #[test]
    fn decoder_waits_for_keyframe_after_loss() {
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut src = SyntheticVideo::default();
        let mut packets = Vec::new();
        for i in 0..6 {
            packets.push(enc.encode(&src.next_frame(i * 33_333)).unwrap().remove(0));
        }
        // Delta frames before any keyframe are skipped.
        assert!(dec.needs_keyframe());
        assert_eq!(dec.decode(&packets[1].data, 0).unwrap(), None);
        assert!(dec.decode(&packets[0].data, 0).unwrap().is_some());
        assert!(!dec.needs_keyframe());
        dec.mark_loss();
        assert_eq!(dec.decode(&packets[3].data, 0).unwrap(), None);
        enc.request_keyframe();
        let key = enc.encode(&src.next_frame(1_000_000)).unwrap().remove(0);
        assert!(key.is_keyframe);
        let d = dec.decode(&key.data, 0).unwrap().unwrap();
        assert!(d.is_keyframe && !dec.needs_keyframe());
        assert_eq!(read_stamp(&d.frame), Some((6, 1_000_000)));
    }

    #[test]
    fn garbage_keyframe_is_an_error_then_recovers() {
        let mut dec = Vp8Decoder::new().unwrap();
        let mut fake = vec![0u8; 64];
        fake[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        assert!(dec.decode(&fake, 0).is_err() || dec.needs_keyframe());
        assert_eq!(dec.decode(&[], 0).unwrap(), None);
        assert!(!is_vp8_keyframe(&[]));
    }

    /// Below what the picture needs at full frame rate, frame dropping meets the target by
    /// encoding fewer frames; without it the encoder overshoots with every frame encoded.
    #[test]
    fn frame_dropping_meets_a_low_target() {
        let run = |dropping: bool| {
            let mut enc = Vp8Encoder::new(Vp8Config {
                bitrate_kbps: 60,
                ..Vp8Config::default()
            })
            .unwrap();
            enc.set_frame_dropping(dropping).unwrap();
            let mut src = crate::SyntheticVideo::new(640, 360);
            let (mut bytes, mut frames) = (0usize, 0usize);
            for i in 0..150u64 {
                for e in enc.encode(&src.next_frame(i * 33_333)).unwrap() {
                    bytes += e.data.len();
                    frames += 1;
                }
            }
            (bytes * 8 / 5 / 1000, frames)
        };
        let (kbps_all, frames_all) = run(false);
        let (kbps_drop, frames_drop) = run(true);
        println!("60 kbps target: {kbps_all} kbps / {frames_all} frames without dropping, {kbps_drop} kbps / {frames_drop} frames with");
        assert_eq!(frames_all, 150);
        assert!(kbps_all > 150, "{kbps_all}");
        assert!(
            kbps_drop < 100 && frames_drop < 120 && frames_drop > 10,
            "{kbps_drop} kbps, {frames_drop} frames"
        );
    }
}
