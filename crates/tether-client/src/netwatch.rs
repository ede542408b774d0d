//! OS network-change hints. On Linux: an rtnetlink socket subscribed to link,
//! address and route changes; any message is a hint (the session decides what
//! it means). Other platforms get no hints yet; probing still reconnects.

use tokio::sync::mpsc;

/// Start watching; hints arrive on the returned receiver. `None` when the
/// platform has no watcher or the socket could not be opened.
pub(crate) fn watch() -> Option<mpsc::UnboundedReceiver<()>> {
    imp::watch()
}

#[cfg(target_os = "linux")]
mod imp {
    use netlink_sys::{
        protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket,
    };
    use tokio::sync::mpsc;
    use tracing::{debug, warn};

    // Multicast groups from <linux/rtnetlink.h>.
    const RTMGRP_LINK: u32 = 0x1;
    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV4_ROUTE: u32 = 0x40;
    const RTMGRP_IPV6_IFADDR: u32 = 0x100;
    const RTMGRP_IPV6_ROUTE: u32 = 0x400;

    pub(super) fn watch() -> Option<mpsc::UnboundedReceiver<()>> {
        let groups = RTMGRP_LINK
            | RTMGRP_IPV4_IFADDR
            | RTMGRP_IPV4_ROUTE
            | RTMGRP_IPV6_IFADDR
            | RTMGRP_IPV6_ROUTE;
        let mut socket = match TokioSocket::new(NETLINK_ROUTE) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "no netlink socket; network-change hints disabled");
                return None;
            }
        };
        if let Err(e) = socket.socket_mut().bind(&SocketAddr::new(0, groups)) {
            warn!(error = %e, "netlink bind failed; network-change hints disabled");
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match socket.recv_from_full().await {
                    Ok(_) => {
                        debug!("network change");
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "netlink receive failed; hints stop");
                        return;
                    }
                }
            }
        });
        Some(rx)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use tokio::sync::mpsc;

    pub(super) fn watch() -> Option<mpsc::UnboundedReceiver<()>> {
        None
    }
}
