//! The claims of a Scimitar access token (RFC 9068, plus `sid`, `tid` and `roles`).

use serde::{Deserialize, Serialize};

/// What a verified access token says. Apps read `sub` (the user's SCIM id) and `roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user's SCIM id.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// The session (refresh-token family) the token belongs to.
    pub sid: String,
    /// The tenant.
    pub tid: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Claims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
