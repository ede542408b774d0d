//! SFU forwarding capacity: the server pinned to core 0 (`taskset -c 0`), the
//! load generator (every publisher and subscriber, the real client media
//! stack) on one thread pinned to core 1. Subscribers are added step by step
//! until more than 1 % of the packets are lost.

use std::time::{Duration, Instant};

use crate::host::Host;
use crate::mediapeer::{MediaPeer, Pump};
use crate::proc::{cpu_seconds, ServerProc};
use crate::stats::{fmt_num, Table};
use crate::Section;

pub struct Opts {
    pub audio_publishers: usize,
    pub audio_steps: Vec<usize>,
    pub video_publishers: usize,
    pub video_steps: Vec<usize>,
    pub window: Duration,
}

const AUDIO: Pump = Pump {
    per_second: 50,
    bytes: 100,
};
/// 30 frames/s of 3 000 bytes: 3 RTP packets each (~90 packets/s, 0.7 Mbit/s).
const VIDEO: Pump = Pump {
    per_second: 30,
    bytes: 3000,
};

struct Step {
    subscribers: usize,
    receivers: usize,
    expected_pps: f64,
    received_pps: f64,
    loss: f64,
    server_cpu: f64,
    generator_cpu: f64,
    cpu_per_mpkt: f64,
    flowing: bool,
}

pub async fn run(opts: &Opts) -> anyhow::Result<Section> {
    let server = ServerProc::start(Some(0))?;
    let host = Host::new("sfu-load", None, Some(1))?;
    let mut table = Table::new(&[
        "stream",
        "publishers",
        "subscribers",
        "offered pkt/s",
        "forwarded pkt/s (received)",
        "loss %",
        "server CPU (core 0)",
        "generator CPU (core 1)",
        "server CPU-s per M pkt",
    ]);
    let mut best: Vec<String> = Vec::new();
    let mut gross = None;
    for (label, pump, audio, publishers, steps) in [
        (
            "audio-like (50 pkt/s, 100 B)",
            AUDIO,
            true,
            opts.audio_publishers,
            opts.audio_steps.clone(),
        ),
        (
            "video-like (30 fps × 3 KB ≈ 90 pkt/s)",
            VIDEO,
            false,
            opts.video_publishers,
            opts.video_steps.clone(),
        ),
    ] {
        if publishers == 0 || steps.is_empty() {
            continue;
        }
        let url = server.url.clone();
        let window = opts.window;
        let pid = server.pid;
        let label_owned = label.to_owned();
        let steps_out = host
            .run(move || async move {
                series(
                    &url,
                    pid,
                    &label_owned,
                    pump,
                    audio,
                    publishers,
                    &steps,
                    window,
                )
                .await
            })
            .await??;
        let mut held: Option<&Step> = None;
        for s in &steps_out {
            table.row(vec![
                label.to_owned(),
                publishers.to_string(),
                s.subscribers.to_string(),
                format!("{:.0}", s.expected_pps),
                format!("{:.0}", s.received_pps),
                format!(
                    "{:.2}{}",
                    s.loss * 100.0,
                    if s.flowing {
                        ""
                    } else {
                        " (not all streams flowing)"
                    }
                ),
                format!("{:.0} %", s.server_cpu * 100.0),
                format!("{:.0} %", s.generator_cpu * 100.0),
                fmt_num(Some(s.cpu_per_mpkt)),
            ]);
            if s.loss <= 0.01 && s.flowing {
                held = Some(s);
            }
        }
        match held {
            Some(s) => best.push(format!(
                "{label}: largest load held {:.0} forwarded pkt/s ({} subscribers × {} publishers) at \
                 {:.0} % of the server's core, {} CPU-s per million packets → projected {:.0} pkt/s \
                 per fully used core",
                s.received_pps,
                s.subscribers,
                publishers,
                s.server_cpu * 100.0,
                fmt_num(Some(s.cpu_per_mpkt)),
                1e6 / s.cpu_per_mpkt.max(1e-9),
            )),
            None => gross = Some(format!("{label}: no step held under 1 % loss")),
        }
    }
    let binary = server.binary.display().to_string();
    drop(server);
    Ok(Section {
        key: "sfu",
        title: "SFU forwarding (server pinned to one core)".into(),
        text: format!(
            "`{binary}` runs under `taskset -c 0`; the load generator is one thread of \
             tether-bench pinned to core 1 running every participant with the client's real \
             media stack (`tether_client::media::MediaSession`: WebRTC, DTLS-SRTP), without \
             encoding or decoding: publishers write synthetic payloads into their tracks, every \
             participant receives every other one's tracks through the SFU. Forwarded pkt/s is \
             what subscribers received (from their RTP statistics, per 250 ms) over a {:.0} s \
             window after the step settled; offered pkt/s is what the publishers really wrote \
             over that window times the participants receiving it; loss is RTP sequence gaps \
             over the same window; \
             server CPU is utime+stime from /proc/<pid>/stat over the window. Steps add \
             subscribers until loss exceeds 1 %.\n\n{}",
            opts.window.as_secs_f64(),
            best.iter()
                .map(|b| format!("- {b}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        table,
        gross_failure: gross,
    })
}

#[allow(clippy::too_many_arguments)]
async fn series(
    url: &str,
    server_pid: u32,
    label: &str,
    pump: Pump,
    audio: bool,
    publishers: usize,
    steps: &[usize],
    window: Duration,
) -> anyhow::Result<Vec<Step>> {
    let channel = format!("sfu-{}", if audio { "audio" } else { "video" });
    let mut peers: Vec<MediaPeer> = Vec::new();
    let mut uid = 1;
    for _ in 0..publishers {
        let (a, v) = if audio {
            (Some(pump), None)
        } else {
            (None, Some(pump))
        };
        peers.push(MediaPeer::join(url, &channel, uid, a, v).await?);
        uid += 1;
    }
    let mut out = Vec::new();
    for &target in steps {
        let t_add = Instant::now();
        while peers.len() < publishers + target {
            peers.push(MediaPeer::join(url, &channel, uid, None, None).await?);
            uid += 1;
        }
        // Every receiver sees every publisher but itself.
        let wanted = |p: &MediaPeer| {
            if p.uid as usize <= publishers {
                publishers - 1
            } else {
                publishers
            }
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut flowing = false;
        while Instant::now() < deadline {
            if peers.iter().all(|p| p.streams_flowing() >= wanted(p)) {
                flowing = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let me = std::process::id();
        let snap = |peers: &[MediaPeer]| {
            peers
                .iter()
                .map(MediaPeer::totals)
                .fold((0, 0), |(r, l), (r2, l2)| (r + r2, l + l2))
        };
        let written = |peers: &[MediaPeer]| {
            peers
                .iter()
                .map(|p| p.sent.load(std::sync::atomic::Ordering::Relaxed))
                .sum::<u64>()
        };
        let (r0, l0, w0) = (snap(&peers).0, snap(&peers).1, written(&peers));
        let (s0, g0, t0) = (
            cpu_seconds(server_pid).unwrap_or(0.0),
            cpu_seconds(me).unwrap_or(0.0),
            Instant::now(),
        );
        tokio::time::sleep(window).await;
        let (r1, l1, w1) = (snap(&peers).0, snap(&peers).1, written(&peers));
        let (s1, g1, secs) = (
            cpu_seconds(server_pid).unwrap_or(0.0),
            cpu_seconds(me).unwrap_or(0.0),
            t0.elapsed().as_secs_f64(),
        );
        let (recv, lost) = ((r1 - r0) as f64, l1.saturating_sub(l0) as f64);
        let receivers = peers.len();
        // What the publishers really wrote (packets per write: 1 audio, 3
        // video), each to every other participant; nominal rates are in the
        // table's stream column.
        let per_write = if audio { 1.0 } else { 3.0 };
        let expected_pps = (w1 - w0) as f64 / secs * per_write * (receivers - 1) as f64;
        let step = Step {
            subscribers: target,
            receivers,
            expected_pps,
            received_pps: recv / secs,
            loss: if recv + lost > 0.0 {
                lost / (recv + lost)
            } else {
                1.0
            },
            server_cpu: (s1 - s0) / secs,
            generator_cpu: (g1 - g0) / secs,
            cpu_per_mpkt: if recv > 0.0 {
                (s1 - s0) / (recv / 1e6)
            } else {
                f64::INFINITY
            },
            flowing,
        };
        eprintln!(
            "sfu {label}: {} subscribers ({} receivers, added in {:.1} s): {:.0}/{:.0} pkt/s, loss {:.2} %, server {:.0} %, generator {:.0} %",
            target,
            step.receivers,
            t_add.elapsed().as_secs_f64(),
            step.received_pps,
            step.expected_pps,
            step.loss * 100.0,
            step.server_cpu * 100.0,
            step.generator_cpu * 100.0
        );
        let stop = step.loss > 0.01 || !flowing;
        out.push(step);
        if stop {
            break;
        }
    }
    for p in peers {
        p.close().await;
    }
    Ok(out)
}
