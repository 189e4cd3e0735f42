//! The admin API (`/admin/v1`), for admin credentials only, scoped to the credential's tenant.
//! Today: reading the audit log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::DateTime;
use serde_json::json;

use super::auth::AdminCaller;
use super::{AppState, blocking, scim_json};
use crate::audit::reading;
use crate::scim::ScimError;
use crate::store::audit::AuditQuery;
use crate::store::to_stored;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/admin/v1")
            .service(web::resource("/audit").get(list_audit))
            .service(web::resource("/audit/{id}").get(get_audit)),
    );
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
