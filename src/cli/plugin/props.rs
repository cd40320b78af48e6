//! The plugin's properties, in Dokku's property layout (dokku-facts §a:
//! `$DOKKU_LIB_ROOT/config/<plugin>/<app|--global>/<property>`, one file per property holding
//! the raw value), with app values falling back to global ones and then to defaults.

use std::path::{Path, PathBuf};

/// A property the plugin reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prop {
    /// Key, as given to `compose:set`.
    pub key: &'static str,
    /// Default when neither the app nor the global value is set.
    pub default: &'static str,
    /// What it does.
    pub help: &'static str,
}

/// Every property `compose:set` accepts.
pub(crate) const PROPS: &[Prop] = &[
    Prop { key: "compose-file", default: "", help: "compose file(s) in the pushed repository, space-separated (default: compose.yaml, docker-compose.yml...)" },
    Prop { key: "concurrency", default: "4", help: "services applied at once" },
    Prop { key: "timeout", default: "", help: "seconds after which a whole apply is aborted and rolled back (default: none)" },
    Prop { key: "step-timeout", default: "1800", help: "seconds a single Dokku command may run" },
    Prop { key: "allow", default: "", help: "security policy rules the stack may use, space-separated (privileged cap-add devices host-namespaces host-path docker-socket security-opt sysctls nginx-custom host-hooks)" },
    Prop { key: "profiles", default: "", help: "compose profiles to enable, space-separated" },
    Prop { key: "hooks-dir", default: "deploy.d", help: "directory of the deploy hooks in the pushed repository (pre/ and post/ inside)" },
    Prop { key: "hook-timeout", default: "600", help: "seconds a deploy hook may run" },
    Prop { key: "max-file-size", default: "1048576", help: "largest env, secret, config or compose file read from the pushed repository, in bytes" },
    Prop { key: "sync-url", default: "", help: "repository `compose:sync <app>` and the webhook fetch the stack from (set by `compose:sync <app> <url>`)" },
    Prop { key: "sync-ref", default: "", help: "branch, tag or commit `compose:sync` checks out (default: the remote's default branch)" },
    Prop { key: "webhook", default: "false", help: "`true` lets the webhook receiver deploy the stack (with its `compose:webhook-secret`)" },
    Prop { key: "domain-pattern", default: "", help: "host names for services with ports and no domains: {service} {stack} {project} {environment} {global} (the host's global domain)" },
    Prop { key: "project", default: "", help: "the project the stack belongs to (`compose:projects:create`)" },
    Prop { key: "environment", default: "", help: "the stack's environment in its project (dev staging production...)" },
    Prop { key: "max-replicas", default: "20", help: "most replicas one service may run (`deploy.replicas`, `scale`)" },
    Prop { key: "max-ports", default: "100", help: "most ports one service may publish (each port of a range counts)" },
    Prop { key: "max-services", default: "100", help: "most services one stack may have" },
    Prop { key: "k3s-datastore-address", default: "", help: "the Dokku host's private IPv4 address the k3s cluster reaches datastores on (docs/k3s-discovery.md)" },
    Prop { key: "log-format", default: "text", help: "progress of applies: `text` (Dokku style) or `json` (one event per line)" },
];

/// Looks a property up.
pub(crate) fn prop(key: &str) -> Option<&'static Prop> {
    PROPS.iter().find(|p| p.key == key)
}

/// The property store of the plugin.
#[derive(Debug, Clone)]
pub(crate) struct Props {
    dir: PathBuf,
}

impl Props {
    /// The store under `dir` (`$DOKKU_LIB_ROOT/config/compose`).
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, scope: &str, key: &str) -> PathBuf {
        self.dir.join(scope).join(key)
    }

    /// The value set for `scope` (an app or `--global`), if any.
    pub(crate) fn get(&self, scope: &str, key: &str) -> Option<String> {
        std::fs::read_to_string(self.path(scope, key))
            .ok()
            .map(|v| v.trim_end_matches('\n').to_owned())
            .filter(|v| !v.is_empty())
    }

    /// App value, else global value, else the default.
    pub(crate) fn computed(&self, app: &str, key: &str) -> String {
        self.get(app, key)
            .or_else(|| self.get("--global", key))
            .unwrap_or_else(|| prop(key).map_or("", |p| p.default).to_owned())
    }

    /// Sets (`Some`) or unsets (`None`) a value.
    pub(crate) fn set(&self, scope: &str, key: &str, value: Option<&str>) -> std::io::Result<()> {
        let path = self.path(scope, key);
        match value {
            Some(v) => {
                std::fs::create_dir_all(path.parent().unwrap_or(&self.dir))?;
                crate::platform::write_atomic(&path, v.as_bytes(), 0o644)
            }
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => {
                    // A scope left without properties leaves no directory (issue #13: a
                    // refused first push leaves the host as it was); fails when not empty.
                    let _ = std::fs::remove_dir(self.dir.join(scope));
                    Ok(())
                }
            },
        }
    }

    /// Sets a value only the dokku user may read (mode 0600): the vault password.
    pub(crate) fn set_private(&self, scope: &str, key: &str, value: &str) -> std::io::Result<()> {
        let path = self.path(scope, key);
        std::fs::create_dir_all(path.parent().unwrap_or(&self.dir))?;
        crate::platform::write_atomic(&path, value.as_bytes(), 0o600)
    }

    /// Removes every property of `scope` (the app was destroyed).
    pub(crate) fn clear(&self, scope: &str) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.dir.join(scope)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_then_global_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let p = Props::new(dir.path());
        assert_eq!(p.computed("shop", "concurrency"), "4");
        p.set("--global", "concurrency", Some("8")).unwrap();
        assert_eq!(p.computed("shop", "concurrency"), "8");
        p.set("shop", "concurrency", Some("2")).unwrap();
        assert_eq!(p.computed("shop", "concurrency"), "2");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("shop/concurrency")).unwrap(),
            "2",
            "Dokku's layout: one file per property"
        );
        p.set("shop", "concurrency", None).unwrap();
        p.set("shop", "concurrency", None).unwrap();
        assert_eq!(p.computed("shop", "concurrency"), "8");
        p.clear("shop").unwrap();
        assert!(prop("compose-file").is_some() && prop("nope").is_none());
    }
}
