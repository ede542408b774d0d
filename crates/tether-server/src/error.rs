//! The server's error type.

use std::net::SocketAddr;

use thiserror::Error;

use crate::config::ConfigError;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
