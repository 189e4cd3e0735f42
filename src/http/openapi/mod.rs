//! The OpenAPI 3.1 document of every non-SCIM API (OAuth, admin, events, SSF, health),
//! served at `GET /openapi.json`. Operations come from the `#[utoipa::path]` attributes on
//! the handlers; schemas from `schemas`. The SCIM API describes itself (RFC 7644 §4), so the
//! document links its discovery endpoints instead of repeating them.

mod role_schemas;
mod schemas;
mod signal_schemas;

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::routing::Api;
use super::{
    SCIM_PATH, admin, admin_roles, admin_signals, events, forward_auth, gtr, health, oauth,
    receive, ssf,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Scimitar non-SCIM APIs",
        description = "OAuth token authority, admin API, revocation events, Shared Signals transmitter and receiver, and health probes. The SCIM 2.0 API is described by its own discovery endpoints (see `x-scim-discovery`)."
    ),
    paths(document_json),
    tags(
        (name = "oauth", description = "Token, introspection and revocation endpoints; metadata and keys"),
        (name = "admin", description = "Admin API, for admin credentials of a tenant"),
        (name = "events", description = "Revocation feed, its live stream and Prometheus metrics"),
        (name = "ssf", description = "Shared Signals Framework transmitter"),
        (name = "ssf-receiver", description = "Shared Signals Framework receiver: a tenant's transmitters push Security Event Tokens (RFC 8935)"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "gtr", description = "Global Token Revocation (Okta Universal Logout): the identity provider ends a user's sessions"),
        (name = "forward-auth", description = "Forward auth for reverse proxies (nginx auth_request, Traefik, Caddy, Envoy): a bearer token judged from memory"),
        (name = "meta", description = "This document"),
    ),
    external_docs(
        url = "https://www.rfc-editor.org/rfc/rfc7644#section-4",
        description = "The SCIM API: /scim/v2/ServiceProviderConfig, /scim/v2/ResourceTypes and /scim/v2/Schemas describe it (RFC 7644 §4)"
    )
)]
struct Document;

/// The document, as served; built once.
pub fn document() -> Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build).clone()
}

fn build() -> Value {
    let mut doc = Document::openapi();
    for part in [
        oauth::Doc::openapi(),
        admin::Doc::openapi(),
        events::Doc::openapi(),
        ssf::Doc::openapi(),
        health::Doc::openapi(),
        gtr::Doc::openapi(),
        forward_auth::Doc::openapi(),
        receive::Doc::openapi(),
        admin_signals::Doc::openapi(),
        admin_roles::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    let mut value = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
    value["components"]["schemas"] = schemas::components();
    for more in [signal_schemas::components(), role_schemas::components()] {
        if let (Some(all), Value::Object(more)) =
            (value["components"]["schemas"].as_object_mut(), more)
        {
            all.extend(more);
        }
    }
    value["components"]["securitySchemes"] = json!({
        "basic": {"type": "http", "scheme": "basic", "description": "An app client's id and secret"},
        "bearer": {"type": "http", "scheme": "bearer", "description": "An admin credential, or an app client's secret"},
    });
    value["components"]["responses"] = common_responses();
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                add_common_errors(operation);
            }
        }
    }
    value["x-scim-discovery"] = json!({
        "base": SCIM_PATH,
        "serviceProviderConfig": format!("{SCIM_PATH}/ServiceProviderConfig"),
        "resourceTypes": format!("{SCIM_PATH}/ResourceTypes"),
        "schemas": format!("{SCIM_PATH}/Schemas"),
    });
    value
}

/// Errors any operation can answer whatever its handler does: they come from middleware
/// (`http::error`, the deadline, the rate limits, the body limit), so they are added here
/// once rather than on every handler. An operation's own entry for a status wins.
fn common_responses() -> Value {
    let scim_error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/scim+json": {"schema": {"$ref": "#/components/schemas/ScimError"}}},
        })
    };
    json!({
        "BadRequest": scim_error("Invalid parameters or body (`scimType` says which)"),
        "Unauthorized": scim_error("No credential, or a wrong one; `WWW-Authenticate` says which scheme"),
        "Forbidden": scim_error("The credential may not use this API"),
        "PayloadTooLarge": scim_error("The body exceeds `max_body_bytes`"),
        "UnsupportedMediaType": scim_error("The body is not JSON"),
        "TooManyRequests": scim_error("Rate limited; `Retry-After` says when to retry"),
        "InternalError": scim_error("An internal error"),
        "Unavailable": scim_error("The database does not answer, or the request missed its deadline; `Retry-After` says when to retry"),
    })
}

fn add_common_errors(operation: &mut Value) {
    let secured = operation.get("security").is_some();
    // The OAuth endpoints answer client errors as OAuth errors (400/401), never 403 or 415.
    let oauth = operation["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == "oauth"));
    let with_body = operation.get("requestBody").is_some();
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, name: &str| {
        responses
            .entry(status)
            .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
    };
    // A NUL in any URL is refused with 400 before routing.
    add("400", "BadRequest");
    if secured {
        add("401", "Unauthorized");
        if !oauth {
            add("403", "Forbidden");
        }
        add("429", "TooManyRequests");
    }
    if with_body {
        add("413", "PayloadTooLarge");
        if !oauth {
            add("415", "UnsupportedMediaType");
        }
    }
    add("500", "InternalError");
    add("503", "Unavailable");
}

pub fn routes(api: &mut Api) {
    api.resource("/openapi.json", |r| r.get(document_json));
}

/// This document; no credential unless `metrics_token_sha256` is set (`observability`).
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 401, description = "`metrics_token_sha256` is set and the bearer token is missing or wrong", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        (status = 404, description = "Served on the `metrics_bind` listener, not this one", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        (status = 503, description = "Overloaded or past the request deadline", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
    )
)]
async fn document_json(
    request: actix_web::HttpRequest,
    state: actix_web::web::Data<super::AppState>,
) -> Result<HttpResponse, crate::http::error::ApiError> {
    super::observability::admit(&request, &state)?;
    static SERIALIZED: OnceLock<String> = OnceLock::new();
    let body = SERIALIZED.get_or_init(|| document().to_string());
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body.as_str()))
}
