//! Replays the request sequences under `tests/fixtures/`, taken from Okta's and Microsoft's
//! public documentation, against the real server on both backends. Each file is named for what
//! it proves; `{{name}}` in paths and body strings is replaced by a value captured earlier.

use std::collections::HashMap;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::on_both_backends;

fn fixture_files(idp: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(idp);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures for {idp}");
    files
}

fn substitute(text: &str, captured: &HashMap<String, String>) -> String {
    captured
        .iter()
        .fold(text.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{{{name}}}}}"), value)
        })
}

fn substitute_json(value: &Value, captured: &HashMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(substitute(text, captured)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_json(v, captured)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_json(v, captured)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every key of `expected` is in `actual` with an equal value (objects compared as subsets).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(k, v)| actual.get(k).is_some_and(|a| contains(a, v))),
        _ => actual == expected,
    }
}

async fn replay(app: &TestApp, file: &Path) {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("fixture"))
        .expect("fixture JSON");
    let mut captured = HashMap::new();
    for (index, step) in fixture["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let request = &step["request"];
        let method = Method::from_bytes(request["method"].as_str().unwrap_or("GET").as_bytes())
            .expect("method");
        let path = substitute(request["path"].as_str().unwrap_or("/"), &captured);
        let mut builder = app.request(method.clone(), &path);
        if let Some(body) = request.get("body") {
            builder = builder
                .header("content-type", "application/scim+json")
                .body(substitute_json(body, &captured).to_string());
        }
        let response = builder.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        let context = format!("{name}, step {} ({method} {path}): {text}", index + 1);
        assert_eq!(
            Some(u64::from(status)),
            step["expect"]["status"].as_u64(),
            "{context}"
        );
        if let Some(expected) = step["expect"].get("body_subset") {
            assert!(
                contains(&body, &substitute_json(expected, &captured)),
                "{context}\nexpected to contain {expected}"
            );
        }
        for (key, pointer) in step
            .get("capture")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let value = body
                .pointer(pointer.as_str().unwrap_or_default())
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{context}: nothing at {pointer}"));
            captured.insert(key.clone(), value.to_string());
        }
    }
}

on_both_backends! {
    async fn okta_documented_request_sequences_replay_correctly(app) {
        for file in fixture_files("okta") {
            replay(&app, &file).await;
        }
    }

    async fn entra_documented_request_sequences_replay_correctly(app) {
        for file in fixture_files("entra") {
            replay(&app, &file).await;
        }
    }
}
