//! Tether's channel server: WebSocket signalling, presence with precise
//! timeouts, and token auth (SPEC §2–§5).
//!
//! Embed it with [`Server::bind`] and [`Server::run`]; the `tether-server`
//! binary is a thin command-line wrapper around the same API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_server::ServerError> {
//! let server = tether_server::Server::bind(tether_server::ServerConfig::open_loopback()).await?;
//! println!("listening on ws://{}", server.local_addr());
//! let handle = server.handle();
//! tokio::spawn(server.run(std::future::pending()));
//! // later:
//! handle.shutdown();
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod connection;
mod error;
mod hub;
mod presence;
mod ratelimit;
mod server;
mod sfu;

pub use auth::{issue_token, sign_claims, AuthError, IssueError};
pub use config::{
    is_loopback, AuthMode, ConfigError, MediaConfig, RateLimit, Secret, ServerConfig,
    DEFAULT_PEER_STALE, DEFAULT_PEER_TIMEOUT, MIN_SECRET_BYTES,
};
pub use error::ServerError;
pub use hub::HubStats;
pub use server::{Server, ServerHandle};
