//! The Shared Signals transmitter's endpoints: metadata, stream management and poll.
//! App clients (or admins of the tenant) authenticate as for the event feed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::FeedCaller;
use super::{AppState, blocking, parse_body, scim_json};
use crate::access::credentials::Caller;
use crate::events::ssf::Transmitter;
use crate::scim::ScimError;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/.well-known/ssf-configuration").get(configuration))
        .service(
            web::resource("/ssf/streams")
                .post(create)
                .get(read)
                .patch(update)
                .put(replace)
                .delete(delete),
        )
        .service(web::resource("/ssf/status").get(status).post(set_status))
        .service(web::resource("/ssf/subjects:add").post(add_subject))
        .service(web::resource("/ssf/subjects:remove").post(remove_subject))
        .service(web::resource("/ssf/verify").post(verify))
        .service(web::resource("/ssf/poll/{stream_id}").post(poll));
}

type Query = web::Query<Vec<(String, String)>>;

fn stream_param(query: &Query) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == "stream_id")
        .map(|(_, v)| v.clone())
}

fn json_ok(value: &Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

async fn configuration(state: web::Data<AppState>) -> HttpResponse {
    json_ok(&state.ssf.configuration())
}

/// Runs a management call that takes a JSON body, off the async workers.
async fn with_body<T: Send + 'static>(
    caller: Caller,
    state: web::Data<AppState>,
    request: &HttpRequest,
    body: &[u8],
    call: impl FnOnce(&Transmitter, &Caller, &Value) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let body = parse_body(request, body)?;
    blocking(move || call(&state.ssf, &caller, &body)).await
}

/// Runs a management call that names its stream in the query, off the async workers.
async fn with_stream<T: Send + 'static>(
    caller: Caller,
    state: web::Data<AppState>,
    query: &Query,
    call: impl FnOnce(&Transmitter, &Caller, &str) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let id = stream_param(query)
        .ok_or_else(|| ScimError::InvalidValue("`stream_id` is required".into()))?;
    blocking(move || call(&state.ssf, &caller, &id)).await
}

async fn create(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let created = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.create_stream(caller, body)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

async fn read(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ScimError> {
    let id = stream_param(&query);
    let streams = blocking(move || state.ssf.read_streams(&caller, id.as_deref())).await?;
    Ok(json_ok(&streams))
}

async fn update(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let updated = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.update_stream(caller, body, false)
    })
    .await?;
    Ok(json_ok(&updated))
}

async fn replace(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let replaced = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.update_stream(caller, body, true)
    })
    .await?;
    Ok(json_ok(&replaced))
}

async fn delete(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ScimError> {
    with_stream(caller, state, &query, |ssf, caller, id| {
        ssf.delete_stream(caller, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn status(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ScimError> {
    let status = with_stream(caller, state, &query, |ssf, caller, id| {
        ssf.status(caller, id)
    })
    .await?;
    Ok(json_ok(&status))
}

async fn set_status(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let status = with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.set_status(caller, body)
    })
    .await?;
    Ok(json_ok(&status))
}

async fn add_subject(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.subject(caller, body, true)
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

async fn remove_subject(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.subject(caller, body, false)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn verify(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    with_body(caller, state, &request, &body, |ssf, caller, body| {
        ssf.verify(caller, body)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// RFC 8936 poll; an empty body is an empty request.
async fn poll(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    stream_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        parse_body(&request, &body)?
    };
    let answer = state.ssf.poll(caller, stream_id.into_inner(), body).await?;
    Ok(scim_json(StatusCode::OK, &answer).map_into_boxed_body())
}
