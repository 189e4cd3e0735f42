//! The operator console at `/console`: server-rendered HTML pages (askama templates under
//! `templates/`, checked when the crate compiles) with a vendored htmx for the live parts,
//! every asset embedded in the binary. Operators sign in with an admin credential.
//!
//! The console has no data of its own: each page reads through the services the admin and
//! SCIM APIs use (the SCIM query service, the access explanation, role mappings, the preview,
//! the audit reader, the revocation feed), and each action is the admin API's action under the
//! operator's credential, audited the same way. It is not part of the JSON API registry
//! (`routing::Api`) nor of the OpenAPI document: it is a browser interface, whose HTML
//! contract is checked by its own tests.
//!
//! - `session`: sign-in, sign-out, the session cookie, CSRF, the `Operator` extractor;
//! - `overview`, `people`, `groups`, `mappings`, `audit_log`, `live`: the pages;
//! - `scim_reads`: reads through the SCIM service; `records`: audit records and previews as
//!   rows; `view`: the page chrome and formatting; `chart`: the activity chart;
//! - `assets`: the stylesheet and scripts.

mod assets;
mod audit_log;
mod chart;
mod error;
mod groups;
mod live;
mod mappings;
mod overview;
mod people;
mod records;
mod roles;
mod scim_reads;
mod session;
mod view;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::from_fn;
use actix_web::web;

pub use error::{ConsoleError, error_page};

/// Where the console lives.
pub const CONSOLE_PATH: &str = "/console";
/// Where a browser without a live session is sent.
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// Registers the console's routes under `/console`.
pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope(CONSOLE_PATH)
            .wrap(from_fn(security_headers))
            .route("", web::get().to(overview::page))
            .route("/sign-in", web::get().to(session::sign_in_form))
            .route("/sign-in", web::post().to(session::sign_in))
            .route("/sign-out", web::post().to(session::sign_out))
            .route("/people", web::get().to(people::search))
            .route("/people/{id}", web::get().to(people::person))
            .route(
                "/people/{id}/kill-switch",
                web::get().to(people::confirm_kill_switch),
            )
            .route(
                "/people/{id}/kill-switch",
                web::post().to(people::kill_switch),
            )
            .route("/groups", web::get().to(groups::list))
            .route("/groups/{id}", web::get().to(groups::group))
            .route(
                "/mappings/preview",
                web::post().to(mappings::preview_mapping),
            )
            .route("/mappings", web::post().to(mappings::add_mapping))
            .route("/roles", web::post().to(roles::describe))
            .route(
                "/mappings/{id}/remove",
                web::get().to(mappings::confirm_removal),
            )
            .route(
                "/mappings/{id}/remove",
                web::post().to(mappings::remove_mapping),
            )
            .route("/audit", web::get().to(audit_log::search))
            .route("/audit/verify", web::get().to(audit_log::verify))
            .route(
                "/audit/export.jsonl",
                web::get().to(audit_log::export_jsonl),
            )
            .route("/audit/export.ocsf", web::get().to(audit_log::export_ocsf))
            .route("/audit/{id}", web::get().to(audit_log::record))
            .route("/live", web::get().to(live::page))
            .route("/live/stream", web::get().to(live::stream))
            .route("/flags/{id}/acknowledge", web::post().to(live::acknowledge))
            .route("/assets/{name}", web::get().to(assets::asset))
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<actix_web::HttpResponse, ConsoleError> {
    Err(crate::scim::ScimError::NotFound("There is no such console page.".into()).into())
}

/// Headers on every console response: scripts, styles and connections only from this origin
/// (no inline script can run, whatever a page contains), no framing, no referrer, no caching
/// of pages that show personal data.
async fn security_headers(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let asset = request.path().starts_with("/console/assets/");
    let mut response = next.call(request).await?;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}
