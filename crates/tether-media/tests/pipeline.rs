//! End-to-end pipeline checks without a network: synthetic sources through the codecs with
//! simulated loss, keyframe requests and the bitrate policy, as the client will wire them.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use tether_media::*;

/// Deterministic xorshift for reproducible loss patterns.
struct Rng(u64);
impl Rng {
    fn percent(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100
    }
}

/// Frames lost at random (as if NACK failed); the receiver marks the loss and sends a PLI that
/// reaches the sender two frames later. Every picture shown carries a valid stamp, in order, and
/// most frames get through.
#[test]
fn video_recovers_from_loss_with_keyframe_requests() {
    let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let mut src = SyntheticVideo::default();
    let mut stats = VideoReceiveStats::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pli_due: Option<u64> = None;
    let mut shown = Vec::new();
    let frames = 600u64;
    for i in 0..frames {
        if pli_due == Some(i) {
            enc.request_keyframe();
            pli_due = None;
        }
        let capture_us = 1_000_000 + i * 33_333;
        let frame = src.next_frame(capture_us);
        for packet in enc.encode(&frame).unwrap() {
            if rng.percent() < 5 {
                dec.mark_loss();
                pli_due.get_or_insert(i + 2);
                continue;
            }
            if let Some(decoded) = dec.decode(&packet.data, 0).unwrap() {
                let stamp = stats.on_decoded(&decoded.frame, capture_us + 40_000);
                assert_eq!(
                    stamp,
                    Some((i, capture_us)),
                    "frame {i} shown with a bad picture"
                );
                shown.push(i);
            } else if dec.needs_keyframe() {
                pli_due.get_or_insert(i + 2);
            }
        }
    }
    assert!(shown.windows(2).all(|w| w[0] < w[1]));
    let s = stats.snapshot(1_000_000 + frames * 33_333);
    assert_eq!(s.out_of_order, 0);
    assert_eq!(s.e2e_latency_ms, Some(40.0));
    // ~5 % lost plus ~3 frames waiting for each keyframe.
    let ratio = shown.len() as f64 / frames as f64;
    println!("shown {:.1} %", ratio * 100.0);
    assert!(ratio > 0.75, "only {:.0} % of frames shown", ratio * 100.0);
}

/// Loss reports drive the encoder down to the policy floor and clean reports bring it back up;
/// the encoder follows the targets.
#[test]
fn bitrate_policy_drives_the_encoder() {
    let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
    let mut rate = enc.config().bitrate_kbps;
    for _ in 0..30 {
        rate = next_bitrate(rate, 0.25, 80);
        enc.set_bitrate(rate).unwrap();
    }
    assert_eq!(enc.config().bitrate_kbps, POLICY_MIN_KBPS);
    for _ in 0..60 {
        rate = next_bitrate(rate, 0.0, 80);
        enc.set_bitrate(rate).unwrap();
    }
    assert_eq!(enc.config().bitrate_kbps, POLICY_MAX_KBPS);
}

/// Audio at 20 % random loss with jitter: every tick renders a full frame, and the level meter
/// reports the tone every 500 ms.
#[test]
fn audio_keeps_playing_through_loss() {
    let mut enc = OpusEncoder::new().unwrap();
    enc.set_packet_loss_percent(20).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut tone = SyntheticAudio::default();
    let mut jitter = AudioJitterBuffer::default();
    let mut meter = LevelMeter::new();
    let mut rng = Rng(42);
    let mut in_flight: Vec<(u64, u16, Vec<u8>)> = Vec::new();
    let mut reports = Vec::new();
    for tick in 0..1000u64 {
        let now = tick * FRAME_DURATION_US;
        let seq = tick as u16;
        let payload = enc.encode(&tone.next_frame(now).samples).unwrap();
        if rng.percent() >= 20 {
            in_flight.push((now + 10_000 + rng.percent() * 600, seq, payload));
        }
        in_flight.sort_by_key(|p| p.0);
        while in_flight.first().is_some_and(|p| p.0 <= now) {
            let (at, seq, payload) = in_flight.remove(0);
            jitter.push(seq, u32::from(seq) * 960, payload, at);
        }
        let samples = jitter.pop(now).render(&mut dec);
        assert_eq!(samples.len(), SAMPLES_PER_FRAME);
        meter.push(&samples);
        if tick % 25 == 24 {
            reports.push(meter.take());
        }
    }
    assert!(reports[1..].iter().all(|&l| l > 60), "{reports:?}");
    let s = jitter.stats();
    assert!(s.fec_recovered > 100, "{s:?}");
    assert!(
        jitter.target_delay_ms() <= 120,
        "{}",
        jitter.target_delay_ms()
    );
}

/// The client moves these into async tasks and threads.
#[test]
fn pipeline_types_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<OpusEncoder>();
    assert_send::<OpusDecoder>();
    assert_send::<Vp8Encoder>();
    assert_send::<Vp8Decoder>();
    assert_send::<AudioJitterBuffer>();
    assert_send::<MicCapture>();
    assert_send::<AudioPlayback>();
    assert_send::<CameraCapture>();
    assert_send::<MediaError>();
}
