//! The environment Dokku gives a plugin (style R20: Dokku variables are read here only):
//! paths, output switches, `--force`, and the "not mine" exit code.

use std::path::PathBuf;

/// What Dokku exported for this plugin process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DokkuEnv {
    /// `DOKKU_LIB_ROOT` (else `DOKKU_LIB_PATH`, else `/var/lib/dokku`).
    pub lib_root: PathBuf,
    /// `DOKKU_NOT_IMPLEMENTED_EXIT` (default 10).
    pub not_implemented_exit: u8,
    /// `DOKKU_QUIET_OUTPUT`.
    pub quiet: Option<String>,
    /// `DOKKU_TRACE`.
    pub trace: Option<String>,
    /// `DOKKU_APPS_FORCE_DELETE`: `--force` given anywhere on the command line.
    pub force: bool,
    /// `DOKKU_APP_NAME`: `--app X`.
    pub app_name: Option<String>,
}

impl DokkuEnv {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            lib_root: var("DOKKU_LIB_ROOT")
                .or_else(|| var("DOKKU_LIB_PATH"))
                .map_or_else(|| PathBuf::from("/var/lib/dokku"), PathBuf::from),
            not_implemented_exit: var("DOKKU_NOT_IMPLEMENTED_EXIT")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
            quiet: var("DOKKU_QUIET_OUTPUT"),
            trace: var("DOKKU_TRACE"),
            force: var("DOKKU_APPS_FORCE_DELETE").is_some_and(|v| v == "1"),
            app_name: var("DOKKU_APP_NAME"),
        }
    }

    /// `$DOKKU_LIB_ROOT/data/compose`: stacks' locks, journals, releases, sources.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.lib_root.join("data/compose")
    }

    /// `$DOKKU_LIB_ROOT/config/compose`: the plugin's properties (dokku-facts §a "Paths").
    pub(crate) fn config_dir(&self) -> PathBuf {
        self.lib_root.join("config/compose")
    }
}

/// `DOKKU_ROOT` (default `/home/dokku`): app directories, where Dokku's nginx includes
/// `<app>/nginx.conf.d/*.conf` from (issue 7, docs/routing.md).
pub(crate) fn dokku_root() -> PathBuf {
    std::env::var_os("DOKKU_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/home/dokku"), PathBuf::from)
}
