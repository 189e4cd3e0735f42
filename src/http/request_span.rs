//! The span every request's logs sit in: method, route, path and request id, never the
//! query string (a client may put a credential or a person's name in it) or headers.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

pub struct RequestSpan;

/// The route pattern the request matched (`None` when no route did), found once per request.
#[derive(Clone)]
pub struct RoutePattern(pub Option<String>);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        // Finding the pattern walks the routes with regular expressions: once per request,
        // kept for the SCIM metrics (`events::count_scim_request`).
        let route = RoutePattern(request.match_pattern());
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = route.0.as_deref().unwrap_or("default"),
            http.path = request.path(),
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        request.extensions_mut().insert(route);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
