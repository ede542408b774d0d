//! Audio jitter buffer for 20 ms Opus packets. Pure: the caller passes the time in.
//!
//! The network side calls [`AudioJitterBuffer::push`] for every RTP packet; the playout side calls
//! [`AudioJitterBuffer::pop`] once per 20 ms tick and renders what it gets with
//! [`Playout::render`]. The buffer
//! - reorders by RTP sequence number (with wrap-around) and drops duplicates and packets whose turn
//!   has passed;
//! - waits until it holds its target delay before playing, and after an underrun;
//! - turns a missing packet into FEC recovery from the following packet when that one is there, or
//!   into packet-loss concealment otherwise, and stretches an underrun with concealment (without
//!   skipping sequence numbers) for up to [`JitterConfig::max_expand_frames`] before going silent;
//! - adapts its target delay to the 95th percentile of the packets' arrival delay over the last 3 s
//!   plus one frame, within [`JitterConfig::min_delay_ms`]..=[`JitterConfig::max_delay_ms`], and
//!   drops audio to come back to the target when it holds too much (after a burst or a long gap).

use std::collections::{BTreeMap, VecDeque};

use crate::audio_codec::OpusDecoder;
use crate::frame::{FRAME_DURATION_US, SAMPLES_PER_FRAME};

const FRAME_MS: u32 = 20;
/// Arrival delays kept for the target estimate: 3 s of 20 ms packets.
const DELAY_WINDOW: usize = 150;
/// Most packets held at once (10 s); older ones are dropped beyond this.
const MAX_PACKETS: usize = 500;
/// A sequence jump larger than this (in packets, 20 s) means the sender restarted: start over.
const RESTART_JUMP: i64 = 1000;

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Lowest target delay in ms (default 40).
    pub min_delay_ms: u32,
    /// Highest target delay in ms (default 400).
    pub max_delay_ms: u32,
    /// Concealed frames played during an underrun before the buffer goes silent and re-buffers
    /// (default 10 = 200 ms).
    pub max_expand_frames: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_delay_ms: 40,
            max_delay_ms: 400,
            max_expand_frames: 10,
        }
    }
}

/// What [`AudioJitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Already held; dropped.
    Duplicate,
    /// Its turn has passed (played, concealed or skipped); dropped.
    Late,
    /// A large sequence jump: the buffer restarted from this packet.
    Restarted,
}

/// What to play for one 20 ms tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Nothing to play yet (buffering, or the stream stopped): play silence.
    Silence,
    /// Decode this packet.
    Decode {
        /// Its RTP sequence number.
        seq: u16,
        /// The Opus packet.
        payload: Vec<u8>,
    },
    /// Packet `seq` is lost; recover it from the FEC data in the next packet (which is played
    /// normally on the next tick).
    DecodeFec {
        /// Sequence number of the lost packet.
        seq: u16,
        /// The following packet's Opus payload.
        next_payload: Vec<u8>,
    },
    /// Nothing to recover from: extrapolate (packet-loss concealment).
    Conceal,
}

impl Playout {
    /// Decodes this playout step into exactly [`SAMPLES_PER_FRAME`] samples. Never fails: a packet
    /// the decoder rejects is concealed instead, and a failed concealment is silence.
    pub fn render(&self, decoder: &mut OpusDecoder) -> Vec<i16> {
        let decoded = match self {
            Playout::Silence => return vec![0; SAMPLES_PER_FRAME],
            Playout::Decode { payload, .. } => decoder.decode(payload),
            Playout::DecodeFec { next_payload, .. } => decoder.decode_fec(next_payload),
            Playout::Conceal => decoder.conceal(),
        };
        let mut samples = decoded.or_else(|_| decoder.conceal()).unwrap_or_default();
        samples.resize(SAMPLES_PER_FRAME, 0);
        samples
    }
}

/// Counters for `media-stats` and debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted.
    pub received: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets that arrived after their turn.
    pub late: u64,
    /// Sequence numbers never played from their own packet (recovered, concealed or skipped).
    pub lost: u64,
    /// Lost packets recovered from FEC.
    pub fec_recovered: u64,
    /// Concealed frames (lost packets without FEC, and underrun stretching).
    pub concealed: u64,
    /// Packets dropped to bring the delay back to the target.
    pub dropped_for_latency: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting to hold the target delay; `since_us` is when the first waiting packet arrived.
    Buffering { since_us: Option<u64> },
    /// Playing; `expanded` counts consecutive underrun frames.
    Playing { expanded: u32 },
}

/// Jitter buffer for one remote audio stream (see the module docs).
#[derive(Debug, Clone)]
pub struct AudioJitterBuffer {
    config: JitterConfig,
    packets: BTreeMap<u64, Vec<u8>>,
    /// Highest extended sequence number seen, with its RTP sequence number.
    highest: Option<u64>,
    /// Next extended sequence number to play; everything below it is late.
    next: Option<u64>,
    state: State,
    /// Last packet's extended RTP timestamp and its raw value.
    last_ts: Option<(i64, u32)>,
    /// Recent `arrival − media time` values in µs.
    delays: VecDeque<i64>,
    target_ms: u32,
    stats: JitterStats,
}

impl Default for AudioJitterBuffer {
    fn default() -> Self {
        AudioJitterBuffer::new(JitterConfig::default())
    }
}

impl AudioJitterBuffer {
    /// An empty buffer. `min_delay_ms` is raised to at least 20 and `max_delay_ms` to at least it.
    pub fn new(config: JitterConfig) -> AudioJitterBuffer {
        let min = config.min_delay_ms.max(FRAME_MS);
        let config = JitterConfig {
            min_delay_ms: min,
            max_delay_ms: config.max_delay_ms.max(min),
            ..config
        };
        AudioJitterBuffer {
            config,
            packets: BTreeMap::new(),
            highest: None,
            next: None,
            state: State::Buffering { since_us: None },
            last_ts: None,
            delays: VecDeque::with_capacity(DELAY_WINDOW),
            target_ms: min,
            stats: JitterStats::default(),
        }
    }

    /// Current target delay in ms (a multiple of 20).
    pub fn target_delay_ms(&self) -> u32 {
        self.target_ms
    }

    /// Audio held from the next packet to play to the newest one, in ms.
    pub fn buffered_ms(&self) -> u32 {
        match (self.packets.keys().next(), self.packets.keys().next_back()) {
            (Some(&first), Some(&last)) => {
                let from = self.next.unwrap_or(first).min(first);
                ((last - from + 1) as u32).saturating_mul(FRAME_MS)
            }
            _ => 0,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Whether the buffer is playing (as opposed to buffering or silent after an underrun).
    pub fn is_playing(&self) -> bool {
        matches!(self.state, State::Playing { .. })
    }

    /// Accepts one RTP packet: sequence number, RTP timestamp (48 kHz) and Opus payload, received at
    /// `now_us` on the caller's monotonic clock.
    pub fn push(&mut self, seq: u16, rtp_ts: u32, payload: Vec<u8>, now_us: u64) -> PushOutcome {
        let mut outcome = PushOutcome::Accepted;
        let ext = match self.highest {
            None => (1u64 << 32) + u64::from(seq),
            Some(highest) => {
                let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
                if delta > RESTART_JUMP {
                    self.restart();
                    outcome = PushOutcome::Restarted;
                    (1u64 << 32) + u64::from(seq)
                } else if delta < -RESTART_JUMP {
                    self.stats.late += 1;
                    return PushOutcome::Late;
                } else {
                    highest.saturating_add_signed(delta)
                }
            }
        };
        if self.next.is_some_and(|next| ext < next) {
            self.stats.late += 1;
            return PushOutcome::Late;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        self.packets.insert(ext, payload);
        self.stats.received += 1;
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        while self.packets.len() > MAX_PACKETS {
            if let Some((&oldest, _)) = self.packets.iter().next() {
                self.packets.remove(&oldest);
                self.stats.dropped_for_latency += 1;
            }
        }
        if let State::Buffering { since_us: None } = self.state {
            self.state = State::Buffering {
                since_us: Some(now_us),
            };
        }
        self.record_delay(rtp_ts, now_us);
        outcome
    }

    /// What to play for the tick at `now_us` (call once every 20 ms).
    pub fn pop(&mut self, now_us: u64) -> Playout {
        match self.state {
            State::Buffering { since_us } => {
                let Some(&first) = self.packets.keys().next() else {
                    return Playout::Silence;
                };
                let waited_ms = since_us.map_or(0, |s| now_us.saturating_sub(s) / 1000);
                if waited_ms < u64::from(self.target_ms) && self.buffered_ms() < self.target_ms {
                    return Playout::Silence;
                }
                self.next = Some(self.next.map_or(first, |n| n.max(first)));
                self.state = State::Playing { expanded: 0 };
                self.play()
            }
            State::Playing { .. } => self.play(),
        }
    }

    fn play(&mut self) -> Playout {
        let Some(mut next) = self.next else {
            return Playout::Silence;
        };
        self.trim_latency(&mut next);
        let out = if let Some(payload) = self.packets.remove(&next) {
            next += 1;
            self.state = State::Playing { expanded: 0 };
            Playout::Decode {
                seq: (next - 1) as u16,
                payload,
            }
        } else if !self.packets.is_empty() {
            // Later packets are here, so this one is lost (or hopelessly late).
            self.stats.lost += 1;
            let lost = next;
            next += 1;
            self.state = State::Playing { expanded: 0 };
            match self.packets.get(&next) {
                Some(following) => {
                    self.stats.fec_recovered += 1;
                    Playout::DecodeFec {
                        seq: lost as u16,
                        next_payload: following.clone(),
                    }
                }
                None => {
                    self.stats.concealed += 1;
                    Playout::Conceal
                }
            }
        } else {
            // Underrun: stretch with concealment without consuming a sequence number.
            let expanded = match self.state {
                State::Playing { expanded } => expanded + 1,
                State::Buffering { .. } => 1,
            };
            if expanded > self.config.max_expand_frames {
                self.state = State::Buffering { since_us: None };
                self.next = Some(next);
                return Playout::Silence;
            }
            self.state = State::Playing { expanded };
            self.stats.concealed += 1;
            Playout::Conceal
        };
        self.next = Some(next);
        out
    }

    /// Drops audio when the buffer holds well over its target: one frame at a time for a small
    /// excess, a jump to the target for a large one (a burst after a gap).
    fn trim_latency(&mut self, next: &mut u64) {
        let Some(&last) = self.packets.keys().next_back() else {
            return;
        };
        if last < *next {
            return;
        }
        let held_ms = ((last - *next + 1) as u32).saturating_mul(FRAME_MS);
        let slack = 2 * FRAME_MS;
        if held_ms <= self.target_ms + slack {
            return;
        }
        let keep_frames = u64::from(self.target_ms / FRAME_MS).max(1);
        let new_next = if held_ms > self.target_ms + 10 * FRAME_MS {
            last + 1 - keep_frames
        } else {
            *next + 1
        };
        while *next < new_next {
            if self.packets.remove(next).is_some() {
                self.stats.dropped_for_latency += 1;
            } else {
                self.stats.lost += 1;
            }
            *next += 1;
        }
    }

    fn record_delay(&mut self, rtp_ts: u32, now_us: u64) {
        let ext_ts = match self.last_ts {
            None => i64::from(rtp_ts),
            Some((last_ext, last_raw)) => {
                last_ext + i64::from(rtp_ts.wrapping_sub(last_raw) as i32)
            }
        };
        self.last_ts = Some((ext_ts, rtp_ts));
        let media_us = ext_ts.saturating_mul(1_000_000) / 48_000;
        let delay = i64::try_from(now_us)
            .unwrap_or(i64::MAX)
            .saturating_sub(media_us);
        if self.delays.len() == DELAY_WINDOW {
            self.delays.pop_front();
        }
        self.delays.push_back(delay);
        self.update_target();
    }

    fn update_target(&mut self) {
        let Some(&min) = self.delays.iter().min() else {
            return;
        };
        let mut spread: Vec<i64> = self.delays.iter().map(|d| d - min).collect();
        spread.sort_unstable();
        let p95 = spread[(spread.len() * 95 / 100).min(spread.len() - 1)];
        let wanted_us = p95.max(0) as u64 + FRAME_DURATION_US;
        let wanted_ms = u32::try_from(wanted_us.div_ceil(FRAME_DURATION_US) * u64::from(FRAME_MS))
            .unwrap_or(u32::MAX);
        self.target_ms = wanted_ms.clamp(self.config.min_delay_ms, self.config.max_delay_ms)
            / FRAME_MS
            * FRAME_MS;
    }

    fn restart(&mut self) {
        self.packets.clear();
        self.highest = None;
        self.next = None;
        self.last_ts = None;
        self.delays.clear();
        self.state = State::Buffering { since_us: None };
    }
}

#[cfg(test)]
#[path = "jitter_tests.rs"]
mod tests;
