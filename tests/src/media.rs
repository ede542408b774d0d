//! Reading the media events of `tether join`: `media-stats` (one line per
//! remote stream every second), `volume-indicator` (every 250 ms), and
//! waiting for decoding to make progress.
//!
//! The synthetic video source stamps every frame with its frame number
//! (0, 1, 2, … at 30 fps) and capture time, and the receiver reports the
//! highest number it decoded (`lastFrameNo`) and how many numbers it skipped
//! (`framesMissing`). So, for one track:
//! - frames the sender produced up to the newest decoded one: `lastFrameNo + 1`;
//! - between two reports, when every decoded frame carried a higher number
//!   than all before (in order, no duplicates, no unstamped frames),
//!   `Δ framesDecoded == Δ lastFrameNo − Δ framesMissing`; a frame decoded
//!   out of order adds to `framesDecoded` only.
//!
//! `media-stats` comes once a second, so a report shows progress up to one
//! period after it happened. [`decode_start_estimate_ms`] places the start of
//! decoding inside that period from the number of frames decoded in it.

use std::time::Duration;

use crate::client::Client;
use crate::events::Event;

/// The synthetic source's frame rate.
pub const SYNTHETIC_FPS: f64 = 30.0;

/// The `media-stats` period of the client.
pub const STATS_PERIOD_MS: i64 = 1000;

/// One `media-stats` line of a video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStats {
    /// Position in the client's event list.
    pub index: usize,
    /// `ts` (Unix ms).
    pub ts: i64,
    /// The publisher.
    pub uid: u64,
    /// `framesDecoded`.
    pub frames_decoded: u64,
    /// `fps` (frames decoded in the last second).
    pub fps: f64,
    /// `packetsLost`.
    pub packets_lost: u64,
    /// `e2eLatencyMs` (mean over the last second's frames).
    pub e2e_latency_ms: Option<f64>,
    /// `lastFrameNo`.
    pub last_frame_no: Option<u64>,
    /// `framesMissing`.
    pub frames_missing: Option<u64>,
}

impl VideoStats {
    /// The report if `e` is a video `media-stats` line.
    pub fn from_event(e: &Event) -> Option<VideoStats> {
        if e.name != "media-stats" || e.str("kind") != Some("video") {
            return None;
        }
        Some(VideoStats {
            index: e.index,
            ts: e.ts,
            uid: e.uid()?,
            frames_decoded: e.u64("framesDecoded")?,
            fps: e.f64("fps").unwrap_or(0.0),
            packets_lost: e.u64("packetsLost").unwrap_or(0),
            e2e_latency_ms: e.f64("e2eLatencyMs"),
            last_frame_no: e.u64("lastFrameNo"),
            frames_missing: e.u64("framesMissing"),
        })
    }

    /// Frames the sender produced up to the newest decoded one
    /// (`lastFrameNo + 1`; 0 before any stamped frame).
    pub fn frames_sent(&self) -> u64 {
        self.last_frame_no.map_or(0, |n| n + 1)
    }
}

/// One `media-stats` line of an audio stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStats {
    /// Position in the client's event list.
    pub index: usize,
    /// `ts` (Unix ms).
    pub ts: i64,
    /// The publisher.
    pub uid: u64,
    /// `framesDecoded` (20 ms frames played, concealment included).
    pub frames_decoded: u64,
    /// `packetsLost`.
    pub packets_lost: u64,
    /// `audioLevel` (peak 0–100 over the last second).
    pub audio_level: Option<u64>,
}

impl AudioStats {
    /// The report if `e` is an audio `media-stats` line.
    pub fn from_event(e: &Event) -> Option<AudioStats> {
        if e.name != "media-stats" || e.str("kind") != Some("audio") {
            return None;
        }
        Some(AudioStats {
            index: e.index,
            ts: e.ts,
            uid: e.uid()?,
            frames_decoded: e.u64("framesDecoded")?,
            packets_lost: e.u64("packetsLost").unwrap_or(0),
            audio_level: e.u64("audioLevel"),
        })
    }
}

/// The video reports about `uid`'s stream, in order.
pub fn video_stats(events: &[Event], uid: u32) -> Vec<VideoStats> {
    events
        .iter()
        .filter_map(VideoStats::from_event)
        .filter(|s| s.uid == u64::from(uid))
        .collect()
}

/// The audio reports about `uid`'s stream, in order.
pub fn audio_stats(events: &[Event], uid: u32) -> Vec<AudioStats> {
    events
        .iter()
        .filter_map(AudioStats::from_event)
        .filter(|s| s.uid == u64::from(uid))
        .collect()
}

/// `uid`'s level in each `volume-indicator` that lists it:
/// `(event index, ts, level)`.
pub fn volume_levels(events: &[Event], uid: u32) -> Vec<(usize, i64, u64)> {
    events
        .iter()
        .filter(|e| e.name == "volume-indicator")
        .filter_map(|e| {
            let levels = e.json.get("levels")?.as_array()?;
            let level = levels
                .iter()
                .find(|l| l.get("uid").and_then(|u| u.as_u64()) == Some(u64::from(uid)))?
                .get("level")?
                .as_u64()?;
            Some((e.index, e.ts, level))
        })
        .collect()
}

/// How close before an audio report a `volume-indicator` must be to count as
/// the same pass of the client's report loop.
pub const SAME_PASS_MS: i64 = 30;

/// Splits the audio reports in `reports` with `audioLevel` 0 (or none) into
/// those the client's shared level meter explains, and the rest (returned).
///
/// The client's `media-stats` `audioLevel` and its `volume-indicator` read
/// *and reset* the same peak meter (`LevelMeter::take` in both reports of
/// `tether-client`'s receive pipeline), so `audioLevel` is the peak since the
/// last `volume-indicator` (0-250 ms), not over the last second, and a
/// `volume-indicator` right after a `media-stats` line covers only the time
/// since that line. When the two fall within one 20 ms playout tick, the later
/// one says 0 although the tone is playing. Such a zero comes within
/// [`SAME_PASS_MS`] after the other report with a non-zero level for the same
/// uid: it is counted as explained. Any other zero is silence.
pub fn silent_audio_reports(
    events: &[Event],
    uid: u32,
    reports: &[AudioStats],
) -> (Vec<AudioStats>, usize) {
    let levels = volume_levels(events, uid);
    let mut unexplained = Vec::new();
    let mut explained = 0;
    for a in reports.iter().filter(|a| a.audio_level.unwrap_or(0) == 0) {
        let before = levels.iter().rfind(|(i, _, _)| *i < a.index);
        match before {
            Some((_, ts, level)) if *level > 0 && a.ts - ts <= SAME_PASS_MS => explained += 1,
            _ => unexplained.push(a.clone()),
        }
    }
    (unexplained, explained)
}

/// The zero entries among `levels` (from [`volume_levels`] for `uid`) that
/// the shared level meter does not explain (see [`silent_audio_reports`]: a
/// zero within [`SAME_PASS_MS`] after an audio `media-stats` line of the same
/// uid with a non-zero `audioLevel` is explained), and the number explained.
pub fn silent_volume_levels(
    events: &[Event],
    uid: u32,
    levels: &[(usize, i64, u64)],
) -> (Vec<(usize, i64, u64)>, usize) {
    let audio = audio_stats(events, uid);
    let mut unexplained = Vec::new();
    let mut explained = 0;
    for l in levels.iter().filter(|l| l.2 == 0) {
        let before = audio.iter().rfind(|a| a.index < l.0);
        match before {
            Some(a) if a.audio_level.unwrap_or(0) > 0 && l.1 - a.ts <= SAME_PASS_MS => {
                explained += 1;
            }
            _ => unexplained.push(*l),
        }
    }
    (unexplained, explained)
}

/// The `p`-th percentile (0–100, nearest rank) of `values`.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// Checks consecutive video reports of one track: stamped (synthetic)
/// frames, and counters (`framesDecoded`, `lastFrameNo`, `framesMissing`)
/// that never go back: the same track, and the sender's frame counter never
/// restarted. Unlike [`check_video_in_order`] it accepts frames decoded with
/// an unreadable stamp (see [`broken_frames`]).
pub fn check_video_counters(stats: &[VideoStats]) -> Result<(), String> {
    for s in stats {
        if s.last_frame_no.is_none() || s.frames_missing.is_none() {
            return Err(format!(
                "report #{} has no lastFrameNo/framesMissing (unstamped video?): {s:?}",
                s.index
            ));
        }
    }
    for w in stats.windows(2) {
        let (p, s) = (&w[0], &w[1]);
        if s.frames_decoded < p.frames_decoded
            || s.last_frame_no < p.last_frame_no
            || s.frames_missing < p.frames_missing
        {
            return Err(format!(
                "counters went back between report #{} and #{}: {p:?} -> {s:?}",
                p.index, s.index
            ));
        }
    }
    Ok(())
}

/// Checks consecutive video reports of one track: stamped (synthetic)
/// frames, counters that never go back, and every frame decoded in order
/// (see the module documentation).
pub fn check_video_in_order(stats: &[VideoStats]) -> Result<(), String> {
    let mut prev: Option<&VideoStats> = None;
    for s in stats {
        let (Some(last), Some(missing)) = (s.last_frame_no, s.frames_missing) else {
            return Err(format!(
                "report #{} has no lastFrameNo/framesMissing (unstamped video?): {s:?}",
                s.index
            ));
        };
        match prev {
            None => {
                // The first decoded frame was number last + 1 - missing - decoded.
                if s.frames_decoded + missing > last + 1 {
                    return Err(format!(
                        "report #{}: {} frames decoded and {missing} missing, but the newest \
                         frame number is only {last}: frames were decoded out of order or twice",
                        s.index, s.frames_decoded
                    ));
                }
            }
            Some(p) => {
                let (plast, pmissing) =
                    (p.last_frame_no.unwrap_or(0), p.frames_missing.unwrap_or(0));
                if s.frames_decoded < p.frames_decoded || last < plast || missing < pmissing {
                    return Err(format!(
                        "counters went back between report #{} and #{}: {p:?} -> {s:?}",
                        p.index, s.index
                    ));
                }
                let decoded = s.frames_decoded - p.frames_decoded;
                let in_order = (last - plast) - (missing - pmissing);
                if decoded != in_order {
                    return Err(format!(
                        "between report #{} and #{}: {decoded} frames decoded but only {in_order} \
                         of them in order (frame numbers {plast} -> {last}, {} skipped): {p:?} -> {s:?}",
                        p.index,
                        s.index,
                        missing - pmissing
                    ));
                }
            }
        }
        prev = Some(s);
    }
    Ok(())
}

/// Frames decoded between reports `a` and `b` that carried a readable stamp
/// with a new, higher number: correct pictures, in order.
pub fn good_frames_between(a: &VideoStats, b: &VideoStats) -> u64 {
    let dl = b
        .last_frame_no
        .unwrap_or(0)
        .saturating_sub(a.last_frame_no.unwrap_or(0));
    let dm = b
        .frames_missing
        .unwrap_or(0)
        .saturating_sub(a.frames_missing.unwrap_or(0));
    dl.saturating_sub(dm)
}

/// Frames decoded between consecutive reports that did not carry a new,
/// higher stamp: decoded out of order, twice, or with a stamp that does not
/// read (a picture decoded against a lost reference frame: wrong pixels).
/// Counters that go back (a new track) start over.
pub fn broken_frames(stats: &[VideoStats]) -> u64 {
    stats
        .windows(2)
        .filter(|w| w[1].frames_decoded >= w[0].frames_decoded)
        .map(|w| {
            (w[1].frames_decoded - w[0].frames_decoded)
                .saturating_sub(good_frames_between(&w[0], &w[1]))
        })
        .sum()
}

/// When decoding started (Unix ms, estimated), given the report `s` that
/// first shows it and `frames`, the number of frames decoded since the start
/// (all of them, or only the good ones, see [`good_frames_between`]). Those
/// of them inside the report's last second (at most `fps`) came at about
/// [`SYNTHETIC_FPS`], so the start was about `frames / 30` s before the
/// report. A sender running slower than 30 fps makes the estimate later, never
/// earlier, than the truth.
pub fn decode_start_estimate_ms(s: &VideoStats, frames: u64) -> i64 {
    let in_window = (frames as f64).min(s.fps.max(1.0));
    s.ts - (in_window * 1000.0 / SYNTHETIC_FPS).round() as i64
}

/// Waits for a video report about `uid` at event index `from` or later that
/// satisfies `pred`; panics with the events on timeout.
#[track_caller]
pub fn wait_video(
    client: &Client,
    uid: u32,
    from: usize,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&VideoStats) -> bool,
) -> VideoStats {
    let ev = client.wait_for_from(from, what, timeout, |e| {
        VideoStats::from_event(e).is_some_and(|s| s.uid == u64::from(uid) && pred(&s))
    });
    VideoStats::from_event(&ev).expect("a video report")
}

/// Waits until `uid`'s video is decoding: a report at index `from` or later
/// with more frames decoded than `baseline` (0 for none). Returns it.
#[track_caller]
pub fn wait_video_progress(
    client: &Client,
    uid: u32,
    from: usize,
    baseline: u64,
    timeout: Duration,
) -> VideoStats {
    wait_video(
        client,
        uid,
        from,
        &format!("media-stats of uid {uid}'s video with framesDecoded > {baseline}"),
        timeout,
        |s| s.frames_decoded > baseline,
    )
}

/// The newest video report about `uid` before event index `before`.
pub fn last_video_before(client: &Client, uid: u32, before: usize) -> Option<VideoStats> {
    video_stats(&client.events(), uid)
        .into_iter()
        .rfind(|s| s.index < before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;

    fn stats(lines: &[&str]) -> Vec<VideoStats> {
        let log = EventLog::new("t");
        for l in lines {
            log.push_line(l);
        }
        video_stats(&log.snapshot(), 1)
    }

    #[test]
    fn in_order_check_and_estimates() {
        let ok = stats(&[
            r#"{"ts":1000,"event":"media-stats","uid":1,"kind":"video","framesDecoded":12,"fps":12.0,"packetsLost":0,"lastFrameNo":14,"framesMissing":0}"#,
            r#"{"ts":1500,"event":"media-stats","uid":1,"kind":"audio","framesDecoded":19,"fps":50.0,"packetsLost":0,"audioLevel":70}"#,
            r#"{"ts":2000,"event":"media-stats","uid":1,"kind":"video","framesDecoded":40,"fps":28.0,"packetsLost":3,"lastFrameNo":44,"framesMissing":2}"#,
        ]);
        assert_eq!(ok.len(), 2);
        check_video_in_order(&ok).expect("in order");
        assert_eq!(ok[1].frames_sent(), 45);
        assert_eq!(decode_start_estimate_ms(&ok[0], 12), 1000 - 400);
        assert_eq!(good_frames_between(&ok[0], &ok[1]), 28);
        assert_eq!(decode_start_estimate_ms(&ok[1], 28), 2000 - 933);
        assert_eq!(decode_start_estimate_ms(&ok[1], 100), 2000 - 933);
        let dup = stats(&[
            r#"{"ts":1000,"event":"media-stats","uid":1,"kind":"video","framesDecoded":12,"fps":12.0,"packetsLost":0,"lastFrameNo":14,"framesMissing":0}"#,
            r#"{"ts":2000,"event":"media-stats","uid":1,"kind":"video","framesDecoded":43,"fps":30.0,"packetsLost":0,"lastFrameNo":44,"framesMissing":0}"#,
        ]);
        assert!(check_video_in_order(&dup).is_err());
        assert_eq!(broken_frames(&dup), 1);
        assert_eq!(broken_frames(&ok), 0);
        let reset = stats(&[
            r#"{"ts":1000,"event":"media-stats","uid":1,"kind":"video","framesDecoded":12,"fps":12.0,"packetsLost":0,"lastFrameNo":14,"framesMissing":0}"#,
            r#"{"ts":2000,"event":"media-stats","uid":1,"kind":"video","framesDecoded":5,"fps":5.0,"packetsLost":0,"lastFrameNo":4,"framesMissing":0}"#,
        ]);
        assert!(check_video_in_order(&reset).is_err());
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 95.0), Some(4.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn zero_levels_right_after_a_loud_volume_indicator_are_explained() {
        let log = EventLog::new("t");
        log.push_line(r#"{"ts":1000,"event":"volume-indicator","levels":[{"uid":1,"level":70}]}"#);
        log.push_line(r#"{"ts":1002,"event":"media-stats","uid":1,"kind":"audio","framesDecoded":50,"fps":50.0,"packetsLost":0,"audioLevel":0}"#);
        log.push_line(r#"{"ts":1900,"event":"volume-indicator","levels":[{"uid":1,"level":0}]}"#);
        log.push_line(r#"{"ts":2002,"event":"media-stats","uid":1,"kind":"audio","framesDecoded":60,"fps":50.0,"packetsLost":0,"audioLevel":0}"#);
        log.push_line(r#"{"ts":3002,"event":"media-stats","uid":1,"kind":"audio","framesDecoded":110,"fps":50.0,"packetsLost":0,"audioLevel":60}"#);
        let events = log.snapshot();
        let audio = audio_stats(&events, 1);
        let (silent, explained) = silent_audio_reports(&events, 1, &audio);
        assert_eq!(explained, 1);
        assert_eq!(silent.len(), 1);
        assert_eq!(silent[0].ts, 2002);
        let levels = volume_levels(&events, 1);
        let (silent, explained) = silent_volume_levels(&events, 1, &levels);
        assert_eq!((silent.len(), explained), (1, 0), "{silent:?}");
        log.push_line(r#"{"ts":3010,"event":"volume-indicator","levels":[{"uid":1,"level":0}]}"#);
        let events = log.snapshot();
        let levels = volume_levels(&events, 1);
        let (silent, explained) = silent_volume_levels(&events, 1, &levels);
        assert_eq!((silent.len(), explained), (1, 1), "{silent:?}");
    }

    #[test]
    fn volume_levels_pick_the_uid() {
        let log = EventLog::new("t");
        log.push_line(r#"{"ts":1,"event":"volume-indicator","levels":[{"uid":2,"level":5},{"uid":1,"level":70}]}"#);
        log.push_line(r#"{"ts":2,"event":"volume-indicator","levels":[{"uid":2,"level":5}]}"#);
        assert_eq!(volume_levels(&log.snapshot(), 1), vec![(0, 1, 70)]);
    }
}
