//! HTTP: routes, middleware and the translation between requests and the SCIM service.
//! Kept thin: handlers authenticate, parse, call `ScimService` on a blocking thread and
//! shape the response.

mod admin;
mod admin_roles;
mod admin_signals;
mod auth;
mod catalog;
mod console;
mod discovery;
pub mod error;
mod events;
mod forward_auth;
mod gtr;
mod health;
mod oauth;
pub mod observability;
pub mod observe;
mod openapi;
mod receive;
mod request_span;
mod resources;
mod routing;
mod ssf;
pub mod tls;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{Condition, DefaultHeaders, NormalizePath, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use tracing_actix_web::{RequestId, TracingLogger};

use self::error::ApiError;
use crate::clock::SharedClock;
use crate::scim::{ScimError, ScimService};
use crate::store::Store;
use error::SCIM_CONTENT_TYPE;

/// `Strict-Transport-Security` when Scimitar terminates TLS: a year, this host only (a
/// subdomain may be served by something else).
pub const HSTS: &str = "max-age=31536000";

/// Where the SCIM API lives; a tenant's URL in Okta or Entra is `https://HOST/scim/v2`.
pub const SCIM_PATH: &str = "/scim/v2";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub scim: ScimService,
    pub store: Store,
    pub clock: SharedClock,
    /// Scheme and host clients reach us at, when configured; otherwise taken from each request.
    pub public_url: Option<String>,
    /// Largest request body; advertised as the Bulk `maxPayloadSize`.
    pub max_body_bytes: usize,
    /// Failed authentications, summed per minute before they reach the audit log.
    pub auth_failures: std::sync::Arc<crate::access::failures::FailureLog>,
    /// Rate limits on failed authentication and on the OAuth endpoints.
    pub limits: std::sync::Arc<crate::access::limits::Limits>,
    /// Take the client's address from the last `X-Forwarded-For` entry (behind a proxy).
    pub trust_forwarded_for: bool,
    /// The token service.
    pub access: crate::access::AccessService,
    /// The Shared Signals transmitter.
    pub ssf: crate::signals::ssf::Transmitter,
    /// How long operator console sessions last.
    pub console: crate::access::operator_sessions::SessionLimits,
    /// The Shared Signals receiver.
    pub signals: crate::signals::receiver::Receiver,
    /// Every outbound request, through the destination policy.
    pub egress: crate::egress::Egress,
    /// The key sets of Global Token Revocation callers, fetched through `egress`.
    pub caller_keys: std::sync::Arc<crate::egress::keys::KeySets>,
    /// Where and to whom `/metrics` and `/openapi.json` are served.
    pub observability: observability::Observability,
    /// This replica's revocations in memory, followed from the outbox: forward auth.
    pub revocations: crate::signals::revocation_view::RevocationView,
}

/// Server settings that are not part of the application state.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub max_body_bytes: usize,
    pub workers: Option<usize>,
    /// Serve HTTPS with this configuration (`tls::server_config`); plain HTTP without.
    pub tls: Option<rustls::ServerConfig>,
    /// Longest a request may take to produce its response (a database that stopped answering
    /// must not hang it); past it, 503 with `Retry-After`.
    pub request_timeout: Duration,
    /// Sees every routed non-SCIM response (the tests validate them against the OpenAPI
    /// document); `None` in production.
    pub observer: Option<observe::ResponseObserver>,
}

/// The request deadline, as application data for the `deadline` middleware.
#[derive(Debug, Clone, Copy)]
struct RequestDeadline(Duration);

/// Builds the server on a bound listener; the caller runs or spawns the returned future.
pub fn server(
    state: AppState,
    settings: &ServerSettings,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let max_body_bytes = settings.max_body_bytes;
    let deadline = RequestDeadline(settings.request_timeout);
    let observer = settings.observer.clone();
    // Over TLS terminated here, every answer tells browsers to use https only (RFC 6797);
    // behind a proxy that terminates TLS, the proxy sends it.
    let terminates_tls = settings.tls.is_some();
    let server = HttpServer::new(move || {
        let mut app = App::new().app_data(data.clone());
        if let Some(observer) = observer.clone() {
            app = app.app_data(observer);
        }
        app.app_data(web::PayloadConfig::new(max_body_bytes))
            .app_data(deadline)
            .configure(routes)
            .default_service(web::to(not_found))
            .wrap(from_fn(refuse_nul_in_url))
            .wrap(from_fn(answer_by_deadline))
            .wrap(from_fn(error::scim_error_bodies))
            .wrap(from_fn(observe::observe_responses))
            // `/scim/v2/Users/` and `/scim/v2//Users` route like `/scim/v2/Users`.
            .wrap(NormalizePath::trim())
            .wrap(from_fn(log_request))
            .wrap(Condition::new(
                terminates_tls,
                DefaultHeaders::new().add((header::STRICT_TRANSPORT_SECURITY, HSTS)),
            ))
            .wrap(TracingLogger::<request_span::RequestSpan>::new())
    });
    let mut server = match settings.tls.clone() {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    if let Some(workers) = settings.workers {
        server = server.workers(workers.max(1));
    }
    Ok(server.run())
}

/// Every non-SCIM route, registered through one `routing::Api` so that the list checked
/// against the OpenAPI document is the list actix serves.
fn api() -> routing::Api {
    let mut api = routing::Api::default();
    health::routes(&mut api);
    admin::routes(&mut api);
    oauth::routes(&mut api);
    events::routes(&mut api);
    ssf::routes(&mut api);
    gtr::routes(&mut api);
    forward_auth::routes(&mut api);
    receive::routes(&mut api);
    admin_signals::routes(&mut api);
    admin_roles::routes(&mut api);
    openapi::routes(&mut api);
    api
}

/// (method, path) of every non-SCIM route the server registers, paths as in OpenAPI
/// (`/admin/v1/audit/{id}`).
pub fn api_routes() -> Vec<(String, String)> {
    api()
        .routes()
        .iter()
        .map(|(method, path)| (method.to_string(), path.clone()))
        .collect()
}

/// The OpenAPI 3.1 document of the non-SCIM APIs, as `GET /openapi.json` serves it.
pub fn openapi_document() -> Value {
    openapi::document()
}

fn routes(config: &mut web::ServiceConfig) {
    // SCIM first: actix tries services in the order they are registered, matching each
    // pattern with a path parameter by regular expression, and identity providers' requests
    // are nearly all of the traffic. No other route lies under `SCIM_PATH`.
    config.service(
        web::scope(SCIM_PATH)
            .wrap(from_fn(events::count_scim_request))
            .configure(discovery::routes)
            .configure(catalog::routes)
            .configure(resources::routes)
            .default_service(web::to(not_found)),
    );
    api().register(config);
    // The browser console: HTML pages, outside the JSON API registry and its document.
    console::routes(config);
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ScimError::NotFound("no such endpoint".into()).into())
}

/// Logs one line per request, inside the request's span (method, route, request id), and
/// echoes the request id to the client. Headers and bodies are never logged.
async fn log_request(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string());
    let mut response = next.call(request).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(status, elapsed_ms, "request");
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// A NUL character (`%00`) in a path or query is refused before any handler sees it: no id,
/// name or filter value can hold one, and Postgres cannot store or compare one.
async fn refuse_nul_in_url(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let uri = request.uri();
    let nul = |text: &str| text.contains("%00") || text.contains('\0');
    if nul(uri.path()) || uri.query().is_some_and(nul) {
        return Err(ApiError::from(ScimError::InvalidValue(
            "the URL contains a NUL character, which no id, name or filter value may hold".into(),
        ))
        .into());
    }
    next.call(request).await
}

/// Answers 503 with `Retry-After` when a request has not produced its response by the
/// deadline: a database that stopped answering (a stalled network) must not hang clients.
/// The work itself runs on in its blocking thread until the connection fails; a write that
/// commits after its 503 is a write the client will retry, which SCIM writes tolerate.
async fn answer_by_deadline(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let limit = request
        .app_data::<RequestDeadline>()
        .map_or(Duration::from_secs(60), |d| d.0);
    match tokio::time::timeout(limit, next.call(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "request not answered by its deadline; 503");
            Err(ApiError::from(ScimError::Unavailable).into())
        }
    }
}

/// The request as audit records name it: its id, method and path, and when it arrived.
pub(crate) fn request_info(request: &HttpRequest) -> crate::audit::RequestInfo {
    crate::audit::RequestInfo {
        id: request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        method: request.method().to_string(),
        path: request.path().to_string(),
        received: Some(std::time::Instant::now()),
    }
}

/// Runs storage work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work)
        .await
        .map_err(|_| ApiError::from(ScimError::Internal))?
}

/// Runs a read: a point read (`point`: one user by id or by a unique attribute) on this worker
/// thread when the store can answer it without waiting (`Store::reads_without_waiting`:
/// SQLite with a connection idle), any other off the async workers. The hop to the blocking
/// pool and back (two thread wake-ups) costs more than such a read on SQLite itself; reads
/// that may be long (pages, groups with their members, anything on Postgres) always hop.
pub(crate) async fn store_read<T: Send + 'static>(
    store: &crate::store::Store,
    point: bool,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if point && store.reads_without_waiting() {
        return work();
    }
    blocking(work).await
}

/// The SCIM base URL for locations: the configured public URL, or scheme and host of the request.
pub(crate) fn base_url(request: &HttpRequest, state: &AppState) -> String {
    match &state.public_url {
        Some(public) => format!("{}{SCIM_PATH}", public.trim_end_matches('/')),
        None => {
            let info = request.connection_info();
            format!("{}://{}{SCIM_PATH}", info.scheme(), info.host())
        }
    }
}

/// Reads a JSON request body. `application/scim+json` and `application/json` are accepted,
/// and so is a body sent without a content type. Duplicate keys and NUL characters are
/// refused (`scim::json`).
pub(crate) fn parse_body(request: &HttpRequest, body: &[u8]) -> Result<Value, ApiError> {
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let accepted = ["application/scim+json", "application/json"];
        if !accepted.iter().any(|a| a.eq_ignore_ascii_case(essence)) {
            return Err(ScimError::UnsupportedMediaType(format!(
                "content type `{essence}` is not accepted: use application/scim+json"
            ))
            .into());
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::InvalidSyntax("the request body is empty".into()).into());
    }
    Ok(crate::scim::json::parse_strict(body)?)
}

/// A SCIM JSON response.
pub(crate) fn scim_json(status: actix_web::http::StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_CONTENT_TYPE)
        .body(body.to_string())
}
