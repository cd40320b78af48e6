//! Core-command facts (dokku-facts.md §a dispatch, §b config restart, §d conventions).

use crate::support::Sandbox;

#[test]
fn unknown_command_fails_like_dokku() {
    let s = Sandbox::new();
    let r = s.run(&["nope:cmd", "x"]);
    r.fails(1, " !     `nope:cmd` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n");
}

#[test]
fn real_but_unmodelled_command_is_distinct() {
    let s = Sandbox::new();
    let r = s.run(&["cron:list"]);
    r.fails(1, " !     `cron:list` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n");
    assert!(r.stderr.contains("does not model"));
}

#[test]
fn apps_create_validates_name_and_is_not_idempotent() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    assert!(s
        .run(&["apps:create", "web"])
        .fails(1, " !     Name is already taken")
        .stdout
        .is_empty());
    for bad in ["Web", "my_app", "_x", ".x"] {
        s.run(&["apps:create", bad]).fails(
            1,
            "App name must begin with lowercase alphanumeric character",
        );
    }
    s.run(&["apps:create", "a.b-c"]).ok();
    assert_eq!(
        s.json(&["apps:list", "--format", "json"]),
        serde_json::json!(["a.b-c", "web"])
    );
}

#[test]
fn missing_app_exits_20() {
    let s = Sandbox::new();
    s.run(&["config:set", "ghost", "A=1"])
        .fails(20, " !     App ghost does not exist");
    s.run(&["apps:exists", "ghost"]).fails(20, "does not exist");
    s.run(&["domains:add", "ghost", "x.com"])
        .fails(20, "does not exist");
}

#[test]
fn apps_list_empty_warns_and_exits_0() {
    let s = Sandbox::new();
    s.run(&["apps:list"]).ok();
    assert!(s
        .run(&["apps:list"])
        .stderr
        .contains("You haven't deployed any applications yet"));
    assert_eq!(
        s.json(&["apps:list", "--format", "json"]),
        serde_json::json!([])
    );
}

#[test]
fn destroy_needs_confirmation_unless_forced_anywhere() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run_stdin(&["apps:destroy", "web"], "wrong\n");
    r.fails(1, "Confirmation did not match test. Aborted.");
    assert!(r
        .stderr
        .contains(" !     WARNING: Potentially Destructive Action"));
    assert!(r.stderr.contains(" !     To proceed, type \"web\""));
    assert!(r.stdout.contains("> "));
    s.run(&["apps:exists", "web"]).ok();
    s.run_stdin(&["apps:destroy", "web"], "web\n").ok();
    s.run(&["apps:create", "web"]).ok();
    // `--force` after the command is still a global flag (§a step 1).
    s.run(&["apps:destroy", "web", "--force"]).ok();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["--force", "apps:destroy", "web"]).ok();
    s.run(&["apps:exists", "web"]).fails(20, "does not exist");
}

#[test]
fn config_key_validation_and_get() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["config:set", "web", "a.b=1"])
        .fails(1, "Invalid key name: 'a.b'");
    s.run(&["config:set", "web", "1A=1"])
        .fails(1, "Invalid key name: '1A'");
    s.run(&["config:set", "web", "NOEQUALS"])
        .fails(1, "Invalid env pair: NOEQUALS");
    s.run(&["config:set", "web"])
        .fails(1, "At least one env pair must be given");
    let r = s.run(&["config:set", "--no-restart", "web", "B=two words", "A=it's"]);
    r.ok();
    assert!(r.stdout.starts_with("-----> Setting config vars\n"));
    assert_eq!(s.run(&["config:get", "web", "A"]).stdout, "it's\n");
    let miss = s.run(&["config:get", "web", "NOPE"]);
    assert_eq!(
        (miss.code, miss.stderr.as_str(), miss.stdout.as_str()),
        (1, "", "")
    );
    // NO_VHOST=1: apps:create disabled vhost support because no global domain is set.
    assert_eq!(
        s.json(&["config:export", "web", "--format", "json"]),
        serde_json::json!({"A": "it's", "B": "two words", "NO_VHOST": "1"})
    );
    s.run(&["config:set", "--encoded", "web", "C=aGk="]).ok();
    assert_eq!(s.run(&["config:get", "web", "C"]).stdout, "hi\n");
    let u = s.run(&["config:unset", "web", "NOPE"]);
    assert!(u
        .stdout
        .contains("Skipping NOPE, it is not set in the environment"));
}

#[test]
fn config_set_restarts_a_deployed_app_unless_no_restart() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&["config:set", "web", "A=1"]);
    assert!(
        !r.stdout.contains("Restarting app"),
        "not deployed yet: no restart"
    );
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    let r = s.run(&["config:set", "web", "A=2"]);
    assert!(
        r.stdout.contains("-----> Restarting app web"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Releasing web..."));
    let r = s.run(&["config:set", "--no-restart", "web", "A=3"]);
    assert!(!r.stdout.contains("Restarting"));
    s.run(&["ps:set", "web", "restore", "false"]).ok();
    assert!(!s
        .run(&["config:set", "web", "A=4"])
        .stdout
        .contains("Restarting"));
}

#[test]
fn report_conventions() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let j = s.json(&["apps:report", "web", "--format", "json"]);
    assert_eq!(
        j["dir"], j["app-dir"],
        "legacy prefixed key kept alongside the stripped one"
    );
    assert_eq!(j["locked"], "false");
    assert_eq!(
        j["global-disable-autocreation"], "",
        "the raw global value (plugins/apps report.go)"
    );
    let one = s.run(&["apps:report", "web", "--app-locked"]);
    assert_eq!(one.stdout, "false\n");
    s.run(&["apps:report", "web", "--app-locked", "--app-dir"])
        .fails(1, "apps:report command allows only a single flag");
    s.run(&["apps:report", "web", "--app-locked", "--format", "json"])
        .fails(
            1,
            "--format flag cannot be specified when specifying an info flag",
        );
    s.run(&["apps:report", "web", "--app-nope"])
        .fails(1, "Invalid flag passed, valid flags: --app-created-at");
    let std = s.run(&["apps:report", "web"]);
    assert!(std.stdout.starts_with("=====> web app information\n"));
    // Padding is the longest flag (`--app-global-disable-autocreation`, 33), at least 31.
    let row = format!("\n       {:<33}false\n", "App locked:");
    assert!(std.stdout.contains(&row), "{}", std.stdout);
    // Bash plugins have no legacy keys.
    let g = s.json(&["git:report", "web", "--format", "json"]);
    assert!(g.get("deploy-branch").is_some() && g.get("git-deploy-branch").is_none());
}

#[test]
fn property_set_unset_and_validation() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&["builder:set", "web", "selected", "dockerfile"]);
    assert_eq!(r.stdout, "=====> Setting selected to dockerfile\n");
    assert_eq!(
        s.run(&["builder:report", "web", "--builder-selected"])
            .stdout,
        "dockerfile\n"
    );
    assert_eq!(
        s.run(&["builder:set", "web", "selected"]).stdout,
        "=====> Unsetting selected\n"
    );
    s.run(&["builder:set", "web", "nope", "x"]).fails(
        1,
        "Invalid property specified, valid properties include: selected",
    );
    s.run(&["nginx:set", "web", "nope", "x"])
        .fails(1, "Invalid key specified, valid keys include:");
    s.run(&["ps:set", "--global", "start-cmd", "x"])
        .fails(1, "Property cannot be specified globally");
    s.run(&["logs:set", "web", "vector-image", "x"])
        .fails(1, "vector-image may only be set globally with --global");
    s.run(&["ps:set", "web", "restart-policy", "sometimes"])
        .fails(1, "Invalid restart-policy");
    s.run(&["nginx:set", "--global", "client-max-body-size", "50m"])
        .ok();
    assert_eq!(
        s.run(&[
            "nginx:report",
            "web",
            "--nginx-computed-client-max-body-size"
        ])
        .stdout,
        "50m\n"
    );
    s.run(&["nginx:set", "web", "client-max-body-size", "10m"])
        .ok();
    assert_eq!(
        s.run(&[
            "nginx:report",
            "web",
            "--nginx-computed-client-max-body-size"
        ])
        .stdout,
        "10m\n"
    );
}

#[test]
fn deploy_lock_commands() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["apps:locked", "web"])
        .fails(1, " !     Deploy lock does not exist");
    s.run(&["apps:unlock", "web"])
        .fails(1, "Unable to remove deploy lock");
    assert_eq!(
        s.run(&["apps:lock", "web"]).stdout,
        "-----> Deploy lock created\n"
    );
    assert_eq!(
        s.run(&["apps:locked", "web"]).stdout,
        "Deploy lock exists\n"
    );
    assert_eq!(
        s.run(&["apps:report", "web", "--app-locked"]).stdout,
        "true\n"
    );
    let r = s.run(&["apps:unlock", "web"]);
    r.ok();
    assert!(r.stderr.contains("A deploy may be in progress."));
    assert!(r.stdout.contains("-----> Deploy lock removed"));
}

#[test]
fn concurrent_deploys_hit_the_flock() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.write(
        "lib/sandbox/images.json",
        r#"{"slow:1": {"build_ms": 1500}}"#,
    );
    let mut slow = s
        .cmd()
        .args(["git:from-image", "web", "slow:1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the slow deploy holds the lock (its lock file appears), then collide.
    let lock = s.lib().join("data/apps/web/.deploy.lock");
    while !lock.exists() {
        std::thread::yield_now();
    }
    s.run(&["ps:rebuild", "web"]).fails(1, " !     web currently has a deploy lock in place. Exiting...\n !     Run 'apps:unlock' to release the existing deploy lock");
    assert!(slow.wait().expect("wait").success());
    assert!(!lock.exists(), "a finished deploy deletes the lock file");
}

#[test]
fn domains_and_ports() {
    let s = Sandbox::new();
    s.run(&["domains:set-global", "example.test"]).ok();
    s.run(&["apps:create", "web"]).ok();
    assert_eq!(
        s.run(&["domains:report", "web", "--domains-app-vhosts"])
            .stdout,
        "web.example.test\n"
    );
    s.run(&["domains:add", "web", "bad domain"])
        .fails(1, "bad domain is invalid. exiting...");
    s.run(&["domains:set", "web", "a.test", "b.test"]).ok();
    assert_eq!(
        s.json(&["domains:report", "web", "--format", "json"])["app-vhosts"],
        "a.test b.test"
    );
    s.run(&["ports:set", "web", "80:5000"])
        .fails(1, " !     Invalid port map 80:5000 [len=2]");
    s.run(&["ports:set", "web", "http:80:5000", "http:80:3000"])
        .fails(
            1,
            "Error validating port mappings: The same scheme:host-port is being reused: http:80",
        );
    s.run(&["ports:list", "web"])
        .fails(1, "No port mappings configured for app");
    s.run(&["ports:set", "web", "http:80:5000", "https:443:5000"])
        .ok();
    s.run(&["ports:add", "web", "http:80:3000"]).fails(
        1,
        "Error validating all port mappings: The same scheme:host-port is being reused: http:80",
    );
    assert_eq!(
        s.run(&["ports:list", "web"]).stdout,
        "-----> Port mappings for web\n    -----> scheme  host port  container port\n    http           80         5000\n    https          443        5000\n"
    );
    s.run(&["ports:remove", "web", "443"]).ok();
    assert_eq!(
        s.run(&["ports:report", "web", "--ports-map"]).stdout,
        "http:80:5000\n"
    );
    s.run(&["proxy:set", "web", "http:80:5000"])
        .fails(1, "Consider using ports:set command");
    s.run(&["proxy:set", "web", "bogus", "x"]).fails(1, "Invalid property specified, valid properties include: disabled, proxy-port, proxy-ssl-port, type");
    assert_eq!(
        s.run(&["proxy:disable", "web"]).stdout,
        "-----> Disabling proxy for app\n"
    );
    assert_eq!(
        s.run(&["proxy:disable", "web"]).stdout,
        "-----> Proxy is already disable for app\n"
    );
    s.run(&["proxy:set", "web", "caddy"]).ok();
    assert_eq!(
        s.json(&["proxy:report", "web", "--format", "json"])["type"],
        "caddy"
    );
}

#[test]
fn docker_options_split_quote_and_scope_like_dokku() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    // One invocation may carry several flags: each becomes its own stored option, sorted. The
    // argv after the phases is joined with spaces, then shell-split: quote inside one argument.
    s.run(&[
        "docker-options:add",
        "web",
        "deploy,run",
        "--restart=always",
        "-v",
        "/a:/b",
        "--label 'x=a b'",
    ])
    .ok();
    assert_eq!(
        s.run(&["docker-options:list", "web", "--phase", "deploy"])
            .stdout,
        "--label 'x=a b'\n--restart=always\n-v /a:/b\n"
    );
    s.run(&["docker-options:add", "web", "bogus", "x"])
        .fails(1, "Phase must be one of [build deploy run]");
    s.run(&["docker-options:add", "web", "deploy"])
        .fails(1, "Please specify docker options to add to the phase");
    // `--process` after the app is lifted out of the option text.
    s.run(&[
        "docker-options:add",
        "web",
        "deploy",
        "--memory=1g",
        "--process",
        "worker",
    ])
    .ok();
    assert_eq!(
        s.run(&[
            "docker-options:list",
            "web",
            "--phase",
            "deploy",
            "--process",
            "worker"
        ])
        .stdout,
        "--memory=1g\n"
    );
    s.run(&[
        "docker-options:add",
        "--process",
        "worker",
        "web",
        "build",
        "-x",
    ])
    .fails(
        1,
        "--process is only supported for the deploy phase, got \"build\"",
    );
    let j = s.json(&["docker-options:report", "web", "--format", "json"]);
    assert_eq!(j["run"], "--label 'x=a b' --restart=always -v /a:/b");
    assert_eq!(j["docker-options-run"], j["run"]);
    assert_eq!(
        j["run-list"],
        serde_json::json!(["--label 'x=a b'", "--restart=always", "-v /a:/b"])
    );
    assert_eq!(j["deploy.worker"], "--memory=1g");
    assert_eq!(j["deploy.worker-list"], serde_json::json!(["--memory=1g"]));
    assert_eq!(
        s.run(&[
            "docker-options:report",
            "web",
            "--docker-options-deploy.worker"
        ])
        .stdout,
        "--memory=1g\n"
    );
    s.run(&["docker-options:remove", "web", "run", "-v /a:/b"])
        .ok();
    assert_eq!(
        s.run(&["docker-options:list", "web", "--phase", "run"])
            .stdout,
        "--label 'x=a b'\n--restart=always\n"
    );
    assert_eq!(
        s.run(&["docker-options:clear", "web"]).stdout,
        "-----> Clearing docker-options for web on all phases\n"
    );
    assert_eq!(
        s.run(&["docker-options:list", "web", "--phase", "run"])
            .stdout,
        ""
    );
}

#[test]
fn storage_rules() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["storage:mount", "web", "/srv/a:/data"]).ok();
    s.run(&["storage:mount", "web", "/srv/a:/data"])
        .fails(1, "Mount path already exists.");
    s.run(&["storage:create", "Bad_Name"])
        .fails(1, "must be a DNS-1123 label");
    s.run(&["storage:create", "legacy-x"])
        .fails(1, "must not start with reserved prefix");
    s.run(&["storage:create", "uploads", "--mode", "999"])
        .fails(1, "Unsupported directory mode");
    s.run(&["storage:mount", "web", "uploads", "--container-dir", "/up"])
        .fails(
            1,
            "storage entry \"uploads\" does not exist; create it first with `dokku storage:create`",
        );
    s.run(&["storage:create", "uploads"]).ok();
    assert!(s
        .run(&["storage:create", "uploads"])
        .stdout
        .contains("Storage entry uploads already exists, leaving in place"));
    s.run(&["storage:mount", "web", "uploads"]).fails(
        1,
        "--container-dir is required when mounting a named storage entry",
    );
    assert_eq!(
        s.run(&["storage:mount", "web", "uploads", "--container-dir", "/up"])
            .stdout,
        "-----> Storage entry uploads mounted at /up on web\n"
    );
    assert!(s
        .run(&["storage:mount", "web", "uploads", "--container-dir", "/up"])
        .stdout
        .contains("mount at /up on web updated"));
    let list = s.json(&["storage:list", "web", "--format", "json"]);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(2),
        "named mounts are idempotent"
    );
    s.run(&["storage:destroy", "uploads", "--force"]).fails(
        1,
        "storage entry \"uploads\" is still mounted by app(s): web",
    );
    s.run(&[
        "storage:unmount",
        "web",
        "uploads",
        "--container-dir",
        "/up",
    ])
    .ok();
    s.run_stdin(&["storage:destroy", "uploads"], "no\n")
        .fails(1, "Confirmation did not match");
    s.run(&["storage:destroy", "uploads", "--force"]).ok();
    assert!(s
        .run(&["storage:report", "web", "--storage-deploy-mounts"])
        .stdout
        .contains("-v /srv/a:/data"));
}

#[test]
fn network_rules() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["network:exists", "stack"])
        .fails(1, " !     Network does not exist");
    s.run(&["network:create", "stack"]).ok();
    s.run(&["network:create", "stack"])
        .fails(1, "Unable to create network");
    assert_eq!(
        s.run(&["network:exists", "stack"]).stdout,
        "-----> Network exists\n"
    );
    s.run(&[
        "network:set",
        "web",
        "attach-post-deploy",
        "stack",
        "bridge",
    ])
    .fails(1, "Invalid network name specified for attach: bridge");
    s.run(&["network:set", "web", "attach-post-deploy", "stack", "other"])
        .ok();
    assert_eq!(
        s.run(&["network:report", "web", "--network-attach-post-deploy"])
            .stdout,
        "stack,other\n"
    );
    s.run(&["network:set", "web", "attach-post-create", "other"])
        .ok();
    s.run(&["network:set", "web", "attach-post-deploy", "other"])
        .fails(1, "Network name already associated with this app: other");
    s.run(&["network:destroy", "stack", "--force"]).ok();
}

#[test]
fn checks_resource_scheduler() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    assert_eq!(
        s.run(&["checks:report", "web", "--checks-disabled-list"])
            .stdout,
        "none\n"
    );
    let r = s.run(&["checks:disable", "web", "worker"]);
    assert_eq!(
        r.stdout,
        "-----> Disabling zero downtime for app's (web) proctypes (worker)\n"
    );
    assert_eq!(
        s.run(&["checks:report", "web", "--checks-disabled-list"])
            .stdout,
        "worker\n"
    );
    s.run(&["checks:skip", "web"]).ok();
    assert_eq!(
        s.run(&["checks:report", "web", "--checks-skipped-list"])
            .stdout,
        "_all_\n"
    );
    assert_eq!(
        s.run(&["checks:report", "web", "--checks-disabled-list"])
            .stdout,
        "none\n"
    );
    assert_eq!(
        s.run(&["checks:enable", "web"]).stdout,
        "-----> Enabling zero downtime for app's (web)\n"
    );
    assert_eq!(
        s.run(&["checks:report", "web", "--checks-skipped-list"])
            .stdout,
        "none\n"
    );
    s.run(&["checks:disable", "web", "worker"]).ok();
    s.run(&["checks:set", "web", "wait", "5"])
        .fails(1, "Invalid key specified");
    assert_eq!(
        s.run(&["resource:limit", "--memory", "512", "web"]).stdout,
        "=====> Setting resource limits for web\n       memory: 512\n"
    );
    s.run(&[
        "resource:reserve",
        "--memory",
        "256",
        "--process-type",
        "worker",
        "web",
    ])
    .ok();
    let j = s.json(&["resource:report", "web", "--format", "json"]);
    assert_eq!(j["_default_.limit.memory"], "512");
    assert_eq!(
        j["resource-worker.reserve.memory"], "256",
        "legacy prefixed key too"
    );
    assert!(s
        .run(&["resource:limit", "web"])
        .stdout
        .starts_with("=====> resource limits web information [defaults]\n"));
    s.run(&["resource:limit-clear", "web"]).ok();
    assert_eq!(
        s.json(&["resource:report", "web", "--format", "json"]),
        serde_json::json!({}),
        "clear without a process type drops everything"
    );
    s.run(&["scheduler:set", "web", "selected", "null"]).ok();
    assert_eq!(
        s.run(&["scheduler:report", "web", "--scheduler-computed-selected"])
            .stdout,
        "null\n"
    );
}

#[test]
fn help_and_plugin_help() {
    let s = Sandbox::new();
    let r = s.run(&["apps:help"]);
    r.ok();
    assert!(r.stdout.starts_with("Usage: dokku apps[:COMMAND]\n"));
    assert!(r.stdout.contains("apps:create <app>"));
    assert!(s.run(&["help"]).stdout.contains("postgres"));
}

#[test]
fn parallel_commands_do_not_lose_updates() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let kids: Vec<_> = (0..8)
        .map(|i| {
            s.cmd()
                .args(["config:set", "--no-restart", "web", &format!("K{i}={i}")])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().expect("wait").success());
    }
    let keys = s.run(&["config:keys", "web"]).stdout;
    assert_eq!(
        keys.lines().filter(|k| k.starts_with('K')).count(),
        8,
        "{keys}"
    );
}

#[test]
fn letsencrypt_prerequisites_and_idempotence() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["letsencrypt:enable", "web"])
        .fails(1, " !     No domains detected for web");
    s.run(&["domains:set", "web", "web.example.test"]).ok();
    s.run(&["letsencrypt:enable", "web"]).fails(1, " !     ERROR: Cannot request a certificate without an e-mail address!\n !       please provide your e-mail address using\n");
    s.run(&["letsencrypt:set", "--global", "email", "ops@example.test"])
        .ok();
    s.run(&["letsencrypt:enable", "web"])
        .fails(1, "no http or https proxy port mapping was found");
    s.run(&["ports:set", "web", "http:80:5000"]).ok();
    s.run(&["letsencrypt:enable", "web"]).fails(1, " !     Failed to setup letsencrypt\n !     Check log output for further information on failure");
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    s.run(&["letsencrypt:enable", "web"]).ok();
    assert_eq!(s.run(&["letsencrypt:active", "web"]).stdout, "true\n");
    assert!(s
        .run(&["ports:report", "web", "--ports-map"])
        .stdout
        .contains("https:443:5000"));
    let again = s.run(&["letsencrypt:enable", "web"]);
    assert!(again
        .stdout
        .contains("-----> Certificate is still valid for web, skipping certificate request"));
    assert!(!s
        .run(&["letsencrypt:enable", "web", "--force"])
        .stdout
        .contains("still valid"));
    let j = s.json(&["letsencrypt:report", "web", "--format", "json"]);
    assert_eq!(
        (j["active"].as_str(), j["autorenew"].as_str()),
        (Some("true"), Some("false"))
    );
    assert!(j["expiration"]
        .as_str()
        .is_some_and(|e| e.parse::<u64>().is_ok()));
    s.run(&["letsencrypt:cron-job", "--add"]).ok();
    assert_eq!(
        s.run(&["letsencrypt:report", "web", "--letsencrypt-autorenew"])
            .stdout,
        "true\n"
    );
    s.run(&["letsencrypt:set", "web", "dns-provider-CF_TOKEN", "x"])
        .ok();
    s.run(&["letsencrypt:set", "web", "bogus", "x"])
        .fails(1, "Invalid key specified");
}

#[test]
fn global_app_flag_is_inserted_for_core_commands() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["--app", "web", "config:set", "--no-restart", "A=1"])
        .ok();
    assert_eq!(s.run(&["config:get", "web", "A"]).stdout, "1\n");
}

/// Flag sets copied from the report code of dokku/dokku (plugins/<p>/report.go) at 33896f5d7.
fn json_keys(s: &Sandbox, args: &[&str]) -> Vec<String> {
    let v = s.json(args);
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn report_key_sets_match_dokku_source() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    let ps_prefixed = [
        "can-scale",
        "computed-dockerfile-start-cmd",
        "computed-procfile-path",
        "computed-restart-policy",
        "computed-skip-deploy",
        "computed-start-cmd",
        "computed-stop-timeout-seconds",
        "dockerfile-start-cmd",
        "global-procfile-path",
        "global-restart-policy",
        "global-skip-deploy",
        "global-stop-timeout-seconds",
        "procfile-path",
        "restart-policy",
        "skip-deploy",
        "start-cmd",
        "stop-timeout-seconds",
    ];
    let mut want: Vec<String> = [
        "deployed",
        "processes",
        "restore",
        "running",
        "status-web.1",
    ]
    .iter()
    .map(|x| (*x).to_string())
    .collect();
    for k in ps_prefixed {
        want.push(k.to_string());
        want.push(format!("ps-{k}"));
    }
    want.sort();
    assert_eq!(
        json_keys(&s, &["ps:report", "web", "--format", "json"]),
        want
    );
    let net = [
        "attach-post-create",
        "attach-post-deploy",
        "bind-all-interfaces",
        "computed-attach-post-create",
        "computed-attach-post-deploy",
        "computed-bind-all-interfaces",
        "computed-initial-network",
        "computed-tld",
        "global-attach-post-create",
        "global-attach-post-deploy",
        "global-bind-all-interfaces",
        "global-initial-network",
        "global-tld",
        "initial-network",
        "static-web-listener",
        "tld",
        "web-listeners",
    ];
    let mut want: Vec<String> = net
        .iter()
        .flat_map(|k| [(*k).to_string(), format!("network-{k}")])
        .collect();
    want.sort();
    assert_eq!(
        json_keys(&s, &["network:report", "web", "--format", "json"]),
        want
    );
    let builder = [
        "build-dir",
        "computed-build-dir",
        "computed-selected",
        "computed-skip-cleanup",
        "detected",
        "global-build-dir",
        "global-selected",
        "global-skip-cleanup",
        "selected",
        "skip-cleanup",
    ];
    let mut want: Vec<String> = builder
        .iter()
        .flat_map(|k| [(*k).to_string(), format!("builder-{k}")])
        .collect();
    want.sort();
    assert_eq!(
        json_keys(&s, &["builder:report", "web", "--format", "json"]),
        want
    );
    let git = [
        "computed-archive-max-files",
        "computed-archive-max-size",
        "computed-deploy-branch",
        "computed-keep-git-dir",
        "deploy-branch",
        "global-archive-max-files",
        "global-archive-max-size",
        "global-deploy-branch",
        "global-keep-git-dir",
        "keep-git-dir",
        "last-updated-at",
        "rev-env-var",
        "sha",
        "source-image",
    ];
    let mut want: Vec<String> = git.iter().map(|x| (*x).to_string()).collect();
    want.sort();
    assert_eq!(
        json_keys(&s, &["git:report", "web", "--format", "json"]),
        want,
        "git is not a legacy-prefix plugin"
    );
    let mut want: Vec<String> = [
        "app-enabled",
        "app-vhosts",
        "global-enabled",
        "global-vhosts",
    ]
    .iter()
    .map(|x| (*x).to_string())
    .collect();
    want.sort();
    assert_eq!(
        json_keys(&s, &["domains:report", "web", "--format", "json"]),
        want,
        "domains is not a legacy-prefix plugin"
    );
    let mut want: Vec<String> = [
        "computed-wait-to-retire",
        "disabled-list",
        "global-wait-to-retire",
        "skipped-list",
        "wait-to-retire",
    ]
    .iter()
    .map(|x| (*x).to_string())
    .collect();
    want.sort();
    assert_eq!(
        json_keys(&s, &["checks:report", "web", "--format", "json"]),
        want
    );
}

#[test]
fn config_import_envfile_and_json() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["config:set", "--no-restart", "web", "OLD=1"]).ok();
    let r = s.run_stdin(
        &["config:import", "--no-restart", "web", "-"],
        "A=1\nexport B=\"x y\"\n",
    );
    assert!(
        r.stdout.contains("-----> Reading config vars from stdin\n")
            && r.stdout.contains("-----> Setting config var A=1\n"),
        "{}",
        r.stdout
    );
    assert_eq!(
        s.json(&["config:export", "web", "--format", "json"]),
        serde_json::json!({"A": "1", "B": "x y", "NO_VHOST": "1", "OLD": "1"})
    );
    s.run_stdin(
        &[
            "config:import",
            "--no-restart",
            "--replace",
            "--format",
            "json",
            "web",
            "-",
        ],
        r#"{"C": "3"}"#,
    )
    .ok();
    assert_eq!(
        s.json(&["config:export", "web", "--format", "json"]),
        serde_json::json!({"C": "3"})
    );
    s.run_stdin(&["config:import", "web", "-"], "bad-key=1\n")
        .fails(1, "Invalid key name: 'bad-key'");
    // plugins/config/functions.go SubImport: a file (or `-`) is required, and something to set.
    s.run_stdin(&["config:import", "web"], "D=4\n")
        .fails(1, "open : no such file or directory");
    s.run_stdin(&["config:import", "--format", "json", "web", "-"], "{}")
        .fails(1, "No config vars to set");
}

#[test]
fn domains_follow_the_no_vhost_model() {
    let s = Sandbox::new();
    let r = s.run(&["apps:create", "web"]);
    assert!(
        r.stdout
            .contains("-----> Global server virtual host not set, disabling app vhost..."),
        "{}",
        r.stdout
    );
    assert_eq!(s.run(&["config:get", "web", "NO_VHOST"]).stdout, "1\n");
    assert_eq!(
        s.run(&["domains:report", "web", "--domains-app-enabled"])
            .stdout,
        "false\n"
    );
    s.run(&["domains:add", "web", "a.test"]).ok();
    assert_eq!(
        s.run(&["config:get", "web", "NO_VHOST"]).stdout,
        "0\n",
        "adding a domain enables vhost support"
    );
    let again = s.run(&["domains:add", "web", "a.test"]);
    assert!(again
        .stdout
        .contains("-----> Skipping: a.test already added to web"));
    s.run(&["domains:disable", "web"]).ok();
    assert_eq!(
        s.run(&["domains:report", "web", "--domains-app-enabled"])
            .stdout,
        "false\n"
    );
    assert!(s
        .run(&["domains:disable", "web"])
        .stdout
        .contains("Domains (VHOST) support is already disabled for app (web)"));
    s.run(&["domains:set-global", "example.test"]).ok();
    s.run(&["domains:enable", "web"]).ok();
    assert_eq!(
        s.run(&["domains:report", "web", "--domains-app-vhosts"])
            .stdout,
        "web.example.test\n"
    );
    s.run(&["apps:create", "api.example.test"]).ok();
    assert_eq!(
        s.run(&["domains:report", "api.example.test", "--domains-app-vhosts"])
            .stdout,
        "api.example.test\n",
        "dotted app names are used as is"
    );
    s.run(&["domains:clear", "web"]).ok();
    s.run(&["domains:reset", "web"]).ok();
    assert_eq!(
        s.run(&["domains:report", "web", "--domains-app-vhosts"])
            .stdout,
        "web.example.test\n"
    );
}

#[test]
fn ssh_original_command_and_quiet() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run_env(&[("SSH_ORIGINAL_COMMAND", "apps:list")], &[]);
    assert_eq!(r.stdout, "=====> My Apps\nweb\n");
    assert_eq!(
        s.run(&["--quiet", "apps:list"]).stdout,
        "web\n",
        "--quiet drops the header"
    );
    assert_eq!(
        s.run(&["apps:create", "api", "--quiet"]).stdout,
        "",
        "quiet anywhere in argv"
    );
}

#[test]
fn config_export_formats_follow_env_export() {
    let s = Sandbox::new();
    s.run(&["config:set", "--global", "G=1"]).ok();
    assert_eq!(
        s.run(&["config:export", "--global", "--format", "exports"])
            .stdout,
        "export G='1'"
    );
    s.run(&["apps:create", "web"]).ok();
    s.run(&["config:clear", "--no-restart", "web"]).ok();
    assert_eq!(
        s.run(&["config:export", "web", "--format", "json-list"])
            .stdout,
        "null",
        "nil slice"
    );
    s.run(&["config:set", "--no-restart", "web", "A=it's", "B=2"])
        .ok();
    assert_eq!(
        s.run(&["config:export", "web", "--format", "shell"]).stdout,
        "A='it'\\''s' B='2' "
    );
    assert_eq!(
        s.run(&["config:export", "web", "--format", "docker-args-keys"])
            .stdout,
        "--env=A --env=B"
    );
    assert_eq!(
        s.json(&["config:export", "--merged", "web", "--format", "json"]),
        serde_json::json!({"A": "it's", "B": "2", "G": "1"})
    );
    s.run(&["config:export", "web", "--format", "yaml"])
        .fails(1, "Unknown export format: yaml");
}

#[test]
fn app_json_property_set_and_report() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.json(&["app-json:report", "web", "--format", "json"]);
    assert_eq!(r["app-json-computed-appjson-path"], "app.json");
    s.run(&["app-json:set", "web", "appjson-path", ".dokku/app.json"])
        .ok();
    let r = s.json(&["app-json:report", "web", "--format", "json"]);
    assert_eq!(r["app-json-appjson-path"], ".dokku/app.json");
    assert_eq!(r["app-json-computed-appjson-path"], ".dokku/app.json");
    assert_eq!(
        s.run(&["app-json:report", "web", "--app-json-appjson-path"])
            .stdout
            .trim(),
        ".dokku/app.json"
    );
    s.run(&["app-json:set", "web", "nope", "1"]).fails(
        1,
        "Invalid property specified, valid properties include: appjson-path",
    );
}

/// The argv of the first container of `app`, as the sandbox recorded it at deploy.
fn container_args(s: &Sandbox, app: &str) -> Vec<String> {
    let path = s.lib().join("data/ps").join(app).join("sandbox.json");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::from_value(st["containers"][0]["args"].clone()).unwrap()
}

#[test]
fn deploy_splits_stored_docker_options_like_dokku() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    // A value with a space, unquoted: Dokku stores two options and docker gets two flags.
    s.run(&[
        "docker-options:add",
        "web",
        "deploy",
        "--stop-signal SIGTERM --privileged",
    ])
    .ok();
    // Quoted, it stays one word through storage and the scheduler's xargs.
    s.run(&[
        "docker-options:add",
        "web",
        "deploy",
        "--dns '1.1.1.1 -v /:/host'",
    ])
    .ok();
    // Resource values are printed into the arguments unquoted.
    s.run(&["resource:limit", "--cpu", "1 --pid host", "web"])
        .ok();
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    let args = container_args(&s, "web");
    let pos = |w: &str| args.iter().position(|a| a == w);
    assert!(pos("--privileged").is_some(), "{args:?}");
    let sig = pos("--stop-signal").unwrap();
    assert_eq!(args[sig + 1], "SIGTERM", "{args:?}");
    let dns = pos("--dns").unwrap();
    assert_eq!(args[dns + 1], "1.1.1.1 -v /:/host", "{args:?}");
    assert!(pos("-v").is_none(), "{args:?}");
    let cpus = pos("--cpus=1").unwrap();
    assert_eq!(args[cpus + 1..cpus + 3], ["--pid", "host"], "{args:?}");
    assert_eq!(args.last().map(String::as_str), Some("nginx:1"), "{args:?}");
    assert!(args.contains(&"--label=com.dokku.dyno=web.1".to_string()));
    // A quote inside a value is stored re-quoted (`'a'\''b'`) and reaches docker intact.
    s.run(&["docker-options:add", "web", "deploy", "--label \"a'b c\""])
        .ok();
    s.run(&["ps:rebuild", "web"]).ok();
    let args = container_args(&s, "web");
    let label = args.iter().position(|a| a == "--label").unwrap();
    assert_eq!(args[label + 1], "a'b c", "{args:?}");
}

#[test]
fn xargs_splitting_matches_gnu_xargs() {
    use dokku_sandbox::cmd::options::xargs_split;
    assert_eq!(
        xargs_split(" a  'b c'\"d e\" f\\ g\n'it'\\''s'").unwrap(),
        ["a", "b cd e", "f g", "it's"]
    );
    assert!(xargs_split("'a\nb'")
        .unwrap_err()
        .contains("unmatched single quote"));
    assert!(xargs_split("\"a")
        .unwrap_err()
        .contains("unmatched double quote"));
    assert_eq!(xargs_split("$(id) ;x").unwrap(), ["$(id)", ";x"]);
}

#[test]
fn docker_options_add_keeps_substitutions_verbatim_and_refuses_operators() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&[
        "docker-options:add",
        "web",
        "deploy",
        "--group-add $(getent group docker | cut -d: -f3) --label x=`id -u` # note",
    ])
    .ok();
    assert_eq!(
        s.run(&["docker-options:list", "web", "--phase", "deploy"])
            .stdout,
        "--group-add '$(getent group docker | cut -d: -f3)'\n--label 'x=`id -u`'\n"
    );
    s.run(&[
        "docker-options:add",
        "web",
        "deploy",
        "--dns 1.1.1.1; --privileged",
    ])
    .fails(1, "Unable to parse docker option");
    // Stored verbatim, the substitution reaches docker as one literal word: never run.
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    let args = container_args(&s, "web");
    let g = args.iter().position(|a| a == "--group-add").unwrap();
    assert_eq!(
        args[g + 1],
        "$(getent group docker | cut -d: -f3)",
        "{args:?}"
    );
}

/// `enter` (plugins/enter, scheduler-docker-local `scheduler-enter`): the container is chosen
/// by type (`web`, `web.2`) or id prefix, must exist and run; the state-only runtime only
/// checks (the docker tier runs the command in the container).
#[test]
fn enter_chooses_a_running_container_as_dokku_does() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["enter", "web"])
        .fails(1, "No containers found for app");
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    s.run(&["ps:scale", "web", "web=2"]).ok();
    s.run(&["enter", "web"]).ok();
    s.run(&["enter", "web", "web.2", "--", "ls"]).ok();
    s.run(&["enter", "web", "worker"])
        .fails(1, "Available types for app (web): web");
    let r = s.run(&["enter", "web", "worker"]);
    assert!(
        r.stderr.contains("No containers found for type 'worker'"),
        "{}",
        r.stderr
    );
    let r = s.run(&["enter", "web", "--container-id", "nope"]);
    assert!(
        r.code == 1 && r.stderr.contains("Invalid container id for app: nope"),
        "{}",
        r.stderr
    );
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.lib().join("data/ps/web/sandbox.json")).unwrap(),
    )
    .unwrap();
    let id = st["containers"][0]["id"].as_str().unwrap().to_owned();
    s.run(&["enter", "web", "--container-id", &id[..6]]).ok();
    s.run(&["ps:stop", "web"]).ok();
    s.run(&["enter", "web", "web.1"])
        .fails(1, "Container is not running");
    s.run(&["enter", "nope"])
        .fails(20, "App nope does not exist");
}
