//! The SCIM error of RFC 7644 §3.12: every refusal of the protocol is one of these.
//! Statuses are plain numbers here. Authentication, rate limits and framework failures are
//! the HTTP face's (`http::error::ApiError`), which wraps this and turns both into
//! responses in one place.

use serde_json::{Value, json};

use crate::store::StoreError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScimError {
    /// The request body or a parameter is not valid JSON or not the expected shape.
    #[error("{0}")]
    InvalidSyntax(String),
    /// A value has the wrong type, is missing though required, or is out of range.
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    InvalidFilter(String),
    /// A unique attribute (`userName`) is taken.
    #[error("{0}")]
    Uniqueness(String),
    #[error("{0}")]
    Mutability(String),
    /// A PATCH path that does not parse or names no attribute.
    #[error("{0}")]
    InvalidPath(String),
    /// A PATCH operation whose target does not exist.
    #[error("{0}")]
    NoTarget(String),
    /// A request that would carry a secret where it does not belong (a filter on `password`).
    #[error("{0}")]
    Sensitive(String),
    /// A pagination cursor that is malformed or belongs to another query (RFC 9865).
    #[error("{0}")]
    InvalidCursor(String),
    /// `If-Match` named another version than the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("the database is unavailable; retry later")]
    Unavailable,
    /// A server Scimitar called on the request's behalf (a Shared Signals transmitter)
    /// failed or answered what cannot be used; the detail says which and how.
    #[error("{0}")]
    BadGateway(String),
    /// Details are logged, never sent.
    #[error("an internal error occurred")]
    Internal,
}

impl ScimError {
    pub fn status(&self) -> u16 {
        match self {
            ScimError::InvalidSyntax(_)
            | ScimError::InvalidValue(_)
            | ScimError::InvalidFilter(_)
            | ScimError::Mutability(_)
            | ScimError::InvalidPath(_)
            | ScimError::NoTarget(_)
            | ScimError::InvalidCursor(_) => 400,
            ScimError::Forbidden(_) | ScimError::Sensitive(_) => 403,
            ScimError::NotFound(_) => 404,
            ScimError::MethodNotAllowed(_) => 405,
            ScimError::Uniqueness(_) => 409,
            ScimError::PreconditionFailed(_) => 412,
            ScimError::PayloadTooLarge(_) => 413,
            ScimError::UnsupportedMediaType(_) => 415,
            ScimError::Internal => 500,
            ScimError::NotImplemented(_) => 501,
            ScimError::Unavailable => 503,
            ScimError::BadGateway(_) => 502,
        }
    }

    /// The `scimType` of RFC 7644 Table 9, where one applies.
    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            ScimError::InvalidSyntax(_) => Some("invalidSyntax"),
            ScimError::InvalidValue(_) => Some("invalidValue"),
            ScimError::InvalidFilter(_) => Some("invalidFilter"),
            ScimError::Uniqueness(_) => Some("uniqueness"),
            ScimError::Mutability(_) => Some("mutability"),
            ScimError::InvalidPath(_) => Some("invalidPath"),
            ScimError::NoTarget(_) => Some("noTarget"),
            ScimError::InvalidCursor(_) => Some("invalidCursor"),
            ScimError::Sensitive(_) => Some("sensitive"),
            _ => None,
        }
    }

    /// The response body. `status` is a string, as RFC 7644 §3.12 and Okta require.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status().to_string(),
            "detail": self.to_string(),
        });
        if let (Some(scim_type), Some(map)) = (self.scim_type(), body.as_object_mut()) {
            map.insert("scimType".into(), Value::String(scim_type.into()));
        }
        body
    }
}

impl From<StoreError> for ScimError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "database unavailable");
                ScimError::Unavailable
            }
            StoreError::NotFound => ScimError::NotFound("resource not found".into()),
            StoreError::Conflict(_) => {
                ScimError::Uniqueness("a resource with the same unique value exists".into())
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ScimError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_body_has_the_error_schema_a_string_status_and_a_detail() {
        let errors = [
            ScimError::InvalidSyntax("x".into()),
            ScimError::InvalidValue("x".into()),
            ScimError::InvalidFilter("x".into()),
            ScimError::Uniqueness("x".into()),
            ScimError::Mutability("x".into()),
            ScimError::InvalidPath("x".into()),
            ScimError::NoTarget("x".into()),
            ScimError::InvalidCursor("x".into()),
            ScimError::Sensitive("x".into()),
            ScimError::PreconditionFailed("x".into()),
            ScimError::NotFound("x".into()),
            ScimError::Forbidden("x".into()),
            ScimError::MethodNotAllowed("x".into()),
            ScimError::PayloadTooLarge("x".into()),
            ScimError::UnsupportedMediaType("x".into()),
            ScimError::NotImplemented("x".into()),
            ScimError::Unavailable,
            ScimError::BadGateway("x".into()),
            ScimError::Internal,
        ];
        for error in errors {
            let body = error.body();
            assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{error:?}");
            assert_eq!(
                body["status"],
                json!(error.status().to_string()),
                "{error:?}"
            );
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{error:?}"
            );
            assert_eq!(
                body.get("scimType").and_then(Value::as_str),
                error.scim_type(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn storage_details_never_reach_the_client() {
        let error = ScimError::from(StoreError::Corrupt("SELECT * FROM users".into()));
        assert_eq!(error, ScimError::Internal);
        assert!(!error.body().to_string().contains("SELECT"));
        assert_eq!(
            ScimError::from(StoreError::Unavailable("connection refused".into())).status(),
            503
        );
    }
}
