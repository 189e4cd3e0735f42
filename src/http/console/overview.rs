//! The overview: what the tenant holds (users active and inactive, groups, role mappings, live
//! sessions, open flags) and provisioning activity over the last hours, as a chart. Every
//! number comes from an index or a bounded window of the audit log, whatever the tenant's size.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::chart::{self, Chart, ProviderRow};
use super::error::ConsoleError;
use super::session::SignedIn;
use super::view::{self, Chrome, Section};
use crate::http::{AppState, blocking};
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
    let (users, groups, mappings, live, flags, activity) = blocking(move || {
        Ok(store.read(|conn| {
            Ok::<_, StoreError>((
                tenant_summary::users_by_active(conn, &tenant)?,
                crate::store::groups::count(conn, &tenant, None)?,
                crate::store::roles::list(conn, &tenant)?.len(),
                tenant_summary::live_sessions(conn, &tenant, to_stored(now))?,
                tenant_summary::open_flags(conn, &tenant)?,
                tenant_summary::activity(conn, &tenant, chart::stored(start))?,
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
    })
}
