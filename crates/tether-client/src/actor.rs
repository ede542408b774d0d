//! The actor: a cheap handle and one task that owns the session.

use std::collections::HashMap;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;
use tracing::{debug, info, info_span, Instrument};

use tether_core::{ConnId, ConnectionState, Input, Output, Session, SessionConfig, SessionEvent};
use tether_proto::Media;

use crate::call::{CallMedia, MediaChannels, MediaOptions};
use crate::clock::{unix_ms, WallClock};
use crate::media::MediaEvent;
use crate::netwatch;
use crate::record::{EventRecord, Record};
use crate::transport::{self, Transport, TransportEvent};
use crate::ClientError;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Signalling server, `ws://HOST:PORT`.
    pub server: String,
    /// Identity and timing.
    pub session: SessionConfig,
    /// Listen to OS network-change events (on by default).
    pub network_hints: bool,
    /// Send and receive media over WebRTC (`None`: signalling only).
    pub media: Option<MediaOptions>,
}

impl ClientConfig {
    /// A config with network hints on.
    pub fn new(server: &str, session: SessionConfig) -> Result<Self, ClientError> {
        let lower = server.to_ascii_lowercase();
        if lower.starts_with("wss://") {
            // No TLS stack is built in yet: refuse here rather than fail at
            // dial, so nobody believes a plaintext session is encrypted.
            return Err(ClientError::TlsUnsupported(server.to_owned()));
        }
        let rest = lower
            .strip_prefix("ws://")
            .ok_or_else(|| ClientError::InvalidServerUrl(server.to_owned()))?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
            return Err(ClientError::InvalidServerUrl(server.to_owned()));
        }
        Ok(Self {
            server: server.to_owned(),
            session,
            network_hints: true,
            media: None,
        })
    }
}

/// An event as the client emits it.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// The session's event (instants are monotonic); `None` for media
    /// reports (statistics, levels, quality, exceptions) that come from the
    /// media pipeline rather than the session.
    pub session: Option<SessionEvent>,
    /// The event, serialisable, with Unix-ms times.
    pub record: Record,
}

impl ClientEvent {
    pub(crate) fn from_record(record: Record) -> Self {
        Self {
            session: None,
            record,
        }
    }
}

#[derive(Debug)]
enum Command {
    Join(oneshot::Sender<Result<(), ClientError>>),
    Input(Input),
    Mute(Media),
}

/// A handle to a running client. Cheap to clone; the client task ends when
/// every handle is dropped (after closing its connections).
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
}

impl Client {
    /// Start the client task (in `DISCONNECTED`). Events arrive on the receiver.
    pub fn spawn(mut config: ClientConfig) -> (Self, mpsc::UnboundedReceiver<ClientEvent>) {
        if config.media.as_ref().is_some_and(|m| m.subscribe) {
            config.session.media_gating = true;
        }
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Disconnected);
        let span = info_span!(
            "session",
            channel = %config.session.channel,
            uid = config.session.uid
        );
        let hints = if config.network_hints {
            netwatch::watch()
        } else {
            None
        };
        let actor = Actor {
            session: Session::new(config.session, Instant::now()),
            url: config.server,
            clock: WallClock::now(),
            conns: HashMap::new(),
            events,
            state: state_tx,
            media_options: config.media,
            call: None,
            muted: UNMUTED,
        };
        tokio::spawn(actor.run(command_rx, hints).instrument(span));
        (Self { commands, state }, event_rx)
    }

    /// Join the channel.
    pub async fn join(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Join(tx))
            .map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Leave the channel (watch the events for `DISCONNECTED`).
    pub fn leave(&self) -> Result<(), ClientError> {
        self.input(Input::Leave)
    }

    /// Publish (remembered across reconnects).
    pub fn publish(&self, media: Media) -> Result<(), ClientError> {
        self.input(Input::Publish(media))
    }

    /// Stop publishing.
    pub fn unpublish(&self) -> Result<(), ClientError> {
        self.input(Input::Unpublish)
    }

    /// Mute or unmute what this client publishes (media only; others see
    /// `mute-changed`). Also before `join`: the call's media then starts
    /// muted, so nothing muted is ever sent.
    pub fn set_muted(&self, muted: Media) -> Result<(), ClientError> {
        self.commands
            .send(Command::Mute(muted))
            .map_err(|_| ClientError::Stopped)
    }

    /// Skip the wait before the next reconnect attempt.
    pub fn retry_now(&self) -> Result<(), ClientError> {
        self.input(Input::RetryNow)
    }

    /// Hand over a fresh token.
    pub fn renew_token(&self, token: String) -> Result<(), ClientError> {
        self.input(Input::RenewToken(token))
    }

    /// Tell the client the network changed (for platforms without a watcher,
    /// or the app's own knowledge such as waking from sleep).
    pub fn network_changed(&self) -> Result<(), ClientError> {
        self.input(Input::NetworkChanged)
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// Wait until the state is `want`.
    pub async fn wait_for_state(&self, want: ConnectionState) -> Result<(), ClientError> {
        let mut rx = self.state.clone();
        rx.wait_for(|s| *s == want)
            .await
            .map(|_| ())
            .map_err(|_| ClientError::Stopped)
    }

    fn input(&self, input: Input) -> Result<(), ClientError> {
        self.commands
            .send(Command::Input(input))
            .map_err(|_| ClientError::Stopped)
    }
}

struct Actor {
    session: Session,
    url: String,
    clock: WallClock,
    conns: HashMap<ConnId, Transport>,
    events: mpsc::UnboundedSender<ClientEvent>,
    state: watch::Sender<ConnectionState>,
    media_options: Option<MediaOptions>,
    call: Option<CallMedia>,
    /// The mute the application asked for last, also before a join (the
    /// call's media starts with it, so nothing is sent that should not be).
    muted: Media,
}

/// Nothing muted.
const UNMUTED: Media = Media {
    audio: false,
    video: false,
};

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut hints: Option<mpsc::UnboundedReceiver<()>>,
    ) {
        let (transport_tx, mut transport_rx) = mpsc::unbounded_channel();
        let mut media: Option<MediaChannels> = None;
        loop {
            let deadline = self.drive(&transport_tx);
            if self.call.is_none() {
                media = None;
            }
            let input = tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Join(reply)) => {
                        let result = self.join(&mut media);
                        let _caller_gone = reply.send(result);
                        continue;
                    }
                    Some(Command::Mute(muted)) => {
                        self.muted = muted;
                        if let Some(call) = &mut self.call {
                            call.set_muted(muted);
                        }
                        continue;
                    }
                    Some(Command::Input(input)) => {
                        self.mirror_to_media(&input);
                        input
                    }
                    None => break,
                },
                Some(event) = transport_rx.recv() => match event {
                    TransportEvent::Up(conn) => Input::TransportUp { conn },
                    TransportEvent::Failed(conn, reason) => {
                        self.conns.remove(&conn);
                        Input::TransportFailed { conn, reason }
                    }
                    TransportEvent::Closed(conn, code, reason) => {
                        self.conns.remove(&conn);
                        Input::TransportClosed { conn, code, reason }
                    }
                    TransportEvent::Message(conn, msg) => Input::Message { conn, msg },
                },
                Some(()) = recv_hint(&mut hints) => Input::NetworkChanged,
                Some(from_media) = recv_media(&mut media) => match from_media {
                    FromMedia::Event(event) => {
                        let inputs = match &mut self.call {
                            Some(call) => call.on_event(event),
                            None => vec![],
                        };
                        let now = Instant::now();
                        for input in inputs {
                            self.feed(input, now);
                        }
                        continue;
                    }
                    FromMedia::Signal(msg) => Input::SendMedia(msg),
                    FromMedia::Published(publication) => {
                        if let Some(call) = &mut self.call {
                            call.on_published(publication);
                        }
                        continue;
                    }
                },
                () = sleep_or_forever(deadline) => Input::Timeout,
            };
            self.feed(input, Instant::now());
        }
        debug!("all handles dropped; client stops");
        if let Some(call) = self.call.take() {
            call.close();
        }
        self.conns.clear();
    }

    fn join(&mut self, media: &mut Option<MediaChannels>) -> Result<(), ClientError> {
        self.session
            .handle_input(Input::Join, Instant::now())
            .map_err(|e| match e {
                tether_core::SessionError::AlreadyJoined(s) => ClientError::AlreadyJoined(s),
            })?;
        if let Some(options) = &self.media_options {
            let (mut call, channels) =
                CallMedia::new(&self.url, options.clone(), self.events.clone());
            if self.muted != UNMUTED {
                call.set_muted(self.muted);
            }
            self.call = Some(call);
            *media = Some(channels);
        }
        Ok(())
    }

    fn feed(&mut self, input: Input, now: Instant) {
        // Only the join command can be refused, and it is handled apart.
        if let Err(e) = self.session.handle_input(input, now) {
            debug!(error = %e, "input refused");
        }
    }

    /// Publishing is both a signalling and a media matter.
    fn mirror_to_media(&mut self, input: &Input) {
        let connected = self.session.state() == ConnectionState::Connected;
        let Some(call) = &mut self.call else {
            return;
        };
        match input {
            Input::Publish(media) if connected => call.publish(*media),
            Input::Unpublish => call.unpublish(),
            _ => {}
        }
    }

    /// Execute the session's outputs; return its next deadline.
    fn drive(&mut self, transport_tx: &mpsc::UnboundedSender<TransportEvent>) -> Option<Instant> {
        loop {
            match self.session.poll_output() {
                Output::Connect { conn } => {
                    debug!(conn = conn.0, "dial");
                    let t = transport::spawn(conn, self.url.clone(), transport_tx.clone());
                    self.conns.insert(conn, t);
                }
                Output::Transmit { conn, msg } => {
                    if let Some(t) = self.conns.get(&conn) {
                        t.send(msg);
                    }
                }
                Output::Close { conn } => {
                    self.conns.remove(&conn);
                }
                Output::Event(event) => self.emit(event),
                Output::Media(msg) => {
                    if let Some(call) = &self.call {
                        call.on_server_message(&msg);
                    }
                }
                Output::Timeout(at) => return Some(at),
                Output::Idle => return None,
                _ => {}
            }
        }
    }

    fn emit(&mut self, event: SessionEvent) {
        if let SessionEvent::ConnectionStateChanged {
            prev,
            cur,
            reason,
            detail,
        } = &event
        {
            info!(
                prev = prev.as_str(),
                cur = cur.as_str(),
                reason = reason.as_str(),
                cause = detail.cause.map(|c| c.as_str()),
                "connection state"
            );
            self.state.send_replace(*cur);
            if *cur == ConnectionState::Disconnected {
                if let Some(call) = self.call.take() {
                    call.close();
                }
            }
        }
        if let SessionEvent::Connected { mode, .. } = &event {
            let intent = self.session.publishing();
            if let Some(call) = &mut self.call {
                call.on_connected(*mode, intent);
            }
        }
        let Some(record) = EventRecord::from_event(&event, self.clock) else {
            return;
        };
        let record = Record {
            ts: unix_ms(),
            event: record,
        };
        // Nobody listening is fine: the events are also in the log.
        let _no_listener = self.events.send(ClientEvent {
            session: Some(event),
            record,
        });
    }
}

async fn recv_hint(hints: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match hints {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

enum FromMedia {
    Event(MediaEvent),
    Signal(tether_proto::ClientMessage),
    Published(crate::media::Publication),
}

async fn recv_media(media: &mut Option<MediaChannels>) -> Option<FromMedia> {
    let Some(m) = media else {
        return std::future::pending().await;
    };
    tokio::select! {
        Some(e) = m.events.recv() => Some(FromMedia::Event(e)),
        Some(s) = m.signals.recv() => Some(FromMedia::Signal(s)),
        Some(p) = m.published.recv() => Some(FromMedia::Published(p)),
        else => None,
    }
}

async fn sleep_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionConfig {
        SessionConfig::new("ch", 1, "Ann").expect("valid session")
    }

    #[test]
    fn server_urls_are_ws_only_until_tls_exists() {
        assert!(ClientConfig::new("ws://127.0.0.1:7800", session()).is_ok());
        assert!(ClientConfig::new("WS://host/path", session()).is_ok());
        for bad in ["http://x", "ws://", "ws:///x", "ws://a b", "x"] {
            assert!(matches!(
                ClientConfig::new(bad, session()),
                Err(ClientError::InvalidServerUrl(_))
            ));
        }
        match ClientConfig::new("wss://example.org", session()) {
            Err(err @ ClientError::TlsUnsupported(_)) => {
                assert!(err.to_string().contains("not supported"));
            }
            other => panic!("wss:// accepted or wrong error: {other:?}"),
        }
    }
}
