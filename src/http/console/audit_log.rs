//! The audit log: records filtered by time, actor, action and resource (the admin API's query
//! and reader), a record with the chain of records that caused it and those it caused, the
//! chain's state (its head and last signed checkpoint, and a verification on request: it
//! walks the whole chain, so it runs when asked, not on every page), and the export as JSON
//! Lines or OCSF for the filter shown, streamed a page at a time and itself audited.

use crate::http::error::ApiError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;

use super::error::ConsoleError;
use super::records::{self, TrailEntry};
use super::session::SignedIn;
use super::view::{self, Chrome, Section};
use crate::audit::Verification;
use crate::audit::reading;
use crate::http::admin::audit_query;
use crate::http::{AppState, blocking, request_info};
use crate::scim::ScimError;
use crate::store::StoreError;
use crate::store::audit::{self as rows, AuditQuery};

/// Records per page.
const PAGE: &str = "50";

/// The filters as the form shows them.
#[derive(Default)]
struct Filters {
    since: String,
    until: String,
    actor: String,
    action: String,
    resource: String,
}

#[derive(Template)]
#[template(path = "audit.html", config = "src/http/console/askama.toml")]
struct AuditPage {
    chrome: Chrome,
    filters: Filters,
    /// (client id, name) of the tenant's credentials, for the actor filter.
    actors: Vec<(String, String)>,
    records: Vec<TrailEntry>,
    next: Option<String>,
    paged: bool,
    /// The export links' query: the filters without paging.
    export_query: String,
    head: Option<(i64, String)>,
    /// (sequence number, created, public key) of the last signed checkpoint.
    checkpoint: Option<(i64, String, String)>,
}

/// The admin API's query parameters from the form's: `datetime-local` values are UTC.
fn api_params(query: &[(String, String)]) -> (Vec<(String, String)>, Filters) {
    let mut filters = Filters::default();
    let mut params = Vec::new();
    for (name, value) in query {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = match name.as_str() {
            "since" => &mut filters.since,
            "until" => &mut filters.until,
            "actor" => &mut filters.actor,
            "action" => &mut filters.action,
            "resource" => &mut filters.resource,
            "cursor" => {
                params.push((name.clone(), value.to_string()));
                continue;
            }
            _ => continue,
        };
        *slot = value.to_string();
        let value = match name.as_str() {
            "since" | "until" if !value.ends_with('Z') && !value.contains('+') => {
                let seconds = if value.len() == 16 { ":00" } else { "" };
                format!("{value}{seconds}Z")
            }
            _ => value.to_string(),
        };
        params.push((name.clone(), value));
    }
    (params, filters)
}

fn filter_pairs(filters: &Filters) -> Vec<(&'static str, &str)> {
    vec![
        ("since", &filters.since),
        ("until", &filters.until),
        ("actor", &filters.actor),
        ("action", &filters.action),
        ("resource", &filters.resource),
    ]
}

/// `GET /console/audit?since=&until=&actor=&action=&resource=&cursor=`
pub async fn search(
    SignedIn(operator): SignedIn,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let (mut params, filters) = api_params(&query);
    let paged = params.iter().any(|(k, _)| k == "cursor");
    params.push(("limit".into(), PAGE.into()));
    let audit_query = audit_query(&params)?;
    let (store, tenant) = (state.store.clone(), operator.tenant_id.clone());
    let (records, next, actors, head, checkpoint) = blocking(move || {
        let (records, next) = reading::page(&store, &tenant, &audit_query)?;
        let rows = records::with_chains(&store, &tenant, &records)?;
        let (credentials, head, checkpoint) = store.read(|conn| {
            Ok::<_, StoreError>((
                crate::store::credentials::list(conn)?,
                rows::head(conn, &tenant)?,
                rows::latest_checkpoint(conn, &tenant, None)?,
            ))
        })?;
        let actors = credentials
            .into_iter()
            .filter(|(c, _)| c.tenant_id == tenant)
            .map(|(c, _)| (c.id, format!("{} ({})", c.name, c.kind)))
            .collect::<Vec<_>>();
        Ok((rows, next, actors, head, checkpoint))
    })
    .await?;
    let pairs = filter_pairs(&filters);
    let export_query = view::query(&pairs);
    let next = next.map(|cursor| {
        let mut pairs = pairs.clone();
        pairs.push(("cursor", cursor.as_str()));
        format!("/console/audit{}", view::query(&pairs))
    });
    view::ok(&AuditPage {
        chrome: Chrome::new(&operator, Section::Audit),
        actors,
        records,
        next,
        paged,
        export_query,
        head: head.map(|h| (h.seq, h.hash)),
        checkpoint: checkpoint.map(|c| {
            (
                c.seq,
                view::when(crate::store::from_stored(c.created)),
                c.public_key,
            )
        }),
        filters,
    })
}

#[derive(Template)]
#[template(path = "audit_record.html", config = "src/http/console/askama.toml")]
struct RecordPage {
    chrome: Chrome,
    record: TrailEntry,
    details: String,
    hash: String,
    prev_hash: String,
    request: String,
    effects: Vec<TrailEntry>,
}

/// `GET /console/audit/{id}`: the record, what caused it, and what it caused.
pub async fn record(
    SignedIn(operator): SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (store, tenant, id) = (
        state.store.clone(),
        operator.tenant_id.clone(),
        id.into_inner(),
    );
    let (record, effects) = blocking(move || {
        let record = reading::with_causes(&store, &tenant, &id)?
            .ok_or_else(|| ScimError::NotFound("no audit record with this id".into()))?;
        let caused = AuditQuery {
            cause: Some(id),
            limit: 100,
            ..AuditQuery::default()
        };
        let (effects, _) = reading::page(&store, &tenant, &caused)?;
        Ok((record, effects))
    })
    .await?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let request = match record["request"]["id"].as_str() {
        Some(id) => format!(
            "{} {} ({id})",
            text(&record["request"]["method"]),
            text(&record["request"]["path"])
        ),
        None => String::new(),
    };
    view::ok(&RecordPage {
        chrome: Chrome::new(&operator, Section::Audit),
        details: serde_json::to_string_pretty(
            &json!({"details": record["details"], "personal": record["personal"]}),
        )
        .unwrap_or_default(),
        hash: text(&record["hash"]),
        prev_hash: text(&record["prev_hash"]),
        request,
        record: records::entry(&record),
        effects: effects.iter().map(records::entry).collect(),
    })
}

#[derive(Template)]
#[template(path = "audit_verify.html", config = "src/http/console/askama.toml")]
struct VerifyPage {
    chrome: Chrome,
    intact: bool,
    summary: String,
}

/// `GET /console/audit/verify`: walks the tenant's chain now.
pub async fn verify(
    SignedIn(operator): SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (store, tenant) = (state.store.clone(), operator.tenant_id.clone());
    let verification = blocking(move || {
        crate::audit::verify(&store, &tenant).map_err(|error| {
            tracing::warn!(%error, "audit verification from the console failed");
            ApiError::from(ScimError::Internal)
        })
    })
    .await?;
    let (intact, summary) = match verification {
        Verification::Intact {
            records,
            head,
            erased,
        } => (
            true,
            format!(
                "Intact: {records} record(s) chain to the head {head}; {erased} had personal data erased by a recorded erasure."
            ),
        ),
        Verification::Broken { seq, reason } => {
            (false, format!("Broken at record {seq}: {reason}"))
        }
    };
    view::ok(&VerifyPage {
        chrome: Chrome::new(&operator, Section::Audit),
        intact,
        summary,
    })
}

/// `GET /console/audit/export.jsonl`: the filtered records, oldest first, as JSON Lines.
pub async fn export_jsonl(
    operator: SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    export(operator, request, state, query, false).await
}

/// `GET /console/audit/export.ocsf`: the same as OCSF events, one per line.
pub async fn export_ocsf(
    operator: SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    export(operator, request, state, query, true).await
}

async fn export(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
    ocsf: bool,
) -> Result<HttpResponse, ConsoleError> {
    let (mut params, filters) = api_params(&query);
    params.retain(|(k, _)| k != "cursor");
    params.push(("order".into(), "oldest".into()));
    params.push(("limit".into(), "1000".into()));
    let first = audit_query(&params)?;
    let format = if ocsf { "ocsf" } else { "jsonl" };
    let details = json!({"format": format, "since": filters.since, "until": filters.until, "actor": filters.actor, "action": filters.action, "resource": filters.resource, "via": "console"});
    let (store, tenant, actor, info, now) = (
        state.store.clone(),
        operator.tenant_id.clone(),
        operator.actor(),
        request_info(&request),
        state.clock.now(),
    );
    let (store2, tenant2) = (store.clone(), tenant.clone());
    blocking(move || {
        let event = crate::audit::Event {
            actor: Some(&actor),
            request: Some(&info),
            ..crate::audit::Event::new("audit.export", details)
        };
        Ok(store2.write(|conn| crate::audit::record(conn, &tenant2, now, event))?)
    })
    .await?;
    let pages = futures_util::stream::unfold(Some(first), move |query| {
        let (store, tenant) = (store.clone(), tenant.clone());
        async move {
            let mut query = query?;
            let batch = web::block({
                let query = query.clone();
                move || store.read(|conn| rows::query(conn, &tenant, &query))
            })
            .await;
            let batch = match batch {
                Ok(Ok(batch)) => batch,
                _ => {
                    return Some((
                        Err(actix_web::Error::from(ApiError::from(
                            ScimError::Unavailable,
                        ))),
                        None,
                    ));
                }
            };
            if batch.is_empty() {
                return None;
            }
            let mut text = String::new();
            for row in &batch {
                let line = if ocsf {
                    reading::to_ocsf(row)
                } else {
                    reading::to_json(row)
                };
                text.push_str(&line.to_string());
                text.push('\n');
            }
            let more = batch.len() as i64 == query.limit;
            query.after_seq = batch.last().map(|r| r.seq);
            Some((
                Ok::<_, actix_web::Error>(Bytes::from(text)),
                more.then_some(query),
            ))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"scimitar-audit.{format}.jsonl\""),
        ))
        .streaming(pages))
}
