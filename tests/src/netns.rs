//! A pair of network namespaces joined by a veth pair, and real network faults.
//!
//! ```text
//!   namespace tether-<slot>-s                      namespace tether-<slot>-c
//!   server (10.213.A.B+1:7400), UID 2    veth     UID 1 (10.213.A.B+2)
//!   tts<slot> ------------------------------------ ttc<slot>
//! ```
//!
//! Each fixture claims a free slot atomically (`ip netns add` fails when the
//! name exists), so tests can run in parallel in separate processes. The
//! slot picks a /30 inside 10.213.0.0/16 that exists only inside these two
//! namespaces; nothing here sends traffic to any other address.
//!
//! Faults, all on the client side:
//! - [`NetFixture::cut_silent`]: an nftables table in the client namespace drops
//!   every packet in and out of the veth. No interface or address changes, so
//!   the client gets no OS hint; [`NetFixture::restore`] deletes the table.
//! - [`NetFixture::link_down`] / [`NetFixture::link_up`]: the client's veth goes
//!   down/up, which the client can see through netlink.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::bins::find_tool;

mod loss;

pub use loss::{LossCounters, LossDirection};

/// The port servers listen on inside the server namespace (each fixture has
/// its own namespace, so it never clashes).
pub const SERVER_PORT: u16 = 7400;

const SLOTS: u32 = 16_384;
const CUT_TABLE: &str = "tether_cut";

/// When a fault took effect.
#[derive(Debug, Clone, Copy)]
pub struct FaultTime {
    /// Just before the command ran.
    pub before: Instant,
    /// Just after it returned: the fault is in effect from here on at the latest.
    pub at: Instant,
    /// `at` in Unix ms, comparable with the clients' `ts`.
    pub at_unix_ms: i64,
    /// `before` in Unix ms.
    pub before_unix_ms: i64,
}

/// Two namespaces and a veth pair between them.
pub struct NetFixture {
    /// Namespace of the server and UID 2.
    pub server_ns: String,
    /// Namespace of UID 1.
    pub client_ns: String,
    /// The server-side address.
    pub server_ip: String,
    /// The client-side address.
    pub client_ip: String,
    /// The veth end in the server namespace.
    pub server_if: String,
    /// The veth end in the client namespace.
    pub client_if: String,
    ip: PathBuf,
    nft: PathBuf,
    cut: bool,
    loss: bool,
}

impl NetFixture {
    /// Builds the namespaces. Returns `None` when namespaces are unavailable
    /// and the test should be skipped (see [`crate::env::require_netns`]: under
    /// CI this panics instead).
    #[track_caller]
    pub fn new(test: &str) -> Option<NetFixture> {
        if !crate::env::require_netns(test) {
            return None;
        }
        let ip = find_tool("ip").expect("ip");
        let nft = find_tool("nft").expect("nft");
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let start = (std::process::id().wrapping_mul(7919)
            + COUNTER.fetch_add(1, Ordering::SeqCst) * 131)
            % SLOTS;
        for i in 0..SLOTS {
            let slot = (start + i) % SLOTS;
            let server_ns = format!("tether-{slot}-s");
            let out = Command::new(&ip)
                .args(["netns", "add", &server_ns])
                .output()
                .expect("run ip netns add");
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                if err.contains("exists") {
                    continue;
                }
                panic!("ip netns add {server_ns} failed: {err}");
            }
            let mut fx = NetFixture {
                client_ns: format!("tether-{slot}-c"),
                server_ns,
                server_ip: format!("10.213.{}.{}", slot / 64, (slot % 64) * 4 + 1),
                client_ip: format!("10.213.{}.{}", slot / 64, (slot % 64) * 4 + 2),
                server_if: format!("tts{slot}"),
                client_if: format!("ttc{slot}"),
                ip,
                nft,
                cut: false,
                loss: false,
            };
            fx.setup();
            return Some(fx);
        }
        panic!("no free network namespace slot (are stale tether-*-s namespaces left over? `ip netns list`)");
    }

    fn setup(&mut self) {
        // Leftovers of a crashed run in the client namespace name.
        drop(
            Command::new(&self.ip)
                .args(["netns", "del", &self.client_ns])
                .stderr(Stdio::null())
                .status(),
        );
        self.ip_ok(&["netns", "add", &self.client_ns]);
        // No IPv6 on the test link: its link-local address would appear ~1.5 s
        // after link up (after DAD), and that late netlink event would land in
        // the middle of a scenario. Tests use IPv4 only.
        for ns in [self.server_ns.clone(), self.client_ns.clone()] {
            self.sysctl(
                &ns,
                &[
                    "net/ipv6/conf/all/disable_ipv6",
                    "net/ipv6/conf/default/disable_ipv6",
                ],
                "1",
            );
        }
        self.ip_ok(&[
            "link",
            "add",
            &self.client_if,
            "netns",
            &self.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            &self.server_if,
            "netns",
            &self.server_ns,
        ]);
        let (sns, cns) = (self.server_ns.clone(), self.client_ns.clone());
        let (sif, cif) = (self.server_if.clone(), self.client_if.clone());
        let (sip, cip) = (
            format!("{}/30", self.server_ip),
            format!("{}/30", self.client_ip),
        );
        self.ip_ok(&["-n", &sns, "addr", "add", &sip, "dev", &sif]);
        self.ip_ok(&["-n", &cns, "addr", "add", &cip, "dev", &cif]);
        // ARP retries every 100 ms instead of 1 s on the test link. After
        // link up, the client dials within a millisecond; when its first ARP
        // request leaves before the far end's queue is back (the kernel turns
        // it on in a deferred step), the request is lost and the kernel asks
        // again only after `retrans_time_ms`: with the default 1 s, "CONNECTED
        // within 1 s of the link being up" measured 1031-1222 ms in those runs
        // and 3-35 ms in the others. That second is the emulated link's, not
        // the client's.
        self.sysctl(
            &sns,
            &[&format!("net/ipv4/neigh/{sif}/retrans_time_ms")],
            "100",
        );
        self.sysctl(
            &cns,
            &[&format!("net/ipv4/neigh/{cif}/retrans_time_ms")],
            "100",
        );
        for (ns, dev) in [
            (&sns, "lo"),
            (&cns, "lo"),
            (&sns, sif.as_str()),
            (&cns, cif.as_str()),
        ] {
            self.ip_ok(&["-n", ns, "link", "set", dev, "up"]);
        }
        self.wait_settled();
    }

    /// Waits until both veth ends report operstate UP. The kernel's linkwatch
    /// reports a carrier change up to ~1 s late, as a netlink link event; a
    /// scenario must not start before it, or that event lands in the middle of
    /// it as a network-change hint.
    #[track_caller]
    pub fn wait_settled(&self) {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        for (ns, dev) in [
            (&self.server_ns, &self.server_if),
            (&self.client_ns, &self.client_if),
        ] {
            loop {
                let out = Command::new(&self.ip)
                    .args(["-n", ns, "-o", "link", "show", "dev", dev])
                    .output()
                    .expect("run ip link show");
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                if text.contains("state UP") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{dev} in {ns} not operationally UP after 10 s: {text}"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    /// Writes `value` to `/proc/sys/<key>` for each key, inside `ns`.
    #[track_caller]
    fn sysctl(&self, ns: &str, keys: &[&str], value: &str) {
        let script: String = keys
            .iter()
            .map(|k| format!("echo {value} > /proc/sys/{k}; "))
            .collect();
        let out = Command::new(&self.ip)
            .args(["netns", "exec", ns, "sh", "-c", &script])
            .output()
            .expect("run sh in the namespace");
        assert!(
            out.status.success(),
            "setting {keys:?} in {ns} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[track_caller]
    fn ip_ok(&self, args: &[&str]) {
        let out = Command::new(&self.ip).args(args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ws://SERVER_IP:7400`.
    pub fn server_url(&self) -> String {
        format!("ws://{}:{SERVER_PORT}", self.server_ip)
    }

    /// `SERVER_IP:7400`.
    pub fn server_listen(&self) -> String {
        format!("{}:{SERVER_PORT}", self.server_ip)
    }

    /// Runs a command inside a namespace.
    pub fn exec(&self, ns: &str, program: &str, args: &[&str]) -> Output {
        Command::new(&self.ip)
            .args(["netns", "exec", ns, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {program}: {e}"))
    }

    /// One ping from the client namespace to the server address with a 1 s
    /// timeout; true if answered.
    pub fn ping_server(&self) -> bool {
        self.exec(
            &self.client_ns,
            "ping",
            &["-c", "1", "-W", "1", "-n", &self.server_ip],
        )
        .status
        .success()
    }

    fn timed(&self, f: impl FnOnce()) -> FaultTime {
        let before = Instant::now();
        let before_unix_ms = crate::unix_ms();
        f();
        FaultTime {
            before,
            at: Instant::now(),
            at_unix_ms: crate::unix_ms(),
            before_unix_ms,
        }
    }

    /// Silently cuts the client's link: nftables drops everything in and out of
    /// its veth; no interface change is visible to the client.
    #[track_caller]
    pub fn cut_silent(&mut self) -> FaultTime {
        assert!(!self.cut, "already cut");
        let rules = format!(
            "table inet {CUT_TABLE} {{\n\
             \x20 chain input {{ type filter hook input priority -300; policy accept; iifname \"{dev}\" drop; }}\n\
             \x20 chain output {{ type filter hook output priority -300; policy accept; oifname \"{dev}\" drop; }}\n\
             }}\n",
            dev = self.client_if
        );
        let ns = self.client_ns.clone();
        let nft = self.nft.clone();
        let ip = self.ip.clone();
        let t = self.timed(|| {
            let mut child = Command::new(&ip)
                .args(["netns", "exec", &ns])
                .arg(&nft)
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run nft");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(rules.as_bytes())
                .expect("write nft rules");
            let out = child.wait_with_output().expect("nft");
            assert!(
                out.status.success(),
                "nft -f failed: {}\n{rules}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        self.cut = true;
        t
    }

    /// Ends a silent cut (deletes the nftables table).
    #[track_caller]
    pub fn restore(&mut self) -> FaultTime {
        assert!(self.cut, "not cut");
        let t = self.timed(|| self.nft_delete_table(CUT_TABLE));
        self.cut = false;
        t
    }

    /// Deletes an nftables table of the client namespace.
    #[track_caller]
    fn nft_delete_table(&self, table: &str) {
        let out = Command::new(&self.ip)
            .args(["netns", "exec", &self.client_ns])
            .arg(&self.nft)
            .args(["delete", "table", "inet", table])
            .output()
            .expect("run nft");
        assert!(
            out.status.success(),
            "nft delete table {table} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Loads nftables rules from `rules` into the client namespace.
    #[track_caller]
    fn nft_load(&self, rules: &str) {
        let mut child = Command::new(&self.ip)
            .args(["netns", "exec", &self.client_ns])
            .arg(&self.nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(rules.as_bytes())
            .expect("write nft rules");
        let out = child.wait_with_output().expect("nft");
        assert!(
            out.status.success(),
            "nft -f failed: {}\n{rules}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Takes the client's veth down (an OS-visible change).
    #[track_caller]
    pub fn link_down(&self) -> FaultTime {
        let (ns, dev) = (self.client_ns.clone(), self.client_if.clone());
        self.timed(|| self.ip_ok(&["-n", &ns, "link", "set", &dev, "down"]))
    }

    /// Brings the client's veth back up.
    #[track_caller]
    pub fn link_up(&self) -> FaultTime {
        let (ns, dev) = (self.client_ns.clone(), self.client_if.clone());
        self.timed(|| self.ip_ok(&["-n", &ns, "link", "set", &dev, "up"]))
    }

    /// Whether the server's veth is operationally UP (carrier seen by the kernel).
    pub fn server_link_is_up(&self) -> bool {
        let out = Command::new(&self.ip)
            .args([
                "-n",
                &self.server_ns,
                "-o",
                "link",
                "show",
                "dev",
                &self.server_if,
            ])
            .output()
            .expect("run ip link show");
        String::from_utf8_lossy(&out.stdout).contains("state UP")
    }

    /// Whether the client's veth is operationally UP (carrier seen by the kernel).
    pub fn client_link_is_up(&self) -> bool {
        let out = Command::new(&self.ip)
            .args([
                "-n",
                &self.client_ns,
                "-o",
                "link",
                "show",
                "dev",
                &self.client_if,
            ])
            .output()
            .expect("run ip link show");
        String::from_utf8_lossy(&out.stdout).contains("state UP")
    }

    /// Waits (polling every 10 ms, at most 5 s) until both veth ends are
    /// operationally UP again. Taking the client end down also takes the
    /// carrier of the server end away, and the kernel turns each device's
    /// queue back on in a deferred step (linkwatch, up to ~1 s after `ip link
    /// set up` when the machine is busy); packets sent before that, such as
    /// the ARP reply to the client's first SYN, are lost (ARP retries after
    /// 1 s), so this is when the network is really back.
    /// `before` is the last poll that still saw the link down, `at` the first
    /// that saw it up.
    #[track_caller]
    pub fn wait_link_operational(&self) -> FaultTime {
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut before = Instant::now();
        let mut before_unix_ms = crate::unix_ms();
        loop {
            let (t, t_ms) = (Instant::now(), crate::unix_ms());
            if self.client_link_is_up() && self.server_link_is_up() {
                return FaultTime {
                    before,
                    at: Instant::now(),
                    at_unix_ms: crate::unix_ms(),
                    before_unix_ms,
                };
            }
            (before, before_unix_ms) = (t, t_ms);
            assert!(
                Instant::now() < deadline,
                "{} / {} not operationally UP 5 s after link up",
                self.client_if,
                self.server_if
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for NetFixture {
    fn drop(&mut self) {
        for ns in [&self.client_ns, &self.server_ns] {
            drop(
                Command::new(&self.ip)
                    .args(["netns", "del", ns])
                    .stderr(Stdio::null())
                    .status(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture itself, with plain pings: connectivity, a silent cut, link
    /// down/up, and teardown.
    #[test]
    fn namespaces_cut_and_restore() {
        let Some(mut fx) = NetFixture::new("netns_fixture") else {
            return;
        };
        assert!(fx.ping_server(), "no connectivity between the namespaces");
        fx.cut_silent();
        assert!(!fx.ping_server(), "ping passed through the silent cut");
        // The link itself is still up: no OS-visible change.
        let link = fx.exec(&fx.client_ns, "ip", &["-o", "link", "show", &fx.client_if]);
        let text = String::from_utf8_lossy(&link.stdout).to_string();
        assert!(
            text.contains("state UP"),
            "veth not up during the cut: {text}"
        );
        fx.restore();
        assert!(fx.ping_server(), "no connectivity after restore");
        fx.link_down();
        assert!(!fx.ping_server(), "ping passed while the link was down");
        fx.link_up();
        assert!(fx.ping_server(), "no connectivity after link up");
        // 100 % egress loss drops every ping and counts it; ingress untouched.
        fx.start_loss(100, LossDirection::Egress);
        assert!(!fx.ping_server(), "ping passed through 100 % loss");
        let (_, c) = fx.stop_loss();
        assert!(
            c.egress_total >= 1 && c.egress_dropped == c.egress_total,
            "{c:?}"
        );
        assert_eq!(c.ingress_dropped, 0, "{c:?}");
        assert!(fx.ping_server(), "no connectivity after the loss ended");
        let names = (fx.server_ns.clone(), fx.client_ns.clone());
        drop(fx);
        let list = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        let list = String::from_utf8_lossy(&list.stdout).to_string();
        assert!(
            !list.contains(&format!("{} ", names.0))
                && !list.lines().any(|l| l.starts_with(&names.1)),
            "namespaces left behind: {list}"
        );
    }
}
