//! How a stored resource is shown: `schemas`, `id`, `externalId`, the attributes, and `meta`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::schema::ResourceSchema;

/// A resource as returned by the API, with what the HTTP layer needs for headers.
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub version: i64,
    pub location: String,
    pub body: Value,
    /// The answer is 204 No Content: the body was left unbuilt because it would be unbounded
    /// (a group PATCH, `scim::groups`); `body` holds only `schemas` and `id`.
    pub no_content: bool,
}

impl Resource {
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

/// The `If-Match` of a write: the versions the client believes current, or none given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Precondition {
    if_match: Option<Vec<String>>,
}

impl Precondition {
    /// From the `If-Match` header: entity tags separated by commas, or `*`.
    pub fn if_match(header: Option<&str>) -> Self {
        let tags = header.map(|h| {
            h.split(',')
                .map(|t| t.trim().trim_start_matches("W/").to_string())
                .collect()
        });
        Self { if_match: tags }
    }

    /// Passes when no `If-Match` was given, when it is `*`, or when it names `version`.
    pub fn check(&self, version: i64) -> Result<(), ScimError> {
        let Some(tags) = &self.if_match else {
            return Ok(());
        };
        let current = format!("\"{version}\"");
        if tags.iter().any(|t| t == "*" || *t == current) {
            Ok(())
        } else {
            Err(ScimError::PreconditionFailed(format!(
                "the resource is at version W/{current}"
            )))
        }
    }
}

/// A weak entity tag: the version counts writes, so equal versions mean equal content.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

pub fn location(base: &str, endpoint: &str, id: &str) -> String {
    format!("{base}/{endpoint}/{id}")
}

pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The bookkeeping every stored resource has.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub id: String,
    pub version: i64,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// Reads a stored attributes document.
pub fn parse_attributes(id: &str, text: &str) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => {
            tracing::error!(resource = id, "stored attributes are not a JSON object");
            Err(ScimError::Internal)
        }
    }
}

/// Builds the response body. `derived` holds attributes computed at read time (`groups`, `members`).
pub fn render(
    schema: &ResourceSchema,
    base: &str,
    stamp: &Stamp,
    mut attributes: Map<String, Value>,
    derived: Vec<(&'static str, Value)>,
) -> Resource {
    let location = location(base, schema.kind.endpoint(), &stamp.id);
    let mut schemas = vec![Value::String(schema.core.id.clone())];
    schemas.extend(
        schema
            .extensions
            .iter()
            .filter(|ext| attributes.contains_key(&ext.id))
            .map(|ext| Value::String(ext.id.clone())),
    );
    let mut body = Map::new();
    body.insert("schemas".into(), Value::Array(schemas));
    body.insert("id".into(), Value::String(stamp.id.clone()));
    if let Some(external_id) = attributes.remove("externalId") {
        body.insert("externalId".into(), external_id);
    }
    body.extend(attributes);
    for (name, value) in derived {
        if value.as_array().is_none_or(|values| !values.is_empty()) {
            body.insert(name.into(), value);
        }
    }
    body.insert(
        "meta".into(),
        json!({
            "resourceType": schema.kind.name(),
            "created": timestamp(stamp.created),
            "lastModified": timestamp(stamp.last_modified),
            "location": location,
            "version": etag(stamp.version),
        }),
    );
    Resource {
        id: stamp.id.clone(),
        version: stamp.version,
        location,
        body: Value::Object(body),
        no_content: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_current_version_weak_or_strong_or_a_star() {
        for header in ["W/\"3\"", "\"3\"", "*", "W/\"1\", W/\"3\""] {
            assert_eq!(
                Precondition::if_match(Some(header)).check(3),
                Ok(()),
                "{header}"
            );
        }
        assert_eq!(Precondition::if_match(None).check(3), Ok(()));
        assert!(matches!(
            Precondition::if_match(Some("W/\"2\"")).check(3),
            Err(ScimError::PreconditionFailed(_))
        ));
    }
}
