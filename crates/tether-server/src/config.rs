//! Server configuration: where to listen, how to authenticate, timeouts and limits.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

/// Shortest secret the server accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Default time after the last frame heard before a session is removed (SPEC §3).
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Default time after the last frame heard before a session is shown as reconnecting.
pub const DEFAULT_PEER_STALE: Duration = Duration::from_millis(3_000);

/// Default time a WebSocket handshake may take.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time one write to a connection may take before it is dropped.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap of connections from one address (a household or office NAT
/// with a few dozen people in calls stays under it).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;

/// Default cap of participants per channel.
pub const DEFAULT_MAX_PARTICIPANTS: usize = 100;

/// The HMAC secret that signs and verifies join tokens. Its bytes never appear in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from raw bytes; trailing whitespace (a newline left by an editor) is trimmed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let trimmed = bytes.get(..end).unwrap_or_default();
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::SecretTooShort { len: trimmed.len() });
        }
        Ok(Self(trimmed.to_vec()))
    }

    /// Read a secret from a file (see [`Secret::from_bytes`]); what is
    /// weak about it (see [`secret_file_warnings`]) is logged as a warning.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::SecretFile {
            path: path.display().to_string(),
            source,
        })?;
        let secret = Self::from_bytes(&bytes)?;
        for warning in secret_file_warnings(path, &secret) {
            tracing::warn!(path = %path.display(), "{warning}");
        }
        Ok(secret)
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Length a new secret should have (HS256's key size); shorter ones are
/// accepted down to [`MIN_SECRET_BYTES`] with a warning.
pub const RECOMMENDED_SECRET_BYTES: usize = 32;

/// What is weak about a secret file: shorter than
/// [`RECOMMENDED_SECRET_BYTES`], or readable by other users (Unix).
pub fn secret_file_warnings(path: &Path, secret: &Secret) -> Vec<String> {
    let mut out = Vec::new();
    if secret.0.len() < RECOMMENDED_SECRET_BYTES {
        out.push(format!(
            "the secret is {} bytes; make new secrets {RECOMMENDED_SECRET_BYTES} bytes or more \
             (head -c 32 /dev/urandom | base64 > FILE)",
            secret.0.len()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                out.push(format!(
                    "the secret file is readable by other users (mode {:o}); chmod 600 it",
                    mode & 0o777
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    out
}

/// How clients are admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone may join any channel with any uid, with all privileges and no expiry.
    /// Only allowed on loopback unless [`ServerConfig::allow_open_on_public`] is set.
    Open,
    /// A JWT (HS256) signed with this secret is required in `hello`.
    Token(Secret),
}

/// Per-connection message rate limit: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Messages per second refilled into the bucket.
    pub per_second: f64,
    /// Bucket size: the largest burst accepted at once.
    pub burst: u32,
    /// Close the connection (1008 "message flood") after this many dropped messages.
    pub close_after_dropped: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 200,
            close_after_dropped: 2000,
        }
    }
}

/// Where the SFU's media (WebRTC over UDP) goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaConfig {
    /// Lowest UDP port for media; 0 (with `udp_port_max` 0) means ephemeral ports.
    pub udp_port_min: u16,
    /// Highest UDP port for media (inclusive).
    pub udp_port_max: u16,
    /// The IP to bind media sockets on; `None` uses the signalling listen address
    /// (a wildcard there binds every non-loopback interface).
    pub bind_ip: Option<std::net::IpAddr>,
    /// The IP put into ICE candidates instead of the bound one (1:1 NAT, containers).
    pub advertise_ip: Option<std::net::IpAddr>,
}

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free port (see [`crate::Server::local_addr`]).
    pub listen: SocketAddr,
    /// Open or token authentication.
    pub auth: AuthMode,
    /// Allow [`AuthMode::Open`] on a non-loopback address (logged loudly).
    pub allow_open_on_public: bool,
    /// A session silent this long is removed (`peer-leave {SERVER_TIMEOUT}`).
    pub peer_timeout: Duration,
    /// A session silent this long (or whose socket dropped) is shown as reconnecting.
    pub peer_stale: Duration,
    /// A connection that sends no `hello` within this time is closed.
    pub hello_timeout: Duration,
    /// A connection whose WebSocket handshake takes longer is dropped; the
    /// handshake holds no session slot, only one of `max_handshakes`.
    pub handshake_timeout: Duration,
    /// A frame or close that cannot be written in this time (the peer stopped
    /// reading) drops the connection.
    pub write_timeout: Duration,
    /// Most simultaneous sessions (handshake done); further ones get
    /// `SERVER_BUSY` and are closed.
    pub max_connections: usize,
    /// Most WebSocket handshakes in progress at once; TCP connections past it
    /// are closed at accept.
    pub max_handshakes: usize,
    /// Most connections (handshaking or open) from one IPv4 address or one
    /// IPv6 /64; further ones are closed at accept.
    pub max_connections_per_ip: usize,
    /// Most participants in one channel: at it, `welcome` (the whole
    /// roster, names up to 64 characters) still fits a 64 KiB frame.
    pub max_participants: usize,
    /// Web page origins allowed to connect (exact `Origin` header values,
    /// e.g. `https://call.example.com`). A WebSocket handshake that carries
    /// any other `Origin` (a browser on some web page) is refused with 403;
    /// native clients send none. Empty by default: no web page may connect,
    /// so a page the user visits cannot reach a server on their machine.
    pub allowed_origins: Vec<String>,
    /// With a key, the handshake answers a [`crate::CHALLENGE_HEADER`] with
    /// its proof (see `instance`): the desktop app's built-in server.
    pub instance_key: Option<Secret>,
    /// Per-connection rate limit.
    pub rate_limit: RateLimit,
    /// Per-connection limit of `publisher-offer` and `subscriber-restart`:
    /// each costs the SFU a negotiation (and up to 500 ms of gathering on its
    /// channel's task). Past it they are answered `RATE_LIMITED` and dropped;
    /// `close_after_dropped` is not used.
    pub negotiation_limit: RateLimit,
    /// How long a departure stays listed in `welcome.departed`.
    pub departed_ttl: Duration,
    /// Most departures listed per channel.
    pub departed_max: usize,
    /// Media (SFU) settings.
    pub media: MediaConfig,
}

impl ServerConfig {
    /// A configuration with default timeouts and limits.
    pub fn new(listen: SocketAddr, auth: AuthMode) -> Self {
        Self {
            listen,
            auth,
            allow_open_on_public: false,
            peer_timeout: DEFAULT_PEER_TIMEOUT,
            peer_stale: DEFAULT_PEER_STALE,
            hello_timeout: Duration::from_secs(10),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: 10_000,
            max_handshakes: 512,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_participants: DEFAULT_MAX_PARTICIPANTS,
            allowed_origins: Vec::new(),
            instance_key: None,
            rate_limit: RateLimit::default(),
            negotiation_limit: RateLimit {
                per_second: 1.0,
                burst: 10,
                close_after_dropped: u32::MAX,
            },
            departed_ttl: Duration::from_secs(300),
            departed_max: 64,
            media: MediaConfig::default(),
        }
    }

    /// Open mode on `127.0.0.1` with an OS-chosen port: what the desktop app embeds.
    pub fn open_loopback() -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], 0)), AuthMode::Open)
    }

    /// Check the configuration before binding anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth == AuthMode::Open
            && !is_loopback(self.listen.ip())
            && !self.allow_open_on_public
        {
            return Err(ConfigError::OpenOnPublic(self.listen));
        }
        if self.peer_timeout.is_zero() {
            return Err(ConfigError::Invalid("peer timeout must be above 0"));
        }
        if self.peer_stale.is_zero() {
            return Err(ConfigError::Invalid("peer stale time must be above 0"));
        }
        let m = &self.media;
        if (m.udp_port_min == 0) != (m.udp_port_max == 0) || m.udp_port_max < m.udp_port_min {
            return Err(ConfigError::Invalid(
                "UDP port range needs both ends, min <= max (or neither for ephemeral ports)",
            ));
        }
        if self.max_connections == 0 || self.max_handshakes == 0 {
            return Err(ConfigError::Invalid("max connections must be above 0"));
        }
        if self.max_participants == 0 {
            return Err(ConfigError::Invalid("max participants must be above 0"));
        }
        if self.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid(
                "max connections per IP must be above 0",
            ));
        }
        if self.handshake_timeout.is_zero() || self.write_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "handshake and write timeouts must be above 0",
            ));
        }
        let rate_ok = self.rate_limit.per_second.is_finite() && self.rate_limit.per_second > 0.0;
        if !rate_ok || self.rate_limit.burst == 0 {
            return Err(ConfigError::Invalid(
                "rate limit must allow at least one message",
            ));
        }
        Ok(())
    }

    /// True when this configuration runs open mode on a non-loopback address.
    pub fn is_open_on_public(&self) -> bool {
        self.auth == AuthMode::Open && !is_loopback(self.listen.ip())
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A configuration the server refuses.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Open mode on a non-loopback address without the explicit flag.
    #[error(
        "refusing --auth open on non-loopback address {0}: anyone could join; \
         bind to 127.0.0.1 or pass --allow-open-on-public"
    )]
    OpenOnPublic(SocketAddr),
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("secret is {len} bytes; at least {MIN_SECRET_BYTES} bytes are required")]
    SecretTooShort {
        /// Length after trimming.
        len: usize,
    },
    /// The secret file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    SecretFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Any other invalid setting.
    #[error("invalid configuration: {0}")]
    Invalid(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_trimmed_and_checked() {
        let s = Secret::from_bytes(b"0123456789abcdef \n\t").expect("long enough");
        assert_eq!(s.as_bytes(), b"0123456789abcdef");
        assert!(matches!(
            Secret::from_bytes(b"short\n"),
            Err(ConfigError::SecretTooShort { len: 5 })
        ));
        assert!(Secret::from_bytes(b"   \n").is_err());
        assert_eq!(format!("{s:?}"), "Secret(16 bytes)");
    }

    #[cfg(unix)]
    #[test]
    fn weak_secret_files_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tether-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("secret");
        std::fs::write(&path, [b'k'; 20]).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let s = Secret::from_file(&path).expect("long enough to accept");
        let w = secret_file_warnings(&path, &s);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("20 bytes") && w[1].contains("644"), "{w:?}");
        std::fs::write(&path, [b'k'; 32]).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let s = Secret::from_file(&path).expect("fine");
        assert!(secret_file_warnings(&path, &s).is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn open_mode_only_on_loopback() {
        let mut c = ServerConfig::open_loopback();
        assert!(c.validate().is_ok());
        c.listen = "0.0.0.0:0".parse().expect("valid");
        assert!(matches!(c.validate(), Err(ConfigError::OpenOnPublic(_))));
        c.allow_open_on_public = true;
        assert!(c.validate().is_ok());
        c.listen = "[::1]:0".parse().expect("valid");
        c.allow_open_on_public = false;
        assert!(c.validate().is_ok());
        let secret = Secret::from_bytes(&[b'k'; 32]).expect("long enough");
        let t = ServerConfig::new("0.0.0.0:0".parse().expect("valid"), AuthMode::Token(secret));
        assert!(t.validate().is_ok());
    }
}
