//! The overview: what the tenant holds (users active and inactive, groups, role mappings, live
//! sessions, open flags), provisioning activity over the last hours as a chart, and the health
//! of the tenant's Shared Signals receivers. Every
//! number comes from an index or a bounded window of the audit log, whatever the tenant's size.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::chart::{self, Chart, ProviderRow};
use super::error::ConsoleError;
use super::session::SignedIn;
use super::view::{self, Chrome, Section};
use crate::http::{AppState, blocking};
use crate::signals::receiver::POLL;
use crate::signals::receiver::health::{self, Health};
use crate::store::receivers::ReceiverRow;
use crate::store::{StoreError, tenant_summary, to_stored};

/// Hours the activity chart covers.
const HOURS: i64 = 24;

#[derive(Template)]
#[template(path = "overview.html", config = "src/http/console/askama.toml")]
struct OverviewPage {
    chrome: Chrome,
    active_users: i64,
    inactive_users: i64,
    groups: i64,
    mappings: usize,
    live_sessions: i64,
    open_flags: i64,
    chart: Chart,
    providers: Vec<ProviderRow>,
    sessions_ended: i64,
    hours: i64,
    /// Deprovisionings this replica measured since it started, and their mean latency.
    deprovisionings: u64,
    mean_latency_ms: String,
    receivers: Vec<ReceiverHealth>,
}

/// A Shared Signals receiver's health, as the overview lists it.
struct ReceiverHealth {
    issuer: String,
    delivery: &'static str,
    stream: String,
    last_event: String,
    last_verification: String,
    last_error: String,
    /// Something needs a look: an error after the last event, or a stream that stopped.
    attention: bool,
}

fn when(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.map_or_else(
        || "never".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn receiver_health(row: &ReceiverRow, health: &Health) -> ReceiverHealth {
    let stream = match &health.stream_status {
        None => "configured by hand".to_string(),
        Some((status, Some(reason))) => format!("{status} ({reason})"),
        Some((status, None)) => status.clone(),
    };
    let stopped = health
        .stream_status
        .as_ref()
        .is_some_and(|(status, _)| status != "enabled");
    let error_is_newest = match (&health.last_error, health.last_event) {
        (Some((at, _)), Some(event)) => *at >= event,
        (Some(_), None) => true,
        _ => false,
    };
    ReceiverHealth {
        issuer: row.issuer.clone(),
        delivery: if row.delivery_method == POLL {
            "poll"
        } else {
            "push"
        },
        stream,
        last_event: when(health.last_event),
        last_verification: match health.verification_pending_since {
            Some(since) => format!(
                "{} (one asked for at {} is awaited)",
                when(health.last_verification),
                when(Some(since))
            ),
            None => when(health.last_verification),
        },
        last_error: health.last_error.as_ref().map_or_else(
            || "none".to_string(),
            |(at, what)| format!("{}: {what}", when(Some(*at))),
        ),
        attention: stopped || error_is_newest || !row.enabled,
    }
}

/// `GET /console`
pub async fn page(
    SignedIn(operator): SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let store = state.store.clone();
    let tenant = operator.tenant_id.clone();
    let now = state.clock.now();
    let start = chart::window_start(now, HOURS);
    let (users, groups, mappings, live, flags, activity, receivers) = blocking(move || {
        Ok(store.read(|conn| {
            let mut receivers = Vec::new();
            for row in crate::store::receivers::list(conn, &tenant)? {
                let health = health::of(conn, &row)?;
                receivers.push(receiver_health(&row, &health));
            }
            Ok::<_, StoreError>((
                tenant_summary::users_by_active(conn, &tenant)?,
                crate::store::groups::count(conn, &tenant, None)?,
                crate::store::roles::list(conn, &tenant)?.len(),
                tenant_summary::live_sessions(conn, &tenant, to_stored(now))?,
                tenant_summary::open_flags(conn, &tenant)?,
                tenant_summary::activity(conn, &tenant, chart::stored(start))?,
                receivers,
            ))
        })?)
    })
    .await?;
    let (count, sum) = crate::metrics::histogram_totals(
        "scimitar_deprovisioning_latency_seconds",
        &[("tenant", &operator.tenant_id)],
    );
    let mean_latency_ms = if count == 0 {
        "–".to_string()
    } else {
        format!("{:.1} ms", sum / count as f64 * 1000.0)
    };
    view::ok(&OverviewPage {
        chrome: Chrome::new(&operator, Section::Overview),
        active_users: users.0,
        inactive_users: users.1,
        groups,
        mappings,
        live_sessions: live,
        open_flags: flags,
        chart: chart::chart(&activity, start, HOURS),
        providers: chart::by_provider(&activity),
        sessions_ended: chart::sessions_ended(&activity),
        hours: HOURS,
        deprovisionings: count,
        mean_latency_ms,
        receivers,
    })
}
