//! Revocation: a single token (RFC 7009), every session of a user (the kill switch).

use super::*;
use crate::access::provisioning::{self, Fact};

impl AccessService {
    /// Revocation (RFC 7009). A refresh token or an access token ends its session, and with
    /// it every token of the session, so every channel hears `session.revoked`. Unknown tokens are not an
    /// error; a store that cannot record the revocation is (never a false success).
    pub fn revoke(
        &self,
        caller: &Caller,
        token: &str,
        hint: Option<&str>,
    ) -> Result<(), AccessError> {
        if let Some(hint) = hint
            && !matches!(hint, "access_token" | "refresh_token")
        {
            return Err(AccessError::UnsupportedTokenType(format!(
                "token_type_hint `{hint}` is not supported"
            )));
        }
        let now = self.clock.now();
        let actor = actor_of(caller);
        let not_yours =
            || AccessError::UnauthorizedClient("the token was issued to another client".into());
        if let Some(claims) = self.verify_access_token(token) {
            if claims.tid != caller.tenant_id {
                return Ok(());
            }
            if claims.client_id != caller.client_id {
                return Err(not_yours());
            }
            let expires = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
            // The token is revoked, and with it its session (RFC 7009 §2.1 allows it): CAEP
            // has no event for one access token, and a revocation that every channel (the
            // feed, the stream, Shared Signals) hears must be a session's.
            return self.store.write(|conn| {
                if !rows::revoke_token(conn, &claims.jti, &claims.tid, &claims.sid, to_stored(expires), to_stored(now))? {
                    return Ok(());
                }
                let event = Event {
                    actor: Some(&actor),
                    resource_type: Some("AccessToken"),
                    resource_id: Some(claims.jti.clone()),
                    ..Event::new("token.revoke", json!({"session": claims.sid, "user_id": claims.sub, "client_id": claims.client_id, "reason": EndReason::RevokedByClient.as_str()}))
                };
                let cause = audit::record(conn, &claims.tid, now, event)?;
                if let Some(session) = rows::get(conn, &claims.sid)?.filter(|s| s.ended.is_none()) {
                    let origin = Origin {
                        actor: Some(&actor),
                        request: None,
                    };
                    end_one(conn, &session, EndReason::RevokedByClient, Some(&cause), origin, now)?;
                }
                let tenant = claims.tid.clone();
                conn.after_commit(move || {
                    crate::metrics::inc("scimitar_access_tokens_revoked_total", &[("tenant", &tenant)]);
                });
                Ok(())
            });
        }
        if self.revoke_management_token(caller, token)? {
            return Ok(());
        }
        let hash = credentials::digest(token);
        self.store.write(|conn| {
            let Some((_, session)) = rows::refresh_token_for_update(conn, &hash)? else {
                return Ok(());
            };
            if session.tenant_id != caller.tenant_id {
                return Ok(());
            }
            if session.client_id != caller.client_id {
                return Err(not_yours());
            }
            if session.ended.is_none() {
                let origin = Origin {
                    actor: Some(&actor),
                    request: None,
                };
                end_one(
                    conn,
                    &session,
                    EndReason::RevokedByClient,
                    None,
                    origin,
                    now,
                )?;
            }
            Ok(())
        })
    }

    /// The kill switch: ends every session of a user now.
    pub fn revoke_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        actor: Option<&Actor>,
        request: Option<&RequestInfo>,
    ) -> Result<Vec<String>, AccessError> {
        revoke_user(
            &self.store,
            self.clock.now(),
            tenant_id,
            user_id,
            actor,
            request,
        )
    }
}

/// The kill switch: ends every session of a user (named by id or userName) now, with an
/// audit record that the revocations point to. Returns the sessions ended.
pub fn revoke_user(
    store: &Store,
    now: DateTime<Utc>,
    tenant_id: &str,
    user: &str,
    actor: Option<&Actor>,
    request: Option<&RequestInfo>,
) -> Result<Vec<String>, AccessError> {
    store.write(|conn| {
        let found = match user_rows::get_for_update(conn, tenant_id, user)? {
            Some(found) => Some(found),
            None => user_rows::find_by(conn, tenant_id, UserColumn::UserNameKey, &fold(user))?
                .into_iter()
                .next(),
        };
        let user = found.ok_or_else(|| AccessError::NotFound(format!("no user `{user}`")))?;
        let event = Event {
            actor,
            request,
            resource_type: Some("User"),
            resource_id: Some(user.id.clone()),
            ..Event::new("user.revoke_access", json!({"active": user.active}))
        };
        let cause = audit::record(conn, tenant_id, now, event)?;
        let fact = Fact {
            tenant_id,
            cause: &cause,
            actor,
            request,
            now,
            received: request.and_then(|r| r.received),
        };
        Ok(provisioning::kill_switch(conn, &fact, &user.id)?.sessions_ended)
    })
}
