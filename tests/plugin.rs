//! The Dokku plugin end to end in the sandbox (issue #6): `plugin:install` from a repository,
//! `git push` of real stacks, and every `dokku compose:*` subcommand, asserted through the
//! sandbox's own commands. Names follow style R18: "(compose:up) …" as test names allow.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{
    assert_repush_up_to_date, copy_dir, git, mutating, plugin_bin, plugin_repo, push_ok,
    push_refused,
};
pub(crate) use crate::support::{commit, push, text, Host};

pub(crate) const STACK: &str = "services:
  web:
    image: nginx:1.27
    ports: [\"80:80\"]
    environment:
      API_URL: http://api:8080
      GREETING: ${GREETING:-hello}
    depends_on: [api]
  api:
    build: ./api
    command: [\"serve\", \"--port\", \"8080\"]
    environment:
      DATABASE_URL: postgres://postgres:pw-in-compose@db:5432/app
    depends_on:
      db:
        condition: service_started
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: pw-in-compose
      POSTGRES_DB: app
";

/// [`STACK`] with its web service privileged (which the security policy refuses).
pub(crate) fn privileged_stack() -> String {
    STACK.replace(
        "image: nginx:1.27",
        "image: nginx:1.27\n    privileged: true",
    )
}

/// Commits `stack` with the web image moved to `nginx:1.28`, an image the sandbox makes fail
/// its checks: the push's deploy step fails.
pub(crate) fn commit_unhealthy_web(h: &Host, dir: &Path, stack: &str) {
    std::fs::write(
        h.path().join("lib/sandbox/images.json"),
        r#"{"nginx:1.28": {"unhealthy": true}}"#,
    )
    .unwrap();
    commit(
        dir,
        "compose.yaml",
        &stack.replace("nginx:1.27", "nginx:1.28"),
    );
}

pub(crate) fn stack_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("compose.yaml", STACK),
        ("api/Dockerfile", "FROM python:3.12\nCOPY . /app\n"),
        ("api/app.py", "print('hi')\n"),
    ]
}

#[test]
fn install_lays_out_the_plugin_and_help_follows_dokku() {
    let h = Host::new();
    let dir = h.path().join("lib/plugins/available/compose");
    for name in [
        "commands",
        "subcommands/up",
        "subcommands/down",
        "post-extract",
        "builder-build",
        "post-delete",
        "uninstall",
    ] {
        assert!(dir.join(name).exists(), "{name} is laid out");
    }
    // Idempotent: every later plugin install runs our install trigger again.
    h.succeeds(&["plugin:install"]);
    let help = text(&h.dokku(&["help"]));
    assert!(
        help.contains("compose") && help.contains("Deploy docker-compose stacks"),
        "{help}"
    );
    let all = text(&h.dokku(&["help", "--all"]));
    assert!(all.contains("compose:up <app>"), "{all}");
    let ph = h.dokku(&["compose:help"]);
    assert!(ph.status.success());
    let ph = String::from_utf8_lossy(&ph.stdout);
    assert!(ph.starts_with("Usage: dokku compose[:COMMAND]\n\n"), "{ph}");
    // `commands` answers 10, silently, for commands that are not ours.
    let c = Command::new(dir.join("commands"))
        .arg("apps:list")
        .env("DOKKU_NOT_IMPLEMENTED_EXIT", "10")
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(10));
    assert!(c.stdout.is_empty() && c.stderr.is_empty());
    let o = h.dokku(&["nope:x"]);
    assert!(text(&o).contains("`nope:x` is not a dokku command"));
}

#[test]
fn install_builds_with_cargo_when_nothing_prebuilt_fits() {
    // A stand-in `cargo` records its arguments and produces the binary where cargo would.
    let dir = tempfile::tempdir().unwrap();
    let repo = plugin_repo(dir.path());
    let fake = dir.path().join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    let script = format!(
        "#!/usr/bin/env bash\necho \"$@\" >> {log}\nmkdir -p \"$CARGO_TARGET_DIR/release\"\ncp {bin} \"$CARGO_TARGET_DIR/release/dokku-compose-plugin\"\ncp {bin} \"$CARGO_TARGET_DIR/release/dokku-compose-webhook\"\n",
        log = dir.path().join("cargo.log").display(),
        bin = plugin_bin().display()
    );
    std::fs::write(fake.join("cargo"), script).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(fake.join("cargo")).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(
        fake.join("cargo"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let lib = dir.path().join("lib");
    let run = || {
        Command::new(repo.join("install"))
            .env(
                "PATH",
                format!("{}:{}", fake.display(), std::env::var("PATH").unwrap()),
            )
            .env("DOKKU_LIB_ROOT", &lib)
            .env_remove("DOKKU_COMPOSE_PREBUILT")
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(dir.path().join("cargo.log")).unwrap();
    assert!(
        log.contains("build --quiet --release --locked --manifest-path")
            && log.contains("--bin dokku-compose-plugin --bin dokku-compose-webhook"),
        "{log}"
    );
    assert!(
        repo.join("bin/dokku-compose-webhook").exists(),
        "the webhook receiver is installed beside the plugin"
    );
    assert!(repo.join("bin/dokku-compose-plugin").exists() && repo.join("subcommands/up").exists());
    assert!(lib.join("data/compose").is_dir());
    // Built from this revision already: the next run does not build again.
    let o = run();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("cargo.log"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    // Without cargo and without a binary, a clear error.
    std::fs::remove_dir_all(repo.join("bin")).unwrap();
    let o = Command::new(repo.join("install"))
        .env("PATH", "/usr/bin:/bin")
        .env("DOKKU_LIB_ROOT", &lib)
        .env_remove("DOKKU_COMPOSE_PREBUILT")
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("cargo not found"),
        "{}",
        text(&o)
    );
}

#[test]
fn git_push_deploys_the_stack_and_an_unchanged_push_changes_nothing() {
    let h = Host::new();
    let files = stack_files();
    let dir = h.repo("shop", &files);
    let out = push_ok(&dir);
    assert!(out.contains("Release v1 of stack shop"), "{out}");
    let apps = h.json(&["apps:list", "--format", "json"]);
    for app in ["shop", "shop-web", "shop-api"] {
        assert!(
            apps.as_array().unwrap().iter().any(|a| a == app),
            "{app} in {apps}"
        );
    }
    assert_eq!(h.report("ps", "shop-web")["deployed"], "true");
    assert_eq!(h.report("ps", "shop-api")["deployed"], "true");
    assert_eq!(
        h.report("ps", "shop")["deployed"],
        "false",
        "the stack app itself runs nothing"
    );
    assert!(text(&h.dokku(&["postgres:links", "shop-db"])).contains("shop-api"));
    let web = h.config("shop-web");
    assert_eq!(web["GREETING"], "hello");
    // The stack app's own config feeds interpolation.
    h.succeeds(&["config:set", "--no-restart", "shop", "GREETING=bonjour"]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    push_ok(&dir);
    assert_eq!(h.config("shop-web")["GREETING"], "bonjour");
    // Unchanged: no mutating command for the service apps.
    assert_repush_changes_nothing(&h, &dir);
}

#[test]
fn a_bad_push_is_rejected_and_the_previous_release_keeps_serving() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    let sha = text(&h.dokku(&["git:report", "shop", "--git-sha"]));
    let web_before = h.config("shop-web");
    // Invalid compose: rejected with the loader's error, nothing changed.
    commit(
        &dir,
        "compose.yaml",
        &STACK.replace("ports: [\"80:80\"]", "ports: [\"80:80:80:80\"]"),
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("services.web.ports") && out.contains("App build failed"),
        "{out}"
    );
    // A policy violation: rejected, naming the key.
    commit(&dir, "compose.yaml", &privileged_stack());
    let out = push_refused(&dir);
    assert!(out.contains("privileged"), "{out}");
    // A failing deploy (the new web image fails its checks): rolled back.
    commit_unhealthy_web(&h, &dir, &STACK.replace("${GREETING:-hello}", "changed"));
    let out = push_refused(&dir);
    assert!(
        out.contains("failed checks") && out.contains("rolling back"),
        "{out}"
    );
    assert_eq!(
        text(&h.dokku(&["git:report", "shop", "--git-sha"])),
        sha,
        "the branch stays where it was"
    );
    assert_eq!(h.config("shop-web"), web_before);
    let releases = h.json(&["compose:releases", "shop", "--format", "json"]);
    assert_eq!(
        releases.as_array().unwrap().len(),
        1,
        "failed pushes are no release"
    );
    // compose:up from the captured source is the last good push.
    let out = h.succeeds(&["compose:up", "shop"]);
    assert!(out.contains("up to date"), "{out}");
    // The report counts the applies that ran: the first push, and the deploy that rolled back
    // (invalid files and policy violations stop before anything runs).
    let r = h.report("compose", "shop");
    assert_eq!(r["compose-success-rate"], "1/2 (50%)", "{r}");
    assert!(
        r["compose-last-failure"]
            .as_str()
            .unwrap()
            .ends_with("at web/deploy"),
        "{r}"
    );
    assert!(
        r["compose-last-apply"]
            .as_str()
            .unwrap()
            .contains("failed in "),
        "{r}"
    );
}

#[test]
fn a_push_without_compose_file_behaves_as_without_the_plugin() {
    let h = Host::new();
    let dir = h.repo("plain", &[("Dockerfile", "FROM python:3.12\n")]);
    let out = push_ok(&dir);
    assert!(out.contains("Application deployed"), "{out}");
    assert_eq!(
        text(&h.dokku(&["builder:report", "plain", "--builder-selected"])).trim(),
        ""
    );
    assert_eq!(h.report("ps", "plain")["deployed"], "true");
    // An app that became a stack and then drops its compose file gets its builder back.
    let dir = h.repo("was", &stack_files());
    // The remote may already have created it; either way it exists afterwards.
    let _ = h.dokku(&["apps:create", "was"]);
    h.succeeds(&["apps:exists", "was"]);
    h.succeeds(&["builder:set", "was", "selected", "dockerfile"]);
    assert!(push(&dir).0);
    assert_eq!(
        text(&h.dokku(&["builder:report", "was", "--builder-selected"])).trim(),
        "compose"
    );
    git(&dir, &["rm", "-q", "compose.yaml"]);
    commit(&dir, "Dockerfile", "FROM python:3.12\n");
    let out = push_ok(&dir);
    assert!(out.contains("Application deployed"), "{out}");
    assert_eq!(
        text(&h.dokku(&["builder:report", "was", "--builder-selected"])).trim(),
        "dockerfile"
    );
}

#[test]
fn subcommands_report_set_ps_status_list_logs_run() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    // set / report, Dokku's property conventions.
    let out = h.succeeds(&["compose:set", "shop", "concurrency", "2"]);
    assert!(out.contains("-----> Setting concurrency to 2"), "{out}");
    h.fails(&["compose:set", "shop", "concurrency", "many"]);
    h.fails(&["compose:set", "shop", "nope", "1"]);
    assert_eq!(
        h.dokku(&["compose:set", "ghost", "concurrency", "2"])
            .status
            .code(),
        Some(20)
    );
    h.succeeds(&["compose:set", "--global", "step-timeout", "600"]);
    let r = h.report("compose", "shop");
    assert_eq!(r["compose-concurrency"], "2");
    assert_eq!(r["compose-computed-step-timeout"], "600");
    assert_eq!(r["compose-release"], "v1");
    assert_eq!(
        text(&h.dokku(&["compose:report", "shop", "--compose-computed-concurrency"])).trim(),
        "2"
    );
    assert!(text(&h.dokku(&["compose:report", "shop"])).contains("=====> shop compose information"));
    // ps: every service as expected, exit 0; a stopped service makes it exit 1.
    let ps = h.json(&["compose:ps", "shop", "--format", "json"]);
    assert!(
        ps.as_array().unwrap().iter().all(|s| s["ok"] == true),
        "{ps}"
    );
    h.succeeds(&["ps:stop", "shop-api"]);
    let o = h.dokku(&["compose:ps", "shop"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("api") && text(&o).contains("(!)"));
    assert_eq!(h.dokku(&["compose:status"]).status.code(), Some(1));
    h.succeeds(&["ps:start", "shop-api"]);
    assert_eq!(h.dokku(&["compose:status"]).status.code(), Some(0));
    let list = h.json(&["compose:list", "--format", "json"]);
    assert_eq!(list[0]["stack"], "shop");
    assert_eq!(list[0]["state"], "ok");
    // run and logs reach the service's app.
    std::fs::write(
        h.path().join("lib/sandbox/images.json"),
        r#"{"nginx:1.27": {"run_output": "ran in web", "run_exit": 3, "logs": ["web log line"]}}"#,
    )
    .unwrap();
    let o = h.dokku(&["compose:run", "shop", "web", "nginx", "-t"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("ran in web"));
    let o = h.dokku(&["compose:logs", "shop", "web"]);
    assert!(text(&o).contains("web log line"), "{}", text(&o));
    h.fails(&["compose:run", "shop", "nope", "x"]);
    assert_eq!(h.dokku(&["compose:ps", "ghost"]).status.code(), Some(20));
}

#[test]
fn up_from_stdin_plan_config_releases_diff_rollback() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    let plan = text(&h.dokku(&["compose:plan", "shop"]));
    assert!(
        plan.contains("0 step(s)")
            || plan.contains("nothing to change")
            || plan.contains("plan for stack"),
        "{plan}"
    );
    let config: Value =
        serde_json::from_slice(&h.dokku(&["compose:config", "shop"]).stdout).unwrap();
    assert!(config["services"]["web"].is_object());
    // compose:up --file - applies a compose file from stdin (build contexts from the push).
    let changed = STACK.replace("nginx:1.27", "nginx:1.27-alpine");
    let o = h.dokku_in(&["compose:up", "shop", "--file", "-"], &changed);
    assert!(o.status.success(), "{}", text(&o));
    let diff = text(&h.dokku(&["compose:diff", "shop"]));
    assert!(
        diff.contains("services.web.image: nginx:1.27 -> nginx:1.27-alpine"),
        "{diff}"
    );
    assert!(
        !diff.contains("pw-in-compose"),
        "secrets are masked: {diff}"
    );
    h.succeeds(&["compose:rollback", "shop"]);
    let releases = h.json(&["compose:releases", "shop", "--format", "json"]);
    assert_eq!(releases[0]["kind"], "rollback");
    assert_eq!(releases.as_array().unwrap().len(), 3);
    let web: Value = serde_json::from_str(
        &std::fs::read_to_string(h.path().join("lib/data/ps/shop-web/sandbox.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        web["source_image"], "nginx:1.27",
        "rolled back to the first release's image"
    );
}

#[test]
fn down_asks_then_destroys_apps_and_keeps_datastores_unless_named() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    let o = h.dokku_in(&["compose:down", "shop"], "wrong\n");
    assert!(
        !o.status.success() && text(&o).contains("Confirmation did not match shop"),
        "{}",
        text(&o)
    );
    h.succeeds(&["apps:exists", "shop-web"]);
    let o = h.dokku_in(&["compose:down", "shop"], "shop\n");
    assert!(o.status.success(), "{}", text(&o));
    h.fails(&["apps:exists", "shop-web"]);
    h.fails(&["apps:exists", "shop-api"]);
    assert!(
        h.dokku(&["postgres:exists", "shop-db"]).status.success(),
        "datastores stay"
    );
    assert!(
        h.dokku(&["apps:exists", "shop"]).status.success(),
        "the stack app stays"
    );
    // Re-deploy, then down --force --datastores takes the datastore too.
    h.succeeds(&["compose:up", "shop"]);
    h.succeeds(&["compose:down", "shop", "--force", "--datastores"]);
    h.fails(&["postgres:exists", "shop-db"]);
}

#[test]
fn deleting_the_stack_app_and_uninstalling_leave_service_apps_and_data() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    let out = h.succeeds(&["apps:destroy", "shop", "--force"]);
    assert!(out.contains("service apps of stack shop remain"), "{out}");
    h.succeeds(&["apps:exists", "shop-web"]);
    assert!(!h.path().join("lib/data/compose/shop").exists());
    // A stack whose builder the plugin selected gets it back on uninstall.
    let dir = h.repo("two", &stack_files());
    assert!(push(&dir).0);
    h.succeeds(&["plugin:uninstall", "compose"]);
    assert_eq!(
        text(&h.dokku(&["builder:report", "two", "--builder-selected"])).trim(),
        ""
    );
    h.succeeds(&["postgres:exists", "two-db"]);
    assert!(
        h.path().join("lib/data/compose/two/releases").exists(),
        "release history is kept"
    );
}

/// (compose:up by git push) Every example of examples/ deploys by `git push`, every service is
/// as expected afterwards (`compose:ps` exits 0), and pushing again changes nothing.
#[test]
fn every_example_deploys_by_git_push() {
    let h = Host::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&examples)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("compose.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let app: String = name
            .replace('_', "-")
            .chars()
            .take(20)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
        let dir = h.path().join(format!("src-{app}"));
        copy_dir(&examples.join(name), &dir);
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "example"]);
        h.succeeds(&[
            "sandbox:git-remote",
            &app,
            "--repo",
            &dir.display().to_string(),
        ]);
        let (ok, out) = push(&dir);
        assert!(
            ok && out.contains(&format!("Release v1 of stack {app}")),
            "{name}: {out}"
        );
        let ps = h.dokku(&["compose:ps", &app]);
        assert_eq!(ps.status.code(), Some(0), "{name}: {}", text(&ps));
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
        let (ok, out) = push(&dir);
        assert!(ok && out.contains("up to date"), "{name}: {out}");
    }
    let list = h.json(&["compose:list", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), names.len());
}

/// (compose:vault-password) The stack's vault password comes from stdin, is stored readable by
/// the dokku user only, and decrypts the pushed repository's vault files at deploy time.
#[test]
fn vault_password_from_stdin_decrypts_pushed_env_files() {
    let h = Host::new();
    let env =
        dokku_compose::vault::encrypt(b"API_TOKEN=pushed-secret-token\n", b"s3same", None).unwrap();
    let compose = "services:\n  api:\n    image: example/app:1\n    env_file: [api.env]\n";
    let dir = h.repo("vlt", &[("compose.yaml", compose), ("api.env", &env)]);
    let out = push_refused(&dir);
    assert!(
        out.contains("no vault password is set (`dokku compose:vault-password <app>`"),
        "{out}"
    );
    let o = h.dokku_in(&["compose:vault-password", "vlt"], "s3same\n");
    assert!(
        o.status.success() && !text(&o).contains("s3same"),
        "{}",
        text(&o)
    );
    let stored = h.path().join("lib/config/compose/vlt/vault-password");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&stored).unwrap().permissions())
            & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !text(&h.dokku(&["compose:report", "vlt"])).contains("s3same"),
        "the report never shows it"
    );
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let out = push_ok(&dir);
    assert!(!out.contains("pushed-secret-token"));
    assert_eq!(h.config("vlt-api")["API_TOKEN"], "pushed-secret-token");
    h.succeeds(&["compose:vault-password", "vlt", "--unset"]);
    assert!(!stored.exists());
}

/// (compose:report) A datastore's backup settings, whose credentials are secrets taken from the
/// stack app's config, are applied on push and shown by the report; the values never are.
#[test]
fn backups_from_secrets_are_applied_and_reported() {
    let h = Host::new();
    let compose = "x-dokku:\n  services:\n    db:\n      backup:\n        schedule: \"15 2 * * *\"\n        bucket: nightly/shop\n        access_key_id: {secret: key}\n        secret_access_key: {secret: secret}\nservices:\n  db:\n    image: postgres:16\n    secrets: [key, secret]\nsecrets:\n  key: {environment: BACKUP_KEY_ID}\n  secret: {environment: BACKUP_SECRET}\n";
    h.succeeds(&["apps:create", "bk"]);
    h.succeeds(&[
        "config:set",
        "--no-restart",
        "bk",
        "BACKUP_KEY_ID=AKIDBACKUP",
        "BACKUP_SECRET=backup-secret-value",
    ]);
    let dir = h.repo("bk", &[("compose.yaml", compose)]);
    let out = push_ok(&dir);
    assert!(!out.contains("backup-secret-value"), "{out}");
    let auth = std::fs::read_to_string(
        h.path()
            .join("lib/services/postgres/bk-db/SANDBOX_BACKUP_AUTH"),
    )
    .unwrap();
    assert_eq!(auth, "AKIDBACKUP backup-secret-value");
    let report = text(&h.dokku(&["compose:report", "bk", "--compose-backups"]));
    assert_eq!(report.trim(), "postgres:bk-db `15 2 * * *` -> nightly/shop");
    assert!(
        !text(&h.dokku(&["compose:report", "bk", "--format", "json"]))
            .contains("backup-secret-value")
    );
}

/// (compose:projects:*) Projects with environments and shared variables, `${{…}}` references
/// resolved at deploy time, the impact of a change, a project-wide redeploy, and stacks made
/// from a project's template.
#[test]
fn projects_variables_and_templates() {
    let h = Host::new();
    let ok = |args: &[&str]| {
        let o = h.dokku(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        text(&o)
    };
    ok(&[
        "compose:projects:create",
        "portal",
        "--environments",
        "staging,production",
    ]);
    assert!(
        !h.dokku(&["compose:projects:create", "portal"])
            .status
            .success(),
        "create is not idempotent"
    );
    ok(&["compose:projects:set-var", "portal", "IMAGE_TAG=1.27"]);
    ok(&[
        "compose:projects:set-var",
        "portal",
        "--environment",
        "staging",
        "GREETING=hello-staging",
    ]);
    ok(&[
        "compose:projects:set-var",
        "--global",
        "REGISTRY=docker.io/library",
    ]);
    // `unset-var` removes what `set-var` set, and only that.
    ok(&["compose:projects:set-var", "portal", "DROPPED=1"]);
    assert!(ok(&["compose:projects:vars", "portal"]).contains("DROPPED"));
    ok(&["compose:projects:unset-var", "portal", "DROPPED"]);
    let vars = ok(&["compose:projects:vars", "portal"]);
    assert!(
        !vars.contains("DROPPED") && vars.contains("IMAGE_TAG"),
        "{vars}"
    );
    h.fails(&[
        "compose:projects:set-var",
        "portal",
        "--environment",
        "qa",
        "X=1",
    ]);
    let compose = "services:\n  web:\n    image: ${{global.REGISTRY}}/nginx:${{project.IMAGE_TAG}}\n    environment:\n      GREETING: ${{environment.GREETING}}\n      PLAIN: ${PLAIN:-kept}\n";
    h.succeeds(&["apps:create", "alice"]);
    ok(&["compose:set", "alice", "project", "portal"]);
    ok(&["compose:set", "alice", "environment", "staging"]);
    h.fails(&["compose:set", "alice", "environment", "qa"]);
    let dir = h.repo("alice", &[("compose.yaml", compose)]);
    let (pushed, out) = push(&dir);
    assert!(pushed, "{out}");
    let web = h.config("alice-web");
    assert_eq!(
        (web["GREETING"].as_str(), web["PLAIN"].as_str()),
        (Some("hello-staging"), Some("kept"))
    );
    let ps: Value = serde_json::from_str(
        &std::fs::read_to_string(h.path().join("lib/data/ps/alice-web/sandbox.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ps["source_image"], "docker.io/library/nginx:1.27");
    // An undefined reference rejects the push, naming file, line and variable.
    commit(
        &dir,
        "compose.yaml",
        &format!("{compose}      MISSING: ${{{{project.NOPE}}}}\n"),
    );
    let (pushed, out) = push(&dir);
    assert!(
        !pushed && out.contains("compose.yaml:7: `${{project.NOPE}}` is not defined"),
        "{out}"
    );
    commit(&dir, "compose.yaml", compose);
    assert!(push(&dir).0);
    // Changing a project variable reports the affected stacks; apply redeploys them.
    let out = ok(&[
        "compose:projects:set-var",
        "portal",
        "IMAGE_TAG=1.27-alpine",
    ]);
    assert!(out.contains("affects alice"), "{out}");
    // It takes each stack's lock (over reading the source and the apply): while a push of
    // `alice` holds it, the project's apply of `alice` waits for it.
    let holder = dokku_compose::exec::lock::StackLock::acquire(
        &h.path().join("lib/data/compose/alice/lock"),
        "alice",
        "a push since test",
        false,
    )
    .unwrap();
    let changes_of_alice = |h: &Host| {
        h.calls()
            .iter()
            .filter(|c| c["argv"].to_string().contains("alice-web") && mutating(c))
            .count()
    };
    let baseline = changes_of_alice(&h);
    let waiting = h
        .cmd()
        .args(["compose:projects:apply", "portal"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        changes_of_alice(&h),
        baseline,
        "nothing of alice changes while its lock is held"
    );
    drop(holder);
    let o = waiting.wait_with_output().unwrap();
    let out = text(&o);
    assert!(
        o.status.success() && out.contains("alice: applied"),
        "{out}"
    );
    let ps: Value = serde_json::from_str(
        &std::fs::read_to_string(h.path().join("lib/data/ps/alice-web/sandbox.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ps["source_image"], "docker.io/library/nginx:1.27-alpine");
    // A template: one stack per user, parameterised by --set.
    let template = "services:\n  app:\n    image: nginx:${{project.IMAGE_TAG}}\n    environment:\n      OWNER: ${OWNER}\n";
    assert!(h
        .dokku_in(&["compose:projects:template", "portal"], template)
        .status
        .success());
    h.succeeds(&[
        "compose:up",
        "bob",
        "--from-template",
        "portal",
        "--set",
        "OWNER=bob",
    ]);
    assert_eq!(h.config("bob-app")["OWNER"], "bob");
    // Listing reads the plugin's files only: no Dokku command runs for it.
    let before = h.calls().len();
    let list = h.json(&["compose:projects:list", "--format", "json"]);
    assert_eq!(h.calls().len() - before, 1, "only the listing call itself");
    let stacks: Vec<&str> = list[0]["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["stack"].as_str())
        .collect();
    assert_eq!(stacks, ["alice", "bob"]);
    assert!(
        !text(&h.dokku(&["compose:projects:vars", "portal"])).contains("1.27"),
        "values are masked without --show"
    );
}

/// (compose:rotate) Generated values are created once, stable across deploys, masked, and new
/// only after `compose:rotate`.
#[test]
fn generated_values_are_stable_until_rotated() {
    let h = Host::new();
    let compose = "services:\n  api:\n    image: example/app:1\n    environment:\n      DB_PASSWORD: ${{generate.DB_PASSWORD:password:24}}\n      SESSION_KEY: ${{generate.SESSION:hex}}\n";
    let dir = h.repo("gen", &[("compose.yaml", compose)]);
    let out = push_ok(&dir);
    let first = h.config("gen-api");
    let pw = first["DB_PASSWORD"].as_str().unwrap().to_owned();
    assert_eq!(
        (pw.len(), first["SESSION_KEY"].as_str().unwrap().len()),
        (24, 64)
    );
    assert!(!out.contains(&pw), "never printed");
    let stored =
        std::fs::read_to_string(h.path().join("lib/data/compose/gen/generated.json")).unwrap();
    assert!(!stored.contains(&pw), "sealed at rest");
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let out = push_ok(&dir);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(h.config("gen-api")["DB_PASSWORD"], pw.as_str());
    h.succeeds(&["compose:rotate", "gen", "DB_PASSWORD"]);
    h.fails(&["compose:rotate", "gen", "NOPE"]);
    h.succeeds(&["compose:up", "gen"]);
    let after = h.config("gen-api");
    assert_ne!(after["DB_PASSWORD"], pw.as_str());
    assert_eq!(
        after["SESSION_KEY"], first["SESSION_KEY"],
        "only the rotated one changes"
    );
}

/// (compose:export, compose:import-apps) A deployed stack exports to a compose file; existing
/// apps named `<stack>-<service>` are adopted into a new stack whose next apply changes nothing.
#[test]
fn export_and_import_apps() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    let o = h.dokku(&["compose:export", "shop"]);
    assert!(o.status.success(), "{}", text(&o));
    let exported: serde_yaml::Value =
        serde_yaml::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    for svc in ["web", "api", "db"] {
        assert!(
            exported["services"][svc].is_mapping(),
            "{svc} in {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    assert!(
        !text(&o).contains("pw-in-compose"),
        "secret values are not exported"
    );
    // An app made by hand, adopted into a stack.
    h.succeeds(&["apps:create", "legacy-web"]);
    h.succeeds(&["ports:set", "legacy-web", "http:80:80"]);
    h.succeeds(&["git:from-image", "legacy-web", "nginx:1.27"]);
    h.succeeds(&["compose:import-apps", "legacy", "legacy-web"]);
    h.succeeds(&["apps:exists", "legacy"]);
    let out = h.succeeds(&["compose:up", "legacy"]);
    assert!(out.contains("up to date"), "{out}");
    // A name that is not `<stack>-<service>` is refused with the name it should have.
    h.succeeds(&["apps:create", "oddname"]);
    let out = h.fails(&["compose:import-apps", "other", "oddname"]);
    assert!(out.contains("other-"), "{out}");
    // Into an existing stack, import-apps adopts (records ownership) and applies nothing;
    // what another stack owns cannot be adopted.
    let out = h.succeeds(&["compose:import-apps", "legacy", "legacy-web"]);
    assert!(
        out.contains("Adopted legacy-web into stack legacy"),
        "{out}"
    );
    let out = h.fails(&["compose:import-apps", "legacy", "shop-web"]);
    assert!(out.contains("belongs to stack `shop`"), "{out}");
}

/// (compose:set domain-pattern, x-dokku letsencrypt) Default host names from a pattern with
/// the host's global domain, and stack-wide Let's Encrypt refused with a clear message until
/// an e-mail exists.
#[test]
fn domain_pattern_and_stack_wide_letsencrypt() {
    let h = Host::new();
    h.succeeds(&["domains:set-global", "example.test"]);
    h.succeeds(&[
        "compose:set",
        "--global",
        "domain-pattern",
        "{service}.{stack}.{global}",
    ]);
    h.fails(&[
        "compose:set",
        "--global",
        "domain-pattern",
        "{service}.{nope}",
    ]);
    let compose = "x-dokku:\n  letsencrypt: true\nservices:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n  api:\n    image: example/api:1\n";
    let dir = h.repo("site", &[("compose.yaml", compose)]);
    let out = push_refused(&dir);
    assert!(
        out.contains("service `web` asks for Let's Encrypt, which needs an e-mail"),
        "{out}"
    );
    h.succeeds(&["letsencrypt:set", "--global", "email", "ops@example.test"]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    push_ok(&dir);
    assert_eq!(
        h.report("domains", "site-web")["app-vhosts"],
        "web.site.example.test"
    );
    assert_eq!(
        text(&h.dokku(&["letsencrypt:active", "site-web"])).trim(),
        "true"
    );
    // No port: the pattern does not apply (Dokku's own default vhost stays, and no proxy runs).
    assert_ne!(
        h.report("domains", "site-api")["app-vhosts"],
        "api.site.example.test"
    );
    assert_repush_up_to_date(&dir);
}

/// (typed variables) Facts of the stack: a service's domain, public and internal URL, a kept
/// free host port, a volume's host path, filled into the compose file at deploy time.
#[test]
fn stack_facts_as_variables() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:8080\"]\n    volumes: [uploads:/data]\n    environment:\n      PUBLIC_URL: ${{stack.web.url}}\n      HOST: ${{stack.web.domain}}\n      API: ${{stack.api.internal_url}}\n      METRICS_PORT: ${{stack.api.port}}\n      UPLOADS: ${{stack.uploads.host_path}}\n  api:\n    image: example/api:1\n    ports: [\"8081:3000\"]\nx-dokku:\n  services:\n    web:\n      domains: [shop.example.test]\nvolumes:\n  uploads: {}\n";
    let dir = h.repo("facts", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let web = h.config("facts-web");
    assert_eq!(web["PUBLIC_URL"], "http://shop.example.test");
    assert_eq!(web["HOST"], "shop.example.test");
    assert_eq!(web["API"], "http://api:3000");
    assert!(
        web["UPLOADS"]
            .as_str()
            .unwrap()
            .ends_with("/lib/data/storage/facts-uploads"),
        "{web}"
    );
    let port: u16 = web["METRICS_PORT"].as_str().unwrap().parse().unwrap();
    assert!(port > 0);
    // Stable across deploys.
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let out = push_ok(&dir);
    assert!(out.contains("up to date"), "{out}");
    // An unknown service or fact is an error naming the file and line.
    commit(
        &dir,
        "compose.yaml",
        &compose.replace("${{stack.api.port}}", "${{stack.nope.port}}"),
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("compose.yaml:10:") && out.contains("there is no service `nope`"),
        "{out}"
    );
}

/// The `docker` arguments the sandbox recorded for `app` (its first container, or its build).
fn docker_args(h: &Host, app: &str, which: &str) -> Vec<String> {
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(h.path().join("lib/data/ps").join(app).join("sandbox.json"))
            .unwrap(),
    )
    .unwrap();
    let v = if which == "build" {
        st["build_args"].clone()
    } else {
        st["containers"][0]["args"].clone()
    };
    serde_json::from_value(v).unwrap()
}

fn has_words(args: &[String], words: &[&str]) -> bool {
    args.windows(words.len())
        .any(|w| w.iter().zip(words).all(|(a, b)| a == b))
}

/// (compose:up by git push) Docker options reach docker, through Dokku's storage and its
/// scheduler's and builder's word splitting (as the sandbox models them), as exactly the
/// flags and values of the compose file: values with spaces and quotes stay one word,
/// negative numbers stay with their flag.
#[test]
fn docker_options_reach_docker_as_one_flag_each() {
    let h = Host::new();
    let compose = "services:
  web:
    image: nginx:1.27
    stop_signal: SIGQUIT
    oom_score_adj: -500
    dns: [\"1.1.1.1\"]
    sysctls:
      net.core.somaxconn: 1024
    cpus: 0.5
  api:
    build:
      context: ./api
      args:
        GREETING: \"hello world and it's $$x\"
    user: \"1000\"
    working_dir: /srv
";
    let dir = h.repo(
        "shop",
        &[
            ("compose.yaml", compose),
            ("api/Dockerfile", "FROM python:3.12\n"),
        ],
    );
    push_ok(&dir);
    let web = docker_args(&h, "shop-web", "deploy");
    for words in [
        &["--stop-signal", "SIGQUIT"][..],
        &["--oom-score-adj=-500"],
        &["--dns", "1.1.1.1"],
        &["--sysctl", "net.core.somaxconn=1024"],
        &["--cpus=0.5"],
        &["nginx:1.27"],
    ] {
        assert!(has_words(&web, words), "{words:?} in {web:?}");
    }
    assert!(
        !web.iter().any(|a| a == "--privileged" || a == "-500"),
        "{web:?}"
    );
    let build = docker_args(&h, "shop-api", "build");
    assert!(
        has_words(&build, &["--build-arg", "GREETING=hello world and it's $x"]),
        "{build:?}"
    );
    let api = docker_args(&h, "shop-api", "deploy");
    assert!(
        has_words(&api, &["--user", "1000"]) && has_words(&api, &["--workdir", "/srv"]),
        "{api:?}"
    );
    // The options are stored in the form Dokku stores them, so the next push plans nothing.
    assert_repush_up_to_date(&dir);
}

/// Issue #13: `build: .` (the compose file inside the build context) deploys, and the service
/// app's own deploy never runs the stack machinery (it did, recursively: every service app
/// became a stack whose service apps became stacks…). A rebuild of the service app stays a
/// Dockerfile build.
#[test]
fn issue_13_build_dot_deploys_and_a_service_app_never_becomes_a_stack() {
    let h = Host::new();
    let compose = "services:\n  web:\n    build: .\n    ports: [\"80:5000\"]\n";
    let dir = h.repo(
        "shop",
        &[
            ("compose.yaml", compose),
            ("Dockerfile", "FROM python:3.12\nCOPY . /app\n"),
            ("app.py", "print('hi')\n"),
        ],
    );
    let out = push_ok(&dir);
    assert_eq!(
        out.matches("Deploying compose stack").count(),
        1,
        "one stack deploy: {out}"
    );
    assert!(
        out.lines().count() < 400,
        "{} lines of output",
        out.lines().count()
    );
    let apps = h.json(&["apps:list", "--format", "json"]);
    let mut names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["shop", "shop-web"], "no nested stack");
    assert_eq!(h.report("ps", "shop-web")["deployed"], "true");
    assert_ne!(
        text(&h.dokku(&["builder:report", "shop-web", "--builder-selected"])).trim(),
        "compose"
    );
    assert!(
        !h.path().join("lib/data/compose/shop-web").exists(),
        "the service app has no stack data"
    );
    let out = h.succeeds(&["ps:rebuild", "shop-web"]);
    assert!(!out.contains("Deploying compose stack"), "{out}");
    // A second push of the same stack is still one stack deploy.
    commit(&dir, "app.py", "print('v2')\n");
    let out = push_ok(&dir);
    assert!(out.matches("Deploying compose stack").count() == 1, "{out}");
}

/// Issue #13: paths of the pushed tree that lead out of it are refused on the server, the
/// refusal names the file, the key and the reason, and the host file's content reaches no
/// app, output or plugin file. The plugin writes nothing into the pushed tree, so a symlink
/// named like its old resolved copy is never written through.
#[test]
fn issue_13_a_push_cannot_read_or_write_outside_its_tree() {
    let h = Host::new();
    let secret = h.path().join("host-secret");
    std::fs::write(&secret, "HOST_SECRET=marker-1f2e3d\n").unwrap();
    let target = h.path().join("host-target");
    std::fs::write(&target, "untouched\n").unwrap();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    env_file: app.env\n    environment:\n      TOKEN: ${{generate.TOKEN:hex}}\n";
    let dir = h.repo("shop", &[("compose.yaml", compose), ("app.env", "A=1\n")]);
    // The old resolved copy's name, as a link to a host file.
    std::os::unix::fs::symlink(&target, dir.join(".compose.yaml.resolved.yaml")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "link"]);
    push_ok(&dir);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    // env_file through a link to a host file.
    std::fs::remove_file(dir.join("app.env")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("app.env")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "leak"]);
    let out = push_refused(&dir);
    assert!(
        out.contains("`services.web.env_file[0]`: `app.env`: `app.env` is a symlink to")
            && out.contains("outside the pushed tree"),
        "{out}"
    );
    assert!(!out.contains("marker-1f2e3d"), "{out}");
    let web = h.config("shop-web");
    assert!(web.get("HOST_SECRET").is_none(), "{web}");
    // A `:ro` bind (copied into the image) and a static directory through links: refused.
    std::fs::remove_file(dir.join("app.env")).unwrap();
    std::fs::write(dir.join("app.env"), "A=1\n").unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("conf")).unwrap();
    commit(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx:1.27\n    volumes: [\"./conf:/etc/app.conf:ro\"]\n",
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("services.web.configs/volumes") && out.contains("`conf` is a symlink to"),
        "{out}"
    );
    // `env_file: /dev/zero` is refused at once instead of read until memory runs out.
    commit(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx:1.27\n    env_file: /dev/zero\n",
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("`services.web.env_file[0]`: `/dev/zero` is outside the pushed tree"),
        "{out}"
    );
    // Files are read up to the operator's `max-file-size`.
    h.succeeds(&["compose:set", "shop", "max-file-size", "100"]);
    commit(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx:1.27\n    env_file: app.env\n",
    );
    let long = "x".repeat(200);
    commit(&dir, "app.env", &format!("GREETING={long}\n"));
    let out = push_refused(&dir);
    assert!(
        out.contains("`services.web.env_file[0]`: `app.env` is larger than 100 bytes"),
        "{out}"
    );
    h.fails(&["compose:set", "shop", "max-file-size", "lots"]);
    h.succeeds(&["compose:set", "shop", "max-file-size", "1024"]);
    push_ok(&dir);
    assert_eq!(h.config("shop-web")["GREETING"], long.as_str());
}

/// Mutating calls (not read-only queries) recorded by the sandbox since call `from`.
fn mutations(h: &Host, from: usize) -> Vec<String> {
    h.calls_since(from)
        .into_iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|a| {
            let argv: Vec<&str> = a.iter().map(String::as_str).collect();
            !dokku_compose::state::is_query(&argv)
                && !matches!(
                    argv.first().copied(),
                    Some("apps:exists" | "git-hook" | "git-receive-pack" | "git-upload-pack")
                        | None
                )
        })
        .map(|a| a.join(" "))
        .collect()
}

/// (git push, issue #13) An existing app or datastore named `<stack>-<service>` that the stack
/// does not own is refused before any change, naming it and `compose:import-apps`; once the
/// operator adopts them, the push deploys.
#[test]
fn takeover_of_existing_apps_and_datastores_is_refused_until_adopted() {
    let h = Host::new();
    h.succeeds(&["apps:create", "shop-web"]);
    h.succeeds(&[
        "config:set",
        "--no-restart",
        "shop-web",
        "TENANT_SECRET=theirs",
    ]);
    h.succeeds(&["postgres:create", "shop-db", "--password", "pw-in-compose"]);
    let before = h.config("shop-web");
    let dir = h.repo("shop", &stack_files());
    let from = h.calls().len();
    let out = push_refused(&dir);
    for want in [
        "stack `shop` does not own 2 thing(s)",
        "`services.web`: app `shop-web` already exists and is not this stack's",
        "dokku compose:import-apps shop shop-web",
        "`services.db`: postgres service `shop-db` already exists",
        "dokku compose:import-apps shop postgres:shop-db",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    assert_eq!(h.config("shop-web"), before);
    assert!(
        !h.dokku(&["apps:exists", "shop-api"]).status.success(),
        "nothing was created"
    );
    let changed: Vec<String> = mutations(&h, from)
        .into_iter()
        .filter(|c| c.contains("shop-"))
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
    // Adopted by the operator: the next push deploys.
    h.succeeds(&[
        "compose:import-apps",
        "shop",
        "shop-web",
        "postgres:shop-db",
    ]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    push_ok(&dir);
    // What `shop` owns cannot be adopted by another stack.
    let out = h.fails(&["compose:import-apps", "other", "postgres:shop-db"]);
    assert!(out.contains("belongs to stack `shop`"), "{out}");
}

/// (git push, issue #13) Domains served by another app, and external networks and volumes of
/// another stack, are refused.
#[test]
fn foreign_domains_networks_and_volumes_are_refused() {
    let h = Host::new();
    let bank = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n    volumes: [vault:/data]\nvolumes:\n  vault: {}\n";
    let dir = h.repo("bank", &[("compose.yaml", bank)]);
    assert!(push(&dir).0);
    h.succeeds(&["apps:create", "blog"]);
    h.succeeds(&["domains:set", "blog", "blog.example.test"]);
    let shop = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n    networks: [theirs]\n    volumes: [loot:/loot]\nnetworks:\n  theirs:\n    external: true\n    name: bank-default\nvolumes:\n  loot:\n    external: true\n    name: bank-vault\nx-dokku:\n  services:\n    web:\n      domains: [blog.example.test]\n";
    let dir = h.repo("shop", &[("compose.yaml", shop)]);
    let out = push_refused(&dir);
    for want in [
        "`services.web.networks`: external network `bank-default` belongs to stack `bank`",
        "`services.web.volumes[0]`: external volume `bank-vault` belongs to stack `bank`",
        "`x-dokku.services.web.domains`: domain `blog.example.test` is already served by app `blog`",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    assert!(
        !h.dokku(&["apps:exists", "shop-web"]).status.success(),
        "nothing was created"
    );
}

/// (git push, issue #13) A host hook runs only when the operator allowed `host-hooks`.
#[test]
fn host_hooks_need_the_operators_allow() {
    let h = Host::new();
    let mark = h.path().join("host-hook-ran");
    let hook = format!(
        "#!/bin/sh\n# dokku-compose: host\ntouch {}\n",
        mark.display()
    );
    let mut files = stack_files();
    files.push(("deploy.d/pre/10-host.sh", hook.as_str()));
    let dir = h.repo("shop", &files);
    let out = push_refused(&dir);
    assert!(
        out.contains("deploy hook `deploy.d/pre/10-host.sh`")
            && out.contains("dokku compose:set shop allow host-hooks"),
        "{out}"
    );
    assert!(!mark.exists() && !h.dokku(&["apps:exists", "shop-web"]).status.success());
    h.succeeds(&["compose:set", "shop", "allow", "host-hooks"]);
    std::fs::set_permissions(
        dir.join("deploy.d/pre/10-host.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "executable"]);
    let out = push_ok(&dir);
    assert!(mark.exists(), "{out}");
}

/// (git push, issue #13) Replicas, published ports and services have limits the operator can
/// raise; over them, the push is refused before any change, naming the key path.
#[test]
fn limits_refuse_and_the_operator_raises_them() {
    let h = Host::new();
    let dir = h.repo(
        "shop",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: nginx:1.27\n    deploy:\n      replicas: 4294967295\n",
        )],
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("`services.web.deploy.replicas`: 4294967295 replicas is over the limit of 20"),
        "{out}"
    );
    commit(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx:1.27\n    ports: [\"1-65535:1-65535\"]\n",
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("`services.web.ports`: 65535 published ports") && out.contains("max-ports"),
        "{out}"
    );
    commit(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx:1.27\n    deploy:\n      replicas: 21\n",
    );
    let out = push_refused(&dir);
    assert!(out.contains("max-replicas"), "{out}");
    h.fails(&["apps:exists", "shop-web"]);
    h.fails(&["compose:set", "shop", "max-replicas", "many"]);
    h.succeeds(&["compose:set", "shop", "max-replicas", "21"]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    push_ok(&dir);
}

/// (git push, issue #13) No secret value is in the argv of any command the push ran: config
/// goes through `config:import` on stdin, datastore passwords through the environment; and
/// `compose:config` masks them unless `--show-secrets`.
#[test]
fn no_secret_in_any_argv_and_config_masks_them() {
    let h = Host::new();
    let mut files = stack_files();
    let compose = format!("{STACK}x-dokku:\n  plain: [POSTGRES_DB]\n");
    files[0] = ("compose.yaml", compose.as_str());
    let dir = h.repo("shop", &files);
    push_ok(&dir);
    let dsn = text(&h.dokku(&["postgres:info", "shop-db", "--dsn"]));
    assert!(
        dsn.contains(":pw-in-compose@"),
        "the datastore got its password through the environment: {dsn}"
    );
    assert!(h.config("shop-api")["DATABASE_URL"]
        .as_str()
        .unwrap()
        .contains("pw-in-compose"));
    // A change of a secret value goes through stdin too, and so does its rollback.
    commit(
        &dir,
        "compose.yaml",
        &compose.replace("pw-in-compose@db", "second-secret@db"),
    );
    assert!(push(&dir).0);
    let calls = h.calls();
    assert!(calls.len() > 20);
    for c in &calls {
        let argv = c["argv"].to_string();
        assert!(
            !argv.contains("pw-in-compose") && !argv.contains("second-secret"),
            "a secret in argv: {argv}"
        );
    }
    assert!(
        calls.iter().any(|c| c["argv"][0] == "config:import"),
        "config went through config:import"
    );
    let shown = text(&h.dokku(&["compose:config", "shop"]));
    assert!(
        !shown.contains("second-secret")
            && shown.contains("********")
            && shown.contains("\"POSTGRES_DB\": \"app\""),
        "{shown}"
    );
    let out = h.succeeds(&["compose:config", "shop", "--show-secrets"]);
    assert!(out.contains("second-secret"), "{out}");
}

/// (git push, compose:diff, issue #13) A secret defined in an `x-*` block and reached through a
/// YAML anchor (examples/django-migrate) is a secret: `compose:diff` and `compose:config` do not
/// print it, and the release store keeps it sealed.
#[test]
fn anchored_secrets_of_extension_blocks_are_never_printed() {
    let h = Host::new();
    let compose = "x-app: &app\n  image: nginx:1.27\n  environment: &env\n    SECRET_KEY: anchored-secret-one\n    MODE: prod\nx-dokku:\n  plain: [MODE]\nservices:\n  web:\n    <<: *app\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    assert!(push(&dir).0);
    commit(
        &dir,
        "compose.yaml",
        &compose.replace("anchored-secret-one", "anchored-secret-two"),
    );
    push_ok(&dir);
    let diff = text(&h.dokku(&["compose:diff", "shop"]));
    assert!(
        diff.contains("x-app.environment.SECRET_KEY: secret changed")
            && !diff.contains("anchored-secret"),
        "{diff}"
    );
    let config = text(&h.dokku(&["compose:config", "shop"]));
    assert!(
        !config.contains("anchored-secret") && config.contains("\"MODE\": \"prod\""),
        "{config}"
    );
    // The release store's plain files (git objects are zlib-compressed: read through git).
    let store = h.path().join("lib/data/compose/shop/releases");
    for file in [
        "compose.json",
        "masked.json",
        "fingerprints.json",
        "plan.json",
    ] {
        let o = git(
            &store,
            &[
                "--git-dir",
                store.to_str().unwrap(),
                "show",
                &format!("releases:{file}"),
            ],
        );
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && !shown.contains("anchored-secret"),
            "{file}: {shown}"
        );
    }
}

/// An empty commit pushed again is "up to date" and runs no mutating command on the stack's
/// apps.
fn assert_repush_changes_nothing(h: &Host, dir: &Path) {
    let before = h.calls().len();
    assert_repush_up_to_date(dir);
    let mutations = stack_mutations(h, before);
    assert!(mutations.is_empty(), "{mutations:#?}");
}

/// `mutating` calls of the sandbox's call log after the `before`th that touch the stack's apps.
fn stack_mutations(h: &Host, before: usize) -> Vec<Value> {
    h.calls_since(before)
        .into_iter()
        .filter(|c| {
            let argv: Vec<&str> = c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            argv.iter().any(|a| a.starts_with("shop-")) && !dokku_compose::state::is_query(&argv)
        })
        .collect()
}

/// (issue #17) What real Dokku shows on the second deploy: `network:list --format json` prints
/// objects (`Name`), and a `host:container` mount is an attachment of a `legacy-<sha1>` entry.
/// A stack with networks, a host path and an external volume re-applies with no change. The
/// policy is set over SSH (`SSH_ORIGINAL_COMMAND`, split as Dokku's `dokku` script does).
#[test]
fn networks_and_host_mounts_reapply_unchanged_on_dokku() {
    let h = Host::new();
    h.succeeds(&["apps:create", "shop"]);
    let o = h.ssh("compose:set shop allow \"host-path\"");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(h.report("compose", "shop")["compose-allow"], "host-path");
    let compose = "services:\n  web:\n    image: nginx:1.27\n    networks: [front, back]\n    volumes:\n      - /srv/shop-data:/data:ro\n      - cache:/cache\nnetworks:\n  front: {}\n  back: {}\nvolumes:\n  cache:\n    external: true\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let mounts = h.json(&["storage:list", "shop-web", "--format", "json"]);
    assert_eq!(mounts.as_array().map(Vec::len), Some(2), "{mounts}");
    assert!(
        mounts.as_array().unwrap().iter().all(|m| m["entry_name"]
            .as_str()
            .is_some_and(|e| e.starts_with("legacy-"))),
        "{mounts}"
    );
    assert_repush_changes_nothing(&h, &dir);
}

/// (issue #17) Dokku's `TriggerPostContainerCreate` joins only the first network of
/// `attach-post-create`: a service on three networks still joins all three (the third through
/// `attach-post-deploy`), and keeps doing so unchanged. `compose:*` over SSH keeps a quoted
/// argument one argument down to `dokku run`.
#[test]
fn every_network_is_joined_and_compose_runs_over_ssh() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    networks: [front, back, extra, more]\nnetworks:\n  front: {}\n  back: {}\n  extra: {}\n  more: {}\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    // The networks the web container joined, sorted.
    let joined = || {
        let state: Value = serde_json::from_str(
            &std::fs::read_to_string(h.path().join("lib/data/ps/shop-web/sandbox.json")).unwrap(),
        )
        .unwrap();
        let mut joined: Vec<String> = state["containers"][0]["networks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        joined.sort_unstable();
        joined
    };
    assert_eq!(
        joined(),
        ["shop-back", "shop-extra", "shop-front", "shop-more"]
    );
    assert_repush_changes_nothing(&h, &dir);
    // Down to three networks: attach-post-deploy is trimmed, every network still joined.
    commit(
        &dir,
        "compose.yaml",
        &compose.replace(", more]", "]").replace("  more: {}\n", ""),
    );
    push_ok(&dir);
    assert_eq!(joined(), ["shop-back", "shop-extra", "shop-front"]);
    let report = h.report("network", "shop-web");
    assert!(
        !report["network-attach-post-deploy"]
            .as_str()
            .unwrap()
            .contains("more"),
        "{report}"
    );
    let o = h.ssh("compose:run shop web echo \"hello world\"");
    assert!(o.status.success(), "{}", text(&o));
    let ran = h
        .calls()
        .into_iter()
        .rev()
        .find(|c| c["argv"][0] == "run")
        .expect("a run call");
    assert!(
        ran["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "hello world"),
        "{ran}"
    );
    let o = h.ssh("compose:ps shop");
    assert!(
        o.status.success() && text(&o).contains("web"),
        "{}",
        text(&o)
    );
}

/// Issue #15 item 4: the `http:80`/`https:443` maps Let's Encrypt adds are part of the desired
/// state; a no-op push keeps them (it ran `ports:set` and dropped them when the published port
/// was not 80).
#[test]
fn issue_15_letsencrypt_port_maps_survive_a_noop_push() {
    let h = Host::new();
    h.succeeds(&["letsencrypt:set", "--global", "email", "ops@example.test"]);
    let compose = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8080:5000\"]\nx-dokku:\n  services:\n    web:\n      domains: [shop.example.test]\n      letsencrypt: true\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let maps = |h: &Host| {
        h.report("ports", "shop-web")["map"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let first = maps(&h);
    assert!(
        first.contains("https:443:5000")
            && first.contains("http:80:5000")
            && first.contains("http:8080:5000"),
        "{first}"
    );
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "noop"]);
    let out = push_ok(&dir);
    assert!(
        out.contains("up to date") && !out.contains("ports:set"),
        "{out}"
    );
    assert_eq!(maps(&h), first);
    // A change of another port keeps them too.
    commit(
        &dir,
        "compose.yaml",
        &compose.replace("[\"8080:5000\"]", "[\"8080:5000\", \"8081:5000\"]"),
    );
    push_ok(&dir);
    let after = maps(&h);
    assert!(
        after.contains("https:443:5000")
            && after.contains("http:80:5000")
            && after.contains("http:8081:5000"),
        "{after}"
    );
}

/// Issue #15 item 8: a port whose protocol is not HTTP (MQTT) and one bound to the loopback
/// address are published by docker (`-p`), not turned into `http:` proxy maps; the HTTP port
/// of the same file goes through the proxy.
#[test]
fn issue_15_non_http_and_loopback_ports_are_published_by_docker() {
    let h = Host::new();
    let compose = "services:\n  broker:\n    image: eclipse-mosquitto:2\n    ports: [\"1883:1883\", \"127.0.0.1:9001:9001\"]\n  web:\n    image: nginx:1.27\n    ports: [\"8080:80\"]\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let broker = docker_args(&h, "shop-broker", "deploy");
    assert!(
        has_words(&broker, &["-p", "1883:1883"])
            && has_words(&broker, &["-p", "127.0.0.1:9001:9001"]),
        "{broker:?}"
    );
    let maps = h.report("ports", "shop-broker");
    assert!(
        !maps["map"].as_str().unwrap_or_default().contains("http:"),
        "{maps}"
    );
    assert_eq!(h.report("ports", "shop-web")["map"], "http:8080:80");
    assert_repush_up_to_date(&dir);
}

/// Issue #15 item 17: drift of what the stack owns is converged: a mount removed from the
/// file is unmounted, and a service stopped by hand is started by the next `compose:up`.
#[test]
fn issue_15_removed_mounts_and_stopped_services_are_converged() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n    volumes: [uploads:/data, cache:/cache]\nvolumes:\n  uploads: {}\n  cache: {}\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let mounts = |h: &Host| text(&h.dokku(&["storage:list", "shop-web"]));
    assert!(mounts(&h).contains("/cache"), "{}", mounts(&h));
    commit(&dir, "compose.yaml", &compose.replace(", cache:/cache", ""));
    push_ok(&dir);
    let now = mounts(&h);
    assert!(!now.contains("/cache") && now.contains("/data"), "{now}");
    h.succeeds(&["ps:stop", "shop-web"]);
    assert_eq!(h.report("ps", "shop-web")["running"], "false");
    let out = h.succeeds(&["compose:up", "shop"]);
    assert!(!out.contains("up to date"), "{out}");
    assert_eq!(h.report("ps", "shop-web")["running"], "true");
    h.succeeds(&["compose:ps", "shop"]);
}

/// The file `path` of the tree `app` was last deployed from.
fn deployed_file(h: &Host, app: &str, path: &str) -> Option<String> {
    let o = Command::new("git")
        .arg("--git-dir")
        .arg(h.path().join("home").join(app))
        .args(["show", &format!("refs/heads/master:{path}")])
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Issue #15 item 5: a source bind mount follows each push (it was a storage entry seeded
/// once), and a bound file stays a file.
#[test]
fn issue_15_source_binds_follow_each_push_and_files_stay_files() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n    volumes: [\"./src:/code/src\", \"./conf/app.ini:/etc/app.ini:ro\"]\n";
    let dir = h.repo(
        "shop",
        &[
            ("compose.yaml", compose),
            ("src/app.py", "print('v1')\n"),
            ("conf/app.ini", "[app]\n"),
        ],
    );
    let out = push_ok(&dir);
    assert!(
        out.contains("services.web.volumes[0]"),
        "the read-write bind is warned about: {out}"
    );
    assert_eq!(
        deployed_file(&h, "shop-web", "files/code/src/app.py").as_deref(),
        Some("print('v1')\n")
    );
    assert_eq!(
        deployed_file(&h, "shop-web", "files/etc/app.ini").as_deref(),
        Some("[app]\n"),
        "a file stays a file"
    );
    commit(&dir, "src/app.py", "print('v2')\n");
    push_ok(&dir);
    assert_eq!(
        deployed_file(&h, "shop-web", "files/code/src/app.py").as_deref(),
        Some("print('v2')\n")
    );
    let mounts = text(&h.dokku(&["storage:list", "shop-web"]));
    assert!(!mounts.contains("/code/src"), "{mounts}");
}

/// Issue #15 item 10: what the plan needs from the pushed tree is checked before the first
/// change, with the key path: a missing bind source, a build context without its Dockerfile,
/// a context outside the tree. And the sandbox's Dockerfile build fails without a Dockerfile,
/// as Dokku's does.
#[test]
fn issue_15_missing_sources_are_refused_before_any_change() {
    let h = Host::new();
    for (stack, compose, key) in [
        (
            "one",
            "services:\n  web:\n    image: nginx:1.27\n    volumes: [\"./missing:/code\"]\n",
            "services.web",
        ),
        (
            "two",
            "services:\n  web:\n    build: ./api\n",
            "services.web.build.dockerfile",
        ),
        (
            "three",
            "services:\n  web:\n    build: ..\n",
            "services.web.build.context",
        ),
    ] {
        let dir = h.repo(
            stack,
            &[("compose.yaml", compose), ("api/app.py", "print('hi')\n")],
        );
        let (ok, out) = push(&dir);
        assert!(!ok && out.contains(key), "{stack}: {out}");
        let apps = h.json(&["apps:list", "--format", "json"]);
        assert!(
            !apps
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str() == Some(&format!("{stack}-web"))),
            "{stack}: nothing created: {apps}"
        );
    }
    h.succeeds(&["apps:create", "plain"]);
    h.succeeds(&["builder:set", "plain", "selected", "dockerfile"]);
    let dir = h.repo("plain", &[("app.py", "print('hi')\n")]);
    let out = push_refused(&dir);
    assert!(out.contains("App build failed"), "{out}");
}

/// What a pusher sees of the remote: the `remote: ` lines, with durations and digests made
/// stable, so a golden holds the whole text (nothing repeated, nothing server-internal).
fn remote_text(out: &str) -> String {
    let lines = out
        .lines()
        .filter_map(|l| l.strip_prefix("remote: "))
        .map(str::trim_end)
        .filter(|l| !l.is_empty());
    lines.map(stable).collect::<Vec<_>>().join("\n")
}

/// `0.3s` as `N.Ns`, `sha256:<hex>` as `sha256:…`.
fn stable(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if let Some(hex) = rest.strip_prefix("sha256:") {
            let n = hex.chars().take_while(char::is_ascii_hexdigit).count();
            out.push_str("sha256:…");
            rest = &hex[n..];
            continue;
        }
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let prev_is_word = out
            .chars()
            .last()
            .is_some_and(|p| p.is_ascii_alphanumeric());
        if digits > 0 && !prev_is_word && rest[digits..].starts_with('.') {
            let frac = rest[digits + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            if frac > 0 && rest[digits + 1 + frac..].starts_with('s') {
                out.push_str("N.Ns");
                rest = &rest[digits + 2 + frac..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// (issue #15, item 11) Services with `replicas: 0` or `scale: 0` are deployed scaled to zero:
/// `compose:ps` and `compose:status` expect them stopped and exit 0 right after the deploy.
#[test]
fn issue_15_ps_and_status_expect_replicas_zero_stopped() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n  worker:\n    image: example/api:1\n    deploy:\n      replicas: 0\n  other:\n    image: example/api:1\n    scale: 0\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let o = h.dokku(&["compose:ps", "shop"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ps = h.json(&["compose:ps", "shop", "--format", "json"]);
    for (svc, expected) in [
        ("web", "running"),
        ("worker", "stopped"),
        ("other", "stopped"),
    ] {
        let s = ps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == svc)
            .unwrap();
        assert_eq!(
            (s["expected"].as_str(), s["actual"].as_str()),
            (Some(expected), Some(expected)),
            "{ps}"
        );
    }
    assert_eq!(h.dokku(&["compose:status"]).status.code(), Some(0));
}

/// (issue #15, items 12 and 15) Release names round-trip: what `compose:releases` prints is
/// what `compose:diff` and `compose:rollback` take; after a rollback, `compose:up` keeps the
/// rolled-back release instead of re-applying the push it left.
#[test]
fn issue_15_release_names_round_trip_and_up_keeps_a_rollback() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    commit(
        &dir,
        "compose.yaml",
        &STACK.replace("nginx:1.27", "nginx:1.28"),
    );
    assert!(push(&dir).0);
    let listing = text(&h.dokku(&["compose:releases", "shop"]));
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with('v'))
        .collect();
    assert_eq!(names, ["v2", "v1"], "{listing}");
    let out = h.succeeds(&["compose:diff", "shop", names[1], names[0]]);
    assert!(
        out.contains("services.web.image: nginx:1.27 -> nginx:1.28"),
        "{out}"
    );
    assert!(
        h.dokku(&["compose:diff", "shop", "1", "2"])
            .status
            .success(),
        "bare numbers still work"
    );
    let out = h.fails(&["compose:diff", "shop", "latest"]);
    assert!(
        out.contains("`latest` is not a release") && out.contains("`v3`"),
        "{out}"
    );
    h.succeeds(&["compose:rollback", "shop", names[1]]);
    let image = || -> Value {
        serde_json::from_str::<Value>(
            &std::fs::read_to_string(h.path().join("lib/data/ps/shop-web/sandbox.json")).unwrap(),
        )
        .unwrap()["source_image"]
            .clone()
    };
    assert_eq!(image(), "nginx:1.27");
    let out = h.succeeds(&["compose:up", "shop"]);
    assert!(
        out.contains("stands on a rollback to v1") && out.contains("up to date"),
        "{out}"
    );
    assert_eq!(
        image(),
        "nginx:1.27",
        "compose:up keeps the rolled-back release"
    );
    assert_eq!(
        h.json(&["compose:releases", "shop", "--format", "json"])
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing changed: no release"
    );
    // The next push deploys the repository again.
    commit(
        &dir,
        "compose.yaml",
        &STACK.replace("nginx:1.27", "nginx:1.29"),
    );
    assert!(push(&dir).0);
    assert_eq!(image(), "nginx:1.29");
}

/// (issue #15, item 13) `COMPOSE_FILE` of the repository's `.env` names the compose files, as
/// `docker compose` and the off-server `plan` read it; an absolute name is refused.
#[test]
fn issue_15_compose_file_from_the_repository_dotenv() {
    let h = Host::new();
    let files = [
        (
            ".env",
            "COMPOSE_FILE=deploy/app.yml;deploy/extra.yml\nCOMPOSE_PATH_SEPARATOR=;\n",
        ),
        (
            "deploy/app.yml",
            "services:\n  web:\n    image: nginx:1.27\n",
        ),
        (
            "deploy/extra.yml",
            "services:\n  worker:\n    image: example/api:1\n",
        ),
    ];
    let dir = h.repo("envf", &files);
    let out = push_ok(&dir);
    assert!(out.contains("Deploying compose stack envf"), "{out}");
    h.succeeds(&["apps:exists", "envf-web"]);
    h.succeeds(&["apps:exists", "envf-worker"]);
    assert_eq!(
        h.report("ps", "envf")["deployed"],
        "false",
        "not deployed as a plain app"
    );
    commit(&dir, ".env", "COMPOSE_FILE=/etc/passwd\n");
    let out = push_refused(&dir);
    assert!(
        out.contains(".env: `COMPOSE_FILE` names `/etc/passwd`, outside the pushed tree"),
        "{out}"
    );
}

/// (issue #15, item 15) After `apps:destroy <stack>` the hint names commands that work: the
/// stack app is gone, so `compose:down` cannot.
#[test]
fn issue_15_destroying_the_stack_app_names_commands_that_work() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    let o = h.dokku(&["apps:destroy", "shop", "--force"]);
    let out = text(&o);
    assert!(o.status.success() && !out.contains("compose:down"), "{out}");
    let commands: Vec<Vec<&str>> = out
        .lines()
        .filter_map(|l| l.trim_start_matches(" !").trim().strip_prefix("dokku "))
        .map(|c| c.split_whitespace().collect())
        .collect();
    assert_eq!(commands.len(), 2, "{out}");
    for c in commands {
        let o = h.dokku(&c);
        assert!(o.status.success(), "{c:?}: {}", text(&o));
    }
    h.fails(&["apps:exists", "shop-web"]);
    h.fails(&["apps:exists", "shop-api"]);
}

/// (issue #15, item 14) Plan and push agree: a kept datastore's advice names the flags that
/// remove it (the advice ends once followed), "up to date" is never followed by work, and the
/// Let's Encrypt e-mail warning goes once the host has the e-mail.
#[test]
fn issue_15_advice_ends_and_up_to_date_means_nothing_ran() {
    let h = Host::new();
    // A datastore leaves the file: kept with its data, and the advice names the flags that
    // remove it.
    let web = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\n    environment:\n      API_URL: http://api:8080\n      GREETING: ${GREETING:-hello}\n";
    let api = "  api:\n    build: ./api\n    command: [\"serve\", \"--port\", \"8080\"]\n";
    let full = format!("{web}{api}  cache:\n    image: redis:7\n");
    let dir = h.repo(
        "shop",
        &[
            ("compose.yaml", full.as_str()),
            ("api/Dockerfile", "FROM python:3.12\n"),
        ],
    );
    push_ok(&dir);
    h.succeeds(&["redis:exists", "shop-cache"]);
    commit(&dir, "compose.yaml", &format!("{web}{api}"));
    let out = push_ok(&dir);
    assert!(!out.contains("up to date"), "{out}");
    let advice = "redis service `shop-cache` (service `cache`) is no longer in the compose file and was kept with its data; `dokku compose:up shop --prune --destroy-datastore cache` destroys it and its data";
    assert!(out.contains(advice), "{out}");
    let out = h.succeeds(&[
        "compose:up",
        "shop",
        "--prune",
        "--destroy-datastore",
        "cache",
    ]);
    assert!(!out.contains("was kept"), "{out}");
    h.fails(&["redis:exists", "shop-cache"]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let (ok, out) = push(&dir);
    assert!(
        ok && out.contains("up to date") && !out.contains("was kept"),
        "the advice does not come back: {out}"
    );
    // `api` leaves: nothing else changes, so the apply runs no command, then prunes; neither
    // is announced as "up to date", nor as steps "for 0 services".
    commit(&dir, "compose.yaml", web);
    let out = push_ok(&dir);
    assert!(!out.contains("up to date"), "{out}");
    assert!(out.contains("app `shop-api` (service `api`) is no longer in the compose file and was kept; `dokku compose:up shop --prune` removes it"), "{out}");
    let o = h.dokku(&["compose:up", "shop", "--prune"]);
    let up = text(&o);
    assert!(
        o.status.success()
            && !up.contains("up to date")
            && !up.contains("for 0 services")
            && up.contains("Applying stack shop: 1 step\n"),
        "{up}"
    );
    h.fails(&["apps:exists", "shop-api"]);
    // Let's Encrypt with the host's global e-mail: no warning about the e-mail.
    h.succeeds(&["letsencrypt:set", "--global", "email", "ops@example.test"]);
    commit(&dir, "compose.yaml", "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"]\nx-dokku:\n  services:\n    web:\n      letsencrypt: true\n      domains: [a.example.test]\n");
    let out = push_ok(&dir);
    assert!(!out.contains("letsencrypt_email"), "{out}");
}

/// (issue #15, item 18) The whole text of a push the policy refuses: the key path, the fix
/// that works on the server, and what the refusal means, once each.
#[test]
fn issue_15_golden_refused_push() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    h.succeeds(&["compose:set", "shop", "allow", "devices"]);
    commit(&dir, "compose.yaml", &privileged_stack());
    let out = push_refused(&dir);
    assert_eq!(
        remote_text(&out),
        "-----> Deploying compose stack shop
 !     the security policy refuses 1 setting(s):
 !       `services.web.privileged`: would run the container with `--privileged` (allow with `dokku compose:set shop allow devices,privileged`)
 !     Push refused before any change: stack shop keeps running its previous release
 !     App build failed"
    );
    // A file that is not YAML: the repository's path, not the server's.
    commit(&dir, "compose.yaml", "services:\n  web: [\n");
    let out = push_refused(&dir);
    assert_eq!(
        remote_text(&out),
        "-----> Deploying compose stack shop
 !     failed to load the compose project
 !     failed to parse compose.yaml: yaml: line 3: did not find expected node content
 !     Push refused before any change: stack shop keeps running its previous release
 !     App build failed"
    );
}

/// (issue #15, item 18) The whole text of a push whose step fails: the error once, the
/// rollback, the outcome.
#[test]
fn issue_15_golden_failed_step() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push(&dir).0);
    commit_unhealthy_web(&h, &dir, STACK);
    let out = push_refused(&dir);
    assert_eq!(
        remote_text(&out).replace(&h.path().display().to_string(), "<root>"),
        "-----> Deploying compose stack shop
=====> Applying stack shop: 2 steps for 1 service
-----> web: 2 steps
       web/config: dokku config:set --no-restart shop-web DOKKU_COMPOSE_DIGEST=sha256:…
       web/deploy: dokku git:from-archive --archive-type tar shop-web --
 !     web/deploy failed: `dokku git:from-archive --archive-type tar shop-web --` exited with status 1:
 !     Could not start due to 1 failed checks (web.1)
 !     rolling back 3 completed step(s)
       undo web/config: dokku config:set --no-restart shop-web DOKKU_COMPOSE_DIGEST=sha256:…
       undo ownership: restore `<root>/lib/data/compose/shop/ownership.json`
       undo web/deploy: dokku git:from-archive --archive-type tar shop-web --
       undo web/deploy: dokku ps:rebuild shop-web
 !     apply failed after N.Ns; the previous release keeps serving
 !     App build failed"
    );
}

/// (issue #15, item 18) Warnings are shown with a push that changes the stack, not again on
/// every push that changes nothing.
#[test]
fn issue_15_warnings_print_once_per_change() {
    let h = Host::new();
    let compose = STACK.replace("image: nginx:1.27", "image: nginx:1.27\n    deploy:\n      placement:\n        constraints: [node.role==manager]");
    let dir = h.repo(
        "shop",
        &[
            ("compose.yaml", compose.as_str()),
            ("api/Dockerfile", "FROM python:3.12\n"),
            ("api/app.py", ""),
        ],
    );
    let out = push_ok(&dir);
    assert!(out.contains("services.web.deploy.placement"), "{out}");
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let out = push_ok(&dir);
    assert!(
        out.contains("up to date") && !out.contains("placement"),
        "{out}"
    );
    // `compose:plan` always shows them.
    assert!(text(&h.dokku(&["compose:plan", "shop"])).contains("services.web.deploy.placement"));
}
