//! Quirk rules: every tolerance of non-RFC input that Okta or Entra needs, named, in one place.
//! When a rule fires it is logged at debug level with the request id and counted. A tenant in
//! strict mode refuses non-RFC input with a 400 that names the rule; rules that only name an
//! RFC-compliant behaviour identity providers rely on (ignoring read-only `groups` in a PUT,
//! `null` meaning unassigned) are logged and counted but never refuse.

use super::error::ScimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    OktaPutIgnoresGroups,
    OktaRenameWithId,
    EntraCapitalizedOps,
    EntraStringBooleans,
    EntraRemoveMembersWithValue,
    EntraDottedPathlessKeys,
    EntraAddCreatesFilteredValue,
    EntraManagerBareId,
    EntraValuePathComparison,
    EntraRolesAsJsonText,
    EntraUnqualifiedExtensionPath,
    IdpNullValues,
}

impl Rule {
    pub const ALL: [Rule; 12] = [
        Rule::OktaPutIgnoresGroups,
        Rule::OktaRenameWithId,
        Rule::EntraCapitalizedOps,
        Rule::EntraStringBooleans,
        Rule::EntraRemoveMembersWithValue,
        Rule::EntraDottedPathlessKeys,
        Rule::EntraAddCreatesFilteredValue,
        Rule::EntraManagerBareId,
        Rule::EntraValuePathComparison,
        Rule::EntraRolesAsJsonText,
        Rule::EntraUnqualifiedExtensionPath,
        Rule::IdpNullValues,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::OktaPutIgnoresGroups => "okta.put_ignores_groups",
            Rule::OktaRenameWithId => "okta.rename_with_id",
            Rule::EntraCapitalizedOps => "entra.capitalized_ops",
            Rule::EntraStringBooleans => "entra.string_booleans",
            Rule::EntraRemoveMembersWithValue => "entra.remove_members_with_value",
            Rule::EntraDottedPathlessKeys => "entra.dotted_pathless_keys",
            Rule::EntraAddCreatesFilteredValue => "entra.add_creates_filtered_value",
            Rule::EntraManagerBareId => "entra.manager_bare_id",
            Rule::EntraValuePathComparison => "entra.value_path_comparison",
            Rule::EntraRolesAsJsonText => "entra.roles_as_json_text",
            Rule::EntraUnqualifiedExtensionPath => "entra.unqualified_extension_path",
            Rule::IdpNullValues => "idp.null_values",
        }
    }

    /// What the identity provider sends and what Scimitar does with it.
    pub fn description(self) -> &'static str {
        match self {
            Rule::OktaPutIgnoresGroups => {
                "a PUT /Users carries read-only `groups`: ignored, memberships kept"
            }
            Rule::OktaRenameWithId => {
                "a path-less PATCH value carries `id` (Okta group rename): ignored"
            }
            Rule::EntraCapitalizedOps => "PATCH op names in any case (`Replace`): accepted",
            Rule::EntraStringBooleans => "booleans sent as strings (`\"False\"`): converted",
            Rule::EntraRemoveMembersWithValue => {
                "remove on a multi-valued path with a `value` list: removes exactly the listed values"
            }
            Rule::EntraDottedPathlessKeys => {
                "path-less PATCH values with dotted (`name.givenName`) or URN-prefixed keys: applied as paths"
            }
            Rule::EntraAddCreatesFilteredValue => {
                "add or replace on a value filter that matches nothing: creates the entry the filter describes"
            }
            Rule::EntraManagerBareId => {
                "a single-valued attribute sent as a bare string or a one-element list (`manager`): stored as its value"
            }
            Rule::EntraValuePathComparison => {
                "a filter `emails[type eq \"work\"].value eq \"…\"`: the value path with both conditions"
            }
            Rule::EntraRolesAsJsonText => {
                "a multi-valued attribute, or an item's `value`, sent as JSON text inside a string: parsed"
            }
            Rule::EntraUnqualifiedExtensionPath => {
                "a PATCH path naming an extension attribute without its URN (`manager`): resolved in the extension"
            }
            Rule::IdpNullValues => "JSON `null` attribute values: treated as unassigned",
        }
    }

    /// Rules for behaviour the RFCs allow never refuse, even in strict mode.
    fn rfc_compliant(self) -> bool {
        matches!(self, Rule::OktaPutIgnoresGroups | Rule::IdpNullValues)
    }

    fn refusal(self) -> ScimError {
        let detail = format!(
            "non-RFC input refused in strict mode ({}: {})",
            self.name(),
            self.description()
        );
        match self {
            Rule::EntraValuePathComparison => ScimError::InvalidFilter(detail),
            Rule::EntraCapitalizedOps | Rule::EntraDottedPathlessKeys => {
                ScimError::InvalidSyntax(detail)
            }
            Rule::EntraAddCreatesFilteredValue => ScimError::NoTarget(detail),
            Rule::OktaRenameWithId => ScimError::Mutability(detail),
            _ => ScimError::InvalidValue(detail),
        }
    }
}

/// Shows every rule in the metrics from the start, at 0 until it fires, so a dashboard can
/// tell a rule that never fired from one that does not exist.
pub fn expose_counters() {
    for rule in Rule::ALL {
        crate::metrics::add(
            "scimitar_quirk_rules_fired_total",
            &[("rule", rule.name())],
            0,
        );
    }
}

/// Counts a firing in the metrics (`scimitar_quirk_rules_fired_total`).
fn count_firing(rule: Rule) {
    crate::metrics::inc("scimitar_quirk_rules_fired_total", &[("rule", rule.name())]);
}

/// The quirk policy of one request: its tenant's mode and its request id for the logs.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    strict: bool,
    request_id: String,
}

impl Quirks {
    pub fn new(strict: bool, request_id: &str) -> Self {
        Self {
            strict,
            request_id: request_id.to_string(),
        }
    }

    /// Lenient, with no request: for callers outside HTTP (tests, benchmarks, tools).
    pub fn lenient() -> Self {
        Self::default()
    }

    /// Accepts input that only `rule` makes acceptable, or refuses it in strict mode.
    pub fn tolerate(&self, rule: Rule) -> Result<(), ScimError> {
        if self.strict && !rule.rfc_compliant() {
            return Err(rule.refusal());
        }
        count_firing(rule);
        tracing::debug!(rule = rule.name(), request_id = %self.request_id, "quirk rule fired");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_have_unique_names_and_strict_mode_refuses_only_non_rfc_input() {
        let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
        let strict = Quirks::new(true, "r1");
        assert!(
            matches!(strict.tolerate(Rule::EntraStringBooleans), Err(ScimError::InvalidValue(d)) if d.contains("entra.string_booleans"))
        );
        assert!(strict.tolerate(Rule::IdpNullValues).is_ok());
        assert!(
            Quirks::lenient()
                .tolerate(Rule::EntraCapitalizedOps)
                .is_ok()
        );
        let exposition = crate::metrics::render(Vec::new());
        assert!(
            exposition.contains("scimitar_quirk_rules_fired_total{rule=\"entra.capitalized_ops\"}"),
            "firing is counted"
        );
    }
}
