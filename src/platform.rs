//! OS details in one place (style R20): SIGTERM/SIGINT as flags the executor polls, process
//! groups for the commands it runs, and killing a whole group on a timeout.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Registers SIGTERM and SIGINT to set `flag` instead of killing the process, so an apply
/// can stop starting steps and roll back cleanly. The commands it runs are in their own
/// process group (see [`own_process_group`]), so a terminal's Ctrl-C does not kill them
/// half-way through.
pub(crate) fn cancel_on_signals(flag: &Arc<AtomicBool>) -> std::io::Result<()> {
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(flag))?;
    }
    Ok(())
}

/// Puts a command about to be spawned into a new process group of its own.
pub(crate) fn own_process_group(cmd: &mut std::process::Command) {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
}

/// Kills the process group led by `pid` (a command spawned with [`own_process_group`]) and
/// with it every process the command started.
pub(crate) fn kill_group(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // The group may be gone already; there is nothing else to do then.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// This process's id.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

/// Whether a process with this id is alive (signal 0), a zombie counting as gone.
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_err() {
        return false;
    }
    // `/proc/<pid>/stat`: "pid (comm) S ..."; the state follows the last `)`.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|c| c != 'Z' && c != 'X'),
        Err(_) => true,
    }
}

/// Replaces `path` with `bytes` atomically (a sibling `.tmp` file, synced, then renamed), the
/// new file created with `mode` (masked by the umask): readers see the old or the new content,
/// never a part, and a secret is never readable by others in between.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    // `create_new` refuses an existing name, a symlink included, and O_NOFOLLOW says so twice:
    // the plugin never writes through a link someone else placed (issue #13).
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_data())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // A full disk or an I/O error leaves no half-written file behind (issue #14).
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Opens `path` for reading without following a symlink at its last component, and without
/// blocking on a FIFO (whose type the caller then checks and refuses).
pub(crate) fn open_nofollow(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_with_the_mode_given() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        std::fs::write(&p, "old").unwrap();
        std::fs::write(dir.path().join("f.tmp"), "stale").unwrap();
        write_atomic(&p, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!dir.path().join("f.tmp").exists());
        write_atomic(&p, b"read-only", 0o444).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }

    #[test]
    fn issue_13_links_are_never_written_or_read_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "host file").unwrap();
        let p = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("state.tmp")).unwrap();
        write_atomic(&p, b"ours", 0o600).unwrap();
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "host file",
            "the link is replaced, its target untouched"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "ours");
        assert!(!std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink());
        std::os::unix::fs::symlink(&victim, dir.path().join("link")).unwrap();
        assert!(open_nofollow(&dir.path().join("link")).is_err());
        assert!(open_nofollow(&victim).is_ok());
    }
}
