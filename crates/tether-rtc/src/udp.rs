//! The webrtc crate's tokio runtime, but with UDP sockets that receive one
//! datagram at a time (no GRO).
//!
//! The crate (0.21.1) turns UDP GRO on for every socket it wraps and, for a
//! socket that can coalesce, gives each peer connection's driver two
//! receive buffers of 64 × 1500 bytes (~96 KB each; the crate's own note on
//! `gro_recv_buf_len` calls it "a real per-connection RSS cost ... relevant
//! at SFU scale"). On the SFU that is ~192 KB per connection, two
//! connections per participant. GRO only coalesces runs of same-sized
//! datagrams of one flow; a conference connection carries a few hundred
//! packets per second at most, which the driver still drains in bursts
//! (`MAX_UDP_RECV_BURST`), so per-datagram receives cost little. With GRO
//! off (the socket option cleared, so the kernel never coalesces) the
//! driver sizes its buffers for one datagram (2000 bytes).

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
};

/// [`TokioRuntime`] with [`SingleDatagram`] UDP sockets.
#[derive(Debug)]
pub struct NoGroRuntime(TokioRuntime);

impl NoGroRuntime {
    pub fn new() -> Self {
        Self(TokioRuntime)
    }
}

impl Default for NoGroRuntime {
    fn default() -> Self {
        Self::new()
    }
}

/// A wrapped socket that reports (and has) no GRO.
#[derive(Debug)]
pub struct SingleDatagram(Arc<dyn AsyncUdpSocket>);

/// Clear `UDP_GRO` on a socket: datagrams are then never coalesced.
#[cfg(target_os = "linux")]
fn disable_gro(socket: &std::net::UdpSocket) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::UdpGroSegment};
    setsockopt(socket, UdpGroSegment, &false).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn disable_gro(_socket: &std::net::UdpSocket) -> io::Result<()> {
    // GRO is a Linux socket option; elsewhere nothing coalesces.
    Ok(())
}

impl Runtime for NoGroRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.0.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.0.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        // The same socket (a second descriptor): the crate enables GRO while
        // wrapping, so it is cleared afterwards.
        let same = socket.try_clone()?;
        let wrapped = self.0.wrap_udp_socket(socket)?;
        disable_gro(&same)?;
        Ok(Arc::new(SingleDatagram(wrapped)))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.0.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.0.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future);
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.yield_now()
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl AsyncUdpSocket for SingleDatagram {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_recv(cx, bufs, meta)
    }

    fn max_gso_segments(&self) -> usize {
        self.0.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        1
    }

    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<usize>> + Send + 'a>> {
        self.0.send_to(buf, target)
    }

    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> Pin<Box<dyn Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a>> {
        self.0.recv_from(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn gro_is_cleared() {
        use nix::sys::socket::{getsockopt, setsockopt, sockopt::UdpGroSegment};
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        setsockopt(&s, UdpGroSegment, &true).expect("enable");
        assert!(getsockopt(&s, UdpGroSegment).expect("get"));
        disable_gro(&s).expect("disable");
        assert!(!getsockopt(&s, UdpGroSegment).expect("get"));
    }

    #[tokio::test]
    async fn sockets_receive_single_datagrams_without_gro() {
        let rt = NoGroRuntime::default();
        let a = rt
            .wrap_udp_socket(std::net::UdpSocket::bind("127.0.0.1:0").expect("bind"))
            .expect("wrap");
        let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert_eq!(a.max_gro_segments(), 1);
        let to = a.local_addr().expect("addr");
        for i in 0..3u8 {
            b.send_to(&[i; 100], to).expect("send");
        }
        let mut buf = [0u8; 2000];
        for i in 0..3u8 {
            let (n, from) = a.recv_from(&mut buf).await.expect("recv");
            assert_eq!((n, from), (100, b.local_addr().expect("addr")));
            assert_eq!(buf[0], i);
        }
    }
}
