//! How join time and broadcast cost grow with channel size: a channel with n
//! raw signalling participants, then a probe joins (and leaves) K times.
//! Join time = `hello` sent → `welcome` received. Broadcast = `hello` sent →
//! the last of the n participants has `peer-online` for the probe. Server
//! CPU per join = utime+stime over the K joins and leaves, divided by K.

use std::time::{Duration, Instant};

use tether_proto::ServerMessage;

use crate::host::Host;
use crate::proc::{cpu_seconds, ServerProc};
use crate::stats::{fmt_num, Samples, Table};
use crate::ws::{self, Sig};
use crate::Section;

pub struct Opts {
    pub sizes: Vec<usize>,
    pub probes: usize,
}

pub async fn run(opts: &Opts) -> anyhow::Result<Section> {
    let server = ServerProc::start(None)?;
    let host = Host::new("scale-load", None, None)?;
    let mut table = Table::new(&[
        "peers in channel",
        "join p50 (ms)",
        "join p95",
        "all peers told p50 (ms)",
        "p95",
        "max",
        "server CPU per join+leave (ms)",
    ]);
    for &n in &opts.sizes {
        let url = server.url.clone();
        let probes = opts.probes;
        let pid = server.pid;
        let r = host
            .run(move || async move { one_size(&url, pid, n, probes).await })
            .await??;
        eprintln!(
            "scale {n}: join p50 {} ms, broadcast p50 {} ms, cpu {} ms/join",
            fmt_num(r.0.percentile(50.0)),
            fmt_num(r.1.percentile(50.0)),
            fmt_num(Some(r.2))
        );
        table.row(vec![
            n.to_string(),
            fmt_num(r.0.percentile(50.0)),
            fmt_num(r.0.percentile(95.0)),
            fmt_num(r.1.percentile(50.0)),
            fmt_num(r.1.percentile(95.0)),
            fmt_num(r.1.max()),
            fmt_num(Some(r.2)),
        ]);
    }
    let binary = server.binary.display().to_string();
    drop(host);
    drop(server);
    Ok(Section {
        key: "scale",
        title: "Channel size: join time and broadcast cost".into(),
        text: format!(
            "`{binary}` as its own process; n raw WebSocket participants (in the bench \
             process, one runtime thread) in one channel; a probe then joins and leaves {} \
             times. The curve is the point: how each figure grows from 1 to the largest n.",
            opts.probes
        ),
        table,
        gross_failure: None,
    })
}

async fn one_size(
    url: &str,
    server_pid: u32,
    n: usize,
    probes: usize,
) -> anyhow::Result<(Samples, Samples, f64)> {
    let channel = format!("scale-{n}");
    let mut peers: Vec<Sig> = Vec::with_capacity(n);
    for i in 0..n {
        let mut sig = ws::connect_plain(url, &channel, u32::try_from(i + 1)?, true).await?;
        sig.wait(Duration::from_secs(10), |m| {
            matches!(m, ServerMessage::Welcome { .. })
        })
        .await?;
        peers.push(sig);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in &mut peers {
        while p.rx.try_recv().is_ok() {}
    }
    let (mut join, mut told) = (Samples::default(), Samples::default());
    let cpu0 = cpu_seconds(server_pid).unwrap_or(0.0);
    for k in 0..probes {
        let uid = 1_000_000 + u32::try_from(k)?;
        let mut probe = ws::connect_plain(url, &channel, uid, true).await?;
        let welcome = probe
            .wait(Duration::from_secs(10), |m| {
                matches!(m, ServerMessage::Welcome { .. })
            })
            .await?;
        join.push(ms(welcome, probe.hello_at));
        let mut last = probe.hello_at;
        for p in &mut peers {
            let at = p
                .wait(
                    Duration::from_secs(10),
                    |m| matches!(m, ServerMessage::PeerOnline { uid: u, .. } if *u == uid),
                )
                .await?;
            last = last.max(at);
        }
        told.push(ms(last, probe.hello_at));
        probe.leave();
        for p in &mut peers {
            p.wait(
                Duration::from_secs(10),
                |m| matches!(m, ServerMessage::PeerLeave { uid: u, .. } if *u == uid),
            )
            .await?;
        }
    }
    let cpu_ms = (cpu_seconds(server_pid).unwrap_or(0.0) - cpu0) * 1e3 / probes.max(1) as f64;
    for p in &peers {
        p.leave();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((join, told, cpu_ms))
}

fn ms(t: Instant, from: Instant) -> f64 {
    t.saturating_duration_since(from).as_secs_f64() * 1e3
}
