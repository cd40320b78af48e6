//! OS details in one place (style R20): SIGTERM/SIGINT as flags the executor polls, process
//! groups for the commands it runs, and killing a whole group on a timeout.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Registers SIGTERM and SIGINT to set `flag` instead of killing the process, so an apply
/// can stop starting steps and roll back cleanly. The commands it runs are in their own
/// process group (see [`own_process_group`]), so a terminal's Ctrl-C does not kill them
/// half-way through.
pub fn cancel_on_signals(flag: &Arc<AtomicBool>) -> std::io::Result<()> {
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(flag))?;
    }
    Ok(())
}

/// Puts a command about to be spawned into a new process group of its own.
pub fn own_process_group(cmd: &mut std::process::Command) {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
}

/// Kills the process group led by `pid` (a command spawned with [`own_process_group`]) and
/// with it every process the command started.
pub fn kill_group(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // The group may be gone already; there is nothing else to do then.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}

/// Whether a process with this id is alive (signal 0), a zombie counting as gone.
pub fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_err() {
        return false;
    }
    // `/proc/<pid>/stat`: "pid (comm) S ..."; the state follows the last `)`.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).is_some_and(|c| c != 'Z' && c != 'X'),
        Err(_) => true,
    }
}
