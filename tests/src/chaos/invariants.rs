//! What must hold after faults: each peer/stream event once, and the
//! client's view folded from its events.

use std::collections::{BTreeMap, BTreeSet};

use crate::events::Event;

/// Checks that every peer and stream event is a real change of the client's
/// view (SPEC §2 "exactly once"):
/// - no `peer-online` for a uid already online (without a `peer-leave`
///   between), no `peer-leave` for a uid not online;
/// - no `stream-added` for a uid whose stream is visible (without a
///   `stream-removed` or `peer-leave` between), no `stream-removed` for a uid
///   with no visible stream;
/// - `peer-reconnecting` / `peer-reconnected` alternate per peer (reset by
///   `peer-leave`), and only for peers online.
///
/// The state changes themselves are checked by
/// [`crate::states::check_transitions`] (prev == previous cur, prev != cur,
/// legal transitions).
pub fn check_once(events: &[Event]) -> Result<(), String> {
    let mut online: BTreeSet<u64> = BTreeSet::new();
    let mut streams: BTreeSet<u64> = BTreeSet::new();
    let mut reconnecting: BTreeSet<u64> = BTreeSet::new();
    for e in events {
        let Some(uid) = e.uid() else { continue };
        let bad = match e.name.as_str() {
            "peer-online" => {
                (!online.insert(uid)).then_some("a second peer-online without a peer-leave between")
            }
            "peer-leave" => {
                streams.remove(&uid);
                reconnecting.remove(&uid);
                (!online.remove(&uid)).then_some("peer-leave for a peer that was not online")
            }
            "stream-added" if !online.contains(&uid) => {
                Some("stream-added for a peer that is not online")
            }
            "stream-added" => (!streams.insert(uid))
                .then_some("a second stream-added without a stream-removed between"),
            "stream-removed" => {
                (!streams.remove(&uid)).then_some("stream-removed with no visible stream")
            }
            "peer-reconnecting" => (!online.contains(&uid) || !reconnecting.insert(uid))
                .then_some("peer-reconnecting for a peer not online or already reconnecting"),
            "peer-reconnected" => (!reconnecting.remove(&uid))
                .then_some("peer-reconnected without a peer-reconnecting"),
            _ => None,
        };
        if let Some(why) = bad {
            return Err(format!("uid {uid}: {why}: {e}"));
        }
    }
    Ok(())
}

/// Counts of interesting events per name (for the report).
pub fn counts(events: &[Event]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        if e.name != "media-stats" && e.name != "volume-indicator" && e.name != "network-quality" {
            *m.entry(e.name.clone()).or_insert(0) += 1;
        }
    }
    m
}

/// `connection-state-change` to CONNECTING (INTERRUPTED) so far.
pub fn interruptions(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| e.is_state_reason("CONNECTING", "INTERRUPTED"))
        .count()
}

/// Lines with "panicked at" in every `*.stderr.log` under `dir` (every
/// process a scenario started: clients, observers, each server
/// generation, the relay), as `file: line`.
pub fn panics_in_logs(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        if !name.is_some_and(|n| n.ends_with(".stderr.log")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for l in text.lines().filter(|l| l.contains("panicked at")) {
            found.push(format!("{}: {l}", path.display()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;

    fn evs(lines: &[&str]) -> Vec<Event> {
        let log = EventLog::new("t");
        for l in lines {
            log.push_line(l);
        }
        log.snapshot()
    }

    #[test]
    fn duplicates_are_caught() {
        let on = r#"{"ts":1,"event":"peer-online","uid":5}"#;
        let leave = r#"{"ts":1,"event":"peer-leave","uid":5,"reason":"QUIT"}"#;
        let add = r#"{"ts":1,"event":"stream-added","uid":5}"#;
        let rm = r#"{"ts":1,"event":"stream-removed","uid":5}"#;
        let rc = r#"{"ts":1,"event":"peer-reconnecting","uid":5}"#;
        let rd = r#"{"ts":1,"event":"peer-reconnected","uid":5}"#;
        assert!(check_once(&evs(&[on, add, rm, add, rc, rd, leave, on, add])).is_ok());
        assert!(check_once(&evs(&[on, on])).is_err());
        assert!(check_once(&evs(&[on, add, add])).is_err());
        assert!(check_once(&evs(&[on, rm])).is_err());
        assert!(check_once(&evs(&[leave])).is_err());
        assert!(check_once(&evs(&[on, rd])).is_err());
        assert!(check_once(&evs(&[on, rc, rc])).is_err());
    }
}
