//! Scenario (g): leaving while reconnecting (during a silent cut) stops the
//! reconnection: SIGTERM, SIGINT and the end of `--duration` each give
//! CONNECTING -> DISCONNECTING (LEAVE) -> DISCONNECTED (LEAVE), no
//! reconnect-attempt after that, and exit 0, promptly, although the server
//! cannot be told. Also, behind the same cut, `--give-up-after` ends the
//! reconnection at its deadline with GAVE_UP.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tether_tests::{measure, Client, NetPair, Side};

fn expect_clean_leave(c: &mut Client, asked_ms: i64, within: Duration) {
    let leaving = c.wait_state("DISCONNECTING", within);
    assert_eq!(leaving.str("reason"), Some("LEAVE"), "{leaving}");
    assert_eq!(
        leaving.str("prevState"),
        Some("CONNECTING"),
        "{}: was not reconnecting when it left: {leaving}",
        c.label()
    );
    let gone = c.wait_state("DISCONNECTED", Duration::from_secs(3));
    assert_eq!(gone.str("reason"), Some("LEAVE"), "{gone}");
    let status = c.expect_exit(Duration::from_secs(3));
    assert!(
        status.success(),
        "{}: exit status {status} after leaving (expected 0)",
        c.label()
    );
    measure(
        "leave_while_reconnecting_to_exit_ms",
        tether_tests::unix_ms() - asked_ms,
    );
    let late: Vec<_> = c
        .events_since(leaving.index)
        .into_iter()
        .filter(|e| {
            e.name == "reconnect-attempt" || e.is_state("CONNECTING") || e.is_state("CONNECTED")
        })
        .collect();
    assert!(
        late.is_empty(),
        "{}: kept reconnecting after leaving: {late:?}",
        c.label()
    );
    c.assert_legal_transitions();
}

#[test]
fn leaving_while_reconnecting_stops_reconnecting() {
    let Some(mut p) = NetPair::start("leave_while_reconnecting", true) else {
        return;
    };
    // Two more clients behind the same cut: one leaves on SIGINT, one when its
    // --duration ends (7 s after start: after the cut's 3 s keepalive timeout).
    let o3 = p.opts(3, Side::Client);
    let o4 = p.opts(4, Side::Client).duration(7);
    let i3 = p.spawn("uid3", &o3);
    let i4 = p.spawn("uid4", &o4);
    // And one that gives up 4 s into the reconnection.
    let mut o5 = p.opts(5, Side::Client);
    o5.give_up_after_secs = Some(4);
    let i5 = p.spawn("uid5", &o5);
    for i in [i3, i4, i5] {
        p.extra[i].wait_state("CONNECTED", Duration::from_secs(5));
    }

    let cut = p.net.cut_silent();
    for c in [&p.uid1, &p.extra[i3]] {
        let down = c.wait_state("CONNECTING", Duration::from_secs(6));
        assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
        // In the retry loop: at least one attempt has been made.
        c.wait_for(
            "a reconnect-attempt during the cut",
            Duration::from_secs(3),
            |e| e.name == "reconnect-attempt",
        );
    }

    let asked = tether_tests::unix_ms();
    p.uid1.signal(Signal::SIGTERM);
    p.extra[i3].signal(Signal::SIGINT);
    expect_clean_leave(&mut p.uid1, asked, Duration::from_secs(2));
    expect_clean_leave(&mut p.extra[i3], asked, Duration::from_secs(2));

    // --duration ends during the cut too.
    let c4 = &mut p.extra[i4];
    let down = c4.wait_state("CONNECTING", Duration::from_secs(6));
    assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
    let ends_at = c4.spawned_at + Duration::from_secs(7);
    let ends_ms = c4.spawned_unix_ms + 7000;
    expect_clean_leave(
        c4,
        ends_ms,
        ends_at.saturating_duration_since(Instant::now()) + Duration::from_secs(2),
    );
    // --give-up-after ends reconnection at its deadline (not before), with
    // GAVE_UP and a non-zero exit.
    let c5 = &mut p.extra[i5];
    let down = c5.wait_state("CONNECTING", Duration::from_secs(6));
    assert_eq!(down.str("reason"), Some("INTERRUPTED"), "{down}");
    let attempt = c5.wait_for("a reconnect-attempt", Duration::from_secs(3), |e| {
        e.name == "reconnect-attempt"
    });
    let give_up_at = attempt.i64("giveUpAt").expect("giveUpAt");
    let planned = give_up_at - down.ts;
    assert!(
        (3500..=4500).contains(&planned),
        "giveUpAt is {planned} ms after the interruption with --give-up-after 4: {attempt}"
    );
    let gave_up = c5.wait_state("DISCONNECTED", Duration::from_secs(6));
    assert_eq!(gave_up.str("reason"), Some("GAVE_UP"), "{gave_up}");
    let late = gave_up.ts - give_up_at;
    measure("give_up_lateness_ms", late);
    assert!(
        (0..=1000).contains(&late),
        "gave up {late} ms after its own giveUpAt (expected 0..=1000)"
    );
    let st = c5.expect_exit(Duration::from_secs(3));
    assert!(
        !st.success(),
        "exit status {st} after GAVE_UP (expected non-zero)"
    );
    assert!(
        !c5.events_since(gave_up.index)
            .iter()
            .any(|e| e.name == "reconnect-attempt"),
        "reconnect-attempt after GAVE_UP"
    );
    c5.assert_legal_transitions();

    assert!(
        Instant::now() < cut.at + Duration::from_secs(20),
        "the cut outlasted the test's plan"
    );
    p.net.restore();
    p.uid2.assert_legal_transitions();
}
