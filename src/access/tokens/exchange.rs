//! Token exchange (RFC 8693): a new session for the user an identity provider's token names.

use super::*;

impl AccessService {
    /// Token exchange (RFC 8693): a session for the user the subject token names.
    pub fn exchange(
        &self,
        caller: &Caller,
        exchange: &Exchange,
    ) -> Result<TokenResponse, AccessError> {
        let now = self.clock.now();
        let audience = self.audience_for(caller, exchange.audience.as_deref())?;
        let user_id = match exchange.subject_token_type.as_str() {
            TOKEN_TYPE_ID_TOKEN => {
                let issuer = self
                    .settings
                    .trusted_issuers
                    .get(&caller.tenant_id)
                    .ok_or_else(|| {
                        AccessError::InvalidRequest(
                            "this tenant has no trusted ID-token issuer configured".into(),
                        )
                    })?;
                let value = issuer.verify(&exchange.subject_token, now)?;
                // The IdP vouches for this person: if they are not provisioned here, they
                // were deprovisioned (or never assigned), the outcome of the IdP's own act,
                // not the client's fault, so it is never counted against the client.
                self.find_user(&caller.tenant_id, issuer.user_attribute, &value)
                    .map_err(|error| match error {
                        AccessError::InvalidGrant(why) => AccessError::EndedGrant(why),
                        other => other,
                    })?
            }
            TOKEN_TYPE_SCIM_USER if caller.trusted => {
                self.find_user_by_id_or_name(&caller.tenant_id, &exchange.subject_token)?
            }
            TOKEN_TYPE_SCIM_USER => {
                return Err(AccessError::UnauthorizedClient(
                    "only trusted app clients may name users directly".into(),
                ));
            }
            other => {
                return Err(AccessError::InvalidRequest(format!(
                    "subject_token_type `{other}` is not supported"
                )));
            }
        };
        let actor = actor_of(caller);
        self.store.write(|conn| {
            let user = live_user(conn, &caller.tenant_id, &user_id)?;
            let roles = current_roles(conn, &caller.tenant_id, &user.id)?;
            let policy = self.settings.policies.for_session(&caller.tenant_id, &roles);
            let session = SessionRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: caller.tenant_id.clone(),
                user_id: user.id.clone(),
                client_id: caller.client_id.clone(),
                audience,
                roles: roles_json(&roles),
                created: to_stored(now),
                expires: to_stored(now + policy.session),
                idle_seconds: policy.idle.num_seconds(),
                access_seconds: policy.access_token.num_seconds(),
                last_used: to_stored(now),
                idle_expires: to_stored(now + policy.idle),
                ended: None,
                end_reason: None,
            };
            rows::insert(conn, &session)?;
            let refresh_token = new_refresh_token(conn, &session.id, now)?;
            let event = Event {
                actor: Some(&actor),
                resource_type: Some("Session"),
                resource_id: Some(session.id.clone()),
                ..Event::new(
                    "session.start",
                    json!({"user_id": user.id, "client_id": caller.client_id, "roles": roles, "grant": exchange.subject_token_type, "expires": from_stored(session.expires)}),
                )
            };
            audit::record(conn, &caller.tenant_id, now, event)?;
            count_issued(conn, &caller.tenant_id, "token_exchange");
            let mut response = self.access_token(&session, &roles, refresh_token, now)?;
            response.issued_token_type = Some(TOKEN_TYPE_ACCESS_TOKEN);
            Ok(response)
        })
    }
}
