//! The `tether-server` command line (a stable contract: tests rely on it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tether_server::{AuthMode, Secret, ServerConfig};

/// Tether channel server: WebSocket signalling, presence, token auth.
#[derive(Debug, Parser)]
#[command(name = "tether-server", version, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a join token (HS256 JWT) for a channel and uid.
    Token(TokenArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Anyone may join (loopback only unless --allow-open-on-public).
    Open,
    /// A token signed with --secret-file is required.
    Token,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:7800 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", required = true, value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// How clients are admitted.
    #[arg(long, value_enum, default_value = "token")]
    pub auth: AuthArg,
    /// File holding the token secret (at least 16 bytes; trailing whitespace trimmed).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Remove a session after this long without hearing from it.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub peer_timeout_ms: u64,
    /// Show a session as reconnecting after this long without hearing from it.
    #[arg(long, value_name = "MS", default_value_t = 3_000)]
    pub peer_stale_ms: u64,
    /// Allow --auth open on a non-loopback address (logged loudly).
    #[arg(long)]
    pub allow_open_on_public: bool,
    /// Lowest UDP port for media (with --udp-port-max); default: ephemeral ports.
    #[arg(long, value_name = "PORT", requires = "udp_port_max")]
    pub udp_port_min: Option<u16>,
    /// Highest UDP port for media (inclusive).
    #[arg(long, value_name = "PORT", requires = "udp_port_min")]
    pub udp_port_max: Option<u16>,
    /// IP to bind media sockets on (default: the --listen address).
    #[arg(long, value_name = "IP")]
    pub media_ip: Option<IpAddr>,
    /// IP to advertise in ICE candidates instead of the bound one (1:1 NAT).
    #[arg(long, value_name = "IP")]
    pub advertise_ip: Option<IpAddr>,
    /// Most connections from one IPv4 address (or IPv6 /64); raise it when
    /// many clients share one address (a NAT, a reverse proxy, a benchmark).
    #[arg(long, value_name = "N", default_value_t = tether_server::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,
    /// Most participants in one channel.
    #[arg(long, value_name = "N", default_value_t = tether_server::DEFAULT_MAX_PARTICIPANTS)]
    pub max_participants: usize,
    /// A web page origin allowed to connect (repeatable), e.g.
    /// https://call.example.com; without it no web page may connect.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// File holding the token secret.
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// Channel the token admits to.
    #[arg(long)]
    pub channel: String,
    /// Uid the token admits.
    #[arg(long)]
    pub uid: u32,
    /// Lifetime in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub ttl: u64,
    /// Grant join only, not publish.
    #[arg(long)]
    pub no_publish: bool,
}

/// `ADDR:PORT`; `localhost:PORT` means 127.0.0.1.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|e| format!("bad port {port:?}: {e}"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(format!(
        "expected ADDR:PORT such as 127.0.0.1:7800, got {s:?}"
    ))
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn to_config(&self) -> Result<ServerConfig, String> {
        let listen = self.listen.ok_or("--listen ADDR:PORT is required")?;
        let auth = match self.auth {
            AuthArg::Open => AuthMode::Open,
            AuthArg::Token => {
                let path = self.secret_file.as_ref().ok_or(
                    "--auth token (the default) requires --secret-file FILE; \
                     use --auth open for an open loopback server",
                )?;
                AuthMode::Token(Secret::from_file(path).map_err(|e| e.to_string())?)
            }
        };
        let mut config = ServerConfig::new(listen, auth);
        config.allow_open_on_public = self.allow_open_on_public;
        config.peer_timeout = Duration::from_millis(self.peer_timeout_ms);
        config.peer_stale = Duration::from_millis(self.peer_stale_ms);
        config.media.udp_port_min = self.udp_port_min.unwrap_or(0);
        config.media.udp_port_max = self.udp_port_max.unwrap_or(0);
        config.media.bind_ip = self.media_ip;
        config.media.advertise_ip = self.advertise_ip;
        config.max_connections_per_ip = self.max_connections_per_ip;
        config.max_participants = self.max_participants;
        config.allowed_origins = self.allowed_origins.clone();
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

impl TokenArgs {
    /// Issue the token these flags describe.
    pub fn issue(&self) -> Result<String, String> {
        let secret = Secret::from_file(&self.secret_file).map_err(|e| e.to_string())?;
        tether_server::issue_token(
            &secret,
            &self.channel,
            self.uid,
            Duration::from_secs(self.ttl),
            !self.no_publish,
        )
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tether-server").chain(args.iter().copied()))
    }

    #[test]
    fn serve_flags() {
        let cli = parse(&["--listen", "127.0.0.1:0", "--auth", "open"]).expect("valid");
        assert!(cli.command.is_none());
        let config = cli.serve.to_config().expect("open on loopback");
        assert_eq!(config.peer_timeout, Duration::from_secs(10));
        assert_eq!(config.peer_stale, Duration::from_secs(3));
        assert!(parse(&[]).is_err(), "--listen is required");
        let cli = parse(&["--listen", "127.0.0.1:0"]).expect("parses");
        assert!(cli.serve.to_config().is_err(), "token mode needs a secret");
        let cli = parse(&["--listen", "0.0.0.0:0", "--auth", "open"]).expect("parses");
        assert!(cli.serve.to_config().is_err(), "open on public refused");
        let cli = parse(&[
            "--listen",
            "0.0.0.0:0",
            "--auth",
            "open",
            "--allow-open-on-public",
            "--peer-timeout-ms",
            "500",
        ])
        .expect("parses");
        let config = cli.serve.to_config().expect("allowed");
        assert_eq!(config.peer_timeout, Duration::from_millis(500));
        let cli = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "open",
            "--udp-port-min",
            "40000",
            "--udp-port-max",
            "40100",
            "--advertise-ip",
            "203.0.113.7",
        ])
        .expect("parses");
        let config = cli.serve.to_config().expect("valid");
        assert_eq!(
            (config.media.udp_port_min, config.media.udp_port_max),
            (40000, 40100)
        );
        assert_eq!(
            config.media.advertise_ip,
            Some("203.0.113.7".parse().expect("ip"))
        );
        assert!(parse(&["--listen", "127.0.0.1:0", "--udp-port-min", "1"]).is_err());
        let cli = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "open",
            "--udp-port-min",
            "5000",
            "--udp-port-max",
            "4000",
        ])
        .expect("parses");
        assert!(cli.serve.to_config().is_err(), "min above max");
        assert_eq!(
            parse_listen("localhost:80"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
    }

    #[test]
    fn token_subcommand_does_not_need_listen() {
        let cli = parse(&[
            "token",
            "--secret-file",
            "/nonexistent",
            "--channel",
            "demo",
            "--uid",
            "1",
        ])
        .expect("parses");
        assert!(matches!(cli.command, Some(Command::Token(_))));
    }
}
