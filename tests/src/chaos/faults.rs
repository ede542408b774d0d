//! Fault primitives beyond those of [`crate::netns::NetFixture`]: a bandwidth
//! cap (tc `tbf`), the client namespace's address changing, a flapping link,
//! and a timed link-down. All act only inside the fixture's two namespaces.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::netns::NetFixture;

#[track_caller]
fn ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sleeps until `t` (fault durations are timed; nothing else is).
pub fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Caps the veth in both directions: a `tbf` qdisc with `rate_kbit` on the
/// client end (the client namespace's egress) and on the server end (what
/// the clients receive). `burst` 16 kbit, packets queue at most 400 ms, then
/// they are dropped.
#[track_caller]
pub fn bandwidth_cap(net: &NetFixture, rate_kbit: u32) {
    for (ns, dev) in [
        (&net.client_ns, &net.client_if),
        (&net.server_ns, &net.server_if),
    ] {
        let out = net.exec(
            ns,
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                &format!("{rate_kbit}kbit"),
                "burst",
                "16kbit",
                "latency",
                "400ms",
            ],
        );
        ok(&format!("tc qdisc replace tbf on {dev}"), &out);
    }
}

/// Packets the cap dropped so far on each end (client end, server end), from
/// `tc -s qdisc`.
pub fn bandwidth_drops(net: &NetFixture) -> (u64, u64) {
    let read = |ns: &str, dev: &str| -> u64 {
        let out = net.exec(ns, "tc", &["-s", "qdisc", "show", "dev", dev]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        // "Sent 1234 bytes 56 pkt (dropped 7, overlimits 8 requeues 0)"
        text.split("dropped ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        read(&net.client_ns, &net.client_if),
        read(&net.server_ns, &net.server_if),
    )
}

/// Removes the caps.
#[track_caller]
pub fn bandwidth_uncap(net: &NetFixture) {
    for (ns, dev) in [
        (&net.client_ns, &net.client_if),
        (&net.server_ns, &net.server_if),
    ] {
        let out = net.exec(ns, "tc", &["qdisc", "del", "dev", dev, "root"]);
        ok(&format!("tc qdisc del on {dev}"), &out);
    }
}

/// Moves the client namespace between its own address and an alternative
/// one in another subnet (`10.214.x.y` beside the fixture's `10.213.x.y`),
/// while clients are connected: the old address disappears (an OS-visible
/// change), established connections from it die, and new ones leave from
/// the new address. The server end gets the alternative subnet's other
/// address once, so replies route back; the client's alternative address is
/// a point-to-point one whose peer is the server's unchanged address
/// (`ip addr add ALT peer SERVER_IP/32`), so the route to the server belongs
/// to the address and comes back by itself after a link down/up (a separate
/// static route would be flushed by the kernel when the link goes down).
pub struct AddressChanger {
    original: String,
    alternative: String,
    server_ip: String,
    server_alternative: String,
    /// Whether the client namespace uses the alternative address now.
    pub on_alternative: bool,
    prepared: bool,
    /// Changes so far.
    pub changes: u32,
}

fn alt(ip: &str) -> String {
    ip.replacen("10.213.", "10.214.", 1)
}

impl AddressChanger {
    /// For `net` (nothing changes until [`AddressChanger::change`]).
    pub fn new(net: &NetFixture) -> Self {
        assert!(
            net.client_ip.starts_with("10.213."),
            "unexpected fixture address {}",
            net.client_ip
        );
        Self {
            original: net.client_ip.clone(),
            alternative: alt(&net.client_ip),
            server_ip: net.server_ip.clone(),
            server_alternative: alt(&net.server_ip),
            on_alternative: false,
            prepared: false,
            changes: 0,
        }
    }

    /// The client namespace's current address.
    pub fn current(&self) -> &str {
        if self.on_alternative {
            &self.alternative
        } else {
            &self.original
        }
    }

    /// `ip addr` arguments (after add/del) for the original or the
    /// alternative address.
    fn spec(&self, alternative: bool) -> Vec<String> {
        if alternative {
            vec![
                self.alternative.clone(),
                "peer".into(),
                format!("{}/32", self.server_ip),
            ]
        } else {
            vec![format!("{}/30", self.original)]
        }
    }

    /// Switches to the other address: adds the new one, then deletes the old
    /// one. Returns the new address.
    #[track_caller]
    pub fn change(&mut self, net: &NetFixture) -> String {
        let (cns, cif) = (net.client_ns.as_str(), net.client_if.as_str());
        if !self.prepared {
            let out = net.exec(
                &net.server_ns,
                "ip",
                &[
                    "addr",
                    "add",
                    &format!("{}/30", self.server_alternative),
                    "dev",
                    &net.server_if,
                ],
            );
            ok("ip addr add (server end, alternative subnet)", &out);
            self.prepared = true;
        }
        for (verb, alternative) in [("add", !self.on_alternative), ("del", self.on_alternative)] {
            let spec = self.spec(alternative);
            let mut args = vec!["addr", verb];
            args.extend(spec.iter().map(String::as_str));
            args.extend(["dev", cif]);
            let out = net.exec(cns, "ip", &args);
            ok(&format!("ip {}", args.join(" ")), &out);
        }
        self.on_alternative = !self.on_alternative;
        self.changes += 1;
        self.current().to_string()
    }
}

/// Takes the client's link down for `down`, then up, and waits until it is
/// operational again. Returns when it was set up (Unix ms).
#[track_caller]
pub fn link_down_for(net: &NetFixture, down: Duration) -> i64 {
    let t = net.link_down();
    sleep_until(t.at + down);
    let up = net.link_up();
    net.wait_link_operational();
    up.at_unix_ms
}

/// Flaps the client's link: down for `half`, up for `half`, for `total`
/// (ends up). Returns the number of down/up cycles and when the link was
/// last set up (Unix ms).
#[track_caller]
pub fn flap(net: &NetFixture, half: Duration, total: Duration) -> (u32, i64) {
    let cycles = (total.as_millis() / (2 * half.as_millis()).max(1)) as u32;
    let start = Instant::now();
    let mut last_up = crate::unix_ms();
    for k in 0..cycles {
        // On a fixed grid from the start, so slow `ip` calls do not add up.
        net.link_down();
        sleep_until(start + half * (2 * k + 1));
        last_up = net.link_up().at_unix_ms;
        sleep_until(start + half * (2 * k + 2));
    }
    net.wait_link_operational();
    (cycles, last_up)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alternative address reaches the server, also after the link went
    /// down and up, and so does the original one after changing back.
    #[test]
    fn address_change_survives_a_link_flap() {
        let Some(net) = NetFixture::new("chaos_address_change") else {
            return;
        };
        let mut a = AddressChanger::new(&net);
        assert_eq!(a.change(&net), alt(&net.client_ip));
        assert!(net.ping_server(), "no ping from the alternative address");
        link_down_for(&net, Duration::from_millis(200));
        assert!(net.ping_server(), "no ping after link down/up");
        assert_eq!(a.change(&net), net.client_ip);
        assert!(net.ping_server(), "no ping after changing back");
        link_down_for(&net, Duration::from_millis(200));
        assert!(net.ping_server(), "no ping after changing back and down/up");
    }
}
