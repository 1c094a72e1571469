//! In-memory session store: evaluation keys per session id, with an idle
//! TTL, a server-wide byte cap and a session count cap (least recently used
//! sessions are evicted first), and tombstones so that a client is told
//! whether its session expired, was evicted or never existed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

/// How many ids of expired or evicted sessions are remembered.
const TOMBSTONES: usize = 4096;

/// Why a session id does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Never opened, deleted, or forgotten long ago.
    Unknown,
    /// Idle longer than the TTL.
    Expired,
    /// Evicted to make room.
    Evicted,
}

/// Why a session could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The keys alone exceed the server-wide byte cap.
    TooLarge {
        /// Size of the keys.
        bytes: usize,
        /// The cap.
        cap: usize,
    },
}

struct Entry<S> {
    session: Arc<S>,
    bytes: usize,
    last_used: Instant,
}

/// The sessions of one server (`S` is the per-session state: the server's
/// [`cryptotl_protocol::Session`]).
pub(crate) struct SessionStore<S> {
    entries: HashMap<String, Entry<S>>,
    total_bytes: usize,
    idle_ttl: Duration,
    max_bytes: usize,
    max_sessions: usize,
    tombstones: VecDeque<(String, Missing)>,
    tombstone_ids: HashSet<String>,
    expired_total: u64,
    evicted_total: u64,
}

impl<S> SessionStore<S> {
    /// An empty store.
    pub(crate) fn new(idle_ttl: Duration, max_bytes: usize, max_sessions: usize) -> Self {
        Self {
            entries: HashMap::new(),
            total_bytes: 0,
            idle_ttl,
            max_bytes,
            max_sessions: max_sessions.max(1),
            tombstones: VecDeque::new(),
            tombstone_ids: HashSet::new(),
            expired_total: 0,
            evicted_total: 0,
        }
    }

    /// Open sessions.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held (as accounted at insertion).
    pub(crate) fn bytes(&self) -> usize {
        self.total_bytes
    }

    /// Sessions expired so far.
    pub(crate) fn expired_total(&self) -> u64 {
        self.expired_total
    }

    /// Sessions evicted so far.
    pub(crate) fn evicted_total(&self) -> u64 {
        self.evicted_total
    }

    /// Stores a session whose keys took `bytes`; evicts least recently used
    /// sessions as needed. Returns the new id and the ids evicted.
    pub(crate) fn insert(
        &mut self,
        session: S,
        bytes: usize,
        now: Instant,
    ) -> Result<(String, Vec<String>), Refused> {
        if bytes > self.max_bytes {
            return Err(Refused::TooLarge {
                bytes,
                cap: self.max_bytes,
            });
        }
        self.expire(now);
        let mut evicted = Vec::new();
        while !self.entries.is_empty()
            && (self.total_bytes + bytes > self.max_bytes
                || self.entries.len() >= self.max_sessions)
        {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            self.remove_as(&oldest, Some(Missing::Evicted));
            self.evicted_total += 1;
            evicted.push(oldest);
        }
        let id = new_session_id();
        self.total_bytes += bytes;
        self.entries.insert(
            id.clone(),
            Entry {
                session: Arc::new(session),
                bytes,
                last_used: now,
            },
        );
        Ok((id, evicted))
    }

    /// The session of `id`, marked as used now.
    pub(crate) fn get(&mut self, id: &str, now: Instant) -> Result<Arc<S>, Missing> {
        self.expire(now);
        match self.entries.get_mut(id) {
            Some(e) => {
                e.last_used = now;
                Ok(Arc::clone(&e.session))
            }
            None => Err(self.why_missing(id)),
        }
    }

    /// Deletes a session; an evaluation already running keeps its own
    /// reference until it finishes.
    pub(crate) fn remove(&mut self, id: &str, now: Instant) -> Result<(), Missing> {
        self.expire(now);
        if self.remove_as(id, None) {
            Ok(())
        } else {
            Err(self.why_missing(id))
        }
    }

    /// Drops sessions idle longer than the TTL; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let ttl = self.idle_ttl;
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_used) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &stale {
            self.remove_as(id, Some(Missing::Expired));
        }
        self.expired_total += stale.len() as u64;
        stale.len()
    }

    fn why_missing(&self, id: &str) -> Missing {
        if self.tombstone_ids.contains(id) {
            self.tombstones
                .iter()
                .rev()
                .find(|(t, _)| t == id)
                .map_or(Missing::Unknown, |(_, why)| *why)
        } else {
            Missing::Unknown
        }
    }

    fn remove_as(&mut self, id: &str, why: Option<Missing>) -> bool {
        let Some(e) = self.entries.remove(id) else {
            return false;
        };
        self.total_bytes -= e.bytes;
        if let Some(why) = why {
            if self.tombstones.len() >= TOMBSTONES {
                if let Some((old, _)) = self.tombstones.pop_front() {
                    self.tombstone_ids.remove(&old);
                }
            }
            self.tombstone_ids.insert(id.to_owned());
            self.tombstones.push_back((id.to_owned(), why));
        }
        true
    }
}

/// 128 random bits from the thread's CSPRNG, as 32 hex digits.
fn new_session_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `id` looks like a session id (so that junk in a path is never
/// looked up or logged verbatim).
pub(crate) fn is_well_formed_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex() {
        let a = new_session_id();
        let b = new_session_id();
        assert!(is_well_formed_id(&a) && is_well_formed_id(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed_id("../etc/passwd"));
    }

    #[test]
    fn least_recently_used_sessions_are_evicted_first() {
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        let mut store = SessionStore::new(Duration::from_secs(100), 30, 10);
        let (a, _) = store.insert(1u8, 10, s(0)).unwrap();
        let (b, _) = store.insert(2u8, 10, s(1)).unwrap();
        let (c, _) = store.insert(3u8, 10, s(2)).unwrap();
        // Touch a: b is now the least recently used.
        assert_eq!(*store.get(&a, s(3)).unwrap(), 1);
        let (_, evicted) = store.insert(4u8, 10, s(4)).unwrap();
        assert_eq!(evicted, vec![b.clone()]);
        assert_eq!(store.get(&b, s(5)).unwrap_err(), Missing::Evicted);
        assert_eq!(store.bytes(), 30);
        assert!(store.get(&c, s(5)).is_ok());
        // Too large for the cap at all.
        assert!(matches!(
            store.insert(5u8, 31, s(6)),
            Err(Refused::TooLarge { .. })
        ));
    }

    #[test]
    fn idle_sessions_expire_and_deleted_ones_are_unknown() {
        let t0 = Instant::now();
        let mut store = SessionStore::new(Duration::from_secs(10), 100, 10);
        let (a, _) = store.insert((), 1, t0).unwrap();
        let (b, _) = store.insert((), 1, t0).unwrap();
        assert!(store.get(&a, t0 + Duration::from_secs(9)).is_ok());
        assert_eq!(
            store.get(&b, t0 + Duration::from_secs(11)).unwrap_err(),
            Missing::Expired
        );
        store.remove(&a, t0 + Duration::from_secs(12)).unwrap();
        assert_eq!(
            store.get(&a, t0 + Duration::from_secs(12)).unwrap_err(),
            Missing::Unknown
        );
        assert_eq!(store.len(), 0);
        assert_eq!(store.bytes(), 0);
        assert_eq!(store.get("00", t0).unwrap_err(), Missing::Unknown);
    }

    #[test]
    fn the_session_count_cap_evicts_too() {
        let t0 = Instant::now();
        let mut store = SessionStore::new(Duration::from_secs(10), 100, 2);
        let (a, _) = store.insert((), 1, t0).unwrap();
        store.insert((), 1, t0 + Duration::from_millis(1)).unwrap();
        let (_, evicted) = store.insert((), 1, t0 + Duration::from_millis(2)).unwrap();
        assert_eq!(evicted, vec![a]);
        assert_eq!(store.len(), 2);
    }
}
