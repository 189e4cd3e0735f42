//! The Shared Signals transmitter's endpoints: metadata, stream management and poll.
//! App clients (or admins of the tenant) authenticate as for the event feed, or with an
//! access token of the client credentials grant scoped `ssf.read` (reads and poll) or
//! `ssf.manage` (everything), as the CAEP interoperability profile asks.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::FeedCaller;
use super::error::ApiError;
use super::routing::Api;
use super::{AppState, blocking, parse_body, scim_json};
use crate::access::credentials::Caller;
use crate::scim::ScimError;
use crate::signals::SignalsError;
use crate::signals::ssf::Transmitter;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    configuration,
    create,
    read,
    update,
    replace,
    delete,
    status,
    set_status,
    add_subject,
    remove_subject,
    verify,
    poll
))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource("/.well-known/ssf-configuration", |r| r.get(configuration))
        .resource("/ssf/streams", |r| {
            r.post(create)
                .get(read)
                .patch(update)
                .put(replace)
                .delete(delete)
        })
        .resource("/ssf/status", |r| r.get(status).post(set_status))
        .resource("/ssf/subjects:add", |r| r.post(add_subject))
        .resource("/ssf/subjects:remove", |r| r.post(remove_subject))
        .resource("/ssf/verify", |r| r.post(verify))
        .resource("/ssf/poll/{stream_id}", |r| r.post(poll));
}

type Query = web::Query<Vec<(String, String)>>;

/// A caller allowed to read streams (and poll them): `ssf.read` or `ssf.manage`.
pub struct StreamReader(Caller);

/// A caller allowed to create, change and delete streams: `ssf.manage`.
pub struct StreamManager(Caller);

impl FromRequest for StreamReader {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { stream_caller(&request, false).await.map(StreamReader) })
    }
}

impl FromRequest for StreamManager {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { stream_caller(&request, true).await.map(StreamManager) })
    }
}

/// The caller of a stream-management request: a bearer access token of the client
/// credentials grant (its scope must allow the call), or the credentials the feed takes.
async fn stream_caller(request: &HttpRequest, manages: bool) -> Result<Caller, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(ScimError::Internal)?;
    let token = super::auth::bearer_token(request)
        .ok()
        .filter(|t| !t.starts_with("scimitar_") && t.split('.').count() == 3);
    let Some(token) = token else {
        let FeedCaller(caller) = FeedCaller::extract(request).await?;
        return Ok(caller);
    };
    let access = state.access.clone();
    let verified = blocking(move || Ok(access.management_caller(&token)?)).await?;
    match verified {
        Some((_, claims)) if manages && !claims.may_manage() => Err(ScimError::Forbidden(
            "insufficient_scope: this call needs the ssf.manage scope".into(),
        )
        .into()),
        Some((caller, _)) => Ok(caller),
        None => {
            let address = super::auth::client_address(request, state.trust_forwarded_for);
            state
                .limits
                .failed_authentication(address)
                .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
            Err(ApiError::Unauthorized(
                "the bearer token is not a valid stream-management token".into(),
            ))
        }
    }
}

fn stream_param(query: &Query) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == "stream_id")
        .map(|(_, v)| v.clone())
}

fn json_ok(value: &Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

#[utoipa::path(get, path = "/.well-known/ssf-configuration", tag = "ssf",
    responses((status = 200, description = "Transmitter metadata", body = ref("#/components/schemas/SsfConfiguration"))))]
async fn configuration(state: web::Data<AppState>) -> HttpResponse {
    json_ok(&state.ssf.configuration())
}

/// Runs a management call that takes a JSON body, off the async workers.
async fn with_body<T: Send + 'static>(
    caller: Caller,
    state: web::Data<AppState>,
    request: &HttpRequest,
    body: &[u8],
    call: impl FnOnce(&Transmitter, &Caller, &Value) -> Result<T, SignalsError> + Send + 'static,
) -> Result<T, ApiError> {
    let body = parse_body(request, body)?;
    blocking(move || Ok(call(&state.ssf, &caller, &body)?)).await
}

/// Runs a management call that names its stream in the query, off the async workers.
async fn with_stream<T: Send + 'static>(
    caller: Caller,
    state: web::Data<AppState>,
    query: &Query,
    call: impl FnOnce(&Transmitter, &Caller, &str) -> Result<T, SignalsError> + Send + 'static,
) -> Result<T, ApiError> {
    let id = stream_param(query)
        .ok_or_else(|| ScimError::InvalidValue("`stream_id` is required".into()))?;
    blocking(move || Ok(call(&state.ssf, &caller, &id)?)).await
}

#[utoipa::path(post, path = "/ssf/streams", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "Stream configuration: `delivery`, `events_requested`, `description`"),
    responses((status = 201, description = "The stream created", body = ref("#/components/schemas/StreamConfiguration"))))]
async fn create(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let created = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.create_stream(caller, body)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/ssf/streams", tag = "ssf", security(("basic" = []), ("bearer" = [])),
    params(("stream_id" = Option<String>, Query)),
    responses((status = 200, description = "One stream, or all of the caller's", body = ref("#/components/schemas/StreamConfigurations")), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn read(
    StreamReader(caller): StreamReader,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let id = stream_param(&query);
    let streams = blocking(move || Ok(state.ssf.read_streams(&caller, id.as_deref())?)).await?;
    Ok(json_ok(&streams))
}

#[utoipa::path(patch, path = "/ssf/streams", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "`stream_id` and the fields to change"),
    responses((status = 200, description = "The stream updated", body = ref("#/components/schemas/StreamConfiguration")), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn update(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let updated = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.update_stream(caller, body, false)
    })
    .await?;
    Ok(json_ok(&updated))
}

#[utoipa::path(put, path = "/ssf/streams", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "`stream_id` and the whole configuration"),
    responses((status = 200, description = "The stream replaced", body = ref("#/components/schemas/StreamConfiguration")), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn replace(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let replaced = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.update_stream(caller, body, true)
    })
    .await?;
    Ok(json_ok(&replaced))
}

#[utoipa::path(delete, path = "/ssf/streams", tag = "ssf", security(("basic" = []), ("bearer" = [])), params(("stream_id" = String, Query)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn delete(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    with_stream(caller, state, &query, |ssf, caller, id| {
        ssf.delete_stream(caller, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/ssf/status", tag = "ssf", security(("basic" = []), ("bearer" = [])), params(("stream_id" = String, Query)),
    responses((status = 200, description = "The stream's status", body = ref("#/components/schemas/StreamStatus")), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn status(
    StreamReader(caller): StreamReader,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let status = with_stream(caller, state, &query, |ssf, caller, id| {
        ssf.status(caller, id)
    })
    .await?;
    Ok(json_ok(&status))
}

#[utoipa::path(post, path = "/ssf/status", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "`stream_id`, `status`, optional `reason`"),
    responses((status = 200, description = "The new status", body = ref("#/components/schemas/StreamStatus")), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn set_status(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let status = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.set_status(caller, body)
    })
    .await?;
    Ok(json_ok(&status))
}

#[utoipa::path(post, path = "/ssf/subjects:add", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "`stream_id` and `subject`"),
    responses((status = 200, description = "Added; empty body"), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn add_subject(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.subject(caller, body, true)
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

#[utoipa::path(post, path = "/ssf/subjects:remove", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "`stream_id` and `subject`"),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn remove_subject(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.subject(caller, body, false)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/ssf/verify", tag = "ssf", security(("basic" = []), ("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "`stream_id`, optional `state`"),
    responses((status = 204, description = "A verification event is queued"), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn verify(
    StreamManager(caller): StreamManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.verify(caller, body)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// RFC 8936 poll; an empty body is an empty request.
#[utoipa::path(post, path = "/ssf/poll/{stream_id}", tag = "ssf", security(("basic" = []), ("bearer" = [])),
    params(("stream_id" = String, Path)),
    request_body(content = Object, content_type = "application/json", description = "RFC 8936 poll request: `ack`, `setErrs`, `maxEvents`, `returnImmediately`; may be empty"),
    responses((status = 200, description = "SETs", body = ref("#/components/schemas/PollResponse"), content_type = "application/scim+json"), (status = 404, description = "No such stream of the caller", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn poll(
    StreamReader(caller): StreamReader,
    state: web::Data<AppState>,
    request: HttpRequest,
    stream_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        parse_body(&request, &body)?
    };
    let answer = state.ssf.poll(caller, stream_id.into_inner(), body).await?;
    Ok(scim_json(StatusCode::OK, &answer).map_into_boxed_body())
}
