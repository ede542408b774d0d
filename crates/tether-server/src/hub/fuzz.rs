//! The hub driven by arbitrary bytes, for the `hub` fuzz target: joins,
//! resumes, leaves, publishes, mutes, renewals, detaches and time, on a few
//! uids in two channels. What must hold whatever the order: nothing panics,
//! every queued frame decodes and fits a frame, a channel never holds more
//! than its cap, and once everyone has been silent for the peer timeout
//! nothing is left.

use std::time::Duration;

use tether_proto::{decode_server, Media, Privileges, MAX_FRAME_BYTES};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ConnLink, Hub, HubConfig, JoinRequest, Outbound, SessionKey};
use crate::auth::Grant;

const UIDS: u8 = 6;
const CAP: usize = 4;

struct Conn {
    link: ConnLink,
    rx: mpsc::Receiver<Outbound>,
    key: Option<SessionKey>,
}

/// Run the ops `data` describes (three bytes each: op, uid, argument).
pub fn run(data: &[u8]) {
    let cfg = HubConfig {
        peer_timeout: Duration::from_millis(10_000),
        peer_stale: Duration::from_millis(3_000),
        departed_ttl: Duration::from_secs(300),
        departed_max: 8,
        max_participants: CAP,
    };
    let hub = Hub::new(cfg);
    let (media_tx, _media_rx) = mpsc::unbounded_channel();
    hub.set_media(media_tx);
    let mut now = Instant::now();
    let mut conns: Vec<Option<Conn>> = (0..UIDS).map(|_| None).collect();
    for op in data.chunks_exact(3) {
        let (kind, uid, arg) = (op[0] % 12, op[1] % UIDS, op[2]);
        let slot = usize::from(uid);
        let uid32 = u32::from(uid) + 1;
        let channel = if arg % 2 == 0 { "a" } else { "b" };
        match kind {
            // Join (or join again, or resume with the last session id).
            0 | 1 => {
                let (tx, rx) = mpsc::channel(32);
                let link = ConnLink {
                    id: hub.next_conn_id(),
                    tx,
                    kill: CancellationToken::new(),
                };
                let resume = conns[slot]
                    .as_ref()
                    .and_then(|c| c.key.as_ref())
                    .filter(|_| kind == 1)
                    .map(|k| k.session_id.clone());
                let req = JoinRequest {
                    channel: channel.into(),
                    uid: uid32,
                    name: format!("u{uid}"),
                    resume,
                    grant: grant(arg & 4 != 0, arg),
                    conn: link.clone(),
                };
                let key = hub.join(req, now).ok().map(|(k, _)| k);
                conns[slot] = Some(Conn { link, rx, key });
            }
            _ => {
                let Some(c) = conns[slot].as_mut() else {
                    continue;
                };
                let Some(key) = c.key.clone() else {
                    continue;
                };
                let id = c.link.id;
                let media = Media {
                    audio: arg & 1 != 0,
                    video: arg & 2 != 0,
                };
                // NotAttached is a fine answer to anything here.
                let _ = match kind {
                    2 => hub.heard(&key, id, now),
                    3 => hub.publish(&key, id, media).map(|_| ()),
                    4 => hub.unpublish(&key, id),
                    5 => hub.mute(&key, id, media),
                    6 => hub
                        .renew(&key, id, grant(arg & 4 != 0, arg), now)
                        .map(|_| ()),
                    7 => hub.leave(&key, id, now),
                    8 => {
                        hub.detach(&key, id);
                        Ok(())
                    }
                    _ => Ok(()),
                };
            }
        }
        if kind >= 9 {
            now += Duration::from_millis(u64::from(arg) * 100);
            hub.run_timers(now);
        }
        check(&hub, &mut conns);
    }
    // Everyone silent past the timeout: nothing left.
    now += Duration::from_millis(10_001);
    hub.run_timers(now);
    check(&hub, &mut conns);
    let stats = hub.stats();
    assert_eq!((stats.channels, stats.sessions), (0, 0), "{stats:?}");
}

fn grant(publish: bool, arg: u8) -> Grant {
    Grant {
        privileges: Privileges {
            join: true,
            publish,
        },
        expires_in: (arg & 8 != 0).then(|| Duration::from_millis(u64::from(arg) * 50)),
    }
}

fn check(hub: &Hub, conns: &mut [Option<Conn>]) {
    let channels = hub.lock();
    for ch in channels.values() {
        assert!(ch.sessions.len() <= CAP, "{} sessions", ch.sessions.len());
        assert!(!ch.sessions.is_empty(), "an empty channel is kept");
    }
    drop(channels);
    for c in conns.iter_mut().flatten() {
        while let Ok(out) = c.rx.try_recv() {
            if let Outbound::Text(text) = out {
                assert!(text.len() <= MAX_FRAME_BYTES);
                assert!(decode_server(text.as_str()).is_ok(), "{text}");
            }
        }
    }
}
