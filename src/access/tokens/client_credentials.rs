//! The client credentials grant (RFC 6749 §4.4), for Scimitar's own Shared Signals stream
//! management: an app client trades its id and secret for a short-lived access token scoped
//! `ssf.read` and/or `ssf.manage`, as the CAEP interoperability profile asks of transmitters
//! (a receiver certified against it manages its stream with such a token). The token names
//! no user: its `aud` is the transmitter (`{issuer}/ssf`) and it carries `scope` and no
//! session, so it can stand in for no user's access token, and no user's token for it.

use super::*;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// Read streams, their status and subjects.
pub const SCOPE_SSF_READ: &str = "ssf.read";
/// Create, change and delete streams (and read them).
pub const SCOPE_SSF_MANAGE: &str = "ssf.manage";
/// How long a management token lives (the profile asks for at most an hour).
const LIFETIME: Duration = Duration::minutes(10);

/// The claims of a stream-management token (RFC 9068 with `scope`, no `sid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagementClaims {
    pub iss: String,
    /// The app client.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub tid: String,
    pub scope: String,
}

impl ManagementClaims {
    /// Whether the token may manage streams (`ssf.manage`), or only read them.
    pub fn may_manage(&self) -> bool {
        self.scope.split(' ').any(|s| s == SCOPE_SSF_MANAGE)
    }
}

/// A client credentials token response (RFC 6749 §5.1): no refresh token.
#[derive(Debug, Clone, Serialize)]
pub struct ClientTokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

impl AccessService {
    /// The audience of stream-management tokens: the transmitter.
    pub fn management_audience(&self) -> String {
        format!("{}/ssf", self.settings.issuer.trim_end_matches('/'))
    }

    /// A stream-management token for `caller` with the scopes asked for (both when `scope`
    /// is absent); any other scope is `invalid_scope`.
    pub fn client_credentials(
        &self,
        caller: &Caller,
        scope: Option<&str>,
    ) -> Result<ClientTokenResponse, AccessError> {
        let asked: BTreeSet<&str> = scope
            .unwrap_or("ssf.read ssf.manage")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(unknown) = asked
            .iter()
            .find(|s| ![SCOPE_SSF_READ, SCOPE_SSF_MANAGE].contains(s))
        {
            return Err(AccessError::InvalidScope(format!(
                "scope `{unknown}` is not offered: ask for ssf.read and/or ssf.manage"
            )));
        }
        if asked.is_empty() {
            return Err(AccessError::InvalidScope("the scope is empty".into()));
        }
        let now = self.clock.now();
        let scope = asked.into_iter().collect::<Vec<_>>().join(" ");
        let claims = ManagementClaims {
            iss: self.settings.issuer.clone(),
            sub: caller.client_id.clone(),
            aud: self.management_audience(),
            exp: (now + LIFETIME).timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: caller.client_id.clone(),
            tid: caller.tenant_id.clone(),
            scope: scope.clone(),
        };
        // No transaction: a management token is signed, not stored.
        super::issued_metric(&caller.tenant_id, GRANT_CLIENT_CREDENTIALS);
        Ok(ClientTokenResponse {
            access_token: self.keys.sign(ACCESS_TOKEN_TYP, &claims, now)?,
            token_type: "Bearer",
            expires_in: LIFETIME.num_seconds(),
            scope,
        })
    }

    /// The claims of a valid, unexpired stream-management token, and the app client it was
    /// issued to, if that credential is still active (a revoked client's tokens stop at once).
    pub fn management_caller(
        &self,
        token: &str,
    ) -> Result<Option<(Caller, ManagementClaims)>, AccessError> {
        if let Err(error) = self.keys.refresh_if_stale(&self.store, self.clock.now()) {
            tracing::warn!(%error, "could not reload the signing keys");
        }
        let Some(claims) =
            self.keys
                .verify::<ManagementClaims>(token, ACCESS_TOKEN_TYP, &self.settings.issuer)
        else {
            return Ok(None);
        };
        let now = self.clock.now().timestamp();
        if claims.aud != self.management_audience() || claims.exp <= now || claims.nbf > now + 60 {
            return Ok(None);
        }
        // One indexed read: management calls are few, and a revocation holds on every replica.
        if self
            .store
            .read(|conn| rows::is_token_revoked(conn, &claims.jti))?
        {
            return Ok(None);
        }
        let caller = credentials::active_caller(&self.store, &claims.client_id)?
            .filter(|c| c.tenant_id == claims.tid && c.kind == credentials::CredentialKind::App);
        Ok(caller.map(|caller| (caller, claims)))
    }
}

impl AccessService {
    /// RFC 7009 for a stream-management token: its `jti` is refused from now on, on every
    /// replica, until it would have expired anyway. `Ok(false)`: `token` is no such token.
    pub(super) fn revoke_management_token(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<bool, AccessError> {
        let Some(claims) =
            self.keys
                .verify::<ManagementClaims>(token, ACCESS_TOKEN_TYP, &self.settings.issuer)
        else {
            return Ok(false);
        };
        if claims.tid != caller.tenant_id {
            return Ok(true);
        }
        if claims.client_id != caller.client_id {
            return Err(AccessError::UnauthorizedClient(
                "the token was issued to another client".into(),
            ));
        }
        let now = self.clock.now();
        let expires = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
        let actor = actor_of(caller);
        self.store.write(|conn| {
            if !rows::revoke_token(conn, &claims.jti, &claims.tid, "", to_stored(expires), to_stored(now))? {
                return Ok(());
            }
            let event = Event {
                actor: Some(&actor),
                resource_type: Some("AccessToken"),
                resource_id: Some(claims.jti.clone()),
                ..Event::new(
                    "token.revoke",
                    json!({"client_id": claims.client_id, "scope": claims.scope, "grant": GRANT_CLIENT_CREDENTIALS}),
                )
            };
            audit::record(conn, &claims.tid, now, event).map(|_| ())
        })?;
        Ok(true)
    }
}
