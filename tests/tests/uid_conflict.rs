//! Scenario (f): the same uid joins the same channel again from another
//! client: the first client ends at once in DISCONNECTED {UID_CONFLICT},
//! exits non-zero and does not retry; the newcomer stays CONNECTED.

use std::time::{Duration, Instant};

use tether_tests::{measure, JoinOpts, Scenario, Server, ServerOpts};

#[test]
fn same_uid_joining_again_ends_the_first_with_uid_conflict() {
    let sc = Scenario::new("uid_conflict");
    let server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let observer = JoinOpts::new(&url, "dup", 2).spawn("uid2", sc.dir());
    observer.wait_state("CONNECTED", Duration::from_secs(5));
    let mut first = JoinOpts::new(&url, "dup", 1).spawn("uid1-first", sc.dir());
    first.wait_state("CONNECTED", Duration::from_secs(5));
    observer.wait_peer("peer-online", 1, Duration::from_secs(3));

    let second = JoinOpts::new(&url, "dup", 1).spawn("uid1-second", sc.dir());
    let joined = second.wait_state_reason("CONNECTED", "JOIN_SUCCESS", Duration::from_secs(5));
    let end = first.wait_state("DISCONNECTED", Duration::from_secs(3));
    assert_eq!(end.str("reason"), Some("UID_CONFLICT"), "{end}");
    measure("uid_conflict_to_disconnected_ms", end.ts - joined.ts);
    let status = first.expect_exit(Duration::from_secs(3));
    assert!(
        !status.success(),
        "first client exited with {status} (expected non-zero)"
    );
    assert!(
        !first.events().iter().any(|e| e.name == "reconnect-attempt"),
        "the first client retried after UID_CONFLICT\n{}",
        first.log().dump()
    );
    assert!(
        !first.stderr_text().trim().is_empty(),
        "no message on stderr after UID_CONFLICT"
    );

    // The newcomer is not bounced back in turn: still CONNECTED, with the
    // observer in its roster.
    second.wait_roster_has(2, Duration::from_secs(3));
    second.expect_none_until(
        joined.index + 1,
        "state change of the second client after the takeover",
        Instant::now() + Duration::from_secs(1),
        |e| e.name == "connection-state-change",
    );
    assert_eq!(second.state(), "CONNECTED");
    // The observer still has uid 1 (the new session) in its roster.
    observer.wait_roster_has(1, Duration::from_secs(3));
    first.assert_legal_transitions();
    second.assert_legal_transitions();
    observer.assert_legal_transitions();
    drop(server);
}
