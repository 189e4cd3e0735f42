//! The console's stylesheet and scripts, embedded in the binary. Their names carry their
//! versions, so a browser may cache them for good.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::error::ConsoleError;
use crate::scim::ScimError;

/// The stylesheet's name; bump it when the file changes.
pub const STYLESHEET: &str = "console-1.css";

/// (name, content type, bytes) of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        STYLESHEET,
        "text/css; charset=utf-8",
        include_bytes!("assets/console.css"),
    ),
    (
        "htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/htmx-2.0.11.min.js"),
    ),
    (
        "htmx-ext-sse-2.2.4.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/htmx-ext-sse-2.2.4.min.js"),
    ),
    (
        "LICENSE-htmx.txt",
        "text/plain; charset=utf-8",
        include_bytes!("assets/LICENSE-htmx.txt"),
    ),
];

/// `GET /console/assets/{name}`: public, like any page's stylesheet (no personal data).
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(known, _, _)| *known == name.as_str())
        .ok_or_else(|| ScimError::NotFound("no such asset".into()))?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(*bytes))
}
