//! Text forms shared by every layer: how case-insensitive names are compared and indexed,
//! and what may name a role. It sits at the bottom (it imports nothing of the crate) because
//! the store's keys, the SCIM filters and the token service's subject lookups must all fold
//! the same way, and the configuration file and the access layer must judge role names alike.

/// The form in which case-insensitive values (`userName`, a group's `displayName`, an
/// e-mail subject) are compared and indexed: Unicode compatibility normalization (NFKC) and
/// lower case, so that `alice`, `ALICE` and the fullwidth `ＡＬＩＣＥ` are one name, not three
/// look-alike accounts.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lowered: String = text.nfkc().collect::<String>().to_lowercase();
    lowered.nfkc().collect()
}

/// Letters that render as nothing (Hangul fillers): letters to Unicode, invisible to a reader.
const INVISIBLE_LETTERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

/// Why `role` cannot name a role, if it cannot. A role name is 1 to 200 letters (any
/// script), digits and `._-:/@+`, with at least one letter or digit: no spaces, no control or
/// invisible characters (a zero-width space or a Hangul filler would make two names that look
/// the same), no comma (roles travel comma-separated in `X-Scimitar-Roles`), and not only
/// punctuation (`..` would be a path).
pub fn role_name_problem(role: &str) -> Option<String> {
    let visible = |c: char| c.is_alphanumeric() && !INVISIBLE_LETTERS.contains(&c);
    let allowed = |c: char| visible(c) || "._-:/@+".contains(c);
    let valid = !role.is_empty()
        && role.len() <= 200
        && role.chars().all(allowed)
        && role.chars().any(visible);
    (!valid).then(|| {
        format!(
            "role `{}` is not valid: 1 to 200 letters, digits and `._-:/@+`, with a letter or digit",
            role.escape_debug()
        )
    })
}
