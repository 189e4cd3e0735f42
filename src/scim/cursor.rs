//! Cursors for cursor-based pagination (RFC 9865): an opaque, URL-safe encoding of the position
//! after the last row of a page (its sort key and id) and of the query it belongs to. Keyset
//! pagination: a page deep in the list costs what the first page costs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use super::error::ScimError;
use crate::hashing::sha256_hex;
use crate::store::filter::CursorKey;

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub id: String,
    pub key: Option<CursorKey>,
}

#[derive(Serialize, Deserialize)]
struct Encoded {
    /// Id of the last row.
    i: String,
    /// Its sort key: text, or a time as RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    /// Fingerprint of the query: a cursor only continues the query that made it.
    q: String,
}

/// A short digest of what defines the list order and content.
pub fn fingerprint(query: &str) -> String {
    sha256_hex(query.as_bytes())[..16].to_string()
}

pub fn encode(position: &Position, fingerprint: &str) -> String {
    let (k, t) = match &position.key {
        Some(CursorKey::Text(text)) => (Some(text.clone()), None),
        Some(CursorKey::Time(time)) => (
            None,
            Some(time.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)),
        ),
        None => (None, None),
    };
    let encoded = Encoded {
        i: position.id.clone(),
        k,
        t,
        q: fingerprint.to_string(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&encoded).unwrap_or_default())
}

pub fn decode(cursor: &str, fingerprint: &str) -> Result<Position, ScimError> {
    let invalid = || ScimError::InvalidCursor(format!("`{cursor}` is not a cursor of this query"));
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let encoded: Encoded = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if encoded.q != fingerprint {
        return Err(invalid());
    }
    let key = match (encoded.k, encoded.t) {
        (Some(text), None) => Some(CursorKey::Text(text)),
        (None, Some(time)) => Some(CursorKey::Time(
            chrono::DateTime::parse_from_rfc3339(&time)
                .map_err(|_| invalid())?
                .naive_utc(),
        )),
        (None, None) => None,
        _ => return Err(invalid()),
    };
    Ok(Position { id: encoded.i, key })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::*;

    #[test]
    fn positions_round_trip_and_only_for_their_own_query() {
        let time =
            NaiveDateTime::parse_from_str("2026-11-29 10:00:00.123456", "%Y-%m-%d %H:%M:%S%.f")
                .unwrap_or_default();
        for key in [
            None,
            Some(CursorKey::Text("alice".into())),
            Some(CursorKey::Time(time)),
        ] {
            let position = Position {
                id: "01a2".into(),
                key,
            };
            let cursor = encode(&position, "q1");
            assert!(
                cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "URL-safe"
            );
            assert_eq!(decode(&cursor, "q1"), Ok(position));
            assert!(matches!(
                decode(&cursor, "q2"),
                Err(ScimError::InvalidCursor(_))
            ));
        }
        assert!(matches!(
            decode("not a cursor!", "q1"),
            Err(ScimError::InvalidCursor(_))
        ));
    }
}
