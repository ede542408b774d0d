//! Scenario (b): a cut longer than the server's 10 s window.
//! A silent 15 s cut at default timeouts: UID 2 gets `peer-leave
//! {SERVER_TIMEOUT}` 10 s after UID 1's last data reached the server, UID 1 is
//! CONNECTED within 1 s of the restore, and UID 2 then sees `peer-online` and
//! `stream-added` for UID 1 again. (The link-down variant is in net_hints.rs.)
//!
//! How "last data" is computed: the client sends a `ping` every 250 ms, and
//! nothing from UID 1 reaches the server after the nftables table is in place
//! (`cut.at`, taken right after `nft` returned). So UID 1's last frame reached
//! the server in [cut.at - 250 ms, cut.at], and the server's deadline lies in
//! [cut.at + 9.75 s, cut.at + 10 s]. The test accepts `peer-leave` in
//! [cut.at + 10 s - 250 ms - 500 ms, cut.at + 10 s + 500 ms], and reports the
//! error against the middle of that interval (cut.at - 125 ms + 10 s). `ts`
//! values are Unix ms on the same machine clock as `cut.at`.

use std::time::{Duration, Instant};

use tether_tests::{measure, NetPair};

const PEER_TIMEOUT_MS: i64 = 10_000;
const PING_INTERVAL_MS: i64 = 250;
const TOLERANCE_MS: i64 = 500;

#[test]
fn fifteen_second_silent_cut_times_out_and_rejoins() {
    let Some(mut p) = NetPair::start("fifteen_second_silent_cut", true) else {
        return;
    };
    let m1 = p.uid1.mark();

    let cut = p.net.cut_silent();
    let down = p.uid1.wait_state("CONNECTING", Duration::from_secs(6));
    assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
    assert_eq!(
        down.detail_str("cause"),
        Some("KEEPALIVE_TIMEOUT"),
        "{down}"
    );
    measure("silent_cut_to_connecting_ms", down.ts - cut.at_unix_ms);

    let leave = p
        .uid2
        .wait_peer("peer-leave", 1, Duration::from_millis(12_000));
    assert_eq!(leave.str("reason"), Some("SERVER_TIMEOUT"), "{leave}");
    let after_cut = leave.ts - cut.at_unix_ms;
    let expected_mid = PEER_TIMEOUT_MS - PING_INTERVAL_MS / 2;
    measure("peer_leave_after_cut_ms", after_cut);
    measure("peer_leave_timing_error_ms", after_cut - expected_mid);
    let lo = PEER_TIMEOUT_MS - PING_INTERVAL_MS - TOLERANCE_MS;
    let hi = PEER_TIMEOUT_MS + TOLERANCE_MS;
    assert!(
        (lo..=hi).contains(&after_cut),
        "peer-leave {{SERVER_TIMEOUT}} came {after_cut} ms after the cut; \
         expected 10 s after the last data (last data in [cut - 250 ms, cut]) ± 500 ms, \
         i.e. within [{lo}, {hi}] ms"
    );

    std::thread::sleep(
        (cut.at + Duration::from_secs(15)).saturating_duration_since(Instant::now()),
    );
    let restore = p.net.restore();

    let back = p.uid1.wait_state("CONNECTED", Duration::from_secs(3));
    assert_eq!(back.str("reason"), Some("RECONNECT_SUCCESS"), "{back}");
    let r2c = back.ts - restore.at_unix_ms;
    measure("restore_to_connected_ms", r2c);
    assert!(
        r2c <= 1000,
        "CONNECTED {r2c} ms after the restore (limit 1000)"
    );
    let modes: Vec<String> = p
        .uid1
        .events_since(m1)
        .iter()
        .filter(|e| e.name == "reconnect-attempt")
        .map(|e| {
            format!(
                "{}:{}",
                e.u64("attempt").unwrap_or(0),
                e.str("mode").unwrap_or("?")
            )
        })
        .collect();
    println!("reconnect attempts: {modes:?}");

    // UID 2 sees UID 1 come back as a new session, with its stream.
    let online = p.uid2.wait_peer("peer-online", 1, Duration::from_secs(3));
    let stream = p.uid2.wait_peer("stream-added", 1, Duration::from_secs(3));
    measure("restore_to_peer_online_ms", online.ts - restore.at_unix_ms);
    measure("restore_to_stream_added_ms", stream.ts - restore.at_unix_ms);
    // UID 1 still sees UID 2 (who never left).
    p.uid1.wait_roster_has(2, Duration::from_secs(2));
    assert!(
        !p.uid1
            .events_since(m1)
            .iter()
            .any(|e| e.is_peer("peer-leave", 2)),
        "UID 1 reported that UID 2 left, but UID 2 never did\n{}",
        p.uid1.log().dump()
    );
    p.assert_legal_transitions();
}
