//! `/metrics` and `/openapi.json`, the two documents operators' tools read, are public on the
//! main listener by default (behind a proxy that keeps them internal). For deployments
//! without one they can be moved to a listener of their own (`metrics_bind`, e.g. an address
//! only the monitoring network reaches), or put behind a bearer token whose SHA-256 is
//! configured (`metrics_token_sha256`; the token itself is never stored), or both.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::scim::ScimError;

/// The paths this gate guards.
const GUARDED: [&str; 2] = ["/metrics", "/openapi.json"];

/// Where and to whom `/metrics` and `/openapi.json` are served.
#[derive(Debug, Clone, Default)]
pub struct Observability {
    /// Served on a listener of their own (`metrics_bind`), and not on the main one.
    pub own_listener: bool,
    /// The hex SHA-256 of the bearer token they require (`metrics_token_sha256`).
    pub token_sha256: Option<String>,
}

/// Marks the requests of the observability listener.
#[derive(Debug, Clone, Copy)]
struct OwnListener;

/// Middleware on every listener: a guarded path on the wrong listener is 404, and without
/// the configured bearer token 401 (a failure counted against the address, like any other).
pub(super) async fn gate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !GUARDED.contains(&request.path()) {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let on_own_listener = request.app_data::<OwnListener>().is_some();
    let refusal = if state.observability.own_listener && !on_own_listener {
        Some(ScimError::NotFound("no such endpoint".into()))
    } else {
        match &state.observability.token_sha256 {
            Some(digest) if !bearer_matches(&request, digest) => {
                let address =
                    super::auth::client_address(request.request(), state.trust_forwarded_for);
                Some(match state.limits.failed_authentication(address) {
                    Err(wait) => ScimError::TooManyRequests(wait.0),
                    Ok(()) => ScimError::Unauthorized(
                        "this endpoint needs the metrics bearer token".into(),
                    ),
                })
            }
            _ => None,
        }
    };
    match refusal {
        Some(error) => {
            let response: HttpResponse = actix_web::ResponseError::error_response(&error);
            Ok(request.into_response(response).map_into_boxed_body())
        }
        None => Ok(next.call(request).await?.map_into_boxed_body()),
    }
}

fn bearer_matches(request: &ServiceRequest, digest: &str) -> bool {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    presented.is_some_and(|token| {
        let actual = crate::hashing::sha256_hex(token.as_bytes());
        bool::from(
            actual
                .as_bytes()
                .ct_eq(digest.to_ascii_lowercase().as_bytes()),
        )
    })
}

/// The observability listener: `/metrics` and `/openapi.json` only.
pub fn server(
    state: AppState,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(state);
    Ok(HttpServer::new(move || {
        let mut api = super::routing::Api::default();
        super::events::metrics_routes(&mut api);
        super::openapi::routes(&mut api);
        App::new()
            .app_data(data.clone())
            .app_data(OwnListener)
            .configure(|config| api.register(config))
            .wrap(from_fn(gate))
            .wrap(from_fn(super::error::scim_error_bodies))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
