//! A user's `roles`, as the identity provider writes them, are the roles it assigns directly
//! (`access::catalog`): after every user write, the roles the user now carries are handed to
//! the cascade, which refuses a newly assigned role that is not published as assignable (the
//! whole write then fails, 400 `invalidValue`) and ends the sessions that carried a role lost.
//!
//! A tenant takes roles from the identity provider once it publishes a role as assignable;
//! before that, `roles` are plain attributes that grant nothing, as they always were.
//!
//! Values are read liberally: `roles[].value`, or a plain string; Entra's app-role mappings send
//! the value as a JSON string (`{"id":…,"value":"Admin","displayName":…}`), whose `value` is
//! taken. Values that were stored before roles were published (`inert`) stay stored and grant
//! nothing; they are neither refused nor assigned until the identity provider writes them anew.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::service::{Context, ScimService};
use crate::store::AnyConnection;

/// The role values of a user's attributes.
pub(super) fn roles_of(attributes: &Map<String, Value>) -> BTreeSet<String> {
    let Some(Value::Array(items)) = attributes
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("roles"))
        .map(|(_, v)| v)
    else {
        return BTreeSet::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(value) => Some(value.clone()),
            Value::Object(item) => item
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                .and_then(|(_, v)| v.as_str())
                .map(String::from),
            _ => None,
        })
        .map(|value| entra_role_value(&value).unwrap_or(value))
        .filter(|value| !value.is_empty())
        .collect()
}

/// Entra's `{"id":…,"value":"Admin","displayName":…}` sent as a string: its `value`.
fn entra_role_value(value: &str) -> Option<String> {
    if !value.trim_start().starts_with('{') {
        return None;
    }
    let parsed: Value = serde_json::from_str(value).ok()?;
    parsed.get("value")?.as_str().map(String::from)
}

/// Hands the user's roles after a write to the cascade. `before`: the roles stored before
/// the write (none for a create); nothing is done when they did not change.
pub(super) fn settle(
    service: &ScimService,
    conn: &mut AnyConnection,
    context: &Context,
    user_id: &str,
    (before, after): (&BTreeSet<String>, &BTreeSet<String>),
    cause: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ScimError> {
    if before == after {
        return Ok(());
    }
    let held: BTreeSet<String> =
        crate::access::catalog::direct_of(conn, context.tenant_id, user_id)?
            .into_iter()
            .map(|grant| grant.role)
            .collect();
    // A tenant that publishes no assignable role takes no roles from the identity provider:
    // `roles` stay plain attributes (an IdP pushing app roles for information keeps working).
    // A user who holds direct roles always has their removal applied.
    if held.is_empty() && !crate::store::role_catalog::any_assignable(conn, context.tenant_id)? {
        return Ok(());
    }
    // Stored before roles were published, never assigned: kept as they are, inert.
    let inert: BTreeSet<&String> = before.difference(&held).collect();
    let wanted: BTreeSet<String> = after
        .iter()
        .filter(|role| held.contains(*role) || !inert.contains(role))
        .cloned()
        .collect();
    let fact = context.fact(cause, now);
    let set =
        service
            .cascade
            .direct_roles(conn, &fact, user_id, &wanted, &context.actor.client_id)?;
    set.map(|_| ()).map_err(|refused| {
        ScimError::InvalidValue(format!(
            "roles {} are not published as assignable (GET /Roles lists those that are)",
            refused
                .0
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_values_are_read_in_every_shape_identity_providers_send() {
        let attributes = json!({"roles": [
            {"value": "admin", "display": "Admin"},
            {"VALUE": "auditor"},
            "plain",
            {"value": "{\"id\":\"06b07648\",\"value\":\"Reader\",\"displayName\":\"Reader\"}"},
            {"display": "no value"},
            {"value": ""},
            7
        ]});
        let roles = roles_of(attributes.as_object().unwrap_or(&Map::new()));
        let expected: BTreeSet<String> = ["admin", "auditor", "plain", "Reader"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(roles, expected);
        assert!(roles_of(json!({"Roles": "x"}).as_object().unwrap_or(&Map::new())).is_empty());
    }
}
