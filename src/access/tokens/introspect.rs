//! Introspection (RFC 7662): whether a token is active now, judged against its session.

use super::*;

impl AccessService {
    /// Introspection (RFC 7662): the claims of an active token, or `{"active": false}` for a
    /// token that is unknown, expired, revoked, idle, of another tenant, or whose user is
    /// inactive or gone. Marks the token's session used. A revoked or expired token, or one
    /// of an inactive user, is also flagged: someone is still trying to use it.
    pub fn introspect(&self, caller: &Caller, token: &str) -> Result<Value, AccessError> {
        let now = self.clock.now();
        let (answer, flag) = self.judge(caller, token, now)?;
        let active = answer["active"] == json!(true);
        let tenant = caller.tenant_id.clone();
        crate::metrics::inc(
            "scimitar_tokens_introspected_total",
            &[
                ("tenant", &tenant),
                ("active", if active { "true" } else { "false" }),
            ],
        );
        if let Some((kind, subject, details)) = flag {
            self.flag(&caller.tenant_id, kind, &subject, details, now);
        }
        Ok(answer)
    }

    /// The introspection answer, and the flag the presentation deserves, if any.
    fn judge(
        &self,
        caller: &Caller,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Value, Option<Presentation>), AccessError> {
        let inactive = json!({"active": false});
        let presented = |kind: FlagKind, session: &str, user: &str, why: &str| {
            let details = json!({"session": session, "user_id": user, "why": why, "client_id": caller.client_id});
            Some((kind, session.to_string(), details))
        };
        if let Some(claims) = self.verify_access_token(token) {
            if claims.tid != caller.tenant_id {
                return Ok((inactive, None));
            }
            let flag = |why| {
                presented(
                    FlagKind::RevokedTokenPresented,
                    &claims.sid,
                    &claims.sub,
                    why,
                )
            };
            if claims.exp <= now.timestamp() {
                return Ok((inactive, flag("expired")));
            }
            if self
                .store
                .read(|conn| rows::is_token_revoked(conn, &claims.jti))?
            {
                return Ok((inactive, flag("revoked")));
            }
            let Some((session, user_active)) = self
                .store
                .read(|conn| rows::get_with_user_state(conn, &claims.sid))?
            else {
                return Ok((inactive, flag("session purged")));
            };
            if user_active != Some(true) {
                let flag = presented(
                    FlagKind::TokenForInactiveUser,
                    &session.id,
                    &session.user_id,
                    "user inactive or deleted",
                );
                return Ok((inactive, flag));
            }
            if !matches!(self.session_state(&session, now), SessionState::Live) {
                return Ok((inactive, flag("session ended or expired")));
            }
            self.usage.touch(&session.id, now, session.idle_seconds);
            let mut answer = serde_json::to_value(&claims).unwrap_or_else(|_| json!({}));
            answer["active"] = json!(true);
            answer["token_type"] = json!("Bearer");
            answer["scope"] = json!(claims.roles.join(" "));
            return Ok((answer, None));
        }
        let hash = credentials::digest(token);
        let Some(found) = self.store.read(|conn| rows::refresh_token(conn, &hash))? else {
            return Ok((inactive, None));
        };
        let Some((session, user_active)) = self
            .store
            .read(|conn| rows::get_with_user_state(conn, &found.session_id))?
        else {
            return Ok((inactive, None));
        };
        if session.tenant_id != caller.tenant_id {
            return Ok((inactive, None));
        }
        if user_active != Some(true) {
            let flag = presented(
                FlagKind::TokenForInactiveUser,
                &session.id,
                &session.user_id,
                "user inactive or deleted",
            );
            return Ok((inactive, flag));
        }
        if found.consumed.is_some()
            || !matches!(self.session_state(&session, now), SessionState::Live)
        {
            let flag = presented(
                FlagKind::RevokedTokenPresented,
                &session.id,
                &session.user_id,
                "refresh token used, revoked or expired",
            );
            return Ok((inactive, flag));
        }
        self.usage.touch(&session.id, now, session.idle_seconds);
        let roles: Vec<String> = serde_json::from_str(&session.roles).unwrap_or_default();
        Ok((
            json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": session.client_id,
                "sub": session.user_id,
                "sid": session.id,
                "tid": session.tenant_id,
                "iss": self.settings.issuer,
                "exp": from_stored(session.expires).timestamp(),
                "iat": from_stored(found.issued).timestamp(),
                "roles": roles,
            }),
            None,
        ))
    }

    /// Raises a flag outside any other write (introspection is a read), at most once a minute
    /// per kind and subject from this process: repeats are counted, not written each time.
    fn flag(
        &self,
        tenant_id: &str,
        kind: FlagKind,
        subject: &str,
        details: Value,
        now: DateTime<Utc>,
    ) {
        {
            let mut recent = self.recent_flags.lock().unwrap_or_else(|e| e.into_inner());
            let key = (tenant_id.to_string(), kind.as_str(), subject.to_string());
            if recent
                .get(&key)
                .is_some_and(|at| *at + Duration::minutes(1) > now)
            {
                return;
            }
            if recent.len() > 10_000 {
                recent.retain(|_, at| *at + Duration::minutes(1) > now);
            }
            recent.insert(key, now);
        }
        if let Err(error) = self
            .store
            .write(|conn| flags::raise(conn, tenant_id, kind, subject, details, now))
        {
            tracing::warn!(%error, "could not record a flag");
        }
    }
}
