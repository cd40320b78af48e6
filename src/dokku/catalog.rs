//! The 18 official Dokku datastore plugins (docs/dokku-facts.md §e): which images they stand
//! for, how their link URL looks, and which environment keys of the compose service carry the
//! credentials that dependents refer to.

/// Who the link URL's user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlUser {
    /// No user in the URL.
    None,
    /// A fixed user name (postgres: `postgres`).
    Fixed(&'static str),
    /// The datastore service name.
    ServiceName,
}

/// One official datastore plugin.
#[derive(Debug, Clone, Copy)]
pub struct Datastore {
    /// Command prefix and plugin name (`postgres`).
    pub plugin: &'static str,
    /// The plugin's default image repository (`postgres`).
    pub image: &'static str,
    /// Other image repositories that are wire-compatible and deployed with `--image`.
    pub alt_images: &'static [&'static str],
    /// The default image tag of the plugin at the commit in dokku-facts.md.
    pub default_version: &'static str,
    /// The config var the link sets (`DATABASE_URL`).
    pub link_var: &'static str,
    /// URL scheme of the link var.
    pub scheme: &'static str,
    /// User part of the URL.
    pub user: UrlUser,
    /// Whether the URL carries the generated password.
    pub password: bool,
    /// Whether the URL ends in `/<database>`.
    pub database: bool,
    /// The main port.
    pub port: u16,
    /// Environment keys of the datastore's own compose service naming its user.
    pub user_keys: &'static [&'static str],
    /// Environment keys naming its password (passed on as `--password`).
    pub password_keys: &'static [&'static str],
    /// Environment keys naming its root password (passed on as `--root-password`).
    pub root_password_keys: &'static [&'static str],
    /// Environment keys naming its database.
    pub database_keys: &'static [&'static str],
    /// Which backup commands the plugin implements (the others fail with "Not yet
    /// implemented", dokku-cli.json).
    pub backups: Backups,
}

/// The backup commands a datastore plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backups {
    /// None.
    None,
    /// `backup-auth` and `backup-schedule`, but not `backup-set-encryption` nor
    /// `backup-unset-encryption` (rabbitmq).
    Unencrypted,
    /// All of them.
    Encrypted,
}

const NONE: &[&str] = &[];

/// The catalog, in plugin-name order.
pub const DATASTORES: &[Datastore] = &[
    Datastore {
        plugin: "clickhouse",
        image: "clickhouse/clickhouse-server",
        alt_images: &["yandex/clickhouse-server"],
        default_version: "26.5.1.882",
        link_var: "CLICKHOUSE_URL",
        scheme: "clickhouse",
        user: UrlUser::ServiceName,
        password: true,
        database: true,
        port: 9000,
        user_keys: &["CLICKHOUSE_USER"],
        password_keys: &["CLICKHOUSE_PASSWORD"],
        root_password_keys: NONE,
        database_keys: &["CLICKHOUSE_DB"],
        backups: Backups::None,
    },
    Datastore {
        plugin: "couchdb",
        image: "couchdb",
        alt_images: &["apache/couchdb"],
        default_version: "3.5.1",
        link_var: "COUCHDB_URL",
        scheme: "http",
        user: UrlUser::ServiceName,
        password: true,
        database: true,
        port: 5984,
        user_keys: &["COUCHDB_USER"],
        password_keys: &["COUCHDB_PASSWORD"],
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::Encrypted,
    },
    Datastore {
        plugin: "elasticsearch",
        image: "elasticsearch",
        alt_images: &["docker.elastic.co/elasticsearch/elasticsearch"],
        default_version: "9.3.3",
        link_var: "ELASTICSEARCH_URL",
        scheme: "http",
        user: UrlUser::None,
        password: false,
        database: false,
        port: 9200,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "graphite",
        image: "dokku/docker-grafana-graphite",
        alt_images: &["graphiteapp/graphite-statsd"],
        default_version: "6.4.4",
        link_var: "STATSD_URL",
        scheme: "statsd",
        user: UrlUser::None,
        password: false,
        database: false,
        port: 8125,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "mariadb",
        image: "mariadb",
        alt_images: &["bitnami/mariadb"],
        default_version: "12.2.2",
        link_var: "DATABASE_URL",
        scheme: "mysql",
        user: UrlUser::Fixed("mariadb"),
        password: true,
        database: true,
        port: 3306,
        user_keys: &["MARIADB_USER", "MYSQL_USER"],
        password_keys: &["MARIADB_PASSWORD", "MYSQL_PASSWORD"],
        root_password_keys: &["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"],
        database_keys: &["MARIADB_DATABASE", "MYSQL_DATABASE"],
        backups: Backups::Encrypted,
    },
    Datastore {
        plugin: "meilisearch",
        image: "getmeili/meilisearch",
        alt_images: NONE,
        default_version: "v1.45.0",
        link_var: "MEILISEARCH_URL",
        scheme: "http",
        user: UrlUser::None,
        password: true,
        database: false,
        port: 7700,
        user_keys: NONE,
        password_keys: &["MEILI_MASTER_KEY"],
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "memcached",
        image: "memcached",
        alt_images: &["bitnami/memcached"],
        default_version: "1.6.42",
        link_var: "MEMCACHED_URL",
        scheme: "memcached",
        user: UrlUser::None,
        password: false,
        database: false,
        port: 11211,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "mongo",
        image: "mongo",
        alt_images: &["bitnami/mongodb", "mongodb/mongodb-community-server"],
        default_version: "8.2.9",
        link_var: "MONGO_URL",
        scheme: "mongodb",
        user: UrlUser::ServiceName,
        password: true,
        database: true,
        port: 27017,
        user_keys: &["MONGO_INITDB_ROOT_USERNAME"],
        password_keys: &["MONGO_INITDB_ROOT_PASSWORD"],
        root_password_keys: NONE,
        database_keys: &["MONGO_INITDB_DATABASE"],
        backups: Backups::Encrypted,
    },
    Datastore {
        plugin: "mysql",
        image: "mysql",
        alt_images: &["bitnami/mysql", "mysql/mysql-server"],
        default_version: "9.7.0",
        link_var: "DATABASE_URL",
        scheme: "mysql",
        user: UrlUser::Fixed("mysql"),
        password: true,
        database: true,
        port: 3306,
        user_keys: &["MYSQL_USER"],
        password_keys: &["MYSQL_PASSWORD"],
        root_password_keys: &["MYSQL_ROOT_PASSWORD"],
        database_keys: &["MYSQL_DATABASE"],
        backups: Backups::Encrypted,
    },
    Datastore {
        plugin: "nats",
        image: "nats",
        alt_images: NONE,
        default_version: "2.14.0",
        link_var: "NATS_URL",
        scheme: "nats",
        user: UrlUser::ServiceName,
        password: true,
        database: false,
        port: 4222,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "omnisci",
        image: "omnisci/core-os-cpu",
        alt_images: &["heavyai/heavyai-ce-cpu"],
        default_version: "v5.10.2",
        link_var: "OMNISCI_URL",
        scheme: "omnisci",
        user: UrlUser::ServiceName,
        password: true,
        database: true,
        port: 6274,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "postgres",
        image: "postgres",
        alt_images: &[
            "postgis/postgis",
            "pgvector/pgvector",
            "timescale/timescaledb",
            "bitnami/postgresql",
            "supabase/postgres",
        ],
        default_version: "18.4",
        link_var: "DATABASE_URL",
        scheme: "postgres",
        user: UrlUser::Fixed("postgres"),
        password: true,
        database: true,
        port: 5432,
        user_keys: &["POSTGRES_USER", "POSTGRESQL_USERNAME"],
        password_keys: &["POSTGRES_PASSWORD", "POSTGRESQL_PASSWORD"],
        root_password_keys: NONE,
        database_keys: &["POSTGRES_DB", "POSTGRESQL_DATABASE"],
        backups: Backups::Encrypted,
    },
    Datastore {
        plugin: "pushpin",
        image: "fanout/pushpin",
        alt_images: NONE,
        default_version: "1.41.0",
        link_var: "WEBSOCKET_URL",
        scheme: "websocket",
        user: UrlUser::None,
        password: false,
        database: false,
        port: 5561,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "rabbitmq",
        image: "rabbitmq",
        alt_images: &["bitnami/rabbitmq"],
        default_version: "4.3.1-management",
        link_var: "RABBITMQ_URL",
        scheme: "amqp",
        user: UrlUser::ServiceName,
        password: true,
        database: true,
        port: 5672,
        user_keys: &["RABBITMQ_DEFAULT_USER"],
        password_keys: &["RABBITMQ_DEFAULT_PASS"],
        root_password_keys: NONE,
        database_keys: &["RABBITMQ_DEFAULT_VHOST"],
        backups: Backups::Unencrypted,
    },
    Datastore {
        plugin: "redis",
        image: "redis",
        alt_images: &["bitnami/redis", "redis/redis-stack-server", "valkey/valkey"],
        default_version: "8.8.0",
        link_var: "REDIS_URL",
        scheme: "redis",
        user: UrlUser::None,
        password: true,
        database: false,
        port: 6379,
        user_keys: NONE,
        password_keys: &["REDIS_PASSWORD"],
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::Encrypted,
    },
    Datastore {
        plugin: "rethinkdb",
        image: "rethinkdb",
        alt_images: NONE,
        default_version: "2.4.3",
        link_var: "RETHINKDB_URL",
        scheme: "rethinkdb",
        user: UrlUser::None,
        password: false,
        database: true,
        port: 28015,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "solr",
        image: "solr",
        alt_images: NONE,
        default_version: "9.10.1",
        link_var: "SOLR_URL",
        scheme: "http",
        user: UrlUser::None,
        password: false,
        database: true,
        port: 8983,
        user_keys: NONE,
        password_keys: NONE,
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
    Datastore {
        plugin: "typesense",
        image: "typesense/typesense",
        alt_images: NONE,
        default_version: "30.2",
        link_var: "TYPESENSE_URL",
        scheme: "typesense",
        user: UrlUser::None,
        password: true,
        database: false,
        port: 8108,
        user_keys: NONE,
        password_keys: &["TYPESENSE_API_KEY"],
        root_password_keys: NONE,
        database_keys: NONE,
        backups: Backups::None,
    },
];

/// A parsed image reference: repository without the Docker Hub prefixes, and the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// `postgres`, `bitnami/redis`, `ghcr.io/x/y`.
    pub repository: String,
    /// The tag, if any (`16-alpine`).
    pub tag: Option<String>,
    /// The digest, if any (`sha256:…`).
    pub digest: Option<String>,
}

impl ImageRef {
    /// Splits `[registry/]repo[:tag][@digest]`; `docker.io/` and `library/` are dropped.
    pub(crate) fn parse(image: &str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_owned())),
            None => (image, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest, None),
        };
        let repo = repo
            .strip_prefix("docker.io/")
            .or_else(|| repo.strip_prefix("index.docker.io/"))
            .unwrap_or(repo);
        let repo = repo.strip_prefix("library/").unwrap_or(repo);
        Self {
            repository: repo.to_owned(),
            tag,
            digest,
        }
    }
}

/// How a datastore image maps onto its plugin's `create` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatastoreImage {
    /// The plugin.
    pub plugin: &'static str,
    /// `--image` when the repository is not the plugin's default one.
    pub image: Option<String>,
    /// `--image-version` from the tag (or digest) when given.
    pub version: Option<String>,
}

/// Finds the plugin whose image (or a compatible one) `image` is.
pub(crate) fn classify(image: &str) -> Option<DatastoreImage> {
    let r = ImageRef::parse(image);
    let ds = DATASTORES
        .iter()
        .find(|d| d.image == r.repository || d.alt_images.contains(&r.repository.as_str()))?;
    let version = match (&r.tag, &r.digest) {
        (_, Some(d)) => Some(d.clone()),
        (Some(t), None) => Some(t.clone()),
        (None, None) => None,
    };
    Some(DatastoreImage {
        plugin: ds.plugin,
        image: (ds.image != r.repository).then(|| r.repository.clone()),
        version,
    })
}

/// Looks a plugin up by name.
pub(crate) fn by_plugin(plugin: &str) -> Option<&'static Datastore> {
    DATASTORES.iter().find(|d| d.plugin == plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_the_18_official_plugins_in_order() {
        assert_eq!(DATASTORES.len(), 18);
        assert!(DATASTORES.windows(2).all(|w| w[0].plugin < w[1].plugin));
    }

    #[test]
    fn image_refs() {
        let r = ImageRef::parse("docker.io/library/postgres:16-alpine");
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("postgres", Some("16-alpine"))
        );
        let r = ImageRef::parse("localhost:5000/app");
        assert_eq!((r.repository.as_str(), r.tag), ("localhost:5000/app", None));
        let r = ImageRef::parse("redis@sha256:abc");
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify("postgres:16"),
            Some(DatastoreImage {
                plugin: "postgres",
                image: None,
                version: Some("16".into())
            })
        );
        assert_eq!(
            classify("bitnami/redis"),
            Some(DatastoreImage {
                plugin: "redis",
                image: Some("bitnami/redis".into()),
                version: None
            })
        );
        assert_eq!(classify("mariadb:10.6.4-focal").unwrap().plugin, "mariadb");
        assert_eq!(classify("nginx:latest"), None);
        assert_eq!(classify("wordpress"), None);
    }
}
