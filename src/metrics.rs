//! Prometheus metrics, kept in process and rendered in the text exposition format at
//! `GET /metrics`. Counters and histograms are recorded where things happen; state that lives
//! in the database (users and groups per tenant, outbox lag) is read when scraped.
//!
//! Counters about committed state (sessions ended, tokens issued) are recorded through
//! `store::after_commit`, so a rolled-back write counts nothing.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// Every metric: name, type, help.
const CATALOG: &[(&str, &str, &str)] = &[
    (
        "scimitar_scim_requests_total",
        "counter",
        "SCIM requests by tenant, resource, operation and status.",
    ),
    (
        "scimitar_scim_request_duration_seconds",
        "histogram",
        "SCIM request latency by tenant, resource and operation.",
    ),
    (
        "scimitar_quirk_rules_fired_total",
        "counter",
        "Identity-provider quirk rules applied, by rule.",
    ),
    ("scimitar_users", "gauge", "Users per tenant."),
    ("scimitar_groups", "gauge", "Groups per tenant."),
    (
        "scimitar_tokens_issued_total",
        "counter",
        "Access tokens issued, by tenant and grant.",
    ),
    (
        "scimitar_tokens_introspected_total",
        "counter",
        "Introspections, by tenant and answer.",
    ),
    (
        "scimitar_sessions_ended_total",
        "counter",
        "Sessions (and their tokens) ended, by tenant and reason; expired_absolute and expired_idle are expiries.",
    ),
    (
        "scimitar_access_tokens_revoked_total",
        "counter",
        "Single access tokens revoked through /oauth2/revoke, by tenant.",
    ),
    (
        "scimitar_deprovisioning_latency_seconds",
        "histogram",
        "From a deprovisioning SCIM request's arrival to the commit of its revocations.",
    ),
    (
        "scimitar_outbox_head",
        "gauge",
        "Last outbox sequence number per tenant.",
    ),
    (
        "scimitar_outbox_lag",
        "gauge",
        "Outbox events not yet turned into Security Event Tokens, per SSF stream.",
    ),
    (
        "scimitar_ssf_pending_events",
        "gauge",
        "Security Event Tokens not yet delivered or acknowledged, per SSF stream.",
    ),
    (
        "scimitar_ssf_delivery_failures_total",
        "counter",
        "Failed SSF push deliveries, by tenant and stream.",
    ),
    (
        "scimitar_ssf_received_total",
        "counter",
        "Security Event Tokens received, by tenant, delivery (push, poll) and outcome (applied, ignored, replayed, refused).",
    ),
    (
        "scimitar_ssf_received_events_total",
        "counter",
        "Events of applied or ignored Security Event Tokens, by tenant, event and action.",
    ),
    (
        "scimitar_ssf_refused_total",
        "counter",
        "Security Event Tokens refused, by tenant and RFC 8935 error code.",
    ),
    (
        "scimitar_ssf_poll_failures_total",
        "counter",
        "Failed polls of a transmitter (RFC 8936), by tenant and receiver.",
    ),
    (
        "scimitar_flags_raised_total",
        "counter",
        "Flagged activity, by tenant, kind and severity.",
    ),
];

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Adds `by` to a counter.
pub fn add(name: &'static str, pairs: &[(&'static str, &str)], by: f64) {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    *registry.counters.entry((name, labels(pairs))).or_default() += by;
}

pub fn inc(name: &'static str, pairs: &[(&'static str, &str)]) {
    add(name, pairs, 1.0);
}

/// Records one observation, in seconds.
pub fn observe(name: &'static str, pairs: &[(&'static str, &str)], seconds: f64) {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    let histogram = registry
        .histograms
        .entry((name, labels(pairs)))
        .or_default();
    for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
        if seconds <= bound {
            *bucket += 1;
        }
    }
    histogram.count += 1;
    histogram.sum += seconds;
}

/// Count and sum of a histogram's observations with these labels, in this process (the
/// console's overview shows the mean deprovisioning latency from it).
pub fn histogram_totals(name: &'static str, pairs: &[(&'static str, &str)]) -> (u64, f64) {
    let registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    registry
        .histograms
        .get(&(name, labels(pairs)))
        .map_or((0, 0.0), |h| (h.count, h.sum))
}

/// A gauge value read at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub labels: Labels,
    pub value: f64,
}

/// The exposition text: every recorded metric, plus `gauges`.
pub fn render(gauges: &[Gauge]) -> String {
    let registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (name, kind, help) in CATALOG {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for ((metric, labels), value) in registry.counters.iter() {
            if metric == name {
                let _ = writeln!(out, "{name}{} {value}", format_labels(labels, None));
            }
        }
        for gauge in gauges.iter().filter(|g| g.name == *name) {
            let _ = writeln!(
                out,
                "{name}{} {}",
                format_labels(&gauge.labels, None),
                gauge.value
            );
        }
        for ((metric, labels), histogram) in &registry.histograms {
            if metric != name {
                continue;
            }
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {count}",
                    format_labels(labels, Some(&bound.to_string()))
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                format_labels(labels, Some("+Inf")),
                histogram.count
            );
            let _ = writeln!(
                out,
                "{name}_sum{} {}",
                format_labels(labels, None),
                histogram.sum
            );
            let _ = writeln!(
                out,
                "{name}_count{} {}",
                format_labels(labels, None),
                histogram.count
            );
        }
    }
    out
}

fn format_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_exposition_format() {
        inc(
            "scimitar_flags_raised_total",
            &[("tenant", "t-render"), ("kind", "k\"q")],
        );
        observe(
            "scimitar_deprovisioning_latency_seconds",
            &[("tenant", "t-render")],
            0.003,
        );
        let text = render(&[Gauge {
            name: "scimitar_users",
            labels: vec![("tenant", "t-render".into())],
            value: 7.0,
        }]);
        assert!(text.contains("# TYPE scimitar_flags_raised_total counter"));
        assert!(
            text.contains("scimitar_flags_raised_total{tenant=\"t-render\",kind=\"k\\\"q\"} 1")
        );
        assert!(text.contains("scimitar_users{tenant=\"t-render\"} 7"));
        assert!(text.contains(
            "scimitar_deprovisioning_latency_seconds_bucket{tenant=\"t-render\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "scimitar_deprovisioning_latency_seconds_bucket{tenant=\"t-render\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains("scimitar_deprovisioning_latency_seconds_count{tenant=\"t-render\"} 1")
        );
    }
}
