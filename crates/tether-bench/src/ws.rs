//! A bare signalling participant: one WebSocket, `hello`, a ping every 2 s,
//! and optionally the client's media module (`tether_client::media`) on it.
//! Light enough to run a thousand in one process.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use tether_client::media::MediaSession;
use tether_proto::{decode_server, encode, ClientMessage, ServerMessage, PROTOCOL_VERSION};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

pub struct Sig {
    pub out: mpsc::UnboundedSender<ClientMessage>,
    /// Non-media server messages with their arrival time (when `forward`).
    pub rx: mpsc::UnboundedReceiver<(Instant, ServerMessage)>,
    /// When `hello` went out.
    pub hello_at: Instant,
    task: JoinHandle<()>,
}

impl Drop for Sig {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn hello(channel: &str, uid: u32) -> ClientMessage {
    ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        channel: channel.to_owned(),
        uid,
        name: format!("b{uid}"),
        token: None,
        resume: None,
    }
}

/// Connect and say hello. `out`/`out_rx`: the outgoing queue (made by the
/// caller so a media session can be given its sender first).
pub async fn connect(
    url: &str,
    channel: &str,
    uid: u32,
    out: mpsc::UnboundedSender<ClientMessage>,
    mut out_rx: mpsc::UnboundedReceiver<ClientMessage>,
    media: Option<MediaSession>,
    forward: bool,
) -> anyhow::Result<Sig> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .with_context(|| format!("dial {url}"))?;
    let (mut sink, mut stream) = ws.split();
    let hello_at = Instant::now();
    sink.send(Message::text(encode(&hello(channel, uid))))
        .await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut ping = tokio::time::interval(Duration::from_secs(2));
        let mut seq = 0;
        loop {
            tokio::select! {
                msg = out_rx.recv() => {
                    let Some(msg) = msg else { return };
                    if sink.send(Message::text(encode(&msg))).await.is_err() {
                        return;
                    }
                }
                _ = ping.tick() => {
                    seq += 1;
                    if sink.send(Message::text(encode(&ClientMessage::Ping { seq }))).await.is_err() {
                        return;
                    }
                }
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        let at = Instant::now();
                        let Ok(msg) = decode_server(t.as_str()) else { continue };
                        if media.as_ref().is_some_and(|m| m.on_server_message(&msg)) {
                            continue;
                        }
                        if forward && tx.send((at, msg)).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    });
    Ok(Sig {
        out,
        rx,
        hello_at,
        task,
    })
}

/// Connect without media.
pub async fn connect_plain(
    url: &str,
    channel: &str,
    uid: u32,
    forward: bool,
) -> anyhow::Result<Sig> {
    let (out, out_rx) = mpsc::unbounded_channel();
    connect(url, channel, uid, out, out_rx, None, forward).await
}

impl Sig {
    /// Wait for a message matching `pred` (arrival time), bounded.
    pub async fn wait(
        &mut self,
        within: Duration,
        pred: impl Fn(&ServerMessage) -> bool,
    ) -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((at, msg))) if pred(&msg) => return Ok(at),
                Ok(Some(_)) => {}
                Ok(None) => return Err(anyhow!("connection ended")),
                Err(_) => return Err(anyhow!("timed out after {within:?}")),
            }
        }
    }

    pub fn leave(&self) {
        let _sent = self.out.send(ClientMessage::Leave);
    }
}
