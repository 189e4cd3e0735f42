//! `/Roles` and `/Entitlements` (read-only): the roles and entitlements the tenant publishes,
//! for the identity provider's credential. Other methods get 405.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::auth::ScimCaller;
use super::error::ApiError;
use super::{AppState, base_url, blocking, scim_json};
use crate::audit::Actor;
use crate::scim::Context;
use crate::scim::catalog::{CatalogKind, CatalogProjection};
use crate::scim::list::ListRequest;
use crate::scim::projection::Projection;
use crate::scim::quirks::Quirks;

type Query = web::Query<Vec<(String, String)>>;

pub fn routes(config: &mut web::ServiceConfig) {
    for kind in [CatalogKind::Role, CatalogKind::Entitlement] {
        config.service(
            web::scope(&format!("/{}", kind.endpoint()))
                .app_data(web::Data::new(kind))
                .service(web::resource("").get(list))
                .service(web::resource("/{id}").get(get)),
        );
    }
}

fn param<'q>(query: &'q Query, name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Runs `read` with the caller's context, off the async workers.
async fn with_context<T: Send + 'static>(
    caller: crate::access::credentials::Caller,
    state: &web::Data<AppState>,
    request: &HttpRequest,
    read: impl FnOnce(&AppState, &Context) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let info = super::request_info(request);
    request
        .extensions_mut()
        .insert(super::events::TenantLabel(caller.tenant_id.clone()));
    let (state, base) = (state.clone(), base_url(request, state));
    blocking(move || {
        let quirks = Quirks::new(caller.strict, &info.id);
        let actor = Actor {
            client_id: caller.client_id.clone(),
            name: caller.name.clone(),
        };
        let projection = Projection::Default;
        let context = Context {
            tenant_id: &caller.tenant_id,
            base: &base,
            projection: &projection,
            actor: &actor,
            request: &info,
            quirks: &quirks,
        };
        read(&state, &context)
    })
    .await
}

async fn list(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<CatalogKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let projection = CatalogProjection::from_params(
        param(&query, "attributes"),
        param(&query, "excludedAttributes"),
    )?;
    let quirks = Quirks::new(caller.strict, "");
    let pairs = query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let list_request = ListRequest::from_query(pairs, state.scim.limits(), &quirks)?;
    let kind = **kind;
    let body = with_context(caller, &state, &request, move |state, context| {
        state
            .scim
            .list_catalog(context, kind, &list_request, &projection)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

async fn get(
    ScimCaller(caller): ScimCaller,
    kind: web::Data<CatalogKind>,
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let projection = CatalogProjection::from_params(
        param(&query, "attributes"),
        param(&query, "excludedAttributes"),
    )?;
    let (kind, id) = (**kind, id.into_inner());
    let body = with_context(caller, &state, &request, move |state, context| {
        state
            .scim
            .get_catalog(context, kind, &id, &projection)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}
