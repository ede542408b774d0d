//! Command-line arguments (a stable contract: tests and scripts rely on it).

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `--publish` sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishArg {
    /// A tone and a stamped test pattern.
    Synthetic,
    /// The microphone and camera.
    Devices,
    /// Nothing.
    None,
}

/// `--subscribe` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscribeArg {
    /// Receive everyone's media.
    Auto,
    /// Signalling only.
    None,
}

/// Tether's headless client.
#[derive(Debug, Parser)]
#[command(name = "tether", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join a channel and print every event as a JSON line on stdout.
    Join(JoinArgs),
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Channel server, e.g. ws://127.0.0.1:7800.
    #[arg(long)]
    pub server: String,
    /// Channel name (1-64 of A-Z a-z 0-9 _ - .).
    #[arg(long)]
    pub channel: String,
    /// Uid in the channel (random when omitted).
    #[arg(long)]
    pub uid: Option<u32>,
    /// Display name (default "user-<uid>").
    #[arg(long)]
    pub name: Option<String>,
    /// Join token (required unless the server runs in open mode).
    #[arg(long)]
    pub token: Option<String>,
    /// Read the token from this file; it is read again when the token is
    /// about to expire, and a changed token renews the session without a drop.
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<std::path::PathBuf>,
    /// Publish audio and video from this source (`--publish` alone:
    /// synthetic; `devices` = microphone and camera).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "synthetic")]
    pub publish: Option<PublishArg>,
    /// With `--publish devices`: use the synthetic source for a missing device.
    #[arg(long)]
    pub fallback_synthetic: bool,
    /// Receive and decode everyone's media (`auto`), or signalling only (`none`).
    #[arg(long, value_enum, default_value = "auto")]
    pub subscribe: SubscribeArg,
    /// Print a `media-stats` line per remote stream every second.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, hide = true)]
    pub media_stats: bool,
    /// Leave after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Give up reconnecting after this many seconds (default 1200).
    #[arg(long)]
    pub give_up_after: Option<f64>,
    /// Keepalive timeout in ms (default 3000).
    #[arg(long, hide = true)]
    pub keepalive_timeout_ms: Option<u64>,
    /// First-join timeout in seconds (default 30).
    #[arg(long, hide = true)]
    pub join_timeout: Option<f64>,
    /// Ignore OS network-change events.
    #[arg(long, hide = true)]
    pub no_network_hints: bool,
}
