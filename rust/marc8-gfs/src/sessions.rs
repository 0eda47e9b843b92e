//! Sessions as the hot path knows them, by GFS handle (the Python backend's session number):
//! its named result sets (the one place they are kept: the Python path reads and writes them
//! here too), whether records go out in UTF-8, and until when its login is known to be enabled
//! (the Python path stamps that after each check of the accounts; past it, the next request
//! takes the Python path, which looks again).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub type Hits = Arc<Vec<i64>>;

pub struct Session {
    pub utf8: bool,
    valid_until: AtomicU64,
    sets: Mutex<Vec<(Vec<u8>, Hits)>>,
}

impl Session {
    /// Whether the hot path may answer this session at monotonic time `now`.
    pub fn valid(&self, now: f64) -> bool {
        now < f64::from_bits(self.valid_until.load(Ordering::Acquire))
    }

    pub fn stamp(&self, until: f64) {
        self.valid_until.store(until.to_bits(), Ordering::Release);
    }

    pub fn get(&self, name: &[u8]) -> Option<Hits> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| Arc::clone(h))
    }

    /// Keeps `hits` as the set `name` (the newest; the oldest beyond `max` are dropped).
    pub fn put(&self, name: &[u8], hits: Vec<i64>, max: usize) {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.retain(|(n, _)| n != name);
        sets.push((name.to_vec(), Arc::new(hits)));
        let over = sets.len().saturating_sub(max);
        sets.drain(..over);
    }

    pub fn remove(&self, name: &[u8]) -> bool {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let before = sets.len();
        sets.retain(|(n, _)| n != name);
        sets.len() != before
    }

    pub fn clear(&self) {
        self.sets.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn names(&self) -> Vec<Vec<u8>> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.iter().map(|(n, _)| n.clone()).collect()
    }
}

#[derive(Default)]
pub struct Sessions {
    map: RwLock<HashMap<usize, Arc<Session>>>,
}

impl Sessions {
    pub fn open(&self, handle: usize, utf8: bool, valid_until: f64) -> Arc<Session> {
        let s = Arc::new(Session {
            utf8,
            valid_until: AtomicU64::new(valid_until.to_bits()),
            sets: Mutex::new(Vec::new()),
        });
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle, Arc::clone(&s));
        s
    }

    pub fn get(&self, handle: usize) -> Option<Arc<Session>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&handle)
            .cloned()
    }

    pub fn close(&self, handle: usize) -> bool {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_keep_the_newest_max_and_a_stamp_expires() {
        let all = Sessions::default();
        let s = all.open(7, false, 10.0);
        assert!(s.valid(9.9) && !s.valid(10.0));
        s.stamp(f64::INFINITY);
        assert!(s.valid(1e300));
        s.put(b"a", vec![1], 2);
        s.put(b"b", vec![2], 2);
        s.put(b"a", vec![3], 2); // "a" again: now the newest
        s.put(b"c", vec![4], 2); // drops "b"
        assert_eq!(s.names(), vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(*s.get(b"a").unwrap(), vec![3]);
        assert!(s.remove(b"a") && !s.remove(b"a"));
        assert!(all.get(7).is_some() && all.close(7) && all.get(7).is_none());
    }
}
