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
use super::evaluate::field;
use super::filter::parse_path;
use super::schema::USER_SCHEMA;
use super::service::{Context, ScimService};
use crate::store::Write;

/// The role values of a user's stored attributes (a list, as normalization keeps it).
pub(super) fn roles_of(attributes: &Map<String, Value>) -> BTreeSet<String> {
    attributes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("roles"))
        .filter(|(_, roles)| roles.is_array())
        .map_or_else(BTreeSet::new, |(_, roles)| role_values(roles))
}

/// The values of a `roles` value: a list or a single item, each an object with `value` or a
/// plain string, Entra's JSON text read for its inner `value`.
fn role_values(roles: &Value) -> BTreeSet<String> {
    let items = match roles {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::String(value) => Some(value.clone()),
            Value::Object(_) => field(item, "value")
                .and_then(Value::as_str)
                .map(String::from),
            _ => None,
        })
        .map(|value| entra_role_value(&value).unwrap_or(value))
        .filter(|value| !value.is_empty())
        .collect()
}

/// Entra's `{"id":…,"value":"Admin","displayName":…}` sent as a string: its `value`.
pub(super) fn entra_role_value(value: &str) -> Option<String> {
    if !value.trim_start().starts_with('{') {
        return None;
    }
    let parsed: Value = serde_json::from_str(value).ok()?;
    parsed.get("value")?.as_str().map(String::from)
}

/// What a user write did to `roles`: the values stored before (none for a create) and
/// after, the values the request itself wrote (`add`, `replace`, a PUT's or POST's body;
/// not a `remove`), and whether the user is active after it.
pub(super) struct RolesWritten<'a> {
    pub before: &'a BTreeSet<String>,
    pub after: &'a BTreeSet<String>,
    pub named: BTreeSet<String>,
    pub active_after: bool,
}

/// The role values a request body writes: a resource's `roles` (bare or under the core URN),
/// or a PatchOp's `add` and `replace` values for `roles` (by path, qualified or not, or in a
/// path-less or blank-path value). A `remove` writes none.
pub(super) fn named_role_values(request: &Value) -> BTreeSet<String> {
    fn of_resource(object: &Value) -> BTreeSet<String> {
        let core = field(object, USER_SCHEMA);
        let qualified = format!("{USER_SCHEMA}:roles");
        [
            field(object, "roles"),
            core.and_then(|core| field(core, "roles")),
            field(object, &qualified),
        ]
        .into_iter()
        .flatten()
        .flat_map(role_values)
        .collect()
    }
    let Some(operations) = field(request, "Operations").and_then(Value::as_array) else {
        return of_resource(request);
    };
    let mut values = BTreeSet::new();
    for operation in operations {
        let op = field(operation, "op").and_then(Value::as_str).unwrap_or("");
        if !op.eq_ignore_ascii_case("add") && !op.eq_ignore_ascii_case("replace") {
            continue;
        }
        let Some(value) = field(operation, "value") else {
            continue;
        };
        let path = field(operation, "path")
            .and_then(Value::as_str)
            .map(str::trim);
        match path.filter(|p| !p.is_empty()) {
            None => values.extend(of_resource(value)),
            // `roles` as a whole, bare or behind the core URN, read as PATCH reads a path.
            Some(path) => {
                let whole_roles = parse_path(path).is_ok_and(|p| {
                    p.name.eq_ignore_ascii_case("roles")
                        && p.filter.is_none()
                        && p.sub.is_none()
                        && p.uri
                            .as_deref()
                            .is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA))
                });
                if whole_roles {
                    values.extend(role_values(value));
                }
            }
        }
    }
    values
}

/// Hands the user's roles after a write to the cascade; nothing is done when they did not
/// change and the request did not name them.
pub(super) fn settle(
    service: &ScimService,
    conn: &mut Write,
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
        active_after,
    } = written;
    if before == after && named.is_empty() {
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
    // this request writes the value again and the role is now published as assignable.
    let inert: BTreeSet<&String> = before.difference(&held).collect();
    let mut wanted = BTreeSet::new();
    for role in after {
        let kept = held.contains(role) || !inert.contains(role);
        if kept
            || (named.contains(role)
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
    let cascade = &service.cascade;
    let assigned_by = &context.actor.client_id;
    let refused = match cascade.direct_roles(conn, &fact, user_id, &wanted, assigned_by)? {
        Ok(_) => return Ok(()),
        Err(refused) => refused.0,
    };
    if !active_after {
        // A write that leaves the user inactive (a deactivation) is never refused for its
        // roles: offboarding must not wait on a role value. What is not assignable is not
        // assigned; removals apply.
        let assignable: BTreeSet<String> = wanted
            .into_iter()
            .filter(|r| !refused.contains(r))
            .collect();
        return match cascade.direct_roles(conn, &fact, user_id, &assignable, assigned_by)? {
            Ok(_) => Ok(()),
            Err(_) => Err(ScimError::Internal),
        };
    }
    Err(ScimError::InvalidValue(format!(
        "roles {} are not published as assignable (GET /Roles lists those that are)",
        refused
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
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
    fn the_role_values_a_request_writes_in_every_form() {
        let core = USER_SCHEMA;
        let op = |op: Value| json!({"schemas": [], "Operations": [op]});
        let set = |values: &[&str]| {
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<BTreeSet<_>>()
        };
        let cases = [
            (
                json!({"userName": "a", "Roles": [{"value": "x"}]}),
                set(&["x"]),
            ),
            (json!({core: {"roles": [{"value": "x"}]}}), set(&["x"])),
            (
                op(json!({"op": "add", "path": "roles", "value": [{"value": "x"}]})),
                set(&["x"]),
            ),
            (
                op(
                    json!({"op": "Replace", "path": format!("{core}:roles"), "value": {"value": "y"}}),
                ),
                set(&["y"]),
            ),
            (
                op(json!({"op": "replace", "path": " ", "value": {"roles": ["z"]}})),
                set(&["z"]),
            ),
            (
                op(json!({"op": "replace", "value": {core: {"roles": [{"value": "w"}]}}})),
                set(&["w"]),
            ),
            (
                op(json!({"op": "remove", "path": "roles[value eq \"x\"]"})),
                set(&[]),
            ),
            (
                op(json!({"op": "add", "path": "roles", "value": []})),
                set(&[]),
            ),
            (
                op(json!({"op": "replace", "path": "title", "value": "roles"})),
                set(&[]),
            ),
            (json!({"userName": "a"}), set(&[])),
        ];
        for (request, expected) in cases {
            assert_eq!(named_role_values(&request), expected, "{request}");
        }
    }
}
