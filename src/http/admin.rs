//! The admin API (`/admin/v1`), for admin credentials only, scoped to the credential's tenant.
//! Reading the audit log, role mappings, a user's access and the kill switch.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::DateTime;
use serde_json::{Value, json};
use tracing_actix_web::RequestId;

use super::auth::AdminCaller;
use super::{AppState, blocking, parse_body, scim_json};
use crate::access::credentials::Caller;
use crate::access::roles::{self, ChangedBy, GroupSelector, RoleMapping};
use crate::audit::reading;
use crate::audit::{Actor, RequestInfo};
use crate::scim::ScimError;
use crate::store::audit::AuditQuery;
use crate::store::to_stored;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/admin/v1")
            .service(web::resource("/audit").get(list_audit))
            .service(web::resource("/audit/{id}").get(get_audit))
            .service(
                web::resource("/role-mappings")
                    .get(list_mappings)
                    .post(create_mappings),
            )
            .service(web::resource("/role-mappings/{id}").delete(delete_mapping))
            .service(web::resource("/users/{id}/access").get(user_access))
            .service(web::resource("/users/{id}/revoke").post(revoke_user))
            .service(web::resource("/flags").get(list_flags))
            .service(web::resource("/flags/{id}/acknowledge").post(acknowledge_flag)),
    );
}

/// `GET /admin/v1/flags[?all=true]`: open flags (or all), newest first.
async fn list_flags(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ScimError> {
    let all = query.iter().any(|(k, v)| k == "all" && v == "true");
    let store = state.store.clone();
    let flags = blocking(move || {
        Ok(store.read(|conn| crate::store::flags::list(conn, &caller.tenant_id, all, 1000))?)
    })
    .await?;
    let flags: Vec<Value> = flags.iter().map(crate::events::flags::to_json).collect();
    Ok(scim_json(StatusCode::OK, &json!({"flags": flags})))
}

/// `POST /admin/v1/flags/{id}/acknowledge`: the flag is closed (a repeat raises a new one).
async fn acknowledge_flag(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let (actor, info) = origin(&caller, &request);
    let store = state.store.clone();
    let now = state.clock.now();
    let acknowledged = blocking(move || {
        store.write(|conn| {
            let done = crate::store::flags::acknowledge(
                conn,
                &caller.tenant_id,
                &id,
                &actor.client_id,
                to_stored(now),
            )?;
            if done {
                let event = crate::audit::Event {
                    actor: Some(&actor),
                    request: Some(&info),
                    resource_type: Some("Flag"),
                    resource_id: Some(id.to_string()),
                    ..crate::audit::Event::new("flag.acknowledge", json!({}))
                };
                crate::audit::record(conn, &caller.tenant_id, now, event)?;
            }
            Ok::<_, ScimError>(done)
        })
    })
    .await?;
    if !acknowledged {
        return Err(ScimError::NotFound("no open flag with this id".into()));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The admin credential and the request, for audit records.
fn origin(caller: &Caller, request: &HttpRequest) -> (Actor, RequestInfo) {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    (
        Actor {
            client_id: caller.client_id.clone(),
            name: caller.name.clone(),
        },
        RequestInfo {
            id,
            method: request.method().to_string(),
            path: request.path().to_string(),
            received: Some(std::time::Instant::now()),
        },
    )
}

/// `GET /admin/v1/role-mappings`
async fn list_mappings(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ScimError> {
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
/// (or `"role"`): 201 with the mappings created.
async fn create_mappings(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = parse_body(&request, &body)?;
    let group = body.get("group").and_then(Value::as_str).ok_or_else(|| {
        ScimError::InvalidValue("`group` is required: id:…, externalId:… or displayName:…".into())
    })?;
    let selector = GroupSelector::parse(group)?;
    let granted: Vec<String> = match (body.get("roles"), body.get("role")) {
        (Some(Value::Array(roles)), None) => roles
            .iter()
            .filter_map(|r| r.as_str().map(String::from))
            .collect(),
        (None, Some(Value::String(role))) => vec![role.clone()],
        _ => {
            return Err(ScimError::InvalidValue(
                "give `roles` (an array of names) or `role`".into(),
            ));
        }
    };
    if granted.is_empty() {
        return Err(ScimError::InvalidValue(
            "`roles` must name at least one role".into(),
        ));
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
            .map_err(ScimError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::CREATED,
        &json!({"mappings": created}),
    ))
}

/// `DELETE /admin/v1/role-mappings/{id}`: 204; the cascade runs in the same transaction.
async fn delete_mapping(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
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
            .map_err(ScimError::from)
    })
    .await?;
    if !removed {
        return Err(ScimError::NotFound("no role mapping with this id".into()));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/users/{id}/access`: the user's roles, what grants each, and live sessions.
async fn user_access(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let access = state.access.clone();
    let explained = blocking(move || {
        access
            .explain(&caller.tenant_id, &id)
            .map_err(ScimError::from)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &explained))
}

/// `POST /admin/v1/users/{id}/revoke`: the kill switch.
async fn revoke_user(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let (actor, info) = origin(&caller, &request);
    let access = state.access.clone();
    let ended = blocking(move || {
        access
            .revoke_user(&caller.tenant_id, &id, Some(&actor), Some(&info))
            .map_err(ScimError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &json!({"sessions_revoked": ended}),
    ))
}

/// `GET /admin/v1/audit?since=&until=&actor=&action=&resource=&cause=&order=&limit=&cursor=`
async fn list_audit(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ScimError> {
    let audit_query = audit_query(&query)?;
    let store = state.store.clone();
    let (records, next) = blocking(move || {
        reading::page(&store, &caller.tenant_id, &audit_query).map_err(ScimError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &json!({"records": records, "next_cursor": next}),
    ))
}

/// `GET /admin/v1/audit/{id}`: the record and the chain of records that caused it.
async fn get_audit(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let store = state.store.clone();
    let record = blocking(move || {
        reading::with_causes(&store, &caller.tenant_id, &id).map_err(ScimError::from)
    })
    .await?;
    match record {
        Some(record) => Ok(scim_json(StatusCode::OK, &record)),
        None => Err(ScimError::NotFound("no audit record with this id".into())),
    }
}

fn audit_query(params: &[(String, String)]) -> Result<AuditQuery, ScimError> {
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
                        return Err(ScimError::InvalidValue(
                            "`order` is newest or oldest".into(),
                        ));
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
                return Err(ScimError::InvalidValue(format!(
                    "unknown parameter `{name}`"
                )));
            }
        }
    }
    Ok(query)
}
