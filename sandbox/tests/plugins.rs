//! Plugin host, trigger and `git push` facts (dokku-facts.md §a, §b, §c).

use std::path::{Path, PathBuf};

use crate::support::{git, repo, Sandbox};

const TRIGGERS: &[&str] = &[
    "install",
    "uninstall",
    "update",
    "post-create",
    "core-post-extract",
    "post-extract",
    "builder-detect",
    "pre-receive-app",
    "pre-build",
    "post-build",
    "builder-build",
    "pre-release-builder",
    "post-release-builder",
    "post-deploy",
    "deploy-source-set",
    "post-config-update",
    "pre-delete",
    "post-delete",
    "custom-x",
    "receive-app",
];

/// A plugin repo that records every trigger call into `$DOKKU_LIB_ROOT/rec.log` and fails a
/// trigger when `$DOKKU_LIB_ROOT/fail-<trigger>` exists.
fn recorder(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("dokku-{name}"));
    let rec = format!(
        "#!/usr/bin/env bash\nt=$(basename \"$0\")\necho \"{name} $t $*\" >> \"$DOKKU_LIB_ROOT/rec.log\"\n[[ -e \"$DOKKU_LIB_ROOT/fail-{name}-$t\" ]] && exit 1\n[[ \"$t\" == install ]] && echo \"{name} config $CONFIG_GREETING\" >> \"$DOKKU_LIB_ROOT/rec.log\"\n[[ \"$t\" == post-deploy && -e \"$DOKKU_LIB_ROOT/nested\" ]] && dokku config:set --no-restart \"$1\" FROM_TRIGGER=1 >/dev/null\nexit 0\n"
    );
    let commands = format!(
        "#!/usr/bin/env bash\ncase \"$1\" in\n  {name}:hello) echo \"hello $*\" ;;\n  {name}:boom) exit 3 ;;\n  help) if [[ \"$(ps -o command= $PPID)\" == *--all* ]]; then echo \"    {name}:hello <x>, Say hello\"; else echo \"    {name}, Records triggers\"; fi ;;\n  *) exit 10 ;;\nesac\n"
    );
    let toml = format!("[plugin]\ndescription = \"recorder {name}\"\nversion = \"0.1.0\"\n[plugin.config]\ngreeting = \"hi\"\n");
    let sub = "#!/usr/bin/env bash\necho \"sub argv: $*\"\n".to_string();
    let mut files: Vec<(String, String)> = TRIGGERS
        .iter()
        .map(|t| ((*t).to_string(), rec.clone()))
        .collect();
    files.push(("commands".into(), commands));
    files.push(("plugin.toml".into(), toml));
    files.push(("subcommands/sub".into(), sub));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    repo(&path, &refs);
    path
}

fn log(s: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(s.lib().join("rec.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn install(s: &Sandbox, name: &str) -> PathBuf {
    let src = recorder(s.root(), name);
    s.run(&["plugin:install", &format!("file://{}", src.display())])
        .ok();
    src
}

#[test]
fn plugin_install_clones_enables_and_runs_every_install_trigger() {
    let s = Sandbox::new();
    install(&s, "aa");
    std::fs::remove_file(s.lib().join("rec.log")).expect("log");
    let src = recorder(s.root(), "rec");
    let url = format!("file://{}", src.display());
    let r = s.run(&["plugin:install", &url]);
    r.ok();
    assert!(r.stdout.contains(&format!(
        "-----> Cloning plugin repo {url} to {}",
        s.lib().join("plugins/available/rec").display()
    )));
    assert!(r.stdout.contains("-----> Plugin rec enabled"));
    let l = log(&s);
    assert!(
        l.contains(&"aa install ".to_string()),
        "install runs for every enabled plugin: {l:?}"
    );
    assert!(l.contains(&"rec install ".to_string()));
    assert!(
        l.contains(&"rec config hi".to_string()),
        "CONFIG_* from [plugin.config]: {l:?}"
    );
    assert!(std::fs::read_link(s.lib().join("plugins/enabled/rec"))
        .expect("symlink")
        .ends_with("../available/rec"));
    s.run(&["plugin:installed", "rec"]).ok();
    assert_eq!(s.run(&["plugin:installed", "nope"]).code, 1);
    let again = s.run(&["plugin:install", &url]);
    again.fails(1, " !     Plugin already enabled");
    assert!(again.stderr.contains("Plugin 'rec' is already installed."));
    s.run(&["plugin:install", "/not/a/url"])
        .fails(1, " !     First argument must be --core or url to plugin");
    let list = s.json(&["plugin:list", "--format", "json"]);
    assert_eq!(list[1]["name"], "rec");
    assert_eq!(list[1]["version"], "0.1.0");
    assert_eq!(list[1]["enabled"], true);
    assert_eq!(list[1]["source_url"], url.as_str());
    s.run(&["plugin:disable", "rec"]).ok();
    assert!(s
        .run(&["plugin:list"])
        .stdout
        .contains("  rec                  0.1.0 disabled   recorder rec\n"));
    s.run(&["plugin:disable", "rec"])
        .fails(1, " !     Plugin already disabled");
    s.run(&["plugin:enable", "ghost"])
        .fails(1, " !     Plugin does not exist");
    s.run(&["plugin:enable", "rec"]).ok();
    let other = recorder(&s.root().join("elsewhere"), "rec");
    s.run(&["plugin:install", &format!("file://{}", other.display())]).fails(1, "Plugin 'rec' is already installed, but with a different url. To install anyway, uninstall it first.");
}

#[test]
fn plugin_name_flag_and_uninstall_trigger_for_all() {
    let s = Sandbox::new();
    install(&s, "aa");
    let src = recorder(s.root(), "rec");
    s.run(&[
        "plugin:install",
        &format!("file://{}", src.display()),
        "--name",
        "other",
    ])
    .ok();
    s.run(&["plugin:installed", "other"]).ok();
    s.run(&["plugin:uninstall", "other"]).ok();
    let l = log(&s);
    assert!(l.contains(&"aa uninstall other".to_string()), "{l:?}");
    assert!(
        l.contains(&"rec uninstall other".to_string()),
        "the plugin's own uninstall runs before removal"
    );
    assert!(!s.lib().join("plugins/available/other").exists());
    s.run(&["plugin:uninstall", "other"])
        .fails(1, "Plugin (other) is not currently installed");
    s.run(&["plugin:update", "bad name"])
        .fails(1, "Invalid plugin name specified");
    s.run(&["plugin:update", "ghost"])
        .fails(1, "Specified plugin not enabled or installed");
    s.run(&["plugin:update", "aa"]).ok();
    assert!(log(&s).contains(&"aa update ".to_string()));
}

#[test]
fn dispatch_subcommands_then_commands_loop() {
    let s = Sandbox::new();
    install(&s, "aa");
    install(&s, "rec");
    assert_eq!(
        s.run(&["rec:sub", "x", "y"]).stdout,
        "sub argv: rec:sub x y\n",
        "$1 is the full plugin:cmd"
    );
    assert_eq!(
        s.run(&["rec:hello", "a"]).stdout,
        "hello rec:hello a\n",
        "aa's commands exits 10, rec's handles it"
    );
    assert_eq!(
        s.run(&["rec:boom"]).code,
        3,
        "any other exit aborts with that code"
    );
    s.run(&["rec:nothing"])
        .fails(1, "`rec:nothing` is not a dokku command.");
    let help = s.run(&["help"]);
    assert!(help.stdout.contains("Community plugin commands:"));
    assert!(help.stdout.contains("rec") && help.stdout.contains("Records triggers"));
    let all = s.run(&["help", "--all"]).stdout;
    assert!(
        all.contains("rec:hello <x>") && all.contains("Say hello"),
        "long form chosen from the parent's --all: {all}"
    );
}

#[test]
fn trigger_semantics_order_stop_and_non_executable() {
    let s = Sandbox::new();
    install(&s, "aa");
    install(&s, "rec");
    s.write("lib/fail-aa-custom-x", "");
    let r = s.run(&["plugin:trigger", "custom-x", "1", "2"]);
    assert_eq!(r.code, 1);
    let l = log(&s);
    assert!(l.contains(&"aa custom-x 1 2".to_string()));
    assert!(
        !l.iter().any(|x| x.starts_with("rec custom-x")),
        "stops at the first failure: {l:?}"
    );
    std::fs::remove_file(s.lib().join("fail-aa-custom-x")).expect("rm");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        s.lib().join("plugins/available/aa/custom-x"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let r = s.run(&["plugin:trigger", "custom-x"]);
    r.ok();
    assert!(r
        .stderr
        .contains("Trigger 'custom-x' is not executable, skipping plugin (aa)"));
    // The sandbox also answers as `plugn trigger …` through its PATH shim.
    let shim = s.lib().join("sandbox/bin/plugn");
    let o = std::process::Command::new(&shim)
        .env("DOKKU_SANDBOX_ROOT", s.root())
        .args(["trigger", "custom-x", "via-plugn"])
        .output()
        .expect("plugn");
    assert!(o.status.success());
    assert!(log(&s).contains(&"rec custom-x via-plugn".to_string()));
}

fn app_repo(s: &Sandbox, app: &str, dockerfile: &str) -> PathBuf {
    let dir = s.root().join(format!("src-{app}"));
    repo(
        &dir,
        &[
            ("Dockerfile", dockerfile),
            ("Procfile", "web: serve\nworker: work\n"),
        ],
    );
    s.run(&[
        "sandbox:git-remote",
        app,
        "--repo",
        &dir.display().to_string(),
    ])
    .ok();
    dir
}

fn push(dir: &Path) -> std::process::Output {
    std::process::Command::new("git")
        .current_dir(dir)
        .args(["push", "dokku", "main"])
        .output()
        .expect("git push")
}

#[test]
fn git_push_auto_creates_and_runs_the_trigger_sequence() {
    let s = Sandbox::new();
    install(&s, "rec");
    std::fs::remove_file(s.lib().join("rec.log")).expect("log");
    let dir = app_repo(&s, "web", "FROM python:3.12\n");
    let o = push(&dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("remote: -----> Set main as deploy-branch"),
        "{err}"
    );
    assert!(err.contains("remote: =====> Application deployed:"));
    let sha = String::from_utf8_lossy(&git(&dir, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    let names: Vec<String> = log(&s)
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
        .collect();
    // The first post-config-update is the domains plugin's NO_VHOST=1 (no global domain), fired
    // inside post-create before community plugins; the second is GIT_REV.
    let expected = [
        "post-config-update",
        "post-create",
        "post-config-update",
        "post-extract",
        "builder-detect",
        "pre-receive-app",
        "pre-build",
        "post-build",
        "builder-build",
        "pre-release-builder",
        "post-release-builder",
        "post-deploy",
        "deploy-source-set",
    ];
    assert_eq!(
        names, expected,
        "core-post-extract only reaches core plugins"
    );
    let l = log(&s);
    assert!(l.contains(&format!("rec deploy-source-set web git-push {sha}")));
    assert!(
        l.contains(&format!("rec pre-build dockerfile web {}", ""))
            || l.iter()
                .any(|x| x.starts_with("rec pre-build dockerfile web "))
    );
    assert!(
        l.contains(&"rec post-deploy web   latest".to_string()),
        "post-deploy gets empty port and ip and the tag: {l:?}"
    );
    assert!(
        l.contains(&"rec pre-release-builder dockerfile web dokku/web:latest".to_string()),
        "release triggers get the image: {l:?}"
    );
    assert_eq!(s.run(&["config:get", "web", "GIT_REV"]).stdout.trim(), sha);
    let ps = s.json(&["ps:report", "web", "--format", "json"]);
    assert_eq!(ps["deployed"], "true");
    assert_eq!(ps["processes"], "1", "web=1, worker=0 by default");
    assert_eq!(
        s.run(&["git:report", "web", "--git-sha"]).stdout.trim(),
        sha
    );
}

#[test]
fn failed_deploy_rejects_the_push_and_keeps_the_branch() {
    let s = Sandbox::new();
    install(&s, "rec");
    let dir = app_repo(&s, "web", "FROM python:3.12\n");
    assert!(push(&dir).status.success());
    let old = s.run(&["git:report", "web", "--git-sha"]).stdout;
    // post-extract failure does not stop the deploy.
    s.write("lib/fail-rec-post-extract", "");
    std::fs::write(dir.join("a.txt"), "1").expect("write");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "two"]);
    assert!(
        push(&dir).status.success(),
        "post-extract failure is ignored"
    );
    let mid = s.run(&["git:report", "web", "--git-sha"]).stdout;
    assert_ne!(mid, old);
    // pre-build failure stops it: push rejected, branch unchanged.
    s.write("lib/fail-rec-pre-build", "");
    std::fs::write(dir.join("a.txt"), "2").expect("write");
    git(&dir, &["commit", "-qam", "three"]);
    let o = push(&dir);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("App build failed") && err.contains("pre-receive hook declined"),
        "{err}"
    );
    assert_eq!(s.run(&["git:report", "web", "--git-sha"]).stdout, mid);
    // An unhealthy image fails the health checks, same outcome.
    std::fs::remove_file(s.lib().join("fail-rec-pre-build")).expect("rm");
    s.write(
        "lib/sandbox/images.json",
        r#"{"python:3.13": {"unhealthy": true}}"#,
    );
    std::fs::write(dir.join("Dockerfile"), "FROM python:3.13\n").expect("write");
    git(&dir, &["commit", "-qam", "four"]);
    let o = push(&dir);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("failed checks (web.1)"));
    assert_eq!(s.run(&["git:report", "web", "--git-sha"]).stdout, mid);
}

/// plugins/common/functions `dokku_build` and `release_and_deploy`: a community builder
/// selected with `builder:set` gets `builder-build <type> <app> <dir>` (core builders fire no
/// pre-build for it); its failure rejects the push with "App build failed"; when it leaves no
/// image (`fn-verify-app-image`), release and deploy are skipped and the push succeeds.
#[test]
fn a_community_builder_gets_builder_build_and_no_image_skips_the_deploy() {
    let s = Sandbox::new();
    install(&s, "rec");
    let dir = app_repo(&s, "stack", "FROM python:3.12\n");
    s.run(&["apps:create", "stack"]).ok();
    s.run(&["builder:set", "stack", "selected", "mybuilder"])
        .ok();
    std::fs::remove_file(s.lib().join("rec.log")).expect("log");
    let o = push(&dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let l = log(&s);
    assert!(
        l.iter()
            .any(|x| x.starts_with("rec builder-build mybuilder stack /")),
        "{l:?}"
    );
    let names: Vec<&str> = l
        .iter()
        .map(|x| x.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert!(
        !names.contains(&"pre-build")
            && !names.contains(&"pre-release-builder")
            && !names.contains(&"post-deploy"),
        "{names:?}"
    );
    assert!(names.contains(&"deploy-source-set"), "{names:?}");
    assert!(!err.contains("Application deployed"), "{err}");
    assert_eq!(
        s.json(&["ps:report", "stack", "--format", "json"])["deployed"],
        "false"
    );
    // A failing builder-build rejects the push.
    s.write("lib/fail-rec-builder-build", "");
    std::fs::write(dir.join("a.txt"), "2").expect("write");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "two"]);
    let before = s.run(&["git:report", "stack", "--git-sha"]).stdout;
    let o = push(&dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("App build failed"),
        "{err}"
    );
    assert_eq!(s.run(&["git:report", "stack", "--git-sha"]).stdout, before);
}

#[test]
fn pushing_another_branch_after_deploy_branch_is_set_warns() {
    let s = Sandbox::new();
    let dir = app_repo(&s, "web", "FROM x:1\n");
    assert!(push(&dir).status.success());
    git(&dir, &["checkout", "-qb", "feature"]);
    let o = std::process::Command::new("git")
        .current_dir(&dir)
        .args(["push", "dokku", "feature"])
        .output()
        .expect("push");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("WARNING: deploy did not complete, you must push to main."));
    assert!(
        err.contains("for example, try 'git push <dokku> feature:main'"),
        "{err}"
    );
}

#[test]
fn deprecated_pre_deploy_warns_on_every_release() {
    let s = Sandbox::new();
    let src = recorder(s.root(), "old");
    std::fs::write(src.join("pre-deploy"), "#!/usr/bin/env bash\nexit 0\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        src.join("pre-deploy"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-qm", "pre-deploy"]);
    s.run(&["plugin:install", &format!("file://{}", src.display())])
        .ok();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&["git:from-image", "web", "nginx:1"]);
    r.ok();
    assert!(r.stderr.contains(" !     Deprecated: please upgrade plugin to use 'pre-release-builder' plugin trigger instead of pre-deploy"));
}

#[test]
fn from_image_unchanged_fails_and_rollback_on_failure() {
    let s = Sandbox::new();
    install(&s, "rec");
    s.run(&["apps:create", "web"]).ok();
    s.run(&["git:from-image", "ghost", "x"])
        .fails(20, "App ghost does not exist");
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    assert!(log(&s).contains(&"rec deploy-source-set web docker-image nginx:1".to_string()));
    let sha = s.run(&["git:report", "web", "--git-sha"]).stdout;
    s.run(&["git:from-image", "web", "nginx:1"]).fails(1, " !     No changes detected, skipping git commit\n !     Call 'ps:rebuild' on app to rebuild the app from existing source");
    s.write(
        "lib/sandbox/images.json",
        r#"{"nginx:2": {"build_fails": true}}"#,
    );
    s.run(&["git:from-image", "web", "nginx:2"])
        .fails(1, "App build failed");
    assert_eq!(
        s.run(&["git:report", "web", "--git-sha"]).stdout,
        sha,
        "ref rolled back"
    );
    assert_eq!(
        s.json(&["apps:report", "web", "--format", "json"])["deploy-source-metadata"],
        "nginx:1"
    );
    s.run(&["ps:rebuild", "web"]).ok();
    assert!(log(&s).contains(&"rec receive-app web".to_string()));
}

#[test]
fn containers_follow_the_image_catalog() {
    let s = Sandbox::new();
    s.write(
        "lib/sandbox/images.json",
        r#"{"job:1": {"exit": 0, "run_exit": 4, "run_output": "ran"}, "crash:1": {"exit": 2}}"#,
    );
    s.run(&["apps:create", "job"]).ok();
    s.run(&["git:from-image", "job", "job:1"])
        .fails(1, "Could not start due to 1 failed checks (web.1)");
    s.run(&["checks:skip", "job"]).ok();
    s.run(&["git:from-image", "job", "job:1"]).ok();
    let status = s.run(&["ps:report", "job", "--status-web.1"]).stdout;
    assert!(
        status.starts_with("exited (CID: ") && status.len() == "exited (CID: ".len() + 11 + 2,
        "{status}"
    );
    let r = s.run(&["run", "job", "migrate"]);
    assert_eq!((r.code, r.stdout.as_str()), (4, "ran\n"));
    s.run(&["run", "--ttl-seconds", "x", "job", "ls"])
        .fails(1, " !     --ttl-seconds must be a positive integer");
    s.run(&["apps:create", "fresh"]).ok();
    s.run(&["run", "fresh", "ls"])
        .fails(1, "Successfully deploy your app to fix dokku run calls");
    s.run(&["apps:create", "crash"]).ok();
    s.run(&["checks:disable", "crash"]).ok();
    s.run(&["git:from-image", "crash", "crash:1"]).ok();
    assert_eq!(
        s.json(&["ps:report", "crash", "--format", "json"])["running"],
        "false"
    );
    s.run(&["ps:scale", "crash", "web=2", "worker=1"]).ok();
    assert_eq!(
        s.json(&["ps:scale", "crash", "--format", "json"]),
        serde_json::json!([{"process_type": "web", "quantity": 2}, {"process_type": "worker", "quantity": 1}])
    );
    assert_eq!(
        s.json(&["ps:report", "crash", "--format", "json"])["processes"],
        "3"
    );
    s.run(&["ps:scale", "crash", "web"])
        .fails(1, "Missing count for process type web");
    s.run(&["ps:scale", "crash", "web="])
        .fails(1, "Invalid count for process type web");
}

#[test]
fn fault_injection_and_call_log() {
    let s = Sandbox::new();
    install(&s, "rec");
    s.write("lib/sandbox/rules.json", r#"{"faults": [{"match": "apps:create boom*", "exit": 7, "message": "Name is already taken"}, {"deploy": "sick"}]}"#);
    s.run(&["apps:create", "boom"])
        .fails(7, " !     Name is already taken");
    s.run(&["apps:create", "sick"]).ok();
    s.run(&["git:from-image", "sick", "nginx:1"])
        .fails(1, "failed checks");
    let n = s.calls().len() as u64 + 1;
    s.run_env(
        &[("DOKKU_SANDBOX_FAULTS", &format!(r#"[{{"nth": {n}}}]"#))],
        &["apps:list"],
    )
    .fails(1, " !     Injected failure");
    s.run(&["apps:create", "web"]).ok();
    s.write("lib/nested", "");
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    let calls = s.calls();
    let boom = calls
        .iter()
        .find(|c| c["argv"][1] == "boom")
        .expect("boom call");
    assert_eq!(boom["exit"], 7);
    assert!(boom["start"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(boom["duration_ms"].as_f64().is_some());
    let nested = calls
        .iter()
        .find(|c| c["argv"][0] == "config:set" && c["argv"][3] == "FROM_TRIGGER=1")
        .expect("nested call");
    assert_eq!(
        nested["depth"], 1,
        "calls made by plugins during a call are nested"
    );
    let top = calls
        .iter()
        .find(|c| c["argv"] == serde_json::json!(["git:from-image", "web", "nginx:1"]))
        .expect("top call");
    assert_eq!(top["depth"], 0);
    assert!(nested["n"].as_u64() > top["n"].as_u64());
}

#[test]
fn demo_creates_a_usable_sandbox() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("demo");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dokku"))
        .args(["sandbox:demo", &target.display().to_string()])
        .env_remove("DOKKU_SANDBOX_ROOT")
        .output()
        .expect("demo");
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("export DOKKU_SANDBOX_ROOT={}", target.display())),
        "{out}"
    );
    assert!(target.join("lib/sandbox/images.json").exists());
    let o = std::process::Command::new(target.join("lib/sandbox/bin/dokku"))
        .env("DOKKU_SANDBOX_ROOT", &target)
        .args(["apps:create", "demo"])
        .output()
        .expect("create");
    assert!(o.status.success());
}

#[test]
fn no_sandbox_root_refuses_to_run() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dokku"))
        .env_clear()
        .args(["apps:list"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sandbox root not set"));
}

#[test]
fn trigger_failures_have_their_documented_effects() {
    let s = Sandbox::new();
    install(&s, "rec");
    // post-create failure: exit 1, but the app exists (no rollback).
    s.write("lib/fail-rec-post-create", "");
    assert_eq!(s.run(&["apps:create", "web"]).code, 1);
    s.run(&["apps:exists", "web"]).ok();
    std::fs::remove_file(s.lib().join("fail-rec-post-create")).expect("rm");
    // pre-delete failure: destroy aborts, app intact.
    s.write("lib/fail-rec-pre-delete", "");
    assert_eq!(s.run(&["apps:destroy", "web", "--force"]).code, 1);
    s.run(&["apps:exists", "web"]).ok();
    std::fs::remove_file(s.lib().join("fail-rec-pre-delete")).expect("rm");
    // post-deploy failure: reported failed although the containers are live.
    s.write("lib/fail-rec-post-deploy", "");
    assert_eq!(s.run(&["git:from-image", "web", "nginx:1"]).code, 1);
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["running"],
        "true"
    );
    std::fs::remove_file(s.lib().join("fail-rec-post-deploy")).expect("rm");
    // post-delete failure: destroy aborts half-done (containers stopped, app dir still there).
    s.write("lib/fail-rec-post-delete", "");
    assert_eq!(s.run(&["apps:destroy", "web", "--force"]).code, 1);
    s.run(&["apps:exists", "web"]).ok();
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["running"],
        "false"
    );
    std::fs::remove_file(s.lib().join("fail-rec-post-delete")).expect("rm");
    // uninstall failure: the plugin stays.
    s.write("lib/fail-rec-uninstall", "");
    assert_eq!(s.run(&["plugin:uninstall", "rec"]).code, 1);
    s.run(&["plugin:installed", "rec"]).ok();
}

#[test]
fn config_restart_failure_is_only_a_warning() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    s.write(
        "lib/sandbox/rules.json",
        r#"{"faults": [{"deploy": "web"}]}"#,
    );
    let r = s.run(&["config:set", "web", "A=1"]);
    r.ok();
    assert!(
        r.stderr.contains(" !     Failure while restarting app:"),
        "{}",
        r.stderr
    );
}

#[test]
fn rebuild_and_start_edge_cases() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&["ps:rebuild", "web"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("-----> WARNING: Cannot build from 'master'"),
        "{}",
        r.stdout
    );
    s.run(&["ps:start", "web"])
        .fails(0, " !     App web has not been deployed");
    s.run(&["git:set", "web", "rev-env-var", ""]).ok();
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    assert_eq!(
        s.run(&["config:get", "web", "GIT_REV"]).code,
        1,
        "an empty rev-env-var disables GIT_REV"
    );
    s.run(&["ps:stop", "web"]).ok();
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["running"],
        "false"
    );
    let r = s.run(&["ps:start", "web"]);
    r.ok();
    assert!(r
        .stderr
        .contains(" !     App has been detected as not running, releasing"));
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["running"],
        "true"
    );
    assert!(s
        .run(&["ps:start", "web"])
        .stderr
        .contains(" !     App web already running"));
    assert_eq!(
        s.run(&["ps:scale", "web"]).stdout,
        "-----> Scaling for web\nproctype: qty\n--------: ---\nweb:  1\n"
    );
}

#[test]
fn from_archive_deploys_a_tarball_and_records_the_source() {
    let s = Sandbox::new();
    install(&s, "rec");
    s.run(&["apps:create", "web"]).ok();
    let ctx = s.root().join("ctx/app");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(ctx.join("Dockerfile"), "FROM python:3.12\n").expect("write");
    std::fs::write(ctx.join("Procfile"), "web: serve\nworker: work\n").expect("write");
    let tarball = s.root().join("src.tar");
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(s.root().join("ctx"))
        .arg("app")
        .status()
        .expect("tar");
    assert!(st.success());
    let url = format!("file://{}", tarball.display());
    s.run(&["git:from-archive", "web", &url]).ok();
    assert!(log(&s).contains(&format!("rec deploy-source-set web tar {url}")));
    let ps = s.json(&["ps:scale", "web", "--format", "json"]);
    assert_eq!(
        ps,
        serde_json::json!([{"process_type": "web", "quantity": 1}, {"process_type": "worker", "quantity": 0}]),
        "top folder stripped, Procfile read"
    );
    s.run(&["git:from-archive", "web", &url])
        .fails(1, "No changes detected, skipping git commit");
    let bytes = std::fs::read(&tarball).expect("read");
    let mut child = s
        .cmd()
        .args(["git:from-archive", "web", "--"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&bytes)
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(
        o.status.code(),
        Some(1),
        "same content from stdin is unchanged too"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("No changes detected"),
        "stdin (`--`) is read, after flags too: {stderr}"
    );
    let mut child = s
        .cmd()
        .args(["git:from-archive", "--archive-type", "tar", "web", "--"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&bytes)
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No changes detected"),
        "`--archive-type tar <app> --` reads stdin"
    );
    s.run(&["git:from-archive", "web"]).fails(
        1,
        "Please specify an archive url or -- to fetch the archive from stdin",
    );
    s.run(&["git:from-archive", "web", "https://example.test/x.tar"])
        .fails(1, "does not download");
}

#[test]
fn git_sync_fetches_and_builds() {
    let s = Sandbox::new();
    install(&s, "rec");
    s.run(&["apps:create", "web"]).ok();
    let src = s.root().join("upstream");
    repo(&src, &[("Dockerfile", "FROM python:3.12\n")]);
    let path = src.display().to_string();
    s.run(&["git:sync", "web", &path, "main"]).ok();
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["deployed"],
        "false",
        "without --build it only fetches"
    );
    let sha = String::from_utf8_lossy(&git(&src, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    assert_eq!(
        s.run(&["git:report", "web", "--git-sha"]).stdout.trim(),
        sha
    );
    s.run(&["git:sync", "--build", "web", &path, "main"]).ok();
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["deployed"],
        "true"
    );
    let l = log(&s);
    // `cmd-git-sync` resolves the ref to a commit before `receive-app`.
    assert!(l.contains(&format!("rec receive-app web {sha}")), "{l:?}");
    assert!(l.contains(&format!("rec deploy-source-set web git-sync {path}#{sha}")));
}

#[test]
fn extract_triggers_run_inside_the_work_dir() {
    let s = Sandbox::new();
    let src = recorder(s.root(), "cwd");
    std::fs::write(src.join("post-extract"), "#!/usr/bin/env bash\n[[ \"$(pwd)\" == \"$2\" ]] && echo same >> \"$DOKKU_LIB_ROOT/cwd.log\"\necho 'FROM changed:1' > \"$2/Dockerfile\"\n").expect("write");
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-qm", "cwd"]);
    s.run(&["plugin:install", &format!("file://{}", src.display())])
        .ok();
    s.write(
        "lib/sandbox/images.json",
        r#"{"changed:1": {"unhealthy": true}}"#,
    );
    s.run(&["apps:create", "web"]).ok();
    s.run(&["git:from-image", "web", "nginx:1"])
        .fails(1, "failed checks");
    assert_eq!(
        std::fs::read_to_string(s.lib().join("cwd.log")).unwrap_or_default(),
        "same\n"
    );
}

#[test]
fn bash_plugins_can_source_common_functions() {
    let s = Sandbox::new();
    let src = s.root().join("dokku-shim");
    let cmd = "#!/usr/bin/env bash\nsource \"$PLUGIN_CORE_AVAILABLE_PATH/common/functions\"\ncase \"$1\" in\n  shim:check) verify_app_name \"$2\"; dokku_log_info1 \"ok $2\" ;;\n  *) exit \"$DOKKU_NOT_IMPLEMENTED_EXIT\" ;;\nesac\n";
    repo(
        &src,
        &[
            ("commands", cmd),
            (
                "plugin.toml",
                "[plugin]\ndescription = \"shim\"\nversion = \"0.1.0\"\n[plugin.config]\n",
            ),
        ],
    );
    s.run(&["plugin:install", &format!("file://{}", src.display())])
        .ok();
    s.run(&["shim:check", "ghost"])
        .fails(20, " !     App ghost does not exist");
    s.run(&["apps:create", "web"]).ok();
    assert_eq!(s.run(&["shim:check", "web"]).stdout, "-----> ok web\n");
}

#[test]
fn null_scheduler_starts_nothing_and_checks_log_per_container() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&["git:from-image", "web", "nginx:1"]);
    assert!(
        r.stdout.contains(
            "       Attempting pre-flight checks (web.1)\n       All checks successful (web.1)\n"
        ),
        "{}",
        r.stdout
    );
    s.run(&["apps:create", "stack"]).ok();
    s.run(&["scheduler:set", "stack", "selected", "null"]).ok();
    s.write(
        "lib/sandbox/images.json",
        r#"{"bad:1": {"unhealthy": true}}"#,
    );
    let r = s.run(&["git:from-image", "stack", "bad:1"]);
    r.ok();
    assert!(r
        .stdout
        .contains("Deploying stack via the null scheduler..."));
    let ps = s.json(&["ps:report", "stack", "--format", "json"]);
    assert_eq!(
        (ps["deployed"].as_str(), ps["processes"].as_str()),
        (Some("true"), Some("0"))
    );
}

#[test]
fn user_auth_trigger_can_deny() {
    let s = Sandbox::new();
    let src = s.root().join("dokku-auth");
    let auth = "#!/usr/bin/env bash\n[[ \"$3\" == apps:destroy ]] && exit 1\necho \"$1 $2 $3\" >> \"$DOKKU_LIB_ROOT/auth.log\"\nexit 0\n";
    repo(
        &src,
        &[
            ("user-auth", auth),
            (
                "plugin.toml",
                "[plugin]\ndescription = \"auth\"\nversion = \"0.1.0\"\n[plugin.config]\n",
            ),
        ],
    );
    s.run(&["plugin:install", &format!("file://{}", src.display())])
        .ok();
    s.run_env(
        &[("SSH_USER", "alice"), ("NAME", "laptop")],
        &["apps:create", "web"],
    )
    .ok();
    assert!(std::fs::read_to_string(s.lib().join("auth.log"))
        .unwrap_or_default()
        .contains("alice laptop apps:create"));
    s.run(&["apps:destroy", "web", "--force"])
        .fails(1, " !     Access denied");
    s.run(&["apps:exists", "web"]).ok();
}

#[test]
fn rename_and_clone_carry_state_and_rebuild() {
    let s = Sandbox::new();
    s.run(&["apps:create", "old"]).ok();
    s.run(&["config:set", "--no-restart", "old", "A=1"]).ok();
    s.run(&["postgres:create", "db"]).ok();
    s.run(&["postgres:link", "db", "old", "-n"]).ok();
    s.run(&["git:from-image", "old", "nginx:1"]).ok();
    let r = s.run(&["apps:clone", "old", "copy"]);
    r.ok();
    assert!(r.stdout.contains("-----> Cloning old to copy"));
    assert_eq!(s.run(&["config:get", "copy", "A"]).stdout, "1\n");
    assert_eq!(
        s.json(&["ps:report", "copy", "--format", "json"])["deployed"],
        "true",
        "clone rebuilds"
    );
    s.run(&["apps:clone", "old", "copy"])
        .fails(1, "Name is already taken");
    s.run(&["apps:clone", "--ignore-existing", "old", "copy"])
        .fails(0, "Name is already taken");
    s.run(&["apps:rename", "--skip-deploy", "old", "new"]).ok();
    s.run(&["apps:exists", "old"]).fails(20, "does not exist");
    assert_eq!(s.run(&["postgres:info", "db", "--links"]).stdout, "new\n");
    assert!(s
        .run(&["config:get", "new", "DATABASE_URL"])
        .stdout
        .contains("dokku-postgres-db"));
    assert_eq!(
        s.json(&["ps:report", "new", "--format", "json"])["deployed"],
        "true",
        "deployed state is carried over"
    );
    assert_eq!(
        s.run(&["git:report", "new", "--git-sha"]).stdout,
        s.run(&["git:report", "copy", "--git-sha"]).stdout
    );
}

#[test]
fn a_community_receive_branch_takes_other_branches() {
    let s = Sandbox::new();
    let src = s.root().join("dokku-rb");
    let rb = "#!/usr/bin/env bash\necho \"receive-branch $*\" >> \"$DOKKU_LIB_ROOT/rb.log\"\n";
    repo(
        &src,
        &[
            ("receive-branch", rb),
            (
                "plugin.toml",
                "[plugin]\ndescription = \"rb\"\nversion = \"0.1.0\"\n[plugin.config]\n",
            ),
        ],
    );
    s.run(&["plugin:install", &format!("file://{}", src.display())])
        .ok();
    let dir = app_repo(&s, "web", "FROM x:1\n");
    assert!(push(&dir).status.success());
    let sha = String::from_utf8_lossy(&git(&dir, &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    let log = std::fs::read_to_string(s.lib().join("rb.log")).unwrap_or_default();
    assert_eq!(
        log,
        format!("receive-branch web {sha} refs/heads/main\n"),
        "main is not the default deploy branch (master)"
    );
    assert_eq!(
        s.json(&["ps:report", "web", "--format", "json"])["deployed"],
        "false"
    );
}

#[test]
fn dockerfile_path_and_builder_selection() {
    let s = Sandbox::new();
    s.write(
        "lib/sandbox/images.json",
        r#"{"bad:1": {"unhealthy": true}}"#,
    );
    s.run(&["apps:create", "web"]).ok();
    s.run(&[
        "builder-dockerfile:set",
        "web",
        "dockerfile-path",
        "docker/App.Dockerfile",
    ])
    .ok();
    let dir = s.root().join("src-web");
    repo(
        &dir,
        &[
            ("Dockerfile", "FROM bad:1\n"),
            ("docker/App.Dockerfile", "FROM good:1\n"),
        ],
    );
    s.run(&[
        "sandbox:git-remote",
        "web",
        "--repo",
        &dir.display().to_string(),
    ])
    .ok();
    let o = push(&dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "the configured Dockerfile (good:1) is built: {err}"
    );
    assert!(err.contains("Building web from Dockerfile"));
    assert_eq!(
        s.run(&["builder:report", "web", "--builder-detected"])
            .stdout,
        "dockerfile\n"
    );
}

#[test]
fn core_query_triggers_answer_plugins() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["config:set", "--no-restart", "web", "A=1"]).ok();
    let plugn = s.lib().join("sandbox/bin/plugn");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(&plugn)
            .env("DOKKU_SANDBOX_ROOT", s.root())
            .arg("trigger")
            .args(args)
            .output()
            .expect("plugn");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    assert_eq!(
        run(&["config-get", "web", "A"]),
        (Some(0), "1\n".to_string())
    );
    assert_eq!(run(&["config-get", "web", "NOPE"]).0, Some(1));
    assert_eq!(run(&["app-exists", "web"]).0, Some(0));
    assert_eq!(run(&["app-exists", "ghost"]).0, Some(1));
    assert_eq!(
        run(&["ps-current-scale", "web"]),
        (Some(0), "web=1\n".to_string())
    );
    assert_eq!(run(&["git-has-code", "web"]).0, Some(1));
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    assert_eq!(run(&["git-has-code", "web"]).0, Some(0));
    assert_eq!(
        run(&["deployed-app-image-tag", "web"]),
        (Some(0), "latest".to_string())
    );
}

/// issue #16: the runtime is chosen at `sandbox:init` and recorded; `state` is the default, an
/// unknown runtime is refused, and `docker` is refused with the reason when no daemon answers
/// (here: a docker CLI that cannot reach one).
#[test]
fn runtime_is_chosen_at_init_and_docker_needs_a_daemon() {
    let dir = tempfile::tempdir().expect("tmp");
    let init = |name: &str, extra: &[&str], docker: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dokku"))
            .arg("sandbox:init")
            .arg(dir.path().join(name))
            .args(extra)
            .env_remove("DOKKU_SANDBOX_ROOT")
            .env_remove("DOKKU_SANDBOX_RUNTIME")
            .env("DOKKU_SANDBOX_DOCKER_BIN", docker)
            .output()
            .expect("init")
    };
    let runtime = |name: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dokku"))
            .env("DOKKU_SANDBOX_ROOT", dir.path().join(name))
            .arg("sandbox:runtime")
            .output()
            .expect("runtime");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert!(init("plain", &[], "false").status.success());
    assert_eq!(runtime("plain"), "state");
    assert!(init("state", &["--runtime", "state"], "false")
        .status
        .success());
    assert_eq!(runtime("state"), "state");
    let o = init("bogus", &["--runtime=bogus"], "false");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown runtime `bogus`"));
    let o = init("nodaemon", &["--runtime", "docker"], "false");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs a running Docker daemon"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(runtime("nodaemon"), "state");
}
