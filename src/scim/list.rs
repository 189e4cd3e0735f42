//! List requests: paging parameters in, `ListResponse` out (RFC 7644 §3.4.2).

use serde_json::{Value, json};

use super::error::ScimError;
use super::filter::{self, AttrPath, CompareOp, Filter, parse_path};
use super::quirks::{Quirks, Rule};
use super::schema::LIST_RESPONSE_SCHEMA;

/// Page-size limits, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default_count: i64,
    pub max_count: i64,
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    /// 1-based index of the first result.
    pub start_index: i64,
    pub count: i64,
    pub filter: Option<Filter>,
    /// `sortBy`; ties and unsorted lists fall back to creation order.
    pub sort_by: Option<AttrPath>,
    /// `sortOrder=descending`.
    pub descending: bool,
    /// `cursor` (RFC 9865): `Some("")` asks for the first page of a cursor-paged list.
    pub cursor: Option<String>,
}

impl ListRequest {
    /// A lookup of at most one resource by a unique attribute (`id`, `userName`,
    /// `externalId` `eq`), first page, unsorted: what an identity provider sends before each
    /// write, answered by one index probe.
    pub fn is_point_lookup(&self) -> bool {
        let unique = |name: &str| {
            ["id", "userName", "externalId"]
                .iter()
                .any(|u| u.eq_ignore_ascii_case(name))
        };
        let by_unique = matches!(&self.filter, Some(Filter::Compare { path, op: CompareOp::Eq, .. })
            if path.sub.is_none() && unique(&path.name));
        by_unique && self.start_index == 1 && self.sort_by.is_none() && self.cursor.is_none()
    }

    /// Reads query parameters, whose names are matched case-insensitively. Out-of-range values are
    /// clamped as RFC 7644 §3.4.2.4 says: a `startIndex` below 1 means 1, a negative `count` means 0.
    pub fn from_query<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        limits: PageLimits,
        quirks: &Quirks,
    ) -> Result<Self, ScimError> {
        let mut request = ListRequest {
            start_index: 1,
            count: limits.default_count,
            filter: None,
            sort_by: None,
            descending: false,
            cursor: None,
        };
        for (name, value) in params {
            if name.eq_ignore_ascii_case("startIndex") {
                request.start_index = parse_integer(name, value)?.max(1);
            } else if name.eq_ignore_ascii_case("count") {
                request.count = parse_integer(name, value)?.clamp(0, limits.max_count);
            } else if name.eq_ignore_ascii_case("cursor") {
                request.cursor = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("sortBy") {
                let path = parse_path(value)
                    .map_err(|e| ScimError::InvalidValue(format!("sortBy: {e}")))?;
                if path.filter.is_some() {
                    return Err(ScimError::InvalidValue(
                        "sortBy takes an attribute, not a filter".into(),
                    ));
                }
                request.sort_by = Some(AttrPath {
                    uri: path.uri,
                    name: path.name,
                    sub: path.sub,
                });
            } else if name.eq_ignore_ascii_case("sortOrder") {
                request.descending = match value.to_ascii_lowercase().as_str() {
                    "ascending" => false,
                    "descending" => true,
                    _ => {
                        return Err(ScimError::InvalidValue(
                            "sortOrder is ascending or descending".into(),
                        ));
                    }
                };
            } else if name.eq_ignore_ascii_case("filter") {
                let (parsed, value_path_comparison) = filter::parse_reporting(value)
                    .map_err(|e| ScimError::InvalidFilter(e.to_string()))?;
                if value_path_comparison {
                    quirks.tolerate(Rule::EntraValuePathComparison)?;
                }
                request.filter = Some(parsed);
            }
        }
        // RFC 9865 does not forbid both; a cursor wins, and the response says so (no startIndex).
        Ok(request)
    }

    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }
}

fn parse_integer(name: &str, value: &str) -> Result<i64, ScimError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ScimError::InvalidValue(format!("`{name}` must be an integer")))
}

pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PageLimits = PageLimits {
        default_count: 100,
        max_count: 1000,
    };

    fn parse(params: &[(&str, &str)]) -> Result<ListRequest, ScimError> {
        ListRequest::from_query(params.iter().copied(), LIMITS, &Quirks::lenient())
    }

    #[test]
    fn paging_parameters_are_clamped_to_their_valid_ranges() {
        type Params = &'static [(&'static str, &'static str)];
        let cases: [(Params, i64, i64); 6] = [
            (&[], 1, 100),
            (&[("startIndex", "0")], 1, 100),
            (&[("startIndex", "-5")], 1, 100),
            (&[("count", "-1")], 1, 0),
            (&[("count", "5000")], 1, 1000),
            (&[("STARTINDEX", "11"), ("Count", "10")], 11, 10),
        ];
        for (params, start_index, count) in cases {
            assert_eq!(
                parse(params),
                Ok(ListRequest {
                    start_index,
                    count,
                    filter: None,
                    sort_by: None,
                    descending: false,
                    cursor: None
                }),
                "{params:?}"
            );
        }
    }

    #[test]
    fn non_numeric_paging_parameters_are_invalid_values() {
        assert!(matches!(
            parse(&[("count", "ten")]),
            Err(ScimError::InvalidValue(_))
        ));
        assert!(matches!(
            parse(&[("startIndex", "1.5")]),
            Err(ScimError::InvalidValue(_))
        ));
    }

    #[test]
    fn the_list_response_counts_its_page() {
        let body = list_response(7, 3, vec![json!({}), json!({})]);
        assert_eq!(body["totalResults"], json!(7));
        assert_eq!(body["startIndex"], json!(3));
        assert_eq!(body["itemsPerPage"], json!(2));
    }
}
