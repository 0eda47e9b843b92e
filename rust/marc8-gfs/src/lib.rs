//! The native hot path of marc8fast's Z39.50 server (issue 22): the Search by system number and
//! the Present of its record in USMARC — what Connexion sends for every record it retrieves —
//! answered in GFS's session threads without entering Python. Everything else stays with the
//! Python backend (`python/marc8fast/server/z3950/backend.py`), which the handlers here call
//! whenever they decline, and which keeps the login checks, the conversion (its results are
//! what the cache here holds) and the SQL (the read statement is prepared by the catalog
//! package and handed over).
//!
//! Pure Rust, no PyO3: the binding crate (`marc8-py`, module `_native`) wraps it thinly. Unlike
//! the core crate it is FFI through and through, so `unsafe` is allowed here, each block with
//! its reason.

pub mod cache;
pub mod events;
pub mod ffi;
pub mod hot;
pub mod sessions;
pub mod watch;

pub use cache::{Converted, RecordCache};
pub use events::EventQueue;
pub use hot::{fetch, install, search, Config, Hot, Reader};
pub use sessions::{Session, Sessions};
pub use watch::{Note, Watch};
