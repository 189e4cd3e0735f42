//! `/Users` and `/Groups`: the same handlers serve both, told apart by the scope's `ResourceKind`.

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::ScimCaller;
use super::error::ApiError;
use super::{AppState, base_url, blocking, parse_body, scim_json, store_read};
use crate::access::credentials::Caller;
use crate::audit::{Actor, RequestInfo};
use crate::scim::list::ListRequest;
use crate::scim::preview::Preview;
use crate::scim::projection::Projection;
use crate::scim::quirks::Quirks;
use crate::scim::resource::{Precondition, Resource};
use crate::scim::schema::ResourceKind;
use crate::scim::{Context, ScimError, ScimService};

/// Request header that turns a write into a preview of it (`scim::preview`).
pub const PREVIEW_HEADER: &str = "scimitar-preview";

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(web::resource("/.search").post(search_all));
    config.service(web::resource("/Bulk").post(bulk));
    for kind in [ResourceKind::User, ResourceKind::Group] {
        config.service(
            web::scope(&format!("/{}", kind.endpoint()))
                .app_data(web::Data::new(kind))
                .service(web::resource("").get(list).post(create))
                .service(web::resource("/.search").post(search))
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

/// What a handler derives from the request, owned so it can move to a blocking thread.
struct Scope {
    kind: ResourceKind,
    tenant_id: String,
    base: String,
    projection: Projection,
    actor: Actor,
    request: RequestInfo,
    quirks: Quirks,
}

impl Scope {
    fn new(
        caller: Caller,
        kind: ResourceKind,
        state: &AppState,
        request: &HttpRequest,
        params: &[(String, String)],
    ) -> Result<Self, ApiError> {
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let projection = Projection::from_params(
            state.scim.registry().resource(kind),
            param("attributes"),
            param("excludedAttributes"),
        )?;
        let info = super::request_info(request);
        let quirks = Quirks::new(caller.strict, &info.id);
        request
            .extensions_mut()
            .insert(super::events::TenantLabel(caller.tenant_id.clone()));
        Ok(Self {
            kind,
            tenant_id: caller.tenant_id,
            base: base_url(request, state),
            projection,
            actor: Actor {
                client_id: caller.client_id,
                name: caller.name,
            },
            request: info,
            quirks,
        })
    }

    fn context(&self) -> Context<'_> {
        Context {
            tenant_id: &self.tenant_id,
            base: &self.base,
            projection: &self.projection,
            actor: &self.actor,
            request: &self.request,
            quirks: &self.quirks,
        }
    }
}

async fn list(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    run_list(caller, Some(**kind), state, &request, &query).await
}

/// `POST /.search` (RFC 7644 §3.4.3): the list parameters in a `SearchRequest` body.
async fn search(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = search_params(&parse_body(&request, &body)?)?;
    run_list(caller, Some(**kind), state, &request, &params).await
}

/// `POST /.search` at the root: users and groups in one list.
async fn search_all(
    ScimCaller(caller): ScimCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = search_params(&parse_body(&request, &body)?)?;
    run_list(caller, None, state, &request, &params).await
}

/// A list of one resource type, or of all of them (`kind` `None`), from query-style pairs.
async fn run_list(
    caller: Caller,
    kind: Option<ResourceKind>,
    state: web::Data<AppState>,
    request: &HttpRequest,
    params: &[(String, String)],
) -> Result<HttpResponse, ApiError> {
    // For all types, attribute lists are read against the user schema, the one with extensions.
    let scope = Scope::new(
        caller,
        kind.unwrap_or(ResourceKind::User),
        &state,
        request,
        params,
    )?;
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let list_request = ListRequest::from_query(pairs, state.scim.limits(), &scope.quirks)?;
    let point = kind == Some(ResourceKind::User) && list_request.is_point_lookup();
    let store = state.store.clone();
    let body = store_read(&store, point, move || match kind {
        Some(kind) => Ok(state.scim.list(kind, &scope.context(), &list_request)?),
        None => Ok(state.scim.search_all(&scope.context(), &list_request)?),
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// `POST /Bulk`: the body is limited to `max_body_bytes`, advertised as `bulk.maxPayloadSize`.
async fn bulk(
    ScimCaller(caller): ScimCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&request, &body)?;
    let scope = Scope::new(caller, ResourceKind::User, &state, &request, &[])?;
    let (service, preview) = writer(&state, &request, &scope.tenant_id)?;
    let response = blocking(move || Ok(service.bulk(&scope.context(), &body)?)).await?;
    if let Some(preview) = preview {
        return Ok(preview_response(&preview, StatusCode::OK, Some(&response)));
    }
    Ok(scim_json(StatusCode::OK, &response))
}

/// A `SearchRequest` as query-style pairs; attribute lists may be JSON arrays.
fn search_params(body: &serde_json::Value) -> Result<Vec<(String, String)>, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("a SearchRequest is a JSON object".into()))?;
    let mut params = Vec::new();
    for (key, value) in object {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        params.push((key.clone(), text));
    }
    Ok(params)
}

/// The service a write goes through: a previewing one under `Scimitar-Preview: true`, with
/// where its records land.
fn writer(
    state: &AppState,
    request: &HttpRequest,
    tenant_id: &str,
) -> Result<(ScimService, Option<Arc<Preview>>), ScimError> {
    let Some(value) = request.headers().get(PREVIEW_HEADER) else {
        return Ok((state.scim.clone(), None));
    };
    match value.to_str().map(str::trim) {
        Ok(v) if v.eq_ignore_ascii_case("true") => {
            let (service, preview) = state.scim.previewing(tenant_id);
            Ok((service, Some(preview)))
        }
        Ok(v) if v.eq_ignore_ascii_case("false") => Ok((state.scim.clone(), None)),
        _ => Err(ScimError::InvalidValue(format!(
            "{PREVIEW_HEADER} must be `true` or `false`"
        ))),
    }
}

/// The preview report in place of the write's own answer.
fn preview_response(
    preview: &Preview,
    status: StatusCode,
    resource: Option<&Value>,
) -> HttpResponse {
    let body = crate::scim::preview::report(status.as_u16(), resource, &preview.records());
    scim_json(StatusCode::OK, &body)
}

async fn create(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&request, &body)?;
    let scope = Scope::new(caller, **kind, &state, &request, &query)?;
    let (service, preview) = writer(&state, &request, &scope.tenant_id)?;
    let created =
        blocking(move || Ok(service.create(scope.kind, &scope.context(), &body)?)).await?;
    if let Some(preview) = preview {
        return Ok(preview_response(
            &preview,
            StatusCode::CREATED,
            Some(&created.body),
        ));
    }
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
    query: Query,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::new(caller, **kind, &state, &request, &query)?;
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    // A group comes with its members, which may be many: only users are point reads.
    let (store, point) = (state.store.clone(), scope.kind == ResourceKind::User);
    let found = store_read(&store, point, move || {
        Ok(state.scim.get(scope.kind, &scope.context(), &id)?)
    })
    .await?;
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
    query: Query,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::new(caller, **kind, &state, &request, &query)?;
    update(
        ScimService::replace,
        scope,
        state,
        &request,
        id.into_inner(),
        &body,
    )
    .await
}

async fn patch(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: Query,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::new(caller, **kind, &state, &request, &query)?;
    update(
        ScimService::patch,
        scope,
        state,
        &request,
        id.into_inner(),
        &body,
    )
    .await
}

/// PUT and PATCH: same shape, different operation.
type Update = fn(
    &ScimService,
    ResourceKind,
    &Context,
    &str,
    &Value,
    &Precondition,
) -> Result<Resource, ScimError>;

async fn update(
    operation: Update,
    scope: Scope,
    state: web::Data<AppState>,
    request: &HttpRequest,
    id: String,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(request, body)?;
    let precondition = if_match(request);
    let (service, preview) = writer(&state, request, &scope.tenant_id)?;
    let updated = blocking(move || {
        Ok(operation(
            &service,
            scope.kind,
            &scope.context(),
            &id,
            &body,
            &precondition,
        )?)
    })
    .await?;
    // RFC 7644 §3.5.2: a PATCH may answer 204 No Content; the service says when it left an
    // unbounded body unbuilt.
    if let Some(preview) = preview {
        let (status, body) = match updated.no_content {
            true => (StatusCode::NO_CONTENT, None),
            false => (StatusCode::OK, Some(&updated.body)),
        };
        return Ok(preview_response(&preview, status, body));
    }
    if updated.no_content {
        let mut response = HttpResponse::NoContent().finish();
        if let Ok(etag) = header::HeaderValue::from_str(&updated.etag()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
    Ok(resource_response(StatusCode::OK, &updated))
}

async fn delete(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<ResourceKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::new(caller, **kind, &state, &request, &[])?;
    let precondition = if_match(&request);
    let (service, preview) = writer(&state, &request, &scope.tenant_id)?;
    blocking(move || Ok(service.delete(scope.kind, &scope.context(), &id, &precondition)?)).await?;
    if let Some(preview) = preview {
        return Ok(preview_response(&preview, StatusCode::NO_CONTENT, None));
    }
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
