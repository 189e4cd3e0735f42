//! The overview's activity chart: provisioning writes and ended sessions per hour, drawn as an
//! inline SVG of stacked bars computed here and laid out by the template (numbers only, so
//! nothing in it needs escaping beyond what the template does).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};

use crate::store::tenant_summary::Activity;

/// The chart's height for the bars, in SVG units; labels go below.
const PLOT_HEIGHT: f64 = 160.0;
/// Width of one hour's slot, in SVG units.
const SLOT: f64 = 36.0;
const BAR: f64 = 24.0;
const LEFT: f64 = 34.0;

/// What an audit action counts as in the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Create,
    Update,
    Delete,
    Revoke,
}

impl Kind {
    fn of(action: &str) -> Option<Self> {
        if action == "session.revoke" {
            return Some(Kind::Revoke);
        }
        match action.rsplit('.').next()? {
            "create" => Some(Kind::Create),
            "replace" | "patch" => Some(Kind::Update),
            "delete" => Some(Kind::Delete),
            _ => None,
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Kind::Create => "s-create",
            Kind::Update => "s-update",
            Kind::Delete => "s-delete",
            Kind::Revoke => "s-revoke",
        }
    }
}

/// One coloured piece of a bar.
pub struct Segment {
    pub class: &'static str,
    pub x: f64,
    pub y: f64,
    pub height: f64,
    pub title: String,
}

/// The chart as the template draws it.
pub struct Chart {
    pub width: f64,
    pub plot_height: f64,
    pub segments: Vec<Segment>,
    /// (x, text) of the hour labels.
    pub labels: Vec<(f64, String)>,
    /// The largest bar's total, the top of the scale.
    pub peak: i64,
    pub left: f64,
}

/// One row of the by-provider table: an actor's creates, updates and deletes.
pub struct ProviderRow {
    pub actor: String,
    pub creates: i64,
    pub updates: i64,
    pub deletes: i64,
}

/// The first hour of a window of `hours` hours ending with the current one.
pub fn window_start(now: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    hour - Duration::hours(hours - 1)
}

/// Lays out `hours` bars from `start`.
pub fn chart(activity: &[Activity], start: DateTime<Utc>, hours: i64) -> Chart {
    let mut counts: BTreeMap<(String, Kind), i64> = BTreeMap::new();
    for row in activity {
        if let Some(kind) = Kind::of(&row.action) {
            *counts.entry((row.hour.clone(), kind)).or_default() += row.records;
        }
    }
    let slots: Vec<(String, DateTime<Utc>)> = (0..hours)
        .map(|i| {
            let hour = start + Duration::hours(i);
            (hour.format("%Y-%m-%d %H:00:00").to_string(), hour)
        })
        .collect();
    let total = |key: &str| -> i64 {
        counts
            .iter()
            .filter(|((h, _), _)| h == key)
            .map(|(_, n)| n)
            .sum()
    };
    let peak = slots
        .iter()
        .map(|(key, _)| total(key))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut segments = Vec::new();
    let mut labels = Vec::new();
    for (i, (key, hour)) in slots.iter().enumerate() {
        let x = LEFT + i as f64 * SLOT + (SLOT - BAR) / 2.0;
        let mut top = PLOT_HEIGHT;
        for kind in [Kind::Create, Kind::Update, Kind::Delete, Kind::Revoke] {
            let n = counts.get(&(key.clone(), kind)).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let height = (n as f64 / peak as f64 * (PLOT_HEIGHT - 10.0)).max(2.0);
            top -= height;
            segments.push(Segment {
                class: kind.class(),
                x,
                y: top,
                height,
                title: format!("{} UTC: {n} {}", hour.format("%H:00"), label(kind)),
            });
        }
        if i % 3 == 0 {
            labels.push((x + BAR / 2.0, hour.format("%H:00").to_string()));
        }
    }
    Chart {
        width: LEFT + hours as f64 * SLOT,
        plot_height: PLOT_HEIGHT,
        segments,
        labels,
        peak,
        left: LEFT,
    }
}

/// Writes per identity provider (the acting credential) over the window.
pub fn by_provider(activity: &[Activity]) -> Vec<ProviderRow> {
    let mut rows: BTreeMap<String, ProviderRow> = BTreeMap::new();
    for row in activity {
        let Some(kind) = Kind::of(&row.action) else {
            continue;
        };
        if kind == Kind::Revoke {
            continue;
        }
        let actor = row.actor.clone().unwrap_or_else(|| "(system)".into());
        let entry = rows.entry(actor.clone()).or_insert(ProviderRow {
            actor,
            creates: 0,
            updates: 0,
            deletes: 0,
        });
        match kind {
            Kind::Create => entry.creates += row.records,
            Kind::Update => entry.updates += row.records,
            _ => entry.deletes += row.records,
        }
    }
    rows.into_values().collect()
}

/// Sessions ended over the window.
pub fn sessions_ended(activity: &[Activity]) -> i64 {
    activity
        .iter()
        .filter(|row| Kind::of(&row.action) == Some(Kind::Revoke))
        .map(|row| row.records)
        .sum()
}

fn label(kind: Kind) -> &'static str {
    match kind {
        Kind::Create => "created",
        Kind::Update => "updated",
        Kind::Delete => "deleted",
        Kind::Revoke => "sessions ended",
    }
}

/// The stored form of a time, for the window's start.
pub fn stored(time: DateTime<Utc>) -> NaiveDateTime {
    crate::store::to_stored(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hour: &str, action: &str, records: i64) -> Activity {
        Activity {
            hour: hour.into(),
            actor: Some("okta".into()),
            action: action.into(),
            records,
        }
    }

    #[test]
    fn bars_stack_per_hour_and_scale_to_the_busiest_hour() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z").map(|t| t.to_utc());
        let Ok(start) = start else { panic!("a time") };
        let rows = [
            row("2026-01-01 10:00:00", "user.create", 4),
            row("2026-01-01 10:00:00", "session.revoke", 4),
            row("2026-01-01 11:00:00", "user.patch", 2),
            row("2026-01-01 11:00:00", "user.roles_change", 9),
        ];
        let chart = chart(&rows, start, 3);
        assert_eq!(chart.peak, 8);
        assert_eq!(chart.segments.len(), 3);
        assert!(chart.segments[1].y < chart.segments[0].y, "stacked upwards");
        assert_eq!(sessions_ended(&rows), 4);
        let providers = by_provider(&rows);
        assert_eq!((providers[0].creates, providers[0].updates), (4, 2));
    }
}
