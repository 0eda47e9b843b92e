//! Converted records by (system number, variant): what the Python side's exporter made of a
//! stored record, with the log lines a Present of it writes. A hit is used only when the stored
//! record is byte for byte the one it was made of, so an edit or a delete is seen at once. At
//! most `size` entries; a full cache drops the oldest put.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub struct Converted {
    pub stored: Vec<u8>,
    pub data: Vec<u8>,
    /// the `z3950_unmappable` line (if any) and the `z3950_present` line, rendered
    pub lines: Vec<String>,
}

type Key = (i64, String);

pub struct RecordCache {
    size: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Arc<Converted>>,
    order: VecDeque<Key>,
}

impl RecordCache {
    pub fn new(size: usize) -> Self {
        RecordCache {
            size,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The entry of (sysno, variant) if it was made of exactly `stored`.
    pub fn get(&self, sysno: i64, variant: &str, stored: &[u8]) -> Option<Arc<Converted>> {
        let e = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let hit = e.map.get(&(sysno, variant.to_string()))?;
        (hit.stored == stored).then(|| Arc::clone(hit))
    }

    pub fn put(&self, sysno: i64, variant: &str, converted: Converted) {
        if self.size == 0 {
            return;
        }
        let key = (sysno, variant.to_string());
        let mut e = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if e.map.insert(key.clone(), Arc::new(converted)).is_some() {
            e.order.retain(|k| *k != key);
        }
        e.order.push_back(key);
        while e.map.len() > self.size {
            match e.order.pop_front() {
                Some(old) => {
                    e.map.remove(&old);
                }
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(stored: &[u8]) -> Converted {
        Converted {
            stored: stored.to_vec(),
            data: b"out".to_vec(),
            lines: vec!["l".into()],
        }
    }

    #[test]
    fn a_hit_needs_the_same_stored_bytes_and_the_oldest_goes_first() {
        let c = RecordCache::new(2);
        c.put(1, "marc8", conv(b"a"));
        assert!(c.get(1, "marc8", b"a").is_some());
        assert!(c.get(1, "marc8", b"b").is_none());
        assert!(c.get(1, "utf8", b"a").is_none());
        c.put(2, "marc8", conv(b"x"));
        c.put(1, "marc8", conv(b"a2")); // replaced: now the newest
        c.put(3, "marc8", conv(b"y")); // drops 2, the oldest
        assert!(c.get(2, "marc8", b"x").is_none());
        assert!(c.get(1, "marc8", b"a2").is_some());
        assert_eq!(c.len(), 2);
    }
}
