//! Bearer-token authentication. The caller, and with it the tenant, comes from the credential
//! alone; nothing in the URL or body can choose a tenant.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::{AppState, blocking};
use crate::access::credentials::{self, Caller, CredentialKind};
use crate::scim::ScimError;

/// An authenticated identity provider: a SCIM credential.
pub struct ScimCaller(pub Caller);

impl FromRequest for ScimCaller {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ScimError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(request);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token?;
            let state = state.ok_or(ScimError::Internal)?;
            let now = state.clock.now();
            let store = state.store.clone();
            let caller = blocking(move || {
                credentials::authenticate(&store, &token, now).map_err(ScimError::from)
            })
            .await?;
            match caller {
                Some(caller) if caller.kind == CredentialKind::Scim => Ok(ScimCaller(caller)),
                Some(caller) => {
                    tracing::warn!(client_id = %caller.client_id, kind = %caller.kind, "non-SCIM credential used on the SCIM API");
                    Err(ScimError::Forbidden(
                        "this credential is not a SCIM credential".into(),
                    ))
                }
                None => {
                    tracing::warn!("authentication failed: unknown or revoked bearer token");
                    Err(ScimError::Unauthorized(
                        "the bearer token is not valid".into(),
                    ))
                }
            }
        })
    }
}

fn bearer_token(request: &HttpRequest) -> Result<String, ScimError> {
    let missing =
        || ScimError::Unauthorized("an `Authorization: Bearer <token>` header is required".into());
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token.to_string())
}
