//! Server memory per connected participant: RSS of a `tether-server` process
//! (from /proc) with N participants, minus its RSS before any connected.

use std::time::Duration;

use crate::host::Host;
use crate::mediapeer::{MediaPeer, Pump};
use crate::proc::ServerProc;
use crate::stats::Table;
use crate::ws;
use crate::Section;

pub struct Opts {
    pub signalling: Vec<usize>,
    pub media: Vec<usize>,
    /// Participants per channel.
    pub channel_size: usize,
    /// With media: how long media keeps flowing after the first measurement
    /// before the second (send buffers and logs fill over time); zero for
    /// no second measurement.
    pub hold: Duration,
}

const GOAL_KIB: f64 = 1024.0;

pub async fn run(opts: &Opts) -> anyhow::Result<Section> {
    let mut table = Table::new(&[
        "participants",
        "kind",
        "channels",
        "server RSS before",
        "RSS with all connected",
        "per participant",
        "after more media",
        "goal",
        "",
    ]);
    let mut binary = String::new();
    let mut gross = None;
    for (kind, counts) in [
        ("signalling only", &opts.signalling),
        ("with media", &opts.media),
    ] {
        for &n in counts.iter().filter(|&&n| n > 0) {
            let server = ServerProc::start(None)?;
            binary = server.binary.display().to_string();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = server.rss_kib();
            let host = Host::new("mem-load", None, None)?;
            let url = server.url.clone();
            let size = opts.channel_size.max(1);
            let media = kind == "with media";
            let connected = host
                .run(move || async move { connect_all(&url, n, size, media).await })
                .await?;
            let after = server.rss_kib();
            let hold = if media { opts.hold } else { Duration::ZERO };
            let later = if hold.is_zero() || connected.is_err() {
                None
            } else {
                // The participants keep publishing on the host's runtime.
                tokio::time::sleep(hold).await;
                Some(server.rss_kib())
            };
            let (ok, held) = match connected {
                Ok(peers) => (true, peers.0.len() + peers.1.len()),
                Err(e) => {
                    eprintln!("memory {kind} {n}: {e:#}");
                    gross = Some(format!("memory {kind} {n}: {e}"));
                    (false, 0)
                }
            };
            drop(host);
            drop(server);
            let per = after.saturating_sub(before) as f64 / n.max(1) as f64;
            let per_later = later.map(|l| l.saturating_sub(before) as f64 / n.max(1) as f64);
            eprintln!(
                "memory {kind} {n}: {before} KiB → {after} KiB, {per:.0} KiB each; \
                 after {} s more: {later:?} KiB, {per_later:.0?} KiB each",
                hold.as_secs()
            );
            let worst = per_later.unwrap_or(per).max(per);
            table.row(vec![
                n.to_string(),
                kind.to_owned(),
                n.div_ceil(size).to_string(),
                format!("{:.1} MiB", before as f64 / 1024.0),
                format!("{:.1} MiB", after as f64 / 1024.0),
                format!("{per:.0} KiB"),
                per_later.map_or_else(
                    || "–".into(),
                    |p| format!("{p:.0} KiB after {} s", hold.as_secs()),
                ),
                "≤ 1 MiB".into(),
                if !ok || held < n {
                    format!("only {held} of {n} connected")
                } else if worst <= GOAL_KIB {
                    "met".into()
                } else {
                    "MISSED".into()
                },
            ]);
        }
    }
    Ok(Section {
        key: "memory",
        title: "Server memory per participant".into(),
        text: format!(
            "A fresh `{binary}` process per row; RSS (VmRSS in /proc/<pid>/status) before any \
             connection and after all N participants joined and settled (2 s), divided by N; with \
             media also after media kept flowing for {} s more (send buffers fill over \
             time), and the goal verdict takes the larger figure. \
             Participants are spread over channels of {}. Signalling-only participants are raw \
             WebSocket clients in the bench process (`hello`, a ping every 2 s). Participants \
             with media also run the client's media stack (publisher and subscriber WebRTC \
             connections, DTLS-SRTP) and each publishes audio (10 pkt/s) and video (5 frames/s, \
             1 KB), so the SFU holds every forwarding path of the channel.",
            opts.hold.as_secs(),
            opts.channel_size
        ),
        table,
        gross_failure: gross,
    })
}

type Held = (Vec<ws::Sig>, Vec<MediaPeer>);

/// Connect `n` participants and keep them (the caller measures, then drops them).
async fn connect_all(url: &str, n: usize, size: usize, media: bool) -> anyhow::Result<Held> {
    let mut plain = Vec::new();
    let mut rich = Vec::new();
    for i in 0..n {
        let channel = format!("mem-{}", i / size);
        let uid = u32::try_from(i + 1)?;
        if media {
            let audio = Pump {
                per_second: 10,
                bytes: 100,
            };
            let video = Pump {
                per_second: 5,
                bytes: 1000,
            };
            rich.push(MediaPeer::join(url, &channel, uid, Some(audio), Some(video)).await?);
        } else {
            let mut sig = ws::connect_plain(url, &channel, uid, true).await?;
            sig.wait(Duration::from_secs(10), |m| {
                matches!(m, tether_proto::ServerMessage::Welcome { .. })
            })
            .await?;
            // Keep reading (roster messages) without keeping them.
            let mut rx = std::mem::replace(&mut sig.rx, tokio::sync::mpsc::unbounded_channel().1);
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            plain.push(sig);
        }
    }
    if media {
        // Let every forwarding path come up before measuring.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let members = |i: usize| size.min(n - (i / size) * size);
        while std::time::Instant::now() < deadline
            && !rich
                .iter()
                .enumerate()
                .all(|(i, p)| p.streams_flowing() >= (members(i) - 1) * 2)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok((plain, rich))
}
