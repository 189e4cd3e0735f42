//! Prometheus metrics, kept in process and rendered in the text exposition format (0.0.4) at
//! `GET /metrics` through `prometheus-client` (decision 56). Counters and histograms are
//! recorded where things happen; state that lives in the database (users and groups per
//! tenant, outbox lag) is read when scraped and handed to `render`.
//!
//! Counters about committed state (sessions ended, tokens issued) are recorded through
//! `store::Write::after_commit`, so a rolled-back write counts nothing.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeMetric, MetricEncoder, prometheus_text,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// Every metric: name as scraped, type, help. The order is the exposition's.
const CATALOG: &[(&str, MetricType, &str)] = &[
    (
        "scimitar_scim_requests_total",
        MetricType::Counter,
        "SCIM requests by tenant, resource, operation and status.",
    ),
    (
        "scimitar_scim_request_duration_seconds",
        MetricType::Histogram,
        "SCIM request latency by tenant, resource and operation.",
    ),
    (
        "scimitar_quirk_rules_fired_total",
        MetricType::Counter,
        "Identity-provider quirk rules applied, by rule.",
    ),
    ("scimitar_users", MetricType::Gauge, "Users per tenant."),
    ("scimitar_groups", MetricType::Gauge, "Groups per tenant."),
    (
        "scimitar_tokens_issued_total",
        MetricType::Counter,
        "Access tokens issued, by tenant and grant.",
    ),
    (
        "scimitar_tokens_introspected_total",
        MetricType::Counter,
        "Introspections, by tenant and answer.",
    ),
    (
        "scimitar_sessions_ended_total",
        MetricType::Counter,
        "Sessions (and their tokens) ended, by tenant and reason; expired_absolute and expired_idle are expiries.",
    ),
    (
        "scimitar_access_tokens_revoked_total",
        MetricType::Counter,
        "Single access tokens revoked through /oauth2/revoke, by tenant.",
    ),
    (
        "scimitar_deprovisioning_latency_seconds",
        MetricType::Histogram,
        "From a deprovisioning SCIM request's arrival to the commit of its revocations.",
    ),
    (
        "scimitar_outbox_head",
        MetricType::Gauge,
        "Last outbox sequence number per tenant.",
    ),
    (
        "scimitar_outbox_lag",
        MetricType::Gauge,
        "Outbox events not yet turned into Security Event Tokens, per SSF stream.",
    ),
    (
        "scimitar_ssf_pending_events",
        MetricType::Gauge,
        "Security Event Tokens not yet delivered or acknowledged, per SSF stream.",
    ),
    (
        "scimitar_ssf_delivery_failures_total",
        MetricType::Counter,
        "Failed SSF push deliveries, by tenant and stream.",
    ),
    (
        "scimitar_ssf_received_total",
        MetricType::Counter,
        "Security Event Tokens received, by tenant, delivery (push, poll) and outcome (applied, ignored, replayed, refused).",
    ),
    (
        "scimitar_ssf_received_events_total",
        MetricType::Counter,
        "Events of applied or ignored Security Event Tokens, by tenant, event and action.",
    ),
    (
        "scimitar_ssf_refused_total",
        MetricType::Counter,
        "Security Event Tokens refused, by tenant and RFC 8935 error code.",
    ),
    (
        "scimitar_ssf_poll_failures_total",
        MetricType::Counter,
        "Failed polls of a transmitter (RFC 8936), by tenant and receiver.",
    ),
    (
        "scimitar_ssf_receiver_last_event_timestamp_seconds",
        MetricType::Gauge,
        "When a Shared Signals receiver last received a Security Event Token (Unix time).",
    ),
    (
        "scimitar_ssf_receiver_last_verification_timestamp_seconds",
        MetricType::Gauge,
        "When a verification event last reached a Shared Signals receiver (Unix time).",
    ),
    (
        "scimitar_ssf_receiver_last_error_timestamp_seconds",
        MetricType::Gauge,
        "When a Shared Signals receiver last failed: a refused SET, a failed poll or stream management call (Unix time).",
    ),
    (
        "scimitar_ssf_receiver_stream_enabled",
        MetricType::Gauge,
        "Whether a receiver's managed stream delivers (1) or is paused or disabled (0).",
    ),
    (
        "scimitar_flags_raised_total",
        MetricType::Counter,
        "Flagged activity, by tenant, kind and severity.",
    ),
];

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Label pairs in the order they are exposed.
type Labels = Vec<(&'static str, String)>;

/// One histogram series, with its own count and sum beside it: the library's histogram keeps
/// those to itself, and the console shows a mean from them (`histogram_totals`).
#[derive(Clone, Debug)]
struct Observed {
    histogram: Histogram,
    count: Counter,
    sum: Counter<f64, AtomicU64>,
}

impl Observed {
    fn new() -> Self {
        Self {
            histogram: Histogram::new(BUCKETS),
            count: Counter::default(),
            sum: Counter::default(),
        }
    }
}

impl TypedMetric for Observed {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Observed {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.histogram.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The series of one catalogued metric. Gauges have none in process: they are read per scrape.
enum Series {
    Counter(Family<Labels, Counter>),
    Histogram(Family<Labels, Observed, fn() -> Observed>),
    Gauge,
}

struct Metric {
    name: &'static str,
    help: &'static str,
    series: Series,
}

/// The families, built once; recording takes only the family's read lock (a write lock the
/// first time a label set appears) and an atomic add.
fn families() -> &'static [Metric] {
    static FAMILIES: OnceLock<Vec<Metric>> = OnceLock::new();
    FAMILIES.get_or_init(|| {
        CATALOG
            .iter()
            .map(|&(name, kind, help)| Metric {
                name,
                help,
                series: match kind {
                    MetricType::Counter => Series::Counter(Family::default()),
                    MetricType::Histogram => {
                        Series::Histogram(Family::new_with_constructor(Observed::new))
                    }
                    _ => Series::Gauge,
                },
            })
            .collect()
    })
}

fn series(name: &str) -> Option<&'static Series> {
    families()
        .iter()
        .find(|metric| metric.name == name)
        .map(|metric| &metric.series)
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Adds `by` to a counter. A name outside the catalog counts nothing.
pub fn add(name: &'static str, pairs: &[(&'static str, &str)], by: u64) {
    if let Some(Series::Counter(family)) = series(name) {
        family.get_or_create(&labels(pairs)).inc_by(by);
    }
}

pub fn inc(name: &'static str, pairs: &[(&'static str, &str)]) {
    add(name, pairs, 1);
}

/// Records one observation, in seconds.
pub fn observe(name: &'static str, pairs: &[(&'static str, &str)], seconds: f64) {
    if let Some(Series::Histogram(family)) = series(name) {
        let series = family.get_or_create(&labels(pairs));
        series.histogram.observe(seconds);
        series.count.inc();
        series.sum.inc_by(seconds);
    }
}

/// Count and sum of a histogram's observations with these labels, in this process (the
/// console's overview shows the mean deprovisioning latency from it).
pub fn histogram_totals(name: &'static str, pairs: &[(&'static str, &str)]) -> (u64, f64) {
    match series(name) {
        Some(Series::Histogram(family)) => family
            .get(&labels(pairs))
            .map_or((0, 0.0), |series| (series.count.get(), series.sum.get())),
        _ => (0, 0.0),
    }
}

/// A gauge value read at scrape time.
#[derive(Debug)]
pub struct Gauge {
    pub name: &'static str,
    pub labels: Labels,
    pub value: i64,
}

/// One scrape: the recorded families and the gauges read for it. Every catalogued metric gets
/// its `# HELP` and `# TYPE` even with no series yet, so a dashboard can tell a metric at zero
/// from one that does not exist (the library's registry would leave an empty family out).
#[derive(Debug)]
struct Scrape {
    gauges: Vec<Gauge>,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for metric in families() {
            match &metric.series {
                Series::Counter(family) => {
                    // The encoder appends `_total` to a counter's name.
                    let base = metric.name.strip_suffix("_total").unwrap_or(metric.name);
                    let descriptor =
                        encoder.encode_descriptor(base, metric.help, None, MetricType::Counter)?;
                    family.encode(descriptor)?;
                }
                Series::Histogram(family) => {
                    let descriptor = encoder.encode_descriptor(
                        metric.name,
                        metric.help,
                        None,
                        MetricType::Histogram,
                    )?;
                    family.encode(descriptor)?;
                }
                Series::Gauge => {
                    let mut descriptor = encoder.encode_descriptor(
                        metric.name,
                        metric.help,
                        None,
                        MetricType::Gauge,
                    )?;
                    for gauge in self.gauges.iter().filter(|g| g.name == metric.name) {
                        ConstGauge::new(gauge.value)
                            .encode(descriptor.encode_family(&gauge.labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The exposition text: every recorded metric, plus `gauges`.
pub fn render(gauges: Vec<Gauge>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { gauges }));
    let mut out = String::new();
    // Writing into a String cannot fail, and the encoder raises no error of its own.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
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
        let text = render(vec![Gauge {
            name: "scimitar_users",
            labels: vec![("tenant", "t-render".into())],
            value: 7,
        }]);
        assert!(text.contains("# HELP scimitar_flags_raised_total Flagged activity"));
        assert!(text.contains("# TYPE scimitar_flags_raised_total counter"));
        assert!(
            text.contains("scimitar_flags_raised_total{tenant=\"t-render\",kind=\"k\\\"q\"} 1\n")
        );
        assert!(text.contains("# TYPE scimitar_users gauge"));
        assert!(text.contains("scimitar_users{tenant=\"t-render\"} 7\n"));
        assert!(
            text.contains("# TYPE scimitar_outbox_lag gauge"),
            "listed with no series"
        );
        assert!(text.contains(
            "scimitar_deprovisioning_latency_seconds_bucket{tenant=\"t-render\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "scimitar_deprovisioning_latency_seconds_bucket{tenant=\"t-render\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "scimitar_deprovisioning_latency_seconds_bucket{tenant=\"t-render\",le=\"+Inf\"} 1"
        ));
        assert!(
            text.contains("scimitar_deprovisioning_latency_seconds_count{tenant=\"t-render\"} 1")
        );
        let (count, sum) = histogram_totals(
            "scimitar_deprovisioning_latency_seconds",
            &[("tenant", "t-render")],
        );
        assert_eq!(count, 1);
        assert!((sum - 0.003).abs() < 1e-12);
    }
}
