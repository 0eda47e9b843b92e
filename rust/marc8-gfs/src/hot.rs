//! The two handlers GFS calls for Connexion's retrieval by system number — Search
//! `@attr 1=12 N` and the Present of its record in USMARC — answered without Python: the set
//! kept, the stored record read with the catalog package's statement, the conversion the
//! Python exporter made of it taken from the cache, the log lines queued, the watchdog's note
//! made. Anything else (another query, another syntax or element set, a record not converted
//! yet or changed since, a deleted one, a diagnostic to give, a session whose login has not
//! been looked at for a second, SQLite busy) goes to the Python handler, which answers it as
//! before: the hot path only ever declines, before it has changed anything.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::cache::RecordCache;
use crate::events::EventQueue;
use crate::ffi::{
    Choice, FetchFn, FetchRR, SearchFn, SearchRR, Sqlite, Yaz, QUERY_TYPE_1, QUERY_TYPE_101,
    SQLITE_DONE, SQLITE_OK, SQLITE_ROW,
};
use crate::sessions::Sessions;
use crate::watch::{monotonic, Watch};

/// The query YAZ renders for "Record ID Number" (Bib-1 use attribute 12), before its number.
const SYSNO_QUERY: &[u8] = b"@attrset Bib-1 @attr 1=12 ";
/// Result-set names longer than this take the Python path (they are logged whole).
const MAX_SETNAME: usize = 128;

/// The catalog's read statement (prepared by the catalog package: the record by system number,
/// column 1 its bytes, column 2 whether it is deleted) and the functions to run it, one call
/// at a time.
pub struct Reader {
    sqlite: Sqlite,
    stmt: usize,
    lock: Mutex<()>,
}

impl Reader {
    /// # Safety
    /// `stmt` must be a prepared `sqlite3_stmt *` of the library `sqlite`'s functions come from,
    /// with the system number as parameter 1, alive as long as the hot path is.
    pub unsafe fn new(sqlite: Sqlite, stmt: usize) -> Self {
        Reader {
            sqlite,
            stmt,
            lock: Mutex::new(()),
        }
    }

    /// `f(bytes, deleted)` of the stored record `sysno`; `Some(None)` when there is none, `None`
    /// when SQLite did not answer (busy, or an error: the Python path reads it its own way).
    fn read<T>(&self, sysno: i64, f: impl FnOnce(&[u8], bool) -> T) -> Option<Option<T>> {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let (s, stmt) = (&self.sqlite, self.stmt as *mut c_void);
        // SAFETY: `stmt` is a live statement of this library (Reader::new), used by one thread
        // at a time (the lock); a blob pointer is read within its column_bytes, before reset.
        unsafe {
            let out = if (s.bind_int64)(stmt, 1, sysno) != SQLITE_OK {
                None
            } else {
                match (s.step)(stmt) {
                    SQLITE_DONE => Some(None),
                    SQLITE_ROW => {
                        let p = (s.column_blob)(stmt, 1).cast::<u8>();
                        let n = (s.column_bytes)(stmt, 1).max(0) as usize;
                        let data = if p.is_null() || n == 0 {
                            &[][..]
                        } else {
                            std::slice::from_raw_parts(p, n)
                        };
                        let deleted = (s.column_int64)(stmt, 2) != 0;
                        Some(Some(f(data, deleted)))
                    }
                    _ => None,
                }
            };
            (s.reset)(stmt);
            out
        }
    }
}

pub struct Config {
    pub yaz: Yaz,
    pub python_search: SearchFn,
    pub python_fetch: FetchFn,
    /// the database name clients must ask for (compared as ASCII, case aside)
    pub database: CString,
    pub max_sets: usize,
    /// None: no direct read (a PostgreSQL catalog ...): every request takes the Python path
    pub reader: Option<Reader>,
}

pub struct Hot {
    pub config: Config,
    pub sessions: Sessions,
    pub cache: RecordCache,
    pub events: Arc<EventQueue>,
    pub watch: Watch,
    /// requests the hot path answered, and the ones it gave to the Python handler
    pub answered: AtomicU64,
    pub declined: AtomicU64,
}

impl Hot {
    /// A hot path whose declined requests go to the handlers at `python_search` and
    /// `python_fetch` (the Python backend's ctypes callbacks).
    ///
    /// # Safety
    /// The two addresses must be GFS search and fetch handlers alive as long as the process,
    /// and `config`'s functions what they claim to be.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn new(
        yaz: Yaz,
        python_search: usize,
        python_fetch: usize,
        database: &str,
        max_sets: usize,
        cache_size: usize,
        events: Arc<EventQueue>,
        reader: Option<Reader>,
    ) -> Result<Hot, String> {
        // SAFETY: the caller's promise.
        let (search, fetch) = unsafe {
            (
                crate::ffi::function::<SearchFn>(python_search).ok_or("no search handler")?,
                crate::ffi::function::<FetchFn>(python_fetch).ok_or("no fetch handler")?,
            )
        };
        Ok(Hot {
            config: Config {
                yaz,
                python_search: search,
                python_fetch: fetch,
                database: CString::new(database).map_err(|_| "a NUL in the database name")?,
                max_sets,
                reader,
            },
            sessions: Sessions::default(),
            cache: RecordCache::new(cache_size),
            events,
            watch: Watch::default(),
            answered: AtomicU64::new(0),
            declined: AtomicU64::new(0),
        })
    }
}

// SAFETY: the raw addresses in Config (functions, the USMARC OID, the statement) are used from
// any thread by design: the functions are thread-safe C, the OID is constant, and the statement
// is only touched under Reader's lock.
unsafe impl Send for Hot {}
// SAFETY: as for Send.
unsafe impl Sync for Hot {}

static HOT: OnceLock<Arc<Hot>> = OnceLock::new();

/// Makes `hot` the one the entry points use (once per process); false if one already is.
pub fn install(hot: Arc<Hot>) -> bool {
    HOT.set(hot).is_ok()
}

/// A GFS request the hot path may answer: where its diagnostic goes.
trait Request {
    fn fail(&mut self, code: c_int);
}

impl Request for SearchRR {
    fn fail(&mut self, code: c_int) {
        self.errcode = code;
    }
}

impl Request for FetchRR {
    fn fail(&mut self, code: c_int) {
        self.errcode = code;
    }
}

type Answer<RR> = unsafe fn(&Hot, usize, *mut RR) -> Option<c_int>;
type Handler<RR> = unsafe extern "C" fn(*mut c_void, *mut RR) -> c_int;

/// Answers GFS's request with `answer`, or gives it to the Python handler `python` picks when
/// `answer` declines (or panics). Bib-1 diagnostic 1 (system error) if no hot path is installed
/// (the handlers are set only after it is).
///
/// # Safety
/// `rr` is GFS's request for this call, of the kind `answer` and the handler take.
unsafe fn dispatch<RR: Request>(
    handle: *mut c_void,
    rr: *mut RR,
    answer: Answer<RR>,
    python: fn(&Config) -> Handler<RR>,
) -> c_int {
    let Some(hot) = HOT.get() else {
        // SAFETY: GFS's request, or NULL.
        if let Some(rr) = unsafe { rr.as_mut() } {
            rr.fail(1);
        }
        return 0;
    };
    // SAFETY: rr is GFS's request, valid for this call.
    let done = catch_unwind(AssertUnwindSafe(|| unsafe {
        answer(hot, handle as usize, rr)
    }));
    match done {
        Ok(Some(rc)) => {
            hot.answered.fetch_add(1, Ordering::Relaxed);
            rc
        }
        _ => {
            hot.declined.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the Python handler GFS would have called, with GFS's arguments.
            unsafe { python(&hot.config)(handle, rr) }
        }
    }
}

/// GFS's search handler.
///
/// # Safety
/// Called by GFS with its handle and a valid `bend_search_rr`.
pub unsafe extern "C" fn search(handle: *mut c_void, rr: *mut SearchRR) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { dispatch(handle, rr, Hot::search, |c| c.python_search) }
}

/// GFS's fetch handler (one record of a Present).
///
/// # Safety
/// Called by GFS with its handle and a valid `bend_fetch_rr`.
pub unsafe extern "C" fn fetch(handle: *mut c_void, rr: *mut FetchRR) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { dispatch(handle, rr, Hot::fetch, |c| c.python_fetch) }
}

/// The bytes of a C string (None for NULL).
unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: a non-NULL pointer from GFS is a NUL-terminated string living for the request.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A result-set name the log line can hold as it is (printable ASCII, no quote or backslash:
/// JSON's escaping leaves it unchanged).
fn plain_name(name: &[u8]) -> bool {
    name.len() <= MAX_SETNAME
        && name
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// The system number of `@attrset Bib-1 @attr 1=12 N` (1 to 9 digits), else None.
pub fn sysno_query(pqf: &[u8]) -> Option<i64> {
    let digits = pqf.strip_prefix(SYSNO_QUERY)?;
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
    )
}

/// The element set (`F`, `B`) and schema a USMARC Present asks for, as "brief or not"; None for
/// anything else.
fn brief_of(esn: &[u8], schema: &[u8]) -> Option<bool> {
    let mut brief = false;
    for name in [esn, schema] {
        match name {
            b"" | b"f" | b"F" => {}
            b"b" | b"B" => brief = true,
            _ => return None,
        }
    }
    Some(brief)
}

/// A YAZ WRBUF (a growing text buffer), destroyed with the thread that made it.
struct Wrbuf {
    ptr: usize,
    destroy: unsafe extern "C" fn(*mut c_void),
}

impl Drop for Wrbuf {
    fn drop(&mut self) {
        // SAFETY: a WRBUF made by wrbuf_alloc, destroyed once, by its own thread.
        unsafe { (self.destroy)(self.ptr as *mut c_void) }
    }
}

thread_local! {
    /// The WRBUF each session thread renders queries in.
    static WRBUF: std::cell::RefCell<Option<Wrbuf>> = const { std::cell::RefCell::new(None) };
}

impl Hot {
    fn wrbuf(&self) -> *mut c_void {
        WRBUF.with(|cell| {
            let mut slot = cell.borrow_mut();
            let w = slot.get_or_insert_with(|| Wrbuf {
                // SAFETY: wrbuf_alloc takes nothing and returns a new WRBUF.
                ptr: unsafe { (self.config.yaz.wrbuf_alloc)() } as usize,
                destroy: self.config.yaz.wrbuf_destroy,
            });
            w.ptr as *mut c_void
        })
    }

    /// The reader and the session `handle`, if the hot path may answer it now (it has a reader,
    /// and the session's login was looked at less than a second ago, or needs none).
    fn ready(&self, handle: usize) -> Option<(&Reader, Arc<crate::sessions::Session>)> {
        let reader = self.config.reader.as_ref()?;
        let session = self.sessions.get(handle)?;
        session.valid(monotonic()).then_some((reader, session))
    }

    /// The hot path's Search, or None to let the Python handler answer.
    unsafe fn search(&self, handle: usize, rr: *mut SearchRR) -> Option<c_int> {
        let (reader, session) = self.ready(handle)?;
        // SAFETY: GFS's request, valid for this call.
        let rr = unsafe { rr.as_mut() }?;
        let db = self.config.database.as_bytes();
        for i in 0..usize::try_from(rr.num_bases).ok()? {
            // SAFETY: basenames holds num_bases strings.
            let base = unsafe { c_bytes(*rr.basenames.add(i)) }?;
            if !base.eq_ignore_ascii_case(db) {
                return None;
            }
        }
        // SAFETY: a string of the request, or NULL.
        let setname = unsafe { c_bytes(rr.setname) }.unwrap_or(b"default");
        if !plain_name(setname) || (rr.replace_set == 0 && session.get(setname).is_some()) {
            return None;
        }
        // SAFETY: the request's query, or NULL.
        let query = unsafe { rr.query.as_ref() }?;
        if !(query.which == QUERY_TYPE_1 || query.which == QUERY_TYPE_101) || query.u.is_null() {
            return None;
        }
        let yaz = &self.config.yaz;
        let w = self.wrbuf();
        // SAFETY: a WRBUF of this thread and the request's Z_RPNQuery; the text is read before
        // the next rendering on this thread.
        let pqf = unsafe {
            (yaz.wrbuf_rewind)(w);
            (yaz.rpnquery_to_wrbuf)(w, query.u);
            c_bytes((yaz.wrbuf_cstr)(w))?.to_vec()
        };
        let number = sysno_query(&pqf)?;
        let hits = if number == 0 {
            Vec::new()
        } else {
            let live = reader.read(number, |_, deleted| !deleted)?;
            if live == Some(true) {
                vec![number]
            } else {
                Vec::new()
            }
        };
        let count = hits.len();
        session.put(setname, hits, self.config.max_sets);
        rr.hits = count as i64;
        let line = format!(
            "{{\"service\": \"z3950\", \"event\": \"z3950_search\", \"query\": \"{}\", \"set\": \"{}\", \"hits\": {count}}}",
            String::from_utf8_lossy(&pqf),
            String::from_utf8_lossy(setname),
        );
        self.events.push([line]);
        self.watch.note();
        Some(0)
    }

    /// The hot path's fetch, or None to let the Python handler answer.
    unsafe fn fetch(&self, handle: usize, rr: *mut FetchRR) -> Option<c_int> {
        let (reader, session) = self.ready(handle)?;
        // SAFETY: GFS's request, valid for this call.
        let rr = unsafe { rr.as_mut() }?;
        // SAFETY: a string of the request, or NULL.
        let setname = unsafe { c_bytes(rr.setname) }.unwrap_or(b"default");
        if !plain_name(setname) {
            return None;
        }
        let hits = session.get(setname)?;
        let number = usize::try_from(rr.number).ok()?;
        if number == 0 || number > hits.len() {
            return None;
        }
        let yaz = &self.config.yaz;
        // SAFETY: an Odr_oid of the request, compared with YAZ's own.
        if !rr.request_format.is_null()
            && unsafe { (yaz.oid_oidcmp)(rr.request_format, yaz.usmarc_oid) } != 0
        {
            return None;
        }
        let esn: &[u8] = if rr.comp.is_null() {
            b"F"
        } else {
            // SAFETY: the request's composition and, for the simple form, its element set names.
            unsafe {
                let comp: &Choice = &*rr.comp;
                if comp.which != 1 || comp.u.is_null() {
                    return None;
                }
                let names = &*comp.u.cast::<Choice>();
                if names.which != 1 || names.u.is_null() {
                    return None;
                }
                c_bytes(names.u.cast())?
            }
        };
        // SAFETY: a string of the request, or NULL.
        let schema = unsafe { c_bytes(rr.schema) }.unwrap_or(b"");
        let brief = brief_of(esn, schema)?;
        let variant = match (session.utf8, brief) {
            (false, false) => "marc8",
            (false, true) => "marc8-brief",
            (true, false) => "utf8",
            (true, true) => "utf8-brief",
        };
        let sysno = hits[number - 1];
        let done = reader.read(sysno, |stored, deleted| {
            if deleted {
                None
            } else {
                self.cache.get(sysno, variant, stored)
            }
        })???;
        let len = c_int::try_from(done.data.len()).ok()?;
        // SAFETY: memory of the request's ODR stream (freed with the PDU), written within its
        // size; the OID and the database name are constants outliving the request.
        unsafe {
            let out = (yaz.odr_malloc)(rr.stream, done.data.len().max(1)).cast::<u8>();
            if out.is_null() {
                return None;
            }
            std::ptr::copy_nonoverlapping(done.data.as_ptr(), out, done.data.len());
            rr.record = out.cast();
            rr.len = len;
            rr.output_format = yaz.usmarc_oid;
            rr.basename = (yaz.odr_strdup)(rr.stream, self.config.database.as_ptr());
        }
        rr.last_in_set = c_int::from(number == hits.len());
        self.events.push(done.lines.iter().cloned());
        self.watch.note();
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_sysno_query_is_hot() {
        assert_eq!(sysno_query(b"@attrset Bib-1 @attr 1=12 34"), Some(34));
        assert_eq!(
            sysno_query(b"@attrset Bib-1 @attr 1=12 000000034"),
            Some(34)
        );
        assert_eq!(sysno_query(b"@attrset Bib-1 @attr 1=12 0"), Some(0));
        for other in [
            &b"@attrset Bib-1 @attr 1=12 1234567890"[..],
            b"@attrset Bib-1 @attr 1=12 ",
            b"@attrset Bib-1 @attr 1=12 12 ",
            b"@attrset Bib-1 @attr 1=12 1a",
            b"@attrset Bib-1 @attr 1=4 12",
            b"@attrset Bib-1 @attr 1=12 @attr 5=1 12",
            b"@attr 1=12 12",
        ] {
            assert_eq!(
                sysno_query(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn names_and_element_sets() {
        assert!(plain_name(b"default") && plain_name(b"a b-1"));
        assert!(!plain_name(b"a\"b") && !plain_name(b"a\\b") && !plain_name("é".as_bytes()));
        assert!(!plain_name(b"a\x01") && !plain_name(&[b'a'; 129]));
        assert_eq!(brief_of(b"F", b""), Some(false));
        assert_eq!(brief_of(b"b", b""), Some(true));
        assert_eq!(brief_of(b"F", b"B"), Some(true));
        assert_eq!(brief_of(b"marcxml", b""), None);
        assert_eq!(brief_of(b"F", b"marc21"), None);
    }
}
