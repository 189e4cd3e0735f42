//! Bearer-token authentication. The caller, and with it the tenant, comes from the credential
//! alone; nothing in the URL or body can choose a tenant. Each API admits one credential kind.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use super::{AppState, blocking};
use crate::access::credentials::{self, Caller, CredentialKind};
use crate::access::limits::FailureKind;
use crate::scim::ScimError;

/// An authenticated identity provider: a SCIM credential.
pub struct ScimCaller(pub Caller);

/// An authenticated operator: an admin credential.
pub struct AdminCaller(pub Caller);

/// A reader of the event feed: an app client or an operator.
pub struct FeedCaller(pub Caller);

/// The credentials that read the revocation feed and stream.
pub(crate) const FEED_KINDS: &[CredentialKind] = &[CredentialKind::App, CredentialKind::Admin];

impl FromRequest for FeedCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(request, FEED_KINDS);
        Box::pin(async move { caller.await.map(FeedCaller) })
    }
}

impl FromRequest for ScimCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(request, &[CredentialKind::Scim]);
        Box::pin(async move { caller.await.map(ScimCaller) })
    }
}

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(request, &[CredentialKind::Admin]);
        Box::pin(async move { caller.await.map(AdminCaller) })
    }
}

/// The caller of `request`, which must hold a credential of one of `kinds`: a bearer secret,
/// or an app client's id and secret in HTTP Basic. Failed authentications count against the
/// client's address, and an app or admin credential used on the wrong API against that
/// credential's budget for such failures (`access::limits`); a valid credential on its own
/// API is never limited.
fn authenticate(
    request: &HttpRequest,
    kinds: &'static [CredentialKind],
) -> impl Future<Output = Result<Caller, ApiError>> + 'static {
    let (token, basic_id) = match basic_credentials(request) {
        Some((id, secret)) if kinds.contains(&CredentialKind::App) => (Ok(secret), Some(id)),
        _ => (bearer_token(request), None),
    };
    authenticate_secret(request, token, basic_id, kinds)
}

/// The caller a presented secret (or the error of a missing one) belongs to, which must be a
/// credential of one of `kinds`, with the same limits and failure records as a bearer token:
/// what the console's sign-in form checks a pasted admin secret with.
pub(crate) fn authenticate_secret(
    request: &HttpRequest,
    token: Result<String, ApiError>,
    basic_id: Option<String>,
    kinds: &'static [CredentialKind],
) -> impl Future<Output = Result<Caller, ApiError>> + 'static {
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let address = state
        .as_ref()
        .and_then(|s| client_address(request, s.trust_forwarded_for));
    async move {
        let state = state.ok_or(ScimError::Internal)?;
        let token = match token {
            Ok(token) => token,
            Err(missing) => {
                state
                    .limits
                    .failed_authentication(address)
                    .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
                return Err(missing);
            }
        };
        let now = state.clock.now();
        let same_client = move |c: &Caller| basic_id.as_ref().is_none_or(|id| *id == c.client_id);
        // A credential in use is answered from memory, on this worker; the blocking pool is
        // only for the database (first use in a minute, unknown or revoked secrets).
        let remembered = credentials::authenticate_from_memory(&state.store, &token, now);
        let caller = match remembered {
            Some(caller) if same_client(&caller) => Some(caller),
            _ => {
                let (store, limits) = (state.store.clone(), state.limits.clone());
                let failures = state.auth_failures.clone();
                blocking(move || {
                    let caller =
                        credentials::authenticate(&store, &token, now)?.filter(same_client);
                    if caller.is_none() {
                        limits
                            .failed_authentication(address)
                            .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
                        failures.record(&store, &credentials::digest(&token), now)?;
                    }
                    Ok(caller)
                })
                .await?
            }
        };
        let limited = |caller: &Caller| caller.kind != CredentialKind::Scim;
        match caller {
            // A valid credential on its own API is never refused for its past failures.
            Some(caller) if kinds.contains(&caller.kind) => Ok(caller),
            Some(caller) => {
                let wanted: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                let wanted = wanted.join(" or ");
                tracing::warn!(client_id = %caller.client_id, kind = %caller.kind, %wanted, "credential of the wrong kind");
                if limited(&caller) {
                    state
                        .limits
                        .credential_failed(&caller.client_id, FailureKind::WrongApi)
                        .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
                }
                Err(ScimError::Forbidden(format!("this API needs a {wanted} credential")).into())
            }
            None => {
                tracing::warn!("authentication failed: unknown or revoked bearer token");
                Err(ApiError::Unauthorized(
                    "the bearer token is not valid".into(),
                ))
            }
        }
    }
}

/// The client's address: the peer, or behind a trusted proxy the last `X-Forwarded-For`
/// entry (the one the proxy added; earlier ones are the client's to choose).
pub(crate) fn client_address(request: &HttpRequest, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(forwarded) = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse().ok())
    {
        return Some(forwarded);
    }
    request.peer_addr().map(|peer| peer.ip())
}

/// The secret a request presents, read as `authenticate` reads it for `kinds`.
pub(crate) fn presented_secret(request: &HttpRequest, kinds: &[CredentialKind]) -> Option<String> {
    match basic_credentials(request) {
        Some((_, secret)) if kinds.contains(&CredentialKind::App) => Some(secret),
        _ => bearer_token(request).ok(),
    }
}

/// `client_id:secret` from an HTTP Basic header, if there is one.
pub(crate) fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

pub(crate) fn bearer_token(request: &HttpRequest) -> Result<String, ApiError> {
    let missing =
        || ApiError::Unauthorized("an `Authorization: Bearer <token>` header is required".into());
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
