//! Liveness and readiness probes, outside the SCIM API and without authentication.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::error::ApiError;
use super::routing::Api;
use super::{AppState, blocking};

#[derive(utoipa::OpenApi)]
#[openapi(paths(live, ready))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource("/health/live", |r| r.get(live))
        .resource("/health/ready", |r| r.get(ready));
}

/// The process is up and serving.
#[utoipa::path(get, path = "/health/live", tag = "health", responses(
    (status = 200, description = "Up", body = ref("#/components/schemas/HealthStatus")),
))]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers; otherwise 503, so a load balancer stops sending traffic here.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "The database answers", body = ref("#/components/schemas/HealthStatus")),
    (status = 503, description = "The database does not answer", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
))]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    blocking(move || store.ping().map_err(ApiError::from)).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(json!({"status": "ready"})))
}
