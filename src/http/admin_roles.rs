//! The admin API of published roles (`/admin/v1/roles`): the catalog the identity provider
//! reads at `/Roles`, with who holds each role directly; an admin describes a role (display
//! name, description, whether the identity provider may assign it, its entitlements) or
//! forgets its description. Admin credentials only, scoped to the credential's tenant.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::admin::origin;
use super::auth::AdminCaller;
use super::error::ApiError;
use super::routing::Api;
use super::{AppState, blocking, parse_body, scim_json};
use crate::access::catalog::{self, Description, PublishedRole};
use crate::scim::ScimError;
use crate::store::StoreError;
use crate::store::role_catalog;

/// Holders listed per role.
const HOLDERS_SHOWN: i64 = 1000;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list_roles, describe_role, forget_role, role_holders))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource("/admin/v1/roles", |r| r.get(list_roles))
        .resource("/admin/v1/roles/{value}", |r| {
            r.put(describe_role).delete(forget_role)
        })
        .resource("/admin/v1/roles/{value}/holders", |r| r.get(role_holders));
}

fn shown(role: &PublishedRole, direct_holders: i64) -> Value {
    json!({
        "value": role.value, "display_name": role.display_name, "description": role.description,
        "assignable": role.assignable, "entitlements": role.entitlements,
        "mapped": role.mapped, "described": role.described, "direct_holders": direct_holders,
    })
}

/// `GET /admin/v1/roles`
#[utoipa::path(get, path = "/admin/v1/roles", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Published roles: described ones and those mappings name, with how many users hold each directly", body = ref("#/components/schemas/PublishedRoles"), content_type = "application/scim+json")))]
async fn list_roles(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let roles = blocking(move || {
        Ok(store.read(|conn| {
            let published = catalog::published(conn, &caller.tenant_id)?;
            let mut roles = Vec::with_capacity(published.len());
            for role in published.values() {
                let (_, held) = role_catalog::holders(conn, &caller.tenant_id, &role.value, 0)?;
                roles.push(shown(role, held));
            }
            Ok::<_, StoreError>(roles)
        })?)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &json!({"roles": roles})))
}

/// `PUT /admin/v1/roles/{value}` with `{"display_name", "description", "assignable",
/// "entitlements"}`: describes the role (creates its catalog entry or replaces it).
#[utoipa::path(put, path = "/admin/v1/roles/{value}", tag = "admin", security(("bearer" = [])),
    params(("value" = String, Path, description = "The role's name (its id at /Roles)")),
    request_body(content = ref("#/components/schemas/RoleDescription"), content_type = "application/json"),
    responses(
        (status = 200, description = "The role as published", body = ref("#/components/schemas/PublishedRole"), content_type = "application/scim+json"),
        (status = 400, description = "An invalid name, text or entitlement", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn describe_role(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    value: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&request, &body)?;
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ScimError::InvalidValue(format!("`{name}` is a string")).into()),
        }
    };
    let assignable = match body.get("assignable") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(assignable)) => *assignable,
        Some(_) => return Err(ScimError::InvalidValue("`assignable` is a boolean".into()).into()),
    };
    let entitlements = match body.get("entitlements") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|e| e.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ScimError::InvalidValue("`entitlements` is an array of strings".into())
            })?,
        Some(_) => {
            return Err(
                ScimError::InvalidValue("`entitlements` is an array of strings".into()).into(),
            );
        }
    };
    let description = Description {
        display_name: text("display_name")?,
        description: text("description")?,
        assignable,
        entitlements,
    };
    let (actor, info) = origin(&caller, &request);
    let (store, now, value) = (state.store.clone(), state.clock.now(), value.into_inner());
    let role = blocking(move || {
        store
            .write(|conn| {
                let by = (Some(&actor), Some(&info));
                let role =
                    catalog::describe(conn, &caller.tenant_id, &value, description, by, now)?;
                let (_, held) = role_catalog::holders(conn, &caller.tenant_id, &value, 0)?;
                Ok::<_, crate::access::AccessError>(shown(&role, held))
            })
            .map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &role))
}

/// `DELETE /admin/v1/roles/{value}`: 204; refused while users hold it directly.
#[utoipa::path(delete, path = "/admin/v1/roles/{value}", tag = "admin", security(("bearer" = [])),
    params(("value" = String, Path)),
    responses(
        (status = 204, description = "The description is gone (a role a mapping names stays published, not assignable)"),
        (status = 400, description = "Users hold it directly: the identity provider removes it first", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        (status = 404, description = "No described role of this name", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn forget_role(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    value: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (actor, info) = origin(&caller, &request);
    let (store, now, value) = (state.store.clone(), state.clock.now(), value.into_inner());
    blocking(move || {
        store
            .write(|conn| {
                let by = (Some(&actor), Some(&info));
                catalog::forget(conn, &caller.tenant_id, &value, by, now)
            })
            .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/roles/{value}/holders`: who holds the role directly (the first 1,000).
#[utoipa::path(get, path = "/admin/v1/roles/{value}/holders", tag = "admin", security(("bearer" = [])),
    params(("value" = String, Path)),
    responses((status = 200, description = "Users holding the role directly: by whom and when it was assigned", body = ref("#/components/schemas/RoleHolders"), content_type = "application/scim+json")))]
async fn role_holders(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    value: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (store, value) = (state.store.clone(), value.into_inner());
    let (rows, total) = blocking(move || {
        Ok(store
            .read(|conn| role_catalog::holders(conn, &caller.tenant_id, &value, HOLDERS_SHOWN))?)
    })
    .await?;
    let holders: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({"user_id": row.user_id, "assigned_by": row.assigned_by,
                   "assigned_at": crate::store::from_stored(row.assigned_at), "cause": row.cause})
        })
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &json!({"holders": holders, "total": total}),
    ))
}
