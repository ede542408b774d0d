//! Media on loopback (no faults, no root needed): real Opus + VP8 over WebRTC
//! through the server's SFU, between `tether join` processes.
//!
//! - Two clients, synthetic media, 10 s: at least 95 % of the video frames the
//!   sender stamped are decoded, in order; audio levels are non-zero; the
//!   end-to-end latency is printed (p50/p95 over the per-second means in
//!   `e2eLatencyMs`), and the server's CPU per forwarded stream.
//! - A subscriber that never publishes (`--publish none`) joins a call of two
//!   publishers mid-call: it sees both streams and decodes video within 1 s
//!   of its join (it needs a keyframe for that).
//! - `--publish devices` on a machine without devices: `exception
//!   {NO_DEVICE}` and nothing sent; with `--fallback-synthetic` the synthetic
//!   source stands in.
//!
//! Mute (SPEC: "mute is not a NO_DATA removal") has no scenario here: the
//! headless client has no mute flag or command, so it cannot be driven from
//! the command line.
//!
//! How the numbers are read: see `tether_tests::media`.

use std::time::{Duration, Instant};

use tether_tests::media::{
    audio_stats, check_video_in_order, decode_start_estimate_ms, percentile, silent_audio_reports,
    silent_volume_levels, video_stats, volume_levels, wait_video, wait_video_progress,
    STATS_PERIOD_MS,
};
use tether_tests::process::cpu_time;
use tether_tests::{measure, media_slot, Client, Event, JoinOpts, Scenario, Server, ServerOpts};

/// How long the first join, and the media after it, may take.
const START: Duration = Duration::from_secs(5);

/// Waits for `connection-state-change` to CONNECTED (JOIN_SUCCESS).
#[track_caller]
fn joined(c: &Client) -> Event {
    c.wait_state_reason("CONNECTED", "JOIN_SUCCESS", START)
}

/// Fails with the events of `c` when `res` is an error.
#[track_caller]
fn ok_or_dump(c: &Client, what: &str, res: Result<(), String>) {
    if let Err(e) = res {
        panic!("{what}: {e}\n{}", c.log().dump());
    }
}

#[test]
fn loopback_synthetic_media_is_decoded_in_order() {
    let _slot = media_slot();
    let sc = Scenario::new("media_loopback");
    let mut server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let uid2 = JoinOpts::new(&url, "media", 2).spawn("uid2", sc.dir());
    joined(&uid2);
    let uid1 = JoinOpts::new(&url, "media", 1)
        .publish()
        .spawn("uid1", sc.dir());
    let c1 = joined(&uid1);

    let added = uid2.wait_peer("stream-added", 1, START);
    assert!(
        added.bool("audio") == Some(true) && added.bool("video") == Some(true),
        "stream-added without audio and video: {added}"
    );
    measure("publisher_connected_to_stream_added_ms", added.ts - c1.ts);
    uid2.wait_peer("stream-subscribed", 1, Duration::from_secs(2));

    let first = wait_video_progress(&uid2, 1, 0, 0, START);
    let server_pid = server.proc().pid();
    let cpu_start = (Instant::now(), cpu_time(server_pid));
    // Ten seconds of reports after the first one.
    let last = wait_video(
        &uid2,
        1,
        first.index + 1,
        "video reports covering 10 s",
        Duration::from_secs(14),
        |s| s.ts >= first.ts + 10_000,
    );
    if let (Some(c0), Some(c1)) = (cpu_start.1, cpu_time(server_pid)) {
        let wall = cpu_start.0.elapsed().as_secs_f64();
        // One publisher (audio + video) forwarded to one subscriber.
        let per_stream = (c1 - c0).as_secs_f64() / wall * 100.0 / 2.0;
        measure(
            "server_cpu_pct_per_forwarded_stream",
            format!("{per_stream:.1}"),
        );
    }

    let events = uid2.events();
    let video: Vec<_> = video_stats(&events, 1)
        .into_iter()
        .filter(|s| s.index <= last.index)
        .collect();
    ok_or_dump(
        &uid2,
        "uid 1's video at uid 2",
        check_video_in_order(&video),
    );
    let sent = last.frames_sent();
    let ratio = last.frames_decoded as f64 / sent as f64;
    measure("video_frames_sent", sent);
    measure("video_frames_decoded", last.frames_decoded);
    measure("video_decoded_ratio", format!("{ratio:.4}"));
    let window_s = (last.ts - first.ts) as f64 / 1000.0;
    let window_sent = last.frames_sent() - first.frames_sent();
    let window_decoded = last.frames_decoded - first.frames_decoded;
    measure(
        "video_decoded_ratio_10s_window",
        format!("{:.4}", window_decoded as f64 / window_sent as f64),
    );
    measure(
        "video_sender_fps",
        format!("{:.1}", window_sent as f64 / window_s),
    );
    assert!(
        ratio >= 0.95,
        "only {} of the {sent} video frames uid 1 sent (frame numbers 0..={}) were decoded \
         at uid 2 ({:.1} %, limit 95 %)\n{}",
        last.frames_decoded,
        sent - 1,
        ratio * 100.0,
        uid2.log().dump()
    );

    let latencies: Vec<f64> = video.iter().filter_map(|s| s.e2e_latency_ms).collect();
    let p50 = percentile(&latencies, 50.0).expect("e2e latency samples");
    let p95 = percentile(&latencies, 95.0).expect("e2e latency samples");
    measure("e2e_latency_samples", latencies.len());
    measure("e2e_latency_p50_ms", format!("{p50:.1}"));
    measure("e2e_latency_p95_ms", format!("{p95:.1}"));
    assert!(
        latencies.len() >= 9,
        "e2eLatencyMs missing from most video reports: {latencies:?}"
    );
    assert!(
        p50 <= 250.0,
        "median end-to-end latency {p50} ms on loopback"
    );

    let audio: Vec<_> = audio_stats(&events, 1)
        .into_iter()
        .filter(|s| s.index <= last.index)
        .collect();
    assert!(
        audio.len() >= 9,
        "too few audio reports: {audio:?}\n{}",
        uid2.log().dump()
    );
    // Sound in every report but a stray one: zeros the client's shared
    // level meter explains (see `silent_audio_reports`) do not count, and a
    // loaded machine may stall a process for a few hundred ms (the loss
    // scenario shows real silence; here a healthy loopback).
    let (silent, explained) = silent_audio_reports(&events, 1, &audio);
    measure("audio_level_zero_after_volume_indicator", explained);
    measure("audio_silent_reports", silent.len());
    assert!(
        silent.len() * 10 <= audio.len(),
        "{} of {} audio reports with audioLevel 0 (or none) from a tone: {silent:?}\n{}",
        silent.len(),
        audio.len(),
        uid2.log().dump()
    );
    let (a0, an) = (&audio[0], &audio[audio.len() - 1]);
    let audio_fps =
        (an.frames_decoded - a0.frames_decoded) as f64 * 1000.0 / (an.ts - a0.ts).max(1) as f64;
    measure("audio_frames_per_s", format!("{audio_fps:.1}"));
    assert!(
        audio_fps >= 45.0,
        "audio decoded at {audio_fps:.1} frames/s (20 ms frames: 50/s)"
    );
    let levels: Vec<_> = volume_levels(&events, 1)
        .into_iter()
        .filter(|(i, _, _)| *i > audio[0].index && *i <= last.index)
        .collect();
    assert!(
        levels.len() >= 30,
        "too few volume-indicator entries for uid 1 over 10 s (period 250 ms): {levels:?}"
    );
    let (zero, explained) = silent_volume_levels(&events, 1, &levels);
    measure("volume_indicator_zero_after_media_stats", explained);
    measure("volume_indicator_silent", zero.len());
    assert!(
        zero.len() * 20 <= levels.len(),
        "volume-indicator level 0 for uid 1 while its tone was decoding, {} of {}: {zero:?}",
        zero.len(),
        levels.len()
    );
    let mean = levels.iter().map(|(_, _, l)| *l as f64).sum::<f64>() / levels.len() as f64;
    measure("volume_indicator_mean_level", format!("{mean:.0}"));
    let periods: Vec<i64> = levels.windows(2).map(|w| w[1].1 - w[0].1).collect();
    let max_gap = periods.iter().copied().max().unwrap_or(0);
    measure("volume_indicator_max_gap_ms", max_gap);
    assert!(
        max_gap <= 500,
        "volume-indicator gaps up to {max_gap} ms (SPEC: every <= 500 ms)"
    );

    assert!(
        !events
            .iter()
            .any(|e| e.is_peer("stream-removed", 1) || e.is_peer("peer-leave", 1)),
        "uid 2 lost uid 1's stream on a healthy loopback\n{}",
        uid2.log().dump()
    );
    uid1.assert_legal_transitions();
    uid2.assert_legal_transitions();
}

/// The keyframe time of a late joiner, for one publisher: from its join
/// (`CONNECTING (JOIN)`, i.e. T0 of SPEC §3) to the first RTP packet
/// (`stream-subscribed`), to the first decoded frame (estimated inside the
/// first report, see `decode_start_estimate_ms`, never before the first
/// packet), and to the first report showing it.
#[track_caller]
fn late_joiner_keyframe(late: &Client, publisher: u32, join: &Event) {
    let added = late.wait_for_from(
        0,
        &format!("stream-added {{uid: {publisher}}}"),
        START,
        |e| e.is_peer("stream-added", publisher),
    );
    assert!(
        added.bool("video") == Some(true),
        "stream-added without video: {added}"
    );
    let sub = late.wait_for_from(
        0,
        &format!("stream-subscribed {{uid: {publisher}}}"),
        START,
        |e| e.is_peer("stream-subscribed", publisher),
    );
    let first = wait_video_progress(late, publisher, 0, 0, START);
    let decoded_est = decode_start_estimate_ms(&first, first.frames_decoded).max(sub.ts);
    let to_decoded = decoded_est - join.ts;
    let to_report = first.ts - join.ts;
    measure("late_join_to_first_rtp_ms", sub.ts - join.ts);
    measure("late_join_to_first_video_frame_ms", to_decoded);
    measure("late_join_to_first_video_report_ms", to_report);
    assert!(
        to_decoded <= 1000,
        "uid {publisher}'s first video frame was decoded about {to_decoded} ms after the join \
         (limit 1000): {first:?}\n{}",
        late.log().dump()
    );
    assert!(
        to_report <= 1000 + STATS_PERIOD_MS,
        "the first report of decoded video from uid {publisher} came {to_report} ms after the \
         join (limit 1000 + one {STATS_PERIOD_MS} ms period)\n{}",
        late.log().dump()
    );
}

#[test]
fn subscriber_only_late_joiner_sees_everyone_and_gets_a_keyframe_at_once() {
    let _slot = media_slot();
    let sc = Scenario::new("media_late_subscriber");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let uid1 = JoinOpts::new(&url, "late", 1)
        .publish()
        .spawn("uid1", sc.dir());
    let uid2 = JoinOpts::new(&url, "late", 2)
        .publish()
        .spawn("uid2", sc.dir());
    joined(&uid1);
    joined(&uid2);
    // The call is up: both publishers decode each other.
    wait_video_progress(&uid1, 2, 0, 0, START);
    wait_video_progress(&uid2, 1, 0, 0, START);

    let uid3 = JoinOpts::new(&url, "late", 3)
        .publish_source("none")
        .spawn("uid3", sc.dir());
    let join = uid3.wait_state_reason("CONNECTING", "JOIN", START);
    let c3 = joined(&uid3);
    measure("late_join_to_connected_ms", c3.ts - join.ts);
    for publisher in [1, 2] {
        late_joiner_keyframe(&uid3, publisher, &join);
    }

    // It keeps decoding both, in order, with sound.
    for publisher in [1u32, 2] {
        let first = wait_video_progress(&uid3, publisher, 0, 0, START);
        let later = wait_video(
            &uid3,
            publisher,
            first.index + 1,
            "two more seconds of video",
            Duration::from_secs(5),
            |s| s.ts >= first.ts + 2000,
        );
        let events = uid3.events();
        let video: Vec<_> = video_stats(&events, publisher)
            .into_iter()
            .filter(|s| s.index <= later.index)
            .collect();
        ok_or_dump(
            &uid3,
            &format!("uid {publisher}'s video at the late joiner"),
            check_video_in_order(&video),
        );
        let window = (later.frames_decoded - first.frames_decoded) as f64
            / (later.frames_sent() - first.frames_sent()).max(1) as f64;
        measure("late_joiner_video_decoded_ratio", format!("{window:.4}"));
        assert!(
            window >= 0.95,
            "the late joiner decoded only {:.1} % of uid {publisher}'s frames after the first",
            window * 100.0
        );
        // Sound in most reports after the first (which covers the start of
        // the jitter buffer).
        let audio = audio_stats(&events, publisher);
        let rest = audio.get(1..).unwrap_or_default();
        let (silent, _) = silent_audio_reports(&events, publisher, rest);
        assert!(
            !rest.is_empty() && silent.len() * 2 < rest.len(),
            "uid {publisher}'s audio at the late joiner: {audio:?}"
        );
    }
    assert_eq!(uid3.roster(), vec![1, 2], "the late joiner's roster");
    assert_eq!(uid3.streams(), vec![1, 2], "the late joiner's streams");

    // The subscriber never publishes: the others see it, without a stream.
    for c in [&uid1, &uid2] {
        c.wait_peer("peer-online", 3, Duration::from_secs(2));
        c.expect_none_until(
            0,
            "stream event about uid 3, which never publishes",
            Instant::now(),
            |e| (e.name.starts_with("stream-") || e.name == "media-stats") && e.uid() == Some(3),
        );
    }
    assert!(
        !uid3
            .events()
            .iter()
            .any(|e| e.name == "exception" || e.name.starts_with("stream-removed")),
        "the late joiner saw an exception or lost a stream\n{}",
        uid3.log().dump()
    );
    for c in [&uid1, &uid2, &uid3] {
        c.assert_legal_transitions();
    }
}

/// True when this machine has a sound card or a camera (then the no-device
/// scenarios cannot run).
fn has_media_devices() -> bool {
    let video = std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    video || std::path::Path::new("/dev/snd").exists()
}

/// The `exception {code: NO_DEVICE}` lines of `c` so far.
fn no_device_exceptions(c: &Client) -> Vec<Event> {
    c.events()
        .into_iter()
        .filter(|e| e.name == "exception" && e.str("code") == Some("NO_DEVICE"))
        .collect()
}

#[test]
fn devices_without_devices_report_no_device_and_send_nothing() {
    if has_media_devices() {
        println!("SKIP: this machine has a sound card or a camera (/dev/snd, /dev/video*)");
        return;
    }
    let sc = Scenario::new("media_no_device");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let uid2 = JoinOpts::new(&url, "devices", 2).spawn("uid2", sc.dir());
    joined(&uid2);
    let uid1 = JoinOpts::new(&url, "devices", 1)
        .publish_source("devices")
        .spawn("uid1", sc.dir());
    let c1 = joined(&uid1);
    let ex = uid1.wait_for("exception {code: NO_DEVICE}", START, |e| {
        e.name == "exception" && e.str("code") == Some("NO_DEVICE")
    });
    measure("connected_to_no_device_ms", ex.ts - c1.ts);
    assert!(
        ex.str("message").is_some_and(|m| !m.is_empty()),
        "exception without a message: {ex}"
    );
    uid2.wait_peer("peer-online", 1, START);
    // Media starts about 0.1-0.2 s after a publisher's join when there is any
    // (see the other scenarios): 3 s of nothing is nothing.
    uid2.expect_none_until(
        0,
        "media from uid 1, which has no devices",
        c1.recv_at + Duration::from_secs(3),
        |e| {
            (e.is_peer("stream-added", 1)
                || e.is_peer("stream-subscribed", 1)
                || e.name == "media-stats")
                && e.uid() == Some(1)
        },
    );
    let exceptions = no_device_exceptions(&uid1);
    for e in &exceptions {
        println!("uid 1: {}", e.json);
    }
    assert!(
        uid1.events()
            .iter()
            .filter(|e| e.name == "exception")
            .all(|e| e.str("code") == Some("NO_DEVICE")),
        "exceptions other than NO_DEVICE\n{}",
        uid1.log().dump()
    );
    uid1.assert_legal_transitions();
    uid2.assert_legal_transitions();
}

#[test]
fn devices_with_fallback_send_synthetic_media() {
    if has_media_devices() {
        println!("SKIP: this machine has a sound card or a camera (/dev/snd, /dev/video*)");
        return;
    }
    let _slot = media_slot();
    let sc = Scenario::new("media_no_device_fallback");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let uid2 = JoinOpts::new(&url, "fallback", 2).spawn("uid2", sc.dir());
    joined(&uid2);
    let uid1 = JoinOpts::new(&url, "fallback", 1)
        .publish_source("devices")
        .fallback_synthetic()
        .spawn("uid1", sc.dir());
    let c1 = joined(&uid1);
    uid1.wait_for("exception {code: NO_DEVICE}", START, |e| {
        e.name == "exception" && e.str("code") == Some("NO_DEVICE")
    });
    let added = uid2.wait_peer("stream-added", 1, START);
    assert!(
        added.bool("audio") == Some(true) && added.bool("video") == Some(true),
        "stream-added without audio and video: {added}"
    );
    measure("fallback_connected_to_stream_added_ms", added.ts - c1.ts);
    let first = wait_video_progress(&uid2, 1, 0, 0, START);
    let next = wait_video(
        &uid2,
        1,
        first.index + 1,
        "the frame counter advancing",
        Duration::from_secs(3),
        |s| s.last_frame_no > first.last_frame_no && s.frames_decoded > first.frames_decoded,
    );
    // Three audio reports: sound in most after the first (which covers the
    // start of the jitter buffer).
    uid2.wait_until("three audio reports", Duration::from_secs(4), |evs| {
        audio_stats(evs, 1).len() >= 3
    });
    let events = uid2.events();
    let video: Vec<_> = video_stats(&events, 1)
        .into_iter()
        .filter(|s| s.index <= next.index)
        .collect();
    ok_or_dump(
        &uid2,
        "the fallback video at uid 2",
        check_video_in_order(&video),
    );
    let audio = audio_stats(&events, 1);
    let rest = audio.get(1..).unwrap_or_default();
    let (silent, _) = silent_audio_reports(&events, 1, rest);
    assert!(
        !rest.is_empty() && silent.len() * 2 < rest.len(),
        "the fallback tone at uid 2: {audio:?}\n{}",
        uid2.log().dump()
    );
    println!(
        "uid 1 exceptions: {:?}",
        no_device_exceptions(&uid1)
            .iter()
            .map(|e| e.json.to_string())
            .collect::<Vec<_>>()
    );
    uid1.assert_legal_transitions();
    uid2.assert_legal_transitions();
}
