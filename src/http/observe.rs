//! An optional hook that sees every response of the non-SCIM APIs as the client gets it
//! (after the error middleware), with its route pattern; the SCIM API and the operator
//! console's HTML pages are not in the OpenAPI document, so it does not see them. The test suite uses it to validate
//! each response against the OpenAPI document; the server never sets one by itself.

use crate::http::error::ApiError;
use std::sync::Arc;

use actix_web::body::{self, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;

use super::SCIM_PATH;
use super::console::CONSOLE_PATH;
use crate::scim::ScimError;

/// One response, as the observer sees it.
#[derive(Debug)]
pub struct Observed<'a> {
    pub method: &'a str,
    /// The route pattern, as in the OpenAPI document (`/admin/v1/audit/{id}`).
    pub pattern: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    /// `None` for a stream (`text/event-stream`), which is never read to its end.
    pub body: Option<&'a [u8]>,
}

/// The hook; called on a worker thread, so it must be quick and must not panic.
#[derive(Clone)]
pub struct ResponseObserver(pub Arc<dyn Fn(&Observed<'_>) + Send + Sync>);

impl std::fmt::Debug for ResponseObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseObserver")
    }
}

/// Middleware: passes routed non-SCIM responses to the observer in the app data, if any.
pub(super) async fn observe_responses<B: MessageBody + 'static>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B, Bytes>>, actix_web::Error> {
    // Without an observer (production) this costs one app-data lookup.
    let watched = request
        .app_data::<ResponseObserver>()
        .cloned()
        .and_then(|o| {
            let pattern = request.match_pattern()?;
            let api = !pattern.starts_with(SCIM_PATH) && !pattern.starts_with(CONSOLE_PATH);
            api.then_some((o, pattern))
        });
    let Some((observer, pattern)) = watched else {
        return next.call(request).await.map(|r| r.map_into_left_body());
    };
    let method = request.method().to_string();
    let response = match next.call(request).await {
        Ok(response) => response,
        Err(error) => {
            // Becomes the response further out; observe what it will be.
            let reply = error.error_response();
            let content_type = content_type(reply.headers());
            let status = reply.status().as_u16();
            let bytes = body::to_bytes(reply.into_body()).await.unwrap_or_default();
            (observer.0)(&Observed {
                method: &method,
                pattern: &pattern,
                status,
                content_type: content_type.as_deref(),
                body: Some(&bytes),
            });
            return Err(error);
        }
    };
    let content_type = content_type(response.headers());
    let status = response.status().as_u16();
    if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("text/event-stream"))
    {
        (observer.0)(&Observed {
            method: &method,
            pattern: &pattern,
            status,
            content_type: content_type.as_deref(),
            body: None,
        });
        return Ok(response.map_into_left_body());
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|_| actix_web::Error::from(ApiError::from(ScimError::Internal)))?;
    (observer.0)(&Observed {
        method: &method,
        pattern: &pattern,
        status,
        content_type: content_type.as_deref(),
        body: Some(&bytes),
    });
    Ok(ServiceResponse::new(request, head.set_body(bytes)).map_into_right_body())
}

fn content_type(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}
