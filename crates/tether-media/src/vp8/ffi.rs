//! The only unsafe code in the crate: a thin wrapper over libvpx's VP8 encoder and decoder
//! (`libvpx-native-sys` bindings). Everything here is `pub(super)`; `super` exposes the safe API.
//!
//! Invariants kept by this module:
//! - every `vpx_codec_ctx_t` and the encoder's `vpx_codec_enc_cfg_t` live in a `Box`, so their
//!   addresses never change between init and destroy (libvpx keeps a pointer to the config);
//! - a context is destroyed exactly once, in `Drop`, and only if its init succeeded;
//! - every pointer libvpx hands back (packets, images) is read before the next call on that context.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::{c_int, c_uint};

use vpx_sys as sys;

use crate::error::{MediaError, MediaResult};
use crate::frame::VideoFrame;

/// Rate-control buffer fullness (%) below which frames are dropped, when dropping is on.
const DROP_FRAME_THRESHOLD: c_uint = 30;

/// The RTP clock rate, used as the encoder's timebase.
const TIMEBASE_HZ: i64 = 90_000;

/// What the safe layer asks the raw encoder for.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawEncoderSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub cpu_used: i32,
    pub threads: u32,
    pub keyframe_interval: u32,
}

/// One compressed frame out of libvpx.
pub(super) struct RawPacket {
    pub data: Vec<u8>,
    pub is_keyframe: bool,
}

fn err_text(err: sys::vpx_codec_err_t) -> String {
    // SAFETY: vpx_codec_err_to_string returns a pointer to a static NUL-terminated string for every
    // value, including unknown ones.
    let ptr = unsafe { sys::vpx_codec_err_to_string(err) };
    if ptr.is_null() {
        return format!("{err:?}");
    }
    // SAFETY: non-null and NUL-terminated, static lifetime (see above).
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

fn ctx_error(
    ctx: &mut sys::vpx_codec_ctx_t,
    op: &'static str,
    err: sys::vpx_codec_err_t,
) -> MediaError {
    let mut message = err_text(err);
    // SAFETY: ctx is an initialised context; the detail string, when non-null, is NUL-terminated and
    // owned by the context, and we copy it out immediately.
    let detail = unsafe { sys::vpx_codec_error_detail(ctx) };
    if !detail.is_null() {
        // SAFETY: checked non-null above; libvpx guarantees NUL termination.
        let detail = unsafe { CStr::from_ptr(detail) }.to_string_lossy();
        message = format!("{message} ({detail})");
    }
    MediaError::Vpx { op, message }
}

fn check(err: sys::vpx_codec_err_t, op: &'static str) -> MediaResult<()> {
    if err == sys::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(MediaError::Vpx {
            op,
            message: err_text(err),
        })
    }
}

/// A live VP8 encoder context.
pub(super) struct RawEncoder {
    ctx: Box<sys::vpx_codec_ctx_t>,
    cfg: Box<sys::vpx_codec_enc_cfg_t>,
    last_pts: Option<i64>,
    nominal_duration: i64,
}

// SAFETY: a libvpx context has no thread affinity; it must only not be used from two threads at
// once, which `&mut self` on every method guarantees. The boxed config is owned by this value.
unsafe impl Send for RawEncoder {}

impl RawEncoder {
    pub(super) fn new(s: &RawEncoderSettings) -> MediaResult<RawEncoder> {
        let mut cfg: Box<sys::vpx_codec_enc_cfg_t> = Box::default();
        // SAFETY: vpx_codec_vp8_cx returns a pointer to a static interface table; cfg points to a
        // writable, properly aligned config struct that libvpx fills in.
        let err =
            unsafe { sys::vpx_codec_enc_config_default(sys::vpx_codec_vp8_cx(), &mut *cfg, 0) };
        check(err, "enc_config_default")?;
        cfg.g_w = s.width;
        cfg.g_h = s.height;
        cfg.g_timebase.num = 1;
        cfg.g_timebase.den = TIMEBASE_HZ as c_int;
        cfg.g_threads = s.threads.clamp(1, 8);
        cfg.g_lag_in_frames = 0;
        cfg.g_error_resilient = sys::VPX_ERROR_RESILIENT_DEFAULT as sys::vpx_codec_er_flags_t;
        cfg.g_pass = sys::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = sys::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = s.bitrate_kbps;
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        if s.keyframe_interval == 0 {
            cfg.kf_mode = sys::vpx_kf_mode::VPX_KF_DISABLED;
        } else {
            cfg.kf_mode = sys::vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_max_dist = s.keyframe_interval;
        }

        let mut ctx: Box<sys::vpx_codec_ctx_t> = Box::default();
        // SAFETY: ctx and cfg are boxed (stable addresses) and outlive the context; the interface
        // pointer is static; the ABI version is the one the bindings were generated for.
        let err = unsafe {
            sys::vpx_codec_enc_init_ver(
                &mut *ctx,
                sys::vpx_codec_vp8_cx(),
                &*cfg,
                0,
                sys::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        // On failure libvpx has already torn the context down, so there is nothing to destroy.
        check(err, "enc_init")?;
        let mut enc = RawEncoder {
            ctx,
            cfg,
            last_pts: None,
            nominal_duration: TIMEBASE_HZ / i64::from(s.fps.max(1)),
        };
        let controls = [
            (
                sys::vp8e_enc_control_id::VP8E_SET_CPUUSED,
                s.cpu_used.clamp(-16, 16),
            ),
            (sys::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0),
            (sys::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1),
            (sys::vp8e_enc_control_id::VP8E_SET_TOKEN_PARTITIONS, 0),
            // Cap keyframes at 9× an average frame so they do not burst the link (as WebRTC does).
            (
                sys::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
                900,
            ),
        ];
        for (id, value) in controls {
            // SAFETY: the context is initialised; every control above takes one `int` argument,
            // which is what the variadic call passes.
            let err =
                unsafe { sys::vpx_codec_control_(&mut *enc.ctx, id as c_int, value as c_int) };
            if err != sys::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(ctx_error(&mut enc.ctx, "control", err));
            }
        }
        Ok(enc)
    }

    pub(super) fn set_bitrate(&mut self, kbps: u32) -> MediaResult<()> {
        self.cfg.rc_target_bitrate = kbps as c_uint;
        self.apply_config()
    }

    /// Frame dropping: libvpx skips frames when its rate-control buffer falls below
    /// `DROP_FRAME_THRESHOLD` % full, so a target the picture cannot meet at full frame rate is
    /// met at a lower one.
    pub(super) fn set_frame_dropping(&mut self, on: bool) -> MediaResult<()> {
        self.cfg.rc_dropframe_thresh = if on { DROP_FRAME_THRESHOLD } else { 0 };
        self.apply_config()
    }

    fn apply_config(&mut self) -> MediaResult<()> {
        // SAFETY: the context is initialised and cfg is the boxed config it was created with.
        let err = unsafe { sys::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        if err != sys::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(ctx_error(&mut self.ctx, "enc_config_set", err));
        }
        Ok(())
    }

    /// Encodes one frame. The caller has checked that the frame's planes match the configured size.
    pub(super) fn encode(
        &mut self,
        frame: &VideoFrame,
        capture_us: u64,
        force_keyframe: bool,
    ) -> MediaResult<Vec<RawPacket>> {
        if frame.width != self.cfg.g_w || frame.height != self.cfg.g_h || frame.validate().is_err()
        {
            return Err(MediaError::InvalidInput(format!(
                "frame {}x{} does not match encoder {}x{}",
                frame.width, frame.height, self.cfg.g_w, self.cfg.g_h
            )));
        }
        // Presentation time in the 90 kHz timebase, strictly increasing whatever the caller passes.
        let wanted = i64::try_from(capture_us / 1000 * 90 + capture_us % 1000 * 90 / 1000)
            .unwrap_or(i64::MAX / 2);
        let (pts, duration) = match self.last_pts {
            Some(last) if wanted <= last => (last + self.nominal_duration, self.nominal_duration),
            Some(last) => (wanted, (wanted - last).min(TIMEBASE_HZ)),
            None => (wanted, self.nominal_duration),
        };
        self.last_pts = Some(pts);

        let mut img: sys::vpx_image_t = Default::default();
        // SAFETY: img is a valid, writable image struct; the data pointer is the luma plane, which
        // libvpx only records (it never writes through an image passed to the encoder). The chroma
        // plane pointers and strides are overwritten right after with our separate planes.
        let wrapped = unsafe {
            sys::vpx_img_wrap(
                &mut img,
                sys::vpx_img_fmt::VPX_IMG_FMT_I420,
                frame.width,
                frame.height,
                1,
                frame.y.as_ptr().cast_mut(),
            )
        };
        if wrapped.is_null() {
            return Err(MediaError::Vpx {
                op: "img_wrap",
                message: "could not wrap the frame".into(),
            });
        }
        img.planes[1] = frame.u.as_ptr().cast_mut();
        img.planes[2] = frame.v.as_ptr().cast_mut();
        img.stride[0] = frame.width as c_int;
        img.stride[1] = frame.chroma_width() as c_int;
        img.stride[2] = frame.chroma_width() as c_int;

        let flags = if force_keyframe {
            sys::VPX_EFLAG_FORCE_KF
        } else {
            0
        };
        // SAFETY: the context is initialised; img describes three planes that `frame` keeps alive and
        // unaliased for the duration of this call (validated sizes); libvpx copies what it needs.
        let err = unsafe {
            sys::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                duration as _,
                flags as _,
                sys::VPX_DL_REALTIME as _,
            )
        };
        if err != sys::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(ctx_error(&mut self.ctx, "encode", err));
        }

        let mut packets = Vec::new();
        let mut iter: sys::vpx_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: the context is initialised and iter is the iterator libvpx hands back to us.
            let pkt = unsafe { sys::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: non-null packets point into the context and stay valid until the next call on it.
            let pkt = unsafe { &*pkt };
            if pkt.kind != sys::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: for a frame packet the `frame` member of the union is the active one.
            let f = unsafe { pkt.data.frame };
            if f.buf.is_null() || f.sz == 0 {
                continue;
            }
            // SAFETY: buf points to `sz` initialised bytes owned by the context (see above).
            let data = unsafe { std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz as usize) };
            packets.push(RawPacket {
                data: data.to_vec(),
                is_keyframe: f.flags & sys::VPX_FRAME_IS_KEY != 0,
            });
        }
        Ok(packets)
    }
}

impl Drop for RawEncoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` (we never build a RawEncoder otherwise) and is
        // destroyed only here, once.
        unsafe { sys::vpx_codec_destroy(&mut *self.ctx) };
    }
}

/// A decoded picture copied out of libvpx into tightly packed planes.
pub(super) struct RawPicture {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    pub corrupted: bool,
}

/// A live VP8 decoder context.
pub(super) struct RawDecoder {
    ctx: Box<sys::vpx_codec_ctx_t>,
}

// SAFETY: as for RawEncoder: no thread affinity, and `&mut self` prevents concurrent use.
unsafe impl Send for RawDecoder {}

impl RawDecoder {
    pub(super) fn new(threads: u32) -> MediaResult<RawDecoder> {
        let mut ctx: Box<sys::vpx_codec_ctx_t> = Box::default();
        let cfg = sys::vpx_codec_dec_cfg_t {
            threads: threads.clamp(1, 8),
            w: 0,
            h: 0,
        };
        // SAFETY: ctx is boxed and writable; cfg is only read during init; the interface is static.
        let err = unsafe {
            sys::vpx_codec_dec_init_ver(
                &mut *ctx,
                sys::vpx_codec_vp8_dx(),
                &cfg,
                0,
                sys::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        check(err, "dec_init")?;
        Ok(RawDecoder { ctx })
    }

    /// Decodes one compressed frame; returns the picture it produced, if any.
    pub(super) fn decode(&mut self, data: &[u8]) -> MediaResult<Option<RawPicture>> {
        let len = c_uint::try_from(data.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                MediaError::InvalidInput(format!("vp8 packet of {} bytes", data.len()))
            })?;
        // SAFETY: the context is initialised; data points to `len` readable bytes for the call.
        let err = unsafe {
            sys::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, std::ptr::null_mut(), 0)
        };
        if err != sys::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(ctx_error(&mut self.ctx, "decode", err));
        }
        let mut corrupted: c_int = 0;
        // SAFETY: VP8D_GET_FRAME_CORRUPTED takes one `int *`, which points to a live local.
        let err = unsafe {
            sys::vpx_codec_control_(
                &mut *self.ctx,
                sys::vp8_dec_control_id::VP8D_GET_FRAME_CORRUPTED as c_int,
                &mut corrupted as *mut c_int,
            )
        };
        let corrupted = err == sys::vpx_codec_err_t::VPX_CODEC_OK && corrupted != 0;

        let mut picture = None;
        let mut iter: sys::vpx_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: the context is initialised and iter is ours.
            let img = unsafe { sys::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: non-null images are owned by the context and valid until the next decode call.
            let img = unsafe { &*img };
            picture = copy_image(img).map(|(width, height, y, u, v)| RawPicture {
                width,
                height,
                y,
                u,
                v,
                corrupted,
            });
        }
        Ok(picture)
    }
}

impl Drop for RawDecoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here, once.
        unsafe { sys::vpx_codec_destroy(&mut *self.ctx) };
    }
}

type Planes = (u32, u32, Vec<u8>, Vec<u8>, Vec<u8>);

/// Copies an I420 image out of libvpx's (strided, padded) buffers.
fn copy_image(img: &sys::vpx_image_t) -> Option<Planes> {
    if img.fmt != sys::vpx_img_fmt::VPX_IMG_FMT_I420 || img.d_w == 0 || img.d_h == 0 {
        return None;
    }
    let (w, h) = (img.d_w as usize, img.d_h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let plane = |i: usize, pw: usize, ph: usize| -> Option<Vec<u8>> {
        let stride = usize::try_from(img.stride[i]).ok().filter(|&s| s >= pw)?;
        let base = img.planes[i];
        if base.is_null() {
            return None;
        }
        let mut out = Vec::with_capacity(pw * ph);
        for row in 0..ph {
            // SAFETY: libvpx guarantees each plane holds `ph` rows of `stride` bytes, each with at
            // least `pw` visible pixels (stride >= pw checked above); the image outlives this call.
            let line = unsafe { std::slice::from_raw_parts(base.add(row * stride), pw) };
            out.extend_from_slice(line);
        }
        Some(out)
    };
    Some((
        img.d_w,
        img.d_h,
        plane(0, w, h)?,
        plane(1, cw, ch)?,
        plane(2, cw, ch)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SyntheticVideo;

    fn settings() -> RawEncoderSettings {
        RawEncoderSettings {
            width: 320,
            height: 180,
            fps: 30,
            bitrate_kbps: 400,
            cpu_used: -6,
            threads: 1,
            keyframe_interval: 0,
        }
    }

    #[test]
    fn encoder_and_decoder_init_and_drop() {
        drop(RawEncoder::new(&settings()).unwrap());
        drop(RawDecoder::new(1).unwrap());
    }

    #[test]
    fn bad_encoder_settings_fail_cleanly() {
        let mut s = settings();
        s.width = 0;
        assert!(matches!(RawEncoder::new(&s), Err(MediaError::Vpx { .. })));
    }

    #[test]
    fn encode_decode_and_forced_keyframe() {
        let mut enc = RawEncoder::new(&settings()).unwrap();
        let mut dec = RawDecoder::new(1).unwrap();
        let mut src = SyntheticVideo::new(320, 180);
        for i in 0..10u64 {
            let frame = src.next_frame(i * 33_333);
            let packets = enc.encode(&frame, frame.capture_us, i == 5).unwrap();
            assert_eq!(packets.len(), 1);
            assert_eq!(packets[0].is_keyframe, i == 0 || i == 5, "frame {i}");
            let pic = dec.decode(&packets[0].data).unwrap().unwrap();
            assert_eq!((pic.width, pic.height), (320, 180));
            assert_eq!(pic.y.len(), 320 * 180);
            assert_eq!(pic.u.len(), 160 * 90);
            assert!(!pic.corrupted);
        }
        enc.set_bitrate(200).unwrap();
        // Same timestamp twice still encodes (pts is forced forward).
        let frame = src.next_frame(0);
        assert_eq!(enc.encode(&frame, 0, false).unwrap().len(), 1);
    }

    #[test]
    fn wrong_size_and_garbage_are_errors() {
        let mut enc = RawEncoder::new(&settings()).unwrap();
        let frame = VideoFrame::filled(640, 360, 16, 128, 128);
        assert!(matches!(
            enc.encode(&frame, 0, false),
            Err(MediaError::InvalidInput(_))
        ));
        let mut dec = RawDecoder::new(1).unwrap();
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(&[0x55; 40]).is_err());
        assert!(dec.decode(&[0x00, 0x01, 0x02]).is_err());
    }
}
