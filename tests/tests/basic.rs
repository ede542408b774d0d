//! The reference timeline on loopback without faults: join, presence, publish,
//! leave. UID 2 is in the channel; UID 1 joins and publishes; UID 2 sees
//! `peer-online` and `stream-added`; UID 2 leaves (SIGTERM) and UID 1 sees
//! `peer-leave {QUIT}`; UID 1 leaves (SIGINT). Both exit 0.

use std::time::Duration;

use nix::sys::signal::Signal;
use tether_tests::{measure, JoinOpts, Scenario, Server, ServerOpts};

#[test]
fn join_presence_publish_and_leave_on_loopback() {
    let sc = Scenario::new("basic_timeline");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();

    let mut uid2 = JoinOpts::new(&url, "basic", 2).spawn("uid2", sc.dir());
    let c2 = uid2.wait_state_reason("CONNECTED", "JOIN_SUCCESS", Duration::from_secs(5));
    measure(
        "join_to_connected_loopback_ms",
        c2.ts - uid2.spawned_unix_ms,
    );

    let mut uid1 = JoinOpts::new(&url, "basic", 1)
        .publish()
        .spawn("uid1", sc.dir());
    let j1 = uid1.wait_state_reason("CONNECTING", "JOIN", Duration::from_secs(5));
    let c1 = uid1.wait_state_reason("CONNECTED", "JOIN_SUCCESS", Duration::from_secs(5));
    uid1.wait_for("connected", Duration::from_secs(2), |e| {
        e.name == "connected"
    });
    measure(
        "join_to_connected_loopback_ms",
        c1.ts - uid1.spawned_unix_ms,
    );
    measure("join_event_to_connected_loopback_ms", c1.ts - j1.ts);

    let online = uid2.wait_peer("peer-online", 1, Duration::from_secs(2));
    assert_eq!(online.str("name"), Some("u1"), "{online}");
    measure("peer_online_after_connected_ms", online.ts - c1.ts);
    let added = uid2.wait_peer("stream-added", 1, Duration::from_secs(2));
    assert!(
        added.json.get("audio").and_then(|v| v.as_bool()).is_some()
            && added.json.get("video").and_then(|v| v.as_bool()).is_some(),
        "stream-added without audio/video flags: {added}"
    );
    uid1.wait_roster_has(2, Duration::from_secs(2));

    uid2.signal(Signal::SIGTERM);
    uid2.wait_state_reason("DISCONNECTING", "LEAVE", Duration::from_secs(3));
    uid2.wait_state_reason("DISCONNECTED", "LEAVE", Duration::from_secs(3));
    let st = uid2.expect_exit(Duration::from_secs(3));
    assert!(st.success(), "uid2 exited with {st} after SIGTERM");
    let left = uid1.wait_peer("peer-leave", 2, Duration::from_secs(3));
    assert_eq!(left.str("reason"), Some("QUIT"), "{left}");

    uid1.signal(Signal::SIGINT);
    uid1.wait_state_reason("DISCONNECTING", "LEAVE", Duration::from_secs(3));
    uid1.wait_state_reason("DISCONNECTED", "LEAVE", Duration::from_secs(3));
    let st = uid1.expect_exit(Duration::from_secs(3));
    assert!(st.success(), "uid1 exited with {st} after SIGINT");

    uid1.assert_legal_transitions();
    uid2.assert_legal_transitions();
}

/// `--duration` ends the session cleanly with exit 0.
#[test]
fn duration_leaves_cleanly() {
    let sc = Scenario::new("duration_leaves");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let mut c = JoinOpts::new(server.url(), "dur", 1)
        .duration(1)
        .spawn("uid1", sc.dir());
    c.wait_state("CONNECTED", Duration::from_secs(5));
    c.wait_state_reason("DISCONNECTING", "LEAVE", Duration::from_secs(3));
    c.wait_state_reason("DISCONNECTED", "LEAVE", Duration::from_secs(3));
    let st = c.expect_exit(Duration::from_secs(3));
    assert!(st.success(), "exit status {st} after --duration");
    c.assert_legal_transitions();
}
