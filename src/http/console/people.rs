//! People: search (by userName, e-mail, externalId, or any SCIM filter, through the SCIM
//! query service), and a person's page, which answers "who has access and why": each role
//! with the groups and mapping rules granting it and the live sessions per app (the access
//! explanation of `GET /admin/v1/users/{id}/access`), the person's audit trail with cause
//! chains, and the kill switch, confirmed through a preview of what it will end.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::error::ConsoleError;
use super::records::{self, TrailEntry};
use super::scim_reads::ScimReads;
use super::session::{CsrfForm, SignedIn, check_csrf, redirect};
use super::view::{self, Chrome, Section};
use crate::access::tokens::revoke_user;
use crate::http::{AppState, blocking, request_info};
use crate::scim::schema::ResourceKind;

/// People per page.
const PAGE: i64 = 25;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    cursor: Option<String>,
}

/// A person as a row of the search results.
struct PersonRow {
    id: String,
    user_name: String,
    name: String,
    email: String,
    external_id: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "people.html", config = "src/http/console/askama.toml")]
struct PeoplePage {
    chrome: Chrome,
    q: String,
    filter: String,
    people: Vec<PersonRow>,
    total: i64,
    next: Option<String>,
    paged: bool,
    problem: Option<String>,
}

/// `GET /console/people?q=…&cursor=…`
pub async fn search(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let query = query.into_inner();
    let filter = filter_for(&query.q);
    let reads = ScimReads::new(&operator, &request, &state);
    let (state2, filter2, cursor) = (state.clone(), filter.clone(), query.cursor.clone());
    let found = blocking(move || {
        let filter = Some(filter2.as_str());
        reads.list(
            &state2,
            ResourceKind::User,
            filter,
            cursor.as_deref(),
            PAGE,
            Some("groups"),
        )
    })
    .await;
    let (people, total, next, problem) = match found {
        Ok(page) => (
            page.resources.iter().map(person_row).collect(),
            page.total,
            page.next,
            None,
        ),
        Err(error) if error.status() == 400 => (Vec::new(), 0, None, Some(error.to_string())),
        Err(error) => return Err(error.into()),
    };
    let page = PeoplePage {
        chrome: Chrome::new(&operator, Section::People),
        q: query.q.clone(),
        filter,
        people,
        total,
        next: next.map(|cursor| {
            format!(
                "/console/people{}",
                view::query(&[("q", &query.q), ("cursor", &cursor)])
            )
        }),
        paged: query.cursor.is_some(),
        problem,
    };
    let status = if page.problem.is_some() {
        actix_web::http::StatusCode::BAD_REQUEST
    } else {
        actix_web::http::StatusCode::OK
    };
    view::html(status, &page)
}

/// The SCIM filter a search box means: a filter as it is, or a word looked up as the start of
/// a userName, or exactly as an externalId or an e-mail (each an indexed lookup).
pub fn filter_for(q: &str) -> String {
    let q = q.trim();
    if q.is_empty() {
        return String::new();
    }
    let lower = format!(" {} ", q.to_ascii_lowercase());
    let operators = [
        " eq ", " ne ", " co ", " sw ", " ew ", " gt ", " ge ", " lt ", " le ", " pr ",
    ];
    if operators.iter().any(|op| lower.contains(op)) {
        return q.to_string();
    }
    let literal = serde_json::to_string(q).unwrap_or_else(|_| "\"\"".into());
    format!("userName sw {literal} or externalId eq {literal} or emails.value eq {literal}")
}

fn person_row(user: &Value) -> PersonRow {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let email = user["emails"]
        .as_array()
        .and_then(|emails| {
            emails
                .iter()
                .find(|e| e["primary"] == Value::Bool(true))
                .or_else(|| emails.first())
        })
        .map(|e| text(&e["value"]))
        .unwrap_or_default();
    let name = match user["displayName"].as_str() {
        Some(name) => name.to_string(),
        None => text(&user["name"]["formatted"]),
    };
    PersonRow {
        id: text(&user["id"]),
        user_name: text(&user["userName"]),
        name,
        email,
        external_id: text(&user["externalId"]),
        active: user["active"] != Value::Bool(false),
    }
}

/// A role and what grants it.
struct RoleRow {
    role: String,
    /// (group id, group name, rule, how the rule matches).
    grants: Vec<(String, String, String, String)>,
    /// Assigned directly by the identity provider: by which credential, when.
    direct: Option<String>,
}

/// A live session as the person's page shows it.
struct SessionView {
    id: String,
    app: String,
    roles: String,
    expires: String,
    expires_in: String,
    idle_expires_in: String,
}

#[derive(Template)]
#[template(path = "person.html", config = "src/http/console/askama.toml")]
struct PersonPage {
    chrome: Chrome,
    person: PersonRow,
    groups: Vec<(String, String)>,
    roles: Vec<RoleRow>,
    sessions: Vec<SessionView>,
    trail: Vec<TrailEntry>,
    policy: String,
    checked_at: String,
    ended: Option<usize>,
    /// An inactive person: since when, by whom, and the record that says so.
    deactivated: Option<Deactivation>,
}

/// When and by whose request a person lost access.
struct Deactivation {
    when: String,
    by: String,
    record: String,
}

#[derive(Deserialize)]
pub struct PersonQuery {
    ended: Option<usize>,
}

/// `GET /console/people/{id}`
pub async fn person(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PersonQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let reads = ScimReads::new(&operator, &request, &state);
    let (state2, tenant, id) = (state.clone(), operator.tenant_id.clone(), id.into_inner());
    let (user, access, apps, trail) = blocking(move || {
        let user = reads.get(&state2, ResourceKind::User, &id, None)?;
        let access = state2.access.explain(&tenant, &id)?;
        let apps = app_names(&state2)?;
        let trail = records::trail(&state2.store, &tenant, &id, 20)?;
        Ok((user, access, apps, trail))
    })
    .await?;
    let now = state.clock.now();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let roles = access["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|role| RoleRow {
            direct: role["direct"].is_object().then(|| {
                let by = text(&role["direct"]["assigned_by"]);
                let name = apps.get(&by).cloned().unwrap_or(by);
                format!("{name}, {}", text(&role["direct"]["assigned_at"]))
            }),
            role: text(&role["role"]),
            grants: role["granted_by"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    let rule = crate::access::roles::describe_rule(
                        &text(&g["match_by"]),
                        &text(&g["match_value"]),
                        &text(&g["matching"]),
                    );
                    (
                        text(&g["group_id"]),
                        text(&g["group_display_name"]),
                        text(&g["rule_id"]),
                        rule,
                    )
                })
                .collect(),
        })
        .collect();
    let time = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            .unwrap_or(now)
    };
    let sessions = access["live_sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let client = text(&s["client_id"]);
            SessionView {
                id: text(&s["id"]),
                app: apps.get(&client).cloned().unwrap_or(client),
                roles: s["roles"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                expires: view::when(time(&s["expires"])),
                expires_in: view::relative(time(&s["expires"]), now),
                idle_expires_in: view::relative(time(&s["idle_expires"]), now),
            }
        })
        .collect();
    let groups = user["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| (text(&g["value"]), text(&g["display"])))
        .collect();
    let policy = &access["policy"];
    let policy = format!(
        "access tokens {} min · sessions {} h · idle {} min",
        policy["access_token_seconds"].as_i64().unwrap_or_default() / 60,
        policy["session_seconds"].as_i64().unwrap_or_default() / 3600,
        policy["idle_seconds"].as_i64().unwrap_or_default() / 60,
    );
    let deactivated = access["deactivated"].as_object().map(|off| Deactivation {
        when: off
            .get("at")
            .and_then(Value::as_str)
            .map(view::when_text)
            .unwrap_or_else(|| "an unknown time (before the audit trail kept)".into()),
        by: off
            .get("by")
            .and_then(|by| by["name"].as_str().or(by["client_id"].as_str()))
            .unwrap_or("an unrecorded actor")
            .to_string(),
        record: off
            .get("record")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    });
    view::ok(&PersonPage {
        chrome: Chrome::new(&operator, Section::People),
        deactivated,
        person: person_row(&user),
        groups,
        roles,
        sessions,
        trail,
        policy,
        checked_at: view::when_text(access["checked_at"].as_str().unwrap_or_default()),
        ended: query.ended,
    })
}

/// Credentials' names by client id (a small table), to show sessions by app.
pub fn app_names(state: &AppState) -> Result<HashMap<String, String>, crate::store::StoreError> {
    let rows = state
        .store
        .read(|conn| crate::store::credentials::list(conn))?;
    Ok(rows
        .into_iter()
        .map(|(row, _)| (row.id, row.name))
        .collect())
}

#[derive(Template)]
#[template(path = "kill_switch.html", config = "src/http/console/askama.toml")]
struct KillSwitchPage {
    chrome: Chrome,
    person: PersonRow,
    /// (session, app, roles) that the kill switch would end.
    ending: Vec<(String, String, String)>,
}

/// `GET /console/people/{id}/kill-switch`: what the kill switch would end, from a preview of
/// the real revocation (run in full, then rolled back).
pub async fn confirm_kill_switch(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let reads = ScimReads::new(&operator, &request, &state);
    let (actor, info) = (operator.actor(), request_info(&request));
    let (state2, tenant, id) = (state.clone(), operator.tenant_id.clone(), id.into_inner());
    let now = state.clock.now();
    let (user, records, apps) = blocking(move || {
        let user = reads.get(&state2, ResourceKind::User, &id, Some("groups"))?;
        let (previewing, preview) = crate::scim::preview::Preview::of(&state2.store, &tenant);
        revoke_user(&previewing, now, &tenant, &id, Some(&actor), Some(&info))?;
        Ok((user, preview.records(), app_names(&state2)?))
    })
    .await?;
    let report = crate::scim::preview::report(200, None, &records);
    let ending = records::sessions_in(&report, &apps);
    view::ok(&KillSwitchPage {
        chrome: Chrome::new(&operator, Section::People),
        person: person_row(&user),
        ending,
    })
}

/// `POST /console/people/{id}/kill-switch`: ends every session of the person now, as
/// `POST /admin/v1/users/{id}/revoke` does, audited under the operator's credential.
pub async fn kill_switch(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: CsrfForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let (actor, info) = (operator.actor(), request_info(&request));
    let (access, tenant, id) = (
        state.access.clone(),
        operator.tenant_id.clone(),
        id.into_inner(),
    );
    let user = id.clone();
    let ended =
        blocking(move || Ok(access.revoke_user(&tenant, &user, Some(&actor), Some(&info))?))
            .await?;
    Ok(redirect(&format!(
        "/console/people/{}?ended={}",
        super::records::path_segment(&id),
        ended.len()
    )))
}
