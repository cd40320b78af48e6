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
pub(super) const DEFAULT_FILES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// The runner for `dokku` commands on the host.
pub(super) fn runner() -> DuctRunner {
    DuctRunner::default()
}

/// `<data>/<app>`.
pub(super) fn stack_dir(env: &DokkuEnv, app: &str) -> PathBuf {
    env.data_dir().join(app)
}

/// The captured source of the last successful push.
pub(super) fn source_dir(env: &DokkuEnv, app: &str) -> PathBuf {
    stack_dir(env, app).join("source")
}

/// The compose files of `dir` the stack uses: the `compose-file` property, else the first
/// default name that exists. Empty when the directory has none.
pub(super) fn compose_files(dir: &Path, props: &Props, app: &str) -> Vec<PathBuf> {
    let configured = props.computed(app, "compose-file");
    if !configured.is_empty() {
        let files: Vec<PathBuf> = configured.split_whitespace().map(|f| dir.join(f)).collect();
        return if files.iter().all(|f| f.is_file()) { files } else { Vec::new() };
    }
    DEFAULT_FILES.iter().map(|f| dir.join(f)).find(|f| f.is_file()).into_iter().collect()
}

/// The stack app's config vars: the values the compose file is interpolated with.
pub(super) fn app_config(runner: &dyn Runner, app: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let cmd = Cmd::dokku(["config:export", "--format", "json", app]);
    let out = runner.run(&cmd, None, None).with_context(|| format!("cannot read the config of `{app}`"))?;
    let value: serde_json::Value = serde_json::from_str(out.stdout.trim()).context("`config:export --format json` is not JSON")?;
    Ok(value.as_object().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()).unwrap_or_default())
}

/// Loads the stack's compose project from `dir`.
pub(super) fn load(dir: &Path, files: Vec<PathBuf>, app: &str, props: &Props, environment: BTreeMap<String, String>) -> anyhow::Result<LoadedProject> {
    let vault_password = vault_password(props, app);
    // Shared variables (`${{project.VAR}}`…) are resolved into hidden copies beside the files,
    // so relative paths in them keep working; the files themselves keep the references.
    let mut files = files;
    let denv = DokkuEnv::from_env();
    let mut scopes = None;
    for f in &mut files {
        let Ok(text) = std::fs::read_to_string(&*f) else { continue };
        if !crate::vars::has_references(&text) {
            continue;
        }
        if scopes.is_none() {
            scopes = Some(super::projects::scopes_for(&denv, props, app)?);
        }
        let (sc, in_project) = scopes.as_ref().expect("just set");
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut store = Generated::open(&denv, app)?;
        let resolved = crate::vars::substitute_with(&text, &name, sc, *in_project, &mut |n, kind| store.get_or_create(n, kind))?;
        store.save()?;
        let copy = f.with_file_name(format!(".{name}.resolved.yaml"));
        std::fs::write(&copy, resolved).with_context(|| format!("cannot write `{}`", copy.display()))?;
        *f = copy;
    }
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
        profiles: props.computed(app, "profiles").split_whitespace().map(str::to_owned).collect(),
        no_interpolate: false,
        environment,
        working_dir: dir.to_path_buf(),
        vault_password,
    };
    let loaded = compose::load(&opts).context("failed to load the compose project")?;
    for w in &loaded.warnings {
        eprintln!(" !     {w}");
    }
    Ok(LoadedProject::new(&loaded, dir.to_path_buf()))
}

/// The apply settings of `app` from its properties.
pub(super) fn run_args(env: &DokkuEnv, props: &Props, app: &str) -> anyhow::Result<RunArgs> {
    let num = |key: &str| -> anyhow::Result<Option<u64>> {
        let v = props.computed(app, key);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).with_context(|| format!("property `{key}` of `{app}` is `{v}`, not a number"))
    };
    Ok(RunArgs {
        allow: props.computed(app, "allow").split_whitespace().map(str::to_owned).collect(),
        concurrency: usize::try_from(num("concurrency")?.unwrap_or(4)).unwrap_or(4),
        timeout: num("timeout")?,
        step_timeout: num("step-timeout")?.unwrap_or(1800),
        wait: false,
        prune: false,
        destroy_datastores: Vec::new(),
        dry_run: false,
        format: "text".into(),
        log_format: { let f = props.computed(app, "log-format"); if f == "json" { f } else { "text".into() } },
        environment: Some(app_config(&runner(), app)?),
        vault_password: vault_password(props, app),
        hooks_dir: { let d = props.computed(app, "hooks-dir"); if d.is_empty() { "deploy.d".into() } else { d } },
        hook_timeout: num("hook-timeout")?.unwrap_or(600),
        data: DataArgs { data_dir: Some(env.data_dir()) },
    })
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
    props.get(app, VAULT_PASSWORD).map(|p| crate::vault::VaultPassword::from_file_bytes(p.as_bytes()))
}

/// The stack's generated values (`${{generate.NAME:KIND}}`): created once, sealed with the host
/// key in `<data>/<app>/generated.json` (mode 0600), never regenerated unless rotated.
pub(super) struct Generated {
    path: PathBuf,
    key: crate::exec::secrets::HostKey,
    sealed: BTreeMap<String, String>,
    dirty: bool,
}

impl Generated {
    pub(super) fn open(env: &DokkuEnv, app: &str) -> anyhow::Result<Self> {
        let key = crate::exec::secrets::HostKey::load_or_create(&env.data_dir().join("host.key"))?;
        let path = stack_dir(env, app).join("generated.json");
        let sealed = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| format!("`{}` is not valid", path.display()))?,
            Err(_) => BTreeMap::new(),
        };
        Ok(Self { path, key, sealed, dirty: false })
    }

    fn get_or_create(&mut self, name: &str, kind: crate::vars::GenKind) -> Result<String, String> {
        if let Some(s) = self.sealed.get(name) {
            let plain = self.key.open(s).map_err(|e| format!("generated value `{name}`: {e}"))?;
            return String::from_utf8(plain).map_err(|_| format!("generated value `{name}` is not text"));
        }
        let value = kind.generate()?;
        self.sealed.insert(name.to_owned(), self.key.seal(value.as_bytes()));
        self.dirty = true;
        Ok(value)
    }

    /// Forgets values so the next deploy generates new ones; returns the names that existed.
    pub(super) fn rotate(&mut self, names: &[String]) -> Vec<String> {
        let gone: Vec<String> = names.iter().filter(|n| self.sealed.remove(*n).is_some()).cloned().collect();
        self.dirty |= !gone.is_empty();
        gone
    }

    pub(super) fn save(&mut self) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        if !self.dirty {
            return Ok(());
        }
        std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new(".")))?;
        let tmp = self.path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&self.sealed)?)?;
        std::fs::rename(&tmp, &self.path)?;
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
pub(super) fn capture_and_apply(env: &DokkuEnv, props: &Props, app: &str, dir: &Path, files: &[PathBuf], revision: &Revision<'_>, wait: bool) -> anyhow::Result<()> {
    let source = source_dir(env, app);
    let previous = source.with_extension("prev");
    let _ = std::fs::remove_dir_all(&previous);
    if source.exists() {
        std::fs::rename(&source, &previous).with_context(|| format!("cannot move `{}` aside", source.display()))?;
    }
    let restore = || {
        let _ = std::fs::remove_dir_all(&source);
        if previous.exists() {
            let _ = std::fs::rename(&previous, &source);
        }
    };
    if let Err(e) = copy_tree(dir, &source) {
        restore();
        return Err(e).with_context(|| format!("cannot capture the source into `{}`", source.display()));
    }
    let files: Vec<PathBuf> = files.iter().filter_map(|f| f.strip_prefix(dir).ok()).map(|f| source.join(f)).collect();
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
        let loaded = load(&source, files, app, props, config)?;
        let mut run = run_args(env, props, app)?;
        run.wait = wait;
        let req = crate::cli::apply_cmd::request(&run, loaded.json, app, source.clone(), rev, crate::exec::releases::ReleaseKind::Apply, message)?;
        crate::cli::apply_cmd::execute(&req, false)?;
        Ok(())
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
