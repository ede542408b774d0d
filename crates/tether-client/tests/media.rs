//! Media through the real SFU on loopback: real sockets, real DTLS-SRTP, no
//! sleeping "long enough" — every wait is for an event, with a deadline.

#[path = "common/sfu_peer.rs"]
mod sfu_peer;

use sfu_peer::*;
use std::time::{Duration, Instant};

use tether_client::media::{MediaEvent, MediaKind, TransportRole, TransportState};
use tether_proto::{ClientMessage, ServerMessage};
use tether_server::{Server, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_media_reaches_subscriber_in_order() {
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;

    let t0 = Instant::now();
    let publication = a.publish(true, true).await;
    let sender = start_sending(publication);
    b.expect("audio track", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    let first_rtp = b
        .expect("first rtp", |e| matches!(e, MediaEvent::Rtp { uid: 1, .. }))
        .await;
    let MediaEvent::Rtp { at, .. } = first_rtp else {
        unreachable!()
    };
    let offer_to_rtp = at.duration_since(t0);
    a.expect("publisher connected", |e| {
        matches!(
            e,
            MediaEvent::TransportState {
                role: TransportRole::Publisher,
                state: TransportState::Connected
            }
        )
    })
    .await;

    let audio = frames(&mut b, 1, MediaKind::Audio, 100).await;
    assert_contiguous("audio", &audio);
    let video = frames(&mut b, 1, MediaKind::Video, 50).await;
    assert_contiguous("video", &video);
    let (sent_a, sent_v) = sender.finish().await;
    println!(
        "publisher-offer -> first RTP at subscriber: {:.1} ms; audio frames {}..{} of {sent_a} sent, video {}..{} of {sent_v}",
        offer_to_rtp.as_secs_f64() * 1e3,
        audio[0],
        audio[audio.len() - 1],
        video[0],
        video[video.len() - 1],
    );
    assert!(
        offer_to_rtp < Duration::from_secs(2),
        "media took {offer_to_rtp:?}"
    );
    // Stats arrive once a second.
    let stats = b
        .expect("stats", |e| matches!(e, MediaEvent::Stats { uid: 1, .. }))
        .await;
    println!("subscriber stats: {stats:?}");
    a.media.close().await;
    b.media.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_gets_tracks_and_a_keyframe_within_a_second() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sender = start_sending(a.publish(true, true).await);
    b.expect("video frames at B", |e| {
        matches!(
            e,
            MediaEvent::Frame {
                uid: 1,
                kind: MediaKind::Video,
                ..
            }
        )
    })
    .await;
    // Drain A's keyframe requests caused by B before C arrives.
    while a.events.try_recv().is_ok() {}

    let t_join = Instant::now();
    let mut c = join(&url, 3).await;
    c.expect("audio track at C", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    a.expect_within(
        "keyframe request at A",
        Duration::from_secs(1),
        is_keyframe_request,
    )
    .await;
    let t_req = t_join.elapsed();
    sender.keyframe.notify_one();
    let key = c
        .expect_within("keyframe at C", Duration::from_secs(1), |e| {
            matches!(
                e,
                MediaEvent::Frame {
                    uid: 1,
                    kind: MediaKind::Video,
                    is_keyframe: true,
                    ..
                }
            )
        })
        .await;
    let t_key = t_join.elapsed();
    assert!(matches!(key, MediaEvent::Frame { .. }));
    println!(
        "late joiner: keyframe request at publisher {:.1} ms after join, keyframe decoded-ready at joiner {:.1} ms",
        t_req.as_secs_f64() * 1e3,
        t_key.as_secs_f64() * 1e3
    );
    assert!(t_key < Duration::from_secs(1));
    // And C's audio flows in order from its first frame.
    let audio = frames(&mut c, 1, MediaKind::Audio, 30).await;
    assert_contiguous("audio at C", &audio);
    sender.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_ice_restart_keeps_media_flowing_both_ways() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, true).await);
    let sb = start_sending(b.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Audio, 10).await;
    frames(&mut a, 2, MediaKind::Audio, 10).await;

    // A's signalling drops and comes back: same session, ICE restart on both
    // of A's connections, no renegotiation of tracks.
    a.reconnect().await;
    let t = Instant::now();
    a.media.ice_restart().expect("restart");
    // The server re-offers A's subscriber connection with new ICE credentials.
    let at_b = frames(&mut b, 1, MediaKind::Audio, 50).await;
    let at_a = frames(&mut a, 2, MediaKind::Audio, 50).await;
    // Audio has no retransmission: allow a packet lost while the selected
    // candidate pair switches, but nothing out of order and no stall.
    let missing_b = assert_ordered("A's audio at B across the restart", &at_b);
    let missing_a = assert_ordered("B's audio at A across the restart", &at_a);
    println!(
        "resume + ICE restart: 50 frames each way within {:.1} ms; audio frames lost: {missing_b} (A->B), {missing_a} (B->A)",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(
        missing_a + missing_b <= 4,
        "too many lost: {at_b:?} {at_a:?}"
    );
    // No track was renegotiated away.
    assert!(
        !a.seen
            .iter()
            .chain(b.seen.iter())
            .any(|e| matches!(e, MediaEvent::TrackEnded { .. })),
        "no track ended: A {:?} B {:?}",
        a.seen,
        b.seen
    );
    sa.finish().await;
    sb.finish().await;
}

/// A resume's ICE-restart offer is lost with the signalling connection it
/// went out on (the link died before it, or its answer, got through): the
/// next resume sends it again, and A's media reaches B again. Before, the
/// publisher stayed in have-local-offer waiting for an answer that never came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_offer_lost_with_the_connection_is_sent_again_after_resume() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Audio, 10).await;

    // First resume: the restart offer goes out, then the link dies with it.
    a.reconnect().await;
    a.lose_signalling().await;
    a.media.ice_restart().expect("restart");
    a.lose_until("the ICE-restart offer", |m| {
        matches!(m, ClientMessage::PublisherOffer { .. })
    })
    .await;
    // Second resume: the offer must go out again.
    a.reconnect().await;
    let t = Instant::now();
    a.media.ice_restart().expect("restart");
    while b.events.try_recv().is_ok() {}
    let at_b = frames(&mut b, 1, MediaKind::Audio, 25).await;
    println!(
        "offer lost, resumed again: A's audio at B within {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(!at_b.is_empty());
    sa.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublish_and_leave_remove_tracks_from_subscribers() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let c = join(&url, 3).await;
    let sa = start_sending(a.publish(true, true).await);
    let sc = start_sending(c.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Video, 5).await;
    frames(&mut b, 3, MediaKind::Audio, 5).await;

    // A unpublishes: B loses both of A's tracks, keeps C's.
    a.send(ClientMessage::Unpublish);
    a.media.unpublish().expect("unpublish");
    sa.finish().await;
    b.expect("A's video ends at B", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 1,
                kind: MediaKind::Video
            }
        )
    })
    .await;
    b.expect("A's audio ends at B", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    let c_audio = frames(&mut b, 3, MediaKind::Audio, 20).await;
    assert_contiguous("C's audio at B after A unpublished", &c_audio);

    // A publishes again: a new publisher connection; B gets A's tracks again.
    b.backlog.clear();
    let sa = start_sending(a.publish(true, false).await);
    b.expect("A's audio again at B", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    frames(&mut b, 1, MediaKind::Audio, 10).await;

    // C leaves: its track ends at A and B.
    c.send(ClientMessage::Leave);
    sc.finish().await;
    b.expect("C's audio ends at B", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 3,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    a.expect("C's audio ends at A", |e| {
        matches!(
            e,
            MediaEvent::TrackEnded {
                uid: 3,
                kind: MediaKind::Audio
            }
        )
    })
    .await;
    sa.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_is_broadcast_and_told_to_late_joiners() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    a.media.set_muted(true, false).expect("mute");
    b.expect_signal("mute-changed at B", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: true,
                video: false
            }
        )
    })
    .await;
    // A late joiner hears it right after its welcome.
    let mut c = join(&url, 3).await;
    c.expect_signal("mute-changed at C", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: true,
                video: false
            }
        )
    })
    .await;
    a.media.set_muted(false, false).expect("unmute");
    c.expect_signal("unmute at C", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: false,
                video: false
            }
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_audio_stops_rtp_and_unmute_resumes_it() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, false).await);
    frames(&mut b, 1, MediaKind::Audio, 5).await;
    a.media.set_muted(true, false).expect("mute");
    b.expect_signal("mute-changed", |m| {
        matches!(
            m,
            ServerMessage::MuteChanged {
                uid: 1,
                audio: true,
                ..
            }
        )
    })
    .await;
    // Drain what was in flight, then expect silence for 300 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while b.events.try_recv().is_ok() {}
    let quiet = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(MediaEvent::Frame { uid: 1, .. }) = b.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "no audio frames while muted");
    a.media.set_muted(false, false).expect("unmute");
    frames(&mut b, 1, MediaKind::Audio, 5).await;
    sa.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_range_and_advertised_ip_carry_media_and_bad_sdp_is_refused() {
    init_logs();
    let mut config = ServerConfig::open_loopback();
    config.media.udp_port_min = 47_400;
    config.media.udp_port_max = 47_419;
    config.media.advertise_ip = Some("127.0.0.1".parse().expect("ip"));
    let server = Server::bind(config).await.expect("bind");
    let srv = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let url = format!("ws://{}", srv.local_addr());

    // Garbage SDP gets a clear, non-fatal error; the session goes on.
    let mut a = join(&url, 1).await;
    a.send(ClientMessage::PublisherOffer {
        sdp: "not an sdp".into(),
    });
    let err = a
        .expect_signal("error", |m| matches!(m, ServerMessage::Error { .. }))
        .await;
    assert!(
        matches!(err, ServerMessage::Error { fatal: false, .. }),
        "{err:?}"
    );
    a.send(ClientMessage::SubscriberAnswer {
        sdp: "unasked".into(),
    });

    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, true).await);
    frames(&mut b, 1, MediaKind::Audio, 20).await;

    // Steady state: CPU of the whole process (server + both clients) while
    // one audio (100 pkt/s here) and one video stream are forwarded.
    let (cpu0, t0) = (process_cpu(), Instant::now());
    let audio = frames(&mut b, 1, MediaKind::Audio, 200).await;
    let (cpu1, wall) = (process_cpu(), t0.elapsed());
    assert_ordered("audio through the port range", &audio);
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        println!(
            "whole process (server + 2 clients, debug build) CPU while forwarding 1 audio + 1 video stream: {:.1}% of one core over {:.1} s",
            (c1 - c0).as_secs_f64() / wall.as_secs_f64() * 100.0,
            wall.as_secs_f64()
        );
    }
    sa.finish().await;
}

/// A publisher connection that never gets connected (here: its offer is
/// never answered) is reported `Failed` after `connect_timeout`, so the
/// session treats media as interrupted (ICE_FAILED) instead of looking fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_stuck_before_connected_is_reported_failed() {
    use tether_client::media::{MediaConfig, MediaSession};
    init_logs();
    let (tx, mut events) = tokio::sync::mpsc::channel(1024);
    let config = MediaConfig {
        connect_timeout: Duration::from_millis(300),
        ..MediaConfig::default()
    };
    // Signalling goes nowhere: no answer ever comes.
    let media = MediaSession::new(config, |_msg| {}, tx);
    let t = Instant::now();
    let _publication = media.publish(true, false).await.expect("publish");
    let failed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(e) = events.recv().await {
            if let MediaEvent::TransportState {
                role: TransportRole::Publisher,
                state: TransportState::Failed,
            } = e
            {
                return t.elapsed();
            }
        }
        panic!("media events ended");
    })
    .await
    .expect("reported failed in time");
    assert!(failed >= Duration::from_millis(300), "{failed:?}");
    media.close().await;
}
