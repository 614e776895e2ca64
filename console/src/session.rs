//! Console sessions: made only by signing in with a valid key that has `console:read`, kept in
//! memory, bounded in number (across keys and per key) and in time (idle and absolute).
//!
//! The cookie carries a random token; the store keeps only its SHA-256, so neither a lookup's
//! timing nor a memory dump hands out a usable token. Each session has its own CSRF token,
//! which every form of the console posts back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rae_core::api_keys::ApiKey;
use sha2::Digest;

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    pub key: ApiKey,
    /// Posted back by every form; compared in constant time.
    pub csrf: String,
    created: Instant,
    used: Instant,
}

/// The limits of the store (`console.*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_sessions: usize,
    pub max_per_key: usize,
    pub idle: Duration,
    pub max_age: Duration,
}

/// Every session, by the digest of its token.
#[derive(Debug)]
pub struct Sessions {
    limits: Limits,
    by_digest: HashMap<[u8; 32], Session>,
}

fn digest(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// A random token of 32 bytes, hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    pub fn new(limits: Limits) -> Sessions {
        Sessions {
            limits,
            by_digest: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    fn live(&self, session: &Session, now: Instant) -> bool {
        now.duration_since(session.used) < self.limits.idle
            && now.duration_since(session.created) < self.limits.max_age
    }

    /// Starts a session for `key` and returns its token. Expired sessions go first; past the
    /// key's limit its least recently used session is signed out, past the store's limit the
    /// least recently used of all.
    pub fn start(&mut self, key: ApiKey, now: Instant) -> String {
        let limits = self.limits;
        self.by_digest.retain(|_, s| {
            now.duration_since(s.used) < limits.idle
                && now.duration_since(s.created) < limits.max_age
        });
        let of_key = self
            .by_digest
            .values()
            .filter(|s| s.key.id == key.id)
            .count();
        if of_key >= self.limits.max_per_key {
            self.evict_oldest(|s| s.key.id == key.id);
        }
        if self.by_digest.len() >= self.limits.max_sessions {
            self.evict_oldest(|_| true);
        }
        let token = random_token();
        self.by_digest.insert(
            digest(&token),
            Session {
                key,
                csrf: random_token(),
                created: now,
                used: now,
            },
        );
        token
    }

    fn evict_oldest(&mut self, of: impl Fn(&Session) -> bool) {
        let oldest = self
            .by_digest
            .iter()
            .filter(|(_, s)| of(s))
            .min_by_key(|(_, s)| s.used)
            .map(|(d, _)| *d);
        if let Some(d) = oldest {
            self.by_digest.remove(&d);
        }
    }

    /// The live session of `token`, marked used; an expired one is removed.
    pub fn touch(&mut self, token: &str, now: Instant) -> Option<Session> {
        let d = digest(token);
        let session = self.by_digest.get(&d)?;
        if !self.live(session, now) {
            self.by_digest.remove(&d);
            return None;
        }
        let session = self.by_digest.get_mut(&d)?;
        session.used = now;
        Some(session.clone())
    }

    /// Signs the session of `token` out.
    pub fn end(&mut self, token: &str) -> Option<Session> {
        self.by_digest.remove(&digest(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::api_keys::KeyRing;
    use rae_core::config::{Config, Source};

    fn keys() -> (ApiKey, ApiKey) {
        let yaml = r#"
api_keys:
  - { id: a, key: "console-key-a-0123456789", scopes: ["console:read"], tenants: ["*"] }
  - { id: b, key: "console-key-b-0123456789", scopes: ["console:read"], tenants: ["*"] }
"#;
        let config = Config::load(&Source::Text(yaml.into()), &|_| None).unwrap();
        let ring = KeyRing::from_config(&config);
        let now = time::OffsetDateTime::now_utc();
        (
            ring.find("console-key-a-0123456789", now).unwrap().clone(),
            ring.find("console-key-b-0123456789", now).unwrap().clone(),
        )
    }

    fn limits() -> Limits {
        Limits {
            max_sessions: 3,
            max_per_key: 2,
            idle: Duration::from_secs(60),
            max_age: Duration::from_secs(600),
        }
    }

    #[test]
    fn sessions_are_bounded_per_key_and_in_all() {
        let (a, b) = keys();
        let mut sessions = Sessions::new(limits());
        let t0 = Instant::now();
        let a1 = sessions.start(a.clone(), t0);
        let a2 = sessions.start(a.clone(), t0 + Duration::from_secs(1));
        let a3 = sessions.start(a.clone(), t0 + Duration::from_secs(2));
        assert_eq!(sessions.len(), 2, "a's oldest was signed out");
        assert!(sessions.touch(&a1, t0 + Duration::from_secs(3)).is_none());
        assert!(sessions.touch(&a2, t0 + Duration::from_secs(3)).is_some());
        let b1 = sessions.start(b.clone(), t0 + Duration::from_secs(4));
        let b2 = sessions.start(b, t0 + Duration::from_secs(5));
        assert_eq!(sessions.len(), 3);
        // a3 was used least recently (a2 was touched at 3 s).
        assert!(sessions.touch(&a3, t0 + Duration::from_secs(6)).is_none());
        for token in [&a2, &b1, &b2] {
            assert!(sessions.touch(token, t0 + Duration::from_secs(6)).is_some());
        }
    }

    #[test]
    fn sessions_expire_when_idle_or_old_and_end_on_sign_out() {
        let (a, _) = keys();
        let mut sessions = Sessions::new(limits());
        let t0 = Instant::now();
        let token = sessions.start(a.clone(), t0);
        let csrf = sessions.touch(&token, t0).unwrap().csrf;
        assert_eq!(csrf.len(), 64);
        assert!(sessions
            .touch(&token, t0 + Duration::from_secs(59))
            .is_some());
        assert!(sessions
            .touch(&token, t0 + Duration::from_secs(120))
            .is_none());
        assert!(sessions.is_empty());
        // Kept busy, it still ends at max_age.
        let token = sessions.start(a.clone(), t0);
        for minute in 1..=10 {
            assert!(sessions
                .touch(&token, t0 + Duration::from_secs(minute * 59))
                .is_some());
        }
        assert!(sessions
            .touch(&token, t0 + Duration::from_secs(601))
            .is_none());
        let token = sessions.start(a, t0);
        assert!(sessions.end(&token).is_some());
        assert!(sessions.touch(&token, t0).is_none());
        assert!(sessions.touch("not a token", t0).is_none());
    }
}
