//! The legal connection-state transitions of SPEC §2, as a checker over a
//! client's events.

use crate::events::Event;

/// The four states.
pub const STATES: [&str; 4] = ["DISCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING"];

/// Reasons that end a session at once (CONNECTING | CONNECTED -> DISCONNECTED).
pub const FAILURE_REASONS: [&str; 8] = [
    "JOIN_FAILED",
    "GAVE_UP",
    "TOKEN_EXPIRED",
    "INVALID_TOKEN",
    "KICKED",
    "UID_CONFLICT",
    "CHANNEL_CLOSED",
    "SERVER_REJECTED",
];

/// Causes an INTERRUPTED change may carry in `detail.cause`.
pub const INTERRUPT_CAUSES: [&str; 6] = [
    "KEEPALIVE_TIMEOUT",
    "SOCKET_CLOSED",
    "ICE_FAILED",
    "NETWORK_CHANGED",
    "SERVER_RESTART",
    "SYSTEM_WAKE",
];

/// Whether `prev -> cur` with `reason` is one of SPEC §2's legal transitions.
pub fn is_legal(prev: &str, cur: &str, reason: &str) -> bool {
    match (prev, cur) {
        ("DISCONNECTED", "CONNECTING") => reason == "JOIN",
        ("CONNECTING", "CONNECTED") => matches!(reason, "JOIN_SUCCESS" | "RECONNECT_SUCCESS"),
        ("CONNECTED", "CONNECTING") => reason == "INTERRUPTED",
        ("CONNECTED" | "CONNECTING", "DISCONNECTING") => reason == "LEAVE",
        ("DISCONNECTING", "DISCONNECTED") => reason == "LEAVE",
        ("CONNECTING" | "CONNECTED", "DISCONNECTED") => FAILURE_REASONS.contains(&reason),
        _ => false,
    }
}

/// Checks the `connection-state-change` events in `events`:
/// - every change is a legal transition with a legal reason (SPEC §2);
/// - the first starts from DISCONNECTED and each starts where the previous
///   ended (no change is missing or repeated, none is a no-op);
/// - JOIN_SUCCESS only for the first CONNECTED after a JOIN, RECONNECT_SUCCESS
///   only after an INTERRUPTED;
/// - INTERRUPTED carries a known `detail.cause`;
/// - `reconnect-attempt` events come only while CONNECTING, with increasing
///   attempt numbers within one connecting phase, mode RESUME or REJOIN, and
///   `nextAt`/`giveUpAt` (Unix ms);
/// - no state change follows the final DISCONNECTED (a process joins once).
pub fn check_transitions(events: &[Event]) -> Result<(), String> {
    let mut state = "DISCONNECTED".to_string();
    let mut interrupted = false;
    let mut connected_once = false;
    let mut last_attempt: Option<u64> = None;
    let mut ended = false;
    for e in events {
        match e.name.as_str() {
            "connection-state-change" => {
                let prev = e
                    .str("prevState")
                    .ok_or_else(|| format!("no prevState in {e}"))?;
                let cur = e
                    .str("curState")
                    .ok_or_else(|| format!("no curState in {e}"))?;
                let reason = e.str("reason").ok_or_else(|| format!("no reason in {e}"))?;
                if ended {
                    return Err(format!("state change after the final DISCONNECTED: {e}"));
                }
                if !STATES.contains(&prev) || !STATES.contains(&cur) {
                    return Err(format!("unknown state in {e}"));
                }
                if prev != state {
                    return Err(format!(
                        "prevState {prev} but the previous change ended in {state}: {e}"
                    ));
                }
                if !is_legal(prev, cur, reason) {
                    return Err(format!(
                        "illegal transition {prev} -> {cur} ({reason}): {e}"
                    ));
                }
                match reason {
                    "JOIN_SUCCESS" if connected_once => {
                        return Err(format!("JOIN_SUCCESS for a reconnection: {e}"));
                    }
                    "RECONNECT_SUCCESS" if !interrupted => {
                        return Err(format!("RECONNECT_SUCCESS without an interruption: {e}"));
                    }
                    "INTERRUPTED" => {
                        let cause = e.detail_str("cause");
                        if !cause.is_some_and(|c| INTERRUPT_CAUSES.contains(&c)) {
                            return Err(format!("INTERRUPTED without a known detail.cause: {e}"));
                        }
                        interrupted = true;
                    }
                    _ => {}
                }
                if cur == "CONNECTING" {
                    last_attempt = None;
                }
                if cur == "CONNECTED" {
                    connected_once = true;
                    interrupted = false;
                }
                if cur == "DISCONNECTED" {
                    ended = true;
                }
                state = cur.to_string();
            }
            "reconnect-attempt" => {
                if state != "CONNECTING" {
                    return Err(format!(
                        "reconnect-attempt while {state} (only while reconnecting): {e}"
                    ));
                }
                let attempt = e
                    .u64("attempt")
                    .ok_or_else(|| format!("reconnect-attempt without attempt: {e}"))?;
                if let Some(prev) = last_attempt {
                    if attempt <= prev {
                        return Err(format!(
                            "reconnect-attempt number {attempt} after {prev}: {e}"
                        ));
                    }
                }
                last_attempt = Some(attempt);
                if !matches!(e.str("mode"), Some("RESUME" | "REJOIN")) {
                    return Err(format!(
                        "reconnect-attempt mode is not RESUME or REJOIN: {e}"
                    ));
                }
                if e.i64("nextAt").is_none() || e.i64("giveUpAt").is_none() {
                    return Err(format!("reconnect-attempt without nextAt/giveUpAt: {e}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;

    fn events(lines: &[&str]) -> Vec<Event> {
        let log = EventLog::new("t");
        for l in lines {
            log.push_line(l);
        }
        log.snapshot()
    }

    fn sc(prev: &str, cur: &str, reason: &str) -> String {
        format!(
            r#"{{"ts":1,"event":"connection-state-change","prevState":"{prev}","curState":"{cur}","reason":"{reason}","detail":{{"cause":"KEEPALIVE_TIMEOUT"}}}}"#
        )
    }

    #[test]
    fn the_reference_timeline_is_legal() {
        let attempt = r#"{"ts":1,"event":"reconnect-attempt","attempt":1,"mode":"RESUME","nextAt":2,"giveUpAt":3}"#;
        let attempt2 = r#"{"ts":1,"event":"reconnect-attempt","attempt":2,"mode":"REJOIN","nextAt":2,"giveUpAt":3}"#;
        let lines = [
            sc("DISCONNECTED", "CONNECTING", "JOIN"),
            sc("CONNECTING", "CONNECTED", "JOIN_SUCCESS"),
            r#"{"ts":1,"event":"connected"}"#.to_string(),
            sc("CONNECTED", "CONNECTING", "INTERRUPTED"),
            attempt.to_string(),
            attempt2.to_string(),
            sc("CONNECTING", "CONNECTED", "RECONNECT_SUCCESS"),
            sc("CONNECTED", "DISCONNECTING", "LEAVE"),
            sc("DISCONNECTING", "DISCONNECTED", "LEAVE"),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(check_transitions(&events(&refs)), Ok(()));
    }

    #[test]
    fn illegal_sequences_are_caught() {
        let bad: Vec<Vec<String>> = vec![
            // does not start from DISCONNECTED
            vec![sc("CONNECTING", "CONNECTED", "JOIN_SUCCESS")],
            // CONNECTING -> CONNECTING is never emitted
            vec![
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
                sc("CONNECTING", "CONNECTING", "INTERRUPTED"),
            ],
            // wrong reason
            vec![sc("DISCONNECTED", "CONNECTING", "LEAVE")],
            // a missing change (CONNECTED -> CONNECTING not reported)
            vec![
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
                sc("CONNECTING", "CONNECTED", "JOIN_SUCCESS"),
                sc("CONNECTING", "CONNECTED", "RECONNECT_SUCCESS"),
            ],
            // RECONNECT_SUCCESS on the first join
            vec![
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
                sc("CONNECTING", "CONNECTED", "RECONNECT_SUCCESS"),
            ],
            // DISCONNECTED straight from CONNECTED with LEAVE
            vec![
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
                sc("CONNECTING", "CONNECTED", "JOIN_SUCCESS"),
                sc("CONNECTED", "DISCONNECTED", "LEAVE"),
            ],
            // reconnect-attempt after leaving
            vec![
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
                sc("CONNECTING", "CONNECTED", "JOIN_SUCCESS"),
                sc("CONNECTED", "CONNECTING", "INTERRUPTED"),
                sc("CONNECTING", "DISCONNECTING", "LEAVE"),
                r#"{"ts":1,"event":"reconnect-attempt","attempt":3,"mode":"RESUME","nextAt":2,"giveUpAt":3}"#
                    .into(),
            ],
            // a change after the end
            vec![
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
                sc("CONNECTING", "DISCONNECTED", "INVALID_TOKEN"),
                sc("DISCONNECTED", "CONNECTING", "JOIN"),
            ],
        ];
        for seq in bad {
            let refs: Vec<&str> = seq.iter().map(String::as_str).collect();
            assert!(check_transitions(&events(&refs)).is_err(), "{seq:?}");
        }
    }

    #[test]
    fn the_table() {
        assert!(is_legal("CONNECTING", "DISCONNECTED", "UID_CONFLICT"));
        assert!(is_legal("CONNECTED", "DISCONNECTED", "KICKED"));
        assert!(!is_legal("DISCONNECTING", "CONNECTING", "JOIN"));
        assert!(!is_legal("DISCONNECTED", "CONNECTED", "JOIN_SUCCESS"));
        assert!(!is_legal("DISCONNECTING", "DISCONNECTED", "GAVE_UP"));
    }
}
