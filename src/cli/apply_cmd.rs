//! `dokku-compose apply | releases | diff | rollback`: run a plan against the `dokku` on
//! `PATH` (a host, or the Dokku sandbox), and work with the release history.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::exec::apply::stack_dir;
use crate::exec::executor::{ExecOptions, DEFAULT_CONCURRENCY};
use crate::exec::releases::{ReleaseKind, ReleaseStore};
use crate::exec::runner::DuctRunner;
use crate::exec::secrets::HostKey;
use crate::model::{ConvertOptions, StackName};
use crate::plan::PlanSettings;
use crate::policy::Policy;
use crate::report::{self, Style};
use crate::workflow::{apply, ApplyReport, ApplyRequest};

/// Where stacks keep their lock, journal, releases and saved build contexts.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DataArgs {
    /// Data directory (default: `$DOKKU_COMPOSE_DATA_DIR`, else `$DOKKU_LIB_ROOT/data/compose`)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The data directory.
    pub(crate) fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        if let Some(d) = std::env::var_os("DOKKU_COMPOSE_DATA_DIR") {
            return Ok(d.into());
        }
        if let Some(d) = std::env::var_os("DOKKU_LIB_ROOT") {
            return Ok(PathBuf::from(d).join("data/compose"));
        }
        anyhow::bail!("no data directory: pass `--data-dir DIR` (or set DOKKU_COMPOSE_DATA_DIR)")
    }
}

/// How an apply runs.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Allow a setting the security policy refuses by default (repeatable)
    #[arg(long = "allow", value_name = "RULE")]
    pub allow: Vec<String>,
    /// Services applied at once
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Abort and roll back when the whole apply takes longer (seconds)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Stop a single Dokku command after this long (seconds)
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub step_timeout: u64,
    /// Wait for another apply of the stack to finish instead of failing
    #[arg(long)]
    pub wait: bool,
    /// Destroy the apps of services that left the compose file
    #[arg(long)]
    pub prune: bool,
    /// With --prune: also destroy this datastore service (compose name) and its data, if it left the file
    #[arg(long = "destroy-datastore", value_name = "SERVICE")]
    pub destroy_datastores: Vec<String>,
    /// Print the plan against the host's current state and stop
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy hooks directory in the project (`pre/` and `post/` inside)
    #[arg(long, default_value = "deploy.d")]
    pub hooks_dir: String,
    /// Stop a deploy hook after this long (seconds)
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub hook_timeout: u64,
    /// The environment secrets read (default: this process's); the plugin gives the stack
    /// app's config.
    #[arg(skip)]
    pub environment: Option<std::collections::BTreeMap<String, String>>,
    /// The plugin's confinement to the pushed tree (issue #13); off-server, none.
    #[arg(skip)]
    pub jail: Option<crate::confine::Jail>,
    /// The run-wide cache of host-wide reads (`compose:projects:apply`'s stacks).
    #[arg(skip)]
    pub host_wide: Option<crate::exec::host_wide::HostWide>,
    /// The Dokku host's private address datastores are exposed on for a stack on k3s
    /// (issue 21; the plugin's `k3s-datastore-address` property).
    #[arg(long, value_name = "IPV4")]
    pub k3s_datastore_address: Option<String>,
    /// The command that applies the stack where this runs (`dokku compose:up <stack>` on the
    /// server), so advice names flags of a command that takes them; off-server, none.
    #[arg(skip)]
    pub up_command: Option<String>,
    /// The loader's warnings, printed with the plan's (the plugin loads the project itself).
    #[arg(skip)]
    pub load_warnings: Vec<String>,
    /// Paths into expanded lists -> as written, for the plan's warnings
    /// ([`crate::compose::Loaded::written_paths`]).
    #[arg(skip)]
    pub written_paths: std::collections::BTreeMap<String, String>,
    /// The vault password, when the caller has it already (the plugin's stored one).
    #[arg(skip)]
    pub vault_password: Option<crate::vault::VaultPassword>,
    /// Host names for services with ports and no `domains` (`{service}` filled in per service)
    #[arg(long = "domain-pattern", value_name = "PATTERN")]
    pub domain_pattern: Option<String>,
    /// Most replicas one service may run
    #[arg(long = "max-replicas", value_name = "N", default_value_t = crate::model::Limits::DEFAULT_REPLICAS)]
    pub max_replicas: u32,
    /// Most ports one service may publish (each port of a range counts)
    #[arg(long = "max-ports", value_name = "N", default_value_t = crate::model::Limits::DEFAULT_PORTS)]
    pub max_ports: usize,
    /// Most services one stack may have
    #[arg(long = "max-services", value_name = "N", default_value_t = crate::model::Limits::DEFAULT_SERVICES)]
    pub max_services: usize,
    /// Progress output: Dokku-style text, or one JSON event per line
    #[arg(long = "log-format", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Format of the `--dry-run` plan
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    #[command(flatten)]
    pub data: DataArgs,
}

/// `apply`'s own arguments (the compose files come from the shared loader flags).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ApplyArgs {
    /// Stack name: apps are named `<stack>-<service>` (default: the compose project name)
    #[arg(long)]
    pub stack: Option<String>,
    /// Revision of the pushed source (redeploys build services when it changes)
    #[arg(long, default_value = "")]
    pub source_rev: String,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `releases`, `diff` and `rollback` name a stack.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StackArgs {
    /// The stack
    #[arg(long)]
    pub stack: String,
    #[command(flatten)]
    pub data: DataArgs,
}

fn style() -> Style {
    Style::from_env(
        std::env::var("DOKKU_QUIET_OUTPUT").ok().as_deref(),
        std::env::var("DOKKU_TRACE").ok().as_deref(),
    )
}

fn runner() -> DuctRunner {
    // Changes an apply makes are its own: the plugin's change triggers do not record them
    // (triggers/app-changed, docs/performance.md).
    DuctRunner {
        dokku: std::env::var_os("DOKKU_COMPOSE_DOKKU_BIN").map(PathBuf::from),
        env: vec![(crate::exec::known::APPLYING_VAR.to_owned(), "1".to_owned())],
    }
}

pub(crate) fn request(
    run: &RunArgs,
    compose: serde_json::Value,
    stack: &str,
    project_dir: PathBuf,
    source_rev: String,
    kind: ReleaseKind,
    message: String,
) -> anyhow::Result<ApplyRequest> {
    let policy =
        Policy::from_names(run.allow.iter().map(String::as_str)).map_err(anyhow::Error::msg)?;
    let stack = StackName::parse(stack).map_err(anyhow::Error::msg)?;
    Ok(ApplyRequest {
        data_dir: run.data.resolve()?,
        compose,
        convert: ConvertOptions {
            stack,
            project_dir: project_dir.display().to_string(),
        },
        policy,
        limits: crate::model::Limits {
            replicas: run.max_replicas,
            ports: run.max_ports,
            services: run.max_services,
        },
        settings: PlanSettings {
            source_rev,
            domain_pattern: run.domain_pattern.clone(),
            ..PlanSettings::default()
        },
        exec: ExecOptions {
            concurrency: run.concurrency.max(1),
            step_timeout: Some(Duration::from_secs(run.step_timeout)),
            apply_timeout: run.timeout.map(Duration::from_secs),
        },
        wait: run.wait,
        source_dir: project_dir,
        prune: run.prune,
        destroy_datastores: run
            .destroy_datastores
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        kind,
        message,
        dry_run: run.dry_run,
        hooks_dir: run.hooks_dir.clone(),
        hook_timeout: Duration::from_secs(run.hook_timeout),
        environment: run
            .environment
            .clone()
            .unwrap_or_else(|| std::env::vars().collect()),
        vault_password: run.vault_password.clone(),
        log_format: run.log_format.clone(),
        jail: run.jail.clone(),
        host_wide: run.host_wide.clone(),
        kube: crate::exec::kube::KubeSettings {
            datastore_address: run.k3s_datastore_address.clone(),
        },
    })
}

/// `text` with the stack's source directory (where the server reads a push) written as the
/// repository paths the pusher knows: `<source>/compose.yaml` is `compose.yaml`.
pub(crate) fn repo_relative(text: &str, source: Option<&std::path::Path>) -> String {
    let Some(source) = source else {
        return text.to_owned();
    };
    let root = source.display().to_string();
    if root.is_empty() || root == "/" {
        return text.to_owned();
    }
    text.replace(&format!("{root}/"), "").replace(&root, ".")
}

/// Runs `req`; `run` gives the plan's format and where advice points.
pub(crate) fn execute(req: &ApplyRequest, run: &RunArgs) -> anyhow::Result<ApplyReport> {
    let json_plan = run.format == "json";
    let cancel = Arc::new(AtomicBool::new(false));
    crate::platform::cancel_on_signals(&cancel).context("cannot install the signal handlers")?;
    let style = style();
    let json_log = req.log_format == "json";
    let report = apply(req, &runner(), &cancel, &|e| {
        if json_log {
            report::emit_json(e)
        } else {
            report::emit(e, style)
        }
    });
    // What this stack changed on the host is read again by the run's next stacks.
    if let Some(h) = &req.host_wide {
        match &report {
            Ok(r) => h.invalidate(Some(r.plan.steps.iter().map(|s| &s.run))),
            Err(_) => h.invalidate(None::<Vec<&crate::dokku::Cmd>>),
        }
    }
    let report = report?;
    print_recovered(report.recovered.as_ref());
    // Warnings are shown with every plan and with every apply that changes the stack; a push
    // that changes nothing is silent, so they do not repeat on every push (issue #15 item 18).
    if req.dry_run || report.outcome.is_some() || report.release.is_some() {
        let source = req.jail.as_ref().map(|_| req.source_dir.as_path());
        for w in run.load_warnings.iter().cloned().chain(
            report
                .plan
                .warnings
                .iter()
                .map(|w| report::as_written(w, &run.written_paths)),
        ) {
            eprintln!("{}", report::fail(&repo_relative(&w, source)));
        }
    }
    for k in &report.kept {
        let k = match &run.up_command {
            Some(up) => k.replace("`--prune", &format!("`{up} --prune")),
            None => k.clone(),
        };
        eprintln!(" !     {k}");
    }
    if req.dry_run {
        if !json_plan && !report.hooks.is_empty() {
            println!("# deploy hooks that run with this plan:");
            for h in &report.hooks {
                println!("#   {h}");
            }
        }
        if json_plan {
            println!("{}", serde_json::to_string_pretty(&report.plan.to_json())?);
        } else {
            print!("{}", report.plan);
        }
    } else if let Some(rel) = &report.release {
        if !style.quiet && !json_log {
            println!("=====> Release v{} of stack {}", rel.id, req.convert.stack);
        }
    }
    Ok(report)
}

/// Runs a teardown (`compose:down`): the plan for a dry run, else its progress as an apply's.
pub(crate) fn run_down(req: &crate::workflow::teardown::DownRequest) -> anyhow::Result<()> {
    let cancel = Arc::new(AtomicBool::new(false));
    crate::platform::cancel_on_signals(&cancel).context("cannot install the signal handlers")?;
    let style = style();
    let report =
        crate::workflow::teardown::down(req, &runner(), &cancel, &|e| report::emit(e, style))?;
    print_recovered(report.recovered.as_ref());
    if !req.dry_run {
        for e in &report.plan.kube {
            let (kind, _, name) = e.key();
            println!(
                "{}",
                report::verbose(&format!("deleted {kind}/{name} from the cluster"))
            );
        }
    }
    for k in &report.kept {
        println!("{}", report::verbose(k));
    }
    if req.dry_run {
        print!("{}", report.plan);
    }
    Ok(())
}

fn print_recovered(recovered: Option<&crate::exec::apply::Recovered>) {
    if let Some(r) = recovered {
        eprintln!(
            " !     finished the rollback of an interrupted {} (pid {}): {} step(s) undone",
            r.what, r.pid, r.steps
        );
        for f in &r.undo_failures {
            eprintln!(" !     undo of `{}` failed: {}", f.step, f.error);
        }
    }
}

/// `apply`: the project was loaded by the caller (normalised JSON and project directory).
pub(crate) fn run_apply(
    args: &ApplyArgs,
    compose: serde_json::Value,
    name: &str,
    project_dir: PathBuf,
) -> anyhow::Result<()> {
    let stack = args.stack.clone().unwrap_or_else(|| name.to_owned());
    let req = request(
        &args.run,
        compose,
        &stack,
        project_dir,
        args.source_rev.clone(),
        ReleaseKind::Apply,
        "apply".into(),
    )?;
    execute(&req, &args.run).map(|_| ())
}

fn store(args: &StackArgs) -> anyhow::Result<ReleaseStore> {
    let dir = stack_dir(&args.data.resolve()?, &args.stack);
    if !dir.releases().exists() {
        anyhow::bail!(
            "stack `{}` has no releases in `{}`",
            args.stack,
            dir.dir().display()
        );
    }
    let key = HostKey::load_or_create(&dir.key())?;
    Ok(ReleaseStore::open(&dir.releases(), key)?)
}

/// `recover`: finishes the rollback an interrupted apply left, and says what it did.
pub(crate) fn run_recover(args: &StackArgs) -> anyhow::Result<()> {
    let style = style();
    match crate::exec::apply::recover_stack(&args.data.resolve()?, &args.stack, &runner(), &|e| {
        report::emit(e, style)
    })? {
        Some(r) => eprintln!(
            " !     finished the rollback of an interrupted {} (pid {}): {} step(s) undone",
            r.what, r.pid, r.steps
        ),
        None => println!("stack `{}` has no interrupted apply", args.stack),
    }
    Ok(())
}

/// `releases`: newest first.
pub(crate) fn run_releases(args: &StackArgs, json: bool) -> anyhow::Result<()> {
    let list = store(args)?.list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!("=====> {} releases", args.stack);
    for r in list {
        let rev = if r.source_rev.is_empty() {
            "-".to_owned()
        } else {
            r.source_rev.chars().take(12).collect()
        };
        println!(
            "v{:<5} {}  {:<8} {:<12} {} service(s)  {}",
            r.id, r.time, r.kind, rev, r.services, r.message
        );
    }
    Ok(())
}

/// `diff`: between two releases (default: the one before the latest, and the latest).
pub(crate) fn run_diff(args: &StackArgs, from: Option<u64>, to: Option<u64>) -> anyhow::Result<()> {
    let s = store(args)?;
    let latest = s.latest()?.context("no releases yet")?.id;
    let to = to.unwrap_or(latest);
    let from = from.unwrap_or(to.saturating_sub(1).max(1));
    let d = s.diff(from, to)?;
    if d.is_empty() {
        println!("=====> v{from} and v{to} are the same");
    } else {
        println!("=====> v{from} -> v{to}");
        print!("{d}");
    }
    Ok(())
}

/// `rollback`: re-applies an earlier release (default: the one before the latest).
pub(crate) fn run_rollback(
    args: &StackArgs,
    run: &RunArgs,
    to: Option<u64>,
    project_dir: PathBuf,
) -> anyhow::Result<()> {
    let s = store(args)?;
    let latest = s.latest()?.context("no releases yet")?;
    let to = match to {
        Some(t) => t,
        None => latest
            .id
            .checked_sub(1)
            .filter(|t| *t > 0)
            .context("there is no earlier release to roll back to")?,
    };
    let info = s.info(to)?;
    let compose = s.compose(to)?;
    drop(s);
    let mut req = request(
        run,
        compose,
        &args.stack,
        project_dir,
        info.source_rev,
        ReleaseKind::Rollback { to },
        format!("rollback to v{to}"),
    )?;
    // The sources that release read: its build contexts come from the archives saved then.
    req.settings.source_digests =
        crate::exec::apply::release_sources(&stack_dir(&args.data.resolve()?, &args.stack), to);
    execute(&req, run).map(|_| ())
}
