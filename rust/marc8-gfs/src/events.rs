//! The child's log events, as JSON lines waiting for the next batch to `serve`: the Python
//! side's events and the hot path's in one queue, in the order they were made. At most
//! `limit` wait; beyond, the oldest are dropped and counted (never a growing buffer).

use std::collections::VecDeque;
use std::sync::Mutex;

pub struct EventQueue {
    limit: usize,
    inner: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    lines: VecDeque<String>,
    dropped: u64,
}

impl EventQueue {
    pub fn new(limit: usize) -> Self {
        EventQueue {
            limit,
            inner: Mutex::new(Pending::default()),
        }
    }

    /// Adds lines (one event each), in order.
    pub fn push<I: IntoIterator<Item = String>>(&self, lines: I) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines {
            p.lines.push_back(line);
        }
        while p.lines.len() > self.limit {
            p.lines.pop_front();
            p.dropped += 1;
        }
    }

    /// Every waiting line, and how many were dropped since the last take.
    pub fn take(&self) -> (Vec<String>, u64) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let lines = p.lines.drain(..).collect();
        (lines, std::mem::take(&mut p.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_counts_what_it_drops() {
        let q = EventQueue::new(3);
        q.push(["a".to_string(), "b".to_string()]);
        q.push(["c".to_string(), "d".to_string(), "e".to_string()]);
        assert_eq!(q.take(), (vec!["c".into(), "d".into(), "e".into()], 2));
        assert_eq!(q.take(), (vec![], 0));
    }
}
