//! `/metrics` and `/openapi.json`, the two documents operators' tools read, are public on the
//! main listener by default (behind a proxy that keeps them internal). For deployments
//! without one they can be moved to a listener of their own (`metrics_bind`, e.g. an address
//! only the monitoring network reaches), or put behind a bearer token whose SHA-256 is
//! configured (`metrics_token_sha256`; the token itself is never stored), or both.

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpServer, web};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::scim::ScimError;

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

/// Whether this request may read a guarded document: on the wrong listener 404, and
/// without the configured bearer token 401 (a failure counted against the address, like any
/// other). Called by the two handlers themselves, so whatever path form the router decoded
/// to reach them (`/%6Detrics`), the check runs.
pub(super) fn admit(request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if state.observability.own_listener && request.app_data::<OwnListener>().is_none() {
        return Err(ScimError::NotFound("no such endpoint".into()).into());
    }
    match &state.observability.token_sha256 {
        Some(digest) if !bearer_matches(request, digest) => {
            let address = super::auth::client_address(request, state.trust_forwarded_for);
            state
                .limits
                .failed_authentication(address)
                .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
            Err(ApiError::Unauthorized(
                "this endpoint needs the metrics bearer token".into(),
            ))
        }
        _ => Ok(()),
    }
}

fn bearer_matches(request: &HttpRequest, digest: &str) -> bool {
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
            .wrap(from_fn(super::error::scim_error_bodies))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
