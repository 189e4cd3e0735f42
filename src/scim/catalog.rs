//! `/Roles` and `/Entitlements`: the roles and entitlements the tenant publishes, read-only,
//! for identity providers' governance (Okta Identity Governance reads them, lets admins
//! request and certify them, and assigns roles through users' `roles`). A role's id is its
//! value, so a user's `roles[].value` names it whichever convention the reader follows (Okta's:
//! the id; the IETF draft's: the value). The catalog is small and read whole, then filtered
//! (`displayName`, `value`, any attribute), paged and projected in memory.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::evaluate::{self, Scope};
use super::list::{ListRequest, list_response};
use super::schema::{ENTITLEMENT_SCHEMA, ROLE_SCHEMA};
use super::service::{Context, ScimService};
use crate::access::catalog::{self, PublishedEntitlement, PublishedRole};

/// Which catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogKind {
    Role,
    Entitlement,
}

impl CatalogKind {
    pub fn name(self) -> &'static str {
        match self {
            CatalogKind::Role => "Role",
            CatalogKind::Entitlement => "Entitlement",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            CatalogKind::Role => "Roles",
            CatalogKind::Entitlement => "Entitlements",
        }
    }

    fn schema(self) -> &'static str {
        match self {
            CatalogKind::Role => ROLE_SCHEMA,
            CatalogKind::Entitlement => ENTITLEMENT_SCHEMA,
        }
    }
}

fn meta(kind: CatalogKind, base: &str, id: &str) -> Value {
    let id = url_segment(id);
    json!({"resourceType": kind.name(), "location": format!("{base}/{}/{id}", kind.endpoint())})
}

/// A path segment: role names may hold `/`, `?`, `#` or `%`.
fn url_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn role(role: &PublishedRole, base: &str) -> Value {
    without_nulls(json!({
        "schemas": [ROLE_SCHEMA],
        "id": role.value,
        "value": role.value,
        "displayName": role.display_name,
        "description": role.description,
        "assignable": role.assignable,
        "entitlements": role.entitlements,
        "meta": meta(CatalogKind::Role, base, &role.value),
    }))
}

/// RFC 7643 §2.5: an unassigned attribute is left out rather than sent as null.
fn without_nulls(mut resource: Value) -> Value {
    if let Value::Object(object) = &mut resource {
        object.retain(|_, value| !value.is_null());
    }
    resource
}

fn entitlement(entitlement: &PublishedEntitlement, base: &str) -> Value {
    json!({
        "schemas": [ENTITLEMENT_SCHEMA],
        "id": entitlement.value,
        "value": entitlement.value,
        "displayName": entitlement.value,
        "type": "Permission",
        "description": format!("Carried by the roles {}", entitlement.contained_by.join(", ")),
        "containedBy": entitlement.contained_by,
        "meta": meta(CatalogKind::Entitlement, base, &entitlement.value),
    })
}

/// `attributes` / `excludedAttributes` on a flat catalog resource: `schemas` and `id` always
/// stay; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogProjection {
    only: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl CatalogProjection {
    pub fn from_params(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Self, ScimError> {
        let names = |list: &str| -> Vec<String> {
            list.split(',')
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .map(|n| n.rsplit(':').next().unwrap_or(n).to_ascii_lowercase())
                .collect()
        };
        match (attributes, excluded) {
            (Some(_), Some(_)) => Err(ScimError::InvalidSyntax(
                "give `attributes` or `excludedAttributes`, not both".into(),
            )),
            (Some(list), None) => Ok(Self {
                only: Some(names(list)),
                excluded: Vec::new(),
            }),
            (None, Some(list)) => Ok(Self {
                only: None,
                excluded: names(list),
            }),
            (None, None) => Ok(Self::default()),
        }
    }

    fn apply(&self, mut resource: Value) -> Value {
        if let Value::Object(object) = &mut resource {
            let keep = |key: &str| {
                let key = key.to_ascii_lowercase();
                if key == "schemas" || key == "id" {
                    return true;
                }
                match &self.only {
                    Some(only) => only.contains(&key),
                    None => !self.excluded.contains(&key),
                }
            };
            object.retain(|key, _| keep(key));
        }
        resource
    }
}

impl ScimService {
    fn catalog_items(&self, context: &Context, kind: CatalogKind) -> Result<Vec<Value>, ScimError> {
        let published = self
            .store
            .read(|conn| catalog::published(conn, context.tenant_id))?;
        Ok(match kind {
            CatalogKind::Role => published.values().map(|r| role(r, context.base)).collect(),
            CatalogKind::Entitlement => catalog::entitlements(&published)
                .iter()
                .map(|e| entitlement(e, context.base))
                .collect(),
        })
    }

    /// `GET /Roles` or `/Entitlements`: filtered, paged by index, projected.
    pub fn list_catalog(
        &self,
        context: &Context,
        kind: CatalogKind,
        request: &ListRequest,
        projection: &CatalogProjection,
    ) -> Result<Value, ScimError> {
        if request.cursor.is_some() {
            return Err(ScimError::InvalidCursor(format!(
                "/{} is paged by startIndex and count",
                kind.endpoint()
            )));
        }
        let schema = self
            .registry
            .schema(kind.schema())
            .ok_or(ScimError::Internal)?;
        let matching: Vec<Value> = self
            .catalog_items(context, kind)?
            .into_iter()
            .filter(|item| {
                request.filter.as_ref().is_none_or(|filter| {
                    evaluate::matches(filter, &with_id(item), Scope::Item(&schema.attributes))
                })
            })
            .collect();
        let total = matching.len() as i64;
        let page: Vec<Value> = matching
            .into_iter()
            .skip(usize::try_from(request.offset()).unwrap_or(0))
            .take(usize::try_from(request.count).unwrap_or(0))
            .map(|item| projection.apply(item))
            .collect();
        Ok(list_response(total, request.start_index, page))
    }

    /// `GET /Roles/{id}` or `/Entitlements/{id}`.
    pub fn get_catalog(
        &self,
        context: &Context,
        kind: CatalogKind,
        id: &str,
        projection: &CatalogProjection,
    ) -> Result<Value, ScimError> {
        self.catalog_items(context, kind)?
            .into_iter()
            .find(|item| item["id"] == id)
            .map(|item| projection.apply(item))
            .ok_or_else(|| ScimError::NotFound(format!("no {} `{id}`", kind.name())))
    }
}

/// Filters may name `id` (a common attribute, in no schema): an item with it as a plain value.
fn with_id(item: &Value) -> Value {
    let mut copy: Map<String, Value> = item.as_object().cloned().unwrap_or_default();
    copy.remove("meta");
    Value::Object(copy)
}
