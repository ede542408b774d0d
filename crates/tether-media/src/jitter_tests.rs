//! Tests for the audio jitter buffer (reordering, duplicates, loss, underrun, adaptation).

use super::*;
use crate::audio_codec::{OpusDecoder, OpusEncoder};
use crate::level::level;
use crate::synth::SyntheticAudio;

const TICK: u64 = 20_000;

fn pkt(seq: u16) -> Vec<u8> {
    vec![seq as u8, (seq >> 8) as u8]
}

/// Pushes `seq` as if sent at `seq * 20 ms` and received `delay_us` later.
fn push(jb: &mut AudioJitterBuffer, seq: u16, delay_us: u64) -> PushOutcome {
    jb.push(
        seq,
        u32::from(seq) * 960,
        pkt(seq),
        u64::from(seq) * TICK + delay_us,
    )
}

fn decoded_seq(p: &Playout) -> Option<u16> {
    match p {
        Playout::Decode { seq, payload } => {
            assert_eq!(payload, &pkt(*seq));
            Some(*seq)
        }
        _ => None,
    }
}

/// Delivers `(seq, arrival_us)` packets in arrival order while popping every 20 ms from t = 0 for
/// `ticks` ticks; returns what each tick played.
fn simulate(jb: &mut AudioJitterBuffer, arrivals: &[(u16, u64)], ticks: u64) -> Vec<Playout> {
    let mut arrivals = arrivals.to_vec();
    arrivals.sort_by_key(|a| a.1);
    let mut i = 0;
    (0..ticks)
        .map(|tick| {
            let now = tick * TICK;
            while i < arrivals.len() && arrivals[i].1 <= now {
                let (seq, at) = arrivals[i];
                jb.push(seq, u32::from(seq) * 960, pkt(seq), at);
                i += 1;
            }
            jb.pop(now)
        })
        .collect()
}

fn on_time(seqs: impl Iterator<Item = u16>, delay_us: u64) -> Vec<(u16, u64)> {
    seqs.map(|s| (s, u64::from(s) * TICK + delay_us)).collect()
}

#[test]
fn in_order_stream_waits_for_target_then_plays_every_packet() {
    let mut jb = AudioJitterBuffer::default();
    assert_eq!(jb.pop(0), Playout::Silence);
    let plays = simulate(&mut jb, &on_time(0..50, 5_000), 52);
    // Packet 0 arrives at 5 ms; at 40 ms two frames are held: playout starts.
    assert_eq!(plays[..2], [Playout::Silence, Playout::Silence]);
    let played: Vec<u16> = plays.iter().filter_map(decoded_seq).collect();
    assert_eq!(played, (0..50).collect::<Vec<_>>());
    assert_eq!(decoded_seq(&plays[2]), Some(0));
    assert_eq!(jb.target_delay_ms(), 40);
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn reordered_and_duplicate_packets() {
    let mut jb = AudioJitterBuffer::default();
    // Pairs swapped (odd one first, 15 ms apart), and some packets twice.
    let mut arrivals: Vec<(u16, u64)> = (0..40u16)
        .map(|s| (s, u64::from(s ^ 1) * TICK + 15_000))
        .collect();
    arrivals.push((2, 3 * TICK + 16_000));
    arrivals.push((7, 7 * TICK + 16_000));
    let plays = simulate(&mut jb, &arrivals, 45);
    let played: Vec<u16> = plays.iter().filter_map(decoded_seq).collect();
    assert_eq!(played, (0..40).collect::<Vec<_>>());
    assert_eq!(jb.stats().duplicates, 2);
    assert_eq!(jb.stats().lost, 0);
    // Anything already played is late now.
    assert_eq!(push(&mut jb, 3, 0), PushOutcome::Late);
}

#[test]
fn a_lost_packet_uses_fec_from_the_next_one() {
    let mut jb = AudioJitterBuffer::default();
    let plays = simulate(&mut jb, &on_time((0..20).filter(|s| *s != 4), 1_000), 20);
    let i = plays
        .iter()
        .position(|p| decoded_seq(p) == Some(3))
        .unwrap();
    assert_eq!(
        plays[i + 1],
        Playout::DecodeFec {
            seq: 4,
            next_payload: pkt(5)
        }
    );
    assert_eq!(decoded_seq(&plays[i + 2]), Some(5));
    let s = jb.stats();
    assert_eq!((s.lost, s.fec_recovered, s.concealed), (1, 1, 0));
}

#[test]
fn two_lost_packets_conceal_then_fec() {
    let mut jb = AudioJitterBuffer::default();
    let plays = simulate(
        &mut jb,
        &on_time((0..20).filter(|s| *s != 4 && *s != 5), 1_000),
        20,
    );
    // Nothing is buffered when 4 is due: the buffer stretches (one concealed frame), then declares 4
    // lost (concealed: 5 is missing too) and recovers 5 from 6's FEC.
    let i = plays
        .iter()
        .position(|p| decoded_seq(p) == Some(3))
        .unwrap();
    assert_eq!(plays[i + 1..i + 3], [Playout::Conceal, Playout::Conceal]);
    assert!(matches!(plays[i + 3], Playout::DecodeFec { seq: 5, .. }));
    assert_eq!(decoded_seq(&plays[i + 4]), Some(6));
    let s = jb.stats();
    assert_eq!((s.lost, s.fec_recovered, s.concealed), (2, 1, 2));
}

#[test]
fn sequence_numbers_wrap() {
    let mut jb = AudioJitterBuffer::default();
    let seqs: Vec<u16> = (0..20u16).map(|i| 65_530u16.wrapping_add(i)).collect();
    let mut played = Vec::new();
    for (i, &s) in seqs.iter().enumerate() {
        let now = i as u64 * TICK;
        jb.push(s, i as u32 * 960, pkt(s), now);
        played.extend(decoded_seq(&jb.pop(now + 1)));
    }
    for i in 0..3 {
        played.extend(decoded_seq(&jb.pop(400_000 + i * TICK)));
    }
    assert_eq!(played, seqs);
}

#[test]
fn underrun_conceals_then_goes_silent_and_rebuffers() {
    let mut jb = AudioJitterBuffer::default();
    let plays = simulate(&mut jb, &on_time(0..5, 0), 20);
    assert_eq!(plays[0], Playout::Silence);
    assert!(plays[1..6].iter().all(|p| decoded_seq(p).is_some()));
    assert!(plays[6..16].iter().all(|p| *p == Playout::Conceal));
    assert!(plays[16..].iter().all(|p| *p == Playout::Silence));
    let t = 400_000;
    assert!(!jb.is_playing());
    // The sender paused (as a muted sender does: sequence numbers continue, the RTP clock jumped):
    // the buffer re-buffers and plays on with nothing skipped.
    let mut resumed = Vec::new();
    for k in 0..8u16 {
        let now = t + u64::from(k) * TICK;
        if k < 6 {
            let seq = 5 + k;
            jb.push(seq, u32::from(20 + k) * 960, pkt(seq), now);
        }
        resumed.extend(decoded_seq(&jb.pop(now + 1_000)));
    }
    assert_eq!(resumed, (5..11).collect::<Vec<_>>());
    assert_eq!(jb.target_delay_ms(), 40);
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn a_late_packet_after_a_short_underrun_is_still_played() {
    let mut jb = AudioJitterBuffer::default();
    for seq in 0..3u16 {
        push(&mut jb, seq, 0);
    }
    let mut t = 60_000;
    for seq in 0..3u16 {
        assert_eq!(decoded_seq(&jb.pop(t)), Some(seq));
        t += TICK;
    }
    assert_eq!(jb.pop(t), Playout::Conceal);
    push(&mut jb, 3, 70_000);
    assert_eq!(decoded_seq(&jb.pop(t + TICK)), Some(3));
}

#[test]
fn a_long_gap_does_not_pile_up_latency() {
    let mut jb = AudioJitterBuffer::default();
    let mut t = 0;
    for seq in 0..10u16 {
        jb.push(seq, u32::from(seq) * 960, pkt(seq), t);
        jb.pop(t);
        t += TICK;
    }
    // 5 s cut: 250 packets lost, then everything resumes.
    for seq in 260..300u16 {
        jb.push(seq, u32::from(seq) * 960, pkt(seq), t);
        jb.pop(t);
        t += TICK;
    }
    assert!(
        jb.buffered_ms() <= jb.target_delay_ms() + 40,
        "{}",
        jb.buffered_ms()
    );
}

#[test]
fn target_delay_adapts_to_jitter_and_back() {
    let mut jb = AudioJitterBuffer::default();
    let mut t_seq = 0u16;
    // Jitter of up to 120 ms (every fourth packet late).
    for _ in 0..200 {
        let extra = if t_seq % 4 == 0 { 120_000 } else { 0 };
        push(&mut jb, t_seq, 10_000 + extra);
        jb.pop(u64::from(t_seq) * TICK);
        t_seq += 1;
    }
    let high = jb.target_delay_ms();
    assert!((120..=160).contains(&high), "target {high}");
    // A calm network brings it back down within the 3 s window.
    for _ in 0..200 {
        push(&mut jb, t_seq, 10_000);
        jb.pop(u64::from(t_seq) * TICK);
        t_seq += 1;
    }
    assert_eq!(jb.target_delay_ms(), 40);
    // Bounds hold whatever the jitter.
    let mut jb = AudioJitterBuffer::new(JitterConfig {
        min_delay_ms: 60,
        max_delay_ms: 200,
        max_expand_frames: 5,
    });
    for seq in 0..100u16 {
        push(&mut jb, seq, if seq % 2 == 0 { 0 } else { 900_000 });
    }
    assert_eq!(jb.target_delay_ms(), 200);
}

#[test]
fn sender_restart_resets_and_ancient_packets_are_late() {
    let mut jb = AudioJitterBuffer::default();
    for seq in 0..5u16 {
        push(&mut jb, seq, 0);
    }
    assert_eq!(jb.push(30_000, 0, pkt(1), 200_000), PushOutcome::Restarted);
    assert_eq!(jb.push(28_000, 0, pkt(1), 200_000), PushOutcome::Late);
    assert_eq!(jb.push(30_001, 960, pkt(2), 220_000), PushOutcome::Accepted);
}

#[test]
fn opus_stream_with_reordering_and_20_percent_loss_stays_audible() {
    let mut enc = OpusEncoder::new().unwrap();
    enc.set_packet_loss_percent(20).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut src = SyntheticAudio::default();
    let mut jb = AudioJitterBuffer::default();
    // Deterministic pseudo-random loss and jitter (xorshift).
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut arrivals: Vec<(u64, u16, Vec<u8>)> = Vec::new();
    for seq in 0..500u16 {
        let packet = enc
            .encode(&src.next_frame(u64::from(seq) * TICK).samples)
            .unwrap();
        if next_rand() % 100 < 20 {
            continue;
        }
        let jitter = next_rand() % 50_000;
        arrivals.push((u64::from(seq) * TICK + 5_000 + jitter, seq, packet));
    }
    arrivals.sort_by_key(|a| a.0);
    let mut levels = Vec::new();
    let mut i = 0;
    for tick in 0..520u64 {
        let now = tick * TICK;
        while i < arrivals.len() && arrivals[i].0 <= now {
            let (at, seq, ref payload) = arrivals[i];
            jb.push(seq, u32::from(seq) * 960, payload.clone(), at);
            i += 1;
        }
        let samples = jb.pop(now).render(&mut dec);
        assert_eq!(samples.len(), SAMPLES_PER_FRAME);
        levels.push(level(&samples));
    }
    let s = jb.stats();
    assert!(s.fec_recovered > 40, "{s:?}");
    // After start-up, nearly every tick carries audible sound.
    let audible = levels[20..500].iter().filter(|&&l| l > 40).count();
    assert!(audible > 470, "{audible}/480 audible; {s:?}");
}

#[test]
fn render_never_fails() {
    let mut dec = OpusDecoder::new().unwrap();
    for p in [
        Playout::Silence,
        Playout::Conceal,
        Playout::Decode {
            seq: 1,
            payload: vec![0xff, 0xff],
        },
        Playout::DecodeFec {
            seq: 1,
            next_payload: vec![],
        },
    ] {
        assert_eq!(p.render(&mut dec).len(), SAMPLES_PER_FRAME);
    }
}
