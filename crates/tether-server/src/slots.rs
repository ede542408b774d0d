//! Who may take a connection slot: at most so many handshakes at once, so
//! many connections per address, so many sessions.
//!
//! Checked at accept, before a task or a handshake is spent on the
//! connection: a TCP connection past the per-address or handshake cap is
//! closed at once. A handshake holds no session slot; the session slot is
//! taken when the handshake is done (past the cap the client is told
//! `SERVER_BUSY`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The address a per-address cap counts: an IPv4 address, or an IPv6 /64
/// (one host or LAN gets a whole /64, so counting single IPv6 addresses
/// would cap nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddrKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl AddrKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    Self::V6Prefix([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

/// The caps, shared by the accept loop and every connection task.
pub(crate) struct Slots {
    per_addr: Mutex<HashMap<AddrKey, usize>>,
    max_per_addr: usize,
    handshakes: Arc<Semaphore>,
    sessions: Arc<Semaphore>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This address already has its most connections.
    PerAddress,
    /// Too many handshakes in progress.
    Handshakes,
}

/// What an accepted connection holds until it ends.
pub(crate) struct Ticket {
    slots: Arc<Slots>,
    addr: AddrKey,
    handshake: Option<OwnedSemaphorePermit>,
    session: Option<OwnedSemaphorePermit>,
}

impl Slots {
    pub(crate) fn new(max_per_addr: usize, max_handshakes: usize, max_sessions: usize) -> Self {
        Self {
            per_addr: Mutex::new(HashMap::new()),
            max_per_addr,
            handshakes: Arc::new(Semaphore::new(max_handshakes)),
            sessions: Arc::new(Semaphore::new(max_sessions)),
        }
    }

    /// Admit a TCP connection from `ip` to its handshake, or refuse it.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        let addr = AddrKey::of(ip);
        let mut per_addr = self.per_addr.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_addr.get(&addr).copied().unwrap_or(0);
        if count >= self.max_per_addr {
            return Err(Refused::PerAddress);
        }
        let handshake = self
            .handshakes
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Handshakes)?;
        per_addr.insert(addr, count + 1);
        Ok(Ticket {
            slots: self.clone(),
            addr,
            handshake: Some(handshake),
            session: None,
        })
    }

    /// Connections counted for `ip` right now.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        let per_addr = self.per_addr.lock().unwrap_or_else(|e| e.into_inner());
        per_addr.get(&AddrKey::of(ip)).copied().unwrap_or(0)
    }
}

impl Ticket {
    /// The handshake is done: give back its slot and take a session slot.
    /// `false` when the server is at its session cap.
    pub(crate) fn handshake_done(&mut self) -> bool {
        self.handshake = None;
        self.session = self.slots.sessions.clone().try_acquire_owned().ok();
        self.session.is_some()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut per_addr = self
            .slots
            .per_addr
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_addr.get_mut(&self.addr) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_addr.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn an_address_gets_its_cap_and_its_slots_back() {
        let slots = Arc::new(Slots::new(2, 10, 10));
        let a = ip("10.0.0.1");
        let t1 = slots.admit(a);
        let t2 = slots.admit(a);
        assert!(t1.is_ok() && t2.is_ok());
        assert_eq!(slots.admit(a).err(), Some(Refused::PerAddress));
        // Another address is not affected.
        assert!(slots.admit(ip("10.0.0.2")).is_ok());
        drop(t1);
        assert_eq!(slots.count(a), 1);
        assert!(slots.admit(a).is_ok());
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        let slots = Arc::new(Slots::new(1, 10, 10));
        let _t = slots.admit(ip("2001:db8:1:2::1"));
        assert_eq!(
            slots.admit(ip("2001:db8:1:2::99")).err(),
            Some(Refused::PerAddress)
        );
        assert!(slots.admit(ip("2001:db8:1:3::1")).is_ok());
        let _v4 = slots.admit(ip("192.0.2.7"));
        assert_eq!(
            slots.admit(ip("::ffff:192.0.2.7")).err(),
            Some(Refused::PerAddress)
        );
    }

    #[test]
    fn handshakes_and_sessions_are_capped_apart() {
        let slots = Arc::new(Slots::new(10, 2, 1));
        let mut a = slots
            .admit(ip("10.0.0.1"))
            .unwrap_or_else(|_| unreachable!());
        let mut b = slots
            .admit(ip("10.0.0.2"))
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(slots.admit(ip("10.0.0.3")).err(), Some(Refused::Handshakes));
        // A finished handshake frees its handshake slot and takes a session.
        assert!(a.handshake_done());
        assert!(slots.admit(ip("10.0.0.3")).is_ok());
        assert!(!b.handshake_done(), "one session slot only");
        drop(a);
        let mut c = slots
            .admit(ip("10.0.0.4"))
            .unwrap_or_else(|_| unreachable!());
        assert!(c.handshake_done());
    }
}
