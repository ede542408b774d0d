//! Scenario (d): tokens that a retry cannot fix — missing, malformed, forged
//! (another secret), expired, for another channel, for another uid — end the
//! client at once in DISCONNECTED with INVALID_TOKEN or TOKEN_EXPIRED, with a
//! non-zero exit and a message on stderr, and no reconnect attempt. A valid
//! token joins (the control case, and the loopback join time).

use std::time::Duration;

use tether_tests::server::{mint_token, token_exp, write_secret};
use tether_tests::{measure, Client, JoinOpts, Scenario, Server, ServerOpts};

const CHANNEL: &str = "secure";

/// How long a refused join may take from start to exit.
const PROMPT: Duration = Duration::from_secs(5);

fn expect_refused(c: &mut Client, reason: &str) {
    let end = c.wait_state("DISCONNECTED", PROMPT);
    assert_eq!(
        end.str("reason"),
        Some(reason),
        "{}: ended with the wrong reason: {end}\n{}",
        c.label(),
        c.log().dump()
    );
    let status = c.expect_exit(Duration::from_secs(3));
    assert!(
        !status.success(),
        "{}: exit status {status} after a refused join (expected non-zero)",
        c.label()
    );
    let took = c.spawned_at.elapsed();
    measure("refused_join_to_exit_ms", took.as_millis());
    let events = c.events();
    assert!(
        !events.iter().any(|e| e.name == "reconnect-attempt"),
        "{}: retried a join that a retry cannot fix\n{}",
        c.label(),
        c.log().dump()
    );
    assert!(
        !events.iter().any(|e| e.is_state("CONNECTED")),
        "{}: was CONNECTED with a bad token\n{}",
        c.label(),
        c.log().dump()
    );
    let stderr = c.stderr_text();
    assert!(
        !stderr.trim().is_empty(),
        "{}: no message on stderr after a refused join",
        c.label()
    );
    c.assert_legal_transitions();
    println!("{}: {reason} after {} ms", c.label(), took.as_millis());
}

#[test]
fn bad_tokens_end_at_once_without_retry() {
    let sc = Scenario::new("bad_tokens");
    let secret = sc.path("secret");
    let other_secret = sc.path("other-secret");
    write_secret(&secret);
    std::fs::write(&other_secret, "a-completely-different-secret-0123456789").expect("write");
    let server = Server::start(ServerOpts::loopback_token(&secret), sc.dir());
    let url = server.url().to_string();

    // The expired one first: mint it now, use it once it has expired.
    let expiring = mint_token(&secret, CHANNEL, 16, Some(1), false);
    let exp = token_exp(&expiring).expect("the token has an exp claim");

    // Control: a valid token joins.
    let ok = JoinOpts::new(&url, CHANNEL, 1)
        .token(mint_token(&secret, CHANNEL, 1, None, false))
        .spawn("valid", sc.dir());
    let joining = ok.wait_state_reason("CONNECTING", "JOIN", Duration::from_secs(5));
    let connected = ok.wait_state_reason("CONNECTED", "JOIN_SUCCESS", Duration::from_secs(5));
    measure(
        "join_to_connected_loopback_ms",
        connected.ts - ok.spawned_unix_ms,
    );
    measure(
        "join_event_to_connected_loopback_ms",
        connected.ts - joining.ts,
    );
    ok.wait_for("connected event", Duration::from_secs(2), |e| {
        e.name == "connected"
    });

    let cases: Vec<(&str, u32, Option<String>)> = vec![
        ("missing", 11, None),
        ("malformed", 12, Some("not-a-jwt".to_string())),
        (
            "forged",
            13,
            Some(mint_token(&other_secret, CHANNEL, 13, None, false)),
        ),
        (
            "wrong-channel",
            14,
            Some(mint_token(&secret, "elsewhere", 14, None, false)),
        ),
        (
            "wrong-uid",
            15,
            Some(mint_token(&secret, CHANNEL, 99, None, false)),
        ),
    ];
    let mut clients: Vec<Client> = cases
        .iter()
        .map(|(label, uid, token)| {
            let mut o = JoinOpts::new(&url, CHANNEL, *uid);
            o.token = token.clone();
            o.spawn(label, sc.dir())
        })
        .collect();
    for c in &mut clients {
        expect_refused(c, "INVALID_TOKEN");
    }

    // Wait for the deliberate expiry: `exp` is in Unix seconds and a token is
    // expired once the clock is past it.
    let expired_at_ms = (i64::try_from(exp).expect("exp fits") + 1) * 1000;
    let wait = expired_at_ms - tether_tests::unix_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0)));
    }
    let mut expired = JoinOpts::new(&url, CHANNEL, 16)
        .token(expiring)
        .spawn("expired", sc.dir());
    expect_refused(&mut expired, "TOKEN_EXPIRED");

    // The valid client was never disturbed.
    assert!(
        !ok.events()
            .iter()
            .any(|e| e.is_state("CONNECTING") && e.str("reason") != Some("JOIN")),
        "the valid client was interrupted\n{}",
        ok.log().dump()
    );
    ok.assert_legal_transitions();
    drop(server);
}
