//! The local preview (self-view): the published frames reach
//! `MediaOptions::preview_sink` as RGBA, rate-capped, and none while video
//! is muted.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fast_timing, server};
use tether_client::{
    Client, ClientConfig, ClientEvent, EventRecord, Media, MediaOptions, PublishSource, RgbaFrame,
    SessionConfig, VideoSink, PREVIEW_UID,
};
use tether_server::AuthMode;
use tokio::sync::mpsc::UnboundedReceiver;

type Frames = Arc<Mutex<Vec<(Instant, RgbaFrame)>>>;

fn count(frames: &Frames) -> usize {
    frames.lock().map(|v| v.len()).unwrap_or_default()
}

async fn wait_for(frames: &Frames, n: usize, within: Duration) -> Vec<(Instant, RgbaFrame)> {
    let deadline = Instant::now() + within;
    loop {
        let got = frames.lock().map(|v| v.clone()).unwrap_or_default();
        if got.len() >= n || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn digest(f: &RgbaFrame) -> u64 {
    let mut h = DefaultHasher::new();
    f.rgba.hash(&mut h);
    h.finish()
}

/// A synthetic publisher (uid 1) whose preview frames are collected.
fn previewing_client(url: &str, channel: &str) -> (Client, Frames, UnboundedReceiver<ClientEvent>) {
    let frames: Frames = Arc::default();
    let seen = frames.clone();
    let preview = VideoSink::new(15, move |f| {
        if let Ok(mut v) = seen.lock() {
            v.push((Instant::now(), f));
        }
    });
    let session = SessionConfig::new(channel, 1, "me")
        .expect("valid")
        .with_timing(fast_timing());
    let mut config = ClientConfig::new(url, session).expect("url");
    config.network_hints = false;
    config.media = Some(MediaOptions {
        source: PublishSource::Synthetic,
        subscribe: false,
        playback_device: None,
        video_sink: None,
        preview_sink: Some(preview),
    });
    let (client, events) = Client::spawn(config);
    (client, frames, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_moving_frames_and_none_while_video_is_muted() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let (client, frames, _events) = previewing_client(&url, "preview");
    client
        .publish(Media {
            audio: false,
            video: true,
        })
        .expect("publish");
    client.join().await.expect("join");

    // Frames come once the publisher connection is up.
    let first = wait_for(&frames, 1, Duration::from_secs(10)).await;
    assert!(!first.is_empty(), "no preview frame within 10 s");
    // Collect ~2 s worth at 15 fps, with a deadline (a loaded machine may be slower).
    let got = wait_for(&frames, first.len() + 30, Duration::from_secs(5)).await;
    assert!(got.len() >= 20, "preview frames in 2 s: {}", got.len());
    for (_, f) in &got {
        assert_eq!((f.uid, f.width, f.height), (PREVIEW_UID, 640, 360));
        assert_eq!(f.rgba.len(), 640 * 360 * 4);
    }
    for pair in got.windows(2) {
        assert!(
            pair[1].1.frame_no > pair[0].1.frame_no,
            "frame numbers grow"
        );
    }
    // The picture moves: consecutive delivered frames differ in content.
    let distinct = got
        .windows(2)
        .filter(|p| digest(&p[0].1) != digest(&p[1].1))
        .count();
    assert!(
        distinct + 1 >= got.len() * 9 / 10,
        "only {distinct} of {} consecutive pairs differ",
        got.len() - 1
    );
    // The cap: the source runs at 30 fps, at most 15 per second reach the sink.
    let span = got[got.len() - 1].0.duration_since(got[0].0);
    let fps = (got.len() - 1) as f64 / span.as_secs_f64();
    // (a frame may come 5 ms before its deadline)
    let allowed = ((span.as_secs_f64() + 0.005) * 15.0).ceil() as usize + 1;
    assert!(got.len() <= allowed, "{} frames in {span:?}", got.len());
    // ~15 on an idle machine (the deadline logic itself is unit-tested in
    // pipeline/send.rs); a loaded machine may lose source frames upstream.
    assert!(fps >= 10.0, "preview at {fps:.1} fps, want ~15");
    // What a preview frame costs the encode thread: one I420 → RGBA
    // conversion (nothing at all without a preview sink).
    let mut pattern = tether_media::SyntheticVideo::default();
    let raw = pattern.next_frame(0);
    let t = Instant::now();
    for _ in 0..10 {
        assert!(tether_media::i420_to_rgba(&raw).is_some());
    }
    let convert_ms = t.elapsed().as_secs_f64() * 100.0;
    println!(
        "MEASURE preview_frames={} over_ms={} preview_fps={fps:.1} preview_convert_ms={convert_ms:.2}",
        got.len(),
        span.as_millis()
    );

    // Camera off: no preview frames (one may be in flight when muting).
    client
        .set_muted(Media {
            audio: false,
            video: true,
        })
        .expect("mute");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_mute = count(&frames);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&frames), at_mute, "preview frames while video muted");

    // Camera on again: the preview resumes.
    client
        .set_muted(Media {
            audio: false,
            video: false,
        })
        .expect("unmute");
    let resumed = wait_for(&frames, at_mute + 5, Duration::from_secs(5)).await;
    assert!(
        resumed.len() >= at_mute + 5,
        "preview resumed after unmute: {} new frames",
        resumed.len() - at_mute
    );
    client.leave().expect("leave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_before_join_sends_no_video_and_tells_the_others() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let (client, frames, _events) = previewing_client(&url, "itest");
    // Camera off before joining (the app's "mute on join"): kept by the
    // client and applied when the call's media starts.
    client
        .set_muted(Media {
            audio: false,
            video: true,
        })
        .expect("mute");
    client
        .publish(Media {
            audio: false,
            video: true,
        })
        .expect("publish");
    client.join().await.expect("join");
    // Another participant is told at once that uid 1 has its camera off.
    let mut other = common::client(&url, 2, None);
    other.client.join().await.expect("join");
    other
        .expect(
            "mute-changed of uid 1 (video)",
            Duration::from_secs(10),
            |e| {
                matches!(
                    e,
                    EventRecord::MuteChanged {
                        uid: 1,
                        audio: false,
                        video: true
                    }
                )
            },
        )
        .await;
    // The publisher is up by now (its mute reached the server over it);
    // no preview frame has been made since the join.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&frames),
        0,
        "preview frames while muted since before join"
    );
    client
        .set_muted(Media {
            audio: false,
            video: false,
        })
        .expect("unmute");
    let got = wait_for(&frames, 3, Duration::from_secs(5)).await;
    assert!(got.len() >= 3, "preview after unmute: {}", got.len());
    client.leave().expect("leave");
}
