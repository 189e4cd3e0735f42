//! Identifiers no person can see are refused. A `userName`, `externalId`, group
//! `displayName` or e-mail address is what people and identity providers match accounts on;
//! a control character or an invisible one (a zero-width space, a soft hyphen, a bidi
//! override) in it makes a second account that looks exactly like the first.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::ResourceKind;

/// Whether `c` cannot be seen, or moves or hides the text around it.
fn invisible(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            '\u{00AD}' // soft hyphen
                | '\u{034F}' // combining grapheme joiner
                | '\u{061C}' // Arabic letter mark
                | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
                | '\u{17B4}' | '\u{17B5}'
                | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
                | '\u{200B}'..='\u{200F}' // zero-width space, (non-)joiner, LRM, RLM
                | '\u{2028}'..='\u{202E}' // separators, bidi embeddings and overrides
                | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
                | '\u{FE00}'..='\u{FE0F}' // variation selectors
                | '\u{FEFF}' // byte order mark
                | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
                | '\u{E0000}'..='\u{E007F}' // tags
        )
}

fn check(name: &str, value: &Value) -> Result<(), ScimError> {
    let Some(text) = value.as_str() else {
        return Ok(());
    };
    match text.chars().find(|c| invisible(*c)) {
        Some(c) => Err(ScimError::InvalidValue(format!(
            "`{name}` contains an invisible or control character (U+{:04X}); identifiers must be plainly visible",
            c as u32
        ))),
        None => Ok(()),
    }
}

/// Checks the identifiers among a resource's normalized attributes.
pub fn check_identifiers(
    kind: ResourceKind,
    attributes: &Map<String, Value>,
) -> Result<(), ScimError> {
    let names: &[&str] = match kind {
        ResourceKind::User => &["userName", "externalId"],
        ResourceKind::Group => &["displayName", "externalId"],
    };
    for name in names {
        if let Some(value) = attributes.get(*name) {
            check(name, value)?;
        }
    }
    for email in attributes
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(value) = email.get("value") {
            check("emails.value", value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(value: Value) -> Result<(), ScimError> {
        match value {
            Value::Object(attributes) => check_identifiers(ResourceKind::User, &attributes),
            _ => Ok(()),
        }
    }

    #[test]
    fn invisible_and_control_characters_in_identifiers_are_refused() {
        for bad in [
            "ali\u{0}ce",
            "alice\r\n",
            "al\u{1b}[31mice",
            "alice\u{7f}",
            "alice\u{85}",
            "al\u{200b}ice",
            "al\u{200d}ice",
            "al\u{ad}ice",
            "\u{202e}ecila",
            "alice\u{2066}",
            "\u{feff}alice",
            "al\u{e0041}ice",
        ] {
            assert!(user(json!({"userName": bad})).is_err(), "{bad:?}");
            assert!(
                user(json!({"userName": "a", "externalId": bad})).is_err(),
                "{bad:?}"
            );
            let email = json!({"userName": "a", "emails": [{"value": bad}]});
            assert!(user(email).is_err(), "{bad:?}");
        }
        let group = json!({"displayName": "Eng\u{200b}ineering"});
        let Value::Object(group) = group else { return };
        assert!(check_identifiers(ResourceKind::Group, &group).is_err());
    }

    #[test]
    fn visible_names_in_any_script_are_accepted() {
        for good in [
            "alice@example.com",
            "Zoë Ñandú",
            "Σοφία",
            "李小龍",
            "אליס",
            "أليس",
            "a b",
        ] {
            assert!(
                user(json!({"userName": good, "externalId": good})).is_ok(),
                "{good}"
            );
        }
        let display = json!({"userName": "a", "displayName": "Family 👨\u{200d}👩\u{200d}👧"});
        assert!(
            user(display).is_ok(),
            "a person's display name is not an identifier"
        );
    }
}
