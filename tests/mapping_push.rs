//! Issue #15, the datastore items end to end: each case is a `git push` (or `compose:up`) into
//! the sandbox with the plugin installed, asserted through the sandbox's own commands.

use crate::plugin::{commit, push, text, Host};
use crate::support::{assert_repush_up_to_date, push_ok, push_refused};

const DB: &str =
    "  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: first-pw\n";
const APP: &str = "  app:\n    image: nginx:1.27\n    environment:\n      DATABASE_URL: postgres://postgres:first-pw@db:5432/app\n    depends_on: [db]\n";

/// Item 1: a changed datastore password is refused with the commands that do change it, and
/// nothing changes (the app keeps the password the datastore has).
#[test]
fn a_changed_datastore_password_is_refused_and_nothing_changes() {
    let h = Host::new();
    let dir = h.repo(
        "shop",
        &[("compose.yaml", &format!("services:\n{APP}{DB}"))],
    );
    push_ok(&dir);
    let before = h.config("shop-app");
    assert!(
        before["DATABASE_URL"]
            .as_str()
            .unwrap_or_default()
            .contains(":first-pw@"),
        "{before}"
    );
    commit(
        &dir,
        "compose.yaml",
        &format!("services:\n{APP}{DB}").replace("first-pw", "second-pw"),
    );
    let out = push_refused(&dir);
    assert!(out.contains("`services.db.environment.POSTGRES_PASSWORD`: the postgres service `shop-db` has another password") && out.contains("dokku postgres:info shop-db --dsn"), "{out}");
    assert_eq!(h.config("shop-app"), before);
    let dsn = text(&h.dokku(&["postgres:info", "shop-db", "--dsn"]));
    assert!(dsn.contains(":first-pw@"), "{dsn}");
}

/// Item 7: a new image tag upgrades the datastore (`postgres:upgrade`), and is not "up to
/// date"; the next push is.
#[test]
fn a_datastore_image_bump_runs_the_plugins_upgrade() {
    let h = Host::new();
    let dir = h.repo("shop", &[("compose.yaml", &format!("services:\n{DB}"))]);
    assert!(push(&dir).0);
    commit(
        &dir,
        "compose.yaml",
        &format!("services:\n{DB}").replace("postgres:16", "postgres:17"),
    );
    let out = push_ok(&dir);
    assert!(
        !out.contains("up to date") && out.contains("postgres:upgrade"),
        "{out}"
    );
    let version = text(&h.dokku(&["postgres:info", "shop-db", "--version"]));
    assert_eq!(version.trim(), "postgres:17");
    assert_repush_up_to_date(&dir);
}

/// Item 7: a Redis DB index the link's `REDIS_URL` cannot carry (the plugin generates the
/// password) is refused before anything is created.
#[test]
fn a_redis_db_index_the_link_cannot_carry_is_refused_before_any_change() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      JOBS_URL: redis://cache:6379/2\n  cache:\n    image: redis:7\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    let out = push_refused(&dir);
    assert!(
        out.contains("`services.web.environment.JOBS_URL`: `/2` cannot be kept"),
        "{out}"
    );
    assert!(
        !h.dokku(&["redis:exists", "shop-cache"]).status.success(),
        "{out}"
    );
    assert!(
        !h.dokku(&["apps:exists", "shop-web"]).status.success(),
        "{out}"
    );
}

/// Item 3: an empty value under the link's variable (`${REDIS_URL:-}`) is dropped, so the
/// link's URL stays.
#[test]
fn an_empty_link_variable_is_dropped_and_the_links_url_stays() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      REDIS_URL: ${REDIS_URL:-}\n    depends_on: [cache]\n  cache:\n    image: redis:7\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let url = h.config("shop-web")["REDIS_URL"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        url.starts_with("redis://") && url.contains("dokku-redis-shop-cache"),
        "{url}"
    );
    assert_repush_up_to_date(&dir);
}

/// Item 7: `POSTGRES_PASSWORD_FILE` naming a compose secret the datastore lists gives the
/// datastore that password; a changed secret is refused like a changed `POSTGRES_PASSWORD`.
#[test]
fn a_password_file_secret_is_the_datastores_password() {
    let h = Host::new();
    let compose = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_pw\n    secrets: [db_pw]\n  app:\n    image: nginx:1.27\n    depends_on: [db]\nsecrets:\n  db_pw:\n    file: ./db_pw.txt\n";
    let dir = h.repo(
        "shop",
        &[("compose.yaml", compose), ("db_pw.txt", "pw-from-a-secret")],
    );
    let out = push_ok(&dir);
    assert!(!out.contains("pw-from-a-secret"), "{out}");
    let dsn = text(&h.dokku(&["postgres:info", "shop-db", "--dsn"]));
    assert!(dsn.contains(":pw-from-a-secret@"), "{dsn}");
    let url = h.config("shop-app")["DATABASE_URL"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        url.contains(":pw-from-a-secret@"),
        "the link carries the secret's password: {url}"
    );
    commit(&dir, "db_pw.txt", "another-pw");
    let out = push_refused(&dir);
    assert!(out.contains("`services.db.environment.POSTGRES_PASSWORD_FILE`: the postgres service `shop-db` has another password"), "{out}");
    assert!(!out.contains("another-pw"), "{out}");
}

/// `--prune --destroy-datastore` when a linked app leaves the file with its datastore: the
/// datastore is unlinked and its consumers gone before `<plugin>:destroy` (the app's
/// destroy used to run first, and the unlink step then failed on the missing app).
#[test]
fn pruning_a_datastore_with_its_consumer_unlinks_before_destroying() {
    let h = Host::new();
    let web = "  web:\n    image: nginx:1.27\n";
    let dir = h.repo(
        "shop",
        &[("compose.yaml", &format!("services:\n{web}{APP}{DB}"))],
    );
    push_ok(&dir);
    commit(&dir, "compose.yaml", &format!("services:\n{web}"));
    let out = push_ok(&dir);
    assert!(out.contains("was kept"), "{out}");
    let out = h.succeeds(&["compose:up", "shop", "--prune", "--destroy-datastore", "db"]);
    assert!(
        !h.dokku(&["apps:exists", "shop-app"]).status.success(),
        "{out}"
    );
    assert!(
        !h.dokku(&["postgres:exists", "shop-db"]).status.success(),
        "{out}"
    );
    h.succeeds(&["apps:exists", "shop-web"]);
}

/// Item 14 off the server: `dokku-compose plan` cannot see the host's global Let's Encrypt
/// e-mail, so it warns (saying the push decides); given a host snapshot, a missing e-mail is
/// refused as the push refuses it and a set one drops the warning.
#[test]
fn letsencrypt_email_off_server_warns_and_a_snapshot_decides() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("compose.json");
    let json = serde_json::json!({"services": {"web": {"image": "nginx:1.27", "ports": [{"target": 80, "published": "80"}],
        "x-dokku": {"letsencrypt": true, "domains": ["a.example.test"]}}}});
    std::fs::write(&f, json.to_string()).unwrap();
    let plan = |state: Option<serde_json::Value>| {
        let mut c = crate::support::dokku_compose_plan();
        c.args(["--stack", "demo", "--json"]).arg(&f);
        if let Some(s) = state {
            let p = dir.path().join("state.json");
            let mut full =
                serde_json::json!({"apps": {}, "datastores": {}, "networks": [], "storage": []});
            full["letsencrypt_global_email"] = s;
            std::fs::write(&p, full.to_string()).unwrap();
            c.arg("--state").arg(p);
        }
        c.output().unwrap()
    };
    let o = plan(None);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success() && err.contains("`services.web.x-dokku.letsencrypt`: no `x-dokku.letsencrypt_email`") && err.contains("which this plan does not see; the push refuses before any change when it is not set"), "{err}");
    let o = plan(Some(serde_json::json!("")));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success()
            && err.contains("service `web` asks for Let's Encrypt, which needs an e-mail"),
        "{err}"
    );
    let o = plan(Some(serde_json::json!("ops@example.test")));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success() && !err.contains("letsencrypt"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("letsencrypt:enable demo-web"));
}

/// Item 18: a warning names a list entry by its index in the file, not in the list the loader
/// expanded (`8000-8002:8000-8002` is one written entry and three expanded ones), off the
/// server and in a push.
#[test]
fn warnings_name_list_entries_as_written() {
    let compose = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8000-8002:8000-8002\", \"443:443\"]\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let o = crate::support::dokku_compose_plan()
        .args(["--stack", "shop", "-f"])
        .arg(dir.path().join("compose.yaml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("`services.web.ports[1]`: published by docker on host port 443")
            && !err.contains("ports[3]"),
        "{err}"
    );
    let h = Host::new();
    let repo = h.repo("shop", &[("compose.yaml", compose)]);
    let out = push_ok(&repo);
    assert!(
        out.contains("`services.web.ports[1]`: published by docker on host port 443")
            && !out.contains("ports[3]"),
        "{out}"
    );
}

/// Item 2: rewrites follow meaning: a value equal to the datastore's declared database under
/// an unrelated key (`SITE_NAME`) stays, the app's `DB_NAME` becomes the plugin's database, and
/// an app that does not use RabbitMQ keeps its `POSTGRES_USER` and is not linked to it.
#[test]
fn rewrites_follow_meaning_in_a_push() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      SITE_NAME: shop\n      OTEL_SERVICE_NAME: shop\n      DB_NAME: shop\n    depends_on: [db]\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: pw\n      POSTGRES_DB: shop\n  other:\n    image: nginx:1.27\n    environment:\n      POSTGRES_USER: zulip\n  mq:\n    image: rabbitmq:4\n    environment:\n      RABBITMQ_DEFAULT_USER: zulip\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    push_ok(&dir);
    let web = h.config("shop-web");
    assert_eq!(
        (
            web["SITE_NAME"].as_str(),
            web["OTEL_SERVICE_NAME"].as_str(),
            web["DB_NAME"].as_str()
        ),
        (Some("shop"), Some("shop"), Some("shop_db")),
        "{web}"
    );
    let other = h.config("shop-other");
    assert_eq!(other["POSTGRES_USER"], "zulip", "{other}");
    assert!(other.get("RABBITMQ_URL").is_none(), "{other}");
    let links = text(&h.dokku(&["rabbitmq:links", "shop-mq"]));
    assert!(!links.contains("shop-other"), "{links}");
}

/// Item 6: a service on two networks is created on the one its consumer shares, so the
/// consumer resolves it by name; consumers sharing none of its networks are refused by pair,
/// before any change.
#[test]
fn a_service_is_created_on_the_network_its_consumers_share() {
    let h = Host::new();
    let proxy =
        "  proxy:\n    image: nginx:1.27\n    networks: [front]\n    depends_on: [backend]\n";
    let backend = "  backend:\n    image: nginx:1.27\n    networks: [back, front]\n";
    let nets = "networks:\n  front: {}\n  back: {}\n";
    let dir = h.repo(
        "shop",
        &[(
            "compose.yaml",
            &format!("services:\n{proxy}{backend}{nets}"),
        )],
    );
    push_ok(&dir);
    let report = h.report("network", "shop-backend");
    assert_eq!(report["network-initial-network"], "shop-front", "{report}");
    let worker =
        "  worker:\n    image: nginx:1.27\n    networks: [back]\n    depends_on: [backend]\n";
    let h2 = Host::new();
    let dir = h2.repo(
        "shop",
        &[(
            "compose.yaml",
            &format!("services:\n{proxy}{backend}{worker}{nets}"),
        )],
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("services `proxy` and `worker` both use `backend`"),
        "{out}"
    );
    assert!(
        !h2.dokku(&["apps:exists", "shop-backend"]).status.success(),
        "{out}"
    );
}

/// A secret whose file is missing is refused before any change, also when it is the stack's
/// only secret (then no secret had a value and the plan used to take the mask as the value:
/// `API_KEY=********` in the app's config, or a mount of a file never written).
#[test]
fn a_secret_without_a_value_is_refused_even_when_it_is_the_only_one() {
    let h = Host::new();
    for (stack, delivery) in [
        ("one", ""),
        (
            "two",
            "x-dokku:\n  services:\n    web:\n      secrets: env\n",
        ),
    ] {
        let compose = format!("services:\n  web:\n    image: nginx:1.27\n    secrets: [api_key]\nsecrets:\n  api_key:\n    file: ./api_key.txt\n{delivery}");
        let dir = h.repo(stack, &[("compose.yaml", &compose)]);
        let (ok, out) = push(&dir);
        assert!(
            !ok && out.contains("service `web` uses secret `api_key`, which has no value"),
            "{stack}: {out}"
        );
        assert!(
            !h.dokku(&["apps:exists", &format!("{stack}-web")])
                .status
                .success(),
            "{stack}: {out}"
        );
    }
}

/// Item 16: only secrets are masked: a push's plan and `compose:diff` show an ordinary value
/// (`RAILS_ENV`) and its change, and say only "secret changed" of a password.
#[test]
fn only_secrets_are_masked_in_a_push_and_its_diff() {
    let h = Host::new();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      RAILS_ENV: production\n      WEB_CONCURRENCY: \"2\"\n      DB_PASSWORD: first-secret-pw\n";
    let dir = h.repo("shop", &[("compose.yaml", compose)]);
    assert!(push(&dir).0);
    commit(
        &dir,
        "compose.yaml",
        &compose
            .replace("production", "staging")
            .replace("first-secret-pw", "second-secret-pw"),
    );
    let out = push_ok(&dir);
    assert!(!out.contains("secret-pw"), "{out}");
    let config = text(&h.dokku(&["compose:config", "shop"]));
    assert!(
        config.contains("staging") && !config.contains("secret-pw"),
        "{config}"
    );
    let diff = text(&h.dokku(&["compose:diff", "shop", "v1", "v2"]));
    assert!(
        diff.contains("~ services.web.environment.RAILS_ENV: production -> staging"),
        "{diff}"
    );
    assert!(
        diff.contains("~ services.web.environment.DB_PASSWORD: secret changed")
            && !diff.contains("secret-pw"),
        "{diff}"
    );
    assert!(!diff.contains("WEB_CONCURRENCY"), "unchanged: {diff}");
}
