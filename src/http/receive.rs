//! `POST /ssf/v1/receive/{id}`: RFC 8935 push delivery to a tenant's Shared Signals receiver.
//! The transmitter authenticates with the receiver's push secret (`Authorization: Bearer …`,
//! configured on the transmitter as the stream's `authorization_header`); the SET's signature
//! is verified in any case. Answers: 202 when the SET was applied, recorded, or is a replay
//! (acknowledged without acting again); 400 with an RFC 8935 §2.3 body
//! (`{"err": …, "description": …}`) when it is refused; 401 `authentication_failed` for a
//! missing or wrong secret (or an unknown receiver); 403 `access_denied` for a disabled or
//! poll receiver; 503 when its keys or the database are unavailable (the transmitter retries).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::ApiError;
use super::routing::Api;
use crate::signals::receiver::{Delivery, ErrorCode, Outcome, PUSH, Refusal, manage};

/// Where transmitters push, below the public URL.
pub const PATH: &str = "/ssf/v1/receive";

/// The content type of a pushed SET (RFC 8417 §2.3).
const SET_CONTENT_TYPE: &str = "application/secevent+jwt";

#[derive(utoipa::OpenApi)]
#[openapi(paths(receive))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource(&format!("{PATH}/{{id}}"), |r| r.post(receive));
}

/// The RFC 8935 error answer.
fn refused(status: StatusCode, refusal: &Refusal) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scimitar\""));
    }
    response.body(refusal.body().to_string())
}

#[utoipa::path(post, path = "/ssf/v1/receive/{id}", tag = "ssf-receiver", operation_id = "ssf_receive",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The receiver's id (`/admin/v1/signal-receivers`)")),
    request_body(content_type = "application/secevent+jwt", content = String, description = "One Security Event Token (RFC 8417)"),
    responses(
        (status = 202, description = "Accepted: applied, recorded (nothing to do), or a replay acknowledged without acting again"),
        (status = 400, description = "Refused (RFC 8935 §2.3): not verified, not mapped to a user, or malformed", body = ref("#/components/schemas/SetError"), content_type = "application/json"),
        (status = 401, description = "`authentication_failed`: no push secret, a wrong one, or no such receiver", body = ref("#/components/schemas/SetError"), content_type = "application/json"),
        (status = 403, description = "`access_denied`: the receiver is disabled, or is a poll receiver", body = ref("#/components/schemas/SetError"), content_type = "application/json"),
))]
async fn receive(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let signals = &state.signals;
    let receiver = signals.find(&id).await.map_err(ApiError::from)?;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(receiver) = receiver.filter(|r| manage::push_authorized(r, presented)) else {
        let address = super::auth::client_address(&request, state.trust_forwarded_for);
        state
            .limits
            .failed_authentication(address)
            .map_err(|wait| ApiError::TooManyRequests(wait.0))?;
        let refusal = Refusal::new(
            ErrorCode::AuthenticationFailed,
            "send this receiver's push secret as `Authorization: Bearer …`",
        );
        return Ok(refused(StatusCode::UNAUTHORIZED, &refusal));
    };
    if !receiver.enabled || receiver.delivery_method != PUSH {
        let refusal = Refusal::new(
            ErrorCode::AccessDenied,
            "this receiver is disabled or polls its transmitter",
        );
        return Ok(refused(StatusCode::FORBIDDEN, &refusal));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(SET_CONTENT_TYPE) {
        let refusal = Refusal::new(
            ErrorCode::InvalidRequest,
            format!("a pushed SET is sent as `{SET_CONTENT_TYPE}`"),
        );
        return Ok(refused(StatusCode::BAD_REQUEST, &refusal));
    }
    let Ok(token) = std::str::from_utf8(&body) else {
        let refusal = Refusal::new(ErrorCode::InvalidRequest, "the body is not UTF-8");
        return Ok(refused(StatusCode::BAD_REQUEST, &refusal));
    };
    let info = super::request_info(&request);
    let outcome = signals
        .receive(&receiver, token, Delivery::Push, Some(info))
        .await
        .map_err(ApiError::from)?;
    match outcome {
        Outcome::Refused(refusal) => Ok(refused(StatusCode::BAD_REQUEST, &refusal)),
        Outcome::Applied(_) | Outcome::Ignored(_) | Outcome::Replayed => {
            Ok(HttpResponse::Accepted().finish())
        }
    }
}
