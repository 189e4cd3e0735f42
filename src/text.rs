//! Text forms shared by every layer: how case-insensitive names are compared and indexed.
//! It sits at the bottom (it imports nothing of the crate) because the store's keys, the
//! SCIM filters and the token service's subject lookups must all fold the same way.

/// The form in which case-insensitive values (`userName`, a group's `displayName`, an
/// e-mail subject) are compared and indexed: Unicode compatibility normalization (NFKC) and
/// lower case, so that `alice`, `ALICE` and the fullwidth `ＡＬＩＣＥ` are one name, not three
/// look-alike accounts.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lowered: String = text.nfkc().collect::<String>().to_lowercase();
    lowered.nfkc().collect()
}
