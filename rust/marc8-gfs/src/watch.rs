//! What the Python watchdog learns from a request the hot path answered: when the session
//! thread's last backend call ended and how many bytes its connection had received by then
//! (every byte received so far made complete requests). The Python backend notes the same for
//! the requests it answers; the watchdog's sweep takes these notes once a second and hands
//! back the connection each session thread polls.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// Offset and end of `tcpi_bytes_received` in Linux's `struct tcp_info`.
const BYTES_RECEIVED: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Note {
    /// monotonic time the call ended (Python's `time.monotonic()`: the same clock)
    pub time: f64,
    /// (socket inode, bytes received) when it ended, if the thread's connection is known
    pub settled: Option<(u64, u64)>,
}

#[derive(Default)]
pub struct Watch {
    fds: RwLock<HashMap<u64, (i32, u64)>>,
    notes: Mutex<HashMap<u64, Note>>,
}

impl Watch {
    /// The end of a call in this thread.
    pub fn note(&self) {
        let tid = thread_id();
        let fd = self
            .fds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tid)
            .copied();
        let settled = fd.and_then(|(fd, inode)| received(fd, inode).map(|n| (inode, n)));
        let note = Note {
            time: monotonic(),
            settled,
        };
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tid, note);
    }

    /// The notes since the last take, by thread id.
    pub fn take(&self) -> Vec<(u64, Note)> {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.drain().collect()
    }

    /// The connection (descriptor, inode) each session thread polls, as the last sweep saw.
    pub fn set_fds(&self, fds: HashMap<u64, (i32, u64)>) {
        *self.fds.write().unwrap_or_else(|e| e.into_inner()) = fds;
    }

    pub fn set_fd(&self, tid: u64, fd: i32, inode: u64) {
        self.fds
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tid, (fd, inode));
    }
}

/// `CLOCK_MONOTONIC` in seconds, the clock of Python's `time.monotonic()` on Linux.
pub fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The kernel's id of the calling thread (Python's `threading.get_native_id()`).
pub fn thread_id() -> u64 {
    // SAFETY: gettid takes no argument and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// Bytes received so far on the connection `fd` if it is still the socket `inode`: one
/// `fstat` and one `getsockopt(TCP_INFO)`.
fn received(fd: i32, inode: u64) -> Option<u64> {
    // SAFETY: fstat and getsockopt write into the buffers they are given, within their sizes.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 || st.st_ino != inode {
            return None;
        }
        let mut buf = [0u8; 256];
        let mut len = buf.len() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        );
        if rc != 0 || (len as usize) < BYTES_RECEIVED + 8 {
            return None;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&buf[BYTES_RECEIVED..BYTES_RECEIVED + 8]);
        Some(u64::from_ne_bytes(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    #[test]
    fn a_note_counts_the_bytes_received_on_the_threads_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        server.read_exact(&mut got).unwrap();
        let fd = server.as_raw_fd();
        // SAFETY: fstat of an open descriptor into a zeroed stat.
        let inode = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            assert_eq!(libc::fstat(fd, &mut st), 0);
            st.st_ino
        };
        let w = Watch::default();
        let before = monotonic();
        w.note(); // no connection known for this thread: the time only
        w.set_fd(thread_id(), fd, inode);
        w.note();
        let notes = w.take();
        assert_eq!(notes.len(), 1);
        let (tid, note) = notes[0];
        assert_eq!(tid, thread_id());
        assert!(note.time >= before);
        assert_eq!(note.settled, Some((inode, 5)));
        w.set_fd(thread_id(), fd, inode + 1); // another socket now: not counted
        w.note();
        assert_eq!(w.take()[0].1.settled, None);
        assert!(w.take().is_empty());
    }
}
