//! The chaos suite's harness: a channel with several clients behind a faulty
//! link, fault primitives ([`faults`], [`relay`]), and the invariants checked
//! after the faults stop ([`Cluster::converge`]).
//!
//! ```text
//!   server namespace                                client namespace
//!   tether-server :7400, relay :7401     veth      clients on the faulty side
//!   observers, clients on the good side  <------>  (every fault hits them)
//! ```
//!
//! The server's truth comes through the real protocol: an *observer*, `tether
//! join --publish none --subscribe none --duration 1` in the server namespace
//! (no fault reaches it), whose `welcome` snapshot becomes `peer-online` and
//! `stream-added` events (with neither publishing nor subscribing, media
//! gating is off, so `stream-added` follows the snapshot's `stream` field,
//! i.e. the server's signalling state; `tether-core` `roster::reconcile`).
//! Each observer has a fresh uid (from 900 on), excluded from comparisons.

pub mod faults;
pub mod invariants;
pub mod relay;
pub mod resources;
pub mod rng;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client::{roster, streams, Client, JoinOpts};
use crate::measure::measure;
use crate::netns::NetFixture;
use crate::pair::Side;
use crate::scenario::Scenario;
use crate::server::{mint_token, write_secret, Auth, Server, ServerOpts};
use crate::slots::{media_slot, MediaSlot};

pub use faults::AddressChanger;
pub use relay::DelayRelay;
pub use rng::Rng;

/// The channel every chaos scenario uses.
pub const CHANNEL: &str = "chaos";
/// Observers get uids from here on.
pub const OBSERVER_UID_BASE: u32 = 900;
/// How long clients may take to match the server's view (the brief: 5 s).
pub const CONVERGE: Duration = Duration::from_secs(5);

/// What a client does with media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--publish synthetic --subscribe none`: sends audio and video.
    Publisher,
    /// `--publish none --subscribe auto`: receives and decodes everyone
    /// (media gating on: its streams are those whose media flows).
    Subscriber,
    /// `--publish none --subscribe none`: signalling only.
    Quiet,
}

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Straight to the server.
    Direct,
    /// Through the delay relay (its signalling delayed).
    Relay,
}

/// One client of the cluster.
pub struct Member {
    /// Its uid.
    pub uid: u32,
    /// Which namespace.
    pub side: Side,
    /// Its media role.
    pub kind: Kind,
    /// Direct or through the relay.
    pub via: Via,
    /// The process.
    pub client: Client,
}

/// The result of one observation of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    /// Peers in the channel (observer excluded).
    pub roster: BTreeSet<u64>,
    /// Peers publishing, at signalling level (observer excluded).
    pub streams: BTreeSet<u64>,
    /// The observer's uid.
    pub observer: u32,
}

/// Numbers from one [`Cluster::converge`].
#[derive(Debug, Clone, Default)]
pub struct Convergence {
    /// From the call (the faults' end) until every client was CONNECTED.
    pub all_connected_ms: u128,
    /// From the call until the server's roster was the expected one.
    pub server_ok_ms: u128,
    /// From the end of the observation that matched until every client's
    /// view equalled it.
    pub clients_ok_ms: u128,
    /// Observations needed.
    pub observations: u32,
    /// From then until every subscriber decoded every publisher's video
    /// again (0 without subscribers).
    pub media_ok_ms: u128,
}

/// A server, its namespaces, and clients. Fields drop in order: clients,
/// observers, server, relay, namespaces, logs, media slot.
pub struct Cluster {
    /// Clients in the channel now.
    pub members: Vec<Member>,
    /// Clients that left or were killed (kept for the final checks).
    pub retired: Vec<Member>,
    /// Finished observers.
    pub observers: Vec<Client>,
    /// The server.
    pub server: Server,
    /// The delay relay, once started.
    pub relay: Option<DelayRelay>,
    /// Namespaces and the veth.
    pub net: NetFixture,
    /// The token secret.
    pub secret: PathBuf,
    /// Logs.
    pub sc: Scenario,
    next_observer: u32,
    _slot: Option<MediaSlot>,
}

/// How long, after the views matched, until every subscriber decodes every
/// publisher's video again (a whole 1 s stats period with frames).
pub const MEDIA_FLOW: Duration = Duration::from_secs(5);

/// How long a (re)join may take before the check fails.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(10);

impl Cluster {
    /// Namespaces and a server (token auth, default timeouts). With `media`,
    /// takes a media slot first. `None` when namespaces are unavailable
    /// outside CI.
    #[track_caller]
    pub fn start(name: &str, media: bool) -> Option<Cluster> {
        let slot = media.then(media_slot);
        let sc = Scenario::new(name);
        let net = NetFixture::new(name)?;
        assert!(net.ping_server(), "no connectivity before the test");
        let secret = sc.path("secret");
        write_secret(&secret);
        let server = Server::start(
            ServerOpts {
                listen: Some(net.server_listen()),
                netns: Some(net.server_ns.clone()),
                auth: Auth::Token {
                    secret_file: secret.clone(),
                },
                peer_timeout_ms: None,
                extra: Vec::new(),
            },
            sc.dir(),
        );
        Some(Cluster {
            members: Vec::new(),
            retired: Vec::new(),
            observers: Vec::new(),
            server,
            relay: None,
            net,
            secret,
            sc,
            next_observer: OBSERVER_UID_BASE,
            _slot: slot,
        })
    }

    /// Starts the delay relay (see [`relay`]) in the server namespace.
    pub fn start_relay(&mut self, delay: Duration, jitter: Duration) {
        let target = self.server.listen_addr().to_string();
        self.relay = Some(DelayRelay::start(
            &self.net.server_ns,
            &self.net.server_ip,
            &target,
            delay,
            jitter,
            self.sc.dir(),
        ));
    }

    fn opts(&self, uid: u32, side: Side, kind: Kind, via: Via) -> JoinOpts {
        let url = match via {
            Via::Direct => self.server.url().to_string(),
            Via::Relay => self
                .relay
                .as_ref()
                .expect("start_relay first")
                .url()
                .to_string(),
        };
        let ns = match side {
            Side::Client => &self.net.client_ns,
            Side::Server => &self.net.server_ns,
        };
        let o = JoinOpts::new(&url, CHANNEL, uid)
            .netns(ns)
            .token(mint_token(&self.secret, CHANNEL, uid, None, false));
        match kind {
            Kind::Publisher => o.publish_source("synthetic").subscribe("none"),
            Kind::Subscriber => o.publish_source("none").subscribe("auto"),
            Kind::Quiet => o.publish_source("none").subscribe("none"),
        }
    }

    /// Starts a client (does not wait).
    pub fn spawn(&mut self, uid: u32, side: Side, kind: Kind, via: Via) {
        assert!(
            !self.members.iter().any(|m| m.uid == uid),
            "uid {uid} already in the cluster"
        );
        let label = format!("uid{uid}");
        let client = self.opts(uid, side, kind, via).spawn(&label, self.sc.dir());
        self.members.push(Member {
            uid,
            side,
            kind,
            via,
            client,
        });
    }

    /// Starts a client and waits until it is CONNECTED.
    #[track_caller]
    pub fn join(&mut self, uid: u32, side: Side, kind: Kind, via: Via) {
        self.spawn(uid, side, kind, via);
        let c = &self.members.last().expect("just pushed").client;
        let ev = c.wait_state_reason("CONNECTED", "JOIN_SUCCESS", JOIN_DEADLINE);
        measure("chaos_join_to_connected_ms", ev.ts - c.spawned_unix_ms);
    }

    /// The member with `uid`.
    pub fn member(&self, uid: u32) -> &Member {
        self.members
            .iter()
            .find(|m| m.uid == uid)
            .unwrap_or_else(|| panic!("no member {uid}"))
    }

    /// Makes `uid` leave on purpose (SIGTERM: the CLI leaves and exits 0).
    #[track_caller]
    pub fn leave(&mut self, uid: u32) {
        let i = self
            .members
            .iter()
            .position(|m| m.uid == uid)
            .unwrap_or_else(|| panic!("no member {uid}"));
        let mut m = self.members.remove(i);
        m.client.signal(Signal::SIGTERM);
        let st = m.client.expect_exit(Duration::from_secs(10));
        assert!(
            st.success(),
            "uid{uid} exited with {st} after SIGTERM\n{}",
            m.client.log().dump()
        );
        self.retired.push(m);
    }

    /// Kills `uid` with SIGKILL (no goodbye: the server times it out).
    pub fn kill(&mut self, uid: u32) {
        let i = self
            .members
            .iter()
            .position(|m| m.uid == uid)
            .unwrap_or_else(|| panic!("no member {uid}"));
        let mut m = self.members.remove(i);
        m.client.kill9();
        self.retired.push(m);
    }

    /// The uids that should be in the channel.
    pub fn expected(&self) -> BTreeSet<u64> {
        self.members.iter().map(|m| u64::from(m.uid)).collect()
    }

    /// The uids that should publish.
    pub fn expected_streams(&self) -> BTreeSet<u64> {
        self.members
            .iter()
            .filter(|m| m.kind == Kind::Publisher)
            .map(|m| u64::from(m.uid))
            .collect()
    }

    /// Asks the server: an observer joins from the server namespace with
    /// neither media nor subscription for 1 s, and its events are folded.
    #[track_caller]
    pub fn observe(&mut self) -> Truth {
        let uid = self.next_observer;
        self.next_observer += 1;
        let mut obs = JoinOpts::new(self.server.url(), CHANNEL, uid)
            .netns(&self.net.server_ns)
            .token(mint_token(&self.secret, CHANNEL, uid, None, false))
            .publish_source("none")
            .subscribe("none")
            .duration(1)
            .spawn(&format!("observer{uid}"), self.sc.dir());
        obs.wait_state_reason("CONNECTED", "JOIN_SUCCESS", JOIN_DEADLINE);
        let st = obs.expect_exit(Duration::from_secs(10));
        assert!(
            st.success(),
            "observer {uid} exited with {st}\n{}",
            obs.log().dump()
        );
        let evs = obs.events();
        let until = evs
            .iter()
            .position(|e| e.is_state("DISCONNECTING"))
            .unwrap_or(evs.len());
        let evs = &evs[..until];
        let truth = Truth {
            roster: roster(evs).into_iter().collect(),
            streams: streams(evs).into_iter().collect(),
            observer: uid,
        };
        obs.assert_legal_transitions();
        self.observers.push(obs);
        truth
    }

    /// Waits until every member's last state change is CONNECTED.
    #[track_caller]
    pub fn wait_all_connected(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for m in &self.members {
            let left = deadline.saturating_duration_since(Instant::now());
            m.client
                .wait_until("CONNECTED (after the faults)", left, |evs| {
                    evs.iter()
                        .rev()
                        .find(|e| e.name == "connection-state-change")
                        .is_some_and(|e| e.str("curState") == Some("CONNECTED"))
                });
        }
    }

    /// After the faults stopped: every client CONNECTED (within
    /// `reconnect`), the server's roster equal to the clients that are in
    /// (observed again until it is, 25 s at most: a client killed without
    /// goodbye stays up to the server's 10 s timeout), and then every
    /// client's roster and stream table equal to the server's within 5 s,
    /// observers gone from them; then every subscriber decoding every
    /// publisher's video within [`MEDIA_FLOW`]. Then
    /// [`Cluster::check_invariants`].
    #[track_caller]
    pub fn converge(&mut self, reconnect: Duration) -> Convergence {
        let t0 = Instant::now();
        let mut out = Convergence::default();
        self.wait_all_connected(reconnect);
        out.all_connected_ms = t0.elapsed().as_millis();
        let expected = self.expected();
        let server_deadline = Instant::now() + Duration::from_secs(25);
        let truth = loop {
            let t = self.observe();
            out.observations += 1;
            if t.roster == expected {
                break t;
            }
            assert!(
                Instant::now() < server_deadline,
                "the server's roster {:?} is not the clients in the channel {expected:?} \
                 after {} observations",
                t.roster,
                out.observations
            );
            // Another observation; the observer itself takes ~1 s.
        };
        out.server_ok_ms = t0.elapsed().as_millis();
        assert_eq!(
            truth.streams,
            self.expected_streams(),
            "the server's publishers are not the publishing clients"
        );
        let observed = Instant::now();
        let observers: BTreeSet<u64> = (OBSERVER_UID_BASE..self.next_observer)
            .map(u64::from)
            .collect();
        for m in &self.members {
            let me = u64::from(m.uid);
            let want_roster: BTreeSet<u64> =
                truth.roster.iter().copied().filter(|u| *u != me).collect();
            let want_streams: BTreeSet<u64> =
                truth.streams.iter().copied().filter(|u| *u != me).collect();
            let obs = observers.clone();
            let left = (observed + CONVERGE).saturating_duration_since(Instant::now());
            m.client.wait_until(
                &format!(
                    "uid{}'s roster = {want_roster:?} and streams = {want_streams:?} \
                     (the server's), observers gone",
                    m.uid
                ),
                left,
                |evs| {
                    let r: BTreeSet<u64> = roster(evs).into_iter().collect();
                    let s: BTreeSet<u64> = streams(evs).into_iter().collect();
                    r.is_disjoint(&obs)
                        && r.difference(&obs).copied().collect::<BTreeSet<_>>() == want_roster
                        && s.difference(&obs).copied().collect::<BTreeSet<_>>() == want_streams
                },
            );
        }
        out.clients_ok_ms = observed.elapsed().as_millis();
        // A subscriber's stream table alone can be stale: with media gating a
        // stream that stopped is removed only after the 10 s no-data timeout.
        // So every subscriber must also decode every publisher's video again:
        // a report covering a whole period after this point with frames in it.
        let flow_from = crate::unix_ms();
        let flow_start = Instant::now();
        for m in self.members.iter().filter(|m| m.kind == Kind::Subscriber) {
            for p in truth.streams.iter().filter(|u| **u != u64::from(m.uid)) {
                let uid = u32::try_from(*p).expect("uid fits u32");
                let left = (flow_start + MEDIA_FLOW).saturating_duration_since(Instant::now());
                crate::media::wait_video(
                    &m.client,
                    uid,
                    0,
                    &format!(
                        "uid{} decoding uid {uid}'s video again (a report from {} ms on with fps > 0)",
                        m.uid,
                        flow_from + crate::media::STATS_PERIOD_MS
                    ),
                    left,
                    |s| s.ts >= flow_from + crate::media::STATS_PERIOD_MS && s.fps > 0.0,
                );
            }
        }
        out.media_ok_ms = flow_start.elapsed().as_millis();
        self.check_invariants();
        measure("chaos_all_connected_ms", out.all_connected_ms);
        measure("chaos_server_roster_ok_ms", out.server_ok_ms);
        measure("chaos_clients_match_server_ms", out.clients_ok_ms);
        measure("chaos_media_flowing_ms", out.media_ok_ms);
        out
    }

    /// Legal transitions and each event once for every client (members,
    /// retired, observers), and no "panicked at" in any process's stderr.
    #[track_caller]
    pub fn check_invariants(&self) {
        let all = self
            .members
            .iter()
            .chain(self.retired.iter())
            .map(|m| &m.client)
            .chain(self.observers.iter());
        for c in all {
            c.assert_legal_transitions();
            if let Err(e) = invariants::check_once(&c.events()) {
                panic!("{}: {e}\n{}", c.label(), c.log().dump());
            }
        }
        let panics = invariants::panics_in_logs(self.sc.dir());
        assert!(
            panics.is_empty(),
            "panics in the processes' stderr:\n{}",
            panics.join("\n")
        );
    }

    /// Interruptions (CONNECTED → CONNECTING) per member since event index
    /// `marks[i]` (from [`Cluster::marks`]).
    pub fn interruptions_since(&self, marks: &[(u32, usize)]) -> Vec<(u32, usize)> {
        self.members
            .iter()
            .map(|m| {
                let from = marks
                    .iter()
                    .find(|(u, _)| *u == m.uid)
                    .map_or(0, |(_, k)| *k);
                (
                    m.uid,
                    invariants::interruptions(&m.client.events_since(from)),
                )
            })
            .collect()
    }

    /// Every member's event count now.
    pub fn marks(&self) -> Vec<(u32, usize)> {
        self.members
            .iter()
            .map(|m| (m.uid, m.client.mark()))
            .collect()
    }

    /// The server process's pid.
    pub fn server_pid(&mut self) -> u32 {
        self.server.proc().pid()
    }
}
