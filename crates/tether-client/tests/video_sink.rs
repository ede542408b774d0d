//! Decoded remote video reaches a `VideoSink` as RGBA, rate-capped.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fast_timing, is_state, server};
use tether_client::{
    Client, ClientConfig, EventRecord, Media, MediaOptions, PublishSource, RgbaFrame,
    SessionConfig, VideoSink,
};
use tether_server::AuthMode;

fn config(url: &str, uid: u32, sink: Option<VideoSink>) -> ClientConfig {
    let session = SessionConfig::new("sink", uid, &format!("u{uid}"))
        .expect("valid")
        .with_timing(fast_timing());
    let mut config = ClientConfig::new(url, session).expect("url");
    config.network_hints = false;
    config.media = Some(MediaOptions {
        source: PublishSource::Synthetic,
        subscribe: true,
        playback_device: None,
        video_sink: sink,
        preview_sink: None,
    });
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_frames_reach_the_sink_as_rgba() {
    let srv = server(Duration::from_secs(10), AuthMode::Open).await;
    let url = format!("ws://{}", srv.local_addr());
    let frames: Arc<Mutex<Vec<(Instant, RgbaFrame)>>> = Arc::default();
    let seen = frames.clone();
    let sink = VideoSink::new(10, move |f| {
        if let Ok(mut v) = seen.lock() {
            v.push((Instant::now(), f));
        }
    });
    let (publisher, _pub_events) = Client::spawn(config(&url, 1, None));
    publisher
        .publish(Media {
            audio: false,
            video: true,
        })
        .expect("publish");
    publisher.join().await.expect("join");
    let (viewer, mut events) = Client::spawn(config(&url, 2, Some(sink)));
    viewer.join().await.expect("join");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("stream-added within 10 s")
            .expect("client running");
        if matches!(event.record.event, EventRecord::StreamAdded { uid: 1, .. }) {
            break;
        }
        assert!(!is_state(&event.record.event, "DISCONNECTED"));
    }
    // Wait (with a deadline) for 20 frames at the 10 fps cap.
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        let got = frames.lock().map(|v| v.clone()).unwrap_or_default();
        if got.len() >= 20 || Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(got.len() >= 10, "frames reached the sink: {}", got.len());
    for (_, f) in &got {
        assert_eq!((f.uid, f.width, f.height), (1, 640, 360));
        assert_eq!(f.rgba.len(), 640 * 360 * 4);
    }
    // The cap: frames decode at 30 fps, at most 10 per second reach the sink
    // (conversion time jitters the individual gaps, so count over the span).
    let span = got[got.len() - 1].0.duration_since(got[0].0);
    let allowed = (span.as_secs_f64() * 10.0).ceil() as usize + 1;
    assert!(got.len() <= allowed, "{} frames in {span:?}", got.len());
    for pair in got.windows(2) {
        assert!(pair[1].1.frame_no > pair[0].1.frame_no);
    }
    println!(
        "MEASURE video_sink_frames={} over_ms={}",
        got.len(),
        span.as_millis()
    );
}
