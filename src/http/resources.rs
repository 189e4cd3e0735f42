//! `/Users` and `/Groups`: the same handlers serve both, told apart by the scope's `ResourceKind`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::ScimCaller;
use super::{AppState, base_url, blocking, parse_body, scim_json};
use crate::scim::ScimError;
use crate::scim::list::ListRequest;
use crate::scim::resource::{Precondition, Resource};
use crate::scim::schema::ResourceKind;

pub fn routes(config: &mut web::ServiceConfig) {
    for kind in [ResourceKind::User, ResourceKind::Group] {
        config.service(
            web::scope(&format!("/{}", kind.endpoint()))
                .app_data(web::Data::new(kind))
                .service(web::resource("").get(list).post(create))
                .service(
                    web::resource("/{id}")
                        .get(get)
                        .put(replace)
                        .patch(patch)
                        .delete(delete),
                ),
        );
    }
}

type Query = web::Query<Vec<(String, String)>>;

async fn list(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: Query,
) -> Result<HttpResponse, ScimError> {
    let list_request = ListRequest::from_query(
        query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        state.scim.limits(),
    )?;
    let base = base_url(&request, &state);
    let kind = **kind;
    let body = blocking(move || {
        state
            .scim
            .list(kind, &caller.tenant_id, &list_request, &base)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

async fn create(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = parse_body(&request, &body)?;
    let base = base_url(&request, &state);
    let kind = **kind;
    let created =
        blocking(move || state.scim.create(kind, &caller.tenant_id, &body, &base)).await?;
    let mut response = resource_response(StatusCode::CREATED, &created);
    if let Ok(location) = header::HeaderValue::from_str(&created.location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn get(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let base = base_url(&request, &state);
    let kind = **kind;
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let found = blocking(move || state.scim.get(kind, &caller.tenant_id, &id, &base)).await?;
    if if_none_match.is_some_and(|tags| {
        Precondition::if_match(Some(&tags))
            .check(found.version)
            .is_ok()
    }) {
        let mut response = HttpResponse::NotModified().finish();
        if let Ok(etag) = header::HeaderValue::from_str(&found.etag()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
    Ok(resource_response(StatusCode::OK, &found))
}

async fn replace(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = parse_body(&request, &body)?;
    let (base, precondition, kind) = (base_url(&request, &state), if_match(&request), **kind);
    let replaced = blocking(move || {
        state
            .scim
            .replace(kind, &caller.tenant_id, &id, &body, &precondition, &base)
    })
    .await?;
    Ok(resource_response(StatusCode::OK, &replaced))
}

async fn patch(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let body = parse_body(&request, &body)?;
    let (base, precondition, kind) = (base_url(&request, &state), if_match(&request), **kind);
    let patched = blocking(move || {
        state
            .scim
            .patch(kind, &caller.tenant_id, &id, &body, &precondition, &base)
    })
    .await?;
    Ok(resource_response(StatusCode::OK, &patched))
}

async fn delete(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let (precondition, kind) = (if_match(&request), **kind);
    blocking(move || {
        state
            .scim
            .delete(kind, &caller.tenant_id, &id, &precondition)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn if_match(request: &HttpRequest) -> Precondition {
    Precondition::if_match(
        request
            .headers()
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok()),
    )
}

fn resource_response(status: StatusCode, resource: &Resource) -> HttpResponse {
    let mut response = scim_json(status, &resource.body);
    if let Ok(etag) = header::HeaderValue::from_str(&resource.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
