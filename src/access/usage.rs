//! Last use of sessions, kept in memory: an introspection marks its session used without a
//! database write. The sweeper flushes the marks to the database every few seconds, and the
//! idle check takes the later of the stored and the remembered use.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
pub struct UsageLog {
    /// Session id → (last use, idle timeout in seconds).
    seen: Mutex<HashMap<String, (DateTime<Utc>, i64)>>,
}

impl UsageLog {
    pub fn touch(&self, session_id: &str, at: DateTime<Utc>, idle_seconds: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen
            .entry(session_id.to_string())
            .or_insert((at, idle_seconds));
        if entry.0 < at {
            *entry = (at, idle_seconds);
        }
    }

    pub fn last_use(&self, session_id: &str) -> Option<DateTime<Utc>> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(session_id).map(|(at, _)| *at)
    }

    /// Takes every remembered use, for writing to the database.
    pub fn drain(&self) -> Vec<(String, DateTime<Utc>, i64)> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.drain()
            .map(|(id, (at, idle))| (id, at, idle))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_use_is_kept_and_drained_once() {
        let log = UsageLog::default();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        log.touch("s", t0 + chrono::Duration::seconds(10), 60);
        log.touch("s", t0 + chrono::Duration::seconds(5), 60);
        assert_eq!(log.last_use("s"), Some(t0 + chrono::Duration::seconds(10)));
        assert_eq!(log.drain().len(), 1);
        assert_eq!(log.last_use("s"), None);
    }
}
