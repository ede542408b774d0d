//! Session configuration: identity and every timing threshold.

use std::time::Duration;

use tether_proto::{validate_channel, validate_name, validate_uid, ValidationError};

/// How fast a disconnected client probes the server.
///
/// Attempt `n` (from 1) starts right away for `n == 1`; the gap before attempt
/// `n + 1` is `min(max, base * g(n))` with `g(n) = 2^(n-1)` ([`Growth::Doubling`],
/// the default) or `g(n) = n^2` ([`Growth::Quadratic`]), shortened by up to
/// `jitter` (a fraction, 0..=1) at random. With the defaults the gaps are
/// 50–100, 100–200, 200–400 ms, then 300–600 ms forever, so a client is back
/// within about 600 ms + one round trip of the network returning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbePolicy {
    /// First gap.
    pub base: Duration,
    /// Largest gap.
    pub max: Duration,
    /// Fraction of the gap that is randomised away (0 = none, 1 = full jitter).
    pub jitter: f64,
    /// How the gap grows from one attempt to the next.
    pub growth: Growth,
}

/// How [`ProbePolicy`] gaps grow with the attempt number `n` (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Growth {
    /// `base * 2^(n-1)`: 1, 2, 4, 8, … times the base (Tether's default).
    #[default]
    Doubling,
    /// `base * n^2`: 1, 4, 9, 16, … times the base. With a 300 ms base and a 7 s
    /// cap this is the retry schedule common SFU clients ship by default
    /// (0, 0.3, 1.2, 2.7, 4.8, then 7 s), used as a baseline by the benchmarks.
    Quadratic,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            max: Duration::from_millis(600),
            jitter: 0.5,
            growth: Growth::Doubling,
        }
    }
}

impl ProbePolicy {
    /// The schedule common SFU clients use by default: retries 0, 0.3, 1.2,
    /// 2.7 and 4.8 s after the previous one started, then every 7 s, without
    /// jitter. Only a baseline to compare against; not for production use.
    pub fn sfu_client_default() -> Self {
        Self {
            base: Duration::from_millis(300),
            max: Duration::from_secs(7),
            jitter: 0.0,
            growth: Growth::Quadratic,
        }
    }
}

/// Every threshold the session uses. Production defaults; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// How often a connected client pings.
    pub keepalive_interval: Duration,
    /// Silence from the server after which the link counts as dead.
    pub keepalive_timeout: Duration,
    /// After an OS network-change hint, how long the server has to answer a ping.
    pub network_hint_timeout: Duration,
    /// How long one connection attempt (dial + hello + welcome) may take.
    pub attempt_timeout: Duration,
    /// Attempts allowed in flight at once; the oldest is dropped beyond this.
    pub max_parallel_attempts: usize,
    /// The gaps between attempts.
    pub probe: ProbePolicy,
    /// Reconnection gives up this long after the interruption.
    pub give_up_after: Duration,
    /// The first join gives up this long after `join`.
    pub join_timeout: Duration,
    /// How long to wait for the server's `bye` after `leave`.
    pub leave_timeout: Duration,
    /// `token-privilege-will-expire` comes this long before expiry.
    pub token_warning: Duration,
    /// Assumed server session timeout until a `welcome` says otherwise.
    pub default_session_timeout: Duration,
    /// With media gating, a stream is removed (`NO_DATA`) this long after its
    /// last packet.
    pub no_data_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            keepalive_interval: Duration::from_millis(250),
            keepalive_timeout: Duration::from_secs(3),
            network_hint_timeout: Duration::from_millis(500),
            attempt_timeout: Duration::from_millis(2500),
            max_parallel_attempts: 5,
            probe: ProbePolicy::default(),
            give_up_after: Duration::from_secs(20 * 60),
            join_timeout: Duration::from_secs(30),
            leave_timeout: Duration::from_secs(1),
            token_warning: Duration::from_secs(30),
            default_session_timeout: Duration::from_secs(10),
            no_data_timeout: Duration::from_secs(10),
        }
    }
}

/// Who joins where, and how. Its `Debug` hides the token (configs end up
/// in logs).
#[derive(Clone, PartialEq)]
pub struct SessionConfig {
    /// Channel name (validated).
    pub channel: String,
    /// Our uid (validated).
    pub uid: u32,
    /// Display name (validated).
    pub name: String,
    /// Join token, if the server needs one.
    pub token: Option<String>,
    /// Thresholds.
    pub timing: Timing,
    /// Seed for the jitter generator (the core never reads a random source).
    pub rng_seed: u64,
    /// Streams are visible only while their packets flow (`stream-added` on
    /// the first packet, `stream-removed {NO_DATA}` after silence). Off: the
    /// signalling announcement alone adds a stream.
    pub media_gating: bool,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("channel", &self.channel)
            .field("uid", &self.uid)
            .field("name", &self.name)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timing", &self.timing)
            .field("rng_seed", &self.rng_seed)
            .field("media_gating", &self.media_gating)
            .finish()
    }
}

impl SessionConfig {
    /// A config with default timing, after validating the identity.
    pub fn new(channel: &str, uid: u32, name: &str) -> Result<Self, ValidationError> {
        validate_channel(channel)?;
        validate_uid(uid)?;
        validate_name(name)?;
        Ok(Self {
            channel: channel.to_owned(),
            uid,
            name: name.to_owned(),
            token: None,
            timing: Timing::default(),
            rng_seed: 0x7e7e_4e12_0000_0001 ^ u64::from(uid),
            media_gating: false,
        })
    }

    /// Set the token.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Set the timing.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Turn media gating on or off.
    pub fn with_media_gating(mut self, on: bool) -> Self {
        self.media_gating = on;
        self
    }

    /// Set the jitter seed.
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = SessionConfig::new("demo", 7, "Ann")
            .expect("valid")
            .with_token(Some("header.payload.signature".into()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("signature"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("demo"),
            "{shown}"
        );
    }
}
