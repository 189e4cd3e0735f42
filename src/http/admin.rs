//! The admin API (`/admin/v1`), for admin credentials only, scoped to the credential's tenant.
//! Reading the audit log, role mappings, a user's access and the kill switch.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::DateTime;
use serde_json::{Value, json};

use super::auth::AdminCaller;
use super::error::ApiError;
use super::routing::Api;
use super::{AppState, blocking, parse_body, scim_json};
use crate::access::credentials::Caller;
use crate::access::roles::{self, ChangedBy, GroupSelector, RoleMapping};
use crate::audit::reading;
use crate::audit::{Actor, RequestInfo};
use crate::scim::ScimError;
use crate::store::audit::AuditQuery;
use crate::store::to_stored;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_audit,
    get_audit,
    list_mappings,
    create_mappings,
    delete_mapping,
    user_access,
    revoke_user,
    list_flags,
    acknowledge_flag
))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource("/admin/v1/audit", |r| r.get(list_audit))
        .resource("/admin/v1/audit/{id}", |r| r.get(get_audit))
        .resource("/admin/v1/role-mappings", |r| {
            r.get(list_mappings).post(create_mappings)
        })
        .resource("/admin/v1/role-mappings/{id}", |r| r.delete(delete_mapping))
        .resource("/admin/v1/users/{id}/access", |r| r.get(user_access))
        .resource("/admin/v1/users/{id}/revoke", |r| r.post(revoke_user))
        .resource("/admin/v1/flags", |r| r.get(list_flags))
        .resource("/admin/v1/flags/{id}/acknowledge", |r| {
            r.post(acknowledge_flag)
        });
}

/// `GET /admin/v1/flags[?all=true]`: open flags (or all), newest first.
#[utoipa::path(get, path = "/admin/v1/flags", tag = "admin", security(("bearer" = [])),
    params(("all" = Option<bool>, Query, description = "`true`: acknowledged flags too")),
    responses((status = 200, description = "Flags, newest first", body = ref("#/components/schemas/Flags"), content_type = "application/scim+json")))]
async fn list_flags(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let all = query.iter().any(|(k, v)| k == "all" && v == "true");
    let store = state.store.clone();
    let flags = blocking(move || {
        Ok(store.read(|conn| crate::store::flags::list(conn, &caller.tenant_id, all, 1000))?)
    })
    .await?;
    let flags: Vec<Value> = flags.iter().map(crate::outbox::flags::to_json).collect();
    Ok(scim_json(StatusCode::OK, &json!({"flags": flags})))
}

/// `POST /admin/v1/flags/{id}/acknowledge`: the flag is closed (a repeat raises a new one).
#[utoipa::path(post, path = "/admin/v1/flags/{id}/acknowledge", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Acknowledged"),
        (status = 404, description = "No open flag with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn acknowledge_flag(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (actor, info) = origin(&caller, &request);
    let store = state.store.clone();
    let now = state.clock.now();
    let acknowledged = blocking(move || {
        Ok(crate::outbox::flags::acknowledge(
            &store,
            &caller.tenant_id,
            &id,
            &actor,
            &info,
            now,
        )?)
    })
    .await?;
    if !acknowledged {
        return Err(ScimError::NotFound("no open flag with this id".into()).into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The admin credential and the request, for audit records.
pub(super) fn origin(caller: &Caller, request: &HttpRequest) -> (Actor, RequestInfo) {
    let actor = Actor {
        client_id: caller.client_id.clone(),
        name: caller.name.clone(),
    };
    (actor, super::request_info(request))
}

/// `GET /admin/v1/role-mappings`
#[utoipa::path(get, path = "/admin/v1/role-mappings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The tenant's role mappings", body = ref("#/components/schemas/RoleMappings"), content_type = "application/scim+json")))]
async fn list_mappings(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let mappings: Vec<RoleMapping> = blocking(move || {
        Ok(store
            .read(|conn| crate::store::roles::list(conn, &caller.tenant_id))?
            .into_iter()
            .map(RoleMapping::from)
            .collect())
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &json!({"mappings": mappings})))
}

/// `POST /admin/v1/role-mappings` with `{"group": "externalId:00g1", "roles": ["admin"]}`
/// (or `"role"`; `"follow_name": true` for a display name matched by name on every change
/// instead of bound to its group): 201 with the mappings created.
#[utoipa::path(post, path = "/admin/v1/role-mappings", tag = "admin", security(("bearer" = [])),
    request_body(content = ref("#/components/schemas/RoleMappingRequest"), content_type = "application/json"),
    responses(
        (status = 201, description = "The mappings created", body = ref("#/components/schemas/RoleMappings"), content_type = "application/scim+json"),
        (status = 404, description = "No such group", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn create_mappings(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&request, &body)?;
    let group = body.get("group").and_then(Value::as_str).ok_or_else(|| {
        ScimError::InvalidValue("`group` is required: id:…, externalId:… or displayName:…".into())
    })?;
    let follow_name = match body.get("follow_name") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(follow)) => *follow,
        Some(_) => return Err(ScimError::InvalidValue("`follow_name` is a boolean".into()).into()),
    };
    let selector = GroupSelector::parse(group)?.following_name(follow_name);
    let granted: Vec<String> = match (body.get("roles"), body.get("role")) {
        (Some(Value::Array(roles)), None) => roles
            .iter()
            .filter_map(|r| r.as_str().map(String::from))
            .collect(),
        (None, Some(Value::String(role))) => vec![role.clone()],
        _ => {
            return Err(ScimError::InvalidValue(
                "give `roles` (an array of names) or `role`".into(),
            )
            .into());
        }
    };
    if granted.is_empty() {
        return Err(ScimError::InvalidValue("`roles` must name at least one role".into()).into());
    }
    let (actor, info) = origin(&caller, &request);
    let store = state.store.clone();
    let now = state.clock.now();
    let created = blocking(move || {
        let by = ChangedBy {
            actor: Some(&actor),
            request: Some(&info),
            source: "api",
        };
        store
            .write(|conn| roles::map_all(conn, &caller.tenant_id, &selector, &granted, by, now))
            .map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::CREATED,
        &json!({"mappings": created}),
    ))
}

/// `DELETE /admin/v1/role-mappings/{id}`: 204; the cascade runs in the same transaction.
#[utoipa::path(delete, path = "/admin/v1/role-mappings/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Removed; roles it granted are withdrawn"),
        (status = 404, description = "No role mapping with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn delete_mapping(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (actor, info) = origin(&caller, &request);
    let store = state.store.clone();
    let now = state.clock.now();
    let removed = blocking(move || {
        let by = ChangedBy {
            actor: Some(&actor),
            request: Some(&info),
            source: "api",
        };
        store
            .write(|conn| roles::unmap(conn, &caller.tenant_id, &id, by, now))
            .map_err(ApiError::from)
    })
    .await?;
    if !removed {
        return Err(ScimError::NotFound("no role mapping with this id".into()).into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/users/{id}/access`: the user's roles, what grants each, and live sessions.
#[utoipa::path(get, path = "/admin/v1/users/{id}/access", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "SCIM user id")),
    responses(
        (status = 200, description = "Roles, their grants, policy and live sessions", body = ref("#/components/schemas/UserAccess"), content_type = "application/scim+json"),
        (status = 404, description = "No such user", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn user_access(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.access.clone();
    let explained = blocking(move || {
        access
            .explain(&caller.tenant_id, &id)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &explained))
}

/// `POST /admin/v1/users/{id}/revoke`: the kill switch.
#[utoipa::path(post, path = "/admin/v1/users/{id}/revoke", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "SCIM user id")),
    responses(
        (status = 200, description = "Every session of the user ended", body = ref("#/components/schemas/SessionsRevoked"), content_type = "application/scim+json"),
        (status = 404, description = "No such user", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn revoke_user(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (actor, info) = origin(&caller, &request);
    let access = state.access.clone();
    let ended = blocking(move || {
        access
            .revoke_user(&caller.tenant_id, &id, Some(&actor), Some(&info))
            .map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &json!({"sessions_revoked": ended}),
    ))
}

/// `GET /admin/v1/audit?since=&until=&actor=&action=&resource=&cause=&order=&limit=&cursor=`
#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin", security(("bearer" = [])),
    params(
        ("since" = Option<String>, Query, description = "RFC 3339"),
        ("until" = Option<String>, Query, description = "RFC 3339"),
        ("actor" = Option<String>, Query), ("action" = Option<String>, Query),
        ("resource" = Option<String>, Query), ("cause" = Option<String>, Query),
        ("order" = Option<String>, Query, description = "`newest` (default) or `oldest`"),
        ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query),
    ),
    responses((status = 200, description = "A page of audit records", body = ref("#/components/schemas/AuditPage"), content_type = "application/scim+json")))]
async fn list_audit(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let audit_query = audit_query(&query)?;
    let store = state.store.clone();
    let (records, next) = blocking(move || {
        reading::page(&store, &caller.tenant_id, &audit_query).map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &json!({"records": records, "next_cursor": next}),
    ))
}

/// `GET /admin/v1/audit/{id}`: the record and the chain of records that caused it.
#[utoipa::path(get, path = "/admin/v1/audit/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The record with `cause_chain`", body = ref("#/components/schemas/AuditRecord"), content_type = "application/scim+json"),
        (status = 404, description = "No audit record with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn get_audit(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let record = blocking(move || {
        reading::with_causes(&store, &caller.tenant_id, &id).map_err(ApiError::from)
    })
    .await?;
    match record {
        Some(record) => Ok(scim_json(StatusCode::OK, &record)),
        None => Err(ScimError::NotFound("no audit record with this id".into()).into()),
    }
}

pub(super) fn audit_query(params: &[(String, String)]) -> Result<AuditQuery, ApiError> {
    let mut query = AuditQuery {
        newest_first: true,
        limit: 100,
        ..AuditQuery::default()
    };
    let time = |name: &str, value: &str| {
        DateTime::parse_from_rfc3339(value)
            .map(|t| to_stored(t.to_utc()))
            .map_err(|_| ScimError::InvalidValue(format!("`{name}` must be an RFC 3339 date-time")))
    };
    for (name, value) in params {
        match name.as_str() {
            "since" => query.since = Some(time(name, value)?),
            "until" => query.until = Some(time(name, value)?),
            "actor" => query.actor_id = Some(value.clone()),
            "action" => query.action = Some(value.clone()),
            "resource" | "user" => query.resource_id = Some(value.clone()),
            "cause" => query.cause = Some(value.clone()),
            "order" => {
                query.newest_first = match value.as_str() {
                    "newest" => true,
                    "oldest" => false,
                    _ => {
                        return Err(
                            ScimError::InvalidValue("`order` is newest or oldest".into()).into(),
                        );
                    }
                }
            }
            "limit" => {
                query.limit = value
                    .parse()
                    .map_err(|_| ScimError::InvalidValue("`limit` must be an integer".into()))?
            }
            "cursor" => {
                query.after_seq = Some(value.parse().map_err(|_| {
                    ScimError::InvalidValue("`cursor` is not a cursor of this log".into())
                })?)
            }
            _ => {
                return Err(ScimError::InvalidValue(format!("unknown parameter `{name}`")).into());
            }
        }
    }
    Ok(query)
}
