//! What every page shares: the chrome (who is signed in, the navigation, the sign-out form's
//! CSRF token), rendering a template into a response, reading a form, and formatting times.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use crate::access::operator_sessions::Operator;
use crate::http::error::HTML_CONTENT_TYPE;
use crate::scim::ScimError;

/// The navigation's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    People,
    Groups,
    Audit,
    Live,
}

/// The frame of a page: the operator, the section shown, the sign-out form's token.
pub struct Chrome {
    pub operator: String,
    pub csrf: String,
    pub section: Section,
}

impl Chrome {
    pub fn new(operator: &Operator, section: Section) -> Self {
        Self {
            operator: operator.name.clone(),
            csrf: operator.csrf_token().to_string(),
            section,
        }
    }

    /// `aria-current` of a navigation link: set on the section shown.
    pub fn current(&self, section: Section) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// A rendered template as an HTML response.
pub fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let body = page.render().map_err(|error| {
        tracing::error!(%error, "a console template failed to render");
        ConsoleError::from(ScimError::Internal)
    })?;
    Ok(HttpResponse::build(status)
        .content_type(HTML_CONTENT_TYPE)
        .body(body))
}

/// `200 OK` with the page.
pub fn ok(page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    html(StatusCode::OK, page)
}

/// An `application/x-www-form-urlencoded` body.
pub fn form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ScimError::InvalidValue(format!("the form could not be read: {e}")).into())
}

/// A time as the console shows it: UTC to the second.
pub fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A stored RFC 3339 string (as the JSON of the services carries it) for display.
pub fn when_text(text: &str) -> String {
    DateTime::parse_from_rfc3339(text)
        .map(|t| when(t.to_utc()))
        .unwrap_or_else(|_| text.to_string())
}

/// How far `time` is from `now`, in words: `in 3 h 5 min`, `2 min ago`.
pub fn relative(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (time - now).num_seconds();
    let span = seconds.unsigned_abs();
    let words = match span {
        0..60 => format!("{span} s"),
        60..3600 => format!("{} min", span / 60),
        3600..86400 => format!("{} h {} min", span / 3600, span % 3600 / 60),
        _ => format!("{} d {} h", span / 86400, span % 86400 / 3600),
    };
    if seconds >= 0 {
        format!("in {words}")
    } else {
        format!("{words} ago")
    }
}

/// A query string for a link, from the pairs whose value is not empty.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    match serde_urlencoded::to_string(kept) {
        Ok(text) if !text.is_empty() => format!("?{text}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(1);
        assert_eq!(
            relative(now + chrono::Duration::seconds(30), now),
            "in 30 s"
        );
        assert_eq!(
            relative(now - chrono::Duration::minutes(2), now),
            "2 min ago"
        );
        assert_eq!(
            relative(now + chrono::Duration::minutes(185), now),
            "in 3 h 5 min"
        );
    }

    #[test]
    fn links_keep_only_the_filled_parameters_and_encode_them() {
        assert_eq!(query(&[("q", "a b&c"), ("cursor", "")]), "?q=a+b%26c");
        assert_eq!(query(&[("q", "")]), "");
    }
}
