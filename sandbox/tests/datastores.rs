//! Datastore facts (dokku-facts.md §e).

use crate::support::Sandbox;

/// (prefix, link var, URL scheme, second-link alias head, default image) for all 18 plugins.
const TABLE: &[(&str, &str, &str, &str, &str)] = &[
    (
        "postgres",
        "DATABASE_URL",
        "postgres://postgres:",
        "DOKKU_POSTGRES",
        "postgres:18.4",
    ),
    (
        "mysql",
        "DATABASE_URL",
        "mysql://mysql:",
        "DOKKU_MYSQL",
        "mysql:9.7.0",
    ),
    (
        "mariadb",
        "DATABASE_URL",
        "mysql://mariadb:",
        "DOKKU_MARIADB",
        "mariadb:12.2.2",
    ),
    (
        "redis",
        "REDIS_URL",
        "redis://:",
        "DOKKU_REDIS",
        "redis:8.8.0",
    ),
    (
        "mongo",
        "MONGO_URL",
        "mongodb://my-svc:",
        "DOKKU_MONGO",
        "mongo:8.2.9",
    ),
    (
        "rabbitmq",
        "RABBITMQ_URL",
        "amqp://my-svc:",
        "DOKKU_RABBITMQ",
        "rabbitmq:4.3.1-management",
    ),
    (
        "memcached",
        "MEMCACHED_URL",
        "memcached://dokku-memcached-my-svc:11211",
        "DOKKU_MEMCACHED",
        "memcached:1.6.42",
    ),
    (
        "elasticsearch",
        "ELASTICSEARCH_URL",
        "http://dokku-elasticsearch-my-svc:9200",
        "DOKKU_ELASTICSEARCH",
        "elasticsearch:9.3.3",
    ),
    (
        "couchdb",
        "COUCHDB_URL",
        "http://my-svc:",
        "DOKKU_COUCHDB",
        "couchdb:3.5.1",
    ),
    (
        "rethinkdb",
        "RETHINKDB_URL",
        "rethinkdb://dokku-rethinkdb-my-svc:28015/my_svc",
        "DOKKU_RETHINKDB",
        "rethinkdb:2.4.3",
    ),
    (
        "clickhouse",
        "CLICKHOUSE_URL",
        "clickhouse://my-svc:",
        "DOKKU_CLICKHOUSE",
        "clickhouse/clickhouse-server:26.5.1.882",
    ),
    (
        "nats",
        "NATS_URL",
        "nats://my-svc:",
        "DOKKU_NATS",
        "nats:2.14.0",
    ),
    (
        "meilisearch",
        "MEILISEARCH_URL",
        "http://:",
        "DOKKU_MEILISEARCH",
        "getmeili/meilisearch:v1.45.0",
    ),
    (
        "solr",
        "SOLR_URL",
        "http://dokku-solr-my-svc:8983/solr/my_svc",
        "DOKKU_SOLR",
        "solr:9.10.1",
    ),
    (
        "typesense",
        "TYPESENSE_URL",
        "typesense://:",
        "DOKKU_TYPESENSE",
        "typesense/typesense:30.2",
    ),
    (
        "omnisci",
        "OMNISCI_URL",
        "omnisci://my-svc:",
        "DOKKU_OMNISCI",
        "omnisci/core-os-cpu:v5.10.2",
    ),
    (
        "pushpin",
        "WEBSOCKET_URL",
        "websocket://dokku-pushpin-my-svc:5561",
        "DOKKU_PUSHPIN",
        "fanout/pushpin:1.41.0",
    ),
    (
        "graphite",
        "STATSD_URL",
        "statsd://dokku-graphite-my-svc:8125",
        "DOKKU_STATSD",
        "dokku/docker-grafana-graphite:6.4.4",
    ),
];

#[test]
fn all_18_plugins_link_with_their_variable_scheme_image_and_colour_alias() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    for (p, var, url_head, alt, image) in TABLE {
        s.run(&[&format!("{p}:create"), "my-svc"]).ok();
        assert_eq!(
            s.run(&[&format!("{p}:info"), "my-svc", "--version"])
                .stdout
                .trim(),
            *image,
            "{p} image"
        );
        s.run(&[&format!("{p}:link"), "my-svc", "web", "--no-restart"])
            .ok();
        // mysql and mariadb find DATABASE_URL taken by postgres, so their first link is coloured.
        let first = if *var == "DATABASE_URL" && *p != "postgres" {
            format!("{alt}_AQUA_URL")
        } else {
            (*var).to_string()
        };
        let url = s.run(&["config:get", "web", &first]).stdout;
        assert!(url.starts_with(url_head), "{p}: {var}={url}");
        assert!(
            url.contains(&format!("dokku-{p}-my-svc")),
            "{p} host alias: {url}"
        );
        // A second service of the same kind gets the first free colour.
        s.run(&[&format!("{p}:create"), "other"]).ok();
        s.run(&[&format!("{p}:link"), "other", "web", "-n"]).ok();
        if *var == "DATABASE_URL" && *p != "postgres" {
            continue; // colours cascade (AQUA, BLACK); checked below.
        }
        let aqua = s.run(&["config:get", "web", &format!("{alt}_AQUA_URL")]);
        assert_eq!(aqua.code, 0, "{p}: expected {alt}_AQUA_URL");
        assert!(aqua.stdout.contains(&format!("dokku-{p}-other")));
    }
    assert!(s
        .run(&["config:get", "web", "DOKKU_MYSQL_AQUA_URL"])
        .stdout
        .contains("dokku-mysql-my-svc"));
    assert!(s
        .run(&["config:get", "web", "DOKKU_MYSQL_BLACK_URL"])
        .stdout
        .contains("dokku-mysql-other"));
    let opts = s
        .run(&["docker-options:list", "web", "--phase", "run"])
        .stdout;
    assert!(opts.contains("--link dokku.postgres.my-svc:dokku-postgres-my-svc\n"));
}

#[test]
fn create_and_link_are_not_idempotent() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["postgres:create", "db"]).ok();
    s.run(&["postgres:create", "db"])
        .fails(1, " !     Postgres service db already exists");
    s.run(&["postgres:create", "bad.name"])
        .fails(1, "Please specify a valid name for the service");
    s.run(&["postgres:link", "db", "web", "-n"]).ok();
    s.run(&["postgres:link", "db", "web", "-n"])
        .fails(1, " !     Already linked as DATABASE_URL");
    s.run(&["postgres:link", "db", "ghost"])
        .fails(20, "App ghost does not exist");
    s.run(&["postgres:link", "nope", "web"])
        .fails(1, "Postgres service nope does not exist");
}

#[test]
fn alias_querystring_and_in_use() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["redis:create", "cache"]).ok();
    s.run(&["redis:create", "queue"]).ok();
    s.run(&[
        "redis:link",
        "cache",
        "web",
        "--alias",
        "cache_url",
        "-q",
        "?ssl=true",
        "-n",
    ])
    .ok();
    assert!(s
        .run(&["config:get", "web", "CACHE_URL"])
        .stdout
        .trim_end()
        .ends_with(":6379?ssl=true"));
    s.run(&["redis:link", "queue", "web", "-a", "CACHE", "-n"])
        .fails(1, " !     Specified alias CACHE already in use");
}

#[test]
fn destroy_refuses_linked_and_confirms() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["postgres:create", "db"]).ok();
    s.run(&["postgres:link", "db", "web", "-n"]).ok();
    s.run(&["postgres:destroy", "db", "-f"])
        .fails(1, " !     Cannot delete linked service");
    s.run(&["postgres:unlink", "db", "web", "-n"]).ok();
    assert_eq!(
        s.run(&["config:get", "web", "DATABASE_URL"]).code,
        1,
        "unlink unsets the variable"
    );
    assert!(!s
        .run(&["docker-options:list", "web", "--phase", "deploy"])
        .stdout
        .contains("--link"));
    s.run(&["postgres:unlink", "db", "web"])
        .fails(1, " !     Not linked to app web");
    let r = s.run_stdin(&["postgres:destroy", "db"], "nope\n");
    r.fails(1, " !     Confirmation did not match db. Aborted.");
    assert!(r
        .stderr
        .contains(" !     This command will destroy db Postgres service."));
    let r = s.run(&["postgres:destroy", "db", "force"]);
    r.ok();
    assert!(r
        .stdout
        .ends_with("=====> Postgres container deleted: db\n"));
    s.run(&["postgres:exists", "db"])
        .fails(1, " !     Postgres service db does not exist");
}

#[test]
fn apps_destroy_only_removes_app_from_links() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["postgres:create", "db"]).ok();
    s.run(&["postgres:link", "db", "web", "-n"]).ok();
    s.run(&["apps:destroy", "web", "--force"]).ok();
    assert_eq!(
        s.run(&["postgres:exists", "db"]).stdout,
        "-----> Service db exists\n"
    );
    assert_eq!(s.run(&["postgres:info", "db", "--links"]).stdout, "-\n");
    s.run(&["postgres:destroy", "db", "-f"]).ok();
}

#[test]
fn info_list_expose_and_unimplemented() {
    let s = Sandbox::new();
    s.run(&["redis:list"])
        .fails(0, " !     There are no Redis services");
    s.run(&["redis:create", "r1"]).ok();
    assert_eq!(s.run(&["redis:list"]).stdout, "=====> Redis services\nr1\n");
    assert!(s
        .run(&["redis:info", "r1"])
        .stdout
        .starts_with("=====> r1 redis service information\n"));
    s.run(&["redis:info", "r1", "--format", "json"])
        .fails(1, "Invalid flag passed");
    s.run(&["redis:info", "r1", "--nope"]).fails(
        1,
        "Invalid flag passed, valid flags: --config-dir --config-options --data-dir",
    );
    assert!(s
        .run(&["redis:info", "r1"])
        .stdout
        .contains("\n       Status               running"));
    s.run(&["apps:create", "web"]).ok();
    s.run(&["redis:linked", "r1", "web"])
        .fails(1, " !     Service r1 is not linked to web");
    s.run(&["redis:link", "r1", "web", "-n"]).ok();
    assert_eq!(
        s.run(&["redis:linked", "r1", "web"]).stdout,
        "-----> Service r1 is linked to web\n"
    );
    s.run(&["redis:expose", "r1", "1", "2"]).fails(
        1,
        " !     1 ports to be exposed need to be provided in the following order: 6379",
    );
    s.run(&["redis:expose", "r1", "16379"]).ok();
    s.run(&["redis:expose", "r1"])
        .fails(1, " !     Service r1 already exposed on port(s) 16379");
    assert_eq!(
        s.run(&["redis:info", "r1", "--exposed-ports"]).stdout,
        "6379->16379\n"
    );
    s.run(&["memcached:create", "m"]).ok();
    s.run(&["memcached:export", "m"])
        .fails(1, " !     Not yet implemented");
}

#[test]
fn image_flags_and_env_defaults() {
    let s = Sandbox::new();
    s.run(&["postgres:create", "a", "-i", "postgis/postgis", "-I", "16"])
        .ok();
    assert_eq!(
        s.run(&["postgres:info", "a", "--version"]).stdout,
        "postgis/postgis:16\n"
    );
    s.run_env(
        &[("POSTGRES_IMAGE_VERSION", "15.1")],
        &["postgres:create", "b"],
    )
    .ok();
    assert_eq!(
        s.run(&["postgres:info", "b", "--version"]).stdout,
        "postgres:15.1\n"
    );
}

#[test]
fn link_restarts_a_deployed_app_unless_no_restart() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["git:from-image", "web", "nginx:1"]).ok();
    s.run(&["postgres:create", "db"]).ok();
    assert!(s
        .run(&["postgres:link", "db", "web"])
        .stdout
        .contains("Restarting app web"));
    s.run(&["redis:create", "r"]).ok();
    // `--no-restart true`: getopts ignores the value (§e).
    assert!(!s
        .run(&["redis:link", "r", "web", "--no-restart", "true"])
        .stdout
        .contains("Restarting"));
}

#[test]
fn link_follows_service_link_order_and_scheme_override() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["postgres:create", "db"]).ok();
    s.run(&[
        "config:set",
        "--no-restart",
        "web",
        "POSTGRES_DATABASE_SCHEME=postgresql",
    ])
    .ok();
    let r = s.run(&["postgres:link", "db", "web", "-n"]);
    r.ok();
    assert!(r.stdout.contains("Skipping restart of linked app"));
    assert!(s
        .run(&["config:get", "web", "DATABASE_URL"])
        .stdout
        .starts_with("postgresql://postgres:"));
    // The alias check comes before the already-linked check (`service_link`).
    s.run(&["postgres:link", "db", "web", "-a", "DATABASE", "-n"])
        .fails(1, "Specified alias DATABASE already in use");
    s.run(&["postgres:link", "db", "web", "-n"])
        .fails(1, "Already linked as DATABASE_URL");
    // unlink when the variable is gone: LINKS entry and docker option removed, then "Not linked".
    s.run(&["config:unset", "--no-restart", "web", "DATABASE_URL"])
        .ok();
    s.run(&["postgres:unlink", "db", "web", "-n"])
        .fails(1, " !     Not linked to app web");
    assert_eq!(s.run(&["postgres:info", "db", "--links"]).stdout, "-\n");
    assert!(!s
        .run(&["docker-options:list", "web", "--phase", "build"])
        .stdout
        .contains("dokku.postgres.db"));
}
