//! Why a token was refused: one typed reason per check, so an app can log and count them.

/// Why `check` refused a token (or `Guard::start` could not begin).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `Authorization: Bearer …` header (middleware only).
    #[error("no bearer token")]
    Missing,
    /// Not a JWT, or claims missing or of the wrong shape.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header's `typ` is not `at+jwt`: an ID token or another JWT, not an access token.
    #[error("not an access token (typ {0:?})")]
    WrongType(Option<String>),
    /// The header names an algorithm other than EdDSA.
    #[error("algorithm {0} is not accepted")]
    WrongAlgorithm(String),
    /// The `kid` is not published, even after a JWKS refresh (or within its cooldown).
    #[error("unknown signing key {0:?}")]
    UnknownKey(Option<String>),
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not valid yet")]
    NotYetValid,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    /// The token's session (`sid`) was revoked.
    #[error("session revoked")]
    RevokedSession,
    /// The token itself (`jti`) was revoked.
    #[error("token revoked")]
    RevokedToken,
    /// The token was issued before its user's `not_before` (deactivated or deleted).
    #[error("user's tokens issued before {0} are revoked")]
    UserNotBefore(chrono::DateTime<chrono::Utc>),
    /// The revocation view is stale (no event or heartbeat within the bound) and the guard
    /// is configured to refuse rather than introspect.
    #[error("revocation view stale for {0:?}")]
    Stale(Option<std::time::Duration>),
    /// Introspection (the fallback while stale) says the token is not active.
    #[error("token not active (introspection)")]
    Inactive,
    /// Scimitar could not be reached or answered unexpectedly (JWKS, feed or introspection).
    #[error("token authority unavailable: {0}")]
    Unavailable(String),
}

impl Rejection {
    /// A short, stable name for logs and metrics (`expired`, `revoked_session`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::WrongType(_) => "wrong_type",
            Self::WrongAlgorithm(_) => "wrong_algorithm",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::RevokedSession => "revoked_session",
            Self::RevokedToken => "revoked_token",
            Self::UserNotBefore(_) => "user_not_before",
            Self::Stale(_) => "stale_view",
            Self::Inactive => "inactive",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The `WWW-Authenticate` value for a 401 (RFC 6750 §3): every refusal of a presented
    /// token is `invalid_token`; a missing one gets the bare challenge.
    pub fn challenge(&self) -> String {
        match self {
            Self::Missing => "Bearer".into(),
            other => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                other.code()
            ),
        }
    }
}
