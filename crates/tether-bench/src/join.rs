//! Join latency on loopback, with the real client library and an in-process
//! server: join → CONNECTED, join → `peer-online` at the other client, and
//! join → first remote video frame decoded (both ways: the joiner decoding
//! the peer already there, and the peer decoding the joiner).

use std::time::{Duration, Instant};

use tether_client::{ConnectionState, EventRecord};
use tether_server::{Server, ServerConfig};

use crate::host::Host;
use crate::peer::{Peer, PeerOpts};
use crate::stats::{fmt_num, Goal, Samples, Table};
use crate::Section;

pub async fn run(runs: usize) -> anyhow::Result<Section> {
    let server_host = Host::new("join-server", None, None)?;
    let url = server_host
        .run(|| async {
            let server = Server::bind(ServerConfig::open_loopback()).await?;
            let url = format!("ws://{}", server.local_addr());
            tokio::spawn(server.run(std::future::pending()));
            anyhow::Ok(url)
        })
        .await??;
    let host_a = Host::new("join-a", None, None)?;
    let host_b = Host::new("join-b", None, None)?;
    let (mut connected, mut online, mut joiner_sees, mut peer_sees) = Default::default();
    let wait = Duration::from_secs(5);
    for run in 0..runs {
        let channel = format!("join-{run}");
        let both = PeerOpts {
            publish: true,
            subscribe: true,
            network_hints: false,
            ..PeerOpts::publisher()
        };
        // UID 2 is in the channel, publishing, when UID 1 joins.
        let uid2 = Peer::start(&host_b, &url, &channel, 2, both.clone()).await?;
        let t = uid2.join().await?;
        uid2.wait_state(t, ConnectionState::Connected, wait).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let uid1 = Peer::start(&host_a, &url, &channel, 1, both).await?;
        let t0 = uid1.join().await?;
        let c = uid1.wait_state(t0, ConnectionState::Connected, wait).await;
        let o = uid2
            .wait_event(t0, wait, |e| {
                matches!(e, EventRecord::PeerOnline { uid: 1, .. })
            })
            .await;
        let f1 = uid1.wait_frame(2, t0, wait).await;
        let f2 = uid2.wait_frame(1, t0, wait).await;
        let ms = |t: Option<Instant>| t.map(|t| t.duration_since(t0).as_secs_f64() * 1e3);
        Samples::push_opt(&mut connected, ms(c));
        Samples::push_opt(&mut online, ms(o));
        Samples::push_opt(&mut joiner_sees, ms(f1));
        Samples::push_opt(&mut peer_sees, ms(f2));
        eprintln!(
            "join run {run}: connected {} peer-online {} joiner-frame {} peer-frame {} ms",
            fmt_num(ms(c)),
            fmt_num(ms(o)),
            fmt_num(ms(f1)),
            fmt_num(ms(f2))
        );
        uid1.leave().await?;
        uid2.leave().await?;
    }
    let mut table = Table::new(&["figure (ms)", "N", "p50", "p95", "max", "goal", ""]);
    table.figure("join → CONNECTED", &connected, Goal::P95AtMost(50.0));
    table.figure(
        "join → peer-online at the other client",
        &online,
        Goal::P95AtMost(50.0),
    );
    table.figure(
        "join → first remote frame decoded (joiner decodes the peer already there)",
        &joiner_sees,
        Goal::P95AtMost(300.0),
    );
    table.figure(
        "join → first remote frame decoded (the peer decodes the joiner)",
        &peer_sees,
        Goal::P95AtMost(300.0),
    );
    let gross = connected.len() == 0 || online.len() == 0;
    Ok(Section {
        key: "join",
        title: "Join latency (loopback)".into(),
        text: "Both clients are the real client library (`tether_client::Client`) with synthetic \
               640×360 VP8 + Opus media, publishing and subscribing; the server is \
               `tether_server::Server` in the same process; each on its own thread and runtime. \
               UID 2 is in the channel and publishing; the clock starts just before UID 1's \
               `join()`. CONNECTED and `peer-online` are the instants the events reach the \
               application; \"frame decoded\" is the `VideoSink` callback for the first decoded \
               frame of that publisher. Fresh channel per run."
            .into(),
        table,
        gross_failure: gross.then(|| "no join completed".to_owned()),
    })
}
