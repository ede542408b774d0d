//! Scenario (a): a 5 s silent cut (nftables drop, no OS hint) is shorter than
//! the server's 10 s window, so UID 1 resumes its session: it goes CONNECTING
//! (INTERRUPTED, KEEPALIVE_TIMEOUT) and back to CONNECTED (RECONNECT_SUCCESS)
//! with a RESUME attempt; UID 2 sees `peer-reconnecting`/`peer-reconnected`
//! and no `peer-leave` (nor a second `peer-online`).

use std::time::Duration;

use tether_tests::{measure, NetPair};

#[test]
fn five_second_silent_cut_resumes_the_session() {
    let Some(mut p) = NetPair::start("five_second_silent_cut_resumes", true) else {
        return;
    };
    let m1 = p.uid1.mark();
    let m2 = p.uid2.mark();

    let cut = p.net.cut_silent();
    // Keepalive: dead link declared after 3 s of silence (the issue allows 4 s).
    let down = p.uid1.wait_state("CONNECTING", Duration::from_secs(6));
    assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
    assert_eq!(
        down.detail_str("cause"),
        Some("KEEPALIVE_TIMEOUT"),
        "a silent cut gives no OS hint: {down}"
    );
    let noticed = down.ts - cut.at_unix_ms;
    measure("silent_cut_to_connecting_ms", noticed);
    assert!(
        noticed <= 4000,
        "UID 1 noticed the silent cut only after {noticed} ms (limit 4000)"
    );
    p.uid2
        .wait_peer("peer-reconnecting", 1, Duration::from_secs(5));

    std::thread::sleep(
        (cut.at + Duration::from_secs(5)).saturating_duration_since(std::time::Instant::now()),
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
    let attempts: Vec<_> = p
        .uid1
        .events_since(m1)
        .into_iter()
        .filter(|e| e.name == "reconnect-attempt" && e.index < back.index)
        .collect();
    let last = attempts.last().unwrap_or_else(|| {
        panic!(
            "no reconnect-attempt before RECONNECT_SUCCESS\n{}",
            p.uid1.log().dump()
        )
    });
    assert_eq!(
        last.str("mode"),
        Some("RESUME"),
        "the successful attempt inside the server's window was not a resume: {last}"
    );
    println!("reconnect attempts during the cut: {}", attempts.len());

    p.uid2
        .wait_peer("peer-reconnected", 1, Duration::from_secs(3));

    // Until well past the server's 10 s window from the cut: UID 2 never sees
    // UID 1 leave, rejoin or lose its stream; UID 2 itself is never interrupted.
    let until = cut.at + Duration::from_millis(11_000);
    p.uid2.expect_none_until(
        m2,
        "sign that UID 1's session was not resumed",
        until,
        |e| {
            e.is_peer("peer-leave", 1)
                || e.is_peer("peer-online", 1)
                || e.is_peer("stream-removed", 1)
        },
    );
    assert!(
        !p.uid2
            .events_since(m2)
            .iter()
            .any(|e| e.name == "connection-state-change"),
        "UID 2 changed state although its network was fine\n{}",
        p.uid2.log().dump()
    );
    // UID 1 stayed CONNECTED after the resume and still sees UID 2.
    assert!(
        !p.uid1
            .events_since(back.index + 1)
            .iter()
            .any(|e| e.name == "connection-state-change"),
        "UID 1 changed state again after resuming\n{}",
        p.uid1.log().dump()
    );
    assert_eq!(p.uid1.roster(), vec![2], "UID 1's roster after the resume");
    assert!(p.uid2.streams().contains(&1), "UID 2 lost UID 1's stream");
    p.assert_legal_transitions();
}
