//! Scenario (c): the server is killed with SIGKILL (no goodbye) and restarted
//! on the same address: both clients notice, keep retrying, are CONNECTED
//! again soon after the server is back, and see each other (and UID 1's
//! stream) again. A third client joining afterwards sees both, which shows the
//! new server really has them.

use std::time::Duration;

use tether_tests::{measure, NetPair, Side};

#[test]
fn server_kill9_and_restart_brings_everyone_back() {
    let Some(mut p) = NetPair::start("server_kill9_restart", true) else {
        return;
    };
    let (m1, m2) = (p.uid1.mark(), p.uid2.mark());
    let killed_ms = tether_tests::unix_ms();
    p.server.kill9();

    for c in [&p.uid1, &p.uid2] {
        let down = c.wait_state("CONNECTING", Duration::from_secs(5));
        assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
        measure("server_kill_to_connecting_ms", down.ts - killed_ms);
        // It keeps trying while the server is down.
        c.wait_for(
            "a reconnect-attempt while the server is down",
            Duration::from_secs(3),
            |e| e.name == "reconnect-attempt",
        );
    }

    p.server.restart();
    let ready_ms = tether_tests::unix_ms();
    for c in [&p.uid1, &p.uid2] {
        let back = c.wait_state("CONNECTED", Duration::from_secs(3));
        assert_eq!(back.str("reason"), Some("RECONNECT_SUCCESS"), "{back}");
        let ms = back.ts - ready_ms;
        measure("server_restart_to_connected_ms", ms);
        assert!(
            ms <= 1000,
            "{}: CONNECTED {ms} ms after the server was back (limit 1000)",
            c.label()
        );
    }
    p.uid1.wait_roster_has(2, Duration::from_secs(3));
    p.uid2.wait_roster_has(1, Duration::from_secs(3));
    p.uid2.wait_stream_has(1, Duration::from_secs(3));
    // Whoever came back first may briefly see the other as gone, but never as
    // having left on purpose: neither of them quit.
    for (c, mark, other) in [(&p.uid1, m1, 2), (&p.uid2, m2, 1)] {
        let quit: Vec<_> = c
            .events_since(mark)
            .into_iter()
            .filter(|e| e.is_peer("peer-leave", other) && e.str("reason") == Some("QUIT"))
            .collect();
        assert!(
            quit.is_empty(),
            "{}: reported peer {other} as QUIT (left on purpose) after a server crash: {}\n{}",
            c.label(),
            quit.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            c.log().dump()
        );
    }

    // A newcomer sees both, and UID 1's stream: the restarted server has them.
    let o3 = p.opts(3, Side::Server);
    let i3 = p.spawn("uid3", &o3);
    let uid3 = &p.extra[i3];
    uid3.wait_state("CONNECTED", Duration::from_secs(5));
    uid3.wait_roster_has(1, Duration::from_secs(3));
    uid3.wait_roster_has(2, Duration::from_secs(3));
    uid3.wait_stream_has(1, Duration::from_secs(3));
    assert_eq!(uid3.roster(), vec![1, 2], "the newcomer's roster");
    // Both old clients see the newcomer: their sessions are live.
    p.uid1.wait_roster_has(3, Duration::from_secs(3));
    p.uid2.wait_roster_has(3, Duration::from_secs(3));
    println!(
        "events after the kill: uid1 {}, uid2 {}",
        p.uid1.events_since(m1).len(),
        p.uid2.events_since(m2).len()
    );
    p.assert_legal_transitions();
}

/// SIGTERM is a graceful shutdown: the server exits 0 promptly, the clients
/// are told (cause SERVER_RESTART rather than a timeout) and keep trying, and
/// they are back within 1 s of a new server on the same address.
#[test]
fn server_sigterm_is_graceful_and_clients_come_back() {
    use tether_tests::{JoinOpts, Scenario, Server, ServerOpts};
    let sc = Scenario::new("server_sigterm_restart");
    let mut server = Server::start(ServerOpts::loopback_open(), sc.dir());
    let url = server.url().to_string();
    let uid1 = JoinOpts::new(&url, "graceful", 1)
        .publish()
        .spawn("uid1", sc.dir());
    let uid2 = JoinOpts::new(&url, "graceful", 2).spawn("uid2", sc.dir());
    for c in [&uid1, &uid2] {
        c.wait_state("CONNECTED", Duration::from_secs(5));
    }
    uid1.wait_roster_has(2, Duration::from_secs(3));
    uid2.wait_roster_has(1, Duration::from_secs(3));
    let (m1, m2) = (uid1.mark(), uid2.mark());

    let asked = std::time::Instant::now();
    let status = server.terminate(Duration::from_secs(5));
    let status = status.unwrap_or_else(|| panic!("the server did not exit within 5 s of SIGTERM"));
    assert!(
        status.success(),
        "server exit status after SIGTERM: {status}"
    );
    measure("server_sigterm_to_exit_ms", asked.elapsed().as_millis());
    for c in [&uid1, &uid2] {
        let down = c.wait_state("CONNECTING", Duration::from_secs(3));
        assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
        assert_eq!(
            down.detail_str("cause"),
            Some("SERVER_RESTART"),
            "{}: the server said it was going away: {down}",
            c.label()
        );
        c.wait_for(
            "a reconnect-attempt while the server is down",
            Duration::from_secs(3),
            |e| e.name == "reconnect-attempt",
        );
    }

    server.restart();
    let ready_ms = tether_tests::unix_ms();
    for c in [&uid1, &uid2] {
        let back = c.wait_state("CONNECTED", Duration::from_secs(3));
        let ms = back.ts - ready_ms;
        measure("server_restart_to_connected_ms", ms);
        assert!(
            ms <= 1000,
            "{}: CONNECTED {ms} ms after the server was back",
            c.label()
        );
    }
    uid1.wait_roster_has(2, Duration::from_secs(3));
    uid2.wait_roster_has(1, Duration::from_secs(3));
    uid2.wait_stream_has(1, Duration::from_secs(3));
    for (c, mark, other) in [(&uid1, m1, 2), (&uid2, m2, 1)] {
        assert!(
            !c.events_since(mark)
                .iter()
                .any(|e| e.is_peer("peer-leave", other) && e.str("reason") == Some("QUIT")),
            "{}: reported peer {other} as QUIT after a server restart\n{}",
            c.label(),
            c.log().dump()
        );
    }
    uid1.assert_legal_transitions();
    uid2.assert_legal_transitions();
}
