//! Prints codec costs on this machine: VP8 encode/decode ms per 640×360 frame and bytes per frame
//! at several bitrates and speeds, stamp survival, and Opus encode/decode per 20 ms frame.
//!
//! `cargo run -p tether-media --release --example bench_codecs` (or without `--release` for debug
//! numbers). Optional argument: frames per VP8 run (default 300 = 10 s of video).

use std::time::{Duration, Instant};

use tether_media::{
    read_stamp, OpusDecoder, OpusEncoder, SyntheticAudio, SyntheticVideo, Vp8Config, Vp8Decoder,
    Vp8Encoder,
};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn bench_vp8(
    frames: u64,
    bitrate_kbps: u32,
    cpu_used: i32,
) -> Result<(), tether_media::MediaError> {
    let config = Vp8Config {
        bitrate_kbps,
        cpu_used,
        ..Vp8Config::default()
    };
    let (w, h, fps) = (config.width, config.height, config.fps);
    let mut enc = Vp8Encoder::new(config)?;
    let mut dec = Vp8Decoder::new()?;
    let mut src = SyntheticVideo::new(w, h);
    let (mut enc_times, mut dec_times) = (Vec::new(), Vec::new());
    let (mut bytes, mut key_bytes, mut stamps_ok) = (0usize, 0usize, 0u64);
    for i in 0..frames {
        let capture_us = i * 1_000_000 / u64::from(fps);
        let frame = src.next_frame(capture_us);
        let t = Instant::now();
        let packets = enc.encode(&frame)?;
        enc_times.push(t.elapsed());
        for p in packets {
            if p.is_keyframe {
                key_bytes = key_bytes.max(p.data.len());
            } else {
                bytes += p.data.len();
            }
            let t = Instant::now();
            let decoded = dec.decode(&p.data, capture_us)?;
            dec_times.push(t.elapsed());
            if decoded.and_then(|d| read_stamp(&d.frame)) == Some((i, capture_us)) {
                stamps_ok += 1;
            }
        }
    }
    enc_times.sort_unstable();
    dec_times.sort_unstable();
    let mean = |v: &[Duration]| ms(v.iter().sum::<Duration>()) / v.len().max(1) as f64;
    let delta_frames = frames.saturating_sub(1).max(1) as usize;
    let avg = bytes / delta_frames;
    println!(
        "{w}x{h} {bitrate_kbps:>5} kbps cpu_used {cpu_used:>3} | encode {:6.2} ms (p95 {:6.2}) | decode {:5.2} ms (p95 {:5.2}) | delta {:5} B/frame ({:4} kbps) keyframe {:6} B | stamps {stamps_ok}/{frames}",
        mean(&enc_times),
        ms(percentile(&enc_times, 95)),
        mean(&dec_times),
        ms(percentile(&dec_times, 95)),
        avg,
        avg * 8 * fps as usize / 1000,
        key_bytes,
    );
    Ok(())
}

fn bench_opus(frames: u64) -> Result<(), tether_media::MediaError> {
    let mut enc = OpusEncoder::new()?;
    let mut dec = OpusDecoder::new()?;
    let mut src = SyntheticAudio::default();
    let (mut enc_t, mut dec_t, mut bytes) = (Duration::ZERO, Duration::ZERO, 0usize);
    for i in 0..frames {
        let frame = src.next_frame(i * 20_000);
        let t = Instant::now();
        let packet = enc.encode(&frame.samples)?;
        enc_t += t.elapsed();
        bytes += packet.len();
        let t = Instant::now();
        dec.decode(&packet)?;
        dec_t += t.elapsed();
    }
    let n = frames.max(1) as f64;
    println!(
        "opus 48 kHz mono 20 ms, 32 kbps, FEC on | encode {:.3} ms | decode {:.3} ms | {:.0} B/packet",
        ms(enc_t) / n,
        ms(dec_t) / n,
        bytes as f64 / n
    );
    Ok(())
}

fn bench_synthetic(frames: u64) {
    let mut src = SyntheticVideo::default();
    let (mut gen, mut read) = (Duration::ZERO, Duration::ZERO);
    for i in 0..frames {
        let t = Instant::now();
        let frame = src.next_frame(i);
        gen += t.elapsed();
        let t = Instant::now();
        let stamp = read_stamp(&frame);
        read += t.elapsed();
        assert_eq!(stamp, Some((i, i)));
    }
    let n = frames.max(1) as f64;
    println!(
        "synthetic 640x360 frame | generate {:.2} ms | read_stamp {:.3} ms",
        ms(gen) / n,
        ms(read) / n
    );
}

fn main() -> Result<(), tether_media::MediaError> {
    let frames = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300u64);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("tether-media codec bench ({profile} build, {frames} frames per VP8 run)");
    for kbps in [150, 800, 1500] {
        bench_vp8(frames, kbps, -6)?;
    }
    for cpu_used in [-4, -8, -12] {
        bench_vp8(frames, 800, cpu_used)?;
    }
    bench_opus(frames * 5 / 3)?;
    bench_synthetic(frames.min(100));
    Ok(())
}
