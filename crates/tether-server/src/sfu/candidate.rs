//! Which ICE candidates a client may name. The SFU sends STUN checks to
//! every remote candidate it is given, so an unchecked candidate makes the
//! server probe any address a client chooses: itself (loopback), the link
//! (link-local, e.g. cloud metadata at 169.254.169.254) or the network
//! behind it. Pure rules; the room applies them to trickled candidates and
//! to the `a=candidate` lines of offers and answers.

use std::net::IpAddr;

/// Remote candidates accepted per peer connection (a client has a handful
/// per interface; ICE restarts make a new connection's worth).
pub(crate) const MAX_PER_PC: u32 = 32;

/// What a client's candidates may point at, from where the SFU's media
/// sockets are bound: a server on loopback (tests, the desktop app's
/// built-in server) talks to loopback and private peers; one on a private
/// or unspecified address (a LAN) to private peers; one on a public address
/// to public peers only. Link-local, multicast, broadcast, unspecified
/// addresses and host names are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    loopback: bool,
    private: bool,
}

impl Policy {
    pub(crate) fn for_bind(ip: IpAddr) -> Self {
        Self {
            loopback: ip.is_loopback(),
            private: ip.is_loopback() || ip.is_unspecified() || is_private(ip),
        }
    }

    /// `Err` with the reason when a candidate (`candidate:…` with or
    /// without the `a=` prefix) names an address outside the policy.
    pub(crate) fn check(self, candidate: &str) -> Result<(), String> {
        let body = candidate.trim();
        let body = body.strip_prefix("a=").unwrap_or(body);
        let body = body.strip_prefix("candidate:").unwrap_or(body);
        // foundation component transport priority address port "typ" type …
        let Some(addr) = body.split_ascii_whitespace().nth(4) else {
            return Err("malformed candidate".into());
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            return Err("host-name candidates are not accepted".into());
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let refused = if ip.is_unspecified() || ip.is_multicast() || is_broadcast(ip) {
            Some("not a unicast address")
        } else if is_link_local(ip) {
            Some("link-local addresses are not accepted")
        } else if ip.is_loopback() && !self.loopback {
            Some("loopback addresses are not accepted")
        } else if is_private(ip) && !self.private {
            Some("private addresses are not accepted by this server")
        } else {
            None
        };
        match refused {
            Some(why) => Err(format!("{why} ({ip})")),
            None => Ok(()),
        }
    }

    /// The SDP with every `a=candidate` line outside the policy removed,
    /// and how many were removed; at most [`MAX_PER_PC`] are kept.
    pub(crate) fn filter_sdp(self, sdp: &str) -> (String, usize) {
        let mut out = String::with_capacity(sdp.len());
        let (mut kept, mut removed) = (0u32, 0usize);
        for line in sdp.split_inclusive('\n') {
            if line.starts_with("a=candidate:") {
                if kept >= MAX_PER_PC || self.check(line).is_err() {
                    removed += 1;
                    continue;
                }
                kept += 1;
            }
            out.push_str(line);
        }
        (out, removed)
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || (v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64),
        // Unique local fc00::/7.
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(addr: &str) -> String {
        format!("candidate:1 1 udp 2130706431 {addr} 50000 typ host")
    }

    #[test]
    fn a_public_server_talks_to_public_peers_only() {
        let p = Policy::for_bind("203.0.113.7".parse().expect("ip"));
        assert!(p.check(&cand("198.51.100.4")).is_ok());
        assert!(p.check(&cand("2001:db8::1")).is_ok());
        for bad in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "172.16.5.5",
            "100.64.0.1",
            "fd00::1",
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "host.local",
        ] {
            assert!(p.check(&cand(bad)).is_err(), "{bad}");
        }
        assert!(p.check("candidate:1 1 udp").is_err());
    }

    #[test]
    fn loopback_and_lan_servers_keep_working_locally() {
        let local = Policy::for_bind("127.0.0.1".parse().expect("ip"));
        assert!(local.check(&cand("127.0.0.1")).is_ok());
        assert!(local.check(&cand("10.214.0.2")).is_ok());
        assert!(local.check(&cand("169.254.169.254")).is_err());
        let lan = Policy::for_bind("0.0.0.0".parse().expect("ip"));
        assert!(lan.check(&cand("192.168.1.20")).is_ok());
        assert!(lan.check(&cand("127.0.0.1")).is_err());
        assert!(lan.check(&format!("a={}", cand("fe80::2"))).is_err());
    }

    #[test]
    fn offers_lose_refused_and_surplus_candidates() {
        let p = Policy::for_bind("203.0.113.7".parse().expect("ip"));
        let mut sdp = String::from("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
        sdp.push_str(&format!("a={}\r\n", cand("127.0.0.1")));
        for i in 0..40 {
            sdp.push_str(&format!("a={}\r\n", cand(&format!("198.51.100.{i}"))));
        }
        sdp.push_str("a=mid:0\r\n");
        let (out, removed) = p.filter_sdp(&sdp);
        assert_eq!(removed, 1 + 40 - MAX_PER_PC as usize);
        assert_eq!(out.matches("a=candidate:").count(), MAX_PER_PC as usize);
        assert!(!out.contains("127.0.0.1") && out.ends_with("a=mid:0\r\n"));
    }
}
