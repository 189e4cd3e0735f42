//! Groups and role mappings: the groups, a page at a time, with their member counts; a group
//! with its members (paged through the SCIM service's `groups.value eq` filter) and the roles
//! it grants; and the tenant's mapping rules, with the form that adds one (`mappings`).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::error::ConsoleError;
use super::people::filter_for;
use super::scim_reads::ScimReads;
use super::session::SignedIn;
use super::view::{self, Chrome, Section};
use crate::access::roles::{RoleMapping, RoleRules};
use crate::http::{AppState, blocking};
use crate::scim::ScimError;
use crate::scim::schema::ResourceKind;
use crate::store::{StoreError, tenant_summary};

/// Groups, or members, per page.
const PAGE: i64 = 50;

#[derive(Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
    #[serde(default)]
    q: String,
}

struct GroupRow {
    id: String,
    name: String,
    external_id: String,
    members: i64,
}

struct MappingRow {
    id: String,
    role: String,
    rule: String,
    source: String,
    created: String,
}

#[derive(Template)]
#[template(path = "groups.html", config = "src/http/console/askama.toml")]
struct GroupsPage {
    chrome: Chrome,
    q: String,
    groups: Vec<GroupRow>,
    total: i64,
    next: Option<String>,
    paged: bool,
    mappings: Vec<MappingRow>,
    roles: Vec<super::roles::RoleView>,
}

/// `GET /console/groups?q=…&cursor=…`
pub async fn list(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let query = query.into_inner();
    let reads = ScimReads::new(&operator, &request, &state);
    let filter = group_filter(&query.q);
    let (state2, tenant, cursor) = (
        state.clone(),
        operator.tenant_id.clone(),
        query.cursor.clone(),
    );
    let (page, counts, mappings, roles) = blocking(move || {
        let page = reads.list(
            &state2,
            ResourceKind::Group,
            Some(&filter),
            cursor.as_deref(),
            PAGE,
            Some("members"),
        )?;
        let ids: Vec<String> = page
            .resources
            .iter()
            .filter_map(|g| g["id"].as_str().map(String::from))
            .collect();
        let (counts, mappings, roles) = state2.store.read(|conn| {
            Ok::<_, StoreError>((
                tenant_summary::member_counts(conn, &tenant, &ids)?,
                crate::store::roles::list(conn, &tenant)?,
                super::roles::published(conn, &tenant)?,
            ))
        })?;
        Ok((page, counts, mappings, roles))
    })
    .await?;
    let groups = page
        .resources
        .iter()
        .map(|g| {
            let id = text(&g["id"]);
            let members = counts
                .iter()
                .find(|(group, _)| *group == id)
                .map_or(0, |c| c.1);
            GroupRow {
                name: text(&g["displayName"]),
                external_id: text(&g["externalId"]),
                members,
                id,
            }
        })
        .collect();
    view::ok(&GroupsPage {
        chrome: Chrome::new(&operator, Section::Groups),
        next: page.next.map(|c| {
            format!(
                "/console/groups{}",
                view::query(&[("q", &query.q), ("cursor", &c)])
            )
        }),
        q: query.q,
        groups,
        total: page.total,
        paged: query.cursor.is_some(),
        mappings: mappings
            .into_iter()
            .map(RoleMapping::from)
            .map(mapping_row)
            .collect(),
        roles,
    })
}

/// A search box on groups: a SCIM filter as it is, or the start of a displayName.
fn group_filter(q: &str) -> String {
    let filter = filter_for(q);
    if filter.starts_with("userName sw ") {
        let literal = serde_json::to_string(q.trim()).unwrap_or_default();
        return format!("displayName sw {literal} or externalId eq {literal}");
    }
    filter
}

fn mapping_row(mapping: RoleMapping) -> MappingRow {
    MappingRow {
        rule: crate::access::roles::describe_rule(
            &mapping.match_by,
            &mapping.group,
            mapping.matching,
        ),
        id: mapping.id,
        role: mapping.role,
        source: mapping.source,
        created: view::when(mapping.created),
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

struct MemberRow {
    id: String,
    user_name: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "group.html", config = "src/http/console/askama.toml")]
struct GroupPage {
    chrome: Chrome,
    id: String,
    name: String,
    external_id: String,
    members: Vec<MemberRow>,
    total: i64,
    next: Option<String>,
    paged: bool,
    /// (role, rule id, rule) of each rule that matches this group.
    grants: Vec<(String, String, String)>,
}

/// `GET /console/groups/{id}?cursor=…`
pub async fn group(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let reads = ScimReads::new(&operator, &request, &state);
    let (state2, tenant, id, cursor) = (
        state.clone(),
        operator.tenant_id.clone(),
        id.into_inner(),
        query.cursor.clone(),
    );
    let (group, members, grants) = blocking(move || {
        let group = reads.get(&state2, ResourceKind::Group, &id, Some("members"))?;
        let literal = serde_json::to_string(&id).map_err(|_| ScimError::Internal)?;
        let filter = format!("groups.value eq {literal}");
        let members = reads.list(
            &state2,
            ResourceKind::User,
            Some(&filter),
            cursor.as_deref(),
            PAGE,
            Some("groups"),
        )?;
        let grants = state2.store.read(|conn| {
            let rules = RoleRules::load(conn, &tenant)?;
            let keys = crate::store::roles::group_keys(conn, &tenant, &id)?;
            Ok::<_, StoreError>(keys.map(|k| rules.explain(&[k])).unwrap_or_default())
        })?;
        Ok((group, members, grants))
    })
    .await?;
    let id = text(&group["id"]);
    let grants = grants
        .into_iter()
        .flat_map(|grant| {
            let role = grant.role.clone();
            grant.granted_by.into_iter().map(move |g| {
                (
                    role.clone(),
                    g.rule_id,
                    crate::access::roles::describe_rule(&g.match_by, &g.match_value, g.matching),
                )
            })
        })
        .collect();
    view::ok(&GroupPage {
        chrome: Chrome::new(&operator, Section::Groups),
        name: text(&group["displayName"]),
        external_id: text(&group["externalId"]),
        members: members
            .resources
            .iter()
            .map(|u| MemberRow {
                id: text(&u["id"]),
                user_name: text(&u["userName"]),
                active: u["active"] != Value::Bool(false),
            })
            .collect(),
        total: members.total,
        next: members.next.map(|c| {
            format!(
                "/console/groups/{}{}",
                super::records::path_segment(&id),
                view::query(&[("cursor", &c)])
            )
        }),
        paged: query.cursor.is_some(),
        grants,
        id,
    })
}
