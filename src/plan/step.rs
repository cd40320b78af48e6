//! Plan data (style R8): steps with a stable id, a typed action, the exact command, the
//! reason, and how to undo it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dokku::Cmd;
use crate::model::{ServiceName, Warning};

/// What a step changes, as data the executor and the state simulation can read. Values that
/// may be secret live only in the step's [`Cmd`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// `network:create`.
    CreateNetwork {
        /// Network.
        network: String,
    },
    /// `storage:create`, seeded from the pushed source when `seed_from` is set.
    CreateStorage {
        /// Entry.
        name: String,
        /// Source directory to copy into a new entry.
        seed_from: Option<String>,
    },
    /// `<plugin>:create`.
    CreateDatastore {
        /// Plugin.
        plugin: String,
        /// Service.
        name: String,
    },
    /// `<plugin>:upgrade`: the datastore runs another image.
    UpgradeDatastore {
        /// Plugin.
        plugin: String,
        /// Service.
        name: String,
        /// The image it runs after the step (`postgres:17`).
        image: String,
    },
    /// `<plugin>:expose` on the Dokku host's private address, so the cluster reaches the
    /// datastore (issue 21, stacks on k3s).
    ExposeDatastore {
        /// Plugin.
        plugin: String,
        /// Service.
        name: String,
        /// `address:port` per plugin port.
        ports: Vec<String>,
    },
    /// `apps:create`.
    CreateApp {
        /// App.
        app: String,
    },
    /// `<plugin>:set <app> <key> [<value>]` for app properties.
    SetProperty {
        /// App.
        app: String,
        /// `ps`, `network`, `builder`, …
        plugin: String,
        /// Key.
        key: String,
        /// Value; `None` unsets.
        value: Option<String>,
    },
    /// `docker-options:add`.
    AddDockerOption {
        /// App.
        app: String,
        /// Phase.
        phase: String,
        /// Option.
        option: String,
    },
    /// `docker-options:remove`.
    RemoveDockerOption {
        /// App.
        app: String,
        /// Phase.
        phase: String,
        /// Option.
        option: String,
    },
    /// `ports:set`.
    SetPorts {
        /// App.
        app: String,
        /// `scheme:host:container` maps.
        ports: Vec<String>,
    },
    /// `proxy:disable` / `proxy:enable`.
    SetProxy {
        /// App.
        app: String,
        /// Enabled.
        enabled: bool,
    },
    /// `domains:set`.
    SetDomains {
        /// App.
        app: String,
        /// Domains.
        domains: Vec<String>,
    },
    /// `storage:mount`.
    Mount {
        /// App.
        app: String,
        /// Canonical mount (see `state::mount_key`).
        mount: String,
    },
    /// `storage:unmount`: a mount the stack made and no longer wants (issue 15 item 17).
    Unmount {
        /// App.
        app: String,
        /// Canonical mount (see `state::mount_key`).
        mount: String,
    },
    /// `<plugin>:link`.
    Link {
        /// Plugin.
        plugin: String,
        /// Datastore service.
        datastore: String,
        /// App.
        app: String,
    },
    /// `config:set --no-restart` of the listed keys.
    SetConfig {
        /// App.
        app: String,
        /// Keys set.
        keys: Vec<String>,
    },
    /// `config:unset --no-restart`.
    UnsetConfig {
        /// App.
        app: String,
        /// Keys.
        keys: Vec<String>,
    },
    /// `ps:scale --skip-deploy`.
    Scale {
        /// App.
        app: String,
        /// Process type.
        process: String,
        /// Count.
        count: u32,
    },
    /// `resource:limit` / `resource:reserve`.
    Resources {
        /// App.
        app: String,
        /// `limit` or `reserve`.
        which: String,
        /// Resource -> value.
        values: BTreeMap<String, String>,
    },
    /// `git:from-archive` of the generated build context.
    Deploy {
        /// App.
        app: String,
        /// Build context digest.
        digest: String,
    },
    /// `ps:restart` so that settings changed without a deploy take effect.
    Restart {
        /// App.
        app: String,
    },
    /// `run --no-tty`: a one-shot job that must exit 0.
    RunOnce {
        /// App.
        app: String,
    },
    /// `letsencrypt:enable`.
    EnableLetsencrypt {
        /// App.
        app: String,
    },
    /// `<plugin>:backup-auth` / `backup-schedule` / `backup-(un)set-encryption`.
    Backup {
        /// The datastore service.
        datastore: String,
    },
    /// `proxy:build-config` after the executor wrote the app's path-routing nginx include
    /// (issue 7); an empty `content` removes it.
    SetNginxInclude {
        /// App.
        app: String,
        /// Digest of the include (`DOKKU_COMPOSE_PATHS`).
        digest: String,
        /// The include's text.
        content: String,
        /// Static directories copied first.
        statics: Vec<crate::routing::StaticCopy>,
    },
    /// `apps:destroy`, `<plugin>:unlink` or `<plugin>:destroy` of what left the compose file
    /// (`--prune`; datastores only when named).
    Prune {
        /// The app or datastore service.
        target: String,
    },
}

/// How a step is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Undo {
    /// Run these commands in order.
    Commands {
        /// The commands.
        cmds: Vec<Cmd>,
    },
    /// It cannot (or must not) be undone.
    Irreversible {
        /// Why.
        reason: String,
    },
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Stable id: `<service>/<what>` (`db/create`) or `stack/<what>`.
    pub id: String,
    /// The service the step belongs to; `None` for stack steps, which come first.
    pub service: Option<ServiceName>,
    /// Graph level: steps of different services on one level may run in parallel.
    pub level: usize,
    /// The change.
    pub action: Action,
    /// The command.
    pub run: Cmd,
    /// Why the step is needed.
    pub reason: String,
    /// How to undo it.
    pub undo: Undo,
}

/// A plan: everything needed to print, review and apply the change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The stack.
    pub stack: String,
    /// What each compose service became.
    pub services: BTreeMap<ServiceName, String>,
    /// Direct dependencies of each service (the service graph): a service's steps start only
    /// after every dependency's steps finished.
    pub dependencies: BTreeMap<ServiceName, std::collections::BTreeSet<ServiceName>>,
    /// Rewritten environment values (key path -> rule).
    pub rewrites: BTreeMap<String, String>,
    /// Warnings for keys with no (full) Dokku meaning.
    pub warnings: Vec<Warning>,
    /// The steps, in a valid sequential order.
    pub steps: Vec<Step>,
    /// The effects on the host's files and the plugin's records that run in the same
    /// transaction as the steps (issue #14), in the order they run; each is journaled with
    /// what was there before and undone with the steps. Filled by the apply (empty for a
    /// plan made without a stack directory).
    pub files: Vec<FileEffect>,
    /// The plugin-owned Kubernetes objects changed in the same transaction, for a stack on
    /// k3s (issue 21, `exec::kube`); empty otherwise.
    pub kube: Vec<crate::kube::KubeEffect>,
}

/// An effect of an apply beside its Dokku commands: a file written, a tree copied, hooks run
/// or a release recorded. `id` is the effect's id in the journal (and for
/// `DOKKU_COMPOSE_PAUSE_AFTER_EFFECT` / `DOKKU_COMPOSE_FAIL_AFTER_EFFECT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileEffect {
    /// A file written (or removed); undone by putting back its previous content and mode, or
    /// removing it when there was none.
    Write {
        /// Effect id.
        id: String,
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
        /// What it is.
        what: String,
    },
    /// A tree replaced by a copy; undone by moving the previous tree back (it is kept aside
    /// until the transaction ends), or removing the copy.
    Tree {
        /// Effect id.
        id: String,
        /// What is copied (a path of the pushed source).
        from: String,
        /// Where to (a path, or the storage entry whose directory it is).
        to: String,
    },
    /// Post-deploy hooks run; undone with the rest of the apply (what they did inside the
    /// containers is the app's).
    Hooks {
        /// Effect id.
        id: String,
        /// The hooks, in order.
        names: Vec<String>,
    },
    /// The release recorded in the stack's history (made first for a new stack); undone by
    /// resetting the history to its previous head (or removing a history made by it).
    Release {
        /// Effect id.
        id: String,
        /// The history.
        store: String,
    },
}

impl std::fmt::Display for FileEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileEffect::Write { id, path, mode, what } => write!(f, "# {id}: write {what} `{path}` (mode {mode:04o})\n#   undo: its previous content and mode, or remove it"),
            FileEffect::Tree { id, from, to } => write!(f, "# {id}: copy `{from}` to {to}\n#   undo: move the previous tree back, or remove the copy"),
            FileEffect::Hooks { id, names } => write!(f, "# {id}: run {}\n#   undo: with the rest of the apply", names.join(", ")),
            FileEffect::Release { id, store } => write!(f, "# {id}: record the release in `{store}`\n#   undo: reset the history to its previous head"),
        }
    }
}

/// Steps grouped for parallel apply: stack steps first (in order), then one group per level
/// whose services are independent of each other; each service's steps stay in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batches<'a> {
    /// Stack steps (networks, storage), run first and in order.
    pub stack: Vec<&'a Step>,
    /// Per level, per service, the service's steps in order.
    pub levels: Vec<BTreeMap<&'a ServiceName, Vec<&'a Step>>>,
}

impl Plan {
    /// The steps grouped for parallel apply (see [`Batches`]).
    pub fn batches(&self) -> Batches<'_> {
        let mut b = Batches {
            stack: Vec::new(),
            levels: Vec::new(),
        };
        for step in &self.steps {
            match &step.service {
                None => b.stack.push(step),
                Some(svc) => {
                    if b.levels.len() <= step.level {
                        b.levels.resize_with(step.level + 1, BTreeMap::new);
                    }
                    b.levels[step.level].entry(svc).or_default().push(step);
                }
            }
        }
        b
    }
}
