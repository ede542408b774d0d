//! The standard two-namespace setup of the network scenarios: the server and
//! UID 2 in the server namespace, UID 1 in the client namespace, token auth,
//! default timeouts, both joined and seeing each other.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::{Client, JoinOpts};
use crate::measure::measure;
use crate::netns::NetFixture;
use crate::scenario::Scenario;
use crate::server::{mint_token, write_secret, Auth, Server, ServerOpts};
use crate::slots::{media_slot, MediaSlot};

/// The channel the pair joins.
pub const CHANNEL: &str = "timeline";

/// How long a join may take in these scenarios.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(5);

/// Server + UID 1 (client namespace) + UID 2 (server namespace).
///
/// Fields drop in order: clients, server, namespaces, the log directory, then
/// the media slot.
pub struct NetPair {
    /// UID 1, in the client namespace (the one whose network is cut).
    pub uid1: Client,
    /// UID 2, in the server namespace.
    pub uid2: Client,
    /// Extra clients started with [`NetPair::spawn`].
    pub extra: Vec<Client>,
    /// The server, in the server namespace.
    pub server: Server,
    /// The namespaces and the veth between them.
    pub net: NetFixture,
    /// The server's token secret.
    pub secret: PathBuf,
    /// Logs.
    pub sc: Scenario,
    /// The media slot held while the pair runs (see [`crate::slots`]): every
    /// pair carries real media, so only a couple run at once.
    _slot: MediaSlot,
}

/// Which side a client runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client namespace (behind the veth that faults cut).
    Client,
    /// The server namespace.
    Server,
}

impl NetPair {
    /// Builds everything and waits until UID 1 (publishing if `publish`) and
    /// UID 2 are CONNECTED and see each other. `None` when namespaces are not
    /// available outside CI (the test should return).
    #[track_caller]
    pub fn start(name: &str, publish: bool) -> Option<NetPair> {
        Self::start_with(name, publish, None)
    }

    /// Like [`NetPair::start`] with a `--peer-timeout-ms` for the server.
    #[track_caller]
    pub fn start_with(name: &str, publish: bool, peer_timeout_ms: Option<u64>) -> Option<NetPair> {
        let slot = media_slot();
        let sc = Scenario::new(name);
        let net = NetFixture::new(name)?;
        assert!(
            net.ping_server(),
            "no connectivity between the namespaces before the test"
        );
        let secret = sc.path("secret");
        write_secret(&secret);
        let server = Server::start(
            ServerOpts {
                listen: Some(net.server_listen()),
                netns: Some(net.server_ns.clone()),
                auth: Auth::Token {
                    secret_file: secret.clone(),
                },
                peer_timeout_ms,
                extra: Vec::new(),
            },
            sc.dir(),
        );
        let url = server.url().to_string();
        let mut o1 = JoinOpts::new(&url, CHANNEL, 1)
            .netns(&net.client_ns)
            .token(mint_token(&secret, CHANNEL, 1, None, false));
        if publish {
            o1 = o1.publish();
        }
        let uid1 = o1.spawn("uid1", sc.dir());
        let uid2 = JoinOpts::new(&url, CHANNEL, 2)
            .netns(&net.server_ns)
            .token(mint_token(&secret, CHANNEL, 2, None, false))
            .spawn("uid2", sc.dir());
        let c1 = uid1.wait_state_reason("CONNECTED", "JOIN_SUCCESS", JOIN_DEADLINE);
        let c2 = uid2.wait_state_reason("CONNECTED", "JOIN_SUCCESS", JOIN_DEADLINE);
        measure("join_to_connected_netns_ms", c1.ts - uid1.spawned_unix_ms);
        measure("join_to_connected_netns_ms", c2.ts - uid2.spawned_unix_ms);
        uid1.wait_roster_has(2, JOIN_DEADLINE);
        uid2.wait_roster_has(1, JOIN_DEADLINE);
        if publish {
            uid2.wait_stream_has(1, JOIN_DEADLINE);
        }
        Some(NetPair {
            uid1,
            uid2,
            extra: Vec::new(),
            server,
            net,
            secret,
            sc,
            _slot: slot,
        })
    }

    /// A token for `uid` in the pair's channel.
    pub fn token(&self, uid: u32) -> String {
        mint_token(&self.secret, CHANNEL, uid, None, false)
    }

    /// Join options for another client on `side`.
    pub fn opts(&self, uid: u32, side: Side) -> JoinOpts {
        let ns = match side {
            Side::Client => &self.net.client_ns,
            Side::Server => &self.net.server_ns,
        };
        JoinOpts::new(self.server.url(), CHANNEL, uid)
            .netns(ns)
            .token(self.token(uid))
    }

    /// Starts another client; it is kept in `extra` (index returned).
    pub fn spawn(&mut self, label: &str, opts: &JoinOpts) -> usize {
        let c = opts.spawn(label, self.sc.dir());
        self.extra.push(c);
        self.extra.len() - 1
    }

    /// Checks the state sequences of every client.
    #[track_caller]
    pub fn assert_legal_transitions(&self) {
        self.uid1.assert_legal_transitions();
        self.uid2.assert_legal_transitions();
        for c in &self.extra {
            c.assert_legal_transitions();
        }
    }
}
