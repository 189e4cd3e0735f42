//! What can go wrong in a console request, and the HTML page that says so. The mapping to a
//! response lives with every other one, in `http::error`.

use askama::Template;

use crate::access::AccessError;
use crate::http::error::ApiError;
use crate::scim::ScimError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: the browser is sent to the sign-in page.
    #[error("sign in to continue")]
    SignInRequired,
    /// A state-changing form without this session's CSRF token: refused, nothing changed.
    #[error(
        "This form is missing its security token or carries another session's. Nothing was changed; reload the page and try again."
    )]
    CsrfRefused,
    /// Anything else, with the status and message the APIs would give.
    #[error("{0}")]
    Failed(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        ConsoleError::Failed(error)
    }
}

impl From<ScimError> for ConsoleError {
    fn from(error: ScimError) -> Self {
        ConsoleError::Failed(error.into())
    }
}

impl From<AccessError> for ConsoleError {
    fn from(error: AccessError) -> Self {
        ConsoleError::Failed(error.into())
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        ConsoleError::Failed(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html", config = "src/http/console/askama.toml")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
}

/// The page of a failed console request.
pub fn error_page(status: u16, message: &str) -> String {
    ErrorPage { status, message }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><p>Error {status}</p>"))
}
