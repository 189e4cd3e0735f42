//! Bearer-token authentication. The caller, and with it the tenant, comes from the credential
//! alone; nothing in the URL or body can choose a tenant. Each API admits one credential kind.

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

/// An authenticated operator: an admin credential.
pub struct AdminCaller(pub Caller);

impl FromRequest for ScimCaller {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ScimError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(request, CredentialKind::Scim);
        Box::pin(async move { caller.await.map(ScimCaller) })
    }
}

impl FromRequest for AdminCaller {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ScimError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(request, CredentialKind::Admin);
        Box::pin(async move { caller.await.map(AdminCaller) })
    }
}

/// The caller of `request`, which must hold a credential of `kind`.
fn authenticate(
    request: &HttpRequest,
    kind: CredentialKind,
) -> impl Future<Output = Result<Caller, ScimError>> + 'static {
    let token = bearer_token(request);
    let state = request.app_data::<web::Data<AppState>>().cloned();
    async move {
        let token = token?;
        let state = state.ok_or(ScimError::Internal)?;
        let now = state.clock.now();
        let store = state.store.clone();
        let failures = state.auth_failures.clone();
        let caller = blocking(move || {
            let caller = credentials::authenticate(&store, &token, now)?;
            if caller.is_none() {
                failures.record(&store, &credentials::digest(&token), now)?;
            }
            Ok(caller)
        })
        .await?;
        match caller {
            Some(caller) if caller.kind == kind => Ok(caller),
            Some(caller) => {
                tracing::warn!(client_id = %caller.client_id, kind = %caller.kind, wanted = %kind, "credential of the wrong kind");
                Err(ScimError::Forbidden(format!(
                    "this API needs a {kind} credential"
                )))
            }
            None => {
                tracing::warn!("authentication failed: unknown or revoked bearer token");
                Err(ScimError::Unauthorized(
                    "the bearer token is not valid".into(),
                ))
            }
        }
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
