//! The admin API of the Shared Signals receiver: a tenant's receivers (one per transmitter,
//! created, read, replaced, deleted) and the Security Event Tokens they received, with the
//! outcome of each. Admin credentials only, scoped to the credential's tenant.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::admin::origin;
use super::auth::AdminCaller;
use super::receive::PATH as PUSH_PATH;
use super::routing::Api;
use super::{AppState, blocking, parse_body, scim_json};
use crate::scim::ScimError;
use crate::signals::receiver::manage::{self, ChangedBy};
use crate::signals::receiver::{apply, settings};
use crate::store::receivers::{ReceivedQuery, ReceiverRow};

const RECEIVERS: &str = "/admin/v1/signal-receivers";

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_receivers,
    create_receiver,
    get_receiver,
    replace_receiver,
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
        .resource("/admin/v1/received-sets", |r| r.get(list_received));
}

/// Where a receiver's transmitter pushes: the public URL, or scheme and host of the request.
fn push_url(request: &HttpRequest, state: &AppState, id: &str) -> String {
    let root = match &state.public_url {
        Some(public) => public.trim_end_matches('/').to_string(),
        None => {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{root}{PUSH_PATH}/{id}")
}

/// A receiver as shown, with its push secret's header when one was just made.
fn shown(
    request: &HttpRequest,
    state: &AppState,
    row: &ReceiverRow,
    secret: Option<String>,
) -> Value {
    let mut body = settings::show(row, &push_url(request, state, &row.id));
    if let Some(secret) = secret {
        body["delivery"]["authorization_header"] = json!(manage::push_authorization(&secret));
    }
    body
}

/// `GET /admin/v1/signal-receivers`
#[utoipa::path(get, path = "/admin/v1/signal-receivers", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The tenant's Shared Signals receivers", body = ref("#/components/schemas/SignalReceivers"), content_type = "application/scim+json")))]
async fn list_receivers(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ScimError> {
    let store = state.store.clone();
    let rows =
        blocking(move || manage::list(&store, &caller.tenant_id).map_err(ScimError::from)).await?;
    let receivers: Vec<Value> = rows
        .iter()
        .map(|row| shown(&request, &state, row, None))
        .collect();
    Ok(scim_json(StatusCode::OK, &json!({"receivers": receivers})))
}

/// `POST /admin/v1/signal-receivers`: 201 with the receiver; a push receiver's
/// `delivery.authorization_header` (its secret) is shown this once.
#[utoipa::path(post, path = "/admin/v1/signal-receivers", tag = "admin", security(("bearer" = [])),
    request_body(content = ref("#/components/schemas/SignalReceiverRequest"), content_type = "application/json"),
    responses((status = 201, description = "Created; a push receiver's `delivery.authorization_header` is shown only now", body = ref("#/components/schemas/SignalReceiver"), content_type = "application/scim+json")))]
async fn create_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = parse_body(&request, &body)?;
    let (actor, info) = origin(&caller, &request);
    let (store, now) = (state.store.clone(), state.clock.now());
    let (egress, sealer) = (
        state.signals.egress().clone(),
        state.signals.sealer().clone(),
    );
    let (row, secret) = blocking(move || {
        let by = ChangedBy {
            actor: &actor,
            request: &info,
        };
        let outbound = (egress.destinations(), &sealer);
        manage::create(&store, outbound, &caller.tenant_id, &body, by, now).map_err(ScimError::from)
    })
    .await?;
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
) -> Result<HttpResponse, ScimError> {
    let store = state.store.clone();
    let row =
        blocking(move || manage::get(&store, &caller.tenant_id, &id).map_err(ScimError::from))
            .await?;
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
        (status = 404, description = "No receiver with this id", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn replace_receiver(
    AdminCaller(caller): AdminCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = parse_body(&request, &body)?;
    let (actor, info) = origin(&caller, &request);
    let (store, now) = (state.store.clone(), state.clock.now());
    let (egress, sealer) = (
        state.signals.egress().clone(),
        state.signals.sealer().clone(),
    );
    let (row, secret) = blocking(move || {
        let by = ChangedBy {
            actor: &actor,
            request: &info,
        };
        let outbound = (egress.destinations(), &sealer);
        manage::replace(&store, outbound, &caller.tenant_id, &id, &body, by, now)
            .map_err(ScimError::from)
    })
    .await?;
    Ok(scim_json(
        StatusCode::OK,
        &shown(&request, &state, &row, secret),
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
) -> Result<HttpResponse, ScimError> {
    let (actor, info) = origin(&caller, &request);
    let (store, now) = (state.store.clone(), state.clock.now());
    blocking(move || {
        let by = ChangedBy {
            actor: &actor,
            request: &info,
        };
        manage::delete(&store, &caller.tenant_id, &id, by, now).map_err(ScimError::from)
    })
    .await?;
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
) -> Result<HttpResponse, ScimError> {
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
        manage::received(&store, &caller.tenant_id, &filter).map_err(ScimError::from)
    })
    .await?;
    let sets: Vec<Value> = rows.iter().map(apply::to_json).collect();
    Ok(scim_json(StatusCode::OK, &json!({"sets": sets})))
}
