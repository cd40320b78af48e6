//! Tests of the conversion from compose JSON: key classification, names, datastores, volumes.

use super::ctx::relative_path;
use super::source::duration_secs;
use super::*;

#[test]
fn durations() {
    assert_eq!(duration_secs("1m30s"), Some(90));
    assert_eq!(duration_secs("500ms"), Some(1));
    assert_eq!(duration_secs("10s"), Some(10));
    assert_eq!(duration_secs("x"), None);
    assert_eq!(duration_secs("1.5s"), Some(2));
    assert_eq!(duration_secs("-1s"), None);
    assert_eq!(duration_secs("2500000000"), Some(3));
}

fn convert(json: serde_json::Value) -> Result<(Project, Vec<Warning>), ModelError> {
    let opts = ConvertOptions {
        stack: StackName::parse("s").unwrap(),
        project_dir: "/p".into(),
    };
    from_compose_json(&json, &opts)
}

#[test]
fn every_key_is_classified() {
    let (_, warnings) = convert(serde_json::json!({"services": {"web": {
        "image": "nginx", "labels": {"a": "b"}, "tty": true, "stdin_open": false, "x-anchor": 1
    }}}))
    .unwrap();
    let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "`services.web.labels`: Dokku manages container labels",
            "`services.web.tty`: Dokku containers run detached"
        ]
    );
}

#[test]
fn unknown_and_rejected_keys_are_errors() {
    let e = convert(serde_json::json!({"services": {"web": {"image": "x", "imagee": "y"}}}))
        .unwrap_err();
    assert_eq!(e.to_string(), "`services.web.imagee`: unknown compose key");
    let e =
        convert(serde_json::json!({"services": {"web": {"image": "x", "oom_kill_disable": true}}}))
            .unwrap_err();
    assert_eq!(e.to_string(), "`services.web.oom_kill_disable` is not supported: disabling the OOM killer can take the whole host down");
    let e = convert(serde_json::json!({"bogus": 1})).unwrap_err();
    assert_eq!(e.to_string(), "`bogus`: unknown compose key");
    let e = convert(serde_json::json!({"services": {"web": {"image": "x", "environment": {"spring.datasource.url": "x"}}}})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`services.web.environment.spring.datasource.url`: `spring.datasource.url` is not a valid Dokku config key (must match ^[A-Za-z_][A-Za-z0-9_]*$)"
    );
}

#[test]
fn datastores_and_rewrites() {
    let (p, _) = convert(serde_json::json!({"services": {
        "db": {"image": "postgres:16", "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "appdb"}},
        "web": {"image": "x", "environment": {
            "DB_HOST": "db", "DB_ADDR": "db:5432", "DB_USER": "app", "DB_NAME": "appdb", "DB_PASSWORD": "pw",
            "JDBC": "jdbc:postgresql://db:5432/appdb?ssl=true", "OTHER": "dbx"
        }}
    }}))
    .unwrap();
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    let v = |k: &str| web.env[k].value.as_str();
    assert_eq!(v("DB_HOST"), "dokku-postgres-s-db");
    assert_eq!(v("DB_ADDR"), "dokku-postgres-s-db:5432");
    assert_eq!(v("DB_USER"), "postgres");
    assert_eq!(v("DB_NAME"), "s_db");
    assert_eq!(v("DB_PASSWORD"), "pw");
    assert_eq!(
        v("JDBC"),
        "jdbc:postgresql://postgres:pw@dokku-postgres-s-db:5432/s_db?ssl=true"
    );
    assert_eq!(v("OTHER"), "dbx");
    assert!(web.links.contains_key(&ServiceName::new("db")));
    let db = p.services[&ServiceName::new("db")].datastore().unwrap();
    assert_eq!(
        (db.plugin, db.version.as_deref(), db.password.as_deref()),
        ("postgres", Some("16"), Some("pw"))
    );
}

/// Issue #15 item 7: `POSTGRES_PASSWORD_FILE` naming a secret the datastore lists makes
/// that secret the datastore's password; any other file is refused, as are both keys.
#[test]
fn a_password_file_from_a_compose_secret_is_the_datastore_password() {
    let secrets = serde_json::json!({"db_pw": {"file": "/p/db_pw.txt"}});
    let db = |env: serde_json::Value, target: Option<&str>| {
        let mut use_ = serde_json::json!({"source": "db_pw"});
        if let Some(t) = target {
            use_["target"] = serde_json::json!(t);
        }
        serde_json::json!({"services": {"db": {"image": "postgres:16", "environment": env, "secrets": [use_]}}, "secrets": secrets})
    };
    let (p, _) = convert(db(
        serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/db_pw"}),
        None,
    ))
    .unwrap();
    let ds = p.services[&ServiceName::new("db")]
        .datastore()
        .unwrap()
        .clone();
    assert_eq!(
        (ds.password, ds.password_secret.as_deref()),
        (None, Some("db_pw"))
    );
    assert!(ds.custom_env.is_empty(), "{:?}", ds.custom_env);
    let (_, warnings) = convert(db(
        serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/db_pw"}),
        None,
    ))
    .unwrap();
    assert!(
        warnings.iter().all(|w| w.path != "services.db.secrets"),
        "{warnings:?}"
    );
    let (p, _) = convert(db(
        serde_json::json!({"POSTGRES_PASSWORD_FILE": "/etc/pw"}),
        Some("/etc/pw"),
    ))
    .unwrap();
    assert_eq!(
        p.services[&ServiceName::new("db")]
            .datastore()
            .unwrap()
            .password_secret
            .as_deref(),
        Some("db_pw")
    );
    let e = convert(db(
        serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/other"}),
        None,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("`services.db.environment.POSTGRES_PASSWORD_FILE`: `/run/secrets/other` is not where a secret of this service is mounted"), "{e}");
    let e = convert(db(serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/db_pw", "POSTGRES_PASSWORD": "x"}), None)).unwrap_err().to_string();
    assert!(
        e.contains("`POSTGRES_PASSWORD` and `POSTGRES_PASSWORD_FILE` are both set"),
        "{e}"
    );
    let e = convert(db(
        serde_json::json!({"POSTGRES_DB_FILE": "/run/secrets/db_pw"}),
        None,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("`services.db.environment.POSTGRES_DB_FILE`: `/run/secrets/db_pw` is a compose secret's file, and the postgres plugin runs the datastore container itself"), "{e}");
}

#[test]
fn generated_passwords_come_from_the_link() {
    let (p, warnings) = convert(serde_json::json!({"services": {
        "cache": {"image": "redis:7"},
        "web": {"image": "x", "environment": {"REDIS_URL": "redis://cache:6379", "JOBS_URL": "redis://cache:6379/0", "RAW": "redis://cache"}}
    }}))
    .unwrap();
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    assert!(!web.env.contains_key("REDIS_URL"));
    assert!(!web.env.contains_key("JOBS_URL"));
    assert_eq!(
        web.links[&ServiceName::new("cache")].alias.as_deref(),
        Some("JOBS")
    );
    assert_eq!(
        warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["`services.web.environment.RAW`: points at datastore `cache`, whose password the plugin generates; read `REDIS_URL` set by the link instead"]
    );
}

#[test]
fn a_redis_db_index_the_link_cannot_carry_is_refused() {
    let e = convert(serde_json::json!({"services": {
        "cache": {"image": "redis:7"},
        "web": {"image": "x", "environment": {"JOBS_URL": "redis://cache:6379/1"}}
    }}))
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("`services.web.environment.JOBS_URL`: `/1` cannot be kept"),
        "{e}"
    );
    // With the password declared, the URL is written whole, index included.
    let (p, _) = convert(serde_json::json!({"services": {
        "cache": {"image": "redis:7", "environment": {"REDIS_PASSWORD": "pw"}},
        "web": {"image": "x", "environment": {"JOBS_URL": "redis://cache:6379/1"}}
    }}))
    .unwrap();
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    assert_eq!(
        web.env["JOBS_URL"].value,
        "redis://:pw@dokku-redis-s-cache:6379/1"
    );
    assert!(web.env["JOBS_URL"].secret);
}

#[test]
fn rewrites_follow_meaning_not_equal_values() {
    let (p, _) = convert(serde_json::json!({"services": {
        "db": {"image": "postgres:16", "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop"}},
        "mq": {"image": "rabbitmq:3", "environment": {"RABBITMQ_DEFAULT_USER": "zulip", "RABBITMQ_DEFAULT_PASS": "pw2"}},
        // An app of an image the catalog does not know, not using `mq`: never rewritten or linked.
        "pg": {"image": "zulip/zulip-postgresql:14", "environment": {"POSTGRES_USER": "zulip"}},
        "web": {"image": "x", "depends_on": {"db": {"condition": "service_started"}, "mq": {"condition": "service_started"}}, "environment": {
            "SITE_NAME": "shop", "OTEL_SERVICE_NAME": "shop", "DB_NAME": "shop", "PG_USER": "app", "RABBITMQ_USER": "zulip"
        }}
    }}))
    .unwrap();
    let pg = p.services[&ServiceName::new("pg")].app().unwrap();
    assert_eq!(pg.env["POSTGRES_USER"].value, "zulip");
    assert!(pg.links.is_empty());
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    let v = |k: &str| web.env[k].value.as_str();
    assert_eq!((v("SITE_NAME"), v("OTEL_SERVICE_NAME")), ("shop", "shop"));
    assert_eq!(
        (v("DB_NAME"), v("PG_USER"), v("RABBITMQ_USER")),
        ("s_db", "postgres", "s-mq")
    );
    assert_eq!(
        p.rewrites["services.web.environment.DB_NAME"],
        "`shop` -> `s_db` (database of datastore `db`)"
    );
    assert!(!p
        .rewrites
        .contains_key("services.web.environment.SITE_NAME"));

    // The same user declared by two datastores the app uses: only a key that names one.
    let (p, warnings) = convert(serde_json::json!({"services": {
        "db": {"image": "postgres:16", "environment": {"POSTGRES_USER": "shop", "POSTGRES_PASSWORD": "pw"}},
        "mq": {"image": "rabbitmq:3", "environment": {"RABBITMQ_DEFAULT_USER": "shop", "RABBITMQ_DEFAULT_PASS": "pw2"}},
        "web": {"image": "x", "depends_on": {"db": {"condition": "service_started"}, "mq": {"condition": "service_started"}}, "environment": {
            "PG_USER": "shop", "AMQP_USER": "shop", "APP_USER": "shop"
        }}
    }}))
    .unwrap();
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    let v = |k: &str| web.env[k].value.as_str();
    assert_eq!(
        (v("PG_USER"), v("AMQP_USER"), v("APP_USER")),
        ("postgres", "s-mq", "shop")
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.path == "services.web.environment.APP_USER"),
        "{warnings:?}"
    );
}

#[test]
fn an_empty_value_leaves_the_link_variable_alone() {
    let (p, _) = convert(serde_json::json!({"services": {
        "cache": {"image": "redis:7"},
        "web": {"image": "x", "depends_on": {"cache": {"condition": "service_started"}}, "environment": {"REDIS_URL": "", "OTHER": ""}}
    }}))
    .unwrap();
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    assert!(!web.env.contains_key("REDIS_URL") && web.env.contains_key("OTHER"));
    assert!(web.links.contains_key(&ServiceName::new("cache")));
}

#[test]
fn x_dokku_in_both_places_is_an_error() {
    let e = convert(serde_json::json!({
        "x-dokku": {"services": {"web": {"state": "stopped"}}},
        "services": {"web": {"image": "x", "x-dokku": {"state": "running"}}}
    }))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`services.web.x-dokku`: settings for `web` are also in `x-dokku.services.web`; keep one"
    );
    let e = convert(serde_json::json!({"x-dokku": {"services": {"nope": {}}}, "services": {}}))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`x-dokku.services.nope`: names no service of the project"
    );
}

#[test]
fn letsencrypt_and_domains_without_their_prerequisites_warn() {
    let (_, warnings) = convert(serde_json::json!({
        "x-dokku": {"services": {"web": {"domains": ["a.example.com"], "letsencrypt": true}}},
        "services": {"web": {"image": "x"}}
    }))
    .unwrap();
    let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "`services.web.x-dokku.domains`: the service publishes no port and has no `proxy_port`, so the proxy is disabled and the domains serve nothing",
            "`services.web.x-dokku.letsencrypt`: no `x-dokku.letsencrypt_email`: `letsencrypt:enable` needs the host's global e-mail, which this plan does not see; the push refuses before any change when it is not set (`dokku letsencrypt:set --global email …`)",
        ]
    );
}

#[test]
fn dollar_escapes_are_undone() {
    let (p, _) = convert(serde_json::json!({"services": {"web": {"image": "x", "command": ["sh", "-c", "echo $$HOME"], "environment": {"PRICE": "$$5"}}}})).unwrap();
    let web = p.services[&ServiceName::new("web")].app().unwrap();
    assert_eq!(web.command.as_deref().unwrap()[2], "echo $HOME");
    assert_eq!(web.env["PRICE"].value, "$5");
}

#[test]
fn relative_paths() {
    assert_eq!(relative_path("/a/b", "/a/b"), ".");
    assert_eq!(relative_path("/a/b", "/a/b/c/d"), "c/d");
    assert_eq!(relative_path("/a/b", "/a/files/x"), "../files/x");
    assert_eq!(relative_path("/a/b", "/etc/x"), "/etc/x");
}
