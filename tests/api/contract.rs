//! Checks responses against the OpenAPI document: every test server gets a `Contract` as its
//! response observer (`scimitar::http::observe`), so every response of the non-SCIM APIs the
//! suite receives is checked: its (path, method, status) must be documented, its content type
//! must be one the document names, and a JSON body must validate against the schema. A
//! mismatch is recorded and fails the test when its `TestApp` is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use scimitar::http::observe::{Observed, ResponseObserver};
use serde_json::{Value, json};

/// The document, built once per test process.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(scimitar::http::openapi_document)
}

/// Validators by (pattern, method, status, content type), compiled once per test process.
type Validators = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(Default::default)
}

/// The responses one test server sent, and what was wrong with them.
#[derive(Debug, Default)]
pub struct Contract {
    checked: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
}

impl Contract {
    /// The observer to put in `ServerSettings`.
    pub fn observer(self: &Arc<Self>) -> ResponseObserver {
        let contract = self.clone();
        ResponseObserver(Arc::new(move |observed| contract.check(observed)))
    }

    /// `METHOD pattern status` of every response checked so far.
    pub fn checked(&self) -> Vec<String> {
        self.checked.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    pub fn check(&self, observed: &Observed<'_>) {
        let label = format!(
            "{} {} {}",
            observed.method, observed.pattern, observed.status
        );
        if let (Err(problem), Ok(mut failures)) = (verify(observed), self.failures.lock()) {
            failures.push(format!("{label}: {problem}"));
        }
        if let Ok(mut checked) = self.checked.lock() {
            checked.push(label);
        }
    }
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Follows a `#/components/...` reference of the document.
fn resolve(value: &Value) -> &Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => document()
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => value,
    }
}

fn verify(observed: &Observed<'_>) -> Result<(), String> {
    let doc = document();
    let method = observed.method.to_ascii_lowercase();
    let Some(item) = doc["paths"].get(observed.pattern) else {
        return Err("the path is not in the document".into());
    };
    let Some(operation) = item.get(&method) else {
        // A method the path does not have: actix answers 405 with a SCIM error.
        if observed.status == 405 {
            return validate_body(observed, "#/components/schemas/ScimError", "405");
        }
        return Err("the method is not documented for this path".into());
    };
    let status = observed.status.to_string();
    let Some(entry) = operation["responses"].get(&status) else {
        return Err("the status is not documented for this operation".into());
    };
    let base = match entry.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference.to_string(),
        None => format!(
            "#/paths/{}/{method}/responses/{status}",
            escape(observed.pattern)
        ),
    };
    let response = resolve(entry);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return match observed.body {
            Some(body) if !body.is_empty() => Err(format!(
                "documented without a body, got {}",
                String::from_utf8_lossy(body)
            )),
            _ => Ok(()),
        };
    };
    let got = observed.content_type.map(essence).unwrap_or_default();
    let Some(key) = content.keys().find(|name| essence(name) == got) else {
        let names: Vec<&String> = content.keys().collect();
        return Err(format!("content type `{got}` is not one of {names:?}"));
    };
    if !got.ends_with("json") {
        return match observed.body.map(std::str::from_utf8) {
            Some(Err(_)) => Err("a text body that is not UTF-8".into()),
            _ => Ok(()),
        };
    }
    let pointer = format!("{base}/content/{}/schema", escape(key));
    validate_body(observed, &pointer, &status)
}

/// JSON pointer escaping (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Validates the JSON body against the schema at `reference` in the document.
fn validate_body(observed: &Observed<'_>, reference: &str, status: &str) -> Result<(), String> {
    let body = observed.body.unwrap_or_default();
    let instance: Value = serde_json::from_slice(body).map_err(|error| {
        format!(
            "status {status}: not JSON ({error}): {}",
            String::from_utf8_lossy(body)
        )
    })?;
    let validator = validator(reference)?;
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{errors:?} in {instance}"))
    }
}

/// A validator for the schema at `reference`, resolving the document's own `$ref`s.
pub fn validator(reference: &str) -> Result<Arc<jsonschema::Validator>, String> {
    let mut cache = validators().lock().map_err(|e| e.to_string())?;
    if let Some(validator) = cache.get(reference) {
        return Ok(validator.clone());
    }
    // The schema itself, with the document's components beside it for its `$ref`s.
    let target = document()
        .pointer(reference.trim_start_matches('#'))
        .ok_or_else(|| format!("no schema at {reference}"))?;
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document()["components"],
        "allOf": [target],
    });
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|error| format!("the schema at {reference} does not compile: {error}"))?;
    let validator = Arc::new(validator);
    cache.insert(reference.to_string(), validator.clone());
    Ok(validator)
}
