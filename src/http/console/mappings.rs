//! Adding and removing role mappings, each shown first as a preview: the change runs in full,
//! cascade included, and is rolled back (`scim::preview::Preview`), so the preview lists exactly who
//! would gain or lose which role and which sessions would end. Applying it is the admin API's
//! `POST`/`DELETE /admin/v1/role-mappings`, audited under the operator's credential.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::error::ConsoleError;
use super::people::app_names;
use super::records::sessions_in;
use super::session::{CsrfForm, SignedIn, check_csrf, redirect};
use super::view::{self, Chrome, Section};
use crate::access::operator_sessions::Operator;
use crate::access::roles::{self, ChangedBy, GroupSelector};
use crate::audit::{Actor, RequestInfo};
use crate::http::error::ApiError;
use crate::http::{AppState, blocking, request_info};
use crate::scim::ScimError;
use crate::store::Store;

/// People named by userName in a preview; beyond them, only counts.
const NAMED: usize = 50;

#[derive(Deserialize)]
pub struct MappingForm {
    csrf: Option<String>,
    #[serde(default)]
    group: String,
    #[serde(default)]
    role: String,
    /// A checkbox: a display name matched by name on every change instead of bound.
    #[serde(default)]
    follow_name: Option<String>,
}

impl MappingForm {
    fn selector(&self) -> Result<GroupSelector, crate::access::AccessError> {
        Ok(GroupSelector::parse(self.group.trim())?.following_name(self.follow_name.is_some()))
    }
}

/// A role gained or lost by someone.
struct RoleChange {
    user_id: String,
    user_name: String,
    gained: String,
    lost: String,
}

#[derive(Template)]
#[template(path = "mapping_preview.html", config = "src/http/console/askama.toml")]
struct PreviewPage {
    chrome: Chrome,
    /// `add` or `remove`.
    adding: bool,
    /// What the change is, in words.
    change: String,
    /// The form fields that apply it: (group, role, follow_name) to add, or the mapping id
    /// to remove.
    group: String,
    role: String,
    follow_name: bool,
    mapping_id: String,
    changes: Vec<RoleChange>,
    changed_people: usize,
    sessions: Vec<(String, String, String)>,
}

/// What a previewed change recorded, summarised.
struct Previewed {
    changes: Vec<RoleChange>,
    changed_people: usize,
    sessions: Vec<(String, String, String)>,
}

/// Runs `change` through a previewing store and summarises what it would do.
fn preview(
    state: &AppState,
    tenant_id: &str,
    change: impl FnOnce(&Store) -> Result<(), ApiError>,
) -> Result<Previewed, ApiError> {
    let (previewing, preview) = crate::scim::preview::Preview::of(&state.store, tenant_id);
    change(&previewing)?;
    let report = crate::scim::preview::report(200, None, &preview.records());
    let apps = app_names(state)?;
    let roles = report["roles"].as_array().cloned().unwrap_or_default();
    let list = |v: &Value| {
        v.as_array()
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let changes = state.store.read(|conn: &mut crate::store::Read| {
        roles
            .iter()
            .take(NAMED)
            .map(|r| {
                let user_id = r["user"].as_str().unwrap_or_default().to_string();
                let user = crate::store::users::get(conn, tenant_id, &user_id)?;
                Ok(RoleChange {
                    user_name: user.map(|u| u.user_name).unwrap_or_else(|| user_id.clone()),
                    user_id,
                    gained: list(&r["gained"]),
                    lost: list(&r["lost"]),
                })
            })
            .collect::<Result<Vec<_>, crate::store::StoreError>>()
    })?;
    Ok(Previewed {
        changes,
        changed_people: roles.len(),
        sessions: sessions_in(&report, &apps),
    })
}

fn origin(operator: &Operator, request: &HttpRequest) -> (Actor, RequestInfo) {
    (operator.actor(), request_info(request))
}

fn by<'a>(actor: &'a Actor, info: &'a RequestInfo) -> ChangedBy<'a> {
    ChangedBy {
        actor: Some(actor),
        request: Some(info),
        // The console is the admin API's twin; the schema knows `api` and `config`.
        source: "api",
    }
}

/// `POST /console/mappings/preview`: what adding the rule would do.
pub async fn preview_mapping(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: MappingForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let selector = form.selector()?;
    let described = selector.describe();
    roles::check_role_name(form.role.trim())?;
    let (actor, info) = origin(&operator, &request);
    let (state2, tenant, now) = (state.clone(), operator.tenant_id.clone(), state.clock.now());
    let role = form.role.trim().to_string();
    let role2 = role.clone();
    let previewed = blocking(move || {
        preview(&state2, &tenant, |store| {
            store.write(|conn| {
                roles::map(conn, &tenant, &selector, &role2, by(&actor, &info), now).map(|_| ())
            })?;
            Ok(())
        })
    })
    .await?;
    view::ok(&PreviewPage {
        chrome: Chrome::new(&operator, Section::Groups),
        adding: true,
        change: format!("Map {described} to role {role}"),
        group: form.group.trim().to_string(),
        follow_name: form.follow_name.is_some(),
        role,
        mapping_id: String::new(),
        changes: previewed.changes,
        changed_people: previewed.changed_people,
        sessions: previewed.sessions,
    })
}

/// `POST /console/mappings`: adds the rule.
pub async fn add_mapping(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: MappingForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let selector = form.selector()?;
    let granted = vec![form.role.trim().to_string()];
    let (actor, info) = origin(&operator, &request);
    let (store, tenant, now) = (
        state.store.clone(),
        operator.tenant_id.clone(),
        state.clock.now(),
    );
    blocking(move || {
        Ok(store.write(|conn| {
            roles::map_all(conn, &tenant, &selector, &granted, by(&actor, &info), now)
        })?)
    })
    .await?;
    Ok(redirect("/console/groups#mappings"))
}

/// `GET /console/mappings/{id}/remove`: what removing the rule would do.
pub async fn confirm_removal(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (actor, info) = origin(&operator, &request);
    let (state2, tenant, now) = (state.clone(), operator.tenant_id.clone(), state.clock.now());
    let id = id.into_inner();
    let id2 = id.clone();
    let (mapping, previewed) = blocking(move || {
        let mapping = state2
            .store
            .read(|conn| crate::store::roles::get(conn, &tenant, &id2))?
            .ok_or_else(|| ScimError::NotFound("no role mapping with this id".into()))?;
        let previewed = preview(&state2, &tenant, |store| {
            store.write(|conn| roles::unmap(conn, &tenant, &id2, by(&actor, &info), now))?;
            Ok(())
        })?;
        Ok((mapping, previewed))
    })
    .await?;
    view::ok(&PreviewPage {
        chrome: Chrome::new(&operator, Section::Groups),
        adding: false,
        change: format!(
            "Remove the mapping of {} to role {}",
            roles::describe_rule(
                &mapping.match_by,
                &mapping.match_value,
                roles::matching_of(&mapping)
            ),
            mapping.role
        ),
        group: String::new(),
        follow_name: false,
        role: mapping.role,
        mapping_id: id,
        changes: previewed.changes,
        changed_people: previewed.changed_people,
        sessions: previewed.sessions,
    })
}

/// `POST /console/mappings/{id}/remove`: removes the rule; the cascade runs in its transaction.
pub async fn remove_mapping(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: CsrfForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let (actor, info) = origin(&operator, &request);
    let (store, tenant, now) = (
        state.store.clone(),
        operator.tenant_id.clone(),
        state.clock.now(),
    );
    let removed = blocking(move || {
        Ok(store.write(|conn| roles::unmap(conn, &tenant, &id, by(&actor, &info), now))?)
    })
    .await?;
    if !removed {
        return Err(ScimError::NotFound("no role mapping with this id".into()).into());
    }
    Ok(redirect("/console/groups#mappings"))
}
