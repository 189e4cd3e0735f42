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
use super::routing::Api;
use super::{AppState, blocking, parse_body};
use crate::access::AccessError;
use crate::access::global_revocation::{Requester, Revoked, Subject};
use crate::audit::{Actor, RequestInfo};
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
) -> Result<HttpResponse, ScimError> {
    let requester = requester(&request, &state).await?;
    let body = parse_body(&request, &body)?;
    let subject = Subject::from_request(&body)?;
    let (actor, info) = origin(&requester, &request);
    let access = state.access.clone();
    let answer = requester.clone();
    let revoked = blocking(move || {
        Ok(access.revoke_subject(&requester, &subject, Some(&actor), Some(&info))?)
    })
    .await?;
    match (revoked, answer) {
        (Revoked::UnknownSubject, Requester::IdentityProvider(_)) => Err(ScimError::NotFound(
            "no user of this tenant matches the subject".into(),
        )),
        _ => Ok(HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
    }
}

/// The SCIM credential of a tenant, or a JWT of a tenant's trusted issuer.
async fn requester(request: &HttpRequest, state: &AppState) -> Result<Requester, ScimError> {
    let token = bearer_token(request)?;
    if token.starts_with("scimitar_") || token.split('.').count() != 3 {
        let ScimCaller(caller) = ScimCaller::extract(request).await?;
        return Ok(Requester::IdentityProvider(caller));
    }
    let endpoint = format!(
        "{}{PATH}",
        state.access.settings().issuer.trim_end_matches('/')
    );
    let access = state.access.clone();
    let verified = blocking(move || Ok(access.revocation_requester(&token, &endpoint))).await?;
    match verified {
        Ok(requester) => Ok(requester),
        Err(AccessError::Store(error)) => Err(error.into()),
        Err(_) => {
            let address = super::auth::client_address(request, state.trust_forwarded_for);
            state
                .limits
                .failed_authentication(address)
                .map_err(|wait| ScimError::TooManyRequests(wait.0))?;
            Err(ScimError::Unauthorized(
                "the bearer token is neither the tenant's SCIM credential nor a valid JWT of its trusted issuer".into(),
            ))
        }
    }
}

/// The actor and request of the audit records.
fn origin(requester: &Requester, request: &HttpRequest) -> (Actor, RequestInfo) {
    let actor = match requester {
        Requester::IdentityProvider(caller) => Actor {
            client_id: caller.client_id.clone(),
            name: caller.name.clone(),
        },
        Requester::TrustedIssuer { issuer, .. } => Actor {
            client_id: issuer.clone(),
            name: "trusted issuer".into(),
        },
    };
    (actor, super::request_info(request))
}
