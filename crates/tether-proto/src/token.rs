//! Claims carried by a join token (a JWT signed with HMAC-SHA256 by the
//! server's secret; signing and verification live in the server).

use serde::{Deserialize, Serialize};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Privileges {
    /// May join the channel.
    pub join: bool,
    /// May publish media.
    pub publish: bool,
}

/// The claims inside a join token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenClaims {
    /// The only channel this token admits to.
    pub channel: String,
    /// The only uid this token admits.
    pub uid: u32,
    /// What the holder may do.
    pub privileges: Privileges,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}
