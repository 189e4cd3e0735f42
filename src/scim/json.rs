//! Reading a request body strictly: a JSON object that names the same key twice (in any
//! case, since SCIM attribute names are case-insensitive) is ambiguous, and guessing which
//! one the sender meant could switch a user back on (`{"active": false, "Active": true}`), so
//! it is refused rather than read as "last one wins". A NUL character, which no stored
//! value may hold (Postgres text cannot), is refused anywhere in the body.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::ScimError;

/// Parses `bytes` as JSON, refusing duplicate keys and NUL characters.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ScimError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| {
            ScimError::InvalidSyntax(format!("the request body is not valid JSON: {e}"))
        })?;
    if holds_nul(&value) {
        return Err(ScimError::InvalidValue(
            "the request body contains a NUL character, which no value may hold".into(),
        ));
    }
    Ok(value)
}

/// Whether a NUL character appears in any key or string of `value`.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.to_lowercase()) {
                return Err(de::Error::custom(format_args!(
                    "the key `{}` appears twice in one object",
                    key.escape_debug()
                )));
            }
            let value = map.next_value_seed(StrictValue)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_well_formed_body_reads_as_serde_json_reads_it() {
        let text = br#"{"userName": "a", "emails": [{"value": "a@x", "primary": true}], "n": -1.5, "z": null, "k": 18446744073709551615}"#;
        let strict = parse_strict(text).unwrap_or_else(|e| panic!("{e:?}"));
        let plain: Value = serde_json::from_slice(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strict, plain);
    }

    #[test]
    fn duplicate_keys_at_any_depth_and_in_any_case_are_refused() {
        for text in [
            r#"{"active": true, "active": false}"#,
            r#"{"active": true, "Active": false}"#,
            r#"{"Operations": [{"op": "replace", "value": {"active": true, "ACTIVE": false}}]}"#,
            r#"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "a", "manager": "b"}}"#,
        ] {
            let refused = parse_strict(text.as_bytes());
            assert!(
                matches!(refused, Err(ScimError::InvalidSyntax(ref m)) if m.contains("appears twice")),
                "{text}: {refused:?}"
            );
        }
        assert!(
            parse_strict(br#"[{"a": 1}, {"a": 2}]"#).is_ok(),
            "same key in two objects"
        );
    }

    #[test]
    fn a_nul_character_in_a_value_or_key_is_refused() {
        for text in [
            r#"{"userName": "a\u0000b"}"#,
            r#"{"a\u0000": 1}"#,
            r#"[["\u0000"]]"#,
        ] {
            let refused = parse_strict(text.as_bytes());
            assert!(
                matches!(refused, Err(ScimError::InvalidValue(_))),
                "{text}: {refused:?}"
            );
        }
        assert!(holds_nul(&json!({"a": ["b", {"c": "\u{0}"}]})));
    }

    #[test]
    fn trailing_content_and_deep_nesting_are_refused() {
        assert!(parse_strict(br#"{"a": 1} {"b": 2}"#).is_err());
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_strict(deep.as_bytes()).is_err());
    }
}
