//! The one place where errors become HTTP responses. Handler errors are `ScimError`s (the
//! lower layers' errors convert into it: `AccessError` in `scim::error`, `SignalsError` here); anything
//! the framework answers by itself (unknown route, wrong method, oversized or unreadable body)
//! is rewritten by `scim_error_bodies` into the same RFC 7644 §3.12 shape.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use super::console::{ConsoleError, error_page};
use crate::scim::ScimError;
use crate::signals::SignalsError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";
/// The operator console's pages, errors included.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(SCIM_CONTENT_TYPE);
        match self {
            ScimError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scimitar\""));
            }
            ScimError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ScimError::TooManyRequests(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            _ => {}
        }
        response.body(self.body().to_string())
    }
}

/// The signals layer's errors answer in the SCIM error shape, like every other API error.
impl From<SignalsError> for ScimError {
    fn from(error: SignalsError) -> Self {
        match error {
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
        if let ConsoleError::Failed(ScimError::TooManyRequests(seconds)) = self {
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
        Err(error) if error.as_error::<ScimError>().is_some() => return Err(error),
        Err(error) => {
            tracing::debug!(%error, "request failed before a response");
            return Err(
                ScimError::from_status(error.as_response_error().status_code().as_u16()).into(),
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
    let mut replacement = ScimError::from_status(status.as_u16()).error_response();
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
