//! Recovery after real outages, and the precision of the 10 s detection
//! thresholds, in network namespaces (tether-tests' `NetFixture`).
//!
//! Layout: the server and the viewer (UID 2, subscribing, decoding) in the
//! server namespace; the publishers in the client namespace, joined by a veth
//! pair: UID 1 with Tether's reconnect policy and UID 3, the same client with
//! a policy shaped like a common SFU client's default, cut by the same fault.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use tether_client::{EventRecord, Timing};
use tether_core::ProbePolicy;
use tether_proto::{PeerLeaveReason, StreamRemovedReason};
use tether_server::{AuthMode, Server, ServerConfig};
use tether_tests::NetFixture;

use crate::host::Host;
use crate::peer::{is_interrupted, is_reconnect_success, Peer, PeerOpts};
use crate::sniff::Sniffer;
use crate::stats::{fmt_num, Goal, Samples, Table};
use crate::Section;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// nftables drops everything on the client's veth: no OS-visible change.
    Silent,
    /// `ip link set down/up`: the client sees it (netlink hint).
    LinkDown,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Silent => "silent cut (nftables drop)",
            Self::LinkDown => "link down/up (OS hint)",
        }
    }
}

pub struct Opts {
    pub outages: Vec<u64>,
    pub runs: usize,
    pub detect_runs: usize,
}

/// The baseline: the same client, retrying 0, 0.3, 1.2, 2.7, 4.8 s after the
/// previous attempt started, then every 7 s, one attempt at a time.
pub fn baseline_timing() -> Timing {
    Timing {
        probe: ProbePolicy::sfu_client_default(),
        max_parallel_attempts: 1,
        ..Timing::default()
    }
}

struct Env {
    fx: NetFixture,
    url: String,
    client_ip: Ipv4Addr,
    _server: Host,
    viewer_host: Host,
    ours_host: Host,
    base_host: Host,
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn env() -> anyhow::Result<Option<Env>> {
    let Some(fx) = blocking(|| NetFixture::new("tether-bench")) else {
        return Ok(None);
    };
    let server = Host::new("ns-server", Some(&fx.server_ns), None)?;
    let listen = fx.server_listen().parse()?;
    server
        .run(move || async move {
            let mut config = ServerConfig::new(listen, AuthMode::Open);
            // Open mode on the namespace's private address (nothing else can reach it).
            config.allow_open_on_public = true;
            let server = Server::bind(config).await?;
            tokio::spawn(server.run(std::future::pending()));
            anyhow::Ok(())
        })
        .await??;
    Ok(Some(Env {
        url: fx.server_url(),
        client_ip: fx.client_ip.parse()?,
        viewer_host: Host::new("ns-viewer", Some(&fx.server_ns), None)?,
        ours_host: Host::new("ns-ours", Some(&fx.client_ns), None)?,
        base_host: Host::new("ns-base", Some(&fx.client_ns), None)?,
        _server: server,
        fx,
    }))
}

#[derive(Default)]
struct Figures {
    to_connected: Samples,
    /// Link down/up: from both veth ends operational again.
    operational_to_connected: Samples,
    to_media: Samples,
    stayed: usize,
}

const SETTLE: Duration = Duration::from_secs(10);

async fn start_call(
    e: &Env,
    channel: &str,
    with_baseline: bool,
) -> anyhow::Result<(Peer, Vec<Peer>)> {
    let viewer = Peer::start(&e.viewer_host, &e.url, channel, 2, PeerOpts::viewer()).await?;
    viewer.join().await?;
    let mut pubs =
        vec![Peer::start(&e.ours_host, &e.url, channel, 1, PeerOpts::publisher()).await?];
    if with_baseline {
        let opts = PeerOpts {
            timing: baseline_timing(),
            ..PeerOpts::publisher()
        };
        pubs.push(Peer::start(&e.base_host, &e.url, channel, 3, opts).await?);
    }
    let t = Instant::now();
    for p in &pubs {
        p.join().await?;
    }
    for p in &pubs {
        if viewer.wait_frame(p.uid, t, SETTLE).await.is_none() {
            return Err(anyhow!(
                "setup: the viewer decoded no frame of uid {} within {SETTLE:?}\nviewer:\n{}\nuid {}:\n{}",
                p.uid,
                viewer.dump(),
                p.uid,
                p.dump()
            ));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok((viewer, pubs))
}

async fn end_call(viewer: Peer, pubs: Vec<Peer>) {
    for p in pubs {
        let _left = p.leave().await;
    }
    let _left = viewer.leave().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Apply the fault, wait `outage`, lift it; returns (fault start, network
/// back, and for link down/up when the link was operational again).
fn outage(
    fx: &mut NetFixture,
    fault: Fault,
    outage: Duration,
) -> (Instant, Instant, Option<Instant>) {
    blocking(|| {
        let mut operational = None;
        let start = match fault {
            Fault::Silent => fx.cut_silent().at,
            Fault::LinkDown => fx.link_down().at,
        };
        std::thread::sleep((start + outage).saturating_duration_since(Instant::now()));
        let back = match fault {
            Fault::Silent => fx.restore().at,
            Fault::LinkDown => {
                // From the `ip link set up` command: the kernel may take up to
                // ~1 s more to make both ends operational (linkwatch); that
                // time counts against the client here.
                let up = fx.link_up();
                let op = fx.wait_link_operational();
                operational = Some(op.before.max(up.at));
                up.at
            }
        };
        (start, back, operational)
    })
}

pub async fn run(opts: &Opts) -> anyhow::Result<Vec<Section>> {
    let Some(mut e) = env().await? else {
        let skipped = |key, title: &str| Section {
            key,
            title: title.into(),
            text: "Skipped: needs root, `ip` and `nft` for network namespaces.".into(),
            table: Table::new(&["figure"]),
            gross_failure: None,
        };
        return Ok(vec![
            skipped("recovery", "Recovery after outages"),
            skipped("detection", "Detection precision"),
        ]);
    };
    let faults = [Fault::Silent, Fault::LinkDown];
    let mut figures: Vec<(Fault, u64, [Figures; 2])> = Vec::new();
    let mut failures = Vec::new();
    for &fault in &faults {
        for &secs in &opts.outages {
            let mut f: [Figures; 2] = Default::default();
            for run in 0..opts.runs {
                let channel = format!(
                    "rec-{}-{secs}s-{run}",
                    if fault == Fault::Silent {
                        "cut"
                    } else {
                        "link"
                    }
                );
                match one_outage(&mut e, fault, Duration::from_secs(secs), &channel, &mut f).await {
                    Ok(()) => {}
                    Err(err) => {
                        eprintln!("recovery {channel}: {err:#}");
                        failures.push(format!(
                            "{channel}: {}",
                            err.to_string().lines().next().unwrap_or("")
                        ));
                    }
                }
            }
            figures.push((fault, secs, f));
        }
    }
    let mut table = Table::new(&[
        "fault",
        "outage",
        "client",
        "figure (ms)",
        "N",
        "p50",
        "p95",
        "max",
        "goal",
        "",
        "never left CONNECTED",
    ]);
    for (fault, secs, f) in &figures {
        for (i, name) in ["Tether", "baseline (SFU-client schedule)"]
            .iter()
            .enumerate()
        {
            let mut rows = vec![
                ("restore → CONNECTED", &f[i].to_connected, 1000.0),
                ("restore → remote decodes media", &f[i].to_media, 1500.0),
            ];
            if *fault == Fault::LinkDown {
                rows.push((
                    "link operational → CONNECTED",
                    &f[i].operational_to_connected,
                    1000.0,
                ));
            }
            for (fig, s, goal) in rows {
                let mut t = Table::new(&[""]);
                t.figure(
                    fig,
                    s,
                    if i == 0 {
                        Goal::P95AtMost(goal)
                    } else {
                        Goal::None
                    },
                );
                let mut row = vec![
                    fault.name().to_owned(),
                    format!("{secs} s"),
                    (*name).to_owned(),
                ];
                row.extend(t.rows.remove(0));
                row.push(format!("{} of {}", f[i].stayed, s.len() + s.missing));
                table.row(row);
            }
        }
    }
    let mut sections = vec![Section {
        key: "recovery",
        title: "Recovery after outages (network namespaces)".into(),
        text: format!(
            "The server and a viewer (UID 2, subscribing and decoding) sit in one network \
             namespace, the publishers in another, joined by a veth pair. UID 1 runs Tether's \
             reconnect policy (defaults: 3 s keepalive timeout, attempts 100–600 ms apart with \
             jitter, up to 5 in flight, immediate retry on an OS network-change hint). UID 3 \
             runs the *same* client with a baseline shaped like a common SFU client's default: \
             attempts 0, 0.3, 1.2, 2.7, 4.8 s apart, then every 7 s, one in flight, no jitter \
             (`ProbePolicy::sfu_client_default()`, `max_parallel_attempts = 1`). The baseline \
             keeps Tether's 3 s keepalive detection and its reaction to OS hints, so it is \
             flattered: a real SFU client also detects later and waits for a failed attempt \
             before the next delay starts. Both are cut by the same fault at the same instant. \
             \"restore\" is the instant the nftables table is deleted, or the `ip link set up` \
             command returned (the kernel may take up to ~1 s more to make the link \
             operational; that counts against the client; the extra \"link operational → \
             CONNECTED\" rows start from when both veth ends were operational again, as \
             tests/tests/net_hints.rs does, clamped at 0). \"restore → CONNECTED\" is the \
             `RECONNECT_SUCCESS` state change after the restore; a client that never left \
             CONNECTED (a short cut that TCP rode out) counts as 0 and is also counted in the \
             last column. \"restore → remote decodes media\" is the first `VideoSink` frame \
             of that publisher at the viewer after the restore. {} runs per row.{}",
            opts.runs,
            if failures.is_empty() {
                String::new()
            } else {
                format!("\n\nRuns that failed: {}", failures.join("; "))
            }
        ),
        table,
        gross_failure: figures
            .iter()
            .any(|(_, _, f)| f[0].to_connected.missing > 0)
            .then(|| "Tether's client did not reconnect after an outage".to_owned()),
    }];
    if opts.detect_runs > 0 {
        sections.push(detection(&mut e, opts.detect_runs).await?);
    }
    Ok(sections)
}

async fn one_outage(
    e: &mut Env,
    fault: Fault,
    length: Duration,
    channel: &str,
    figures: &mut [Figures; 2],
) -> anyhow::Result<()> {
    let (viewer, pubs) = start_call(e, channel, true).await?;
    let (start, back, operational) = outage(&mut e.fx, fault, length);
    let mut result = Ok(());
    for (i, p) in pubs.iter().enumerate() {
        let within = if i == 0 {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(30)
        };
        let media = viewer.wait_frame(p.uid, back, within).await;
        // A client may notice a silent cut only after its 3 s keepalive
        // timeout, even when the cut was shorter: wait that out before
        // deciding it never left CONNECTED.
        let grace = start + Duration::from_millis(3_600);
        tokio::time::sleep(grace.saturating_duration_since(Instant::now())).await;
        let interrupted = p.any_event(start, is_interrupted);
        let connected = if interrupted {
            p.wait_event(start, within, is_reconnect_success).await
        } else {
            figures[i].stayed += 1;
            Some(back)
        };
        let ms =
            |t: Option<Instant>| t.map(|t| t.saturating_duration_since(back).as_secs_f64() * 1e3);
        eprintln!(
            "{channel} uid {}: restore→CONNECTED {} ms{}, restore→media {} ms",
            p.uid,
            fmt_num(ms(connected)),
            if interrupted {
                ""
            } else {
                " (never left CONNECTED)"
            },
            fmt_num(ms(media)),
        );
        figures[i].to_connected.push_opt(ms(connected));
        if let (Some(op), Some(c)) = (operational, connected) {
            figures[i]
                .operational_to_connected
                .push(c.saturating_duration_since(op).as_secs_f64() * 1e3);
        }
        figures[i].to_media.push_opt(ms(media));
        if connected.is_none() && i == 0 {
            result = Err(anyhow!("uid {} did not reconnect:\n{}", p.uid, p.dump()));
        }
    }
    end_call(viewer, pubs).await;
    result
}

async fn detection(e: &mut Env, runs: usize) -> anyhow::Result<Section> {
    let sniffer = Sniffer::start(&e.fx.server_ns, e.client_ip).context("packet observer")?;
    let (mut no_data, mut timeout, mut no_data_cut, mut timeout_cut) = Default::default();
    for run in 0..runs {
        let channel = format!("detect-{run}");
        let (viewer, pubs) = match start_call(e, &channel, false).await {
            Ok(x) => x,
            Err(err) => {
                eprintln!("detection {channel}: {err:#}");
                Samples::push_opt(&mut no_data, None);
                Samples::push_opt(&mut timeout, None);
                continue;
            }
        };
        let cut = blocking(|| e.fx.cut_silent());
        let wait = Duration::from_secs(16);
        let removed = viewer
            .wait_event(cut.before, wait, |ev| {
                matches!(
                    ev,
                    EventRecord::StreamRemoved {
                        uid: 1,
                        reason: StreamRemovedReason::NoData
                    }
                )
            })
            .await;
        let left = viewer
            .wait_event(cut.before, wait, |ev| {
                matches!(
                    ev,
                    EventRecord::PeerLeave {
                        uid: 1,
                        reason: PeerLeaveReason::ServerTimeout
                    }
                )
            })
            .await;
        let last = sniffer.last();
        blocking(|| e.fx.restore());
        let ten = Duration::from_secs(10);
        let err = |event: Option<Instant>, data: Option<Instant>| {
            let (event, data) = (event?, data? + ten);
            Some(if event >= data {
                event.duration_since(data).as_secs_f64() * 1e3
            } else {
                -(data.duration_since(event).as_secs_f64() * 1e3)
            })
        };
        let (a, b) = (err(removed, last.udp), err(left, last.tcp));
        eprintln!(
            "detection run {run}: stream-removed NO_DATA {} ms, peer-leave SERVER_TIMEOUT {} ms (vs last data + 10 s)",
            fmt_num(a),
            fmt_num(b)
        );
        Samples::push_opt(&mut no_data, a);
        Samples::push_opt(&mut timeout, b);
        Samples::push_opt(&mut no_data_cut, err(removed, Some(cut.at)));
        Samples::push_opt(&mut timeout_cut, err(left, Some(cut.at)));
        end_call(viewer, pubs).await;
    }
    let mut table = Table::new(&[
        "figure (ms, event − (last data + 10 s))",
        "N",
        "p50",
        "p95",
        "max",
        "goal",
        "",
    ]);
    table.figure(
        "stream-removed {NO_DATA} at the viewer",
        &no_data,
        Goal::WithinAbs(300.0),
    );
    table.figure(
        "peer-leave {SERVER_TIMEOUT} at the viewer",
        &timeout,
        Goal::WithinAbs(300.0),
    );
    table.figure(
        "(cross-check) stream-removed − (cut + 10 s)",
        &no_data_cut,
        Goal::None,
    );
    table.figure(
        "(cross-check) peer-leave − (cut + 10 s)",
        &timeout_cut,
        Goal::None,
    );
    Ok(Section {
        key: "detection",
        title: "Detection precision (10 s thresholds)".into(),
        text: format!(
            "UID 1 publishes from the client namespace; the viewer (UID 2) and the server are \
             in the server namespace. A silent cut (nftables drop) stops everything from UID 1. \
             \"Last data\" is observed on the wire: an AF_PACKET socket in the server namespace \
             time-stamps every packet from UID 1's address, UDP (media) for `stream-removed \
             {{NO_DATA}}` and TCP segments with payload (signalling; the server counts any \
             frame as \"heard from\") for `peer-leave {{SERVER_TIMEOUT}}`. The event time is \
             when the viewer's application receives it. Negative = early. The cross-check rows \
             measure from the cut command instead (the last ping can be up to 250 ms before \
             the cut, so those read later). {runs} runs."
        ),
        table,
        gross_failure: (no_data.len() == 0 && timeout.len() == 0)
            .then(|| "no detection event observed".to_owned()),
    })
}
