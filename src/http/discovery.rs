//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`. They require a SCIM credential
//! like the rest of the API: identity providers send one anyway, and it keeps the surface closed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::ScimCaller;
use super::error::ApiError;
use super::{AppState, base_url, blocking, scim_json};
use crate::scim::discovery;

pub fn routes(config: &mut web::ServiceConfig) {
    // Resources, not bare routes: other methods get 405 rather than 404.
    config
        .service(web::resource("/ServiceProviderConfig").get(service_provider_config))
        .service(web::resource("/ResourceTypes").get(resource_types))
        .service(web::resource("/ResourceTypes/{name}").get(resource_type))
        .service(web::resource("/Schemas").get(schemas))
        .service(web::resource("/Schemas/{id}").get(schema));
}

async fn service_provider_config(
    ScimCaller(caller): ScimCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let base = base_url(&request, &state);
    let events = {
        let state = state.clone();
        blocking(move || Ok(state.ssf.security_event_uris(&caller.tenant_id)?)).await?
    };
    Ok(scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(
            state.scim.registry(),
            state.scim.limits(),
            state.max_body_bytes,
            events,
            &base,
        ),
    ))
}

async fn resource_types(
    _: ScimCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> HttpResponse {
    let base = base_url(&request, &state);
    scim_json(
        StatusCode::OK,
        &discovery::resource_types(state.scim.registry(), &base),
    )
}

async fn resource_type(
    _: ScimCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let base = base_url(&request, &state);
    Ok(scim_json(
        StatusCode::OK,
        &discovery::resource_type(state.scim.registry(), &name, &base)?,
    ))
}

async fn schemas(_: ScimCaller, state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let base = base_url(&request, &state);
    scim_json(
        StatusCode::OK,
        &discovery::schemas(state.scim.registry(), &base),
    )
}

async fn schema(
    _: ScimCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let base = base_url(&request, &state);
    Ok(scim_json(
        StatusCode::OK,
        &discovery::schema(state.scim.registry(), &id, &base)?,
    ))
}
