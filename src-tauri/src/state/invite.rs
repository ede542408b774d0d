//! Invitations (`tether://join/…` links). A link never connects, captures or
//! stores anything by itself: it becomes the pending [`Invite`], which the UI
//! shows as a question naming the server, channel and name, and only
//! `answer_invite` with the user's yes starts the call. The one exception is
//! the user's own choice, `join_links_without_asking`, and only for links to
//! the configured (or built-in) server. A link's name is used for that call
//! and never becomes the remembered name.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tracing::{info, warn};

use tether_client::ConnectionState;

use super::{AppState, EmitInvite, Remember};
use crate::deeplink::{parse_join_link, JoinLink};
use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::types::{ConnectionInfo, Invite, JoinResult};

/// The pending invitation (at most one: a newer link replaces it).
pub(super) struct Invites {
    pending: Mutex<Option<(Invite, JoinLink)>>,
    next_id: AtomicU32,
    emit: EmitInvite,
}

impl Invites {
    pub(super) fn new(emit: EmitInvite) -> Self {
        Self {
            pending: Mutex::new(None),
            next_id: AtomicU32::new(1),
            emit,
        }
    }

    fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn offer(&self, invite: Invite, link: JoinLink) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = Some((invite.clone(), link));
        }
        (self.emit)(Some(&invite));
    }

    fn current(&self) -> Option<Invite> {
        self.pending
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(|(invite, _)| invite.clone()))
    }

    /// The link of invitation `id`, if it is the pending one (then no
    /// longer pending).
    fn take(&self, id: u32) -> Option<JoinLink> {
        let taken = {
            let mut pending = self.pending.lock().ok()?;
            match pending.as_ref() {
                Some((invite, _)) if invite.id == id => pending.take().map(|(_, link)| link),
                _ => None,
            }
        };
        if taken.is_some() {
            (self.emit)(None);
        }
        taken
    }
}

/// The server a link leads to, as the session would record it: the link's,
/// else the configured one (`None`: the built-in server).
fn wanted_server(link: &JoinLink, configured: Option<&String>) -> Option<String> {
    link.server.clone().or_else(|| configured.cloned())
}

/// Already in the link's channel on the link's server.
fn already_there(current: &ConnectionInfo, link: &JoinLink, configured: Option<&String>) -> bool {
    if current.state == ConnectionState::Disconnected
        || current.channel.as_deref() != Some(link.channel.as_str())
    {
        return false;
    }
    match wanted_server(link, configured) {
        Some(s) => current.server.as_deref() == Some(s.as_str()),
        None => true,
    }
}

impl AppState {
    /// Open an invitation link (argv or the OS): it becomes the pending
    /// invitation the UI asks about (`tether-invite`), or, when the user
    /// chose so and it leads to the configured server, joins at once.
    /// Problems go to the UI as `exception` events.
    pub async fn open_link(&self, link: &str) {
        let link = match parse_join_link(link) {
            Ok(link) => link,
            Err(e) => {
                warn!("deep link refused: {}", e.message);
                self.exception(&e);
                return;
            }
        };
        info!("deep link: {link}");
        let current = self.connection().await;
        let settings = self.0.settings.get();
        if already_there(&current, &link, settings.server.as_ref()) {
            info!("deep link: already in that channel");
            return;
        }
        let own_server = link.server.is_none() || link.server == settings.server;
        if own_server && settings.join_links_without_asking {
            info!("deep link to our own server: joining without asking, as chosen");
            if let Err(e) = self.join_link(link).await {
                warn!("deep link join failed: {}", e.message);
                self.exception(&e);
            }
            return;
        }
        let invite = Invite {
            id: self.0.invites.next_id(),
            channel: link.channel.clone(),
            server: link.server.clone(),
            foreign_server: !own_server,
            name: link
                .name
                .clone()
                .unwrap_or_else(|| settings.display_name.clone()),
            has_token: link.token.is_some(),
            leaves: (current.state != ConnectionState::Disconnected)
                .then_some(current.channel)
                .flatten(),
        };
        info!(
            id = invite.id,
            foreign = invite.foreign_server,
            "deep link: asking the user"
        );
        self.0.invites.offer(invite, link);
    }

    /// The invitation waiting for an answer, if any.
    pub fn invite(&self) -> Option<Invite> {
        self.0.invites.current()
    }

    /// Answer invitation `id`: `accept` joins its channel (leaving the
    /// current one first); otherwise it is dropped. `NO_INVITE` when `id` is
    /// not the pending invitation (answered, or replaced by a newer link).
    pub async fn answer_invite(&self, id: u32, accept: bool) -> IpcResult<Option<JoinResult>> {
        let Some(link) = self.0.invites.take(id) else {
            return Err(IpcError::new(
                ErrorCode::NoInvite,
                "that invitation is no longer pending (answered, or replaced by a newer link)",
            ));
        };
        if !accept {
            info!(id, "invitation declined");
            return Ok(None);
        }
        info!(id, "invitation accepted: {link}");
        self.join_link(link).await
    }

    /// `None`: already in that channel on that server.
    async fn join_link(&self, link: JoinLink) -> IpcResult<Option<JoinResult>> {
        let current = self.connection().await;
        let configured = self.0.settings.get().server;
        if already_there(&current, &link, configured.as_ref()) {
            return Ok(None);
        }
        if current.state != ConnectionState::Disconnected {
            self.leave_and_wait(Duration::from_secs(5)).await?;
        }
        let name = link
            .name
            .clone()
            .unwrap_or_else(|| self.0.settings.get().display_name);
        self.start_call(&link.channel, &name, link.server, link.token, Remember::No)
            .await
            .map(Some)
    }
}
