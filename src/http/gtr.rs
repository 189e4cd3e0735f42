//! `POST /oauth2/global-token-revocation` (draft-parecki-oauth-global-token-revocation, the
//! request behind Okta Universal Logout): the tenant's identity provider names a user, every
//! session and token of theirs ends. The caller is the tenant's SCIM credential (a bearer
//! `scimitar_…` secret) or a JWT of the tenant's trusted issuer. Answers: 204 when done; 404
//! to the identity provider's credential for an unknown subject (it can list the tenant's
//! users anyway), 204 to a JWT caller, who is told nothing about who exists; 400 for a malformed
//! request or an unsupported subject format. Errors are SCIM error bodies, as on the admin API.

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::auth::{ScimCaller, bearer_token};
use super::error::ApiError;
use super::routing::Api;
use super::{AppState, blocking, parse_body};
use crate::access::AccessError;
use crate::access::global_revocation::{Requester, Revoked, Subject};
use crate::access::revocation_callers::{self, CallerKeys};
use crate::audit::{Actor, RequestInfo};
use crate::egress::keys::{Lookup, pick};
use crate::scim::ScimError;

/// Where the endpoint lives, below the issuer.
pub const PATH: &str = "/oauth2/global-token-revocation";

#[derive(utoipa::OpenApi)]
#[openapi(paths(revoke))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource(PATH, |r| r.post(revoke));
}

#[utoipa::path(post, path = "/oauth2/global-token-revocation", tag = "gtr", operation_id = "global_token_revocation",
    security(("bearer" = [])),
    request_body(content_type = "application/json", content = ref("#/components/schemas/GlobalTokenRevocationRequest")),
    responses(
    (status = 204, description = "Every session and token of the named users ended (also when they had none, and for an unknown subject when the caller is a JWT of the trusted issuer)"),
    (status = 404, description = "No user of the tenant matches the subject (told only to the tenant's SCIM credential)", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
))]
async fn revoke(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let requester = requester(&request, &state).await?;
    let body = parse_body(&request, &body)?;
    let subject = Subject::from_request(&body)?;
    let (actor, info) = origin(&requester, &request);
    let access = state.access.clone();
    let answer = requester.clone();
    let revoked = blocking(move || {
        match access.revoke_subject(&requester, &subject, Some(&actor), Some(&info)) {
            // The JWT's `jti` was used before (on any replica): a replay.
            Err(AccessError::InvalidClient) => Err(ApiError::Unauthorized(
                "this global-token-revocation+jwt was used before (its jti is spent)".into(),
            )),
            other => Ok(other?),
        }
    })
    .await?;
    match (revoked, answer) {
        (Revoked::UnknownSubject, Requester::IdentityProvider(_)) => {
            Err(ScimError::NotFound("no user of this tenant matches the subject".into()).into())
        }
        _ => Ok(HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
    }
}

/// The SCIM credential of a tenant, or a JWT signed by a configured caller.
async fn requester(request: &HttpRequest, state: &AppState) -> Result<Requester, ApiError> {
    let token = bearer_token(request)?;
    if token.starts_with("scimitar_") || token.split('.').count() != 3 {
        let ScimCaller(caller) = ScimCaller::extract(request).await?;
        return Ok(Requester::IdentityProvider(caller));
    }
    match verified_caller(state, &token).await {
        Ok(requester) => Ok(requester),
        Err(AccessError::Store(error)) => Err(error.into()),
        Err(AccessError::KeysUnavailable(why)) => {
            tracing::warn!(%why, "a global token revocation caller's keys are unavailable");
            Err(ScimError::Unavailable.into())
        }
        Err(_) => {
            let address = super::auth::client_address(request, state.trust_forwarded_for);
            state
                .limits
                .failed_authentication(address)
                .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
            Err(ApiError::Unauthorized(
                "the bearer token is neither the tenant's SCIM credential nor a valid \
                 global-token-revocation+jwt of a configured caller"
                    .into(),
            ))
        }
    }
}

/// The configured caller that signed `jwt` for this endpoint's exact URL: picked by the
/// JWT's `iss` and `sub`, verified with that caller's keys (fetched through the destination
/// policy when they come from a `jwks_uri`).
async fn verified_caller(state: &AppState, jwt: &str) -> Result<Requester, AccessError> {
    let claimed = revocation_callers::claimed(jwt)?;
    let settings = state.access.settings();
    let caller = settings
        .revocation_callers
        .find(&claimed.issuer, &claimed.subject)
        .ok_or(AccessError::InvalidClient)?;
    let now = state.clock.now();
    let kid = claimed.header.kid.as_deref();
    let key = match &caller.keys {
        CallerKeys::Set(keys) => pick(keys, kid),
        CallerKeys::Uri(uri) => {
            let source = format!("gtr:{}:{}", caller.issuer, caller.client_id);
            match state
                .caller_keys
                .key(&state.egress, &source, uri, kid, now)
                .await
            {
                Ok(Lookup::Found(key)) => Some(*key),
                Ok(Lookup::Unknown) => None,
                Err(unavailable) => {
                    return Err(AccessError::KeysUnavailable(unavailable.to_string()));
                }
            }
        }
    }
    .ok_or(AccessError::InvalidClient)?;
    let endpoint = format!("{}{PATH}", settings.issuer.trim_end_matches('/'));
    let assertion = caller.verify(jwt, &key, &endpoint, now)?;
    Ok(Requester::Caller {
        tenant_id: caller.tenant_id.clone(),
        client_id: caller.client_id.clone(),
        user_attribute: caller.user_attribute,
        assertion,
        completion_stream: caller.completion_stream.clone(),
    })
}

/// The actor and request of the audit records.
fn origin(requester: &Requester, request: &HttpRequest) -> (Actor, RequestInfo) {
    let actor = match requester {
        Requester::IdentityProvider(caller) => Actor {
            client_id: caller.client_id.clone(),
            name: caller.name.clone(),
        },
        Requester::Caller {
            client_id,
            assertion,
            ..
        } => Actor {
            client_id: client_id.clone(),
            name: format!("revocation caller {}", assertion.issuer),
        },
    };
    (actor, super::request_info(request))
}
