//! Starting `tether join` and waiting for its events.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::bins::client_bin;
use crate::events::{Event, EventLog};
use crate::process::{read_lines, unique_path, Proc};

/// How to start `tether join`.
#[derive(Debug, Clone)]
pub struct JoinOpts {
    /// `--server`.
    pub server: String,
    /// `--channel`.
    pub channel: String,
    /// `--uid`.
    pub uid: Option<u32>,
    /// `--name`.
    pub name: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--publish` (synthetic media).
    pub publish: bool,
    /// `--publish SOURCE` (`synthetic`, `devices` or `none`); wins over
    /// `publish`.
    pub publish_source: Option<String>,
    /// `--fallback-synthetic`.
    pub fallback_synthetic: bool,
    /// `--subscribe MODE` (`auto` or `none`); the client's default (`auto`)
    /// when `None`.
    pub subscribe: Option<String>,
    /// `--duration`.
    pub duration_secs: Option<u64>,
    /// `--give-up-after`.
    pub give_up_after_secs: Option<u64>,
    /// Network namespace to run in.
    pub netns: Option<String>,
    /// More arguments.
    pub extra: Vec<String>,
}

impl JoinOpts {
    /// `--server URL --channel CHANNEL --uid UID --name uUID`.
    pub fn new(server: &str, channel: &str, uid: u32) -> Self {
        Self {
            server: server.to_string(),
            channel: channel.to_string(),
            uid: Some(uid),
            name: Some(format!("u{uid}")),
            token: None,
            publish: false,
            publish_source: None,
            fallback_synthetic: false,
            subscribe: None,
            duration_secs: None,
            give_up_after_secs: None,
            netns: None,
            extra: Vec::new(),
        }
    }

    /// Adds `--publish`.
    pub fn publish(mut self) -> Self {
        self.publish = true;
        self
    }

    /// Adds `--publish SOURCE` (`synthetic`, `devices` or `none`).
    pub fn publish_source(mut self, source: &str) -> Self {
        self.publish_source = Some(source.to_string());
        self
    }

    /// Adds `--fallback-synthetic` (with `--publish devices`: the synthetic
    /// source stands in for a missing device).
    pub fn fallback_synthetic(mut self) -> Self {
        self.fallback_synthetic = true;
        self
    }

    /// Adds `--subscribe MODE` (`auto` or `none`).
    pub fn subscribe(mut self, mode: &str) -> Self {
        self.subscribe = Some(mode.to_string());
        self
    }

    /// Adds `--token`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Runs inside a network namespace.
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    /// Adds `--duration`.
    pub fn duration(mut self, secs: u64) -> Self {
        self.duration_secs = Some(secs);
        self
    }

    /// The command-line arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "join".to_string(),
            "--server".into(),
            self.server.clone(),
            "--channel".into(),
            self.channel.clone(),
        ];
        if let Some(uid) = self.uid {
            a.extend(["--uid".into(), uid.to_string()]);
        }
        if let Some(n) = &self.name {
            a.extend(["--name".into(), n.clone()]);
        }
        if let Some(t) = &self.token {
            a.extend(["--token".into(), t.clone()]);
        }
        if let Some(source) = &self.publish_source {
            a.extend(["--publish".into(), source.clone()]);
        } else if self.publish {
            a.push("--publish".into());
        }
        if self.fallback_synthetic {
            a.push("--fallback-synthetic".into());
        }
        if let Some(mode) = &self.subscribe {
            a.extend(["--subscribe".into(), mode.clone()]);
        }
        if let Some(d) = self.duration_secs {
            a.extend(["--duration".into(), d.to_string()]);
        }
        if let Some(g) = self.give_up_after_secs {
            a.extend(["--give-up-after".into(), g.to_string()]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// Starts the client.
    pub fn spawn(&self, label: &str, log_dir: &Path) -> Client {
        Client::spawn(label, self, log_dir)
    }
}

/// A running `tether join`.
pub struct Client {
    label: String,
    log: Arc<EventLog>,
    cursor: AtomicUsize,
    proc: Proc,
    /// When the harness spawned it.
    pub spawned_at: Instant,
    /// When the harness spawned it, Unix ms.
    pub spawned_unix_ms: i64,
}

impl Client {
    /// Starts `tether join` with `opts`.
    pub fn spawn(label: &str, opts: &JoinOpts, log_dir: &Path) -> Client {
        let log = Arc::new(EventLog::new(label));
        let spawned_unix_ms = crate::unix_ms();
        let spawned_at = Instant::now();
        let (mut proc, stdout) = Proc::spawn(
            label,
            opts.netns.as_deref(),
            &client_bin(),
            &opts.args(),
            log_dir,
        );
        let (l1, l2, l3) = (Arc::clone(&log), Arc::clone(&log), Arc::clone(&log));
        read_lines(
            label,
            stdout,
            unique_path(log_dir, label, "stdout.jsonl"),
            move |line| l1.push_line(line),
            move || l2.close(),
        );
        proc.on_failure = Some(Box::new(move || l3.dump()));
        Client {
            label: label.to_string(),
            log,
            cursor: AtomicUsize::new(0),
            proc,
            spawned_at,
            spawned_unix_ms,
        }
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The event log.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// All events so far.
    pub fn events(&self) -> Vec<Event> {
        self.log.snapshot()
    }

    /// The number of events so far (a mark for [`Client::events_since`]).
    pub fn mark(&self) -> usize {
        self.log.len()
    }

    /// Events at index `mark` or later.
    pub fn events_since(&self, mark: usize) -> Vec<Event> {
        self.log.snapshot().into_iter().skip(mark).collect()
    }

    /// Waits for the next event (after the last one a `wait_for` returned)
    /// matching `pred`, at most `timeout`; panics with every event seen so far
    /// otherwise.
    #[track_caller]
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Event) -> bool) -> Event {
        let from = self.cursor.load(Ordering::SeqCst);
        match self.log.wait_for_from(from, what, timeout, pred) {
            Ok(ev) => {
                self.cursor.store(ev.index + 1, Ordering::SeqCst);
                ev
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Client::wait_for`] but searches from event index `from` and does
    /// not move the cursor.
    #[track_caller]
    pub fn wait_for_from(
        &self,
        from: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        match self.log.wait_for_from(from, what, timeout, pred) {
            Ok(ev) => ev,
            Err(e) => panic!("{e}"),
        }
    }

    /// Waits for `connection-state-change` to `cur` (any reason).
    #[track_caller]
    pub fn wait_state(&self, cur: &str, timeout: Duration) -> Event {
        self.wait_for(&format!("connection-state-change to {cur}"), timeout, |e| {
            e.is_state(cur)
        })
    }

    /// Waits for `connection-state-change` to `cur` with `reason`.
    #[track_caller]
    pub fn wait_state_reason(&self, cur: &str, reason: &str, timeout: Duration) -> Event {
        self.wait_for(
            &format!("connection-state-change to {cur} ({reason})"),
            timeout,
            |e| e.is_state_reason(cur, reason),
        )
    }

    /// Waits for an event `name` about peer `uid`.
    #[track_caller]
    pub fn wait_peer(&self, name: &str, uid: u32, timeout: Duration) -> Event {
        self.wait_for(&format!("{name} {{uid: {uid}}}"), timeout, |e| {
            e.is_peer(name, uid)
        })
    }

    /// Waits until `pred` holds over all events so far, at most `timeout`.
    #[track_caller]
    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&[Event]) -> bool) {
        if let Err(e) = self.log.wait_until(what, timeout, pred) {
            panic!("{e}");
        }
    }

    /// Waits until the roster folded over the events contains `uid`.
    #[track_caller]
    pub fn wait_roster_has(&self, uid: u32, timeout: Duration) {
        self.wait_until(&format!("peer {uid} is in the roster"), timeout, |evs| {
            roster(evs).contains(&u64::from(uid))
        });
    }

    /// Waits until the streams folded over the events contain `uid`.
    #[track_caller]
    pub fn wait_stream_has(&self, uid: u32, timeout: Duration) {
        self.wait_until(&format!("peer {uid} publishes"), timeout, |evs| {
            streams(evs).contains(&u64::from(uid))
        });
    }

    /// Fails if an event from index `from` on matches `pred` before `deadline`.
    #[track_caller]
    pub fn expect_none_until(
        &self,
        from: usize,
        what: &str,
        deadline: Instant,
        pred: impl Fn(&Event) -> bool,
    ) {
        if let Err(e) = self.log.expect_none_until(from, what, deadline, pred) {
            panic!("{e}");
        }
    }

    /// Checks the state changes so far against SPEC §2 and that every stdout
    /// line was a JSON event; panics with the events otherwise.
    #[track_caller]
    pub fn assert_legal_transitions(&self) {
        let events = self.events();
        if let Err(e) = crate::states::check_transitions(&events) {
            panic!(
                "{}: illegal connection-state sequence: {e}\n{}",
                self.label,
                self.log.dump()
            );
        }
        let bad = self.log.bad_lines();
        assert!(
            bad.is_empty(),
            "{}: stdout lines that are not JSON events with ts and event: {bad:?}",
            self.label
        );
    }

    /// The current connection state according to the events (DISCONNECTED
    /// before the first change).
    pub fn state(&self) -> String {
        self.events()
            .iter()
            .rev()
            .find(|e| e.name == "connection-state-change")
            .and_then(|e| e.str("curState").map(str::to_string))
            .unwrap_or_else(|| "DISCONNECTED".to_string())
    }

    /// Sends a signal.
    pub fn signal(&mut self, sig: Signal) {
        self.proc.signal(sig);
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to end; panics otherwise.
    #[track_caller]
    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.proc.wait_exit(timeout) {
            Some(st) => st,
            None => panic!(
                "{}: still running {timeout:?} after it should have ended\n{}",
                self.label,
                self.log.dump()
            ),
        }
    }

    /// The exit status if it has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.proc.try_status()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) -> ExitStatus {
        self.proc.kill9()
    }

    /// Its stderr so far.
    pub fn stderr_text(&self) -> String {
        self.proc.stderr_text()
    }

    /// Peers present according to the events (`peer-online` adds, `peer-leave`
    /// removes), sorted.
    pub fn roster(&self) -> Vec<u64> {
        roster(&self.events())
    }

    /// Peers publishing according to the events (`stream-added` adds,
    /// `stream-removed` and `peer-leave` remove), sorted.
    pub fn streams(&self) -> Vec<u64> {
        streams(&self.events())
    }
}

/// Peers present after `events`.
pub fn roster(events: &[Event]) -> Vec<u64> {
    let mut set = std::collections::BTreeSet::new();
    for e in events {
        match (e.name.as_str(), e.uid()) {
            ("peer-online", Some(u)) => {
                set.insert(u);
            }
            ("peer-leave", Some(u)) => {
                set.remove(&u);
            }
            _ => {}
        }
    }
    set.into_iter().collect()
}

/// Peers publishing after `events`.
pub fn streams(events: &[Event]) -> Vec<u64> {
    let mut set = std::collections::BTreeSet::new();
    for e in events {
        match (e.name.as_str(), e.uid()) {
            ("stream-added", Some(u)) => {
                set.insert(u);
            }
            ("stream-removed" | "peer-leave", Some(u)) => {
                set.remove(&u);
            }
            _ => {}
        }
    }
    set.into_iter().collect()
}
