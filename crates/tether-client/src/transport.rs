//! One WebSocket connection: dial, then forward frames both ways. It owns no
//! logic; the actor (and the session inside it) decides everything.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, trace, warn, Instrument};

use tether_core::ConnId;
use tether_proto::{decode_server, encode, ClientMessage, ServerMessage, MAX_FRAME_BYTES};

/// What a connection task reports to the actor.
#[derive(Debug)]
pub(crate) enum TransportEvent {
    Up(ConnId),
    Failed(ConnId, String),
    Closed(ConnId, Option<u16>, String),
    Message(ConnId, ServerMessage),
}

/// The actor's end of one connection. Dropping it closes the connection.
#[derive(Debug)]
pub(crate) struct Transport {
    outbound: mpsc::UnboundedSender<ClientMessage>,
}

impl Transport {
    pub(crate) fn send(&self, msg: ClientMessage) {
        // A closed receiver means the task already reported Closed/Failed.
        if self.outbound.send(msg).is_err() {
            trace!("send on a finished connection");
        }
    }
}

/// How long a graceful close may take before the socket is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

pub(crate) fn spawn(
    conn: ConnId,
    url: String,
    events: mpsc::UnboundedSender<TransportEvent>,
) -> Transport {
    let (outbound, rx) = mpsc::unbounded_channel();
    let span = tracing::debug_span!("conn", id = conn.0);
    tokio::spawn(run(conn, url, rx, events).instrument(span));
    Transport { outbound }
}

async fn run(
    conn: ConnId,
    url: String,
    mut outbound: mpsc::UnboundedReceiver<ClientMessage>,
    events: mpsc::UnboundedSender<TransportEvent>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let dial = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true);
    let ws = tokio::select! {
        result = dial => match result {
            Ok((ws, _response)) => ws,
            Err(e) => {
                debug!(error = %e, "dial failed");
                let _gone = events.send(TransportEvent::Failed(conn, e.to_string()));
                return;
            }
        },
        // The actor dropped us while dialling (attempt timed out or superseded).
        None = outbound.recv() => return,
    };
    debug!("connected");
    if events.send(TransportEvent::Up(conn)).is_err() {
        return;
    }
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            msg = outbound.recv() => match msg {
                Some(msg) => {
                    if let Err(e) = sink.send(Message::text(encode(&msg))).await {
                        let _gone = events.send(TransportEvent::Closed(conn, None, e.to_string()));
                        return;
                    }
                }
                None => {
                    // Closed by the actor: say goodbye politely, but briefly.
                    let _closed = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
                    return;
                }
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match decode_server(text.as_str()) {
                    Ok(msg) => {
                        if events.send(TransportEvent::Message(conn, msg)).is_err() {
                            return;
                        }
                    }
                    Err(e) => warn!(error = %e, "undecodable frame from server"),
                },
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (Some(u16::from(f.code)), f.reason.to_string()))
                        .unwrap_or((None, String::new()));
                    let _gone = events.send(TransportEvent::Closed(conn, code, reason));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let _gone = events.send(TransportEvent::Closed(conn, None, e.to_string()));
                    return;
                }
                None => {
                    let _gone = events.send(TransportEvent::Closed(conn, None, "eof".into()));
                    return;
                }
            }
        }
    }
}
