//! The schemas Scimitar serves and validates against, read from the documents in
//! `scim-schemas/` (embedded at build time), so what `/Schemas` advertises is what is enforced.

use serde::Deserialize;
use serde_json::Value;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

const SCHEMA_DOCUMENTS: [&str; 5] = [
    include_str!("../../scim-schemas/User.json"),
    include_str!("../../scim-schemas/EnterpriseUser.json"),
    include_str!("../../scim-schemas/Group.json"),
    include_str!("../../scim-schemas/Role.json"),
    include_str!("../../scim-schemas/Entitlement.json"),
];
/// The schemas of the published roles and entitlements (Okta Identity Governance's URNs).
pub const ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";
pub const ENTITLEMENT_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";
const RESOURCE_TYPES_DOCUMENT: &str = include_str!("../../scim-schemas/ResourceTypes.json");
const SERVICE_PROVIDER_CONFIG_DOCUMENT: &str =
    include_str!("../../scim-schemas/ServiceProviderConfig.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    #[serde(default)]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// Attribute names are case-insensitive (RFC 7643 §2.1).
    pub fn find<'a>(attributes: &'a [AttributeDef], name: &str) -> Option<&'a AttributeDef> {
        attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub id: String,
    pub attributes: Vec<AttributeDef>,
    /// The document as served by `/Schemas`, with a relative `meta.location`.
    pub document: Value,
}

/// The two resource types Scimitar stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The path segment under the SCIM base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    fn core_schema(self) -> &'static str {
        match self {
            ResourceKind::User => USER_SCHEMA,
            ResourceKind::Group => GROUP_SCHEMA,
        }
    }
}

/// A resource type's schemas: the core one and its extensions.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    pub kind: ResourceKind,
    pub core: Schema,
    pub extensions: Vec<Schema>,
    /// `externalId`: common to all resources (RFC 7643 §3.1), in no schema document.
    pub common: Vec<AttributeDef>,
}

impl ResourceSchema {
    /// The extension whose URN this is, compared case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Splits `urn:…:User:department` into its extension and attribute name.
    pub fn split_extension_path<'k>(&self, key: &'k str) -> Option<(&Schema, &'k str)> {
        self.extensions.iter().find_map(|schema| {
            let prefix = key.get(..schema.id.len())?;
            let rest = key.get(schema.id.len()..)?;
            if prefix.eq_ignore_ascii_case(&schema.id) {
                rest.strip_prefix(':').map(|name| (schema, name))
            } else {
                None
            }
        })
    }

    /// A top-level attribute of the core schema or a common attribute.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        AttributeDef::find(&self.common, name)
            .or_else(|| AttributeDef::find(&self.core.attributes, name))
    }
}

/// Every schema and resource type, parsed once at start.
#[derive(Debug, Clone)]
pub struct Registry {
    pub schemas: Vec<Schema>,
    pub resource_types: Vec<Value>,
    pub service_provider_config: Value,
    user: ResourceSchema,
    group: ResourceSchema,
}

impl Registry {
    /// A schema by its URN.
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id == urn)
    }

    pub fn load() -> Result<Self, String> {
        let schemas = SCHEMA_DOCUMENTS
            .iter()
            .map(|text| parse_schema(text))
            .collect::<Result<Vec<_>, _>>()?;
        let resource_types: Vec<Value> = serde_json::from_str(RESOURCE_TYPES_DOCUMENT)
            .map_err(|e| format!("ResourceTypes.json: {e}"))?;
        let service_provider_config = serde_json::from_str(SERVICE_PROVIDER_CONFIG_DOCUMENT)
            .map_err(|e| format!("ServiceProviderConfig.json: {e}"))?;
        let user = resource_schema(ResourceKind::User, &schemas, &resource_types)?;
        let group = resource_schema(ResourceKind::Group, &schemas, &resource_types)?;
        Ok(Self {
            schemas,
            resource_types,
            service_provider_config,
            user,
            group,
        })
    }

    pub fn resource(&self, kind: ResourceKind) -> &ResourceSchema {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }
}

fn parse_schema(text: &str) -> Result<Schema, String> {
    #[derive(Deserialize)]
    struct Document {
        id: String,
        attributes: Vec<AttributeDef>,
    }
    let document: Value =
        serde_json::from_str(text).map_err(|e| format!("schema document: {e}"))?;
    let parsed: Document =
        serde_json::from_value(document.clone()).map_err(|e| format!("schema document: {e}"))?;
    Ok(Schema {
        id: parsed.id,
        attributes: parsed.attributes,
        document,
    })
}

fn resource_schema(
    kind: ResourceKind,
    schemas: &[Schema],
    resource_types: &[Value],
) -> Result<ResourceSchema, String> {
    let find = |id: &str| {
        schemas
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| format!("schema {id} is not defined"))
    };
    let resource_type = resource_types
        .iter()
        .find(|rt| rt["name"] == kind.name())
        .ok_or_else(|| format!("resource type {} is not defined", kind.name()))?;
    if resource_type["schema"] != kind.core_schema() {
        return Err(format!(
            "resource type {} must use schema {}",
            kind.name(),
            kind.core_schema()
        ));
    }
    let extensions = resource_type["schemaExtensions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ext| {
            ext["schema"]
                .as_str()
                .ok_or("schemaExtensions[].schema must be a string".to_string())
                .and_then(find)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let external_id: AttributeDef = serde_json::from_value(serde_json::json!({
        "name": "externalId", "type": "string", "multiValued": false, "required": false,
        "caseExact": true, "mutability": "readWrite", "returned": "default", "uniqueness": "none"
    }))
    .map_err(|e| e.to_string())?;
    Ok(ResourceSchema {
        kind,
        core: find(kind.core_schema())?,
        extensions,
        common: vec![external_id],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        match Registry::load() {
            Ok(registry) => registry,
            Err(e) => panic!("embedded schemas must load: {e}"),
        }
    }

    #[test]
    fn the_embedded_documents_load_and_describe_users_and_groups() {
        let registry = registry();
        let user = registry.resource(ResourceKind::User);
        assert!(
            user.attribute("USERNAME")
                .is_some_and(|a| a.required && !a.case_exact)
        );
        assert!(
            user.attribute("password")
                .is_some_and(|a| a.returned == Returned::Never)
        );
        assert!(
            user.attribute("groups")
                .is_some_and(|a| a.mutability == Mutability::ReadOnly)
        );
        assert!(
            user.extension(&ENTERPRISE_USER_SCHEMA.to_uppercase())
                .is_some()
        );
        let group = registry.resource(ResourceKind::Group);
        assert!(group.attribute("displayName").is_some_and(|a| a.required));
        assert!(group.attribute("members").is_some_and(|a| a.multi_valued));
    }

    #[test]
    fn extension_paths_split_into_schema_and_attribute() {
        let registry = registry();
        let user = registry.resource(ResourceKind::User);
        let key = format!("{ENTERPRISE_USER_SCHEMA}:department");
        let split = user
            .split_extension_path(&key)
            .map(|(s, name)| (s.id.clone(), name));
        assert_eq!(
            split,
            Some((ENTERPRISE_USER_SCHEMA.to_string(), "department"))
        );
        assert!(
            user.split_extension_path("urn:unknown:department")
                .is_none()
        );
    }
}
