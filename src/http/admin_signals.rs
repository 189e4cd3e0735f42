//! The admin API of the Shared Signals receiver: a tenant's receivers (one per transmitter,
//! created, read, replaced, deleted) and the Security Event Tokens they received, with the
//! outcome of each. Admin credentials only, scoped to the credential's tenant.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::admin::origin;
use super::auth::AdminCaller;
use super::error::ApiError;
use super::receive::PATH as PUSH_PATH;
use super::routing::Api;
use super::{AppState, blocking, parse_body, scim_json};
use crate::scim::ScimError;
use crate::signals::receiver::health::{self, Health};
use crate::signals::receiver::lifecycle::Change;
use crate::signals::receiver::manage;
use crate::signals::receiver::{apply, settings};
use crate::store::receivers::{ReceivedQuery, ReceiverRow};

const RECEIVERS: &str = "/admin/v1/signal-receivers";

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_receivers,
    create_receiver,
    get_receiver,
    replace_receiver,
    verify_receiver,
    delete_receiver,
    list_received
))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource(RECEIVERS, |r| r.get(list_receivers).post(create_receiver))
        .resource(&format!("{RECEIVERS}/{{id}}"), |r| {
            r.get(get_receiver)
                .put(replace_receiver)
                .delete(delete_receiver)
        })
        .resource(&format!("{RECEIVERS}/{{id}}/verify"), |r| {
            r.post(verify_receiver)
        })
        .resource("/admin/v1/received-sets", |r| r.get(list_received));
}

/// Where receivers' transmitters push (a receiver's id follows): the public URL, or scheme
/// and host of the request.
fn push_base(request: &HttpRequest, state: &AppState) -> String {
    let root = match &state.public_url {
        Some(public) => public.trim_end_matches('/').to_string(),
        None => {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{root}{PUSH_PATH}")
}

/// A receiver as shown, with its health, and its push secret's header when one was just made.
fn shown(
    request: &HttpRequest,
    state: &AppState,
    (row, health): &(ReceiverRow, Health),
    secret: Option<String>,
) -> Value {
    let push_url = format!("{}/{}", push_base(request, state), row.id);
    let mut body = settings::show(row, &push_url);
    body["health"] = health.to_json();
    if let Some(secret) = secret {
        body["delivery"]["authorization_header"] = json!(manage::push_authorization(&secret));
    }
    body
}

/// Reads the health of receivers, off the async workers.
async fn with_health(
    state: &AppState,
    rows: Vec<ReceiverRow>,
) -> Result<Vec<(ReceiverRow, Health)>, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        Ok(store.read(|conn| {
            rows.into_iter()
                .map(|row| health::of(conn, &row).map(|health| (row, health)))
                .collect::<Result<Vec<_>, _>>()
        })?)
    })
    .await
}

async fn one_with_health(
    state: &AppState,
    row: ReceiverRow,
) -> Result<(ReceiverRow, Health), ApiError> {
    with_health(state, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::from(ScimError::Internal))
}

fn change(caller: &crate::access::credentials::Caller, request: &HttpRequest) -> Change {
    let (actor, info) = origin(caller, request);
    Change {
        actor,
        request: info,
    }
}

/// `GET /admin/v1/signal-receivers`
#[utoipa::path(get, path = "/admin/v1/signal-receivers", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The tenant's Shared Signals receivers", body = ref("#/components/schemas/SignalReceivers"), content_type = "application/scim+json")))]
async fn list_receivers(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let rows =
        blocking(move || manage::list(&store, &caller.tenant_id).map_err(ApiError::from)).await?;
    let receivers: Vec<Value> = with_health(&state, rows)
        .await?
        .iter()
        .map(|row| shown(&request, &state, row, None))
        .collect();
    Ok(scim_json(StatusCode::OK, &json!({"receivers": receivers})))
}

/// `POST /admin/v1/signal-receivers`: 201 with the receiver; a push receiver's
/// `delivery.authorization_header` (its secret) is shown this once.
#[utoipa::path(post, path = "/admin/v1/signal-receivers", tag = "admin", security(("bearer" = [])),
    request_body(content = ref("#/components/schemas/SignalReceiverRequest"), content_type = "application/json"),
    responses(
        (status = 201, description = "Created; a push receiver's `delivery.authorization_header` is shown only now", body = ref("#/components/schemas/SignalReceiver"), content_type = "application/scim+json"),
        (status = 502, description = "A managed stream could not be created: the transmitter's metadata, token endpoint or stream management failed or answered what cannot be used (`detail` says which); nothing was stored or left at the transmitter", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn create_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&request, &body)?;
    let (row, secret) = state
        .signals
        .create_receiver(
            &caller.tenant_id,
            &body,
            change(&caller, &request),
            &push_base(&request, &state),
        )
        .await
        .map_err(ApiError::from)?;
    let row = one_with_health(&state, row).await?;
    Ok(scim_json(
        StatusCode::CREATED,
        &shown(&request, &state, &row, secret),
    ))
}

/// `GET /admin/v1/signal-receivers/{id}`
#[utoipa::path(get, path = "/admin/v1/signal-receivers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The receiver", body = ref("#/components/schemas/SignalReceiver"), content_type = "application/scim+json"),
        (status = 404, description = "No receiver with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn get_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let row = blocking(move || manage::get(&store, &caller.tenant_id, &id).map_err(ApiError::from))
        .await?;
    let row = one_with_health(&state, row).await?;
    Ok(scim_json(
        StatusCode::OK,
        &shown(&request, &state, &row, None),
    ))
}

/// `PUT /admin/v1/signal-receivers/{id}`: the whole configuration; `"rotate_secret": true`
/// gives a push receiver a new secret (shown in this answer only).
#[utoipa::path(put, path = "/admin/v1/signal-receivers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = ref("#/components/schemas/SignalReceiverRequest"), content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = ref("#/components/schemas/SignalReceiver"), content_type = "application/scim+json"),
        (status = 502, description = "A managed stream could not be updated, paused or resumed at its transmitter; nothing was changed here", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        (status = 404, description = "No receiver with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn replace_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&request, &body)?;
    let (row, secret) = state
        .signals
        .replace_receiver(
            &caller.tenant_id,
            &id,
            &body,
            change(&caller, &request),
            &push_base(&request, &state),
        )
        .await
        .map_err(ApiError::from)?;
    let row = one_with_health(&state, row).await?;
    Ok(scim_json(
        StatusCode::OK,
        &shown(&request, &state, &row, secret),
    ))
}

/// `POST /admin/v1/signal-receivers/{id}/verify`: asks a managed stream's transmitter for a
/// verification event (a new `state`) and reads the stream's status again.
#[utoipa::path(post, path = "/admin/v1/signal-receivers/{id}/verify", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Requested; `health.verification_pending_since` is set until the event arrives, `health.last_error` says why a request failed", body = ref("#/components/schemas/SignalReceiver"), content_type = "application/scim+json"),
        (status = 400, description = "The receiver does not manage a stream", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        (status = 404, description = "No receiver with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn verify_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .signals
        .reverify(&caller.tenant_id, &id)
        .await
        .map_err(ApiError::from)?;
    let row = one_with_health(&state, row).await?;
    Ok(scim_json(
        StatusCode::OK,
        &shown(&request, &state, &row, None),
    ))
}

/// `DELETE /admin/v1/signal-receivers/{id}`: 204; its transmitter is refused from now on.
#[utoipa::path(delete, path = "/admin/v1/signal-receivers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted (the SETs it received stay listed)"),
        (status = 404, description = "No receiver with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn delete_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .signals
        .delete_receiver(&caller.tenant_id, &id, change(&caller, &request))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/received-sets?receiver=&outcome=&jti=&limit=`: newest first.
#[utoipa::path(get, path = "/admin/v1/received-sets", tag = "admin", security(("bearer" = [])),
    params(
        ("receiver" = Option<String>, Query, description = "One receiver's SETs"),
        ("outcome" = Option<String>, Query, description = "`applied`, `ignored` or `refused`"),
        ("jti" = Option<String>, Query),
        ("limit" = Option<i64>, Query, description = "At most 1000; 100 by default"),
    ),
    responses((status = 200, description = "Received Security Event Tokens, newest first", body = ref("#/components/schemas/ReceivedSets"), content_type = "application/scim+json")))]
async fn list_received(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let limit = match param("limit") {
        Some(limit) => limit
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| ScimError::InvalidValue("`limit` is from 1 to 1000".into()))?,
        None => 100,
    };
    let filter = ReceivedQuery {
        receiver_id: param("receiver"),
        outcome: param("outcome"),
        jti: param("jti"),
        limit,
    };
    let store = state.store.clone();
    let rows = blocking(move || {
        manage::received(&store, &caller.tenant_id, &filter).map_err(ApiError::from)
    })
    .await?;
    let sets: Vec<Value> = rows.iter().map(apply::to_json).collect();
    Ok(scim_json(StatusCode::OK, &json!({"sets": sets})))
}
