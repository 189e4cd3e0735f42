//! Signals over HTTP: the revocation feed and its live stream (server-sent events) for app
//! and admin credentials, `/metrics` for Prometheus, and the SCIM request metrics middleware.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::auth::FeedCaller;
use super::error::ApiError;
use super::routing::Api;
use super::{AppState, blocking, scim_json};
use crate::access::credentials;
use crate::metrics;
use crate::scim::ScimError;
use crate::signals::feed;
use crate::store::{Store, StoreError, outbox};

/// How often an idle stream sends a comment, so proxies keep it open and clients can tell a
/// quiet stream from a dead one.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a stream looks at the outbox even without a doorbell.
const POLL: Duration = Duration::from_secs(1);

#[derive(utoipa::OpenApi)]
#[openapi(paths(revocations, stream, metrics_text))]
pub struct Doc;

pub fn routes(api: &mut Api) {
    api.resource("/events/v1/revocations", |r| r.get(revocations))
        .resource("/events/v1/stream", |r| r.get(stream));
    metrics_routes(api);
}

/// `/metrics` alone, for the observability listener too.
pub fn metrics_routes(api: &mut Api) {
    api.resource("/metrics", |r| r.get(metrics_text));
}

/// The tenant of a SCIM request, set once its caller is known, for the request metrics.
#[derive(Debug, Clone)]
pub struct TenantLabel(pub String);

fn cursor(request: &HttpRequest, query: &[(String, String)]) -> Result<Option<i64>, ApiError> {
    let bad =
        || ScimError::InvalidValue("`after` and `Last-Event-ID` are event sequence numbers".into());
    if let Some(last) = request.headers().get("last-event-id") {
        let text = last.to_str().map_err(|_| bad())?;
        return Ok(text.trim().parse().map(Some).map_err(|_| bad())?);
    }
    match query.iter().find(|(k, _)| k == "after") {
        Some((_, v)) => Ok(v.parse().map(Some).map_err(|_| bad())?),
        None => Ok(None),
    }
}

/// `GET /events/v1/revocations?after=SEQ&limit=N`: the events after a cursor, oldest first.
#[utoipa::path(get, path = "/events/v1/revocations", tag = "events", security(("basic" = []), ("bearer" = [])),
    params(
        ("after" = Option<i64>, Query, description = "Sequence number to continue after"),
        ("limit" = Option<i64>, Query),
        ("Last-Event-ID" = Option<i64>, Header, description = "Overrides `after`"),
    ),
    responses((status = 200, description = "Events after the cursor, oldest first", body = ref("#/components/schemas/RevocationPage"), content_type = "application/scim+json")))]
async fn revocations(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let after = cursor(&request, &query)?.unwrap_or(0);
    let limit = match query.iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => v
            .parse()
            .map_err(|_| ScimError::InvalidValue("`limit` must be an integer".into()))?,
        None => 500,
    };
    let store = state.store.clone();
    let page = blocking(move || Ok(feed::page(&store, &caller.tenant_id, after, limit)?)).await?;
    Ok(scim_json(StatusCode::OK, &page))
}

/// `GET /events/v1/stream`: the same events as server-sent events, from `Last-Event-ID` or
/// `after` (by default, from now on), woken by the doorbell, with a heartbeat.
#[utoipa::path(get, path = "/events/v1/stream", tag = "events", security(("basic" = []), ("bearer" = [])),
    params(
        ("after" = Option<i64>, Query, description = "Sequence number to start after (default: now)"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Overrides `after`"),
    ),
    responses((status = 200, description = "Server-sent events: `id` is the sequence number, `event` the type, `data` a revocation event as in `/events/v1/revocations`; a `: keep-alive` comment every 15 s", body = String, content_type = "text/event-stream")))]
async fn stream(
    FeedCaller(caller): FeedCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let tenant_id = caller.tenant_id.clone();
    let start = match cursor(&request, &query)? {
        Some(after) => after,
        None => {
            let (store, tenant) = (store.clone(), tenant_id.clone());
            blocking(move || Ok(store.read(|conn| outbox::head(conn, &tenant))?)).await?
        }
    };
    let opening = format!("retry: 1000\n: scimitar revocation stream from {start}\n\n");
    let allowed = while_active(&state, &request, &caller.client_id);
    let events = outbox_stream(
        store,
        tenant_id,
        start,
        opening,
        feed::sse_chunk,
        (allowed, Duration::ZERO),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events))
}

/// Reads a tenant's events after a cursor as server-sent-event text (`feed::sse_chunk` or a
/// variant); the new cursor comes with the text.
pub type ChunkReader = fn(&Store, &str, i64) -> Result<(String, i64), StoreError>;

/// Whether the stream's reader may still read: its credential not revoked since it opened.
pub type StillAllowed = Arc<dyn Fn(&Store) -> Result<bool, StoreError> + Send + Sync>;

/// An open event stream between two chunks.
struct Follower {
    store: Store,
    tenant: String,
    after: i64,
    bell: tokio::sync::watch::Receiver<u64>,
    quiet_since: tokio::time::Instant,
    checked: Option<tokio::time::Instant>,
    opening: Option<Bytes>,
}

/// A tenant's outbox events after `start` as a server-sent-event body: `opening` first, then
/// each chunk `read` makes, woken by the doorbell (a commit here or on another replica) or the
/// poll interval, with a heartbeat comment when quiet. The stream ends once `allowed` says
/// no (asked before a read, at most once per `recheck`): a credential revoked, here or by
/// another process, stops its open streams too. Shared by the revocation stream and the
/// operator console's live view.
pub(crate) fn outbox_stream(
    store: Store,
    tenant_id: String,
    start: i64,
    opening: String,
    read: ChunkReader,
    (allowed, recheck): (StillAllowed, Duration),
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
    let now = tokio::time::Instant::now();
    let initial = Follower {
        bell: store.doorbell(),
        store,
        tenant: tenant_id,
        after: start,
        quiet_since: now,
        checked: None,
        opening: Some(Bytes::from(opening)),
    };
    futures_util::stream::unfold(initial, move |mut follower| {
        let allowed = allowed.clone();
        async move {
            if let Some(opening) = follower.opening.take() {
                return Some((Ok::<_, actix_web::Error>(opening), follower));
            }
            loop {
                let check = follower.checked.is_none_or(|at| at.elapsed() >= recheck);
                if check {
                    follower.checked = Some(tokio::time::Instant::now());
                }
                let (reader, tenant, after) = (
                    follower.store.clone(),
                    follower.tenant.clone(),
                    follower.after,
                );
                let allowed = allowed.clone();
                let chunk = web::block(move || {
                    if check && !allowed(&reader)? {
                        return Ok(None);
                    }
                    read(&reader, &tenant, after).map(Some)
                })
                .await;
                match chunk {
                    Ok(Ok(None)) => return None,
                    Ok(Ok(Some((text, next)))) if !text.is_empty() => {
                        follower.after = next;
                        follower.quiet_since = tokio::time::Instant::now();
                        return Some((Ok(Bytes::from(text)), follower));
                    }
                    Ok(Ok(Some(_))) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "event stream read failed; retrying"),
                    Err(error) => tracing::warn!(%error, "event stream read failed; retrying"),
                }
                if follower.quiet_since.elapsed() >= HEARTBEAT {
                    follower.quiet_since = tokio::time::Instant::now();
                    return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), follower));
                }
                // Woken by a commit here or on another replica, or by the poll interval.
                let _ = tokio::time::timeout(POLL, follower.bell.changed()).await;
            }
        }
    })
}

/// A stream's check that the secret it was opened with is still `client_id`'s, active: from
/// the credential cache (which re-reads the revocation epoch every 50 ms), so it is asked
/// before every read and nothing written after a revocation is sent.
pub(crate) fn while_active(
    state: &AppState,
    request: &HttpRequest,
    client_id: &str,
) -> StillAllowed {
    let digest = super::auth::presented_secret(request, super::auth::FEED_KINDS)
        .map(|secret| credentials::digest(&secret));
    let (clock, client_id) = (state.clock.clone(), client_id.to_string());
    Arc::new(move |store| {
        let Some(digest) = &digest else {
            return Ok(false);
        };
        Ok(store
            .active_credential(digest, clock.now())?
            .is_some_and(|(row, _)| row.id == client_id))
    })
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "events",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "`metrics_token_sha256` is set and the bearer token is missing or wrong", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json"),
        (status = 404, description = "Served on the `metrics_bind` listener, not this one", body = ref("#/components/schemas/ScimError"), content_type = "application/scim+json")))]
async fn metrics_text(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::observability::admit(&request, &state)?;
    let store = state.store.clone();
    let gauges = blocking(move || Ok(crate::signals::gauges::read(&store)?)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics::render(gauges)))
}

/// Middleware on the SCIM scope: counts each request by tenant, resource, operation and
/// status, and records its latency.
pub async fn count_scim_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let kept = request
        .extensions()
        .get::<super::request_span::RoutePattern>()
        .and_then(|route| route.0.clone());
    // The kept one was found before the path was normalised: without it, look again.
    let pattern = kept
        .or_else(|| request.match_pattern())
        .unwrap_or_else(|| request.path().to_string());
    let response = next.call(request).await?;
    let tenant = response
        .request()
        .extensions()
        .get::<TenantLabel>()
        .map_or_else(|| "none".to_string(), |t| t.0.clone());
    let (resource, operation) = describe(&method, &pattern);
    let status = response.status().as_u16().to_string();
    let labels = [
        ("tenant", tenant.as_str()),
        ("resource", resource),
        ("operation", operation),
    ];
    metrics::inc(
        "scimitar_scim_requests_total",
        &[labels[0], labels[1], labels[2], ("status", status.as_str())],
    );
    metrics::observe(
        "scimitar_scim_request_duration_seconds",
        &labels,
        started.elapsed().as_secs_f64(),
    );
    Ok(response)
}

/// Resource and operation of a SCIM route pattern.
fn describe(method: &actix_web::http::Method, pattern: &str) -> (&'static str, &'static str) {
    let path = pattern.trim_start_matches(super::SCIM_PATH);
    let resource = match path.split('/').nth(1).unwrap_or_default() {
        "Users" => "User",
        "Groups" => "Group",
        "Bulk" => "Bulk",
        ".search" => "All",
        "ServiceProviderConfig" | "ResourceTypes" | "Schemas" => "Discovery",
        _ => "Other",
    };
    let with_id = path.contains("{id}");
    let operation = match (method.as_str(), with_id, path.ends_with(".search")) {
        (_, _, true) => "search",
        ("GET", true, _) => "get",
        ("GET", false, _) => "list",
        ("POST", _, _) if resource == "Bulk" => "bulk",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "replace",
        ("PATCH", _, _) => "patch",
        ("DELETE", _, _) => "delete",
        _ => "other",
    };
    (resource, operation)
}
