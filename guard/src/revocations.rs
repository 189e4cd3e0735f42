//! The revocation view: revoked sessions, tokens and per-user `not_before`, built from
//! Scimitar's events and bounded: an entry is forgotten once every token it covers has
//! expired (the longest access-token lifetime plus leeway after the event).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::claims::Claims;
use crate::error::Rejection;

/// One event of the feed or stream, as far as revocation goes.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred: Option<DateTime<Utc>>,
    pub user: Option<String>,
    pub session: Option<String>,
    pub jti: Option<String>,
    pub not_before: Option<DateTime<Utc>>,
}

/// Revoked sessions, tokens and per-user `not_before`, each with when to forget it.
#[derive(Debug, Default)]
pub struct RevocationSet {
    /// Revoked `sid`s, with when to forget them.
    sessions: HashMap<String, DateTime<Utc>>,
    jtis: HashMap<String, DateTime<Utc>>,
    /// Per user: tokens issued at or before this are revoked, and when to forget it.
    not_before: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    horizon: chrono::Duration,
}

impl RevocationSet {
    /// `horizon`: how long after its event an entry still matters (max lifetime + leeway).
    pub fn new(horizon: std::time::Duration) -> Self {
        Self {
            horizon: chrono::Duration::from_std(horizon).unwrap_or(chrono::Duration::MAX),
            ..Self::default()
        }
    }

    /// Records what an event revokes; events that revoke nothing are ignored.
    pub fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        let at = event.occurred.or(event.not_before).unwrap_or(now);
        let forget = at + self.horizon;
        if forget <= now {
            return;
        }
        match event.kind.as_str() {
            "session.revoked" => {
                if let Some(sid) = &event.session {
                    self.sessions.insert(sid.clone(), forget);
                }
            }
            "token.revoked" => {
                if let Some(jti) = &event.jti {
                    self.jtis.insert(jti.clone(), forget);
                }
            }
            "user.disabled" => {
                if let (Some(user), Some(nb)) = (&event.user, event.not_before) {
                    let forget = nb + self.horizon;
                    let entry = self.not_before.entry(user.clone()).or_insert((nb, forget));
                    if nb >= entry.0 {
                        *entry = (nb, forget);
                    }
                }
            }
            // `user.enabled` revives nothing; role losses arrive as `session.revoked`.
            _ => {}
        }
    }

    /// Refuses a verified token that the view says is revoked, counting every entry held
    /// (also those past their horizon that `prune` has not removed yet).
    pub fn judge(&self, claims: &Claims) -> Result<(), Rejection> {
        self.judge_at(claims, DateTime::<Utc>::MIN_UTC)
    }

    /// Refuses a verified token that the view says is revoked at `now`: an entry is forgotten
    /// at its horizon exactly, whenever `prune` reclaims its memory.
    pub fn judge_at(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), Rejection> {
        let held = |forget: Option<&DateTime<Utc>>| forget.is_some_and(|f| *f > now);
        if held(self.sessions.get(&claims.sid)) {
            return Err(Rejection::RevokedSession);
        }
        if held(self.jtis.get(&claims.jti)) {
            return Err(Rejection::RevokedToken);
        }
        if let Some((nb, _)) = self
            .not_before
            .get(&claims.sub)
            .filter(|(_, forget)| *forget > now)
        {
            // `iat` has whole seconds: a token of the deactivation's own second is treated as
            // issued before it (no token is issued to an inactive user, so this fails closed).
            if claims.iat <= nb.timestamp() {
                return Err(Rejection::UserNotBefore(*nb));
            }
        }
        Ok(())
    }

    /// Forgets entries whose tokens have all expired.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.sessions.retain(|_, forget| *forget > now);
        self.jtis.retain(|_, forget| *forget > now);
        self.not_before.retain(|_, (_, forget)| *forget > now);
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.jtis.len() + self.not_before.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn claims(sub: &str, sid: &str, jti: &str, iat: i64) -> Claims {
        Claims {
            iss: "i".into(),
            sub: sub.into(),
            aud: "a".into(),
            exp: iat + 300,
            iat,
            nbf: iat,
            jti: jti.into(),
            client_id: "c".into(),
            sid: sid.into(),
            tid: "t".into(),
            roles: vec![],
        }
    }

    fn event(kind: &str, at: DateTime<Utc>) -> Event {
        Event {
            seq: 1,
            kind: kind.into(),
            occurred: Some(at),
            user: Some("u".into()),
            session: Some("s".into()),
            jti: Some("j".into()),
            not_before: (kind == "user.disabled").then_some(at),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 500_000_000).expect("time")
    }

    #[test]
    fn each_event_type_rejects_what_it_names() {
        let mut set = RevocationSet::new(Duration::from_secs(400));
        set.apply(&event("session.revoked", at(1000)), at(1000));
        assert_eq!(
            set.judge(&claims("x", "s", "x", 900)),
            Err(Rejection::RevokedSession)
        );
        let mut set = RevocationSet::new(Duration::from_secs(400));
        set.apply(&event("token.revoked", at(1000)), at(1000));
        assert_eq!(
            set.judge(&claims("x", "x", "j", 900)),
            Err(Rejection::RevokedToken)
        );
        assert_eq!(set.judge(&claims("u", "x", "x", 900)), Ok(()));
        let mut set = RevocationSet::new(Duration::from_secs(400));
        set.apply(&event("user.disabled", at(1000)), at(1000));
        assert!(matches!(
            set.judge(&claims("u", "x", "x", 1000)),
            Err(Rejection::UserNotBefore(_))
        ));
        assert_eq!(set.judge(&claims("u", "x", "x", 1001)), Ok(()));
        set.apply(&event("user.enabled", at(1002)), at(1002));
        assert!(set.judge(&claims("u", "x", "x", 999)).is_err());
    }

    #[test]
    fn entries_are_forgotten_once_every_token_they_cover_has_expired() {
        let mut set = RevocationSet::new(Duration::from_secs(400));
        for kind in ["session.revoked", "token.revoked", "user.disabled"] {
            set.apply(&event(kind, at(1000)), at(1000));
        }
        assert_eq!(set.len(), 3);
        set.prune(at(1399));
        assert_eq!(set.len(), 3);
        set.prune(at(1401));
        assert!(set.is_empty());
        // Judged at a time, an entry is forgotten at its horizon, pruned or not.
        let mut held = RevocationSet::new(Duration::from_secs(400));
        held.apply(&event("session.revoked", at(1000)), at(1000));
        let token = claims("x", "s", "x", 900);
        assert_eq!(
            held.judge_at(&token, at(1399)),
            Err(Rejection::RevokedSession)
        );
        assert_eq!(held.judge_at(&token, at(1401)), Ok(()));
        assert_eq!(held.judge(&token), Err(Rejection::RevokedSession));
        // An event already past its horizon is not even recorded (catching up on old events).
        set.apply(&event("session.revoked", at(1000)), at(2000));
        assert!(set.is_empty());
    }
}
