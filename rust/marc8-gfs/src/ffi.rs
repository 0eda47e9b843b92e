//! The C side: the `bend_*` request structures of YAZ 5's `yaz/backend.h` as far as the hot path
//! reads or writes them (the same layouts as `python/marc8fast/server/yazgfs.py`, which mirrors
//! them field for field), and the YAZ and SQLite functions the hot path calls, whose addresses
//! the Python side hands over (it has the libraries loaded: nothing is linked at build time).

use std::ffi::{c_char, c_int, c_longlong, c_void};

/// `bend_search_rr`, up to the fields the hot path uses.
#[repr(C)]
pub struct SearchRR {
    pub setname: *const c_char,
    pub replace_set: c_int,
    pub num_bases: c_int,
    pub basenames: *const *const c_char,
    pub reference_id: *mut c_void,
    pub query: *const Query,
    pub stream: *mut c_void,
    pub decode: *mut c_void,
    pub print: *mut c_void,
    pub association: *mut c_void,
    pub hits: c_longlong,
    pub errcode: c_int,
    pub errstring: *mut c_char,
}

/// `Z_Query`: `which` 2 (type-1) or 5 (type-101), `u` a `Z_RPNQuery *` for both.
#[repr(C)]
pub struct Query {
    pub which: c_int,
    pub u: *const c_void,
}

pub const QUERY_TYPE_1: c_int = 2;
pub const QUERY_TYPE_101: c_int = 5;

/// `bend_fetch_rr`.
#[repr(C)]
pub struct FetchRR {
    pub setname: *const c_char,
    pub number: c_int,
    pub reference_id: *mut c_void,
    pub request_format: *const c_void,
    pub comp: *const Choice,
    pub stream: *mut c_void,
    pub print: *mut c_void,
    pub basename: *mut c_char,
    pub len: c_int,
    pub record: *mut c_char,
    pub last_in_set: c_int,
    pub output_format: *const c_void,
    pub errcode: c_int,
    pub errstring: *mut c_char,
    pub surrogate_flag: c_int,
    pub schema: *const c_char,
}

/// `Z_RecordComposition` and `Z_ElementSetNames` alike: `which` 1 is the simple/generic form
/// (`u` an element set name, or the `Z_ElementSetNames *` holding one).
#[repr(C)]
pub struct Choice {
    pub which: c_int,
    pub u: *const c_void,
}

pub type SearchFn = unsafe extern "C" fn(*mut c_void, *mut SearchRR) -> c_int;
pub type FetchFn = unsafe extern "C" fn(*mut c_void, *mut FetchRR) -> c_int;

/// The YAZ functions the hot path calls.
#[derive(Clone, Copy)]
pub struct Yaz {
    pub odr_malloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    pub odr_strdup: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_char,
    pub oid_oidcmp: unsafe extern "C" fn(*const c_void, *const c_void) -> c_int,
    pub wrbuf_alloc: unsafe extern "C" fn() -> *mut c_void,
    pub wrbuf_destroy: unsafe extern "C" fn(*mut c_void),
    pub wrbuf_rewind: unsafe extern "C" fn(*mut c_void),
    pub wrbuf_cstr: unsafe extern "C" fn(*mut c_void) -> *const c_char,
    pub rpnquery_to_wrbuf: unsafe extern "C" fn(*mut c_void, *const c_void),
    /// `yaz_oid_recsyn_usmarc` (an `Odr_oid[]`): the format of nearly every Present
    pub usmarc_oid: *const c_void,
}

/// The SQLite functions of the library the catalog package opened the read connection with.
#[derive(Clone, Copy)]
pub struct Sqlite {
    pub bind_int64: unsafe extern "C" fn(*mut c_void, c_int, i64) -> c_int,
    pub step: unsafe extern "C" fn(*mut c_void) -> c_int,
    pub reset: unsafe extern "C" fn(*mut c_void) -> c_int,
    pub column_blob: unsafe extern "C" fn(*mut c_void, c_int) -> *const c_void,
    pub column_bytes: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    pub column_int64: unsafe extern "C" fn(*mut c_void, c_int) -> i64,
}

pub const SQLITE_OK: c_int = 0;
pub const SQLITE_ROW: c_int = 100;
pub const SQLITE_DONE: c_int = 101;

/// A function address handed over by the Python side, as the function it is.
///
/// # Safety
/// `addr` must be the address of a function with the signature `F`.
pub unsafe fn function<F: Copy>(addr: usize) -> Option<F> {
    if addr == 0 || std::mem::size_of::<F>() != std::mem::size_of::<usize>() {
        return None;
    }
    // SAFETY: the caller promises `addr` is a function of type F, which is pointer-sized.
    Some(unsafe { std::mem::transmute_copy::<usize, F>(&addr) })
}

impl Yaz {
    /// The functions from their addresses, looked up by name (`odr_malloc` ...), and the
    /// address of `yaz_oid_recsyn_usmarc` as `usmarc_oid`.
    ///
    /// # Safety
    /// Each address must be that of the YAZ 5 function of the same name (or of the OID).
    pub unsafe fn from_addresses(get: impl Fn(&str) -> Option<usize>) -> Result<Yaz, String> {
        let need = |name: &str| {
            get(name)
                .filter(|&a| a != 0)
                .ok_or(format!("no address for {name}"))
        };
        // SAFETY (each): the caller's promise that the address is this function.
        unsafe {
            Ok(Yaz {
                odr_malloc: function(need("odr_malloc")?).ok_or("odr_malloc")?,
                odr_strdup: function(need("odr_strdup")?).ok_or("odr_strdup")?,
                oid_oidcmp: function(need("oid_oidcmp")?).ok_or("oid_oidcmp")?,
                wrbuf_alloc: function(need("wrbuf_alloc")?).ok_or("wrbuf_alloc")?,
                wrbuf_destroy: function(need("wrbuf_destroy")?).ok_or("wrbuf_destroy")?,
                wrbuf_rewind: function(need("wrbuf_rewind")?).ok_or("wrbuf_rewind")?,
                wrbuf_cstr: function(need("wrbuf_cstr")?).ok_or("wrbuf_cstr")?,
                rpnquery_to_wrbuf: function(need("yaz_rpnquery_to_wrbuf")?)
                    .ok_or("yaz_rpnquery_to_wrbuf")?,
                usmarc_oid: need("usmarc_oid")? as *const c_void,
            })
        }
    }
}

impl Sqlite {
    /// The functions from their addresses, looked up by their SQLite names.
    ///
    /// # Safety
    /// Each address must be that of the SQLite 3 function of the same name.
    pub unsafe fn from_addresses(get: impl Fn(&str) -> Option<usize>) -> Result<Sqlite, String> {
        let need = |name: &str| {
            get(name)
                .filter(|&a| a != 0)
                .ok_or(format!("no address for {name}"))
        };
        // SAFETY (each): the caller's promise that the address is this function.
        unsafe {
            Ok(Sqlite {
                bind_int64: function(need("sqlite3_bind_int64")?).ok_or("bind")?,
                step: function(need("sqlite3_step")?).ok_or("step")?,
                reset: function(need("sqlite3_reset")?).ok_or("reset")?,
                column_blob: function(need("sqlite3_column_blob")?).ok_or("blob")?,
                column_bytes: function(need("sqlite3_column_bytes")?).ok_or("bytes")?,
                column_int64: function(need("sqlite3_column_int64")?).ok_or("int64")?,
            })
        }
    }
}
