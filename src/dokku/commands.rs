//! Typed constructors of every Dokku command the planner emits (issue 18 item 4): one function
//! per command, named after it (`config:set` -> [`config_set`]), taking what the command
//! takes. The planner builds commands only through these; `commands_match_dokku_cli` (in
//! tests/plan_conformance.rs) checks each one's command name, flags and arity once against
//! ../shared/dokku-cli.json, for every datastore plugin and property plugin.

use std::collections::{BTreeMap, BTreeSet};

use super::cmd::{Cmd, Stdin};

/// A plugin whose per-app properties are set with `<plugin>:set <app> <key> [<value>...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PropertyPlugin {
    /// `app-json:set` (`appjson-path`).
    AppJson,
    /// `builder:set` (`selected`, `build-dir`).
    Builder,
    /// `builder-dockerfile:set` (`dockerfile-path`).
    BuilderDockerfile,
    /// `letsencrypt:set` (`email`).
    Letsencrypt,
    /// `logs:set` (`max-size`, `vector-sink`).
    Logs,
    /// `network:set` (`initial-network`, `attach-post-create`, `attach-post-deploy`).
    Network,
    /// `ps:set` (`procfile-path`, `restart-policy`, `stop-timeout-seconds`).
    Ps,
    /// `registry:set` (`server`, `image-repo-template`, `push-on-release`).
    Registry,
    /// `scheduler:set` (`selected`).
    Scheduler,
    /// `scheduler-k3s:set` (`namespace`).
    SchedulerK3s,
}

impl PropertyPlugin {
    /// Every property plugin.
    pub const ALL: [Self; 10] = [
        Self::AppJson,
        Self::Builder,
        Self::BuilderDockerfile,
        Self::Letsencrypt,
        Self::Logs,
        Self::Network,
        Self::Ps,
        Self::Registry,
        Self::Scheduler,
        Self::SchedulerK3s,
    ];

    /// The plugin's command prefix (`builder-dockerfile`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::AppJson => "app-json",
            Self::Builder => "builder",
            Self::BuilderDockerfile => "builder-dockerfile",
            Self::Letsencrypt => "letsencrypt",
            Self::Logs => "logs",
            Self::Network => "network",
            Self::Ps => "ps",
            Self::Registry => "registry",
            Self::Scheduler => "scheduler",
            Self::SchedulerK3s => "scheduler-k3s",
        }
    }
}

/// Which resource settings: limits or reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// `resource:limit`.
    Limit,
    /// `resource:reserve`.
    Reserve,
}

impl Resource {
    /// `limit` or `reserve`: the command suffix and the state's key prefix.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Limit => "limit",
            Self::Reserve => "reserve",
        }
    }
}

/// `apps:create <app>`.
pub fn apps_create(app: &str) -> Cmd {
    Cmd::dokku(["apps:create", app])
}

/// `apps:destroy <app> --force`.
pub fn apps_destroy(app: &str) -> Cmd {
    Cmd::dokku(["apps:destroy", app, "--force"])
}

/// `network:create <network>`.
pub fn network_create(network: &str) -> Cmd {
    Cmd::dokku(["network:create", network])
}

/// `network:destroy --force <network>`.
pub fn network_destroy(network: &str) -> Cmd {
    Cmd::dokku(["network:destroy", "--force", network])
}

/// `storage:create <name>`.
pub fn storage_create(name: &str) -> Cmd {
    Cmd::dokku(["storage:create", name])
}

/// A storage entry on k3s (issue 21): its claim's size and, when given, access mode and
/// storage class, in the stack's namespace; a host path makes a hostPath volume, kept when
/// the entry is destroyed.
#[derive(Debug, Clone, Default)]
pub struct K3sClaim<'a> {
    /// `--size`, a Kubernetes quantity.
    pub size: &'a str,
    /// `--access-mode`.
    pub access_mode: Option<&'a str>,
    /// `--storage-class-name`.
    pub storage_class: Option<&'a str>,
    /// The host path of a hostPath volume (`--reclaim-policy Retain`).
    pub host_path: Option<&'a str>,
    /// `--namespace`.
    pub namespace: &'a str,
}

/// `storage:create <name> [<host path>] --scheduler k3s --size … [--access-mode …]
/// [--storage-class-name …] [--reclaim-policy Retain] --namespace …`.
pub fn storage_create_k3s(name: &str, claim: &K3sClaim<'_>) -> Cmd {
    let mut cmd = Cmd::dokku(["storage:create", name]);
    if let Some(p) = claim.host_path {
        cmd = cmd.arg(p);
    }
    cmd = cmd.flag("--scheduler", "k3s").flag("--size", claim.size);
    if let Some(m) = claim.access_mode {
        cmd = cmd.flag("--access-mode", m);
    }
    if let Some(c) = claim.storage_class {
        cmd = cmd.flag("--storage-class-name", c);
    }
    if claim.host_path.is_some() {
        cmd = cmd.flag("--reclaim-policy", "Retain");
    }
    cmd.flag("--namespace", claim.namespace)
}

/// `storage:destroy <name> --force`.
pub fn storage_destroy(name: &str) -> Cmd {
    Cmd::dokku(["storage:destroy", name, "--force"])
}

/// `storage:mount <app> <entry> --container-dir <target> [--volume-readonly]`: a storage entry.
pub fn storage_mount_entry(app: &str, entry: &str, target: &str, read_only: bool) -> Cmd {
    let c = Cmd::dokku(["storage:mount", app, entry, "--container-dir", target]);
    if read_only {
        c.arg("--volume-readonly")
    } else {
        c
    }
}

/// `storage:unmount <app> <entry> --container-dir <target>`.
pub fn storage_unmount_entry(app: &str, entry: &str, target: &str) -> Cmd {
    Cmd::dokku(["storage:unmount", app, entry, "--container-dir", target])
}

/// `storage:mount <app> <host>:<target>[:ro]`: a host path.
pub fn storage_mount(app: &str, spec: &str) -> Cmd {
    Cmd::dokku(["storage:mount", app, spec])
}

/// `storage:unmount <app> <host>:<target>[:ro]`.
pub fn storage_unmount(app: &str, spec: &str) -> Cmd {
    Cmd::dokku(["storage:unmount", app, spec])
}

/// `<plugin>:set <app> <key> [<value>...]`; no value unsets the property.
pub fn property_set<'a>(
    plugin: PropertyPlugin,
    app: &str,
    key: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> Cmd {
    let set = format!("{}:set", plugin.name());
    values
        .into_iter()
        .fold(Cmd::dokku([set.as_str(), app, key]), Cmd::arg)
}

/// `docker-options:add <app> <phase> <option>`.
pub fn docker_options_add(app: &str, phase: &str, option: &str) -> Cmd {
    Cmd::dokku(["docker-options:add", app, phase, option])
}

/// `docker-options:remove <app> <phase> <option>`.
pub fn docker_options_remove(app: &str, phase: &str, option: &str) -> Cmd {
    Cmd::dokku(["docker-options:remove", app, phase, option])
}

/// `proxy:enable <app>`.
pub fn proxy_enable(app: &str) -> Cmd {
    Cmd::dokku(["proxy:enable", app])
}

/// `proxy:disable <app>`.
pub fn proxy_disable(app: &str) -> Cmd {
    Cmd::dokku(["proxy:disable", app])
}

/// `proxy:build-config <app>`.
pub fn proxy_build_config(app: &str) -> Cmd {
    Cmd::dokku(["proxy:build-config", app])
}

/// `ports:set <app> <scheme:host:container>...`.
pub fn ports_set(app: &str, maps: &[String]) -> Cmd {
    maps.iter()
        .fold(Cmd::dokku(["ports:set", app]), |c, m| c.arg(m.as_str()))
}

/// `ports:clear <app>`.
pub fn ports_clear(app: &str) -> Cmd {
    Cmd::dokku(["ports:clear", app])
}

/// `domains:set <app> <domain>...`.
pub fn domains_set(app: &str, domains: &[String]) -> Cmd {
    domains
        .iter()
        .fold(Cmd::dokku(["domains:set", app]), |c, d| c.arg(d.as_str()))
}

/// `domains:clear <app>`.
pub fn domains_clear(app: &str) -> Cmd {
    Cmd::dokku(["domains:clear", app])
}

/// `resource:<limit|reserve> --<resource> <value>... <app>`.
pub fn resource_set(which: Resource, app: &str, values: &BTreeMap<String, String>) -> Cmd {
    let command = format!("resource:{}", which.name());
    values
        .iter()
        .fold(Cmd::dokku([command]), |c, (k, v)| {
            c.flag(&format!("--{k}"), v.as_str())
        })
        .arg(app)
}

/// `resource:<limit|reserve>-clear <app>`.
pub fn resource_clear(which: Resource, app: &str) -> Cmd {
    Cmd::dokku([format!("resource:{}-clear", which.name()), app.to_owned()])
}

/// `ps:scale --skip-deploy <app> <process>=<count>`.
pub fn ps_scale(app: &str, process: &str, count: u32) -> Cmd {
    Cmd::dokku(["ps:scale", "--skip-deploy", app]).arg(format!("{process}={count}"))
}

/// `ps:restart <app>`.
pub fn ps_restart(app: &str) -> Cmd {
    Cmd::dokku(["ps:restart", app])
}

/// `ps:start <app>`.
pub fn ps_start(app: &str) -> Cmd {
    Cmd::dokku(["ps:start", app])
}

/// `ps:stop <app>`.
pub fn ps_stop(app: &str) -> Cmd {
    Cmd::dokku(["ps:stop", app])
}

/// `config:set --no-restart <app> <KEY=value>...`: values shown in the plan.
pub fn config_set(app: &str, values: &BTreeMap<String, String>) -> Cmd {
    values.iter().fold(
        Cmd::dokku(["config:set", "--no-restart", app]),
        |c, (k, v)| c.arg(format!("{k}={v}")),
    )
}

/// `config:import --no-restart --format json <app> -` with `values` on stdin; the keys in
/// `secret` are masked wherever the command is shown.
pub fn config_import(app: &str, values: BTreeMap<String, String>, secret: BTreeSet<String>) -> Cmd {
    Cmd::dokku([
        "config:import",
        "--no-restart",
        "--format",
        "json",
        app,
        "-",
    ])
    .with_stdin(Stdin::Config { values, secret })
}

/// `config:unset --no-restart <app> <KEY>...`.
pub fn config_unset<'a>(app: &str, keys: impl IntoIterator<Item = &'a str>) -> Cmd {
    keys.into_iter()
        .fold(Cmd::dokku(["config:unset", "--no-restart", app]), Cmd::arg)
}

/// `git:from-archive --archive-type tar <app> --` with the archive on stdin.
pub fn git_from_archive(app: &str, archive: Stdin) -> Cmd {
    Cmd::dokku(["git:from-archive", "--archive-type", "tar", app, "--"]).with_stdin(archive)
}

/// `run --no-tty <app> <command>...`.
pub fn run(app: &str, command: impl IntoIterator<Item = String>) -> Cmd {
    command
        .into_iter()
        .fold(Cmd::dokku(["run", "--no-tty", app]), Cmd::arg)
}

/// `letsencrypt:enable <app>`.
pub fn letsencrypt_enable(app: &str) -> Cmd {
    Cmd::dokku(["letsencrypt:enable", app])
}

/// `letsencrypt:disable <app>`.
pub fn letsencrypt_disable(app: &str) -> Cmd {
    Cmd::dokku(["letsencrypt:disable", app])
}

/// What `<plugin>:create` is given besides the name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatastoreCreate {
    /// `--image`.
    pub image: Option<String>,
    /// `--image-version`.
    pub version: Option<String>,
    /// The password, passed as `SERVICE_PASSWORD` in the environment (never in argv).
    pub password: Option<String>,
    /// The root password, passed as `SERVICE_ROOT_PASSWORD`.
    pub root_password: Option<String>,
    /// `--config-options`.
    pub config_options: Option<String>,
    /// The custom environment `K=V;K2=V2`, passed as `SERVICE_CUSTOM_ENV`.
    pub custom_env: Option<String>,
    /// `--initial-network`.
    pub initial_network: Option<String>,
}

/// `<plugin>:create <name> [--image I] [--image-version V] [--config-options O]
/// [--initial-network N]`, with the passwords and the custom environment in the environment
/// the datastore plugins read when the flags are absent (dokku-postgres `common-functions`:
/// `service_create` and `service_commit_config` read `SERVICE_PASSWORD`,
/// `SERVICE_ROOT_PASSWORD`, `SERVICE_CUSTOM_ENV`), so no secret is in the process list.
pub fn datastore_create(plugin: &str, name: &str, opts: DatastoreCreate) -> Cmd {
    let mut cmd = Cmd::dokku([format!("{plugin}:create"), name.to_owned()]);
    if let Some(i) = opts.image {
        cmd = cmd.flag("--image", i);
    }
    if let Some(v) = opts.version {
        cmd = cmd.flag("--image-version", v);
    }
    if let Some(pw) = opts.password {
        cmd = cmd.secret_env("SERVICE_PASSWORD", pw);
    }
    if let Some(pw) = opts.root_password {
        cmd = cmd.secret_env("SERVICE_ROOT_PASSWORD", pw);
    }
    if let Some(c) = opts.config_options {
        cmd = cmd.flag("--config-options", c);
    }
    if let Some(env) = opts.custom_env {
        cmd = cmd.secret_env("SERVICE_CUSTOM_ENV", env);
    }
    if let Some(n) = opts.initial_network {
        cmd = cmd.flag("--initial-network", n);
    }
    cmd
}

/// `<plugin>:upgrade <name> --image <image> --image-version <version>`.
pub fn datastore_upgrade(plugin: &str, name: &str, image: &str, version: &str) -> Cmd {
    Cmd::dokku([format!("{plugin}:upgrade"), name.to_owned()])
        .flag("--image", image)
        .flag("--image-version", version)
}

/// `<plugin>:link <datastore> <app> --no-restart [--alias <alias>]`.
pub fn datastore_link(plugin: &str, datastore: &str, app: &str, alias: Option<&str>) -> Cmd {
    let cmd = Cmd::dokku([
        format!("{plugin}:link"),
        datastore.to_owned(),
        app.to_owned(),
        "--no-restart".into(),
    ]);
    match alias {
        Some(a) => cmd.flag("--alias", a),
        None => cmd,
    }
}

/// `<plugin>:unlink <datastore> <app> --no-restart`.
pub fn datastore_unlink(plugin: &str, datastore: &str, app: &str) -> Cmd {
    Cmd::dokku([
        format!("{plugin}:unlink"),
        datastore.to_owned(),
        app.to_owned(),
        "--no-restart".into(),
    ])
}

/// `<plugin>:backup-auth <name> <access-key-id> <secret-access-key> [<region>
/// [<signature-version> [<endpoint-url>]]]`: both keys secret; `extras` are the optional
/// positional arguments in that order (a gap before a given one is an empty argument).
pub fn backup_auth(
    plugin: &str,
    name: &str,
    access_key_id: String,
    secret_access_key: String,
    extras: &[&str],
) -> Cmd {
    extras.iter().fold(
        Cmd::dokku([format!("{plugin}:backup-auth"), name.to_owned()])
            .secret_arg(access_key_id)
            .secret_arg(secret_access_key),
        |c, e| c.arg(*e),
    )
}

/// `<plugin>:backup-schedule <name> <schedule> <bucket>`.
pub fn backup_schedule(plugin: &str, name: &str, schedule: &str, bucket: &str) -> Cmd {
    Cmd::dokku([
        format!("{plugin}:backup-schedule"),
        name.to_owned(),
        schedule.to_owned(),
        bucket.to_owned(),
    ])
}

/// `<plugin>:backup-set-encryption <name> <passphrase>` (secret).
pub fn backup_set_encryption(plugin: &str, name: &str, passphrase: String) -> Cmd {
    Cmd::dokku([format!("{plugin}:backup-set-encryption"), name.to_owned()]).secret_arg(passphrase)
}

/// `<plugin>:backup-unset-encryption <name>`.
pub fn backup_unset_encryption(plugin: &str, name: &str) -> Cmd {
    Cmd::dokku([format!("{plugin}:backup-unset-encryption"), name.to_owned()])
}

#[cfg(test)]
mod tests {
    /// The planner builds commands only through the constructors above (which
    /// tests/plan_conformance.rs checks against dokku-cli.json), never from literal argv.
    #[test]
    fn the_planner_builds_commands_only_through_the_constructors() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains("Cmd::dokku(") {
                        out.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan"),
            &mut found,
        );
        assert!(found.is_empty(), "`Cmd::dokku(` in {found:?}");
    }
}
