//! The per-stack lock (issue #5): an exclusive `flock` on `<stack dir>/lock`, held for the
//! whole apply. The holder writes who it is into the file, so a second apply can name it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("stack `{stack}` is locked by {holder}; wait for it to finish, or pass `--wait`")]
    Held {
        /// The stack.
        stack: String,
        /// What the holder wrote (`pid 123: apply since 2026-11-30T10:00:00Z`).
        holder: String,
    },
    /// The lock file could not be used.
    #[error("cannot lock `{path}`: {message}")]
    Io {
        /// The lock file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// A held stack lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StackLock {
    _lock: Flock<File>,
}

impl StackLock {
    /// Takes the lock of `stack` at `path`. With `wait`, blocks until the holder is done;
    /// otherwise fails at once naming the holder. `holder` describes this process.
    pub fn acquire(path: &Path, stack: &str, holder: &str, wait: bool) -> Result<Self, LockError> {
        let io = |e: &dyn std::fmt::Display| LockError::Io { path: path.display().to_string(), message: e.to_string() };
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path).map_err(|e| io(&e))?;
        let arg = if wait { FlockArg::LockExclusive } else { FlockArg::LockExclusiveNonblock };
        let mut lock = match Flock::lock(file, arg) {
            Ok(l) => l,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let text = text.trim();
                return Err(LockError::Held { stack: stack.to_owned(), holder: if text.is_empty() { "another process".to_owned() } else { text.to_owned() } });
            }
            Err((_, e)) => return Err(io(&e)),
        };
        lock.set_len(0).map_err(|e| io(&e))?;
        lock.rewind().map_err(|e| io(&e))?;
        writeln!(lock, "pid {}: {holder}", crate::platform::pid()).map_err(|e| io(&e))?;
        lock.sync_data().map_err(|e| io(&e))?;
        Ok(StackLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_fails_naming_the_first_then_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = StackLock::acquire(&path, "shop", "apply since t0", false).unwrap();
        let err = StackLock::acquire(&path, "shop", "apply since t1", false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("stack `shop` is locked by pid {}: apply since t0", std::process::id())), "{msg}");
        // --wait blocks until the holder releases it.
        let p = path.clone();
        let waiter = std::thread::spawn(move || StackLock::acquire(&p, "shop", "waiting apply", true).map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!waiter.is_finished(), "a waiting apply blocks while the lock is held");
        drop(first);
        waiter.join().unwrap().unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("waiting apply"));
    }
}
