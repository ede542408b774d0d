//! How the hub reaches a connection task: its queue and its kill switch.

use tether_proto::{encode, ErrorCode, ServerMessage, CLOSE_POLICY};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::ConnId;

/// WebSocket close code for a normal closure.
pub(crate) const CLOSE_NORMAL: u16 = 1000;

/// What the hub asks a connection task to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this (already encoded) frame.
    Text(Utf8Bytes),
    /// Close the WebSocket with this code and reason, after what was queued before.
    Close { code: u16, reason: &'static str },
}

/// The hub's way to reach a connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnLink {
    pub(crate) id: ConnId,
    pub(crate) tx: mpsc::Sender<Outbound>,
    /// Cancelled when the connection cannot keep up with its queue.
    pub(crate) kill: CancellationToken,
}

impl ConnLink {
    pub(super) fn send(&self, out: Outbound) {
        match self.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(
                    conn = self.id,
                    "outbound queue full; dropping slow connection"
                );
                self.kill.cancel();
            }
            // The connection task already ended; its socket is gone.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    pub(super) fn send_msg(&self, msg: &ServerMessage) {
        self.send(Outbound::Text(encode(msg).into()));
    }

    pub(super) fn fatal(&self, code: ErrorCode, message: &str, reason: &'static str) {
        self.send_msg(&ServerMessage::Error {
            code,
            message: message.to_owned(),
            fatal: true,
        });
        self.send(Outbound::Close {
            code: CLOSE_POLICY,
            reason,
        });
    }
}
