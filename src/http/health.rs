//! Liveness and readiness probes, outside the SCIM API and without authentication.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{AppState, blocking};
use crate::scim::ScimError;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

/// The process is up and serving.
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers; otherwise 503, so a load balancer stops sending traffic here.
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ScimError> {
    let store = state.store.clone();
    blocking(move || store.ping().map_err(ScimError::from)).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(json!({"status": "ready"})))
}
