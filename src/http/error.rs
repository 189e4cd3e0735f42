//! The one place where errors become HTTP responses. Every handler returns an `ApiError`,
//! the HTTP face's own error: a protocol refusal (`ScimError`), or what only the face knows
//! (no or a wrong credential, a rate limit, a failure the framework produced before any
//! handler ran). The lower layers' errors convert into it, one way: `SignalsError`,
//! `AccessError` and `StoreError` here. Anything the framework answers by itself (unknown
//! route, wrong method, oversized or unreadable body) is rewritten by `scim_error_bodies`
//! into the same RFC 7644 §3.12 shape.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::console::{ConsoleError, error_page};
use crate::access::AccessError;
use crate::scim::ScimError;
use crate::scim::error::ERROR_SCHEMA;
use crate::signals::SignalsError;
use crate::store::StoreError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";
/// The operator console's pages, errors included.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// What a request to the API can fail with, as the HTTP face answers it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The protocol refused the request (RFC 7644 §3.12), or a lower layer failed.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// No credential, or not one this endpoint takes: 401 with a `Bearer` challenge.
    #[error("{0}")]
    Unauthorized(String),
    /// A rate limit refused the request; the number is the `Retry-After`, in seconds.
    #[error("too many requests; retry after {0} seconds")]
    TooManyRequests(u64),
    /// A status the framework produced before any handler ran, kept as it was.
    #[error("the request failed with status {0}")]
    Framework(u16),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Scim(error) => error.status(),
            ApiError::Unauthorized(_) => 401,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Framework(status) => *status,
        }
    }

    /// The response body, in the SCIM error shape whatever the cause.
    pub fn body(&self) -> serde_json::Value {
        match self {
            ApiError::Scim(error) => error.body(),
            other => json!({
                "schemas": [ERROR_SCHEMA],
                "status": other.status().to_string(),
                "detail": other.to_string(),
            }),
        }
    }

    /// The error for a failure the framework produced before any handler ran, by status alone.
    pub fn from_status(status: u16) -> Self {
        let scim = match status {
            400 => ScimError::InvalidSyntax("the request is malformed".into()),
            401 => return ApiError::Unauthorized("authentication required".into()),
            403 => ScimError::Forbidden("this credential may not do that".into()),
            404 => ScimError::NotFound("no such endpoint".into()),
            405 => {
                ScimError::MethodNotAllowed("this method is not allowed on this endpoint".into())
            }
            412 => ScimError::PreconditionFailed("the resource has changed".into()),
            413 => ScimError::PayloadTooLarge("the request body is too large".into()),
            415 => {
                ScimError::UnsupportedMediaType("use Content-Type: application/scim+json".into())
            }
            501 => ScimError::NotImplemented("not implemented".into()),
            500 => ScimError::Internal,
            503 => ScimError::Unavailable,
            other => return ApiError::Framework(other),
        };
        ApiError::Scim(scim)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(SCIM_CONTENT_TYPE);
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scimitar\""));
            }
            ApiError::Scim(ScimError::Unavailable) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            _ => {}
        }
        response.body(self.body().to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Scim(error.into())
    }
}

/// The signals layer's errors answer in the SCIM error shape, like every other API error.
impl From<SignalsError> for ApiError {
    fn from(error: SignalsError) -> Self {
        let scim = match error {
            SignalsError::InvalidValue(detail) => ScimError::InvalidValue(detail),
            SignalsError::NotFound(detail) => ScimError::NotFound(detail),
            SignalsError::Forbidden(detail) => ScimError::Forbidden(detail),
            SignalsError::KeysUnavailable(why) => {
                tracing::warn!(%why, "transmitter keys unavailable");
                ScimError::Unavailable
            }
            SignalsError::Randomness(why) => {
                tracing::error!(%why, "randomness failed");
                ScimError::Internal
            }
            SignalsError::Store(error) => error.into(),
            SignalsError::Scim(error) => error,
            SignalsError::Transmitter(why) => {
                ScimError::BadGateway(format!("the transmitter: {why}"))
            }
            SignalsError::Internal => ScimError::Internal,
        };
        ApiError::Scim(scim)
    }
}

/// The admin API's access errors.
impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Store(error) => error.into(),
            AccessError::NotFound(detail) => ScimError::NotFound(detail).into(),
            AccessError::RateLimited(seconds) => ApiError::TooManyRequests(seconds),
            AccessError::Keys(_) | AccessError::Config(_) => {
                tracing::error!(%error, "access failure");
                ScimError::Internal.into()
            }
            other => ScimError::InvalidValue(other.to_string()).into(),
        }
    }
}

/// The console answers in HTML: a missing or ended session goes to the sign-in page; any
/// other failure is a page with the status and, for the operator's mistakes, what was wrong.
impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignInRequired => StatusCode::SEE_OTHER,
            ConsoleError::CsrfRefused => StatusCode::FORBIDDEN,
            ConsoleError::Failed(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if let ConsoleError::SignInRequired = self {
            return response
                .insert_header((header::LOCATION, super::console::SIGN_IN_PATH))
                .finish();
        }
        if let ConsoleError::Failed(ApiError::TooManyRequests(seconds)) = self {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let message = match self {
            ConsoleError::Failed(error) if status.is_server_error() => {
                tracing::warn!(%error, "console request failed");
                "The server could not answer; try again shortly.".to_string()
            }
            other => other.to_string(),
        };
        response
            .content_type(HTML_CONTENT_TYPE)
            .body(error_page(status.as_u16(), &message))
    }
}

/// Middleware: any error response that is not already a SCIM error becomes one.
pub async fn scim_error_bodies(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = match next.call(request).await {
        Ok(response) => response,
        Err(error) if error.as_error::<ApiError>().is_some() => return Err(error),
        Err(error) => {
            tracing::debug!(%error, "request failed before a response");
            return Err(
                ApiError::from_status(error.as_response_error().status_code().as_u16()).into(),
            );
        }
    };
    let status = response.status();
    let failed = status.is_client_error() || status.is_server_error();
    if !failed || is_scim_json(response.headers().get(header::CONTENT_TYPE)) {
        return Ok(response.map_into_left_body());
    }
    if let Some(error) = response.response().error() {
        tracing::debug!(%error, "framework error rewritten as a SCIM error");
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let (http_request, _) = response.into_parts();
    let mut replacement = ApiError::from_status(status.as_u16()).error_response();
    if let Some(allow) = allow {
        replacement.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(http_request, replacement).map_into_right_body())
}

/// SCIM errors, the OAuth endpoints' JSON error objects and the console's HTML error pages
/// are already in their final form.
fn is_scim_json(content_type: Option<&HeaderValue>) -> bool {
    content_type.is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(SCIM_CONTENT_TYPE.as_bytes())
            || v.starts_with(b"application/json")
            || v.starts_with(b"text/html")
    })
}
