//! The per-invocation context: sandbox paths from the environment, global flags, the state
//! lock, Dokku's log helpers and the error type every handler returns.
//!
//! Paths follow dokku-facts.md §a "Paths": `DOKKU_ROOT` holds app repos and `VHOST`,
//! `DOKKU_LIB_PATH` (exported as `DOKKU_LIB_ROOT`) holds `config/`, `data/`, `plugins/`.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

/// A failure that ends the command the way Dokku does: lines on stderr and an exit code.
#[derive(Debug, thiserror::Error)]
pub enum Fail {
    /// A Dokku-style failure: each line is printed as ` !     <line>` (raw when `raw`).
    #[error("{}", lines.join("\n"))]
    Dokku {
        /// Exit status.
        code: u8,
        /// Message lines without the ` !     ` prefix.
        lines: Vec<String>,
        /// Print the lines as they are, without the prefix.
        raw: bool,
    },
    /// Exit with a status and print nothing more (the output was already written).
    #[error("exit {0}")]
    Silent(u8),
    /// A file-system problem inside the sandbox root.
    #[error("sandbox i/o on `{path}`: {source}")]
    Io {
        /// The path being read or written.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Fail {
    /// The exit status for this failure.
    pub fn code(&self) -> u8 {
        match self {
            Fail::Dokku { code, .. } | Fail::Silent(code) => *code,
            Fail::Io { .. } => 1,
        }
    }
}

/// Result type of every handler.
pub type Res<T = ()> = Result<T, Fail>;

/// ` !     msg` on stderr and exit 1 (`dokku_log_fail`, dokku-facts.md §d "Log helpers").
pub fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(Fail::Dokku {
        code: 1,
        lines: vec![msg.into()],
        raw: false,
    })
}

/// ` !     msg` on stderr with a chosen exit code.
pub fn fail_code<T>(code: u8, msg: impl Into<String>) -> Res<T> {
    Err(Fail::Dokku {
        code,
        lines: vec![msg.into()],
        raw: false,
    })
}

/// Several ` !     ` lines and exit 1.
pub fn fail_lines<T>(lines: &[&str]) -> Res<T> {
    Err(Fail::Dokku {
        code: 1,
        lines: lines.iter().map(|l| (*l).to_string()).collect(),
        raw: false,
    })
}

/// Wrap an io error with its path.
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Fail + '_ {
    move |source| Fail::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Sandbox paths, resolved once from the environment.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `DOKKU_ROOT`: app repos, `VHOST`.
    pub root: PathBuf,
    /// `DOKKU_LIB_ROOT`: config, data, plugins, services.
    pub lib: PathBuf,
}

impl Paths {
    /// Resolve from `DOKKU_SANDBOX_ROOT` (sets both) or `DOKKU_ROOT` + `DOKKU_LIB_PATH`.
    /// Never falls back to `/home/dokku`: a sandbox must be chosen explicitly.
    pub fn from_env() -> Result<Paths, String> {
        let sandbox = std::env::var_os("DOKKU_SANDBOX_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let root = std::env::var_os("DOKKU_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let lib = std::env::var_os("DOKKU_LIB_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        // Absolute paths: deploys change the working directory (extract triggers run in the work dir).
        let abs = |p: PathBuf| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().map(|c| c.join(&p)).unwrap_or(p)
            }
        };
        match (sandbox, root, lib) {
            (Some(s), r, l) => Ok(Paths {
                root: abs(r.unwrap_or_else(|| s.join("home"))),
                lib: abs(l.unwrap_or_else(|| s.join("lib"))),
            }),
            (None, Some(r), Some(l)) => Ok(Paths { root: abs(r), lib: abs(l) }),
            _ => Err("sandbox root not set: export `DOKKU_SANDBOX_ROOT` (or both `DOKKU_ROOT` and `DOKKU_LIB_PATH`)".into()),
        }
    }
    /// The sandbox's own control directory (call log, catalog, rules).
    pub fn sandbox_dir(&self) -> PathBuf {
        self.lib.join("sandbox")
    }
    /// `$DOKKU_LIB_ROOT/plugins`.
    pub fn plugin_path(&self) -> PathBuf {
        self.lib.join("plugins")
    }
    /// `$DOKKU_LIB_ROOT/plugins/enabled`.
    pub fn enabled(&self) -> PathBuf {
        self.plugin_path().join("enabled")
    }
    /// `$DOKKU_LIB_ROOT/plugins/available`.
    pub fn available(&self) -> PathBuf {
        self.plugin_path().join("available")
    }
    /// `$DOKKU_ROOT/<app>`.
    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.root.join(app)
    }
    /// `$DOKKU_LIB_ROOT/config/<plugin>/<scope>/<key>` (dokku-facts.md §a, `getPluginConfigPath`).
    pub fn prop_path(&self, plugin: &str, scope: &str, key: &str) -> PathBuf {
        self.lib.join("config").join(plugin).join(scope).join(key)
    }
    /// `$DOKKU_LIB_ROOT/data/<plugin>/<app>`.
    pub fn data_dir(&self, plugin: &str, app: &str) -> PathBuf {
        self.lib.join("data").join(plugin).join(app)
    }
    /// Create the skeleton directories.
    pub fn ensure(&self) -> Res {
        for d in [
            self.root.clone(),
            self.lib.join("config"),
            self.lib.join("data"),
            self.enabled(),
            self.available(),
            self.lib.join("core-plugins/available"),
            self.lib.join("core-plugins/enabled"),
            self.sandbox_dir().join("bin"),
            self.sandbox_dir().join("tmp"),
            // plugins/storage `TriggerInstall`: the entry registry exists on every host.
            self.lib.join("data/storage-registry/entries"),
        ] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(())
    }
}

/// Global flags scanned from the whole argv (dokku-facts.md §a "Command dispatch" step 1).
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--quiet` or an exported `DOKKU_QUIET_OUTPUT`.
    pub quiet: bool,
    /// `--force` anywhere (`DOKKU_APPS_FORCE_DELETE=1`).
    pub force: bool,
    /// `--trace`.
    pub trace: bool,
    /// `--app X` given before the command.
    pub app: Option<String>,
    /// Every `--*` argument (`DOKKU_GLOBAL_FLAGS`).
    pub flags: Vec<String>,
}

/// Everything a handler needs.
pub struct Ctx {
    /// Sandbox paths.
    pub paths: Paths,
    /// Global flags.
    pub globals: Globals,
    /// The command name as dispatched (`apps:create`).
    pub cmd: String,
    lock: Option<Flock<File>>,
}

impl Ctx {
    /// A context with the state lock not yet taken.
    pub fn new(paths: Paths, globals: Globals, cmd: String) -> Ctx {
        Ctx {
            paths,
            globals,
            cmd,
            lock: None,
        }
    }

    /// Take the sandbox-wide state lock (serialises state changes of parallel commands).
    pub fn lock(&mut self) -> Res {
        if self.lock.is_some() {
            return Ok(());
        }
        let p = self.paths.sandbox_dir().join("state.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        let l = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Fail::Io {
            path: p.display().to_string(),
            source: e.into(),
        })?;
        self.lock = Some(l);
        Ok(())
    }

    /// Release the state lock (done around sleeps and external processes, which may call back
    /// into `dokku` and would otherwise deadlock).
    pub fn unlock(&mut self) {
        if let Some(l) = self.lock.take() {
            drop(l.unlock());
        }
    }

    /// Run `f` with the state lock released, then take it again if it was held.
    pub fn unlocked<T>(&mut self, f: impl FnOnce(&mut Ctx) -> T) -> Res<T> {
        let held = self.lock.is_some();
        self.unlock();
        let out = f(self);
        if held {
            self.lock()?;
        }
        Ok(out)
    }

    /// Spend `ms` of CPU on one of the modelled host's `cores` (latency model): without the
    /// state lock, holding one of `cores` core locks (`sandbox/cpu.<i>.lock`) while it
    /// sleeps, so no more than `cores` commands spend their time at once. `cores == 0` only
    /// sleeps.
    pub fn cpu_ms(&mut self, ms: u64, cores: u64) -> Res {
        if ms == 0 {
            return Ok(());
        }
        if cores == 0 {
            return self.sleep_ms(ms);
        }
        let dir = self.paths.sandbox_dir();
        self.unlocked(|_| -> Res {
            let open = |i: u64| {
                let p = dir.join(format!("cpu.{i}.lock"));
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&p)
                    .map_err(io_err(&p))
            };
            // A free core if there is one, else wait for one (chosen by pid, so waiters spread).
            let mut held = None;
            for i in 0..cores {
                if let Ok(l) = Flock::lock(open(i)?, FlockArg::LockExclusiveNonblock) {
                    held = Some(l);
                    break;
                }
            }
            let core = match held {
                Some(l) => l,
                None => {
                    let i = u64::from(std::process::id()) % cores;
                    let p = dir.join(format!("cpu.{i}.lock"));
                    Flock::lock(open(i)?, FlockArg::LockExclusive).map_err(|(_, e)| Fail::Io {
                        path: p.display().to_string(),
                        source: e.into(),
                    })?
                }
            };
            std::thread::sleep(Duration::from_millis(ms));
            drop(core.unlock());
            Ok(())
        })?
    }

    /// Sleep without holding the state lock (latency model).
    pub fn sleep_ms(&mut self, ms: u64) -> Res {
        if ms == 0 {
            return Ok(());
        }
        self.unlocked(|_| std::thread::sleep(Duration::from_millis(ms)))
    }

    /// `-----> msg` on stdout unless quiet (`dokku_log_info1`).
    pub fn info1(&self, msg: impl AsRef<str>) {
        if !self.globals.quiet {
            println!("-----> {}", msg.as_ref());
        }
    }
    /// `=====> msg` on stdout unless quiet (`dokku_log_info2`).
    pub fn info2(&self, msg: impl AsRef<str>) {
        if !self.globals.quiet {
            println!("=====> {}", msg.as_ref());
        }
    }
    /// Seven spaces then msg on stdout unless quiet (`dokku_log_verbose`).
    pub fn verbose(&self, msg: impl AsRef<str>) {
        if !self.globals.quiet {
            println!("       {}", msg.as_ref());
        }
    }
    /// ` !     msg` on stderr (`dokku_log_warn`; not silenced by quiet).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!(" !     {}", msg.as_ref());
    }
    /// Plain stdout line (never silenced; used for values and reports).
    pub fn out(&self, msg: impl AsRef<str>) {
        println!("{}", msg.as_ref());
    }

    /// Whether the command was forced (`--force` anywhere or `DOKKU_APPS_FORCE_DELETE`).
    pub fn forced(&self) -> bool {
        self.globals.force
    }
}

/// Read a file to a string, `None` when missing.
pub fn read_opt(path: &Path) -> Res<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Write a file atomically (temp file + rename), creating parent dirs.
pub fn write_atomic(path: &Path, content: &str) -> Res {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    fs::write(&tmp, content).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Remove a file or directory tree if present.
pub fn remove_any(path: &Path) -> Res {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_err(path)),
        Ok(_) => fs::remove_file(path).map_err(io_err(path)),
        Err(_) => Ok(()),
    }
}
