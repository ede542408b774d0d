//! Join tokens: HS256 JWTs carrying [`TokenClaims`], issued and verified here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tether_proto::{validate_channel, validate_uid, ErrorCode, Privileges, TokenClaims};
use thiserror::Error;

use crate::config::{AuthMode, Secret};

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No token in `hello` while the server requires one.
    #[error("a token is required")]
    Missing,
    /// Not a JWT, or claims of the wrong shape.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Signed with another secret (or tampered with).
    #[error("token signature is invalid")]
    BadSignature,
    /// Issued for another channel.
    #[error("token is for channel {token:?}, not {wanted:?}")]
    WrongChannel {
        /// Channel in the token.
        token: String,
        /// Channel asked for.
        wanted: String,
    },
    /// Issued for another uid.
    #[error("token is for uid {token}, not {wanted}")]
    WrongUid {
        /// Uid in the token.
        token: u32,
        /// Uid asked for.
        wanted: u32,
    },
    /// The token does not grant joining.
    #[error("token does not grant the join privilege")]
    NoJoin,
    /// Past its expiry.
    #[error("token has expired")]
    Expired,
}

impl AuthError {
    /// The wire error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::InvalidToken,
        }
    }
}

/// What a verified token (or open mode) allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Join and publish privileges.
    pub privileges: Privileges,
    /// Time left until the token expires; `None` in open mode.
    pub expires_in: Option<Duration>,
}

/// Verifies tokens according to the server's [`AuthMode`].
pub(crate) enum Authenticator {
    Open,
    Token {
        key: Box<DecodingKey>,
        validation: Box<Validation>,
    },
}

impl Authenticator {
    pub(crate) fn new(mode: &AuthMode) -> Self {
        match mode {
            AuthMode::Open => Self::Open,
            AuthMode::Token(secret) => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.leeway = 0;
                validation.validate_exp = true;
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp"]);
                Self::Token {
                    key: Box::new(DecodingKey::from_secret(secret.as_bytes())),
                    validation: Box::new(validation),
                }
            }
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// Check a token for `channel` and `uid`. Open mode ignores the token.
    pub(crate) fn verify(
        &self,
        token: Option<&str>,
        channel: &str,
        uid: u32,
    ) -> Result<Grant, AuthError> {
        let (key, validation) = match self {
            Self::Open => {
                return Ok(Grant {
                    privileges: Privileges {
                        join: true,
                        publish: true,
                    },
                    expires_in: None,
                })
            }
            Self::Token { key, validation } => (key, validation),
        };
        let token = token.ok_or(AuthError::Missing)?;
        let data =
            jsonwebtoken::decode::<TokenClaims>(token, key, validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Malformed(e.to_string()),
                }
            })?;
        let claims = data.claims;
        if claims.channel != channel {
            return Err(AuthError::WrongChannel {
                token: claims.channel,
                wanted: channel.to_owned(),
            });
        }
        if claims.uid != uid {
            return Err(AuthError::WrongUid {
                token: claims.uid,
                wanted: uid,
            });
        }
        if !claims.privileges.join {
            return Err(AuthError::NoJoin);
        }
        let left_ms = claims
            .exp
            .saturating_mul(1000)
            .saturating_sub(unix_now_ms());
        if left_ms == 0 {
            return Err(AuthError::Expired);
        }
        Ok(Grant {
            privileges: claims.privileges,
            expires_in: Some(Duration::from_millis(left_ms)),
        })
    }
}

/// Verify `token` for `channel` and `uid` against `secret`, exactly as the
/// server does for a `hello` in token mode (a pure function of its inputs and
/// the clock; used by the fuzz targets and by tools).
pub fn verify_token(
    secret: &Secret,
    token: &str,
    channel: &str,
    uid: u32,
) -> Result<Grant, AuthError> {
    Authenticator::new(&AuthMode::Token(secret.clone())).verify(Some(token), channel, uid)
}

/// Why a token could not be issued.
#[derive(Debug, Error)]
pub enum IssueError {
    /// Bad channel name or uid.
    #[error(transparent)]
    Invalid(#[from] tether_proto::ValidationError),
    /// The JWT library failed.
    #[error("cannot sign token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Issue a join token for `channel` and `uid`, valid for `ttl` from now.
pub fn issue_token(
    secret: &Secret,
    channel: &str,
    uid: u32,
    ttl: Duration,
    publish: bool,
) -> Result<String, IssueError> {
    validate_channel(channel)?;
    validate_uid(uid)?;
    let iat = unix_now_ms() / 1000;
    let claims = TokenClaims {
        channel: channel.to_owned(),
        uid,
        privileges: Privileges {
            join: true,
            publish,
        },
        iat,
        exp: iat.saturating_add(ttl.as_secs()),
    };
    sign_claims(secret, &claims)
}

/// Sign arbitrary claims (for tests and tools that need unusual tokens).
pub fn sign_claims(secret: &Secret, claims: &TokenClaims) -> Result<String, IssueError> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> Secret {
        Secret::from_bytes(&[b; 32]).expect("long enough")
    }

    fn verifier(b: u8) -> Authenticator {
        Authenticator::new(&AuthMode::Token(secret(b)))
    }

    #[test]
    fn valid_token_is_accepted() {
        let t = issue_token(&secret(1), "demo", 7, Duration::from_secs(60), false).expect("ok");
        let g = verifier(1).verify(Some(&t), "demo", 7).expect("valid");
        assert!(g.privileges.join && !g.privileges.publish);
        let left = g.expires_in.expect("token mode has expiry");
        assert!(left > Duration::from_secs(58) && left <= Duration::from_secs(60));
    }

    #[test]
    fn refusals_say_why() {
        let t = issue_token(&secret(1), "demo", 7, Duration::from_secs(60), true).expect("ok");
        let v = verifier(1);
        assert_eq!(v.verify(None, "demo", 7), Err(AuthError::Missing));
        assert!(matches!(
            v.verify(Some("nope"), "demo", 7),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(
            verifier(2).verify(Some(&t), "demo", 7),
            Err(AuthError::BadSignature)
        );
        assert!(matches!(
            v.verify(Some(&t), "other", 7),
            Err(AuthError::WrongChannel { .. })
        ));
        assert!(matches!(
            v.verify(Some(&t), "demo", 8),
            Err(AuthError::WrongUid { .. })
        ));
        let now = unix_now_ms() / 1000;
        let mut claims = TokenClaims {
            channel: "demo".into(),
            uid: 7,
            privileges: Privileges {
                join: true,
                publish: true,
            },
            iat: now - 100,
            exp: now - 1,
        };
        let expired = sign_claims(&secret(1), &claims).expect("sign");
        assert_eq!(v.verify(Some(&expired), "demo", 7), Err(AuthError::Expired));
        assert_eq!(AuthError::Expired.code(), ErrorCode::TokenExpired);
        claims.exp = now + 100;
        claims.privileges.join = false;
        let no_join = sign_claims(&secret(1), &claims).expect("sign");
        assert_eq!(v.verify(Some(&no_join), "demo", 7), Err(AuthError::NoJoin));
        assert_eq!(AuthError::NoJoin.code(), ErrorCode::InvalidToken);
    }

    #[test]
    fn verify_token_is_the_servers_verifier() {
        let t = issue_token(&secret(1), "demo", 7, Duration::from_secs(60), true).expect("ok");
        assert!(verify_token(&secret(1), &t, "demo", 7).is_ok());
        assert_eq!(
            verify_token(&secret(2), &t, "demo", 7),
            Err(AuthError::BadSignature)
        );
        assert!(matches!(
            verify_token(&secret(1), "", "demo", 7),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn open_mode_grants_everything() {
        let g = Authenticator::new(&AuthMode::Open)
            .verify(Some("ignored"), "x", 1)
            .expect("open");
        assert!(g.privileges.publish && g.expires_in.is_none());
    }

    #[test]
    fn issuing_validates_inputs() {
        let s = secret(1);
        assert!(issue_token(&s, "bad name", 1, Duration::from_secs(1), true).is_err());
        assert!(issue_token(&s, "ok", 0, Duration::from_secs(1), true).is_err());
    }
}
