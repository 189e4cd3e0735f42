//! `POST /oauth2/global-token-revocation` (draft-parecki-oauth-global-token-revocation, the
//! request behind Okta Universal Logout): the tenant's identity provider names a user, every
//! session and token of theirs ends. The caller is the tenant's SCIM credential (a bearer
//! `scimitar_…` secret) or a JWT of the tenant's trusted issuer. Answers: 204 when done; 404
//! to the identity provider's credential for an unknown subject (it can list the tenant's
//! users anyway), 204 to a JWT caller, who is told nothing about who exists; 400 with an OAuth
//! error for a malformed request or an unsupported subject format.

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use tracing_actix_web::RequestId;

use super::auth::{ScimCaller, bearer_token};
use super::oauth::OAuthError;
use super::{AppState, parse_body};
use crate::access::AccessError;
use crate::access::global_revocation::{Requester, Revoked, Subject};
use crate::audit::{Actor, RequestInfo};
use crate::scim::ScimError;

/// Where the endpoint lives, below the issuer.
pub const PATH: &str = "/oauth2/global-token-revocation";

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(web::resource(PATH).post(revoke));
}

async fn revoke(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, actix_web::Error> {
    let requester = requester(&request, &state).await?;
    let body = parse_body(&request, &body)?;
    let subject = Subject::from_request(&body).map_err(OAuthError)?;
    let (actor, info) = origin(&requester, &request);
    let access = state.access.clone();
    let answer = requester.clone();
    let revoked =
        web::block(move || access.revoke_subject(&requester, &subject, Some(&actor), Some(&info)))
            .await
            .map_err(|_| ScimError::Internal)?
            .map_err(OAuthError)?;
    Ok(match (revoked, answer) {
        (Revoked::UnknownSubject, Requester::IdentityProvider(_)) => {
            HttpResponse::build(StatusCode::NOT_FOUND)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({"error": "invalid_request", "error_description": "no user of this tenant matches the subject"}))
        }
        _ => HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
    })
}

/// The SCIM credential of a tenant, or a JWT of a tenant's trusted issuer.
async fn requester(request: &HttpRequest, state: &AppState) -> Result<Requester, actix_web::Error> {
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
    let verified = web::block(move || access.revocation_requester(&token, &endpoint))
        .await
        .map_err(|_| ScimError::Internal)?;
    match verified {
        Ok(requester) => Ok(requester),
        Err(error) => {
            let address = super::auth::client_address(request, state.trust_forwarded_for);
            state
                .limits
                .failed_authentication(address)
                .map_err(|wait| ScimError::TooManyRequests(wait.0))?;
            Err(OAuthError(match error {
                AccessError::Store(e) => AccessError::Store(e),
                _ => AccessError::InvalidClient,
            })
            .into())
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
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let info = RequestInfo {
        id,
        method: request.method().to_string(),
        path: request.path().to_string(),
        received: Some(std::time::Instant::now()),
    };
    (actor, info)
}
