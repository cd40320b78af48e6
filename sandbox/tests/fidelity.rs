//! Behaviours Dokku's own unit tests showed the sandbox lacked (issue #17): output shapes the
//! plugin reads, the core-post-extract paths, networks at deploy, Procfile checks and the SSH
//! command split.

use std::path::PathBuf;

use crate::support::{git, repo, Sandbox};

/// A repository with `files` whose `dokku` remote is `app`.
fn remote(s: &Sandbox, app: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = s.root().join(format!("src-{app}"));
    repo(&dir, files);
    s.run(&[
        "sandbox:git-remote",
        app,
        "--repo",
        &dir.display().to_string(),
    ])
    .ok();
    dir
}

/// `git push dokku main`: (success, stderr).
fn push(dir: &std::path::Path) -> (bool, String) {
    let o = std::process::Command::new("git")
        .current_dir(dir)
        .args(["push", "dokku", "main"])
        .output()
        .expect("git push");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn containers(s: &Sandbox, app: &str) -> Vec<serde_json::Value> {
    let p = s.lib().join(format!("data/ps/{app}/sandbox.json"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p).expect("state")).expect("json");
    v["containers"].as_array().cloned().unwrap_or_default()
}

#[test]
fn network_list_json_prints_dokkus_network_objects() {
    let s = Sandbox::new();
    s.run(&["network:create", "back"]).ok();
    let all = s.json(&["network:list", "--format", "json"]);
    let back = all
        .as_array()
        .expect("array")
        .iter()
        .find(|n| n["Name"] == "back")
        .expect("back listed by Name");
    assert_eq!(back["DokkuManaged"], true);
    assert_eq!(back["Labels"]["com.dokku.network-name"], "back");
    assert!(all
        .as_array()
        .expect("array")
        .iter()
        .any(|n| n["Name"] == "bridge" && n["DokkuManaged"] == false));
    let managed = s.json(&["network:list", "--format", "json", "--dokku-managed"]);
    let names: Vec<&str> = managed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|n| n["Name"].as_str())
        .collect();
    assert_eq!(names, ["back"]);
}

#[test]
fn legacy_mounts_become_legacy_entries() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["apps:create", "api"]).ok();
    s.run(&["storage:mount", "web", "/srv/a:/data:ro"]).ok();
    s.run(&["storage:mount", "api", "/srv/a:/other"]).ok();
    // `LegacyMountToEntry`: `legacy-` + sha1("/srv/a")[:10], shared by both apps.
    let list = s.json(&["storage:list", "web", "--format", "json"]);
    assert_eq!(
        list,
        serde_json::json!([{"entry_name": "legacy-ad9cda397b", "host_path": "/srv/a", "container_path": "/data", "readonly": true}])
    );
    let entries = s.json(&["storage:list-entries", "--format", "json"]);
    assert_eq!(entries.as_array().map(Vec::len), Some(1));
    assert_eq!(entries[0]["name"], "legacy-ad9cda397b");
    assert_eq!(entries[0]["host_path"], "/srv/a");
    s.run(&["storage:mount", "web", "/srv/a:/data:ro"])
        .fails(1, "Mount path already exists.");
    assert_eq!(
        s.run(&["--quiet", "storage:list", "web"]).stdout,
        "/srv/a:/data:ro\n"
    );
    s.run(&["storage:unmount", "web", "/srv/a:/data"]).ok();
    s.run(&["storage:unmount", "web", "/srv/a:/data"])
        .fails(1, "Mount path does not exist.");
}

#[test]
fn build_paths_are_applied_at_extract() {
    let s = Sandbox::new();
    s.write(
        "lib/sandbox/images.json",
        r#"{"good:1": {}, "bad:1": {"build_fails": true}}"#,
    );
    s.run(&["apps:create", "web"]).ok();
    s.run(&["builder:set", "web", "build-dir", "svc"]).ok();
    s.run(&[
        "builder-dockerfile:set",
        "web",
        "dockerfile-path",
        "docker/Dockerfile",
    ])
    .ok();
    s.run(&["ps:set", "web", "procfile-path", "over/Procfile"])
        .ok();
    s.run(&["app-json:set", "web", "appjson-path", "over/app.json"])
        .ok();
    let dir = remote(
        &s,
        "web",
        &[
            ("Dockerfile", "FROM bad:1\n"),
            ("svc/Dockerfile", "FROM bad:1\n"),
            ("svc/docker/Dockerfile", "FROM good:1\n"),
            ("svc/Procfile", "web: wrong\n"),
            ("svc/over/Procfile", "web: serve\nworker: work\n"),
            ("svc/over/app.json", "{}"),
        ],
    );
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    let procs: Vec<String> = containers(&s, "web")
        .iter()
        .map(|c| c["proc"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(procs, ["web"], "worker defaults to 0");
    assert_eq!(
        s.json(&["ps:scale", "--format", "json", "web"]),
        serde_json::json!([{"process_type": "web", "quantity": 1}, {"process_type": "worker", "quantity": 0}])
    );

    // Each wrong path fails the deploy with Dokku's message.
    let cases: [(&[&str], &str); 2] = [
        (
            &[
                "builder-dockerfile:set",
                "web",
                "dockerfile-path",
                "nope/Dockerfile",
            ],
            "Invalid dockerfile-path specified: nope/Dockerfile",
        ),
        (
            &["builder:set", "web", "build-dir", "missing"],
            "Specified build-dir not found in sourcecode working directory: missing",
        ),
    ];
    for (set, message) in cases {
        s.run(set).ok();
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
        let (ok, err) = push(&dir);
        assert!(!ok && err.contains(message), "{set:?}: {err}");
        // Put the good value back.
        s.run(&["builder:set", "web", "build-dir", "svc"]).ok();
        s.run(&[
            "builder-dockerfile:set",
            "web",
            "dockerfile-path",
            "docker/Dockerfile",
        ])
        .ok();
        s.run(&["app-json:set", "web", "appjson-path", "over/app.json"])
            .ok();
    }
    // A procfile-path naming no file means no Procfile: the repository's own one is dropped.
    s.run(&["ps:set", "web", "procfile-path", "none/Procfile"])
        .ok();
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    // No Procfile now: any process type may be scaled again.
    s.run(&["ps:scale", "--skip-deploy", "web", "other=1"]).ok();
}

#[test]
fn malformed_procfile_fails_and_scale_needs_a_procfile_type() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    // Without a Procfile any process type may be scaled.
    s.run(&["ps:scale", "--skip-deploy", "web", "other=1"]).ok();
    let dir = remote(
        &s,
        "web",
        &[
            ("Dockerfile", "FROM x:1\n"),
            ("Procfile", "web: serve\n<<<<<<< HEAD=0\nworker: work\n"),
        ],
    );
    let (ok, err) = push(&dir);
    assert!(
        !ok && err.contains("Invalid Procfile: invalid line in procfile, line 2"),
        "{err}"
    );
    std::fs::write(dir.join("Procfile"), "web: serve\nworker: work\n").expect("write");
    git(&dir, &["commit", "-qam", "fixed"]);
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    for args in [
        &["ps:scale", "web", "nope=2"][..],
        &["ps:scale", "--skip-deploy", "web", "nope=2"],
    ] {
        s.run(args)
            .fails(1, "nope is not a valid process name to scale up");
    }
    s.run(&["ps:scale", "--skip-deploy", "web", "nope=0", "worker=2"])
        .ok();
}

#[test]
fn deploy_networks_follow_dokkus_triggers() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let dir = remote(&s, "web", &[("Dockerfile", "FROM x:1\n")]);
    s.run(&["network:set", "web", "initial-network", "front"])
        .ok();
    let (ok, err) = push(&dir);
    assert!(!ok && err.contains("network front not found"), "{err}");
    s.run(&["network:create", "front"]).ok();
    s.run(&["network:set", "web", "attach-post-create", "a", "b"])
        .ok();
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let (ok, err) = push(&dir);
    assert!(!ok && err.contains("Network a does not exist"), "{err}");
    for n in ["a", "b", "c", "d"] {
        s.run(&["network:create", n]).ok();
    }
    s.run(&["network:set", "web", "attach-post-deploy", "c", "d"])
        .ok();
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    // `TriggerPostContainerCreate` joins only the first attach-post-create network;
    // `TriggerCorePostDeploy` joins every attach-post-deploy network.
    let c = containers(&s, "web");
    assert_eq!(
        c[0]["networks"],
        serde_json::json!(["front", "a", "c", "d"])
    );
    s.run(&["network:set", "web", "attach-post-deploy", "c", "gone"])
        .ok();
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let (ok, err) = push(&dir);
    assert!(!ok && err.contains("Network gone does not exist"), "{err}");
}

#[test]
fn ssh_original_command_honours_quotes_like_xargs() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run_env(
        &[(
            "SSH_ORIGINAL_COMMAND",
            r#"config:set --no-restart web GREETING="hello world" 'B=it is'"#,
        )],
        &[],
    )
    .ok();
    let cfg = s.json(&["config:export", "--format", "json", "web"]);
    assert_eq!(cfg["GREETING"], "hello world");
    assert_eq!(cfg["B"], "it is");
    s.run_env(
        &[("SSH_ORIGINAL_COMMAND", r#"config:set web A="open"#)],
        &[],
    )
    .fails(1, "unmatched");
    // A first word containing `git` is split on whitespace only (the `dokku` script).
    assert_eq!(
        dokku_sandbox::ssh_words("git-receive-pack 'web'").expect("split"),
        ["git-receive-pack", "'web'"]
    );
}

#[test]
fn plugin_help_and_version_follow_dokku() {
    let s = Sandbox::new();
    let help = s.run(&["storage:help"]);
    help.ok();
    assert!(
        help.stdout.contains("\nManage mounted volumes\n"),
        "{}",
        help.stdout
    );
    assert_eq!(
        s.run(&["storage"]).stdout,
        help.stdout,
        "bare plugin prints its help"
    );
    assert_eq!(
        s.run(&["apps", "--help"]).stdout,
        s.run(&["apps:help"]).stdout
    );
    assert!(s.run(&["ps"]).stdout.contains("Manage app processes"));
    for v in ["-v", "--version", "version"] {
        assert!(s.run(&[v]).ok().stdout.starts_with("dokku version "));
    }
}

#[test]
fn storage_entries_follow_the_storage_plugin() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["storage:create", "--mode", "750", "data"]).ok();
    let dir = s.lib().join("data/storage/data");
    let mode = std::fs::metadata(&dir)
        .expect("host dir")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o750);
    assert_eq!(
        s.json(&["storage:info", "data", "--format", "json"])["mode"],
        "0750"
    );
    s.run(&["storage:create", "--mode", "0888", "bad"])
        .fails(1, "Unsupported directory mode");
    s.run(&["storage:create", "--chown", "65536", "bad"])
        .fails(1, "Unsupported chown permissions");
    s.run(&["storage:create", "--mode", "0777", "custom", "/srv/custom"])
        .fails(
            1,
            "--mode is only supported when the storage entry uses the default host path",
        );
    s.run(&["storage:set", "data", "mode", "0700"]).ok();
    assert_eq!(
        std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o7777,
        0o700
    );
    s.run(&["storage:set", "data", "bogus", "1"])
        .fails(1, "Invalid property specified, valid properties include:");
    s.run(&["storage:set", "data", "mode", "0770", "--chown", "heroku"])
        .fails(1, "either a property and a value or flags, not both");
    s.run(&["storage:annotations:set", "data", "team", "billing"])
        .ok();
    assert_eq!(
        s.run(&[
            "storage:annotations:report",
            "data",
            "--storage-annotations.team"
        ])
        .stdout,
        "billing\n"
    );
    s.run(&[
        "storage:mount",
        "web",
        "data",
        "--container-dir",
        "/data",
        "--volume-subpath",
        "up",
    ])
    .ok();
    let r = s.json(&["storage:report", "web", "--format", "json"]);
    assert_eq!(r["attachment.1.entry-name"], "data");
    assert_eq!(r["storage-attachment.1.subpath"], "up");
    assert_eq!(r["attachment.1.process-type"], "_default_");
    s.run(&["storage:destroy", "data", "--force"])
        .fails(1, "still mounted by app(s): web");
    s.run(&["storage:unmount", "web", "data"]).ok();
    s.run(&["storage:destroy", "data", "--force", "--destroy-host-dir"])
        .ok();
    assert!(
        !dir.exists(),
        "--destroy-host-dir removes the default host path"
    );
}

#[test]
fn archives_are_checked_before_extraction_like_dokku() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let src = s.root().join("ctx");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("Dockerfile"), "FROM x:1\n").expect("write");
    std::os::unix::fs::symlink("../outside", src.join("up")).expect("symlink");
    let tar = |name: &str| -> Vec<u8> {
        let o = std::process::Command::new("tar")
            .current_dir(&src)
            .args(["-cf", "-", name])
            .output()
            .expect("tar");
        o.stdout
    };
    let from_archive = |bytes: &[u8]| {
        let mut child = s
            .cmd()
            .args(["git:from-archive", "web", "--"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), bytes).expect("write");
        let o = child.wait_with_output().expect("wait");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (ok, err) = from_archive(&tar("up"));
    assert!(
        !ok && err.contains("Archive contains symlinks pointing outside extraction directory"),
        "{err}"
    );
    s.run(&["git:set", "--global", "archive-max-files", "0"])
        .ok();
    let (ok, err) = from_archive(&tar("Dockerfile"));
    assert!(
        !ok && err.contains("Archive contains 1 entries which exceeds the maximum of 0"),
        "{err}"
    );
    s.run(&["git:set", "--global", "archive-max-files"]).ok();
    assert_eq!(
        s.run(&["git:report", "web", "--git-computed-archive-max-files"])
            .stdout,
        "10000\n"
    );
    let (ok, err) = from_archive(&tar("Dockerfile"));
    assert!(ok, "{err}");
}

#[test]
fn a_scaled_type_missing_from_the_procfile_is_skipped() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    // `TriggerPostCreate` scales web to 1 for every app.
    assert_eq!(
        s.json(&["ps:scale", "--format", "json", "web"]),
        serde_json::json!([{"process_type": "web", "quantity": 1}])
    );
    s.run(&["ps:set", "web", "procfile-path", "worker.Procfile"])
        .ok();
    let dir = remote(
        &s,
        "web",
        &[
            ("Dockerfile", "FROM x:1\n"),
            ("worker.Procfile", "worker: work\n"),
        ],
    );
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    assert!(
        err.contains("Skipping web as it is missing from the current Procfile"),
        "{err}"
    );
    assert!(containers(&s, "web").is_empty(), "worker defaults to 0");
}

#[test]
fn port_maps_are_stored_sorted_and_apps_colon_is_no_command() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&[
        "ports:set",
        "web",
        "https:8443:5000",
        "http:8080:5000",
        "http:1234:5001",
    ])
    .ok();
    assert_eq!(
        s.run(&["--quiet", "ports:report", "web", "--ports-map"])
            .stdout,
        "http:1234:5001 http:8080:5000 https:8443:5000\n"
    );
    s.run(&["apps:"])
        .fails(1, "`apps:` is not a dokku command.");
}

/// plugins/git `cmd-git-sync` (`fn-git-clone`, `fn-git-fetch`): a branch given to a new app
/// becomes its deploy branch, a second sync fetches, `--build-if-changes` skips an unchanged
/// branch and a tag is checked out onto the deploy branch.
#[test]
fn git_sync_clones_a_branch_then_fetches_and_builds_only_on_change() {
    let s = Sandbox::new();
    let src = s.root().join("upstream");
    repo(&src, &[("Dockerfile", "FROM scratch\n")]);
    git(&src, &["checkout", "-q", "-b", "another"]);
    std::fs::write(src.join("two"), "2").expect("write");
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-qm", "two"]);
    git(&src, &["tag", "-a", "v2", "-m", "v2"]);
    let url = format!("file://{}", src.display());
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&["git:sync", "web", &url, "another"]);
    r.ok();
    assert!(
        r.stdout
            .contains("Detected branch, setting deploy-branch to another"),
        "{}",
        r.stdout
    );
    assert!(s.root().join("home/web/refs/heads/another").is_file());
    assert_eq!(
        s.run(&["git:report", "web", "--git-deploy-branch"])
            .stdout
            .trim(),
        "another"
    );
    let r = s.run(&["git:sync", "--build-if-changes", "web", &url]);
    r.ok();
    assert!(
        r.stdout.contains("Fetching remote code for web from"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Skipping build as no changes were detected"),
        "{}",
        r.stdout
    );
    // An annotated tag on a new app: checked out onto the default deploy branch, no property.
    s.run(&["apps:create", "tagged"]).ok();
    let r = s.run(&["git:sync", "--skip-deploy-branch", "tagged", &url, "v2"]);
    r.ok();
    let head =
        std::fs::read_to_string(s.root().join("home/tagged/refs/heads/master")).expect("master");
    let want = String::from_utf8_lossy(&git(&src, &["rev-parse", "another"]).stdout).to_string();
    assert_eq!(head.trim(), want.trim());
    s.run(&["git:sync", "tagged"])
        .fails(1, "Missing GIT_REMOTE parameter");
}

/// plugins/git `cmd-git-auth`, `cmd-git-auth-status`, `cmd-git-public-key`.
#[test]
fn git_auth_writes_a_private_netrc_and_public_key_explains_itself() {
    let s = Sandbox::new();
    s.run(&["git:auth"]).fails(1, "Please supply a git host");
    s.run(&["git:auth", "github.com", "user"])
        .fails(1, "Missing password for netrc auth entry");
    let r = s.run_stdin(&["git:auth", "github.com", "user"], "piped-secret");
    r.ok();
    assert!(r
        .stdout
        .contains("Setting netrc auth entry for host github.com"));
    let netrc = s.root().join("home/.netrc");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&netrc)
        .expect("netrc")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&netrc)
        .expect("netrc")
        .contains("piped-secret"));
    s.run(&["git:auth-status", "github.com", "user", "piped-secret"])
        .ok();
    assert_eq!(
        s.run(&["git:auth-status", "github.com", "user", "wrong"])
            .code,
        1
    );
    assert_eq!(s.run(&["git:auth-status", "github.com"]).code, 1);
    let r = s.run(&["git:auth", "github.com"]);
    assert!(r
        .stdout
        .contains("Removing netrc auth entry for host github.com"));
    s.run(&["git:auth-status", "github.com"]).ok();
    s.run(&["git:public-key"]).fails(
        1,
        "configure the netrc authentication via the git:auth command",
    );
}

/// plugins/logs `writeVectorConfig` and `SinkValueToConfig`; `redactedSink` in the report.
#[test]
fn logs_sinks_are_written_to_vector_json_and_redacted_in_reports() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let r = s.run(&[
        "logs:set",
        "web",
        "vector-sink",
        "loki://?endpoint=https://host&auth[token]=foobar%3D&encoding[codec]=json",
    ]);
    r.ok();
    assert!(
        r.stdout.contains("Writing updated vector config to"),
        "{}",
        r.stdout
    );
    let path = s.lib().join("data/logs/vector.json");
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&path).expect("vector.json")).expect("json")
    };
    let v = read();
    let sink = &v["sinks"]["docker-sink:web"];
    assert_eq!(sink["type"], "loki");
    assert_eq!(sink["auth"]["token"], "foobar=");
    assert_eq!(sink["encoding"]["codec"], "json");
    assert_eq!(sink["inputs"][0], "docker-source:web");
    assert_eq!(
        v["sources"]["docker-source:web"]["include_labels"][0],
        "com.dokku.app-name=web"
    );
    assert!(v.get("transforms").is_none());
    s.run(&[
        "logs:set",
        "web",
        "vector-cron-sink",
        "console://?encoding[codec]=text",
    ])
    .ok();
    let v = read();
    assert_eq!(v["transforms"]["docker-router:web"]["type"], "route");
    assert_eq!(
        v["sinks"]["docker-sink:web"]["inputs"][0],
        "docker-router:web._unmatched"
    );
    assert_eq!(
        v["sinks"]["docker-cron-sink:web"]["inputs"][0],
        "docker-cron-remap:web"
    );
    let r = s.run(&["logs:report", "web"]);
    assert!(r.stdout.contains("loki://redacted"), "{}", r.stdout);
    let r = s.run(&["logs:report", "web", "--logs-vector-sink"]);
    assert!(r.stdout.contains("auth[token]=foobar%3D"), "{}", r.stdout);
    s.run(&["logs:set", "web", "vector-image", "x"])
        .fails(1, "vector-image may only be set globally with --global");
    s.run(&["logs:set", "web", "app-label-alias", "bad!"])
        .fails(1, "Invalid app-label-alias value");
    s.run(&["--force", "apps:destroy", "web"]).ok();
    let v = read();
    assert!(v["sources"].get("docker-source:web").is_none());
    assert!(v["sinks"].get("docker-null-sink").is_some());
}

/// Raw report values are the stored property ("" when unset), as plugins/apps, proxy and
/// scheduler report.go; `config:export --format shell` ends in a space (plugins/config
/// `SubExport`); apps properties other than disable-autocreation are not global.
#[test]
fn raw_report_values_and_export_suffix_follow_dokku() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    let p = s.json(&["proxy:report", "web", "--format", "json"]);
    assert_eq!(p["proxy-disabled"], "");
    assert_eq!(p["proxy-computed-disabled"], "false");
    let g = s.json(&["proxy:report", "--global", "--format", "json"]);
    assert_eq!(g["proxy-computed-type"], "nginx");
    let a = s.json(&["apps:report", "--global", "--format", "json"]);
    assert_eq!(a["app-global-disable-autocreation"], "");
    let sch = s.json(&["scheduler:report", "web", "--format", "json"]);
    assert_eq!(sch["scheduler-computed-shell"], "");
    s.run(&["apps:set", "--global", "deploy-source", "git"])
        .fails(1, "Property cannot be specified globally");
    s.run(&["config:set", "--no-restart", "web", "A=1", "B=2"])
        .ok();
    let r = s.run(&["config:export", "--format", "shell", "web"]);
    assert!(r.stdout.starts_with("A='1' B='2' "), "{:?}", r.stdout);
    assert!(r.stdout.ends_with("' "), "{:?}", r.stdout);
    // plugins/git `fn-git-create-hook` quotes the app; `git_receive_app` names the branch.
    let hook = std::fs::read_to_string(s.root().join("home/web/hooks/pre-receive")).expect("hook");
    assert!(hook.contains("git-hook \"web\""), "{hook}");
    let r = s.run(&["ps:rebuild", "web"]);
    assert!(
        r.stdout
            .contains("Cannot build from 'master' as there are no commits stored at that branch."),
        "{}",
        r.stdout
    );
}

/// plugins/plugin/subcommands/install argument check; the core plugins' `builder-detect`
/// answers; the builder-herokuish property plugin.
#[test]
fn plugin_install_errors_and_core_builder_detect() {
    let s = Sandbox::new();
    let r = s.run(&["plugin:install", "/path/to/nonexistent", "--random-flag"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Valid prefixes: https:, git:, ssh:, file:"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Please retry with valid arguments"),
        "{}",
        r.stderr
    );
    s.run(&["apps:create", "web"]).ok();
    let dir = s.root().join("detect");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let d = dir.display().to_string();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").expect("write");
    let first = |s: &Sandbox| {
        let r = s.run(&["plugin:trigger", "builder-detect", "web", &d]);
        r.stdout.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(first(&s), "dockerfile");
    std::fs::write(dir.join(".buildpacks"), "").expect("write");
    assert_eq!(first(&s), "herokuish");
    s.run(&["builder:set", "web", "selected", "pack"]).ok();
    assert_eq!(first(&s), "pack");
    s.run(&["builder-herokuish:set", "web", "allowed", "false"])
        .ok();
    let h = s.json(&["builder-herokuish:report", "web", "--format", "json"]);
    assert_eq!(h["allowed"], "false");
}

/// dokku-postgres `service-clone-cmd` and `service_promote`.
#[test]
fn postgres_clone_and_promote_follow_the_plugin() {
    let s = Sandbox::new();
    s.run(&["postgres:create", "a"]).ok();
    s.run(&["postgres:clone", "a"])
        .fails(1, "Please specify a name for the new service");
    s.run(&["postgres:create", "b"]).ok();
    s.run(&["postgres:clone", "a", "b"]).fails(
        1,
        "Invalid service name b. Verify the service name is not already in use.",
    );
    let r = s.run(&["postgres:clone", "a", "c"]);
    r.ok();
    assert!(
        r.stdout.contains("Copying data from a to c"),
        "{}",
        r.stdout
    );
    s.run(&["apps:create", "web"]).ok();
    s.run(&["postgres:link", "a", "web"]).ok();
    s.run(&["postgres:promote", "a", "web"])
        .fails(1, "Service a already promoted as DATABASE_URL");
    s.run(&["postgres:promote", "b", "web"])
        .fails(1, "Not linked to app web");
    s.run(&["postgres:link", "b", "web"]).ok();
    s.run(&["postgres:promote", "b", "web"]).ok();
    let env = s.json(&["config:export", "--format", "json", "web"]);
    let b_url = env["DOKKU_POSTGRES_AQUA_URL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        env["DATABASE_URL"]
            .as_str()
            .unwrap_or_default()
            .contains("dokku-postgres-b"),
        "{env}"
    );
    assert!(
        !b_url.is_empty()
            || env.as_object().is_some_and(|m| m
                .values()
                .any(|v| v.as_str().is_some_and(|u| u.contains("dokku-postgres-a")))),
        "{env}"
    );
}

/// plugins/app-json `processAppJSONEnv` (before `pre-release-builder`), docker-options
/// `WarnIfProcessNotInProcfile`, and `checks:run` with a list of types and containers
/// (plugins/checks/subcommands/run).
#[test]
fn app_json_env_procfile_warning_and_checks_run_lists() {
    let s = Sandbox::new();
    let appjson = r#"{"env": {"PLAIN": "v", "GEN": {"generator": "secret"}, "SYNCED": {"value": "s", "sync": true}, "OPT": {"required": false}}}"#;
    let dir = remote(
        &s,
        "web",
        &[
            ("Dockerfile", "FROM python:3.12\n"),
            ("Procfile", "web: serve\nworker: work\n"),
            ("app.json", appjson),
        ],
    );
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    assert!(err.contains("Setting 3 env var(s) from app.json"), "{err}");
    let env = s.json(&["config:export", "--format", "json", "web"]);
    assert_eq!(env["PLAIN"], "v");
    assert_eq!(env["GEN"].as_str().map(str::len), Some(64));
    assert!(env.get("OPT").is_none());
    s.run(&[
        "config:set",
        "--no-restart",
        "web",
        "PLAIN=mine",
        "SYNCED=mine",
    ])
    .ok();
    s.run(&["ps:rebuild", "web"]).ok();
    let env2 = s.json(&["config:export", "--format", "json", "web"]);
    assert_eq!(env2["PLAIN"], "mine", "only sync variables are set again");
    assert_eq!(env2["SYNCED"], "s");
    assert_eq!(env2["GEN"], env["GEN"]);
    let r = s.run(&[
        "docker-options:add",
        "--process",
        "nope",
        "web",
        "deploy",
        "-v /tmp:/tmp",
    ]);
    r.ok();
    assert!(
        r.stderr
            .contains("Process type \"nope\" is not declared in the Procfile for web"),
        "{}",
        r.stderr
    );
    s.run(&["ps:scale", "web", "worker=1"]).ok();
    s.run(&["checks:run", "web", "web,worker.1"]).ok();
    s.run(&["checks:run", "web", "web.2"])
        .fails(1, "Invalid container index specified (web.web.2)");
    s.run(&["checks:run", "web", "web2"])
        .fails(1, "Invalid process type specified (web.web2)");
    // A required variable without a value fails the deploy.
    let dir = remote(
        &s,
        "req",
        &[
            ("Dockerfile", "FROM python:3.12\n"),
            ("app.json", r#"{"env": {"NEED": {"required": true}}}"#),
        ],
    );
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(err.contains("required env var NEED has no value"), "{err}");
}

/// plugins/domains `post-app-rename-setup`; plugins/storage `TriggerInstall` (the entry
/// registry); plugins/git `git-from-directory` on a new repo (HEAD is the deploy branch).
#[test]
fn rename_rewrites_global_domains_and_from_image_points_head_at_the_deploy_branch() {
    let s = Sandbox::new();
    s.run(&["domains:set-global", "dokku.me"]).ok();
    s.run(&["apps:create", "web"]).ok();
    s.run(&[
        "domains:set",
        "web",
        "web.dokku.me",
        "web.dokku.test",
        "custom.example.com",
    ])
    .ok();
    s.run(&["apps:rename", "--skip-deploy", "web", "other"])
        .ok();
    let r = s.run(&["domains:report", "other", "--domains-app-vhosts"]);
    assert_eq!(
        r.stdout.trim(),
        "other.dokku.me web.dokku.test custom.example.com"
    );
    assert!(s.lib().join("data/storage-registry/entries").is_dir());
    s.run(&["apps:create", "img"]).ok();
    s.run(&["git:set", "img", "deploy-branch", "main"]).ok();
    s.run(&["git:from-image", "img", "python:3.12"]).ok();
    let head = std::fs::read_to_string(s.root().join("home/img/HEAD")).expect("HEAD");
    assert_eq!(head.trim(), "ref: refs/heads/main");
}
