//! State shared by `check` and the stream follower: the revocation set, the cursor, and
//! when Scimitar was last heard from.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::claims::Claims;
use crate::config::Config;
use crate::decision;
use crate::error::Rejection;
use crate::keys::KeyCache;
use crate::revocations::{Event, RevocationSet};

/// How often the set is pruned (on the follower's path, never on `check`'s).
const PRUNE_EVERY: Duration = Duration::from_secs(10);

pub struct Shared {
    pub config: Config,
    pub http: reqwest::Client,
    pub keys: KeyCache,
    view: Mutex<View>,
    pub introspections: AtomicU64,
    pub reconnects: AtomicU64,
}

struct View {
    set: RevocationSet,
    cursor: i64,
    heard: Option<Instant>,
    pruned: Instant,
}

impl Shared {
    pub fn new(config: Config, http: reqwest::Client) -> Self {
        let keys = KeyCache::new(
            format!("{}/.well-known/jwks.json", config.issuer),
            config.jwks_cooldown,
        );
        let horizon = config.max_token_lifetime + config.leeway;
        Self {
            config,
            http,
            keys,
            view: Mutex::new(View {
                set: RevocationSet::new(horizon),
                cursor: 0,
                heard: None,
                pruned: Instant::now(),
            }),
            introspections: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        }
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        // Nothing panics while holding the lock; if something did, the set is still usable.
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cursor(&self) -> i64 {
        self.view().cursor
    }

    pub fn apply(&self, event: &Event) {
        let now = Utc::now();
        let mut view = self.view();
        view.set.apply(event, now);
        view.cursor = view.cursor.max(event.seq);
        if view.pruned.elapsed() >= PRUNE_EVERY {
            view.set.prune(now);
            view.pruned = Instant::now();
        }
    }

    pub fn advance(&self, seq: i64) {
        let mut view = self.view();
        view.cursor = view.cursor.max(seq);
    }

    pub fn heard(&self) {
        self.view().heard = Some(Instant::now());
    }

    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// How long since Scimitar was last heard (`None`: never).
    pub fn quiet_for(&self) -> Option<Duration> {
        self.view().heard.map(|at| at.elapsed())
    }

    pub fn entries(&self) -> usize {
        self.view().set.len()
    }

    /// `Ok` when the view is fresh and does not revoke the token; `Stale` when it is stale.
    /// A revocation already known refuses the token even when stale: revocations are final.
    pub fn judge(&self, claims: &Claims) -> Result<(), Rejection> {
        let view = self.view();
        let quiet = view.heard.map(|at| at.elapsed());
        decision::judge(
            &view.set,
            claims,
            Utc::now(),
            quiet,
            self.config.stale_after,
        )
    }
}
