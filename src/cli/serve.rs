//! `scimitar serve`: the composition root. Wires the store, the services and the HTTP
//! server together, prints what an identity provider needs, logs a start-up summary and runs
//! the background jobs (audit checkpoints, token maintenance, the SSF transmitter, the SSF
//! receiver's poller, the doorbell listener).

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;

use crate::access;
use crate::access::credentials::{self, NewCredential};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::http::{self, AppState, SCIM_PATH, ServerSettings};
use crate::scim::ScimService;
use crate::scim::list::PageLimits;
use crate::scim::schema::Registry;
use crate::store::Store;
use crate::tenancy;

/// How long a replaced key stays published: longer than any access token it signed lives.
pub(super) fn retain_after_rotation(config: &Config) -> chrono::Duration {
    let longest = config
        .tenants
        .values()
        .filter_map(|t| t.access_token_minutes)
        .chain([config.access_token_minutes])
        .max()
        .unwrap_or(config.access_token_minutes);
    chrono::Duration::minutes(longest as i64) + chrono::Duration::minutes(10)
}

pub(super) fn serve(config: &Config, store: Store, clock: SharedClock) -> anyhow::Result<()> {
    let registry = Arc::new(
        Registry::load()
            .map_err(anyhow::Error::msg)
            .context("embedded SCIM schemas")?,
    );
    let listener = TcpListener::bind(&config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(
            http::tls::server_config(
                http::tls::TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                },
                std::time::Duration::from_secs(config.tls_reload_seconds.max(1)),
            )
            .context("cannot serve HTTPS")?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{address}"));
    let scim_url = format!("{}{SCIM_PATH}", public_url.trim_end_matches('/'));
    let limits = PageLimits {
        default_count: config.default_page_size.into(),
        max_count: config.max_page_size.into(),
    };
    let access = access::setup::start(config, &store, clock.clone(), &public_url)
        .context("token service")?;
    // Only once the configuration has been found sound: a start that fails must not spend
    // the one-time bootstrap credential.
    if let Some(credential) = credentials::bootstrap(&store, clock.now())? {
        print_bootstrap_credential(&credential, &scim_url);
    }
    let match_attributes = config
        .tenants
        .iter()
        .map(|(name, tenant)| (name.clone(), tenant.match_attributes.clone()))
        .collect();
    crate::scim::match_sync::sync(&store, &registry, &match_attributes)
        .context("[tenants.NAME] match_attributes")?;
    let egress = config.egress().context("outbound_allow")?;
    // Forward auth's view forgets a revocation once every token it covers has expired.
    let horizon = retain_after_rotation(config).to_std().unwrap_or_default();
    let revocations = crate::signals::revocation_view::RevocationView::new(clock.clone(), horizon);
    seal_stored_secrets(&store, &access.keys().sealer())?;
    let ssf = crate::signals::ssf::Transmitter::new(
        store.clone(),
        access.keys_shared(),
        &public_url,
        clock.clone(),
        egress.clone(),
    );
    let rate_limits = Arc::new(crate::access::limits::Limits::new(
        crate::access::limits::LimitSettings::from_config(config),
        clock.clone(),
    ));
    let scim = ScimService::new(store.clone(), registry, clock.clone(), limits)
        .with_burst_limit(
            config.burst_threshold,
            chrono::Duration::minutes(config.burst_window_minutes as i64),
        )
        .with_reactivation_alert(chrono::Duration::minutes(
            config.reactivation_alert_minutes as i64,
        ));
    let state = AppState {
        signals: crate::signals::receiver::Receiver::new(
            scim.clone(),
            egress.clone(),
            access.keys().sealer(),
        ),
        egress,
        caller_keys: Arc::default(),
        revocations: revocations.clone(),
        observability: http::observability::Observability {
            own_listener: config.metrics_bind.is_some(),
            token_sha256: config.metrics_token_sha256.clone(),
        },
        scim,
        store,
        clock,
        public_url: config.public_url.clone(),
        max_body_bytes: config.max_body_bytes,
        auth_failures: Arc::default(),
        limits: rate_limits,
        trust_forwarded_for: config.trust_forwarded_for,
        ssf,
        access,
        console: crate::access::operator_sessions::SessionLimits::from_config(config),
    };
    let settings = ServerSettings {
        max_body_bytes: config.max_body_bytes,
        workers: config.workers,
        tls,
        request_timeout: std::time::Duration::from_secs(config.request_timeout_seconds),
        observer: None,
    };
    let metrics_listener = match &config.metrics_bind {
        Some(bind) => Some(
            TcpListener::bind(bind)
                .with_context(|| format!("cannot listen on metrics_bind {bind}"))?,
        ),
        None => None,
    };
    println!("Scimitar is listening on {scheme}://{address}");
    if let Some(listener) = &metrics_listener {
        println!(
            "Metrics and OpenAPI (metrics_bind) on http://{}",
            listener.local_addr()?
        );
    }
    println!("SCIM base URL (tenant URL for Okta or Entra): {scim_url}");
    log_startup_summary(config, &state, address, &public_url)?;
    let checkpoints = periodic_checkpoints(config, state.store.clone(), state.clock.clone())?;
    let maintenance = token_maintenance(config, state.access.clone());
    let transmitter = state.ssf.clone();
    // Commits on other replicas ring this one's doorbell.
    crate::outbox::doorbell::listen(state.store.clone());
    crate::store::wal::start_checkpoints(&state.store, crate::store::wal::EVERY);
    let poller = crate::signals::receiver::poller::run(state.signals.clone());
    let follow_store = state.store.clone();
    actix_web::rt::System::new().block_on(async move {
        if let Some(checkpoints) = checkpoints {
            actix_web::rt::spawn(checkpoints);
        }
        actix_web::rt::spawn(maintenance);
        actix_web::rt::spawn(transmitter.run());
        actix_web::rt::spawn(poller);
        actix_web::rt::spawn(revocations.follow(follow_store, horizon));
        if let Some(listener) = metrics_listener {
            actix_web::rt::spawn(http::observability::server(state.clone(), listener)?);
        }
        http::server(state, &settings, listener)?.await
    })?;
    Ok(())
}

/// Outbound credentials stored in clear by a version before sealing (decision 73) are sealed
/// now, once; the log says how many.
fn seal_stored_secrets(store: &Store, sealer: &crate::sealing::Sealer) -> anyhow::Result<()> {
    let streams = crate::signals::ssf::seal_stored_authorizations(store, sealer)?;
    let receivers = crate::signals::receiver::manage::seal_stored_credentials(store, sealer)?;
    if streams + receivers > 0 {
        tracing::info!(
            streams,
            receivers,
            "outbound credentials stored in clear are now sealed"
        );
    }
    Ok(())
}

/// One readable line (one JSON object in the JSON format) on what this server is: where it
/// listens, its database, tenants, credentials, signing keys and background jobs.
pub(super) fn log_startup_summary(
    config: &Config,
    state: &AppState,
    address: std::net::SocketAddr,
    public_url: &str,
) -> anyhow::Result<()> {
    let tenants = tenancy::list(&state.store)?;
    let live = credentials::list(&state.store)?
        .into_iter()
        .filter(|c| c.revoked.is_none())
        .count();
    let keys = state.access.keys().schedule().len();
    let checkpoints = match config.audit_checkpoint_minutes {
        0 => "off".to_string(),
        n => format!("every {n} min"),
    };
    let doorbell = crate::outbox::doorbell::reach(&state.store);
    tracing::info!(
        %address,
        public_url,
        database = %crate::config::redact_password(&config.database_url),
        backend = ?state.store.backend(),
        tenants = tenants.len(),
        credentials = live,
        signing_keys = keys,
        audit_checkpoints = %checkpoints,
        sweeper = %format!("every {} s", config.sweep_seconds),
        shared_signals = "transmitter and receiver running",
        doorbell,
        "Scimitar started: listening on {address} ({public_url}), {} tenant(s), {live} live credential(s), {keys} signing key(s)",
        tenants.len(),
    );
    Ok(())
}

/// Every `audit_checkpoint_minutes`, a signed checkpoint of each tenant whose chain moved.
pub(super) fn periodic_checkpoints(
    config: &Config,
    store: Store,
    clock: SharedClock,
) -> anyhow::Result<Option<impl std::future::Future<Output = ()> + 'static>> {
    use crate::audit::checkpoint;
    if config.audit_checkpoint_minutes == 0 {
        return Ok(None);
    }
    let key = checkpoint::load_or_create_key(std::path::Path::new(&config.audit_key_file))?;
    let every = std::time::Duration::from_secs(config.audit_checkpoint_minutes * 60);
    Ok(Some(async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let (store, clock, key) = (store.clone(), clock.clone(), key.clone());
            let result = actix_web::web::block(move || -> anyhow::Result<()> {
                for tenant in tenancy::list(&store)? {
                    let head = store.read(|conn| crate::store::audit::head(conn, &tenant.id))?;
                    let last = store.read(|conn| {
                        crate::store::audit::latest_checkpoint(conn, &tenant.id, None)
                    })?;
                    if head.is_some_and(|h| last.is_none_or(|l| l.seq != h.seq)) {
                        checkpoint::create(&store, &tenant.id, &key, clock.now())?;
                    }
                }
                Ok(())
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "periodic audit checkpoint failed"),
                Err(error) => tracing::error!(%error, "periodic audit checkpoint failed"),
            }
        }
    }))
}

/// Every `sweep_seconds`: the sweeper (last uses flushed, expired sessions marked, old ones
/// purged), old receipts of Shared Signals SETs purged, and the signing-key rotation when it
/// is due.
pub(super) fn token_maintenance(
    config: &Config,
    access: access::AccessService,
) -> impl std::future::Future<Output = ()> + 'static {
    let every = std::time::Duration::from_secs(config.sweep_seconds);
    let rotation = chrono::Duration::days(config.signing_key_rotation_days as i64);
    let retain = retain_after_rotation(config);
    async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let access = access.clone();
            let result = actix_web::web::block(move || -> anyhow::Result<()> {
                let sweep = access::sweeper::sweep(&access)?;
                tracing::debug!(?sweep, "sweep");
                let now = access.clock().now();
                let purged = crate::signals::receiver::manage::purge_receipts(access.store(), now)?;
                tracing::debug!(purged, "received SETs purged");
                if let Some(kid) =
                    access
                        .keys()
                        .rotate_if_due(access.store(), now, rotation, retain)?
                {
                    tracing::info!(%kid, "signing key rotation scheduled");
                }
                Ok(())
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "token maintenance failed"),
                Err(error) => tracing::error!(%error, "token maintenance failed"),
            }
        }
    }
}

pub(super) fn print_bootstrap_credential(credential: &NewCredential, scim_url: &str) {
    let token = credential.secret.expose();
    println!(
        "No credential existed, so a SCIM credential was created (client id {}).",
        credential.client_id
    );
    println!("It is shown only this once; store it in your identity provider now.");
    println!();
    println!("SCIM bearer token: {token}");
    println!();
    println!(
        "Okta / Entra: tenant URL {scim_url}, secret token as above (Authorization: Bearer <token>)."
    );
    println!("Try it: curl -H 'Authorization: Bearer {token}' {scim_url}/Users");
    println!(
        "Revoke it later with: scimitar client revoke {}",
        credential.client_id
    );
    println!();
}
