//! Explanation: which roles a user holds, granted by which groups and rules or assigned directly
//! by the identity provider, and their
//! live sessions; for an inactive user, that they hold none, since when and by whose request,
//! and the roles a reactivation would give back.

use super::*;

impl AccessService {
    /// A user's roles, each with the groups and rules granting it, and their live sessions.
    pub fn explain(&self, tenant_id: &str, user_id: &str) -> Result<Value, AccessError> {
        let now = self.clock.now();
        self.store.read(|conn| {
            let user = user_rows::get(conn, tenant_id, user_id)?
                .ok_or_else(|| AccessError::NotFound(format!("no user with id `{user_id}`")))?;
            let rules = RoleRules::load(conn, tenant_id)?;
            let groups: Vec<_> = crate::store::roles::groups_of_users(conn, tenant_id, std::slice::from_ref(&user.id))?
                .into_iter()
                .map(|(_, group)| group)
                .collect();
            let mut roles: Vec<RoleGrant> = rules.explain(&groups);
            // A role held both ways is listed once, with every source.
            for direct in crate::access::catalog::direct_of(conn, tenant_id, &user.id)? {
                match roles.iter_mut().find(|r| r.role == direct.role) {
                    Some(grant) => grant.direct = Some(direct),
                    None => roles.push(RoleGrant { role: direct.role.clone(), granted_by: Vec::new(), direct: Some(direct) }),
                }
            }
            roles.sort_by(|a, b| a.role.cmp(&b.role));
            let sessions: Vec<Value> = rows::live_of_user(conn, tenant_id, &user.id)?
                .into_iter()
                .map(|s| json!({
                    "id": s.id,
                    "client_id": s.client_id,
                    "roles": serde_json::from_str::<Value>(&s.roles).unwrap_or(Value::Null),
                    "created": from_stored(s.created),
                    "expires": from_stored(s.expires),
                    "idle_expires": from_stored(s.idle_expires),
                }))
                .collect();
            let policy = self.settings.policies.for_session(tenant_id, &roles.iter().map(|r| r.role.clone()).collect());
            // An inactive user holds no role: the roles listed are those a reactivation
            // would give back; since when and by whose request they are off says why.
            let deactivated = match user.active {
                true => Value::Null,
                false => match crate::access::provisioning::last_deactivation(conn, tenant_id, &user.id, None)? {
                    Some(record) => json!({
                        "at": from_stored(record.occurred),
                        "record": record.id,
                        "by": {"client_id": record.actor_id, "name": record.actor_name},
                        "request_id": record.request_id,
                    }),
                    None => json!({"at": null, "record": null, "by": null, "request_id": null}),
                },
            };
            Ok(json!({
                "user": {"id": user.id, "userName": user.user_name, "active": user.active},
                "has_access": user.active,
                "deactivated": deactivated,
                "roles": roles,
                "groups": groups.iter().map(|g| json!({"id": g.id, "displayName": g.display_name, "externalId": g.external_id})).collect::<Vec<_>>(),
                "policy": {
                    "access_token_seconds": policy.access_token.num_seconds(),
                    "session_seconds": policy.session.num_seconds(),
                    "idle_seconds": policy.idle.num_seconds(),
                },
                "live_sessions": sessions,
                "checked_at": now,
            }))
        })
    }
}
