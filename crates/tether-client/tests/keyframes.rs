//! Keyframe requests from a subscriber reach the publisher, also after the
//! publisher's tracks came back on the subscriber's reused transceivers
//! (through the real SFU on loopback; every wait is for an event).

#[path = "common/sfu_peer.rs"]
mod sfu_peer;

use sfu_peer::*;
use std::time::Duration;

use tether_client::media::{MediaEvent, MediaKind};
use tether_proto::ClientMessage;

fn video_from_1(e: &MediaEvent) -> bool {
    matches!(
        e,
        MediaEvent::Frame {
            uid: 1,
            kind: MediaKind::Video,
            ..
        }
    )
}

/// Ask for a keyframe at B three times; each must reach A. (The SFU merges
/// requests closer than 500 ms into one sent at the end of the gap, so one
/// request may be answered late but never dropped; three in a row rule out
/// a leftover of the SFU's own requests passing for B's.)
async fn requests_reach_the_publisher(a: &mut Peer, b: &Peer, when: &str) {
    for round in 1..=3 {
        while a.events.try_recv().is_ok() {}
        a.backlog.clear();
        b.media.request_keyframe(1).expect("media task alive");
        a.expect_within(
            &format!("B's keyframe request #{round} at A ({when})"),
            Duration::from_secs(2),
            is_keyframe_request,
        )
        .await;
    }
}

/// Before the fix B asked with the SSRC its reader had when the track came
/// back, read before the SFU's new offer was applied: the old sink's SSRC.
/// The SFU's connection dropped such a PLI (no track has that SSRC), so
/// after a publisher's rejoin one lost frame at a subscriber froze its video
/// for good (the media soak's failure at step 4, RELIABILITY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_requests_reach_a_publisher_whose_tracks_came_back() {
    init_logs();
    let srv = server().await;
    let url = format!("ws://{}", srv.local_addr());
    let mut a = join(&url, 1).await;
    let mut b = join(&url, 2).await;
    let sa = start_sending(a.publish(true, true).await);
    b.expect("A's video at B", video_from_1).await;
    requests_reach_the_publisher(&mut a, &b, "first publication").await;

    // A's tracks go and come back: new SFU sinks (new SSRCs) on B's
    // transceivers, which B reuses.
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
    b.backlog.clear();
    while b.events.try_recv().is_ok() {}
    let sa = start_sending(a.publish(true, true).await);
    b.expect("A's video track back at B", |e| {
        matches!(
            e,
            MediaEvent::Track {
                uid: 1,
                kind: MediaKind::Video
            }
        )
    })
    .await;
    b.expect("A's video at B again", video_from_1).await;
    requests_reach_the_publisher(&mut a, &b, "tracks back").await;
    sa.finish().await;
}
