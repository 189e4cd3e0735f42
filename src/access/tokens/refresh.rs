//! Refresh: a one-time refresh token buys new tokens; a reused one ends its session.

use super::*;

impl AccessService {
    /// Refresh (RFC 6749 §6) with rotation: each refresh token works once. A used token
    /// presented again ends its whole session, unless it is a retry within the retry window
    /// whose successor was never used (the response was lost).
    pub fn refresh(&self, caller: &Caller, presented: &str) -> Result<TokenResponse, AccessError> {
        let now = self.clock.now();
        let hash = credentials::digest(presented);
        let invalid = || AccessError::InvalidGrant("the refresh token is not valid".into());
        let ended = || AccessError::EndedGrant("the refresh token is not valid".into());
        // The closure commits what it did (a session ended on reuse) and returns the verdict.
        self.store.write(
            |conn| -> Result<Result<TokenResponse, AccessError>, AccessError> {
                let Some((token, session)) = rows::refresh_token_for_update(conn, &hash)? else {
                    return Ok(Err(invalid()));
                };
                if session.client_id != caller.client_id || session.tenant_id != caller.tenant_id {
                    return Ok(Err(invalid()));
                }
                let flag = |conn: &mut Write, kind: FlagKind, why: &str| {
                    let details = json!({"session": session.id, "user_id": session.user_id, "why": why, "client_id": caller.client_id});
                    flags::raise(conn, &session.tenant_id, kind, &session.id, details, now)
                };
                match self.session_state(&session, now) {
                    SessionState::Live => {}
                    SessionState::Ended => {
                        flag(conn, FlagKind::RevokedTokenPresented, "refresh of an ended session")?;
                        return Ok(Err(ended()));
                    }
                    SessionState::Expired(reason) => {
                        end_one(conn, &session, reason, None, Origin::default(), now)?;
                        flag(conn, FlagKind::RevokedTokenPresented, "refresh of an expired session")?;
                        return Ok(Err(ended()));
                    }
                }
                if let Some(consumed) = token.consumed {
                    let successor_unused = match &token.successor {
                        Some(successor) => rows::refresh_token(conn, successor)?
                            .is_some_and(|s| s.consumed.is_none()),
                        None => false,
                    };
                    let retry = successor_unused
                        && from_stored(consumed) + self.settings.refresh_retry_window >= now;
                    if !retry {
                        let actor = actor_of(caller);
                        let origin = Origin {
                            actor: Some(&actor),
                            request: None,
                        };
                        end_one(conn, &session, EndReason::RefreshReuse, None, origin, now)?;
                        flag(conn, FlagKind::RefreshTokenReuse, "a used refresh token presented again")?;
                        return Ok(Err(AccessError::EndedGrant(
                            "the refresh token was already used: its session is revoked".into(),
                        )));
                    }
                    // The unused successor is replaced by the token issued now.
                    if let Some(successor) = &token.successor {
                        rows::consume_refresh_token(conn, successor, to_stored(now), "superseded")?;
                    }
                }
                let Some(user) =
                    user_rows::get_for_update(conn, &session.tenant_id, &session.user_id)?
                else {
                    end_one(
                        conn,
                        &session,
                        EndReason::UserDeleted,
                        None,
                        Origin::default(),
                        now,
                    )?;
                    flag(conn, FlagKind::TokenForInactiveUser, "the user is deleted")?;
                    return Ok(Err(ended()));
                };
                if !user.active {
                    end_one(
                        conn,
                        &session,
                        EndReason::UserDeactivated,
                        None,
                        Origin::default(),
                        now,
                    )?;
                    flag(conn, FlagKind::TokenForInactiveUser, "the user is inactive")?;
                    return Ok(Err(ended()));
                }
                let roles = current_roles(conn, &session.tenant_id, &user.id)?;
                let policy = self
                    .settings
                    .policies
                    .for_session(&session.tenant_id, &roles);
                // A stricter policy (a new role) can shorten a session; nothing lengthens one.
                let expires = session
                    .expires
                    .min(to_stored(from_stored(session.created) + policy.session));
                let renewal = SessionRenewal {
                    roles: roles_json(&roles),
                    expires,
                    idle_seconds: policy.idle.num_seconds(),
                    access_seconds: policy.access_token.num_seconds(),
                    last_used: to_stored(now),
                    idle_expires: to_stored(now + policy.idle),
                };
                rows::renew(conn, &session.id, &renewal)?;
                let refresh_token = new_refresh_token(conn, &session.id, now)?;
                rows::consume_refresh_token(
                    conn,
                    &hash,
                    to_stored(now),
                    &credentials::digest(&refresh_token),
                )?;
                count_issued(conn, &session.tenant_id, "refresh_token");
                let renewed = SessionRow {
                    roles: renewal.roles.clone(),
                    expires,
                    access_seconds: renewal.access_seconds,
                    ..session
                };
                Ok(Ok(self.access_token(
                    &renewed,
                    &roles,
                    refresh_token,
                    now,
                )?))
            },
        )?
    }
}
