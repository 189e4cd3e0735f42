//! Forward auth: `/auth/v1/forward`, for reverse proxies (nginx `auth_request`, Traefik
//! ForwardAuth, Caddy `forward_auth`, Envoy's HTTP ext_authz) in front of apps that check no
//! token themselves. The proxy sends the client's request headers; the bearer access token
//! is judged from memory (the signing keys, and the replica's revocation view, which follows
//! the outbox), never by a database read per request, with the guard's decision core. 200
//! with identity headers (`X-Scimitar-User`, `-Roles`, `-Session`, `-Tenant`, `-Client`) for
//! the proxy to pass on, or 401 with `WWW-Authenticate: Bearer error="invalid_token",
//! error_description="<code>"`. The app the proxy protects is named by `audience` in the
//! URL the proxy calls (the app client's id; several separated by commas): a token for
//! another app is refused, and so is one whose tenant is not the tenant of the app its `aud`
//! names (whose app an audience is, is read once per audience every 30 seconds, off the
//! request thread; a revoked app's audience opens nothing after that). Failures an attacker controls (no, malformed, forged or unknown
//! tokens) count against the client's address like any failed authentication; a revoked or
//! expired token does not.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use scimitar_guard::decision::{Verifier, key_id};
use scimitar_guard::{Claims, Config, Rejection};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::routing::Api;

pub const PATH: &str = "/auth/v1/forward";

#[derive(utoipa::OpenApi)]
#[openapi(paths(forward_get, forward_post, forward_put, forward_patch, forward_delete))]
pub struct Doc;

/// Envoy's ext_authz sends the original request's method (nginx, Traefik and Caddy send GET).
pub fn routes(api: &mut Api) {
    api.resource(PATH, |r| {
        r.get(forward_get)
            .post(forward_post)
            .put(forward_put)
            .patch(forward_patch)
            .delete(forward_delete)
    });
}

/// One documented handler per method, each the same check.
macro_rules! forward_handler {
    ($name:ident, $method:ident) => {
        #[utoipa::path($method, path = "/auth/v1/forward", tag = "forward-auth",
            security(("bearer" = [])),
            params(("audience" = String, Query, description = "The protected app's client id (the `aud` its tokens carry); several separated by commas")),
            responses(
                (status = 200, description = "The token is valid and not revoked; identity in `X-Scimitar-User`, `X-Scimitar-Roles`, `X-Scimitar-Session`, `X-Scimitar-Tenant`, `X-Scimitar-Client`"),
                (status = 400, description = "The proxy's URL names no `audience`", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
                (status = 401, description = "No token, or a token that is malformed, forged, expired, for another app, revoked, or judged while this replica's revocation view is stale; `WWW-Authenticate` says which", body = ref("#/components/schemas/TokenRefusal")),
                (status = 429, description = "Too many failed authentications from this address", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
                (status = 503, description = "The app directory (whose app the audience is) could not be read; nothing is let through", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        ))]
        async fn $name(
            request: HttpRequest,
            state: web::Data<AppState>,
            query: web::Query<ForwardQuery>,
        ) -> HttpResponse {
            forward(request, state, query).await
        }
    };
}

forward_handler!(forward_get, get);
forward_handler!(forward_post, post);
forward_handler!(forward_put, put);
forward_handler!(forward_patch, patch);
forward_handler!(forward_delete, delete);

#[derive(Debug, Deserialize)]
pub struct ForwardQuery {
    /// The audience the protected app's tokens carry (its client id), comma-separated.
    audience: Option<String>,
}

/// Leeway on `exp` and `nbf`: Scimitar issued the token on its own clock (or a replica's,
/// kept in step by NTP), so only replicas' skew is allowed for, not the minute a guard in
/// another machine allows; an expired token is refused within seconds of `exp`, as
/// introspection refuses it.
const LEEWAY: std::time::Duration = std::time::Duration::from_secs(5);

async fn forward(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ForwardQuery>,
) -> HttpResponse {
    let audience: Vec<String> = query
        .audience
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    if audience.is_empty() {
        let error = ApiError::from(crate::scim::ScimError::InvalidValue(
            "forward auth needs the protected app's `audience` in its URL".into(),
        ));
        return actix_web::ResponseError::error_response(&error);
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match judge(&state, authorization, audience) {
        Ok(claims) => match audience_tenant(&state, &claims.aud).await {
            // A token of one tenant never opens another tenant's app, whatever it names.
            Ok(Some(tenant)) if tenant == claims.tid => accepted(&claims),
            Ok(_) => refused(&Rejection::WrongAudience),
            Err(error) => {
                tracing::error!(%error, "forward auth could not resolve an audience");
                actix_web::ResponseError::error_response(&ApiError::from(
                    crate::scim::ScimError::Unavailable,
                ))
            }
        },
        Err(rejection) => {
            if attacker_controls(&rejection) {
                let address = super::auth::client_address(&request, state.trust_forwarded_for);
                if let Err(wait) = state.limits.failed_authentication(address) {
                    let error = crate::http::error::ApiError::TooManyRequests(wait.0);
                    return actix_web::ResponseError::error_response(&error);
                }
            }
            refused(&rejection)
        }
    }
}

/// The token's claims, if it is valid for `audience` and not revoked, from memory.
fn judge(
    state: &AppState,
    authorization: Option<&str>,
    audience: Vec<String>,
) -> Result<Claims, Rejection> {
    let token = scimitar_guard::bearer(authorization)?;
    let kid = key_id(token)?;
    let key = state
        .access
        .keys()
        .decoding_key(&kid)
        .ok_or_else(|| Rejection::UnknownKey(Some(kid.clone())))?;
    let issuer = &state.access.settings().issuer;
    let config = Config::new(issuer.as_str(), "", "")
        .with_audience(audience)
        .with_leeway(LEEWAY);
    let claims = Verifier::new(&config).verify(token, &key, state.clock.now())?;
    state.revocations.judge(&claims)?;
    Ok(claims)
}

/// The tenant whose active app client `audience` is: from memory, or read off the request
/// thread at most once per audience every 30 seconds.
async fn audience_tenant(
    state: &AppState,
    audience: &str,
) -> Result<Option<String>, crate::access::AccessError> {
    if let Some(known) = state.access.remembered_audience(audience) {
        return Ok(known);
    }
    let access = state.access.clone();
    let audience = audience.to_string();
    web::block(move || access.audience_tenant(&audience))
        .await
        .map_err(|e| crate::access::AccessError::Config(e.to_string()))?
}

/// Refusals an attacker can cause at will; a revoked, expired or stale-judged token is not one.
fn attacker_controls(rejection: &Rejection) -> bool {
    matches!(
        rejection,
        Rejection::Missing
            | Rejection::Malformed(_)
            | Rejection::BadSignature
            | Rejection::UnknownKey(_)
            | Rejection::WrongAlgorithm(_)
            | Rejection::WrongType(_)
            | Rejection::WrongIssuer
    )
}

fn accepted(claims: &Claims) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Scimitar-User", claims.sub.as_str()))
        .insert_header(("X-Scimitar-Roles", claims.roles.join(",")))
        .insert_header(("X-Scimitar-Session", claims.sid.as_str()))
        .insert_header(("X-Scimitar-Tenant", claims.tid.as_str()))
        .insert_header(("X-Scimitar-Client", claims.client_id.as_str()))
        .finish()
}

fn refused(rejection: &Rejection) -> HttpResponse {
    let challenge = match rejection {
        Rejection::Missing => "Bearer".to_string(),
        other => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            other.code()
        ),
    };
    // RFC 6750's error in the body too, for a proxy that shows it.
    HttpResponse::Unauthorized()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(serde_json::json!({"error": "invalid_token", "error_description": rejection.code()}))
}
