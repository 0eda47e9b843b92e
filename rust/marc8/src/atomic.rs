//! The one atomic output file: written to a temporary file beside the destination, synced and
//! renamed into place by [`AtomicFile::commit`]; removed if it is dropped (or
//! [`AtomicFile::abort`]ed) first. So an output is whole or absent, never half-written, and a
//! destination is only ever replaced by a complete file. The file is created with the mode the
//! umask gives, like every output of the project.
//!
//! Speed (issue 22): the sync before the rename is what makes the output durable, and on a disk
//! it used to be most of a conversion's wall time (242 MB written, then all of it flushed at the
//! end, the CPU idle meanwhile). [`Writeback`] asks the kernel to start writing each
//! [`WRITEBACK_EVERY`] bytes to the disk as soon as they are written (Linux `sync_file_range`,
//! which does not wait), so the disk works while the conversion goes on and the final sync has
//! only the tail left. The buffer is small ([`BUFFER`]): a batch's output (about 300 KB) goes
//! to the file in one `write`, without a copy into the buffer first.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes written between two requests to start writeback.
pub(crate) const WRITEBACK_EVERY: u64 = 8 << 20;
/// The write buffer: writes this long or longer bypass it.
const BUFFER: usize = 128 << 10;

/// A file that starts writeback of what was written every [`WRITEBACK_EVERY`] bytes (Linux; a
/// plain file elsewhere).
pub(crate) struct Writeback {
    file: File,
    written: u64,
    started: u64,
}

impl Writeback {
    fn new(file: File) -> Writeback {
        Writeback {
            file,
            written: 0,
            started: 0,
        }
    }

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let (from, len) = (self.started, self.written - self.started);
        // SAFETY: a valid open descriptor; the call only reads its arguments. Its result is
        // advice only: a failure (a file system without writeback) is ignored, the final sync
        // still makes the file durable.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.started = self.written;
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self) {
        self.started = self.written;
    }
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_EVERY {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// An output file written atomically: see the module documentation.
pub(crate) struct AtomicFile {
    dst: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<Writeback>>,
}

impl AtomicFile {
    /// Creates the temporary file beside `dst` (never an existing file).
    pub(crate) fn create(dst: &Path) -> io::Result<AtomicFile> {
        let tmp = temp_path(dst);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        Ok(AtomicFile {
            dst: dst.to_owned(),
            tmp,
            file: Some(BufWriter::with_capacity(BUFFER, Writeback::new(file))),
        })
    }

    /// Where to write (an error once committed or aborted).
    pub(crate) fn writer(&mut self) -> io::Result<&mut BufWriter<Writeback>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the writer is closed"))
    }

    /// Flushes and syncs the file and renames it to the destination; returns its length. On
    /// an error the temporary file is removed and the destination left as it was.
    pub(crate) fn commit(&mut self) -> io::Result<u64> {
        let result = (|| {
            let file = self
                .file
                .take()
                .ok_or_else(|| io::Error::other("the writer is closed"))?;
            let file = file
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .file;
            file.sync_all()?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            drop(file);
            fs::rename(&self.tmp, &self.dst)?;
            Ok(len)
        })();
        if result.is_err() {
            self.abort();
        }
        result
    }

    /// Drops everything written: the temporary file is removed, the destination untouched.
    pub(crate) fn abort(&mut self) {
        if self.file.take().is_some() || self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }

    /// True once committed or aborted.
    pub(crate) fn is_closed(&self) -> bool {
        self.file.is_none()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.abort();
        }
    }
}

pub(crate) fn same_file(src: &Path, dst: &Path) -> io::Result<bool> {
    let src = fs::canonicalize(src)?;
    let dst = match fs::canonicalize(dst) {
        Ok(d) => d,
        Err(_) => {
            let parent = dst.parent().filter(|p| !p.as_os_str().is_empty());
            let parent = fs::canonicalize(parent.unwrap_or(Path::new(".")))?;
            match dst.file_name() {
                Some(name) => parent.join(name),
                None => return Ok(false),
            }
        }
    };
    Ok(src == dst)
}

fn temp_path(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dst.with_file_name(format!(
        ".{name}.{}-{nanos}.marc8fast-tmp",
        std::process::id()
    ))
}
