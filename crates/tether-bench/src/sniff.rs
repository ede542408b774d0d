//! A packet observer for "when did the last data arrive": an AF_PACKET socket
//! in the server's namespace (on a thread moved there with `setns`) that
//! time-stamps every IPv4 packet from one source address carrying data — TCP
//! with a payload (signalling; pure ACKs do not count) and UDP (media).

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::sys::socket::{
    recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

#[derive(Debug, Default, Clone, Copy)]
pub struct LastData {
    pub tcp: Option<Instant>,
    pub udp: Option<Instant>,
}

pub struct Sniffer {
    last: Arc<Mutex<LastData>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sniffer {
    pub fn start(netns: &str, from: Ipv4Addr) -> anyhow::Result<Self> {
        let last: Arc<Mutex<LastData>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ns = netns.to_owned();
        let (l, s) = (last.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("sniffer".into())
            .spawn(move || {
                let setup = (|| -> anyhow::Result<_> {
                    let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
                    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)?;
                    let fd = socket(
                        AddressFamily::Packet,
                        SockType::Raw,
                        SockFlag::empty(),
                        SockProtocol::EthAll,
                    )
                    .context("AF_PACKET socket (needs root)")?;
                    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 50_000))?;
                    Ok(fd)
                })();
                let fd = match setup {
                    Ok(fd) => {
                        let _sent = ready_tx.send(Ok(()));
                        fd
                    }
                    Err(e) => {
                        let _sent = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut buf = vec![0u8; 65_536];
                while !s.load(Ordering::Relaxed) {
                    let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
                        continue;
                    };
                    let now = Instant::now();
                    match classify(buf.get(..n).unwrap_or_default(), from) {
                        Some(Proto::Tcp) => {
                            l.lock().unwrap_or_else(|p| p.into_inner()).tcp = Some(now)
                        }
                        Some(Proto::Udp) => {
                            l.lock().unwrap_or_else(|p| p.into_inner()).udp = Some(now)
                        }
                        None => {}
                    }
                }
            })?;
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .context("sniffer thread")??;
        Ok(Self {
            last,
            stop,
            thread: Some(thread),
        })
    }

    pub fn last(&self) -> LastData {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
}

/// An Ethernet frame: IPv4 from `from` with data?
fn classify(frame: &[u8], from: Ipv4Addr) -> Option<Proto> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if ip.get(12..16)? != from.octets() {
        return None;
    }
    match ip.get(9)? {
        6 => {
            let tcp = ip.get(ihl..)?;
            let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
            (total > ihl + data_offset).then_some(Proto::Tcp)
        }
        17 => Some(Proto::Udp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(proto: u8, src: [u8; 4], payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let l4 = if proto == 6 { 20 } else { 8 };
        let total = (20 + l4 + payload) as u16;
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            proto,
            0,
            0,
        ];
        ip.extend(src);
        ip.extend([10, 0, 0, 1]);
        f.extend(ip);
        let mut l = vec![0u8; l4];
        if proto == 6 {
            l[12] = 5 << 4;
        }
        f.extend(l);
        f.extend(vec![1u8; payload]);
        f
    }

    #[test]
    fn data_is_told_from_acks() {
        let src = Ipv4Addr::new(10, 9, 8, 7);
        assert_eq!(classify(&frame(6, src.octets(), 10), src), Some(Proto::Tcp));
        assert_eq!(classify(&frame(6, src.octets(), 0), src), None);
        assert_eq!(classify(&frame(17, src.octets(), 0), src), Some(Proto::Udp));
        assert_eq!(classify(&frame(17, [1, 2, 3, 4], 5), src), None);
        assert_eq!(classify(&[0u8; 10], src), None);
    }
}
