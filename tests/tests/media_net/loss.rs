//! The 20 % random-loss scenario of `media_net.rs` (both of its tests run it).

use std::time::{Duration, Instant};

use tether_tests::media::{
    audio_stats, broken_frames, good_frames_between, last_video_before, silent_audio_reports,
    video_stats, volume_levels, wait_video, STATS_PERIOD_MS, SYNTHETIC_FPS,
};
use tether_tests::{measure, LossDirection, NetPair};

use super::{sleep_until, wait_steady_video};

/// The loss is applied in both directions of UID 1's veth: its media (and
/// everything else it sends) and what it receives (RTCP feedback such as
/// NACK and PLI, and signalling). The effective loss is counted by the
/// nftables rules themselves; a 3 s window at 0 % before it gives UID 1's
/// normal packet rate, to compare with the rate under loss (retransmissions).
/// With `strict`, the uplink packet rate under 20 % loss must stay below
/// twice the normal rate.
pub(crate) fn random_loss(name: &str, strict: bool) {
    let Some(mut p) = NetPair::start(name, true) else {
        return;
    };
    let steady = wait_steady_video(&p.uid2);
    let baseline = p.net.start_loss(0, LossDirection::Both);
    sleep_until(baseline.at + Duration::from_secs(3));
    let (baseline_end, normal) = p.net.stop_loss();
    let normal_rate =
        normal.egress_total as f64 / (baseline_end.before - baseline.at).as_secs_f64();
    let (m1, m2) = (p.uid1.mark(), p.uid2.mark());

    let loss = p.net.start_loss(20, LossDirection::Both);
    sleep_until(loss.at + Duration::from_secs(20));
    let at_end = p.uid2.mark();
    let (end, counters) = p.net.stop_loss();
    measure(
        "effective_loss_egress_pct",
        format!("{:.1}", counters.egress_pct()),
    );
    measure(
        "effective_loss_ingress_pct",
        format!("{:.1}", counters.ingress_pct()),
    );
    println!("loss counters: {counters:?}");
    let loss_rate = counters.egress_total as f64 / (end.before - loss.at).as_secs_f64();
    measure("uplink_packets_per_s_normal", format!("{normal_rate:.0}"));
    measure("uplink_packets_per_s_under_loss", format!("{loss_rate:.0}"));
    measure(
        "uplink_packet_rate_factor_under_loss",
        format!("{:.2}", loss_rate / normal_rate),
    );
    assert!(
        counters.egress_total >= 1000 && (15.0..=25.0).contains(&counters.egress_pct()),
        "the loss rule did not do what it should: {counters:?}"
    );

    // Reports whose whole second lies inside the loss.
    let events = p.uid2.events();
    let inside = |ts: i64| ts >= loss.at_unix_ms + STATS_PERIOD_MS && ts <= end.before_unix_ms;
    let audio: Vec<_> = audio_stats(&events, 1)
        .into_iter()
        .filter(|a| inside(a.ts))
        .collect();
    let audible = audio
        .iter()
        .filter(|a| a.audio_level.unwrap_or(0) > 0)
        .count();
    measure(
        "audio_reports_with_sound_during_loss",
        format!("{audible}/{}", audio.len()),
    );
    // A silent report right after a loud volume-indicator points at the
    // level meter, not at the audio: the client's media-stats and
    // volume-indicator both read and reset the same peak (see
    // `silent_audio_reports`).
    let (silent, explained) = silent_audio_reports(&events, 1, &audio);
    measure(
        "audio_level_zero_after_volume_indicator_during_loss",
        explained,
    );
    measure("audio_silent_reports_during_loss", silent.len());
    let all_levels = volume_levels(&events, 1);
    for a in audio.iter().filter(|a| a.audio_level.unwrap_or(0) == 0) {
        let before = all_levels.iter().rfind(|(i, _, _)| *i < a.index);
        let after = all_levels.iter().find(|(i, _, _)| *i > a.index);
        println!(
            "audioLevel 0 at {} (framesDecoded {}): volume-indicator before {:?} ms / level {:?}, \
             after {:?} ms / level {:?}",
            a.ts,
            a.frames_decoded,
            before.map(|b| a.ts - b.1),
            before.map(|b| b.2),
            after.map(|b| b.1 - a.ts),
            after.map(|b| b.2),
        );
    }
    assert!(
        audio.len() >= 15 && audible * 4 >= audio.len() * 3,
        "audio under 20 % loss: {audible} of {} reports had sound (need 75 %)\n{audio:?}",
        audio.len()
    );
    if let (Some(a0), Some(an)) = (audio.first(), audio.last()) {
        let fps =
            (an.frames_decoded - a0.frames_decoded) as f64 * 1000.0 / (an.ts - a0.ts).max(1) as f64;
        measure("audio_frames_per_s_during_loss", format!("{fps:.1}"));
        measure(
            "audio_packets_lost_during_loss",
            an.packets_lost - a0.packets_lost,
        );
    }
    let levels: Vec<_> = volume_levels(&events, 1)
        .into_iter()
        .filter(|(_, ts, _)| inside(*ts))
        .collect();
    let loud = levels.iter().filter(|(_, _, l)| *l > 0).count();
    measure(
        "volume_indicator_with_sound_during_loss",
        format!("{loud}/{}", levels.len()),
    );

    // Video during the loss: from the last report before it to the last one
    // inside it.
    let video = video_stats(&events, 1);
    let s = video
        .iter()
        .rfind(|v| v.ts <= loss.before_unix_ms)
        .cloned()
        .unwrap_or(steady);
    let q = video
        .iter()
        .rfind(|v| v.ts <= end.before_unix_ms)
        .cloned()
        .expect("video reports during the loss");
    // Sent: the frame numbers the sender stamped in between (the newest
    // decoded one is at most a frame or two behind the sender), and the
    // nominal 30 fps. Decoded: every frame, and the correct ones (a new,
    // higher stamp; the rest are pictures decoded against a lost reference).
    let decoded = q.frames_decoded - s.frames_decoded;
    let good = good_frames_between(&s, &q);
    let numbered = q.frames_sent().saturating_sub(s.frames_sent());
    let nominal = (q.ts - s.ts) as f64 * SYNTHETIC_FPS / 1000.0;
    measure("video_frames_sent_during_loss", numbered);
    measure(
        "video_decoded_ratio_during_loss",
        format!("{:.3}", decoded as f64 / numbered.max(1) as f64),
    );
    measure(
        "video_correct_frame_ratio_during_loss",
        format!("{:.3}", good as f64 / numbered.max(1) as f64),
    );
    measure(
        "video_decoded_ratio_during_loss_vs_30fps",
        format!("{:.3}", decoded as f64 / nominal),
    );
    let window: Vec<_> = video
        .iter()
        .filter(|v| v.index >= s.index && v.index <= q.index)
        .cloned()
        .collect();
    let broken = broken_frames(&window);
    measure("video_broken_frames_during_loss", broken);
    assert_eq!(
        broken, 0,
        "frames decoded under loss without a new, higher stamp (pictures decoded against a \
         lost reference): {window:?}"
    );
    measure(
        "video_packets_lost_during_loss",
        q.packets_lost - s.packets_lost,
    );
    let stalls = video
        .iter()
        .filter(|v| v.ts > s.ts && v.ts <= q.ts && v.fps == 0.0)
        .count();
    measure("video_reports_without_frames_during_loss", stalls);

    // Video recovers: progress after the loss stopped, then a full second at
    // (nearly) full rate.
    let base = last_video_before(&p.uid2, 1, at_end).unwrap_or_else(|| q.clone());
    let progress = wait_video(
        &p.uid2,
        1,
        at_end,
        "video decoding after the loss",
        Duration::from_secs(4),
        |v| v.ts >= end.at_unix_ms && v.frames_decoded > base.frames_decoded,
    );
    measure(
        "loss_end_to_video_progress_report_ms",
        progress.ts - end.at_unix_ms,
    );
    let full = wait_video(
        &p.uid2,
        1,
        at_end,
        "a full second of video at >= 25 fps after the loss",
        Duration::from_secs(6),
        |v| v.ts >= end.at_unix_ms + STATS_PERIOD_MS && v.fps >= 25.0,
    );
    measure(
        "loss_end_to_video_full_rate_report_ms",
        full.ts - end.at_unix_ms,
    );
    assert!(
        full.ts - end.at_unix_ms <= 5000,
        "video back at full rate only {} ms after the loss",
        full.ts - end.at_unix_ms
    );
    assert!(
        full.last_frame_no > q.last_frame_no,
        "frame numbers did not advance past the loss: {q:?} -> {full:?}"
    );
    // And the second after it is all correct pictures.
    let next = wait_video(
        &p.uid2,
        1,
        full.index + 1,
        "the report after",
        Duration::from_secs(2),
        |_| true,
    );
    let good = good_frames_between(&full, &next);
    measure("video_correct_fps_after_loss", good);
    assert!(
        good >= 25,
        "only {good} correct frames in the second after video came back: {full:?} -> {next:?}"
    );

    // Nothing was removed or left, during the loss or right after it.
    p.uid2.expect_none_until(
        m2,
        "stream-removed / peer-leave of uid 1 under 20 % loss",
        Instant::now().max(end.at + Duration::from_secs(3)),
        |e| e.is_peer("stream-removed", 1) || e.is_peer("peer-leave", 1),
    );
    let interruptions = p
        .uid1
        .events_since(m1)
        .iter()
        .filter(|e| e.is_state("CONNECTING"))
        .count();
    measure("uid1_interruptions_during_loss", interruptions);
    let reconnecting = p
        .uid2
        .events_since(m2)
        .iter()
        .filter(|e| e.is_peer("peer-reconnecting", 1))
        .count();
    measure("uid2_peer_reconnecting_during_loss", reconnecting);
    p.assert_legal_transitions();
    if strict {
        assert!(
            loss_rate <= 2.0 * normal_rate,
            "under 20 % loss uid 1 sent {loss_rate:.0} packets/s, {:.1} times its normal \
             {normal_rate:.0}/s: retransmissions far beyond the lost share",
            loss_rate / normal_rate
        );
    }
}

/// A burst of loss right after a rejoin: an 11 s silent cut outlasts the
/// server's 10 s peer timeout, so UID 1 rejoins with a new session and the
/// SFU sends its tracks to UID 2 on new SSRCs, over transceivers UID 2
/// reuses. Then UID 1's link drops everything for 1.5 s, longer than
/// retransmission can repair (the sender keeps 1 s): UID 2 loses frames and
/// its decoder needs a keyframe. Video must be at full rate again soon
/// after. Before the fix in `media::task` UID 2 asked for keyframes with the
/// SSRC its reader had when the track came back (the old one); the SFU
/// dropped those requests and UID 2's video stayed frozen for good while
/// audio played on (the media soak's failure at step 4, RELIABILITY.md).
pub(crate) fn burst_loss_after_rejoin(name: &str) {
    let Some(mut p) = NetPair::start(name, true) else {
        return;
    };
    wait_steady_video(&p.uid2);
    let m1 = p.uid1.mark();
    let cut = p.net.cut_silent();
    sleep_until(cut.at + Duration::from_secs(11));
    let at_restore = p.uid2.mark();
    p.net.restore();
    let connected = p.uid1.wait_for_from(
        m1,
        "uid 1 connected with a new session after the cut",
        Duration::from_secs(5),
        |e| e.str("event") == Some("connected"),
    );
    assert_eq!(connected.str("mode"), Some("REJOIN"), "{connected}");
    let back = wait_video(
        &p.uid2,
        1,
        at_restore,
        "video decoding again after the rejoin",
        Duration::from_secs(5),
        |v| v.fps > 0.0,
    );
    // Steady first: a report with a full second of video.
    wait_video(
        &p.uid2,
        1,
        back.index + 1,
        "a full second of video after the rejoin",
        Duration::from_secs(5),
        |v| v.fps >= 25.0,
    );

    let burst = p.net.cut_silent();
    sleep_until(burst.at + Duration::from_millis(1500));
    let at_end = p.uid2.mark();
    let end = p.net.restore();
    let before = last_video_before(&p.uid2, 1, at_end).unwrap_or(back);
    let full = wait_video(
        &p.uid2,
        1,
        at_end,
        "a full second of video at >= 25 fps after the burst",
        Duration::from_secs(5),
        |v| v.ts >= end.at_unix_ms + STATS_PERIOD_MS && v.fps >= 25.0,
    );
    measure(
        "after_rejoin_burst_end_to_full_rate_report_ms",
        full.ts - end.at_unix_ms,
    );
    assert!(
        full.last_frame_no > before.last_frame_no,
        "uid 1's frame numbers did not advance: {before:?} -> {full:?}"
    );
    p.assert_legal_transitions();
}
