//! Channels and sessions: who is in which channel, their presence, and the
//! roster events everyone else sees.
//!
//! All state sits behind one mutex that is never held across an `.await`.
//! Every method takes `now` so presence logic runs on any clock (tests use
//! tokio's paused time). Events are delivered by `try_send` into each attached
//! connection's queue while the lock is held, so every connection sees events
//! in the order they happened.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tether_proto::{
    ErrorCode, Media, PeerLeaveReason, PeerPresence, ServerMessage, StreamRemovedReason,
};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn};

use crate::auth::Grant;
use crate::sfu::SfuInput;

mod channel;
pub(crate) mod fuzz;
mod link;

use channel::{millis, Channel, Session, UNMUTED};
pub(crate) use link::{ConnLink, Outbound, CLOSE_NORMAL};

/// Identifies one WebSocket connection.
pub(crate) type ConnId = u64;

/// Names a joined session from its connection's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionKey {
    pub(crate) channel: String,
    pub(crate) uid: u32,
    pub(crate) session_id: String,
}

/// The session is gone or attached to another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAttached;

/// A validated `hello`.
#[derive(Debug)]
pub(crate) struct JoinRequest {
    pub(crate) channel: String,
    pub(crate) uid: u32,
    pub(crate) name: String,
    pub(crate) resume: Option<String>,
    pub(crate) grant: Grant,
    pub(crate) conn: ConnLink,
}

/// Timeouts and limits the hub applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubConfig {
    pub(crate) peer_timeout: Duration,
    pub(crate) peer_stale: Duration,
    pub(crate) departed_ttl: Duration,
    pub(crate) departed_max: usize,
    /// Most sessions in one channel (a new uid past it is refused).
    pub(crate) max_participants: usize,
}

/// A join refused because the channel has its most participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelFull {
    pub(crate) max: usize,
}

/// Counts for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Channels with at least one session.
    pub channels: usize,
    /// Sessions, attached or not.
    pub sessions: usize,
    /// Sessions with a connection attached.
    pub attached: usize,
}

/// All channels and sessions.
#[derive(Debug)]
pub(crate) struct Hub {
    channels: Mutex<HashMap<String, Channel>>,
    cfg: HubConfig,
    next_conn: AtomicU64,
    /// Wakes the presence timer when a deadline may have moved earlier.
    pub(crate) wake: Notify,
    /// Where session lifecycle notices for the SFU go (unset: no media).
    media: OnceLock<mpsc::UnboundedSender<SfuInput>>,
}

impl Hub {
    pub(crate) fn new(cfg: HubConfig) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            cfg,
            next_conn: AtomicU64::new(1),
            wake: Notify::new(),
            media: OnceLock::new(),
        }
    }

    /// Route session lifecycle notices to the SFU. Set once, before serving.
    pub(crate) fn set_media(&self, tx: mpsc::UnboundedSender<SfuInput>) {
        if self.media.set(tx).is_err() {
            warn!("media sink set twice; keeping the first");
        }
    }

    /// Tell the SFU. Called with the hub lock held, so the SFU sees session
    /// changes in the order they happened.
    fn media(&self, input: SfuInput) {
        if let Some(tx) = self.media.get() {
            // The SFU task is gone only during shutdown.
            if tx.send(input).is_err() {
                debug!("media notice after the SFU stopped");
            }
        }
    }

    /// Send `msg` to the session's connection, if it is still this session and attached.
    pub(crate) fn send_to(&self, key: &SessionKey, msg: &ServerMessage) -> bool {
        let channels = self.lock();
        let Some(s) = channels
            .get(&key.channel)
            .and_then(|ch| ch.sessions.get(&key.uid))
        else {
            return false;
        };
        if s.session_id != key.session_id {
            return false;
        }
        match &s.conn {
            Some(conn) => {
                conn.send_msg(msg);
                true
            }
            None => false,
        }
    }

    /// Whether the session may publish media (its token's privilege).
    pub(crate) fn may_publish(&self, key: &SessionKey) -> bool {
        let channels = self.lock();
        channels
            .get(&key.channel)
            .and_then(|ch| ch.sessions.get(&key.uid))
            .is_some_and(|s| s.session_id == key.session_id && s.privileges.publish)
    }

    /// `mute`: store and tell the others (only on a real change).
    pub(crate) fn mute(
        &self,
        key: &SessionKey,
        conn: ConnId,
        muted: Media,
    ) -> Result<(), NotAttached> {
        let uid = key.uid;
        self.with_session(key, conn, |ch, _| {
            let Some(s) = ch.sessions.get_mut(&uid) else {
                return;
            };
            if s.muted == muted {
                return;
            }
            s.muted = muted;
            info!(parent: &s.span, audio = muted.audio, video = muted.video, "mute changed");
            ch.broadcast(
                uid,
                &ServerMessage::MuteChanged {
                    uid,
                    audio: muted.audio,
                    video: muted.video,
                },
            );
        })
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Channel>> {
        // A panic while holding the lock is a bug; the map itself stays usable.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> HubStats {
        let channels = self.lock();
        let mut stats = HubStats {
            channels: channels.len(),
            ..HubStats::default()
        };
        for ch in channels.values() {
            stats.sessions += ch.sessions.len();
            stats.attached += ch.sessions.values().filter(|s| s.conn.is_some()).count();
        }
        stats
    }

    /// Join (or resume) a session. Returns the session's key and the `welcome`
    /// to send; the caller must send it before anything queued afterwards.
    pub(crate) fn join(
        &self,
        req: JoinRequest,
        now: Instant,
    ) -> Result<(SessionKey, ServerMessage), ChannelFull> {
        let cfg = self.cfg;
        let mut channels = self.lock();
        // A new uid past the cap is refused; a uid already in (resume, or
        // joining again elsewhere) keeps its place.
        if let Some(ch) = channels.get(&req.channel) {
            if !ch.sessions.contains_key(&req.uid) && ch.sessions.len() >= cfg.max_participants {
                return Err(ChannelFull {
                    max: cfg.max_participants,
                });
            }
        }
        let ch = channels.entry(req.channel.clone()).or_default();
        let uid = req.uid;
        let token_expires = req.grant.expires_in.map(|d| now + d);
        let resumable = match (&req.resume, ch.sessions.get(&uid)) {
            (Some(id), Some(s)) => *id == s.session_id,
            _ => false,
        };
        let (session_id, resumed) = match ch.sessions.get_mut(&uid) {
            Some(s) if resumable => {
                if let Some(old) = s.conn.replace(req.conn) {
                    old.send(Outbound::Close {
                        code: CLOSE_NORMAL,
                        reason: "session resumed on another connection",
                    });
                }
                s.last_heard = now;
                s.privileges = req.grant.privileges;
                s.token_expires = token_expires;
                let was_reconnecting = s.presence == PeerPresence::Reconnecting;
                s.presence = PeerPresence::Online;
                info!(parent: &s.span, was_reconnecting, "session resumed");
                let id = s.session_id.clone();
                if was_reconnecting {
                    ch.broadcast(uid, &ServerMessage::PeerReconnected { uid });
                }
                // Resumed with a token that no longer grants publishing.
                self.enforce_publish_right(ch, &req.channel, uid);
                (id, true)
            }
            _ => {
                if let Some(old) = ch.sessions.remove(&uid) {
                    info!(parent: &old.span, "uid joined again elsewhere; removing old session");
                    self.media(SfuInput::Removed {
                        channel: req.channel.clone(),
                        uid,
                        session_id: old.session_id.clone(),
                    });
                    if let Some(conn) = &old.conn {
                        conn.fatal(
                            ErrorCode::UidConflict,
                            "the same uid joined this channel from another connection",
                            "uid conflict",
                        );
                    }
                    ch.broadcast(
                        uid,
                        &ServerMessage::PeerLeave {
                            uid,
                            reason: PeerLeaveReason::Quit,
                        },
                    );
                }
                let session_id = uuid::Uuid::new_v4().simple().to_string();
                let span =
                    info_span!("session", channel = %req.channel, uid, session = %session_id);
                info!(parent: &span, name = %req.name, resume_failed = req.resume.is_some(), "session joined");
                ch.sessions.insert(
                    uid,
                    Session {
                        name: req.name.clone(),
                        session_id: session_id.clone(),
                        publishing: None,
                        presence: PeerPresence::Online,
                        last_heard: now,
                        conn: Some(req.conn),
                        privileges: req.grant.privileges,
                        token_expires,
                        muted: UNMUTED,
                        span: span.clone(),
                    },
                );
                self.media(SfuInput::Joined {
                    channel: req.channel.clone(),
                    uid,
                    session_id: session_id.clone(),
                    span,
                });
                ch.broadcast(
                    uid,
                    &ServerMessage::PeerOnline {
                        uid,
                        name: req.name,
                    },
                );
                (session_id, false)
            }
        };
        let welcome = ch.welcome(uid, resumed, now, &cfg);
        // Late joiners (and resumers) learn who is muted right after `welcome`:
        // the connection sends the welcome before anything queued here.
        if let Some(conn) = ch.sessions.get(&uid).and_then(|s| s.conn.as_ref()) {
            for (peer, s) in &ch.sessions {
                if *peer != uid && s.muted != UNMUTED {
                    conn.send_msg(&ServerMessage::MuteChanged {
                        uid: *peer,
                        audio: s.muted.audio,
                        video: s.muted.video,
                    });
                }
            }
        }
        drop(channels);
        self.wake.notify_one();
        let key = SessionKey {
            channel: req.channel,
            uid,
            session_id,
        };
        Ok((key, welcome))
    }

    /// Run `f` on the session if `conn` is attached to it.
    fn with_session<T>(
        &self,
        key: &SessionKey,
        conn: ConnId,
        f: impl FnOnce(&mut Channel, &HubConfig) -> T,
    ) -> Result<T, NotAttached> {
        let mut channels = self.lock();
        let ch = channels.get_mut(&key.channel).ok_or(NotAttached)?;
        let s = ch.sessions.get(&key.uid).ok_or(NotAttached)?;
        if s.session_id != key.session_id || !s.attached_to(conn) {
            return Err(NotAttached);
        }
        let out = f(ch, &self.cfg);
        if ch.sessions.is_empty() {
            channels.remove(&key.channel);
        }
        Ok(out)
    }

    /// A frame arrived from the session's connection.
    pub(crate) fn heard(
        &self,
        key: &SessionKey,
        conn: ConnId,
        now: Instant,
    ) -> Result<(), NotAttached> {
        let uid = key.uid;
        self.with_session(key, conn, |ch, _| {
            let Some(s) = ch.sessions.get_mut(&uid) else {
                return;
            };
            s.last_heard = now;
            if s.presence == PeerPresence::Reconnecting {
                s.presence = PeerPresence::Online;
                info!(parent: &s.span, "heard again; online");
                ch.broadcast(uid, &ServerMessage::PeerReconnected { uid });
            }
        })
    }

    /// `publish`: store and announce. Returns an error to send back, if any.
    pub(crate) fn publish(
        &self,
        key: &SessionKey,
        conn: ConnId,
        media: Media,
    ) -> Result<Option<ServerMessage>, NotAttached> {
        let uid = key.uid;
        self.with_session(key, conn, |ch, _| {
            let s = ch.sessions.get_mut(&uid)?;
            if !s.privileges.publish {
                return Some(ServerMessage::Error {
                    code: ErrorCode::NoPrivilege,
                    message: "token does not grant the publish privilege".into(),
                    fatal: false,
                });
            }
            if s.publishing == Some(media) {
                return None;
            }
            s.publishing = Some(media);
            info!(parent: &s.span, audio = media.audio, video = media.video, "publishing");
            ch.broadcast(
                uid,
                &ServerMessage::StreamAdded {
                    uid,
                    audio: media.audio,
                    video: media.video,
                },
            );
            None
        })
    }

    /// A session publishing without the publish right any more (a renewal
    /// or resume with a no-publish token) stops: the SFU drops its media,
    /// the others see `stream-removed`, and it is told why.
    fn enforce_publish_right(&self, ch: &mut Channel, channel: &str, uid: u32) {
        let Some(s) = ch.sessions.get_mut(&uid) else {
            return;
        };
        if s.privileges.publish || s.publishing.is_none() {
            return;
        }
        s.publishing = None;
        info!(parent: &s.span, "publish right withdrawn; unpublished");
        self.media(SfuInput::Unpublished {
            channel: channel.to_owned(),
            uid,
            session_id: s.session_id.clone(),
        });
        if let Some(conn) = &s.conn {
            conn.send_msg(&ServerMessage::Error {
                code: ErrorCode::NoPrivilege,
                message: "the new token does not grant the publish privilege; stopped publishing"
                    .into(),
                fatal: false,
            });
        }
        ch.broadcast(
            uid,
            &ServerMessage::StreamRemoved {
                uid,
                reason: StreamRemovedReason::Unpublished,
            },
        );
    }

    /// `unpublish`: announce if it was publishing.
    pub(crate) fn unpublish(&self, key: &SessionKey, conn: ConnId) -> Result<(), NotAttached> {
        let uid = key.uid;
        self.with_session(key, conn, |ch, _| {
            let Some(s) = ch.sessions.get_mut(&uid) else {
                return;
            };
            if s.publishing.take().is_some() {
                info!(parent: &s.span, "unpublished");
                self.media(SfuInput::Unpublished {
                    channel: key.channel.clone(),
                    uid,
                    session_id: key.session_id.clone(),
                });
                ch.broadcast(
                    uid,
                    &ServerMessage::StreamRemoved {
                        uid,
                        reason: StreamRemovedReason::Unpublished,
                    },
                );
            }
        })
    }

    /// `renew-token` with an already verified grant.
    pub(crate) fn renew(
        &self,
        key: &SessionKey,
        conn: ConnId,
        grant: Grant,
        now: Instant,
    ) -> Result<ServerMessage, NotAttached> {
        let uid = key.uid;
        let out = self.with_session(key, conn, |ch, _| {
            let expires_in = grant.expires_in.unwrap_or_default();
            if let Some(s) = ch.sessions.get_mut(&uid) {
                s.privileges = grant.privileges;
                s.token_expires = grant.expires_in.map(|d| now + d);
                info!(parent: &s.span, expires_in_ms = millis(expires_in), "token renewed");
            }
            self.enforce_publish_right(ch, &key.channel, uid);
            ServerMessage::TokenRenewed {
                expires_in_ms: millis(expires_in),
            }
        })?;
        self.wake.notify_one();
        Ok(out)
    }

    /// `leave`: remove the session; others see `peer-leave {QUIT}`.
    pub(crate) fn leave(
        &self,
        key: &SessionKey,
        conn: ConnId,
        now: Instant,
    ) -> Result<(), NotAttached> {
        let uid = key.uid;
        self.with_session(key, conn, |ch, cfg| {
            if let Some(s) = ch.sessions.get(&uid) {
                info!(parent: &s.span, "left");
                self.media(SfuInput::Removed {
                    channel: key.channel.clone(),
                    uid,
                    session_id: s.session_id.clone(),
                });
            }
            ch.remove(uid, PeerLeaveReason::Quit, now, cfg);
        })
    }

    /// The connection's socket closed or failed without `leave`. The session
    /// stays for resume; others see `peer-reconnecting` once.
    pub(crate) fn detach(&self, key: &SessionKey, conn: ConnId) {
        let uid = key.uid;
        let res = self.with_session(key, conn, |ch, _| {
            let Some(s) = ch.sessions.get_mut(&uid) else {
                return;
            };
            s.conn = None;
            info!(parent: &s.span, "connection lost; keeping session for resume");
            if s.presence == PeerPresence::Online {
                s.presence = PeerPresence::Reconnecting;
                ch.broadcast(uid, &ServerMessage::PeerReconnecting { uid });
            }
        });
        if res.is_err() {
            // The session already moved on (resumed elsewhere, or removed).
            debug!(conn, "detach of a connection no longer attached");
        }
    }

    /// Apply every presence and token deadline that is due at `now`; return the
    /// next deadline, if any session is left.
    pub(crate) fn run_timers(&self, now: Instant) -> Option<Instant> {
        let cfg = self.cfg;
        let mut channels = self.lock();
        let mut next: Option<Instant> = None;
        let mut earliest = |t: Instant| {
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        for (name, ch) in channels.iter_mut() {
            let mut stale = Vec::new();
            let mut gone = Vec::new();
            for (uid, s) in &ch.sessions {
                let timeout_at = s.last_heard + cfg.peer_timeout;
                let stale_at = s.last_heard + cfg.peer_stale;
                if now >= timeout_at {
                    gone.push((*uid, PeerLeaveReason::ServerTimeout));
                } else if s.token_expires.is_some_and(|t| now >= t) {
                    gone.push((*uid, PeerLeaveReason::Kicked));
                } else if s.presence == PeerPresence::Online && s.conn.is_some() && now >= stale_at
                {
                    stale.push(*uid);
                }
            }
            for uid in stale {
                if let Some(s) = ch.sessions.get_mut(&uid) {
                    s.presence = PeerPresence::Reconnecting;
                    info!(parent: &s.span, "nothing heard; reconnecting");
                }
                ch.broadcast(uid, &ServerMessage::PeerReconnecting { uid });
            }
            for (uid, reason) in gone {
                if let Some(s) = ch.sessions.get(&uid) {
                    if let Some(conn) = &s.conn {
                        if reason == PeerLeaveReason::Kicked {
                            conn.fatal(
                                ErrorCode::TokenExpired,
                                "token expired without renewal",
                                "token expired",
                            );
                        } else {
                            conn.send(Outbound::Close {
                                code: CLOSE_NORMAL,
                                reason: "session timed out",
                            });
                        }
                    }
                    info!(parent: &s.span, ?reason, "session removed by server");
                    self.media(SfuInput::Removed {
                        channel: name.clone(),
                        uid,
                        session_id: s.session_id.clone(),
                    });
                }
                ch.remove(uid, reason, now, &cfg);
            }
            for s in ch.sessions.values() {
                earliest(s.last_heard + cfg.peer_timeout);
                if let Some(t) = s.token_expires {
                    earliest(t);
                }
                if s.presence == PeerPresence::Online && s.conn.is_some() {
                    earliest(s.last_heard + cfg.peer_stale);
                }
            }
        }
        channels.retain(|_, ch| !ch.sessions.is_empty());
        next
    }
}

#[cfg(test)]
mod tests;
