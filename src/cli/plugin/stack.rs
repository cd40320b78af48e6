//! A stack on a Dokku host: the pushed app whose repository holds the compose file. Its
//! source is captured per push under `$DOKKU_LIB_ROOT/data/compose/<app>/source`, and its
//! compose file is interpolated with the stack app's own config vars (`dokku config:set
//! <stack> KEY=…`) and the repository's `.env`, never with the host's environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::props::Props;
use crate::cli::apply_cmd::{DataArgs, RunArgs};
use crate::cli::plan_cmd::LoadedProject;
use crate::compose;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::{DuctRunner, Runner};

/// Compose file names looked up in a pushed repository, in the reference's order.
pub(super) const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The runner for `dokku` commands on the host.
pub(super) fn runner() -> DuctRunner {
    // What the plugin changes is not an operator's change (triggers/app-changed).
    DuctRunner {
        env: vec![(crate::exec::known::APPLYING_VAR.to_owned(), "1".to_owned())],
        ..DuctRunner::default()
    }
}

/// `<data>/<app>`.
pub(super) fn stack_dir(env: &DokkuEnv, app: &str) -> PathBuf {
    env.data_dir().join(app)
}

/// The captured source of the last successful push.
pub(super) fn source_dir(env: &DokkuEnv, app: &str) -> PathBuf {
    stack_dir(env, app).join("source")
}

/// The compose files of `dir` the stack uses: the `compose-file` property, else
/// `COMPOSE_FILE` of the repository's `.env` (read through the jail, split on
/// `COMPOSE_PATH_SEPARATOR`, as `docker compose` and the off-server `plan` read it), else the
/// first default name that exists. Empty when the directory has none.
/// A name counts when it is there and not a directory, without following a link: a compose
/// file that is a symlink is then read through the jail, and refused if it leaves the tree.
/// An error when `.env` cannot be read or names a file outside the tree.
pub(super) fn compose_files(dir: &Path, props: &Props, app: &str) -> anyhow::Result<Vec<PathBuf>> {
    let present = |f: &PathBuf| std::fs::symlink_metadata(f).is_ok_and(|m| !m.is_dir());
    let configured = props.computed(app, "compose-file");
    if !configured.is_empty() {
        let files: Vec<PathBuf> = configured.split_whitespace().map(|f| dir.join(f)).collect();
        return Ok(if files.iter().all(present) {
            files
        } else {
            Vec::new()
        });
    }
    if let Some(listed) = dotenv_compose_files(dir, props, app)? {
        return Ok(listed);
    }
    Ok(default_files(dir))
}

/// The first default compose file name of `dir` that is there.
pub(super) fn default_files(dir: &Path) -> Vec<PathBuf> {
    let present = |f: &PathBuf| std::fs::symlink_metadata(f).is_ok_and(|m| !m.is_dir());
    DEFAULT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(present)
        .into_iter()
        .collect()
}

/// Whether `dir/.env` (read through the jail) mentions `COMPOSE_FILE`.
pub(super) fn dotenv_mentions_compose_file(dir: &Path, props: &Props, app: &str) -> bool {
    jail(dir, props, app)
        .ok()
        .and_then(|j| j.read(&dir.join(".env")).ok())
        .is_some_and(|b| String::from_utf8_lossy(&b).contains("COMPOSE_FILE"))
}

/// `COMPOSE_FILE` of `dir/.env`, when set: each entry relative to `dir` (issue #15 item 13).
/// The files are read later through the jail, so `..` out of the tree or a link leaving it is
/// refused there; an absolute entry is refused here.
fn dotenv_compose_files(
    dir: &Path,
    props: &Props,
    app: &str,
) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let jail = jail(dir, props, app)?;
    let env =
        compose::environment::Environment::resolve_in(&BTreeMap::new(), dir, &[], Some(&jail))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(list) = env.compose_files() else {
        return Ok(None);
    };
    if list.is_empty() {
        return Ok(None);
    }
    let mut files = Vec::with_capacity(list.len());
    for f in list {
        if Path::new(&f).is_absolute() {
            anyhow::bail!(".env: `COMPOSE_FILE` names `{f}`, outside the pushed tree (name files relative to the repository)");
        }
        files.push(dir.join(f));
    }
    Ok(Some(files))
}

/// The confinement of a stack's load to its pushed tree `dir` (issue #13), with the
/// operator's `max-file-size`.
pub(super) fn jail(dir: &Path, props: &Props, app: &str) -> anyhow::Result<crate::confine::Jail> {
    let v = props.computed(app, "max-file-size");
    let max_file_size = if v.is_empty() {
        crate::confine::DEFAULT_MAX_FILE_SIZE
    } else {
        v.parse().with_context(|| {
            format!("property `max-file-size` of `{app}` is `{v}`, not a number")
        })?
    };
    Ok(crate::confine::Jail {
        root: dir.to_path_buf(),
        max_file_size,
    })
}

/// The stack app's config vars: the values the compose file is interpolated with.
pub(super) fn app_config(
    runner: &dyn Runner,
    app: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let cmd = Cmd::dokku(["config:export", "--format", "json", app]);
    let out = runner
        .run(&cmd, None, None)
        .with_context(|| format!("cannot read the config of `{app}`"))?;
    let value: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .context("`config:export --format json` is not JSON")?;
    Ok(value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

/// Loads the stack's compose project from `dir`.
pub(super) fn load(
    dir: &Path,
    files: Vec<PathBuf>,
    app: &str,
    props: &Props,
    environment: BTreeMap<String, String>,
) -> anyhow::Result<LoadedProject> {
    let vault_password = vault_password(props, app);
    // Shared variables (`${{project.VAR}}`…) are resolved into hidden copies beside the files,
    // so relative paths in them keep working; the files themselves keep the references.
    let denv = DokkuEnv::from_env();
    let profiles: Vec<String> = props
        .computed(app, "profiles")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let originals = files;
    let jail = jail(dir, props, app)?;
    let mut texts: Vec<Option<String>> = Vec::with_capacity(originals.len());
    for f in &originals {
        let bytes = match f.strip_prefix(dir) {
            Ok(rel) => jail
                .read(f)
                .map_err(|e| anyhow::anyhow!("compose file `{}`: {e}", rel.display()))?,
            // Not of the pushed tree: the operator's (`compose:up --file -`).
            Err(_) => std::fs::read(f).with_context(|| format!("cannot read `{}`", f.display()))?,
        };
        texts.push(Some(String::from_utf8(bytes).with_context(|| {
            format!("compose file `{}` is not UTF-8", f.display())
        })?));
    }
    let needs_facts = texts.iter().flatten().any(|t| crate::vars::has_facts(t));
    // With `${{stack.…}}` facts the project is read twice: once with placeholders to know its
    // services, domains and ports, then with the facts filled in.
    let mut facts: Option<Facts> = None;
    for pass in 0..=usize::from(needs_facts) {
        let resolve_facts = pass == 1;
        let files = originals.clone();
        // The resolved texts are given to the loader in memory, in place of their files: the
        // plugin writes nothing into the pushed tree (issue #13: a symlink named like such a
        // copy made it write through the link).
        let mut resolved_texts = BTreeMap::new();
        let mut scopes = None;
        for (f, text) in originals.iter().zip(&texts) {
            // Every text is given to the loader, which then never reads these files again.
            let Some(text) = text.as_ref().filter(|t| crate::vars::has_references(t)) else {
                resolved_texts.extend(text.as_ref().map(|t| (f.clone(), t.clone())));
                continue;
            };
            if scopes.is_none() {
                scopes = Some(super::projects::scopes_for(&denv, props, app)?);
            }
            let (sc, in_project) = scopes.as_ref().expect("just set");
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // One store for generated values and kept ports, shared by both callbacks.
            let store = std::cell::RefCell::new(Generated::open(&denv, app)?);
            let mut fact = |path: &str| -> Result<String, String> {
                match (&facts, resolve_facts) {
                    (Some(fs), true) => fs.get(path, &mut store.borrow_mut()),
                    // Placeholder of the first pass: a valid word in every place a fact may stand.
                    _ => Ok("dokku-compose-fact".to_owned()),
                }
            };
            let resolved = crate::vars::substitute_all(
                text,
                &name,
                sc,
                *in_project,
                &mut |n, kind| store.borrow_mut().get_or_create(n, kind),
                &mut fact,
            )?;
            store.borrow_mut().save()?;
            resolved_texts.insert(f.clone(), resolved);
        }
        let input = Input {
            files,
            texts: resolved_texts,
            jail: jail.clone(),
        };
        let loaded = load_files(
            dir,
            input,
            app,
            profiles.clone(),
            environment.clone(),
            vault_password.clone(),
        )?;
        if needs_facts && !resolve_facts {
            // The first pass: the stack's facts, for the second.
            facts = Some(Facts::of(&loaded, app, props, &denv)?);
            continue;
        }
        return Ok(loaded);
    }
    unreachable!("the last pass returns")
}

/// The files of one load: their paths, the texts given in their place, the confinement.
struct Input {
    files: Vec<PathBuf>,
    texts: BTreeMap<PathBuf, String>,
    jail: crate::confine::Jail,
}

fn load_files(
    dir: &Path,
    input: Input,
    app: &str,
    profiles: Vec<String>,
    environment: BTreeMap<String, String>,
    vault_password: Option<crate::vault::VaultPassword>,
) -> anyhow::Result<LoadedProject> {
    let Input { files, texts, jail } = input;
    if files.is_empty() {
        anyhow::bail!("no compose file in `{}` (looked for {}; set one with `dokku compose:set {app} compose-file <path>`)", dir.display(), DEFAULT_FILES.join(", "));
    }
    // Compose project names allow no dots; app names do.
    let project = app.replace('.', "-");
    let opts = compose::LoadOptions {
        files,
        project_name: Some(project),
        project_directory: Some(dir.to_path_buf()),
        env_files: Vec::new(),
        profiles,
        no_interpolate: false,
        environment,
        working_dir: dir.to_path_buf(),
        vault_password,
        jail: Some(jail),
        texts,
    };
    let loaded = compose::load(&opts).context("failed to load the compose project")?;
    LoadedProject::new(&loaded, dir.to_path_buf()).context("failed to load the compose project")
}

/// The apply settings of `app` from its properties; `config` is the stack app's config (what
/// compose `secrets.<x>.environment` reads), fetched once by the caller.
pub(super) fn run_args(
    env: &DokkuEnv,
    props: &Props,
    app: &str,
    config: BTreeMap<String, String>,
) -> anyhow::Result<RunArgs> {
    let num = |key: &str| -> anyhow::Result<Option<u64>> {
        let v = props.computed(app, key);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .with_context(|| format!("property `{key}` of `{app}` is `{v}`, not a number"))
    };
    Ok(RunArgs {
        allow: props
            .computed(app, "allow")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        concurrency: usize::try_from(num("concurrency")?.unwrap_or(4)).unwrap_or(4),
        timeout: num("timeout")?,
        step_timeout: num("step-timeout")?.unwrap_or(1800),
        wait: false,
        prune: false,
        destroy_datastores: Vec::new(),
        dry_run: false,
        format: "text".into(),
        log_format: {
            let f = props.computed(app, "log-format");
            if f == "json" {
                f
            } else {
                "text".into()
            }
        },
        environment: Some(config),
        domain_pattern: domain_pattern(props, app)?,
        vault_password: vault_password(props, app),
        hooks_dir: {
            let d = props.computed(app, "hooks-dir");
            if d.is_empty() {
                "deploy.d".into()
            } else {
                d
            }
        },
        hook_timeout: num("hook-timeout")?.unwrap_or(600),
        max_replicas: num("max-replicas")?.map_or(crate::model::Limits::DEFAULT_REPLICAS, |n| {
            u32::try_from(n).unwrap_or(u32::MAX)
        }),
        max_ports: num("max-ports")?.map_or(crate::model::Limits::DEFAULT_PORTS, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        }),
        max_services: num("max-services")?.map_or(crate::model::Limits::DEFAULT_SERVICES, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        }),
        data: DataArgs {
            data_dir: Some(env.data_dir()),
        },
        // Every plugin apply reads the captured source only (issue #13).
        jail: Some(jail(&source_dir(env, app), props, app)?),
        host_wide: None,
        k3s_datastore_address: Some(props.computed(app, "k3s-datastore-address"))
            .filter(|v| !v.is_empty()),
        up_command: Some(format!("dokku compose:up {app}")),
        load_warnings: Vec::new(),
        written_paths: BTreeMap::new(),
    })
}

/// `e` with hints that work on the server: a policy refusal names `dokku compose:set <app>
/// allow …` (keeping the rules allowed now), not the off-server `--allow` flag.
/// Applies `loaded`, the project of stack `app` read from `dir` at revision `rev`, with `run`'s
/// settings (its load warnings and written paths added); `message` names the release.
pub(super) fn apply_loaded(
    run: &mut RunArgs,
    loaded: LoadedProject,
    app: &str,
    dir: PathBuf,
    rev: String,
    message: &str,
) -> anyhow::Result<()> {
    run.load_warnings.clone_from(&loaded.warnings);
    run.written_paths.clone_from(&loaded.written_paths);
    let req = crate::cli::apply_cmd::request(
        run,
        loaded.json,
        app,
        dir,
        rev,
        crate::exec::releases::ReleaseKind::Apply,
        message.to_owned(),
    )?;
    crate::cli::apply_cmd::execute(&req, run).map_err(|e| server_hints(e, app, &run.allow))?;
    Ok(())
}

pub(super) fn server_hints(mut e: anyhow::Error, app: &str, allow: &[String]) -> anyhow::Error {
    use crate::exec::apply::ApplyError;
    use crate::plan::PlanError;
    if let Some(ApplyError::Plan(PlanError::Policy(p))) = e.downcast_mut::<ApplyError>() {
        let allowed = allow
            .iter()
            .flat_map(|a| a.split(','))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        p.fix = crate::policy::AllowFix::Property {
            stack: app.to_owned(),
            allowed,
        };
    }
    e
}

/// Copies a directory tree (without `.git`), symlinks as links.
pub(super) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    crate::exec::archive::copy_tree(from, to)
}

/// Internal property: the stack's ansible-vault password (`compose:vault-password`), in a file
/// only the dokku user can read.
pub(super) const VAULT_PASSWORD: &str = "vault-password";

/// The stack's vault password, if set.
pub(super) fn vault_password(props: &Props, app: &str) -> Option<crate::vault::VaultPassword> {
    props
        .get(app, VAULT_PASSWORD)
        .map(|p| crate::vault::VaultPassword::from_file_bytes(p.as_bytes()))
}

/// The stack's generated values (`${{generate.NAME:KIND}}`): created once, sealed with the host
/// key in `<data>/<app>/generated.json` (mode 0600), never regenerated unless rotated.
pub(super) struct Generated {
    path: PathBuf,
    /// The host key's file; the key is loaded (or created) only when a value is sealed or
    /// opened, so a push refused before that leaves no key behind.
    key_path: PathBuf,
    key: Option<crate::exec::secrets::HostKey>,
    sealed: BTreeMap<String, String>,
    dirty: bool,
}

impl Generated {
    pub(super) fn open(env: &DokkuEnv, app: &str) -> anyhow::Result<Self> {
        let path = stack_dir(env, app).join("generated.json");
        let sealed = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("`{}` is not valid", path.display()))?,
            Err(_) => BTreeMap::new(),
        };
        Ok(Self {
            path,
            key_path: env.data_dir().join("host.key"),
            key: None,
            sealed,
            dirty: false,
        })
    }

    fn key(&mut self) -> Result<&crate::exec::secrets::HostKey, String> {
        if self.key.is_none() {
            self.key = Some(
                crate::exec::secrets::HostKey::load_or_create(&self.key_path)
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(self.key.as_ref().expect("just loaded"))
    }

    fn get_or_create(&mut self, name: &str, kind: crate::vars::GenKind) -> Result<String, String> {
        if let Some(s) = self.sealed.get(name).cloned() {
            let plain = self
                .key()?
                .open(&s)
                .map_err(|e| format!("generated value `{name}`: {e}"))?;
            return String::from_utf8(plain)
                .map_err(|_| format!("generated value `{name}` is not text"));
        }
        let value = kind.generate().map_err(|e| e.to_string())?;
        let sealed = self.key()?.seal(value.as_bytes());
        self.sealed.insert(name.to_owned(), sealed);
        self.dirty = true;
        Ok(value)
    }

    /// Forgets values so the next deploy generates new ones; returns the names that existed.
    pub(super) fn rotate(&mut self, names: &[String]) -> Vec<String> {
        let gone: Vec<String> = names
            .iter()
            .filter(|n| self.sealed.remove(*n).is_some())
            .cloned()
            .collect();
        self.dirty |= !gone.is_empty();
        gone
    }

    pub(super) fn save(&mut self) -> anyhow::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new(".")))?;
        crate::platform::write_atomic(
            &self.path,
            &serde_json::to_vec_pretty(&self.sealed)?,
            0o600,
        )?;
        self.dirty = false;
        Ok(())
    }
}

/// Where a deploy's source revision comes from.
pub(super) enum Revision<'a> {
    /// The stack app's `GIT_REV` (a `git push`), with a release message prefix.
    GitRev(&'a str),
    /// A known commit (`compose:sync`), with the release message.
    Known { sha: &'a str, message: String },
}

/// Captures `dir` (a push's work dir, a fetched checkout) as the stack's source at its one
/// stable path (releases record paths under it) and applies it. The previous source comes back
/// if anything fails, so `compose:up` keeps applying the last good one.
pub(super) fn capture_and_apply(
    env: &DokkuEnv,
    props: &Props,
    app: &str,
    dir: &Path,
    files: &[PathBuf],
    revision: &Revision<'_>,
    wait: bool,
) -> anyhow::Result<()> {
    // The stack lock covers the capture and the apply (issue #14): another push, a sync or a
    // rollback never sees, nor replaces, a half-captured source.
    let lock_dir = crate::exec::apply::stack_dir(&env.data_dir(), app);
    // The lock makes the stack directory if needed, and removes both on release when nothing
    // else was put there (a refused first push leaves no trace).
    let _lock = crate::exec::lock::StackLock::hold(
        &lock_dir.lock(),
        app,
        &format!(
            "capturing a push since {}",
            crate::exec::releases::now_rfc3339()
        ),
        wait,
    )?;
    let source = source_dir(env, app);
    let previous = source.with_extension("prev");
    let _ = std::fs::remove_dir_all(&previous);
    if source.exists() {
        std::fs::rename(&source, &previous)
            .with_context(|| format!("cannot move `{}` aside", source.display()))?;
    }
    let restore = || {
        let _ = std::fs::remove_dir_all(&source);
        if previous.exists() {
            let _ = std::fs::rename(&previous, &source);
        }
    };
    if let Err(e) = copy_tree(dir, &source) {
        restore();
        return Err(e)
            .with_context(|| format!("cannot capture the source into `{}`", source.display()));
    }
    let files: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.strip_prefix(dir).ok())
        .map(|f| source.join(f))
        .collect();
    let result = (|| -> anyhow::Result<()> {
        let config = app_config(&runner(), app)?;
        let (rev, message) = match revision {
            Revision::GitRev(prefix) => {
                let rev = config.get("GIT_REV").cloned().unwrap_or_default();
                let message = format!("{prefix} {}", rev.chars().take(12).collect::<String>());
                (rev, message)
            }
            Revision::Known { sha, message } => ((*sha).to_owned(), message.clone()),
        };
        let loaded = load(&source, files, app, props, config.clone())?;
        let mut run = run_args(env, props, app, config)?;
        run.wait = wait;
        apply_loaded(&mut run, loaded, app, source.clone(), rev, &message)
    })();
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&previous);
            Ok(())
        }
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// The stack's `domain-pattern` with everything but `{service}` filled in.
fn domain_pattern(props: &Props, app: &str) -> anyhow::Result<Option<String>> {
    let pattern = props.computed(app, "domain-pattern");
    if pattern.is_empty() {
        return Ok(None);
    }
    let mut out = pattern.replace("{stack}", app);
    for key in ["project", "environment"] {
        let needle = format!("{{{key}}}");
        if out.contains(&needle) {
            let v = props.get(app, key).with_context(|| {
                format!("`domain-pattern` uses {needle} but stack `{app}` has no {key}")
            })?;
            out = out.replace(&needle, &v);
        }
    }
    if out.contains("{global}") {
        let cmd = Cmd::dokku(["domains:report", "--global", "--format", "json"]);
        let report: serde_json::Value =
            serde_json::from_str(runner().run(&cmd, None, None)?.stdout.trim())
                .context("`domains:report --global` is not JSON")?;
        let global = report["global-vhosts"]
            .as_str()
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_owned);
        let global = global.with_context(|| "`domain-pattern` uses {global} but the host has no global domain (`dokku domains:set-global <domain>`)".to_owned())?;
        out = out.replace("{global}", &global);
    }
    let sample = out.replace("{service}", "web");
    if sample.contains('{')
        || !sample.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
    {
        anyhow::bail!("`domain-pattern` `{pattern}` does not make a valid host name (placeholders: {{service}} {{stack}} {{project}} {{environment}} {{global}})");
    }
    Ok(Some(out))
}

/// Facts of the stack a compose file may reference (issue #7 "typed variables"):
/// `${{stack.<service>.domain}}`, `.url`, `.internal_url`, `.port` (a free host port, kept) and
/// `${{stack.<volume>.host_path}}`.
struct Facts {
    project: crate::model::Project,
    pattern: Option<String>,
    lib_root: PathBuf,
}

impl Facts {
    fn of(
        loaded: &LoadedProject,
        app: &str,
        props: &Props,
        env: &DokkuEnv,
    ) -> anyhow::Result<Self> {
        let stack = crate::model::StackName::parse(app).map_err(anyhow::Error::msg)?;
        let (project, _) = crate::model::from_compose_json(
            &loaded.json,
            &crate::model::ConvertOptions {
                stack,
                project_dir: loaded.project_dir.display().to_string(),
            },
        )?;
        Ok(Self {
            project,
            pattern: domain_pattern(props, app)?,
            lib_root: env.lib_root.clone(),
        })
    }

    fn get(&self, path: &str, store: &mut Generated) -> Result<String, String> {
        let (name, fact) = path
            .rsplit_once('.')
            .ok_or_else(|| format!("`stack.{path}` needs `<service>.<fact>`"))?;
        if fact == "host_path" {
            let storage = crate::model::StorageName::for_volume(&self.project.stack, name);
            if !self.project.storage.contains_key(&storage) {
                return Err(format!("`stack.{path}`: there is no volume `{name}`"));
            }
            return Ok(self
                .lib_root
                .join("data/storage")
                .join(storage.as_str())
                .display()
                .to_string());
        }
        let svc = self
            .project
            .services
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, s)| s)
            .ok_or_else(|| format!("`stack.{path}`: there is no service `{name}`"))?;
        let crate::model::Kind::App(a) = &svc.kind else {
            return Err(format!(
                "`stack.{path}`: `{name}` is a datastore; its URL comes with the link"
            ));
        };
        let domain = || -> Result<String, String> {
            svc.settings.domains.first().cloned().or_else(|| self.pattern.as_ref().map(|p| p.replace("{service}", name))).ok_or_else(|| format!("`stack.{path}`: service `{name}` has no domain (`x-dokku.services.{name}.domains`, or the `domain-pattern` property)"))
        };
        match fact {
            "domain" => domain(),
            "url" => {
                let tls = svc.settings.letsencrypt || (self.project.settings.letsencrypt && !svc.settings.letsencrypt_given);
                Ok(format!("{}://{}", if tls { "https" } else { "http" }, domain()?))
            }
            "internal_url" => {
                let port = a.ports.first().map(|p| p.container.to_string()).or_else(|| svc.settings.proxy_port.map(|p| p.to_string())).ok_or_else(|| format!("`stack.{path}`: service `{name}` names no port (`ports` or `x-dokku` `proxy_port`)"))?;
                Ok(format!("http://{name}:{port}"))
            }
            "port" => store.get_or_create(&format!("port.{name}"), crate::vars::GenKind::Port),
            other => Err(format!("`stack.{path}`: unknown fact `{other}` (domain, url, internal_url, port, host_path)")),
        }
    }
}
