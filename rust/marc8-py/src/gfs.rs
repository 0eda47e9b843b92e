//! `Z3950Hot` and `EventQueue`: the Z39.50 server's native hot path (crate `marc8-gfs`) as the
//! Python backend configures and feeds it. Argument conversion only.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use marc8_gfs::ffi::{Sqlite, Yaz};
use marc8_gfs::{Converted, Hot, Reader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The child's log lines waiting for their batch (the Python events and the hot path's).
#[pyclass(module = "marc8fast._native", name = "EventQueue", frozen)]
pub(crate) struct EventQueue {
    inner: Arc<marc8_gfs::EventQueue>,
}

#[pymethods]
impl EventQueue {
    #[new]
    fn new(limit: usize) -> Self {
        EventQueue {
            inner: Arc::new(marc8_gfs::EventQueue::new(limit)),
        }
    }

    fn push(&self, line: String) {
        self.inner.push([line]);
    }

    fn push_many(&self, lines: Vec<String>) {
        self.inner.push(lines);
    }

    /// Every waiting line, and how many were dropped since the last take.
    fn take(&self) -> (Vec<String>, u64) {
        self.inner.take()
    }
}

/// The hot path of one Z39.50 child process.
#[pyclass(module = "marc8fast._native", name = "Z3950Hot", frozen)]
pub(crate) struct Z3950Hot {
    inner: Arc<Hot>,
}

fn address(map: &HashMap<String, usize>) -> impl Fn(&str) -> Option<usize> + '_ {
    |name| map.get(name).copied()
}

#[pymethods]
impl Z3950Hot {
    #[new]
    #[pyo3(signature = (*, yaz, python_search, python_fetch, database, max_sets, cache_size, events, sqlite = None, statement = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        yaz: HashMap<String, usize>,
        python_search: usize,
        python_fetch: usize,
        database: &str,
        max_sets: usize,
        cache_size: usize,
        events: PyRef<'_, EventQueue>,
        sqlite: Option<HashMap<String, usize>>,
        statement: usize,
    ) -> PyResult<Self> {
        // SAFETY: the Python side hands over the addresses of the functions it names (ctypes
        // looked them up in the loaded libraries), its live ctypes callbacks and a statement
        // prepared by the catalog package on that SQLite library (server/z3950/backend.py).
        let hot = unsafe {
            let yaz = Yaz::from_addresses(address(&yaz)).map_err(PyValueError::new_err)?;
            let reader = match sqlite {
                Some(fns) if statement != 0 => Some(Reader::new(
                    Sqlite::from_addresses(address(&fns)).map_err(PyValueError::new_err)?,
                    statement,
                )),
                _ => None,
            };
            Hot::new(
                yaz,
                python_search,
                python_fetch,
                database,
                max_sets,
                cache_size,
                Arc::clone(&events.inner),
                reader,
            )
            .map_err(PyValueError::new_err)?
        };
        Ok(Z3950Hot {
            inner: Arc::new(hot),
        })
    }

    /// Makes this the process's hot path (once); the addresses of its search and fetch
    /// handlers, for GFS.
    fn install(&self) -> PyResult<(usize, usize)> {
        if !marc8_gfs::install(Arc::clone(&self.inner)) {
            return Err(PyValueError::new_err(
                "a Z39.50 hot path is already installed",
            ));
        }
        Ok((
            marc8_gfs::search as *const () as usize,
            marc8_gfs::fetch as *const () as usize,
        ))
    }

    #[getter]
    fn answered(&self) -> u64 {
        self.inner.answered.load(Ordering::Relaxed)
    }

    #[getter]
    fn declined(&self) -> u64 {
        self.inner.declined.load(Ordering::Relaxed)
    }

    fn open(&self, handle: usize, utf8: bool, valid_until: f64) {
        self.inner.sessions.open(handle, utf8, valid_until);
    }

    fn stamp(&self, handle: usize, valid_until: f64) {
        if let Some(s) = self.inner.sessions.get(handle) {
            s.stamp(valid_until);
        }
    }

    fn close(&self, handle: usize) -> bool {
        self.inner.sessions.close(handle)
    }

    fn set_get(&self, handle: usize, name: &[u8]) -> Option<Vec<i64>> {
        let hits = self.inner.sessions.get(handle)?.get(name)?;
        Some(hits.as_ref().clone())
    }

    fn set_put(&self, handle: usize, name: &[u8], hits: Vec<i64>) {
        if let Some(s) = self.inner.sessions.get(handle) {
            s.put(name, hits, self.inner.config.max_sets);
        }
    }

    fn set_remove(&self, handle: usize, name: &[u8]) -> bool {
        self.inner
            .sessions
            .get(handle)
            .is_some_and(|s| s.remove(name))
    }

    fn set_clear(&self, handle: usize) {
        if let Some(s) = self.inner.sessions.get(handle) {
            s.clear();
        }
    }

    fn set_names<'py>(&self, py: Python<'py>, handle: usize) -> Vec<Bound<'py, PyBytes>> {
        let names = self
            .inner
            .sessions
            .get(handle)
            .map(|s| s.names())
            .unwrap_or_default();
        names.iter().map(|n| PyBytes::new(py, n)).collect()
    }

    /// The conversion of (sysno, variant) made of exactly `stored`: (its bytes, its log lines).
    fn cache_get<'py>(
        &self,
        py: Python<'py>,
        sysno: i64,
        variant: &str,
        stored: &[u8],
    ) -> Option<(Bound<'py, PyBytes>, Vec<String>)> {
        let hit = self.inner.cache.get(sysno, variant, stored)?;
        Some((PyBytes::new(py, &hit.data), hit.lines.clone()))
    }

    fn cache_put(&self, sysno: i64, variant: &str, stored: &[u8], data: &[u8], lines: Vec<String>) {
        let converted = Converted {
            stored: stored.to_vec(),
            data: data.to_vec(),
            lines,
        };
        self.inner.cache.put(sysno, variant, converted);
    }

    /// The hot path's watchdog notes since the last take: (thread id, time, (inode, bytes
    /// received) or None).
    #[allow(clippy::type_complexity)]
    fn watch_take(&self) -> Vec<(u64, f64, Option<(u64, u64)>)> {
        let notes = self.inner.watch.take();
        notes
            .into_iter()
            .map(|(tid, n)| (tid, n.time, n.settled))
            .collect()
    }

    fn watch_fds(&self, fds: HashMap<u64, (i32, u64)>) {
        self.inner.watch.set_fds(fds);
    }

    fn watch_fd(&self, tid: u64, fd: i32, inode: u64) {
        self.inner.watch.set_fd(tid, fd, inode);
    }
}
