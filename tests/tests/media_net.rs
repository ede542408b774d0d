//! Media through real network faults (network namespaces, root): UID 1
//! publishes synthetic media from the client namespace, UID 2 decodes it in
//! the server namespace (see `NetPair`), and the faults hit UID 1's veth.
//!
//! - A 5 s silent cut: the session resumes and UID 2's decoding resumes within
//!   1.5 s of the restore, with the sender's frame counter continuing.
//! - A 15 s silent cut: UID 2 gets `stream-removed {NO_DATA}` 10 s (± 0.5 s)
//!   after UID 1's last packet reached it, then `peer-leave {SERVER_TIMEOUT}`;
//!   after the restore `stream-added` again and frames flowing. Once at the
//!   default timeouts, once with the server's at 12 s so that the client's own
//!   no-data timer is what removes the stream.
//! - 20 % random loss for 20 s in both directions of UID 1's veth (its media
//!   and RTCP out, the server's feedback in, and its signalling both ways):
//!   audio keeps decoding, video recovers when the loss stops, and no stream is
//!   removed. A strict variant also bounds UID 1's uplink packet rate under
//!   the loss (no NACK/RTX retransmission storm). The scenario is in
//!   `media_net/loss.rs`.
//! - A 1.5 s burst of loss right after a rejoin (an 11 s cut): video is at
//!   full rate again soon after it (UID 2's keyframe requests once named the
//!   SSRC from before the rejoin and were dropped: video froze for good).
//!
//! `media-stats` comes once a second: "decoding resumed" is measured two ways,
//! by the first report that shows progress (an upper bound, up to one period
//! late) and by an estimate inside that report's period from the number of
//! frames it decoded at 30 fps (`tether_tests::media::decode_start_estimate_ms`).
//! The limits apply to the estimate, and to the report with one period of
//! slack.

#[path = "media_net/loss.rs"]
mod loss;

use std::time::{Duration, Instant};

use tether_tests::media::{
    broken_frames, check_video_counters, check_video_in_order, decode_start_estimate_ms,
    good_frames_between, last_video_before, video_stats, wait_video, wait_video_progress,
    VideoStats, STATS_PERIOD_MS, SYNTHETIC_FPS,
};
use tether_tests::{measure, Client, NetPair};

/// The server's peer timeout and the client's no-data timeout (defaults).
const TIMEOUT_MS: i64 = 10_000;
/// SPEC §3: T6 and T8 are 10 s after the last data, ± 0.5 s here.
const TOLERANCE_MS: i64 = 500;
/// UID 1 sends an Opus packet every 20 ms (and video at 30 fps), so its last
/// packet before a cut left at most this long before the cut began.
const SEND_GAP_MS: i64 = 20;
/// Slack for a packet already on its way when the cut began: the veth, the
/// SFU and UID 2's socket, all on one machine.
const TRANSIT_MS: i64 = 50;
/// The client pings the server every 250 ms.
const PING_INTERVAL_MS: i64 = 250;

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Waits until UID 2 decodes UID 1's video, and returns a report that shows
/// steady progress (the second one with frames).
#[track_caller]
fn wait_steady_video(uid2: &Client) -> VideoStats {
    let first = wait_video_progress(uid2, 1, 0, 0, Duration::from_secs(5));
    wait_video_progress(
        uid2,
        1,
        first.index + 1,
        first.frames_decoded,
        Duration::from_secs(3),
    )
}

#[track_caller]
fn ok_or_dump(c: &Client, what: &str, res: Result<(), String>) {
    if let Err(e) = res {
        panic!("{what}: {e}\n{}", c.log().dump());
    }
}

/// The 5 s cut. Besides decoding resuming within 1.5 s, the first correct
/// picture (a higher stamp) must come within 1.5 s too, and every frame
/// decoded after the restore must carry a new, higher stamp: no picture
/// decoded against a reference frame lost in the cut (fixed in ce17987).
fn five_second_cut(name: &str) {
    let Some(mut p) = NetPair::start(name, true) else {
        return;
    };
    wait_steady_video(&p.uid2);
    let m2 = p.uid2.mark();

    let cut = p.net.cut_silent();
    let down = p.uid1.wait_state("CONNECTING", Duration::from_secs(6));
    assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
    sleep_until(cut.at + Duration::from_secs(5));
    let at_restore = p.uid2.mark();
    let restore = p.net.restore();

    // The report before the restore shows the cut: nothing decoded in its
    // last second.
    let prev = last_video_before(&p.uid2, 1, at_restore).expect("video reports during the cut");
    assert!(
        prev.fps == 0.0 && prev.ts >= cut.at_unix_ms + 2000,
        "uid 2 was still decoding uid 1's video 5 s into the cut: {prev:?}\n{}",
        p.uid2.log().dump()
    );
    // Decoding resumes: the first report after the restore with more frames
    // decoded, and the first correct picture (a frame with a higher stamp);
    // before ce17987 frames decoded against a reference lost in the cut came
    // first, for up to a second.
    let any = wait_video_progress(
        &p.uid2,
        1,
        at_restore,
        prev.frames_decoded,
        Duration::from_secs(5),
    );
    let resumed = wait_video(
        &p.uid2,
        1,
        at_restore,
        "a frame with a higher stamp after the restore",
        Duration::from_secs(5),
        |s| s.last_frame_no > prev.last_frame_no,
    );
    let before_any = last_video_before(&p.uid2, 1, any.index).unwrap_or(prev.clone());
    let any_est = decode_start_estimate_ms(&any, any.frames_decoded - before_any.frames_decoded)
        .max(restore.before_unix_ms);
    let before_resumed = last_video_before(&p.uid2, 1, resumed.index).unwrap_or(prev.clone());
    let good_est =
        decode_start_estimate_ms(&resumed, good_frames_between(&before_resumed, &resumed))
            .max(restore.before_unix_ms);
    let to_media = any_est - restore.at_unix_ms;
    let to_report = any.ts - restore.at_unix_ms;
    let to_correct = good_est - restore.at_unix_ms;
    measure("restore_to_media_ms", to_media);
    measure("restore_to_media_report_ms", to_report);
    measure("restore_to_correct_video_ms", to_correct);
    measure(
        "restore_to_correct_video_report_ms",
        resumed.ts - restore.at_unix_ms,
    );
    assert!(
        to_media <= 1500,
        "uid 2 decoded uid 1's video again about {to_media} ms after the restore (limit 1500): \
         {before_any:?} -> {any:?}\n{}",
        p.uid2.log().dump()
    );
    assert!(
        to_report <= 1500 + STATS_PERIOD_MS,
        "the first report of decoding after the restore came {to_report} ms after it \
         (limit 1500 + one {STATS_PERIOD_MS} ms period)"
    );
    assert!(
        to_correct <= 1500,
        "the first correct picture of uid 1 came about {to_correct} ms after the restore \
         (limit 1500): {before_resumed:?} -> {resumed:?}"
    );

    // The frame counter continues: same track, higher numbers, no restart.
    let (before_no, after_no) = (
        prev.last_frame_no.unwrap_or(0),
        resumed.last_frame_no.unwrap_or(0),
    );
    measure("frame_no_before_cut", before_no);
    measure("frame_no_after_restore", after_no);
    let outage_frames = (resumed.ts - prev.ts + 5000) as f64 * SYNTHETIC_FPS / 1000.0;
    println!(
        "frame numbers jumped by {} over the outage (about {outage_frames:.0} frames at 30 fps)",
        after_no.saturating_sub(before_no)
    );
    let later = wait_video(
        &p.uid2,
        1,
        resumed.index + 1,
        "the frame counter advancing further",
        Duration::from_secs(3),
        |s| s.last_frame_no > resumed.last_frame_no,
    );
    let video: Vec<_> = video_stats(&p.uid2.events(), 1)
        .into_iter()
        .filter(|s| s.index <= later.index)
        .collect();
    ok_or_dump(
        &p.uid2,
        "uid 1's video across the cut",
        check_video_counters(&video),
    );
    let broken = broken_frames(&video);
    measure("broken_frames_after_5s_cut", broken);
    measure(
        "frames_missing_across_5s_cut",
        later.frames_missing.unwrap_or(0) - prev.frames_missing.unwrap_or(0),
    );
    ok_or_dump(
        &p.uid2,
        "uid 1's video across the cut (every decoded frame a correct picture)",
        check_video_in_order(&video),
    );
    let audio_back = p.uid2.wait_for_from(
        at_restore,
        "an audio report with sound after the restore",
        Duration::from_secs(3),
        |e| {
            e.is_peer("media-stats", 1)
                && e.str("kind") == Some("audio")
                && e.u64("audioLevel").unwrap_or(0) > 0
        },
    );
    measure(
        "restore_to_audio_report_ms",
        audio_back.ts - restore.at_unix_ms,
    );

    let back = p.uid1.wait_state("CONNECTED", Duration::from_secs(1));
    assert_eq!(back.str("reason"), Some("RECONNECT_SUCCESS"), "{back}");
    assert!(
        !p.uid2.events_since(m2).iter().any(|e| {
            e.is_peer("stream-removed", 1)
                || e.is_peer("peer-leave", 1)
                || e.is_peer("stream-added", 1)
        }),
        "uid 2 removed or re-added uid 1's stream during a resumed 5 s cut\n{}",
        p.uid2.log().dump()
    );
    p.assert_legal_transitions();
}

#[test]
fn five_second_cut_video_resumes_within_1_5_s_and_the_counter_continues() {
    five_second_cut("media_five_second_cut");
}

/// How the last-packet time is bounded: UID 1 sends an Opus packet every 20 ms
/// and video at 30 fps, and nothing from it gets through once `nft` has
/// returned (`cut.at`). The rule went in somewhere in `[cut.before, cut.at]`,
/// so UID 1's last packet left in `[cut.before − 20 ms, cut.at]` and reached
/// UID 2 at most `TRANSIT_MS` later. `stream-removed {NO_DATA}` is due 10 s
/// after that, ± 0.5 s; the error is reported against the middle of the
/// last-packet interval. (The client notes packet arrival at most every
/// 100 ms per track, and a `peer-leave` that comes first — the server's own
/// 10 s are counted from the last 250 ms ping — removes the stream at once
/// with `NO_DATA`; both stay inside the tolerance, and show in the error.)
fn fifteen_second_cut(name: &str, peer_timeout_ms: Option<i64>) {
    let Some(mut p) = NetPair::start_with(name, true, peer_timeout_ms.map(|t| t as u64)) else {
        return;
    };
    let peer_timeout = peer_timeout_ms.unwrap_or(TIMEOUT_MS);
    wait_steady_video(&p.uid2);
    let m2 = p.uid2.mark();

    let cut = p.net.cut_silent();
    let removed = p.uid2.wait_for_from(
        m2,
        "stream-removed {uid: 1}",
        Duration::from_millis(12_000),
        |e| e.is_peer("stream-removed", 1),
    );
    assert_eq!(removed.str("reason"), Some("NO_DATA"), "{removed}");
    let last_lo = cut.before_unix_ms - SEND_GAP_MS;
    let last_hi = cut.at_unix_ms + TRANSIT_MS;
    let (lo, hi) = (
        last_lo + TIMEOUT_MS - TOLERANCE_MS,
        last_hi + TIMEOUT_MS + TOLERANCE_MS,
    );
    let mid = (cut.before_unix_ms - SEND_GAP_MS + cut.at_unix_ms) / 2 + TIMEOUT_MS;
    measure("stream_removed_after_cut_ms", removed.ts - cut.at_unix_ms);
    measure("no_data_timing_error_ms", removed.ts - mid);
    assert!(
        (lo..=hi).contains(&removed.ts),
        "stream-removed {{NO_DATA}} at {} ms after the cut; due 10 s ± 0.5 s after the last \
         packet, which arrived in [{}, {}] ms relative to the cut, i.e. within [{}, {}] ms",
        removed.ts - cut.at_unix_ms,
        last_lo - cut.at_unix_ms,
        last_hi - cut.at_unix_ms,
        lo - cut.at_unix_ms,
        hi - cut.at_unix_ms
    );
    let leave = p.uid2.wait_for_from(
        m2,
        "peer-leave {uid: 1}",
        Duration::from_millis((peer_timeout - TIMEOUT_MS + 3000) as u64),
        |e| e.is_peer("peer-leave", 1),
    );
    assert_eq!(leave.str("reason"), Some("SERVER_TIMEOUT"), "{leave}");
    assert!(
        leave.index > removed.index,
        "peer-leave came before stream-removed {{NO_DATA}}: {leave} / {removed}"
    );
    // The server counts from the last ping (every 250 ms) it got.
    let after_cut = leave.ts - cut.at_unix_ms;
    measure("peer_leave_after_cut_ms", after_cut);
    assert!(
        (peer_timeout - PING_INTERVAL_MS - TOLERANCE_MS..=peer_timeout + TOLERANCE_MS)
            .contains(&after_cut),
        "peer-leave {{SERVER_TIMEOUT}} {after_cut} ms after the cut (server timeout {peer_timeout} ms)"
    );

    sleep_until(cut.at + Duration::from_secs(15));
    let at_restore = p.uid2.mark();
    let restore = p.net.restore();
    let back = p.uid1.wait_state("CONNECTED", Duration::from_secs(3));
    assert_eq!(back.str("reason"), Some("RECONNECT_SUCCESS"), "{back}");

    let online = p.uid2.wait_for_from(
        at_restore,
        "peer-online {uid: 1}",
        Duration::from_secs(3),
        |e| e.is_peer("peer-online", 1),
    );
    let added = p.uid2.wait_for_from(
        online.index,
        "stream-added {uid: 1} after its peer-online",
        Duration::from_secs(3),
        |e| e.is_peer("stream-added", 1),
    );
    assert!(
        added.bool("audio") == Some(true) && added.bool("video") == Some(true),
        "{added}"
    );
    measure("restore_to_stream_added_ms", added.ts - restore.at_unix_ms);
    // Frames flowing again: decoding in the last second, then a report with
    // a higher frame number and more frames.
    let a = wait_video(
        &p.uid2,
        1,
        added.index,
        "video decoding again after the rejoin",
        Duration::from_secs(4),
        |s| s.fps > 0.0,
    );
    let b = wait_video(
        &p.uid2,
        1,
        a.index + 1,
        "uid 1's frame counter advancing after the rejoin",
        Duration::from_secs(3),
        |s| s.last_frame_no > a.last_frame_no && s.frames_decoded > a.frames_decoded,
    );
    measure("restore_to_media_report_ms", a.ts - restore.at_unix_ms);
    let video: Vec<_> = video_stats(&p.uid2.events(), 1)
        .into_iter()
        .filter(|s| s.index > added.index && s.index <= b.index)
        .collect();
    ok_or_dump(
        &p.uid2,
        "uid 1's video after the rejoin",
        check_video_in_order(&video),
    );
    p.uid2.wait_for_from(
        added.index,
        "an audio report with sound after the rejoin",
        Duration::from_secs(3),
        |e| {
            e.is_peer("media-stats", 1)
                && e.str("kind") == Some("audio")
                && e.u64("audioLevel").unwrap_or(0) > 0
        },
    );
    p.assert_legal_transitions();
}

#[test]
fn fifteen_second_cut_no_data_then_peer_leave_then_media_again() {
    fifteen_second_cut("media_fifteen_second_cut", None);
}

/// The same with the server's peer timeout at 12 s: at the defaults the
/// server's `peer-leave` (10 s after the last ping) and the client's own 10 s
/// no-data timer fall within ~0.1 s of each other, and a `peer-leave` that
/// comes first removes the stream by itself. Here `stream-removed {NO_DATA}`
/// can only come from the client's no-data timer, 2 s before the `peer-leave`.
#[test]
fn no_data_timer_removes_the_stream_before_the_server_timeout() {
    fifteen_second_cut("media_no_data_timer", Some(12_000));
}

#[test]
fn twenty_percent_loss_audio_keeps_decoding_video_recovers_nothing_removed() {
    loss::random_loss("media_random_loss", false);
}

/// The same loss, also bounding the uplink packet rate. Before the
/// RTX-aware NACK generator (`tether_rtc::nack`) UID 1 sent 4.5-5.4 times
/// its normal packet rate under this loss, for seconds after it too, and
/// UID 2 received the same video packet many times; now 0.8-1.0 (the bitrate
/// backs off) with ~20 retransmissions/s (RELIABILITY.md).
#[test]
fn twenty_percent_loss_does_not_multiply_uplink_traffic() {
    loss::random_loss("media_random_loss_strict", true);
}

#[test]
fn video_recovers_from_burst_loss_right_after_a_rejoin() {
    loss::burst_loss_after_rejoin("media_burst_after_rejoin");
}
