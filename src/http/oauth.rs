//! The OAuth endpoints apps use: token (RFC 6749 / RFC 8693), introspection (RFC 7662),
//! revocation (RFC 7009), and the published metadata (RFC 8414) and keys (JWKS). App clients
//! authenticate with HTTP Basic. Errors here are OAuth error objects, mapped in one place.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Value, json};

use super::AppState;
use super::routing::Api;
use crate::access::AccessError;
use crate::access::credentials::{self, Caller};
use crate::access::limits::{FailureKind, RetryAfter};
use crate::access::tokens::{
    Exchange, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE,
    SCOPE_SSF_MANAGE, SCOPE_SSF_READ, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_SCIM_USER,
};
use crate::store::StoreError;

#[derive(utoipa::OpenApi)]
#[openapi(paths(token, introspect, revoke, jwks, metadata))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource("/oauth2/token", |r| r.post(token))
        .resource("/oauth2/introspect", |r| r.post(introspect))
        .resource("/oauth2/revoke", |r| r.post(revoke))
        .resource("/.well-known/jwks.json", |r| r.get(jwks))
        .resource("/.well-known/oauth-authorization-server", |r| {
            r.get(metadata)
        });
}

/// An access error as an OAuth error response.
#[derive(Debug)]
pub struct OAuthError(pub AccessError);

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<AccessError> for OAuthError {
    fn from(error: AccessError) -> Self {
        OAuthError(error)
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        OAuthError(AccessError::Store(error))
    }
}

impl OAuthError {
    fn code(&self) -> (StatusCode, &'static str) {
        match &self.0 {
            AccessError::InvalidRequest(_) | AccessError::NotFound(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            AccessError::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
            AccessError::InvalidGrant(_) | AccessError::EndedGrant(_) => {
                (StatusCode::BAD_REQUEST, "invalid_grant")
            }
            AccessError::UnauthorizedClient(_) => (StatusCode::BAD_REQUEST, "unauthorized_client"),
            AccessError::UnsupportedGrantType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type")
            }
            AccessError::UnsupportedTokenType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_token_type")
            }
            AccessError::InvalidScope(_) => (StatusCode::BAD_REQUEST, "invalid_scope"),
            AccessError::InvalidTarget(_) => (StatusCode::BAD_REQUEST, "invalid_target"),
            AccessError::RateLimited(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable")
            }
            // Never a success when the store could not do its part (RFC 7009 §2.2.1).
            AccessError::Store(_) | AccessError::KeysUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            }
            AccessError::Keys(_) | AccessError::Config(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.code();
        let description = match &self.0 {
            AccessError::Store(error) => {
                tracing::error!(%error, "token store unavailable");
                "the token store is unavailable; retry later".to_string()
            }
            AccessError::Keys(_) | AccessError::Config(_) => {
                tracing::error!(error = %self.0, "token service failure");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match status {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"scimitar\""));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                if let AccessError::RateLimited(seconds) = &self.0 {
                    response.insert_header((header::RETRY_AFTER, seconds.to_string()));
                }
            }
            _ => {}
        }
        response.json(json!({"error": code, "error_description": description}))
    }
}

/// Runs token-service work off the async workers.
async fn run<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AccessError> + Send + 'static,
) -> Result<T, OAuthError> {
    web::block(work)
        .await
        .map_err(|_| OAuthError(AccessError::Config("a worker thread failed".into())))?
        .map_err(OAuthError)
}

/// Form parameters; a parameter sent twice is refused (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            AccessError::InvalidRequest("the body must be application/x-www-form-urlencoded".into())
        })?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(other, _)| other == name) {
                return Err(
                    AccessError::InvalidRequest(format!("parameter `{name}` is repeated")).into(),
                );
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| AccessError::InvalidRequest(format!("`{name}` is required")).into())
    }
}

/// The app client of the request, from HTTP Basic; a failure is counted like a bad bearer
/// token, against the client's address. The client's OAuth requests are limited only where
/// a cap is set for it (`access::limits`); its past failures never refuse a valid request.
async fn client(request: &HttpRequest, state: &web::Data<AppState>) -> Result<Caller, OAuthError> {
    let address = super::auth::client_address(request, state.trust_forwarded_for);
    let credentials = super::auth::basic_credentials(request);
    let Some((client_id, secret)) = credentials else {
        state
            .limits
            .failed_authentication(address)
            .map_err(limited)?;
        return Err(AccessError::InvalidClient.into());
    };
    let state = state.clone();
    run(move || {
        let result = state.access.authenticate_client(&client_id, &secret);
        if matches!(result, Err(AccessError::InvalidClient)) {
            state
                .limits
                .failed_authentication(address)
                .map_err(limited)?;
            let now = state.clock.now();
            state
                .auth_failures
                .record(&state.store, &credentials::digest(&secret), now)?;
        }
        let caller = result?;
        state
            .limits
            .oauth_request(&caller.client_id, caller.oauth_per_second)
            .map_err(limited)?;
        Ok(caller)
    })
    .await
}

fn limited(wait: RetryAfter) -> AccessError {
    AccessError::RateLimited(wait.0)
}

/// Counts a request of an authenticated client that failed by the client's fault (not a
/// grant that deprovisioning ended) against the client's failure budget; past it, that
/// failing request is answered 429 instead of its error.
fn counted<T>(
    state: &AppState,
    client_id: &str,
    result: Result<T, OAuthError>,
) -> Result<T, OAuthError> {
    match result {
        Err(OAuthError(error)) if error.is_clients_fault() => {
            state
                .limits
                .credential_failed(client_id, FailureKind::BadRequest)
                .map_err(limited)?;
            Err(OAuthError(error))
        }
        other => other,
    }
}

#[utoipa::path(post, path = "/oauth2/token", tag = "oauth", security(("basic" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", content = ref("#/components/schemas/TokenRequest")),
    responses(
    (status = 200, description = "Tokens", body = ref("#/components/schemas/TokenResponse")),
    (status = 400, description = "RFC 6749 error (`invalid_request`, `invalid_grant`, …)", body = ref("#/components/schemas/OAuthError")),
    (status = 401, description = "`invalid_client`: missing or wrong HTTP Basic credentials", body = ref("#/components/schemas/OAuthError")),
    (status = 413, description = "Body too large", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
    (status = 429, description = "`temporarily_unavailable`, with `Retry-After`", body = ref("#/components/schemas/OAuthError")),
    (status = 500, description = "`server_error`", body = ref("#/components/schemas/OAuthError")),
    (status = 503, description = "`temporarily_unavailable`: the token store is unavailable, with `Retry-After`", body = ref("#/components/schemas/OAuthError")),
))]
async fn token(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let caller = client(&request, &state).await?;
    let client_id = caller.client_id.clone();
    let result = grant(state.clone(), caller, body).await;
    counted(&state, &client_id, result)
}

async fn grant(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&body)?;
    let response = match form.require("grant_type")? {
        GRANT_TOKEN_EXCHANGE => {
            let exchange = Exchange {
                subject_token: form.require("subject_token")?.to_string(),
                subject_token_type: form.require("subject_token_type")?.to_string(),
                audience: form
                    .get("audience")
                    .or(form.get("resource"))
                    .map(String::from),
            };
            if let Some(requested) = form.get("requested_token_type")
                && requested != crate::access::tokens::TOKEN_TYPE_ACCESS_TOKEN
            {
                return Err(AccessError::InvalidRequest(format!(
                    "requested_token_type `{requested}` is not supported"
                ))
                .into());
            }
            run(move || state.access.exchange(&caller, &exchange)).await?
        }
        GRANT_REFRESH_TOKEN => {
            let refresh_token = form.require("refresh_token")?.to_string();
            run(move || state.access.refresh(&caller, &refresh_token)).await?
        }
        GRANT_CLIENT_CREDENTIALS => {
            let scope = form.get("scope").map(String::from);
            let issued =
                run(move || state.access.client_credentials(&caller, scope.as_deref())).await?;
            return Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(issued));
        }
        other => return Err(AccessError::UnsupportedGrantType(other.to_string()).into()),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response))
}

#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth", security(("basic" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", content = ref("#/components/schemas/IntrospectOrRevokeRequest")),
    responses(
    (status = 200, description = "RFC 7662 introspection", body = ref("#/components/schemas/Introspection")),
    (status = 400, description = "RFC 6749 error (`invalid_request`, `invalid_grant`, …)", body = ref("#/components/schemas/OAuthError")),
    (status = 401, description = "`invalid_client`: missing or wrong HTTP Basic credentials", body = ref("#/components/schemas/OAuthError")),
    (status = 413, description = "Body too large", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
    (status = 429, description = "`temporarily_unavailable`, with `Retry-After`", body = ref("#/components/schemas/OAuthError")),
    (status = 500, description = "`server_error`", body = ref("#/components/schemas/OAuthError")),
    (status = 503, description = "`temporarily_unavailable`: the token store is unavailable, with `Retry-After`", body = ref("#/components/schemas/OAuthError")),
))]
async fn introspect(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let caller = client(&request, &state).await?;
    let client_id = caller.client_id.clone();
    let access = state.clone();
    let result = async move {
        let form = Form::parse(&body)?;
        let token = form.require("token")?.to_string();
        run(move || access.access.introspect(&caller, &token)).await
    }
    .await;
    let answer = counted(&state, &client_id, result)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth", security(("basic" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", content = ref("#/components/schemas/IntrospectOrRevokeRequest")),
    responses(
    (status = 200, description = "Revoked (or unknown: RFC 7009 §2.2); empty body"),
    (status = 400, description = "RFC 6749 error (`invalid_request`, `invalid_grant`, …)", body = ref("#/components/schemas/OAuthError")),
    (status = 401, description = "`invalid_client`: missing or wrong HTTP Basic credentials", body = ref("#/components/schemas/OAuthError")),
    (status = 413, description = "Body too large", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
    (status = 429, description = "`temporarily_unavailable`, with `Retry-After`", body = ref("#/components/schemas/OAuthError")),
    (status = 500, description = "`server_error`", body = ref("#/components/schemas/OAuthError")),
    (status = 503, description = "`temporarily_unavailable`: the token store is unavailable, with `Retry-After`", body = ref("#/components/schemas/OAuthError")),
))]
async fn revoke(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let caller = client(&request, &state).await?;
    let client_id = caller.client_id.clone();
    let access = state.clone();
    let result = async move {
        let form = Form::parse(&body)?;
        let token = form.require("token")?.to_string();
        let hint = form.get("token_type_hint").map(String::from);
        run(move || access.access.revoke(&caller, &token, hint.as_deref())).await
    }
    .await;
    counted(&state, &client_id, result)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The public keys of the access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses(
    (status = 200, description = "JSON Web Key Set", body = ref("#/components/schemas/Jwks")),
    (status = 500, description = "`server_error`", body = ref("#/components/schemas/OAuthError")),
    (status = 503, description = "The key store is unavailable", body = ref("#/components/schemas/OAuthError")),
))]
async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let keys = state.clone();
    run(move || {
        keys.access
            .keys()
            .refresh_if_stale(keys.access.store(), keys.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.access.keys().jwks()))
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses(
    (status = 200, description = "RFC 8414 metadata", body = ref("#/components/schemas/AuthorizationServerMetadata")),
))]
async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state
        .access
        .settings()
        .issuer
        .trim_end_matches('/')
        .to_string();
    let body: Value = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "global_token_revocation_endpoint": format!("{issuer}{}", super::gtr::PATH),
        // A caller's signed JWT (what Auth0 names the method, and the `typ` Okta sends), or
        // the tenant's SCIM credential as a bearer token (RFC 6750).
        "global_token_revocation_endpoint_auth_methods_supported": [
            crate::access::revocation_callers::ASSERTION_TYPE, "Bearer"
        ],
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": [GRANT_TOKEN_EXCHANGE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS],
        "scopes_supported": [SCOPE_SSF_READ, SCOPE_SSF_MANAGE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
        "response_types_supported": [],
        "subject_token_types_supported": [TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_SCIM_USER],
        "access_token_signing_alg_values_supported": ["EdDSA"],
    });
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body)
}
