//! Offset paging that continues where the previous page ended. An identity provider that
//! imports every user walks the list by `startIndex` (1, 101, 201, …); read as `OFFSET`, each
//! page costs more than the one before, and the walk of a large tenant grows with the square
//! of its size. So when a full page is served, the position after its last row (its sort key
//! and id, as a cursor records it) and the list's total are remembered for the index of the
//! next page, stamped with the hash of the tenant's audit head. The request for that index, if the head has
//! not moved, reads the rows after the position instead (keyset, like `cursor`) and takes the
//! total as it was.
//!
//! A cursor walk (RFC 9865) is keyset already, but each page after the first reports the
//! list's total: the total counted once is kept the same way, for the pages that follow.
//!
//! The answer is the one `OFFSET` and `COUNT(*)` would give: every change to a user or a group
//! appends to the tenant's audit chain in its own transaction, so an unmoved head means no
//! change committed since the remembered page. When it has moved, the page is read by offset.

use std::collections::HashMap;
use std::sync::Mutex;

use super::cursor::Position;

/// Pages remembered at most, over every tenant and list; the oldest goes first.
const CAPACITY: usize = 1024;

/// The list (tenant, fingerprint of its filter and order) and the offset of a page in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub tenant_id: String,
    pub query: String,
    pub offset: i64,
}

/// Where the page at a key's offset starts, and what the list held when that was known.
#[derive(Debug, Clone, PartialEq)]
pub struct Continuation {
    pub position: Position,
    pub total: i64,
    /// The hash of the tenant's audit head (none before its first record) when the page that
    /// made it was read: unlike the sequence number, it tells apart two chains of one length.
    pub version: Option<String>,
}

/// A list's total as counted at a version of the tenant's chain: what a cursor walk's pages
/// after the first report without counting again.
#[derive(Debug, Clone, PartialEq)]
struct Total {
    total: i64,
    version: Option<String>,
}

#[derive(Default)]
pub struct PageMemo {
    continuations: Mutex<Aged<PageKey, Continuation>>,
    /// By tenant and query (the key's offset is 0).
    totals: Mutex<Aged<PageKey, Total>>,
}

impl PageMemo {
    /// The continuation for `key`, if one was remembered at `version`.
    pub fn continuation(&self, key: &PageKey, version: Option<&str>) -> Option<Continuation> {
        let continuations = self.continuations.lock().ok()?;
        let continuation = continuations.get(key)?;
        (continuation.version.as_deref() == version).then(|| continuation.clone())
    }

    /// Remembers where the page at `key` starts.
    pub fn remember(&self, key: PageKey, continuation: Continuation) {
        if let Ok(mut continuations) = self.continuations.lock() {
            continuations.insert(key, continuation);
        }
    }

    /// The total of the list at `key` (offset 0), if counted at `version`.
    pub fn total(&self, key: &PageKey, version: Option<&str>) -> Option<i64> {
        let totals = self.totals.lock().ok()?;
        let total = totals.get(key)?;
        (total.version.as_deref() == version).then_some(total.total)
    }

    /// Remembers the total of the list at `key` (offset 0), counted at `version`.
    pub fn remember_total(&self, key: PageKey, total: i64, version: Option<String>) {
        if let Ok(mut totals) = self.totals.lock() {
            totals.insert(key, Total { total, version });
        }
    }
}

/// A map of at most `CAPACITY` entries that forgets the oldest first.
struct Aged<K, V> {
    entries: HashMap<K, (V, u64)>,
    /// Counts insertions: an entry's stamp orders it by age.
    stamp: u64,
}

impl<K, V> Default for Aged<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            stamp: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, V> Aged<K, V> {
    fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, stamp))| *stamp)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.stamp += 1;
        self.entries.insert(key, (value, self.stamp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(offset: i64) -> PageKey {
        PageKey {
            tenant_id: "t".into(),
            query: "q".into(),
            offset,
        }
    }

    fn continuation(version: &str) -> Continuation {
        Continuation {
            position: Position {
                id: "last".into(),
                key: None,
            },
            total: 10,
            version: Some(version.into()),
        }
    }

    #[test]
    fn a_continuation_holds_only_at_the_version_it_was_made_at() {
        let memo = PageMemo::default();
        memo.remember(key(100), continuation("h7"));
        assert_eq!(
            memo.continuation(&key(100), Some("h7")),
            Some(continuation("h7"))
        );
        assert_eq!(
            memo.continuation(&key(100), Some("h8")),
            None,
            "the chain moved"
        );
        assert_eq!(
            memo.continuation(&key(200), Some("h7")),
            None,
            "another offset"
        );
        let other_tenant = PageKey {
            tenant_id: "u".into(),
            ..key(100)
        };
        assert_eq!(memo.continuation(&other_tenant, Some("h7")), None);
    }

    #[test]
    fn the_oldest_continuation_goes_first_when_full() {
        let memo = PageMemo::default();
        for offset in 0..CAPACITY as i64 {
            memo.remember(key(offset), continuation("h1"));
        }
        memo.remember(key(-1), continuation("h1"));
        assert_eq!(memo.continuation(&key(0), Some("h1")), None);
        assert!(memo.continuation(&key(1), Some("h1")).is_some());
        assert!(memo.continuation(&key(-1), Some("h1")).is_some());
        let held = memo
            .continuations
            .lock()
            .map(|c| c.entries.len())
            .unwrap_or(0);
        assert_eq!(held, CAPACITY);
    }

    #[test]
    fn a_total_holds_only_at_the_version_it_was_counted_at() {
        let memo = PageMemo::default();
        memo.remember_total(key(0), 42, Some("h1".into()));
        assert_eq!(memo.total(&key(0), Some("h1")), Some(42));
        assert_eq!(memo.total(&key(0), Some("h2")), None);
        assert_eq!(memo.total(&key(0), None), None);
    }
}
