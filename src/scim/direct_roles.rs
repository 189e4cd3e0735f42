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
//! nothing; they are never refused (a deactivation that re-sends them must not fail), and one
//! that has since been published as assignable is assigned when a write names `roles` again
//! (Okta confirms an approval with a PUT of the same value).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::USER_SCHEMA;
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

/// What a user write did to `roles`: the values stored before (none for a create) and
/// after, and whether the request itself named `roles`.
pub(super) struct RolesWritten<'a> {
    pub before: &'a BTreeSet<String>,
    pub after: &'a BTreeSet<String>,
    pub named: bool,
}

/// Whether a request body (a resource, or a PatchOp) writes `roles`: a key of the body (bare
/// or under the core URN), or an operation whose path starts with it or whose path-less value
/// holds it.
pub(super) fn names_roles(request: &Value) -> bool {
    fn has_roles(object: &Map<String, Value>) -> bool {
        object.iter().any(|(key, value)| {
            key.eq_ignore_ascii_case("roles")
                || key.eq_ignore_ascii_case(&format!("{USER_SCHEMA}:roles"))
                || (key.eq_ignore_ascii_case(USER_SCHEMA)
                    && value.as_object().is_some_and(has_roles))
        })
    }
    let Some(body) = request.as_object() else {
        return false;
    };
    let operations = body
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, value)| value.as_array());
    let Some(operations) = operations else {
        return has_roles(body);
    };
    operations
        .iter()
        .filter_map(Value::as_object)
        .any(|operation| {
            let field = |name: &str| {
                operation
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value)
            };
            let path = field("path")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or("");
            let bare = path
                .get(..USER_SCHEMA.len() + 1)
                .filter(|prefix| prefix.eq_ignore_ascii_case(&format!("{USER_SCHEMA}:")))
                .map_or(path, |_| &path[USER_SCHEMA.len() + 1..]);
            let head = bare.split(['[', '.']).next().unwrap_or("");
            if bare.is_empty() {
                field("value")
                    .and_then(Value::as_object)
                    .is_some_and(has_roles)
            } else {
                head.eq_ignore_ascii_case("roles")
            }
        })
}

/// Hands the user's roles after a write to the cascade; nothing is done when they did not
/// change and the request did not name them.
pub(super) fn settle(
    service: &ScimService,
    conn: &mut AnyConnection,
    context: &Context,
    user_id: &str,
    written: RolesWritten,
    cause: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ScimError> {
    let RolesWritten {
        before,
        after,
        named,
    } = written;
    if before == after && (!named || after.is_empty()) {
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
    // Stored before roles were published, never assigned: kept as they are, inert, unless
    // the request names `roles` again and the role is now published as assignable.
    let inert: BTreeSet<&String> = before.difference(&held).collect();
    let mut wanted = BTreeSet::new();
    for role in after {
        let kept = held.contains(role) || !inert.contains(role);
        if kept
            || (named
                && crate::store::role_catalog::get(conn, context.tenant_id, role)?
                    .is_some_and(|row| row.assignable))
        {
            wanted.insert(role.clone());
        }
    }
    if wanted == held {
        return Ok(());
    }
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

    #[test]
    fn a_request_names_roles_in_every_form_a_write_can_take() {
        let core = USER_SCHEMA;
        let op = |op: Value| json!({"schemas": [], "Operations": [op]});
        for named in [
            json!({"userName": "a", "Roles": []}),
            json!({core: {"roles": [{"value": "x"}]}}),
            op(json!({"op": "add", "path": "roles", "value": [{"value": "x"}]})),
            op(json!({"op": "remove", "path": "roles[value eq \"x\"]"})),
            op(json!({"op": "replace", "path": format!("{core}:roles"), "value": []})),
            op(json!({"op": "replace", "path": " ", "value": {"roles": []}})),
            op(json!({"op": "replace", "value": {core: {"roles": []}}})),
        ] {
            assert!(names_roles(&named), "{named}");
        }
        for not_named in [
            json!({"userName": "a"}),
            op(json!({"op": "replace", "path": "title", "value": "roles"})),
            op(json!({"op": "replace", "path": "rolesX", "value": 1})),
            op(json!({"op": "replace", "value": {"title": "x"}})),
        ] {
            assert!(!names_roles(&not_named), "{not_named}");
        }
    }
}
