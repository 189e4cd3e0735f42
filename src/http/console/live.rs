//! Live: the revocation stream as it happens (the outbox, through the same server-sent-event
//! loop as `/events/v1/stream`, each event rendered as an HTML row that htmx's SSE extension
//! adds to the table), and the open flags with acknowledge.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::error::ConsoleError;
use super::session::{CsrfForm, SignedIn, check_csrf, redirect};
use super::view::{self, Chrome, Section};
use crate::http::events::{StillAllowed, outbox_stream};
use crate::http::{AppState, blocking, request_info};
use crate::scim::ScimError;
use crate::signals::feed;
use crate::store::outbox::OutboxRow;
use crate::store::{AnyConnection, Store, StoreError, from_stored};

/// Events shown when the page opens, before the stream adds new ones.
const RECENT: i64 = 25;

/// One revocation event as a table row.
pub struct EventRow {
    seq: i64,
    when: String,
    kind: String,
    user_id: String,
    user_name: String,
    what: String,
    cause: String,
}

#[derive(Template)]
#[template(path = "live_event.html", config = "src/http/console/askama.toml")]
struct LiveEvent<'a> {
    event: &'a EventRow,
    fresh: bool,
}

struct FlagRow {
    id: String,
    kind: String,
    severity: String,
    subject: String,
    raised: String,
    occurrences: i64,
}

#[derive(Template)]
#[template(path = "live.html", config = "src/http/console/askama.toml")]
struct LivePage {
    chrome: Chrome,
    events: Vec<EventRow>,
    flags: Vec<FlagRow>,
}

/// An outbox event as a row, with its user's userName (read on the same connection).
fn event_row(conn: &mut AnyConnection, row: &OutboxRow) -> Result<EventRow, StoreError> {
    let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
    let user_id = row.user_id.clone().unwrap_or_default();
    let user_name = match &row.user_id {
        Some(id) => crate::store::users::get(conn, &row.tenant_id, id)?.map(|u| u.user_name),
        None => None,
    };
    let text = |key: &str| details[key].as_str().map(String::from);
    let app = match text("client_id") {
        Some(id) => Some(crate::store::credentials::get(conn, &id)?.map_or(id, |c| c.name)),
        None => None,
    };
    let what = [
        text("reason").map(|r| format!("reason {r}")),
        app.map(|name| format!("app {name}")),
        row.session_id.as_ref().map(|s| format!("session {s}")),
        row.jti.as_ref().map(|j| format!("token {j}")),
        text("kind").map(|k| format!("flag {k}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    Ok(EventRow {
        seq: row.seq,
        when: view::when(from_stored(row.occurred)),
        kind: row.kind.clone(),
        user_name: user_name.unwrap_or_else(|| user_id.clone()),
        user_id,
        what,
        cause: row.cause.clone().unwrap_or_default(),
    })
}

/// The stream's chunks: each event as a `revocation` event whose data is its HTML row.
fn live_chunk(store: &Store, tenant_id: &str, after: i64) -> Result<(String, i64), StoreError> {
    feed::sse_chunk_with(store, tenant_id, after, |conn, row| {
        let event = event_row(conn, row)?;
        let html = LiveEvent {
            event: &event,
            fresh: true,
        }
        .render()
        .map_err(|e| StoreError::Corrupt(format!("a live event did not render: {e}")))?;
        Ok(("revocation".to_string(), html))
    })
}

/// `GET /console/live`
pub async fn page(
    SignedIn(operator): SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (store, tenant) = (state.store.clone(), operator.tenant_id.clone());
    let (events, flags) = blocking(move || {
        Ok(store.read(|conn| {
            let head = crate::store::outbox::head(conn, &tenant)?;
            let recent =
                crate::store::outbox::after(conn, &tenant, (head - RECENT).max(0), RECENT)?;
            let mut events = recent
                .iter()
                .map(|row| event_row(conn, row))
                .collect::<Result<Vec<_>, _>>()?;
            events.reverse();
            let flags = crate::store::flags::list(conn, &tenant, false, 100)?;
            Ok::<_, StoreError>((events, flags))
        })?)
    })
    .await?;
    view::ok(&LivePage {
        chrome: Chrome::new(&operator, Section::Live),
        events,
        flags: flags
            .into_iter()
            .map(|f| FlagRow {
                id: f.id,
                kind: f.kind,
                severity: f.severity,
                subject: f.subject,
                raised: view::when(from_stored(f.raised)),
                occurrences: f.occurrences,
            })
            .collect(),
    })
}

/// How often an open live view asks whether its console session is still open (a read).
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A live view's check: its console session still open (not signed out, not idle or
/// expired, its credential active).
fn while_signed_in(
    state: &AppState,
    operator: crate::access::operator_sessions::Operator,
) -> StillAllowed {
    let (clock, limits) = (state.clock.clone(), state.console);
    std::sync::Arc::new(move |store| {
        crate::access::operator_sessions::still_open(store, &operator, limits, clock.now())
    })
}

/// `GET /console/live/stream`: server-sent events from now on (or `Last-Event-ID`).
pub async fn stream(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let resume = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let (store, tenant) = (state.store.clone(), operator.tenant_id.clone());
    let start = match resume {
        Some(after) => after,
        None => {
            let (store, tenant) = (store.clone(), tenant.clone());
            blocking(move || Ok(store.read(|conn| crate::store::outbox::head(conn, &tenant))?))
                .await?
        }
    };
    let opening = format!("retry: 1000\n: scimitar console live view from {start}\n\n");
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(outbox_stream(
            store,
            tenant,
            start,
            opening,
            live_chunk,
            (while_signed_in(&state, operator), RECHECK),
        )))
}

/// `POST /console/flags/{id}/acknowledge`: closes the flag, as the admin API does.
pub async fn acknowledge(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: CsrfForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let (actor, info) = (operator.actor(), request_info(&request));
    let (store, tenant, now) = (
        state.store.clone(),
        operator.tenant_id.clone(),
        state.clock.now(),
    );
    let acknowledged = blocking(move || {
        Ok(crate::outbox::flags::acknowledge(
            &store, &tenant, &id, &actor, &info, now,
        )?)
    })
    .await?;
    if !acknowledged {
        return Err(ScimError::NotFound("no open flag with this id".into()).into());
    }
    Ok(redirect("/console/live#flags"))
}
