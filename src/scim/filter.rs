//! The SCIM filter language (RFC 7644 §3.4.2.2), parsed into a tree.
//!
//! A hand-written recursive-descent parser over bytes: `not` binds tighter than `and`, which
//! binds tighter than `or`; keywords and operators are case-insensitive; strings are JSON
//! strings. Input length and nesting depth are bounded, so no filter can exhaust the stack.
//! Entra's `emails[type eq "work"].value eq "…"` (a value path followed by a comparison) is
//! accepted as the value path with both conditions.

use std::fmt;

use serde_json::Number;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LENGTH: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// `[URI ":"] name ["." sub]`, as written (names are compared case-insensitively later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

/// Why a filter was refused; the text is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub uri: Option<String>,
    pub name: String,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    if input.len() > MAX_FILTER_LENGTH {
        return Err(FilterError(format!(
            "the path is longer than {MAX_FILTER_LENGTH} bytes"
        )));
    }
    let mut parser = Parser {
        input,
        bytes: input.as_bytes(),
        at: 0,
        depth: 0,
        value_path_comparison: false,
    };
    parser.skip_spaces();
    let attr = parser.attr_path()?;
    let mut path = PatchPath {
        uri: attr.uri,
        name: attr.name,
        filter: None,
        sub: attr.sub,
    };
    if parser.peek() == Some(b'[') {
        if path.sub.is_some() {
            return Err(parser.error("a value filter applies to an attribute, not a sub-attribute"));
        }
        parser.at += 1;
        parser.skip_spaces();
        path.filter = Some(parser.or_expression()?);
        parser.skip_spaces();
        if parser.peek() != Some(b']') {
            return Err(parser.error("expected `]`"));
        }
        parser.at += 1;
        if parser.peek() == Some(b'.') {
            parser.at += 1;
            path.sub = Some(parser.name()?);
        }
    }
    parser.skip_spaces();
    if parser.at < parser.bytes.len() {
        return Err(parser.error("unexpected text in path"));
    }
    Ok(path)
}

pub fn parse(input: &str) -> Result<Filter, FilterError> {
    parse_reporting(input).map(|(filter, _)| filter)
}

/// Parses, and says whether Entra's value-path comparison form was used (a quirk rule).
pub fn parse_reporting(input: &str) -> Result<(Filter, bool), FilterError> {
    if input.len() > MAX_FILTER_LENGTH {
        return Err(FilterError(format!(
            "the filter is longer than {MAX_FILTER_LENGTH} bytes"
        )));
    }
    let mut parser = Parser {
        input,
        bytes: input.as_bytes(),
        at: 0,
        depth: 0,
        value_path_comparison: false,
    };
    parser.skip_spaces();
    let filter = parser.or_expression()?;
    parser.skip_spaces();
    if parser.at < parser.bytes.len() {
        return Err(parser.error("unexpected text"));
    }
    Ok((filter, parser.value_path_comparison))
}

struct Parser<'a> {
    input: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    /// Entra's `attr[filter].sub op value` was used.
    value_path_comparison: bool,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> FilterError {
        FilterError(format!(
            "invalid filter: {what} at position {}",
            self.at + 1
        ))
    }

    fn skip_spaces(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn descend(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(FilterError(format!(
                "the filter nests deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        Ok(())
    }

    /// The keyword at the cursor, if the next word is `word` (any case) followed by a boundary.
    fn keyword(&mut self, word: &str) -> bool {
        let end = self.at + word.len();
        let matches = self
            .bytes
            .get(self.at..end)
            .is_some_and(|b| b.eq_ignore_ascii_case(word.as_bytes()))
            && self.bytes.get(end).is_none_or(|b| !is_name_byte(*b));
        if matches {
            self.at = end;
        }
        matches
    }

    fn or_expression(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and_expression()?;
        loop {
            let before = self.at;
            self.skip_spaces();
            if self.at > before && self.keyword("or") {
                self.skip_spaces();
                let right = self.and_expression()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.at = before;
                return Ok(left);
            }
        }
    }

    fn and_expression(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        loop {
            let before = self.at;
            self.skip_spaces();
            if self.at > before && self.keyword("and") {
                self.skip_spaces();
                let right = self.unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.at = before;
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        self.descend()?;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Filter, FilterError> {
        let start = self.at;
        if self.keyword("not") {
            self.skip_spaces();
            if self.peek() == Some(b'(') {
                return Ok(Filter::Not(Box::new(self.parenthesised()?)));
            }
            self.at = start; // an attribute that happens to be named `not…`
        }
        if self.peek() == Some(b'(') {
            return self.parenthesised();
        }
        self.attribute_expression()
    }

    fn parenthesised(&mut self) -> Result<Filter, FilterError> {
        self.at += 1; // (
        self.skip_spaces();
        let inner = self.or_expression()?;
        self.skip_spaces();
        if self.peek() != Some(b')') {
            return Err(self.error("expected `)`"));
        }
        self.at += 1;
        Ok(inner)
    }

    fn attribute_expression(&mut self) -> Result<Filter, FilterError> {
        let path = self.attr_path()?;
        if self.peek() == Some(b'[') {
            if path.sub.is_some() {
                return Err(
                    self.error("a value filter applies to an attribute, not a sub-attribute")
                );
            }
            self.at += 1;
            self.skip_spaces();
            let inner = self.or_expression()?;
            self.skip_spaces();
            if self.peek() != Some(b']') {
                return Err(self.error("expected `]`"));
            }
            self.at += 1;
            if self.peek() == Some(b'.') {
                // Entra: `emails[type eq "work"].value eq "x"`.
                self.value_path_comparison = true;
                self.at += 1;
                let sub = self.name()?;
                let sub_path = AttrPath {
                    uri: None,
                    name: sub,
                    sub: None,
                };
                let condition = self.comparison(sub_path)?;
                let filter = Filter::And(Box::new(inner), Box::new(condition));
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(filter),
                });
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let before = self.at;
        self.skip_spaces();
        if self.at == before {
            return Err(self.error("expected an operator after the attribute"));
        }
        if self.keyword("pr") {
            return Ok(Filter::Present(path));
        }
        let word_start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.at += 1;
        }
        let word = &self.input[word_start..self.at];
        let Some(op) = CompareOp::parse(word) else {
            self.at = word_start;
            return Err(self.error("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"));
        };
        let before_value = self.at;
        self.skip_spaces();
        if self.at == before_value {
            return Err(self.error("expected a space before the value"));
        }
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn value(&mut self) -> Result<CompValue, FilterError> {
        match self.peek() {
            Some(b'"') => self.string().map(CompValue::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ if self.keyword("true") => Ok(CompValue::Bool(true)),
            _ if self.keyword("false") => Ok(CompValue::Bool(false)),
            _ if self.keyword("null") => Ok(CompValue::Null),
            _ => Err(self.error("expected a value: a string, number, true, false or null")),
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'\\') => self.at += 2,
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(_) => self.at += 1,
            }
        }
        let literal = self
            .input
            .get(start..self.at)
            .ok_or_else(|| self.error("unterminated string"))?;
        serde_json::from_str(literal)
            .map_err(|_| FilterError(format!("invalid filter: bad string {literal}")))
    }

    fn number(&mut self) -> Result<CompValue, FilterError> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            self.at += 1;
        }
        let literal = &self.input[start..self.at];
        serde_json::from_str::<Number>(literal)
            .map(CompValue::Number)
            .map_err(|_| FilterError(format!("invalid filter: bad number `{literal}`")))
    }

    fn name(&mut self) -> Result<String, FilterError> {
        let start = self.at;
        if self.peek() == Some(b'$') {
            self.at += 1;
        }
        while self.peek().is_some_and(is_name_byte) {
            self.at += 1;
        }
        if self.at == start
            || !self.bytes[start..self.at]
                .iter()
                .any(u8::is_ascii_alphabetic)
        {
            return Err(self.error("expected an attribute name"));
        }
        Ok(self.input[start..self.at].to_string())
    }

    /// `urn:…:name.sub`: everything up to the last `:` is the schema URI.
    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| is_name_byte(b) || matches!(b, b':' | b'.' | b'$'))
        {
            self.at += 1;
        }
        let token = &self.input[start..self.at];
        if token.is_empty() {
            return Err(self.error("expected an attribute"));
        }
        let (uri, rest) = match token.rfind(':') {
            Some(i) => (Some(token[..i].to_string()), &token[i + 1..]),
            None => (None, token),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        let valid = |s: &str| {
            let s = s.strip_prefix('$').unwrap_or(s);
            s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) && s.bytes().all(is_name_byte)
        };
        if !valid(name)
            || sub.is_some_and(|s| !valid(s))
            || uri.as_deref().is_some_and(str::is_empty)
        {
            self.at = start;
            return Err(self.error(&format!("`{token}` is not an attribute path")));
        }
        Ok(AttrPath {
            uri,
            name: name.to_string(),
            sub: sub.map(String::from),
        })
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn path(name: &str) -> AttrPath {
        AttrPath {
            uri: None,
            name: name.into(),
            sub: None,
        }
    }

    fn eq(name: &str, value: &str) -> Filter {
        Filter::Compare {
            path: path(name),
            op: CompareOp::Eq,
            value: CompValue::String(value.into()),
        }
    }

    fn parsed(input: &str) -> Filter {
        match parse(input) {
            Ok(filter) => filter,
            Err(e) => panic!("`{input}` should parse: {e}"),
        }
    }

    #[test]
    fn the_idp_lookups_parse() {
        assert_eq!(
            parsed(r#"userName eq "bjensen""#),
            eq("userName", "bjensen")
        );
        assert_eq!(parsed(r#"externalId EQ "00u1""#), eq("externalId", "00u1"));
        assert_eq!(
            parsed(r#"userName eq "a" and externalId eq "b""#),
            Filter::And(
                Box::new(eq("userName", "a")),
                Box::new(eq("externalId", "b"))
            )
        );
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let filter = parsed(r#"a eq "1" or b eq "2" and not (c eq "3")"#);
        let expected = Filter::Or(
            Box::new(eq("a", "1")),
            Box::new(Filter::And(
                Box::new(eq("b", "2")),
                Box::new(Filter::Not(Box::new(eq("c", "3")))),
            )),
        );
        assert_eq!(filter, expected);
        let grouped = parsed(r#"(a eq "1" or b eq "2") and c eq "3""#);
        assert!(matches!(grouped, Filter::And(..)));
    }

    #[test]
    fn paths_with_schema_uris_and_sub_attributes_split_correctly() {
        let filter = parsed(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw "J""#);
        let Filter::Compare { path, op, .. } = filter else {
            panic!()
        };
        assert_eq!(
            path.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(
            (path.name.as_str(), path.sub.as_deref(), op),
            ("name", Some("familyName"), CompareOp::Sw)
        );
    }

    #[test]
    fn value_paths_and_entras_trailing_comparison_parse() {
        let filter = parsed(r#"emails[type eq "work" and value co "@example.com"]"#);
        assert!(matches!(filter, Filter::ValuePath { ref path, .. } if path.name == "emails"));
        let entra = parsed(r#"emails[type eq "work"].value eq "a@b.c""#);
        let Filter::ValuePath { filter, .. } = entra else {
            panic!()
        };
        assert_eq!(
            *filter,
            Filter::And(Box::new(eq("type", "work")), Box::new(eq("value", "a@b.c")))
        );
    }

    #[test]
    fn values_of_every_kind_parse() {
        let value = |input: &str| match parsed(input) {
            Filter::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(value("active eq True"), CompValue::Bool(true));
        assert_eq!(value("x eq null"), CompValue::Null);
        assert_eq!(
            value("x gt -1.5e3"),
            CompValue::Number(serde_json::Number::from_f64(-1500.0).unwrap_or(0.into()))
        );
        assert_eq!(
            value(r#"x eq "quote \" and \u00e9""#),
            CompValue::String("quote \" and é".into())
        );
        assert_eq!(parsed("title pr"), Filter::Present(path("title")));
    }

    #[test]
    fn malformed_filters_are_errors_not_panics() {
        let bad = [
            "",
            "userName",
            "userName eq",
            r#"userName eq "open"#,
            r#"userName equals "a""#,
            r#"userName eq "a" and"#,
            r#"(userName eq "a""#,
            r#"emails[type eq "work""#,
            r#"userName eq "a" extra"#,
            r#"userNameeq"a""#,
            "1abc eq 1",
            r#"a.b.c eq "x""#,
            "x eq tru",
            r#"name.givenName[type eq "x"]"#,
            "é eq 1",
        ];
        for input in bad {
            assert!(parse(input).is_err(), "`{input}` should be refused");
        }
    }

    #[test]
    fn over_long_and_over_deep_filters_are_refused() {
        let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_LENGTH));
        assert!(parse(&long).is_err());
        let deep = format!(
            "{}userName pr{}",
            "(".repeat(MAX_FILTER_DEPTH + 1),
            ")".repeat(MAX_FILTER_DEPTH + 1)
        );
        assert!(parse(&deep).is_err());
        let nots = format!("{}userName pr{}", "not (".repeat(1000), ")".repeat(1000));
        assert!(parse(&nots).is_err());
        let fine = format!(
            "{}userName pr{}",
            "(".repeat(MAX_FILTER_DEPTH - 1),
            ")".repeat(MAX_FILTER_DEPTH - 1)
        );
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn patch_paths_parse_in_all_four_forms() {
        let plain = parse_path("displayName").ok();
        assert_eq!(
            plain.map(|p| (p.name, p.sub, p.filter.is_none())),
            Some(("displayName".into(), None, true))
        );
        let sub = parse_path("name.givenName").ok();
        assert_eq!(
            sub.map(|p| (p.name, p.sub)),
            Some(("name".into(), Some("givenName".into())))
        );
        let Ok(filtered) = parse_path(r#"members[value eq "2819c223"]"#) else {
            panic!()
        };
        assert_eq!(filtered.filter, Some(eq("value", "2819c223")));
        let Ok(both) = parse_path(r#"emails[type eq "work"].value"#) else {
            panic!()
        };
        assert_eq!(
            (both.name.as_str(), both.sub.as_deref()),
            ("emails", Some("value"))
        );
        let Ok(urn) =
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
        else {
            panic!()
        };
        assert_eq!(
            urn.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        for bad in [
            "",
            "members[",
            "members[value eq \"x\"",
            "name.givenName[type eq \"x\"]",
            "a b",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn no_path_makes_the_parser_panic(input in r#"[a-zA-Z:.\[\]() "\\$0-9-]{0,80}"#) {
            let _ = parse_path(&input);
        }

        #[test]
        fn no_input_makes_the_parser_panic(input in "\\PC{0,200}") {
            let _ = parse(&input);
        }

        #[test]
        fn no_near_filter_makes_the_parser_panic(input in r#"[a-zA-Z:.\[\]() "\\$0-9-]{0,120}"#) {
            let _ = parse(&input);
        }
    }
}
