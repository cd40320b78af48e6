//! The per-stack lock (issue #5): an exclusive `flock` on `<stack dir>/lock`, held for the
//! whole apply. The holder writes who it is into the file, so a second apply can name it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

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
///
/// Released, the lock leaves no trace (issue #13: a refused push leaves the host as it was):
/// the holder removes the lock file while it still holds it, then the directories it created
/// for it when they are empty. A waiter that then gets the lock of the removed file sees that
/// the path no longer names it and takes the lock again.
#[derive(Debug)]
pub struct StackLock {
    _lock: Option<Flock<File>>,
    /// Set when this guard registered the lock as held by its thread ([`StackLock::hold`]).
    held: Option<PathBuf>,
    /// The lock file, removed on release (only by the guard that holds the `flock`).
    path: Option<PathBuf>,
    /// Directories created for the lock file, deepest first: removed on release when empty.
    made: Vec<PathBuf>,
}

thread_local! {
    /// Locks this thread holds for a whole command ([`StackLock::hold`]), by file.
    static HELD: RefCell<BTreeMap<PathBuf, usize>> = const { RefCell::new(BTreeMap::new()) };
}

/// One name for a lock file however it is spelled (its directory resolved).
fn identity(path: &Path) -> PathBuf {
    match (
        path.parent().and_then(|d| std::fs::canonicalize(d).ok()),
        path.file_name(),
    ) {
        (Some(d), Some(f)) => d.join(f),
        _ => path.to_path_buf(),
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        if let (Some(_), Some(path)) = (&self._lock, &self.path) {
            // Still held: nobody else can be between its open and its lock check.
            let _ = std::fs::remove_file(path);
            for d in &self.made {
                // Fails, as it should, when the apply put anything there.
                let _ = std::fs::remove_dir(d);
            }
        }
        if let Some(p) = &self.held {
            HELD.with(|h| {
                let mut h = h.borrow_mut();
                if let Some(n) = h.get_mut(p) {
                    *n -= 1;
                    if *n == 0 {
                        h.remove(p);
                    }
                }
            });
        }
    }
}

impl StackLock {
    /// Takes the lock of `stack` at `path`. With `wait`, blocks until the holder is done;
    /// otherwise fails at once naming the holder. `holder` describes this process.
    pub fn acquire(path: &Path, stack: &str, holder: &str, wait: bool) -> Result<Self, LockError> {
        // A command that holds the lock for all it does (source capture, then the apply)
        // already has it.
        if HELD.with(|h| h.borrow().contains_key(&identity(path))) {
            return Ok(StackLock {
                _lock: None,
                held: None,
                path: None,
                made: Vec::new(),
            });
        }
        Self::take(path, stack, holder, wait)
    }

    /// Takes the lock for a whole command that touches a stack's source or state (a push's
    /// capture then its apply, a sync): [`StackLock::acquire`] of the same lock on this
    /// thread, by the apply it runs, then finds it held and does not wait for itself.
    pub(crate) fn hold(
        path: &Path,
        stack: &str,
        holder: &str,
        wait: bool,
    ) -> Result<Self, LockError> {
        let mut lock = Self::acquire(path, stack, holder, wait)?;
        let id = identity(path);
        HELD.with(|h| *h.borrow_mut().entry(id.clone()).or_default() += 1);
        lock.held = Some(id);
        Ok(lock)
    }

    fn take(path: &Path, stack: &str, holder: &str, wait: bool) -> Result<Self, LockError> {
        use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
        let io = |e: &dyn std::fmt::Display| LockError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        // The stack directory (and any missing parent) is made for the lock, 0700, and
        // removed with it when nothing else was put there.
        let mut made: Vec<PathBuf> = Vec::new();
        let make_dirs = |made: &mut Vec<PathBuf>| -> Result<(), LockError> {
            let mut missing = Vec::new();
            let mut next = path.parent().map(Path::to_path_buf);
            while let Some(d) = next.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                next = d.parent().map(Path::to_path_buf);
                missing.push(d);
            }
            for d in missing.into_iter().rev() {
                match std::fs::DirBuilder::new().mode(0o700).create(&d) {
                    Ok(()) if !made.contains(&d) => made.insert(0, d),
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io(&e)),
                }
            }
            Ok(())
        };
        let arg = if wait {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockExclusiveNonblock
        };
        let mut lock = loop {
            make_dirs(&mut made)?;
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
            {
                Ok(f) => f,
                // A previous holder removed the directory it had made between our two steps.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&e)),
            };
            let lock = match Flock::lock(file, arg) {
                Ok(l) => l,
                Err((mut file, Errno::EWOULDBLOCK)) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let text = text.trim();
                    return Err(LockError::Held {
                        stack: stack.to_owned(),
                        holder: if text.is_empty() {
                            "another process".to_owned()
                        } else {
                            text.to_owned()
                        },
                    });
                }
                Err((_, e)) => return Err(io(&e)),
            };
            // The previous holder may have removed the file between our open and our lock:
            // the lock is ours only if the path still names the file locked.
            let mine = lock.metadata().map_err(|e| io(&e))?;
            match std::fs::metadata(path) {
                Ok(m) if m.dev() == mine.dev() && m.ino() == mine.ino() => break lock,
                _ => continue,
            }
        };
        lock.set_len(0).map_err(|e| io(&e))?;
        lock.rewind().map_err(|e| io(&e))?;
        writeln!(lock, "pid {}: {holder}", crate::platform::pid()).map_err(|e| io(&e))?;
        lock.sync_data().map_err(|e| io(&e))?;
        Ok(StackLock {
            _lock: Some(lock),
            held: None,
            path: Some(path.to_path_buf()),
            made,
        })
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
        assert!(
            msg.contains(&format!(
                "stack `shop` is locked by pid {}: apply since t0",
                std::process::id()
            )),
            "{msg}"
        );
        // --wait blocks until the holder releases it.
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            StackLock::acquire(&p, "shop", "waiting apply", true)
                .map(|_l| std::fs::read_to_string(&p).unwrap())
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !waiter.is_finished(),
            "a waiting apply blocks while the lock is held"
        );
        drop(first);
        let holder = waiter.join().unwrap().unwrap();
        assert!(holder.contains("waiting apply"), "{holder}");
    }

    #[test]
    fn a_released_lock_leaves_no_file_nor_the_directories_made_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("data").join("shop");
        let path = stack.join("lock");
        let lock = StackLock::acquire(&path, "shop", "apply", false).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&stack).unwrap().permissions().mode() & 0o777,
            0o700
        );
        drop(lock);
        assert!(
            !dir.path().join("data").exists(),
            "the lock's file and directories are gone"
        );
        // A directory that holds more than the lock stays.
        let lock = StackLock::acquire(&path, "shop", "apply", false).unwrap();
        std::fs::write(stack.join("journal.jsonl"), "").unwrap();
        drop(lock);
        assert!(!path.exists());
        assert!(stack.join("journal.jsonl").exists());
    }

    #[test]
    fn waiters_on_a_removed_lock_file_never_hold_it_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop").join("lock");
        let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _l = StackLock::acquire(&path, "shop", "apply", true).unwrap();
                        assert_eq!(
                            inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                            0,
                            "two holders at once"
                        );
                        std::thread::yield_now();
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
    }

    #[test]
    fn a_held_lock_covers_the_apply_it_runs_and_nobody_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = StackLock::hold(&path, "shop", "git push since t0", false).unwrap();
        // The apply the push runs, on this thread, has it already.
        let inner =
            StackLock::acquire(&dir.path().join(".").join("lock"), "shop", "apply", false).unwrap();
        drop(inner);
        // Another thread (another command) does not.
        let p = path.clone();
        let other = std::thread::spawn(move || {
            StackLock::acquire(&p, "shop", "compose:sync", false).map(|_| ())
        })
        .join()
        .unwrap();
        assert!(matches!(other, Err(LockError::Held { .. })), "{other:?}");
        drop(held);
        StackLock::acquire(&path, "shop", "next", false).unwrap();
    }
}
