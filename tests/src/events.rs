//! JSON event lines from a `tether join` process, collected with receive
//! timestamps, and waiting for them with deadlines.

use std::fmt::Write as _;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The instant the harness was first used in this process; event dumps show
/// times relative to it.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// One event line printed by a client.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the client's event list.
    pub index: usize,
    /// When the harness read the line.
    pub recv_at: Instant,
    /// When the harness read the line, Unix ms.
    pub recv_unix_ms: i64,
    /// The `ts` field (Unix ms when the client emitted it); 0 if missing.
    pub ts: i64,
    /// The `event` field.
    pub name: String,
    /// The whole object.
    pub json: Value,
}

impl Event {
    /// A string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.json.get(key).and_then(Value::as_str)
    }

    /// An integer field.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.json.get(key).and_then(Value::as_u64)
    }

    /// An integer field.
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.json.get(key).and_then(Value::as_i64)
    }

    /// A number field (integer or not).
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.json.get(key).and_then(Value::as_f64)
    }

    /// A boolean field.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.json.get(key).and_then(Value::as_bool)
    }

    /// The `uid` field.
    pub fn uid(&self) -> Option<u64> {
        self.u64("uid")
    }

    /// A field of `detail`.
    pub fn detail_str(&self, key: &str) -> Option<&str> {
        self.json
            .get("detail")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
    }

    /// `connection-state-change` to `cur`.
    pub fn is_state(&self, cur: &str) -> bool {
        self.name == "connection-state-change" && self.str("curState") == Some(cur)
    }

    /// `connection-state-change` to `cur` with `reason`.
    pub fn is_state_reason(&self, cur: &str, reason: &str) -> bool {
        self.is_state(cur) && self.str("reason") == Some(reason)
    }

    /// An event `name` about peer `uid`.
    pub fn is_peer(&self, name: &str, uid: u32) -> bool {
        self.name == name && self.uid() == Some(u64::from(uid))
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rel = self.recv_at.saturating_duration_since(epoch());
        write!(
            f,
            "#{:<3} +{:>7}ms {}",
            self.index,
            rel.as_millis(),
            self.json
        )
    }
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    bad_lines: Vec<String>,
    closed: bool,
}

/// The events of one client, appended by a reader thread.
pub struct EventLog {
    label: String,
    inner: Mutex<Inner>,
    cond: Condvar,
}

impl EventLog {
    /// An empty log.
    pub fn new(label: &str) -> Self {
        epoch();
        Self {
            label: label.to_string(),
            inner: Mutex::new(Inner::default()),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one stdout line. Lines that are not JSON objects with `ts` and
    /// `event` are kept apart as contract violations.
    pub fn push_line(&self, line: &str) {
        let recv_at = Instant::now();
        let recv_unix_ms = crate::unix_ms();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        let mut inner = self.lock();
        match serde_json::from_str::<Value>(trimmed) {
            Ok(json)
                if json.get("ts").and_then(Value::as_i64).is_some()
                    && json.get("event").and_then(Value::as_str).is_some() =>
            {
                let index = inner.events.len();
                let ts = json.get("ts").and_then(Value::as_i64).unwrap_or(0);
                let name = json
                    .get("event")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                inner.events.push(Event {
                    index,
                    recv_at,
                    recv_unix_ms,
                    ts,
                    name,
                    json,
                });
            }
            _ => inner.bad_lines.push(trimmed.to_string()),
        }
        drop(inner);
        self.cond.notify_all();
    }

    /// Marks the end of the stream (the process closed its stdout).
    pub fn close(&self) {
        self.lock().closed = true;
        self.cond.notify_all();
    }

    /// True once the process closed its stdout.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// All events so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// True when no event arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stdout lines that were not JSON event objects.
    pub fn bad_lines(&self) -> Vec<String> {
        self.lock().bad_lines.clone()
    }

    /// Waits until an event at index `from` or later matches `pred`, at most
    /// `timeout`. Fails early when the stream ends without a match.
    pub fn wait_for_from(
        &self,
        from: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<Event, String> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        let mut scanned = from;
        loop {
            if let Some(ev) = inner.events.iter().skip(scanned).find(|e| pred(e)) {
                return Ok(ev.clone());
            }
            scanned = scanned.max(inner.events.len());
            if inner.closed {
                return Err(self.failure(
                    &inner,
                    &format!("the process ended (stdout closed) without {what}"),
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.failure(
                    &inner,
                    &format!("timed out after {timeout:?} waiting for {what}"),
                ));
            }
            inner = self
                .cond
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until `pred` holds for the whole list of events (e.g. a roster
    /// folded over them), at most `timeout`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Event]) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if pred(&inner.events) {
                return Ok(());
            }
            if inner.closed {
                return Err(self.failure(
                    &inner,
                    &format!("the process ended (stdout closed) before {what}"),
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.failure(
                    &inner,
                    &format!("timed out after {timeout:?} waiting until {what}"),
                ));
            }
            inner = self
                .cond
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until `deadline` and fails if an event at index `from` or later
    /// matches `pred` before then (returns early, fine, if the stream ends).
    pub fn expect_none_until(
        &self,
        from: usize,
        what: &str,
        deadline: Instant,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<(), String> {
        let mut inner = self.lock();
        loop {
            if let Some(ev) = inner.events.iter().skip(from).find(|e| pred(e)) {
                let msg = format!("unexpected {what}: {ev}");
                return Err(self.failure(&inner, &msg));
            }
            let now = Instant::now();
            if inner.closed || now >= deadline {
                return Ok(());
            }
            inner = self
                .cond
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn failure(&self, inner: &Inner, why: &str) -> String {
        let mut s = format!("{}: {why}\n{}", self.label, dump(&inner.events));
        if !inner.bad_lines.is_empty() {
            let _ = writeln!(s, "  non-JSON stdout lines: {:?}", inner.bad_lines);
        }
        s
    }

    /// A readable dump of every event so far.
    pub fn dump(&self) -> String {
        let inner = self.lock();
        format!("{}:\n{}", self.label, dump(&inner.events))
    }
}

fn dump(events: &[Event]) -> String {
    if events.is_empty() {
        return "  (no events)\n".to_string();
    }
    let mut s = String::from("  events so far:\n");
    for e in events {
        let _ = writeln!(s, "    {e}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waits_for_a_later_event_and_reports_timeouts() {
        let log = Arc::new(EventLog::new("t"));
        log.push_line(r#"{"ts":1,"event":"a"}"#);
        log.push_line("not json");
        let l2 = Arc::clone(&log);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            l2.push_line(r#"{"ts":2,"event":"b","uid":7}"#);
        });
        let ev = log
            .wait_for_from(0, "b", Duration::from_secs(5), |e| e.is_peer("b", 7))
            .expect("b arrives");
        assert_eq!(ev.index, 1);
        assert_eq!(ev.ts, 2);
        writer.join().expect("writer");
        let err = log
            .wait_for_from(2, "c", Duration::from_millis(30), |e| e.name == "c")
            .expect_err("c never comes");
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("\"event\":\"a\""), "{err}");
        assert!(err.contains("not json"), "{err}");
        assert_eq!(log.bad_lines(), vec!["not json".to_string()]);
        log.close();
        let err = log
            .wait_for_from(0, "c", Duration::from_secs(10), |e| e.name == "c")
            .expect_err("closed");
        assert!(err.contains("stdout closed"), "{err}");
        assert!(log
            .expect_none_until(0, "a", Instant::now(), |e| e.name == "a")
            .is_err());
        assert!(log
            .expect_none_until(0, "z", Instant::now(), |e| e.name == "z")
            .is_ok());
    }
}
