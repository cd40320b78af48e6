//! The 18 official datastore plugins from one table (dokku-facts.md §e "Official datastore
//! plugins": default image, link variable, second-link alias, URL, ports), all sharing the
//! postgres `common-functions` behaviour (§e `create`, `link`, `unlink`, `destroy`, other
//! service commands). Commands listed as `unimplemented` in dokku-cli.json fail with
//! ` !     Not yet implemented`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::args::{parse, Spec};
use crate::ctx::{fail, read_opt, remove_any, write_atomic, Ctx, Fail, Res};
use crate::store::{is_valid_service_name, mkdirs};

/// One datastore plugin.
#[derive(Debug)]
pub struct Datastore {
    /// Command prefix (`postgres`).
    pub prefix: &'static str,
    /// Display name in messages (`PLUGIN_SERVICE` of each repo's `config`).
    pub name: &'static str,
    /// Default image.
    pub image: &'static str,
    /// Default image version.
    pub version: &'static str,
    /// Link variable head (`DATABASE` → `DATABASE_URL`).
    pub var: &'static str,
    /// Second-link alias head (`DOKKU_POSTGRES`).
    pub alt: &'static str,
    /// URL template: `{pw}`, `{host}`, `{db}`, `{svc}`.
    pub url: &'static str,
    /// Exposed ports.
    pub ports: &'static [u16],
}

macro_rules! ds {
    ($p:literal, $n:literal, $img:literal, $ver:literal, $var:literal, $alt:literal, $url:literal, [$($port:literal),*]) => {
        Datastore { prefix: $p, name: $n, image: $img, version: $ver, var: $var, alt: $alt, url: $url, ports: &[$($port),*] }
    };
}

/// The table (§e).
pub const PLUGINS: &[Datastore] = &[
    ds!(
        "postgres",
        "Postgres",
        "postgres",
        "18.4",
        "DATABASE",
        "DOKKU_POSTGRES",
        "postgres://postgres:{pw}@{host}:5432/{db}",
        [5432]
    ),
    ds!(
        "mysql",
        "MySQL",
        "mysql",
        "9.7.0",
        "DATABASE",
        "DOKKU_MYSQL",
        "mysql://mysql:{pw}@{host}:3306/{db}",
        [3306]
    ),
    ds!(
        "mariadb",
        "MariaDB",
        "mariadb",
        "12.2.2",
        "DATABASE",
        "DOKKU_MARIADB",
        "mysql://mariadb:{pw}@{host}:3306/{db}",
        [3306]
    ),
    ds!(
        "redis",
        "Redis",
        "redis",
        "8.8.0",
        "REDIS",
        "DOKKU_REDIS",
        "redis://:{pw}@{host}:6379",
        [6379]
    ),
    ds!(
        "mongo",
        "Mongo",
        "mongo",
        "8.2.9",
        "MONGO",
        "DOKKU_MONGO",
        "mongodb://{svc}:{pw}@{host}:27017/{db}",
        [27017, 27018, 27019, 28017]
    ),
    ds!(
        "rabbitmq",
        "RabbitMQ",
        "rabbitmq",
        "4.3.1-management",
        "RABBITMQ",
        "DOKKU_RABBITMQ",
        "amqp://{svc}:{pw}@{host}:5672/{db}",
        [5672, 4369, 35197, 15672]
    ),
    ds!(
        "memcached",
        "Memcached",
        "memcached",
        "1.6.42",
        "MEMCACHED",
        "DOKKU_MEMCACHED",
        "memcached://{host}:11211",
        [11211]
    ),
    ds!(
        "elasticsearch",
        "Elasticsearch",
        "elasticsearch",
        "9.3.3",
        "ELASTICSEARCH",
        "DOKKU_ELASTICSEARCH",
        "http://{host}:9200",
        [9200, 9300]
    ),
    ds!(
        "couchdb",
        "CouchDB",
        "couchdb",
        "3.5.1",
        "COUCHDB",
        "DOKKU_COUCHDB",
        "http://{svc}:{pw}@{host}:5984/{db}",
        [5984]
    ),
    ds!(
        "rethinkdb",
        "RethinkDB",
        "rethinkdb",
        "2.4.3",
        "RETHINKDB",
        "DOKKU_RETHINKDB",
        "rethinkdb://{host}:28015/{db}",
        [28015, 29015, 8080]
    ),
    ds!(
        "clickhouse",
        "Clickhouse",
        "clickhouse/clickhouse-server",
        "26.5.1.882",
        "CLICKHOUSE",
        "DOKKU_CLICKHOUSE",
        "clickhouse://{svc}:{pw}@{host}:9000/{db}",
        [9000, 8123]
    ),
    ds!(
        "nats",
        "Nats",
        "nats",
        "2.14.0",
        "NATS",
        "DOKKU_NATS",
        "nats://{svc}:{pw}@{host}:4222",
        [4222]
    ),
    ds!(
        "meilisearch",
        "Meilisearch",
        "getmeili/meilisearch",
        "v1.45.0",
        "MEILISEARCH",
        "DOKKU_MEILISEARCH",
        "http://:{pw}@{host}:7700",
        [7700]
    ),
    ds!(
        "solr",
        "Solr",
        "solr",
        "9.10.1",
        "SOLR",
        "DOKKU_SOLR",
        "http://{host}:8983/solr/{db}",
        [8983]
    ),
    ds!(
        "typesense",
        "Typesense",
        "typesense/typesense",
        "30.2",
        "TYPESENSE",
        "DOKKU_TYPESENSE",
        "typesense://:{pw}@{host}:8108",
        [8108]
    ),
    ds!(
        "omnisci",
        "Omnisci",
        "omnisci/core-os-cpu",
        "v5.10.2",
        "OMNISCI",
        "DOKKU_OMNISCI",
        "omnisci://{svc}:{pw}@{host}:6274/{db}",
        [6274, 6278]
    ),
    ds!(
        "pushpin",
        "Pushpin",
        "fanout/pushpin",
        "1.41.0",
        "WEBSOCKET",
        "DOKKU_PUSHPIN",
        "websocket://{host}:5561",
        [5561, 7999, 5560, 5562, 5563]
    ),
    ds!(
        "graphite",
        "Graphite",
        "dokku/docker-grafana-graphite",
        "6.4.4",
        "STATSD",
        "DOKKU_STATSD",
        "statsd://{host}:8125",
        [8125, 8126, 80, 81, 2003]
    ),
];

/// The colour list for second links (§e).
pub const COLORS: &[&str] = &[
    "AQUA", "BLACK", "BLUE", "FUCHSIA", "GRAY", "GREEN", "LIME", "MAROON", "NAVY", "OLIVE",
    "PURPLE", "RED", "SILVER", "TEAL", "WHITE", "YELLOW",
];

/// Find a datastore by prefix.
pub fn find(prefix: &str) -> Option<&'static Datastore> {
    PLUGINS.iter().find(|d| d.prefix == prefix)
}

impl Datastore {
    /// `$DOKKU_LIB_ROOT/services/<prefix>`; graphite's `GRAPHITE_ROOT` is `grafana-graphite-statsd`.
    fn root(&self, ctx: &Ctx) -> PathBuf {
        let dir = if self.prefix == "graphite" {
            "grafana-graphite-statsd"
        } else {
            self.prefix
        };
        ctx.paths.lib.join("services").join(dir)
    }
    fn dir(&self, ctx: &Ctx, svc: &str) -> PathBuf {
        self.root(ctx).join(svc)
    }
    fn file(&self, ctx: &Ctx, svc: &str, f: &str) -> Res<String> {
        Ok(read_opt(&self.dir(ctx, svc).join(f))?
            .unwrap_or_default()
            .trim_end_matches('\n')
            .to_string())
    }
    fn put(&self, ctx: &Ctx, svc: &str, f: &str, v: &str) -> Res {
        write_atomic(&self.dir(ctx, svc).join(f), v)
    }
    fn exists(&self, ctx: &Ctx, svc: &str) -> bool {
        is_valid_service_name(svc) && self.dir(ctx, svc).join("ID").is_file()
    }
    fn verify(&self, ctx: &Ctx, svc: &str) -> Res {
        if svc.is_empty() {
            return fail("Please specify a valid name for the service");
        }
        if !self.exists(ctx, svc) {
            return fail(format!("{} service {svc} does not exist", self.name));
        }
        Ok(())
    }
    /// `dokku-<prefix>-<svc>` with `.` and `_` as `-` (§e "Layout").
    pub fn host(&self, svc: &str) -> String {
        format!("dokku-{}-{}", self.prefix, svc.replace(['.', '_'], "-"))
    }
    /// The service URL (§e table).
    pub fn url(&self, ctx: &Ctx, svc: &str) -> Res<String> {
        let pw = self.file(ctx, svc, "PASSWORD")?;
        let db = svc.replace(['.', '-'], "_");
        Ok(self
            .url
            .replace("{pw}", &pw)
            .replace("{host}", &self.host(svc))
            .replace("{db}", &db)
            .replace("{svc}", svc))
    }
    fn links(&self, ctx: &Ctx, svc: &str) -> Res<Vec<String>> {
        ctx.read_lines(&self.dir(ctx, svc).join("LINKS"))
    }
    fn services(&self, ctx: &Ctx) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root(ctx))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| self.exists(ctx, n))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
    fn link_option(&self, svc: &str) -> String {
        format!("--link dokku.{}.{svc}:{}", self.prefix, self.host(svc))
    }
    /// `<PREFIX>` of `<PREFIX>_IMAGE`, `<PREFIX>_IMAGE_VERSION`, `<PREFIX>_CUSTOM_ENV`.
    fn env_prefix(&self) -> String {
        self.prefix.to_uppercase()
    }
    /// `PLUGIN_VARIABLE` (of `<VAR>_DATABASE_SCHEME`): graphite's is `STATSD`.
    fn plugin_variable(&self) -> String {
        if self.prefix == "graphite" {
            "STATSD".into()
        } else {
            self.env_prefix()
        }
    }
}

fn random_hex() -> String {
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        drop(f.read_exact(&mut buf));
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

const CREATE_VALUES: &[&str] = &[
    "--config-options",
    "--custom-env",
    "--image",
    "--image-version",
    "--memory",
    "--initial-network",
    "--password",
    "--post-create-network",
    "--root-password",
    "--post-start-network",
    "--shm-size",
];
const CREATE_ALIASES: &[(&str, &str)] = &[
    ("-c", "--config-options"),
    ("-C", "--custom-env"),
    ("-i", "--image"),
    ("-I", "--image-version"),
    ("-m", "--memory"),
    ("-N", "--initial-network"),
    ("-p", "--password"),
    ("-P", "--post-create-network"),
    ("-r", "--root-password"),
    ("-S", "--post-start-network"),
    ("-s", "--shm-size"),
    ("-R", "--restart-apps"),
];

/// Dispatch `<prefix>:<sub>`.
pub fn dispatch(ctx: &mut Ctx, ds: &'static Datastore, sub: &str, args: &[String]) -> Res {
    let cmd = format!("{}:{sub}", ds.prefix);
    if crate::cmd::TABLE
        .lines()
        .any(|l| l.starts_with(&format!("{cmd}\tunimplemented\t")))
    {
        return fail("Not yet implemented");
    }
    let svc = args.first().cloned().unwrap_or_default();
    match sub {
        "create" => create(ctx, ds, args),
        "link" => link(ctx, ds, args),
        "unlink" => unlink(ctx, ds, args),
        "destroy" => destroy(ctx, ds, args),
        "exists" => {
            ds.verify(ctx, &svc)?;
            ctx.info1(format!("Service {svc} exists"));
            Ok(())
        }
        "info" => info(ctx, ds, args),
        "list" => {
            let v = ds.services(ctx);
            if v.is_empty() {
                ctx.warn(format!("There are no {} services", ds.name));
                return Ok(());
            }
            ctx.info2(format!("{} services", ds.name));
            v.iter().for_each(|s| ctx.out(s));
            Ok(())
        }
        "linked" => {
            ds.verify(ctx, &svc)?;
            let app = args.get(1).cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            let env = ctx.env(&app)?;
            let url = url_for_app(ctx, ds, &svc, &env)?;
            if config_lines_with(&env, &url).is_empty() {
                ctx.warn(format!("Service {svc} is not linked to {app}"));
                return Err(Fail::Silent(1));
            }
            ctx.info1(format!("Service {svc} is linked to {app}"));
            Ok(())
        }
        "links" => {
            ds.verify(ctx, &svc)?;
            ds.links(ctx, &svc)?.iter().for_each(|a| ctx.out(a));
            Ok(())
        }
        "app-links" => {
            ctx.verify_app(&svc)?;
            for s in ds.services(ctx) {
                if ds.links(ctx, &s)?.contains(&svc) {
                    ctx.out(s);
                }
            }
            Ok(())
        }
        "expose" => expose(ctx, ds, args),
        "unexpose" => {
            ds.verify(ctx, &svc)?;
            if ds.file(ctx, &svc, "PORT")?.is_empty() {
                return fail(format!("Service {svc} not exposed"));
            }
            remove_any(&ds.dir(ctx, &svc).join("PORT"))?;
            ctx.info1(format!("Service {svc} unexposed"));
            Ok(())
        }
        "start" | "stop" | "restart" | "pause" => {
            ds.verify(ctx, &svc)?;
            let status = if sub == "stop" {
                "exited"
            } else if sub == "pause" {
                "paused"
            } else {
                "running"
            };
            ctx.info1(format!(
                "{} {svc}",
                match sub {
                    "start" => "Starting container",
                    "stop" => "Stopping container",
                    "pause" => "Pausing container",
                    _ => "Restarting container",
                }
            ));
            if crate::docker::enabled(&ctx.paths) && crate::docker::runs_service(ds.prefix) {
                let name = crate::docker::service_container(ds.prefix, &svc);
                let verb = match sub {
                    "stop" => "stop",
                    "pause" => "pause",
                    "start" => "start",
                    _ => "restart",
                };
                crate::docker::docker(&["container", verb, &name])?;
            }
            ds.put(ctx, &svc, "STATUS", status)
        }
        "set" => {
            ds.verify(ctx, &svc)?;
            let key = args.get(1).cloned().unwrap_or_default();
            const KEYS: [&str; 3] = [
                "initial-network",
                "post-create-network",
                "post-start-network",
            ];
            if !KEYS.contains(&key.as_str()) {
                return fail(format!(
                    "Invalid key specified, valid keys include: {}",
                    KEYS.join(", ")
                ));
            }
            crate::cmd::props::set_value(
                ctx,
                ds.prefix,
                &svc,
                &key,
                &args.get(2).cloned().unwrap_or_default(),
            )
        }
        "promote" => {
            // dokku-postgres `service_promote` (common-functions).
            ds.verify(ctx, &svc)?;
            let app = args.get(1).cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            let env = ctx.env(&app)?;
            let default = format!("{}_URL", ds.var);
            let url = url_for_app(ctx, ds, &svc, &env)?;
            let vars = config_lines_with(&env, &url);
            if vars.is_empty() {
                return fail(format!("Not linked to app {app}"));
            }
            if vars.join(" ").contains(&default) {
                return fail(format!("Service {svc} already promoted as {default}"));
            }
            let mut pairs = Vec::new();
            if let Some(prev) = env.get(&default).filter(|v| !v.is_empty()) {
                let kept = env.iter().any(|(k, v)| {
                    format!("{k}:  {v}").contains(prev.as_str()) && !k.contains(&default)
                });
                if !kept {
                    let alias = COLORS
                        .iter()
                        .map(|c| format!("{}_{c}", ds.alt))
                        .find(|a| config_lines_with(&env, &format!("{a}_URL")).is_empty());
                    if let Some(a) = alias {
                        pairs.push((format!("{a}_URL"), prev.clone()));
                    }
                }
            }
            let promote = env.get(&vars[0]).cloned().unwrap_or_default();
            pairs.push((default, promote));
            crate::cmd::config::set_quiet(ctx, &app, &pairs)?;
            crate::cmd::config::maybe_restart(ctx, &app)
        }
        "logs" | "connect" | "enter" | "export" | "import" | "upgrade" | "clone"
        | "nginx-expose" | "nginx-unexpose" => {
            ds.verify(ctx, &svc)?;
            match sub {
                "logs" => Ok(()),
                "export" => {
                    ctx.out(ds.file(ctx, &svc, "DUMP")?);
                    Ok(())
                }
                "import" => {
                    let mut s = String::new();
                    drop(std::io::Read::read_to_string(&mut std::io::stdin(), &mut s));
                    ds.put(ctx, &svc, "DUMP", &s)
                }
                "upgrade" => {
                    let p = parse(
                        &args[1..],
                        &Spec {
                            values: CREATE_VALUES,
                            bools: &["--restart-apps"],
                            aliases: CREATE_ALIASES,
                            stop_at_positional: false,
                            lenient: false,
                        },
                    )?;
                    if let Some(i) = p.get("--image") {
                        ds.put(ctx, &svc, "IMAGE", i)?;
                    }
                    if let Some(v) = p.get("--image-version") {
                        ds.put(ctx, &svc, "IMAGE_VERSION", v)?;
                    }
                    ctx.info2(format!("Upgrading {svc}"));
                    Ok(())
                }
                "clone" => {
                    // dokku-postgres `service-clone-cmd`.
                    let new = args.get(1).cloned().unwrap_or_default();
                    if new.is_empty() {
                        return fail("Please specify a name for the new service");
                    }
                    if ds.dir(ctx, &new).is_dir() {
                        return fail(format!("Invalid service name {new}. Verify the service name is not already in use."));
                    }
                    let (image, version) = (
                        ds.file(ctx, &svc, "IMAGE")?,
                        ds.file(ctx, &svc, "IMAGE_VERSION")?,
                    );
                    ctx.info2(format!("Cloning {svc} to {new} @ {image}:{version}"));
                    let mut a = vec![new.clone()];
                    a.extend(args.iter().skip(2).cloned());
                    if !a.iter().any(|x| x == "-i" || x == "--image") {
                        a.extend([
                            "--image".into(),
                            ds.file(ctx, &svc, "IMAGE")?,
                            "--image-version".into(),
                            ds.file(ctx, &svc, "IMAGE_VERSION")?,
                        ]);
                    }
                    create(ctx, ds, &a)?;
                    ctx.info1(format!("Copying data from {svc} to {new}"));
                    let dump = ds.file(ctx, &svc, "DUMP")?;
                    ds.put(ctx, &new, "DUMP", &dump)?;
                    ctx.info2("Done");
                    Ok(())
                }
                _ => crate::cmd::not_modelled(ctx, &cmd),
            }
        }
        s if s.starts_with("backup") => {
            ds.verify(ctx, &svc)?;
            ds.put(
                ctx,
                &svc,
                &format!("SANDBOX_{}", s.to_uppercase().replace('-', "_")),
                &args[1..].join(" "),
            )
        }
        _ => crate::cmd::not_modelled(ctx, &cmd),
    }
}

fn create(ctx: &mut Ctx, ds: &'static Datastore, args: &[String]) -> Res {
    let p = parse(
        args,
        &Spec {
            values: CREATE_VALUES,
            bools: &[],
            aliases: CREATE_ALIASES,
            stop_at_positional: false,
            lenient: false,
        },
    )?;
    let svc = p.arg(0);
    if !is_valid_service_name(&svc) {
        return fail(
            "Please specify a valid name for the service. Valid characters are: [A-Za-z0-9_]+",
        );
    }
    if ds.exists(ctx, &svc) {
        return fail(format!("{} service {svc} already exists", ds.name));
    }
    let envp = ds.env_prefix();
    let image = p
        .get("--image")
        .map(str::to_string)
        .or_else(|| std::env::var(format!("{envp}_IMAGE")).ok())
        .unwrap_or_else(|| ds.image.to_string());
    let version = p
        .get("--image-version")
        .map(str::to_string)
        .or_else(|| std::env::var(format!("{envp}_IMAGE_VERSION")).ok())
        .unwrap_or_else(|| ds.version.to_string());
    if let Some(n) = p.get("--initial-network") {
        if !crate::cmd::network::exists(ctx, n) {
            return fail(format!("Network {n} does not exist"));
        }
    }
    let dir = ds.dir(ctx, &svc);
    mkdirs(&dir)?;
    // `service_parse_args` exports `SERVICE_PASSWORD`, `SERVICE_ROOT_PASSWORD` and
    // `SERVICE_CUSTOM_ENV` for the flags; without a flag, the caller's environment value of
    // the same name is what `service_create` and `service_commit_config` read.
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let password = match p
        .get("--password")
        .map(str::to_string)
        .or_else(|| from_env("SERVICE_PASSWORD"))
    {
        Some(pw) => {
            ctx.warn("Specified password may not be as secure as the auto-generated password");
            pw
        }
        None => random_hex(),
    };
    let root_pw = p
        .get("--root-password")
        .map(str::to_string)
        .or_else(|| from_env("SERVICE_ROOT_PASSWORD"))
        .unwrap_or_else(random_hex);
    let custom_env = p
        .get("--custom-env")
        .map(str::to_string)
        .or_else(|| from_env("SERVICE_CUSTOM_ENV"))
        .or_else(|| std::env::var(format!("{envp}_CUSTOM_ENV")).ok())
        .unwrap_or_default();
    let files: BTreeMap<&str, String> = [
        ("PASSWORD", password),
        ("ROOTPASSWORD", root_pw),
        ("LINKS", String::new()),
        ("IMAGE", image.clone()),
        ("IMAGE_VERSION", version.clone()),
        ("DATABASE_NAME", svc.replace(['.', '-'], "_")),
        ("ENV", custom_env.replace(';', "\n")),
        (
            "CONFIG_OPTIONS",
            p.get("--config-options").unwrap_or("").to_string(),
        ),
        (
            "SERVICE_MEMORY",
            p.get("--memory")
                .map(|m| format!("--memory={m}m"))
                .unwrap_or_default(),
        ),
        ("SHM_SIZE", p.get("--shm-size").unwrap_or("").to_string()),
        ("STATUS", "running".into()),
    ]
    .into_iter()
    .collect();
    for (f, v) in &files {
        ds.put(ctx, &svc, f, v)?;
    }
    for (k, f) in [
        ("initial-network", "--initial-network"),
        ("post-create-network", "--post-create-network"),
        ("post-start-network", "--post-start-network"),
    ] {
        if let Some(v) = p.get(f) {
            ctx.set_prop(ds.prefix, &svc, k, v)?;
        }
    }
    if crate::docker::enabled(&ctx.paths) && crate::docker::runs_service(ds.prefix) {
        let pw = ds.file(ctx, &svc, "PASSWORD")?;
        let db = ds.file(ctx, &svc, "DATABASE_NAME")?;
        let root = ds.file(ctx, &svc, "ROOTPASSWORD")?;
        let image = format!("{image}:{version}");
        let started = crate::docker::service_start(
            ctx,
            &crate::docker::Service {
                prefix: ds.prefix,
                name: &svc,
                dir: &dir,
                image: &image,
                password: &pw,
                root_password: &root,
                db: &db,
                network: p.get("--initial-network"),
            },
        );
        if let Err(e) = started {
            drop(crate::docker::service_stop(ds.prefix, &svc, true));
            drop(remove_any(&dir));
            drop(remove_any(
                &ctx.paths.lib.join("config").join(ds.prefix).join(&svc),
            ));
            return Err(e);
        }
    }
    let behaviour =
        crate::harness::image_behaviour(&ctx.paths, &svc, &format!("{image}:{version}"));
    ctx.sleep_ms(behaviour.start_ms)?;
    ctx.verbose("Waiting for container to be ready");
    ds.put(ctx, &svc, "ID", &random_hex())?;
    ctx.info2(format!("{} container created: {svc}", ds.name));
    print_info(ctx, ds, &svc, None)
}

fn info_rows(ctx: &Ctx, ds: &Datastore, svc: &str) -> Res<Vec<(&'static str, String)>> {
    let dir = ds.dir(ctx, svc);
    Ok(vec![
        ("--config-dir", dir.join("config").display().to_string()),
        ("--config-options", ds.file(ctx, svc, "CONFIG_OPTIONS")?),
        ("--data-dir", dir.join("data").display().to_string()),
        ("--dsn", ds.url(ctx, svc)?),
        ("--exposed-ports", {
            let p = ds.file(ctx, svc, "PORT")?;
            if p.is_empty() {
                "-".to_string()
            } else {
                ds.ports
                    .iter()
                    .zip(p.split_whitespace())
                    .map(|(c, h)| format!("{c}->{h}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }),
        ("--id", ds.file(ctx, svc, "ID")?),
        ("--internal-ip", "172.17.0.10".into()),
        (
            "--initial-network",
            ctx.prop_or(ds.prefix, svc, "initial-network")?,
        ),
        // `service_linked_apps`: `-` when nothing is linked.
        (
            "--links",
            Some(ds.links(ctx, svc)?.join(" "))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "--post-create-network",
            ctx.prop_or(ds.prefix, svc, "post-create-network")?,
        ),
        (
            "--post-start-network",
            ctx.prop_or(ds.prefix, svc, "post-start-network")?,
        ),
        ("--service-root", dir.display().to_string()),
        ("--status", ds.file(ctx, svc, "STATUS")?),
        (
            "--version",
            format!(
                "{}:{}",
                ds.file(ctx, svc, "IMAGE")?,
                ds.file(ctx, svc, "IMAGE_VERSION")?
            ),
        ),
    ])
}

/// `service_info`: `printf "%-20s %-25s"` rows without colons; a single flag prints its value;
/// an unknown flag lists the valid ones space-separated (dokku-postgres `common-functions`).
fn print_info(ctx: &Ctx, ds: &Datastore, svc: &str, flag: Option<&str>) -> Res {
    let rows = info_rows(ctx, ds, svc)?;
    if let Some(f) = flag {
        return match rows.iter().find(|(k, _)| *k == f) {
            Some((_, v)) => {
                ctx.out(v);
                Ok(())
            }
            None => fail(format!(
                "Invalid flag passed, valid flags: {}",
                rows.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(" ")
            )),
        };
    }
    ctx.info2(format!("{svc} {} service information", ds.prefix));
    for (k, v) in rows {
        ctx.verbose(format!(
            "{:<20} {v:<25}",
            crate::store::label(k.trim_start_matches('-'))
        ));
    }
    Ok(())
}

fn info(ctx: &mut Ctx, ds: &'static Datastore, args: &[String]) -> Res {
    let svc = args.first().cloned().unwrap_or_default();
    ds.verify(ctx, &svc)?;
    // There is no `--format json`: `--format` is just an unknown info flag.
    print_info(ctx, ds, &svc, args.get(1).map(String::as_str))
}

fn link_spec() -> Spec<'static> {
    Spec {
        values: &["--alias", "--querystring"],
        bools: &["--no-restart"],
        aliases: &[
            ("-a", "--alias"),
            ("-q", "--querystring"),
            ("-n", "--no-restart"),
        ],
        stop_at_positional: false,
        lenient: true,
    }
}

fn no_restart(ctx: &Ctx, p: &crate::args::Parsed) -> bool {
    p.has("--no-restart") || ctx.globals.flags.iter().any(|f| f == "--no-restart")
}

/// `config_all` lines (`KEY:  value`) that contain `needle`, as `common-functions` greps them.
fn config_lines_with(env: &BTreeMap<String, String>, needle: &str) -> Vec<String> {
    env.iter()
        .filter(|(k, v)| format!("{k}:  {v}").contains(needle))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The service URL with the app's `<PLUGIN>_DATABASE_SCHEME` override (`update_plugin_scheme_for_app`).
fn url_for_app(
    ctx: &Ctx,
    ds: &Datastore,
    svc: &str,
    env: &BTreeMap<String, String>,
) -> Res<String> {
    let url = ds.url(ctx, svc)?;
    match env
        .get(&format!("{}_DATABASE_SCHEME", ds.plugin_variable()))
        .filter(|s| !s.is_empty())
    {
        Some(scheme) => Ok(url
            .split_once("://")
            .map_or(url.clone(), |(_, rest)| format!("{scheme}://{rest}"))),
        None => Ok(url),
    }
}

/// `service_link` in `common-functions` (§e): alias checks, then "Already linked", then
/// `pre-link`, LINKS, the `--link` docker option, `post-link`, `config:set`, `post-link-complete`.
fn link(ctx: &mut Ctx, ds: &'static Datastore, args: &[String]) -> Res {
    let p = parse(args, &link_spec())?;
    let (svc, app) = (p.arg(0), p.arg(1));
    ds.verify(ctx, &svc)?;
    ctx.verify_app(&app)?;
    let env = ctx.env(&app)?;
    let mut url = url_for_app(ctx, ds, &svc, &env)?;
    let linked_as = config_lines_with(&env, &url);
    let alias = match p.get("--alias") {
        Some(a) => {
            let a = a.to_uppercase();
            let a = a.strip_suffix("_URL").unwrap_or(&a).to_string();
            if !config_lines_with(&env, &format!("{a}_URL")).is_empty() {
                return fail(format!("Specified alias {a} already in use"));
            }
            a
        }
        None if config_lines_with(&env, &format!("{}_URL", ds.var)).is_empty() => {
            ds.var.to_string()
        }
        None => match COLORS
            .iter()
            .map(|c| format!("{}_{c}", ds.alt))
            .find(|a| config_lines_with(&env, &format!("{a}_URL")).is_empty())
        {
            Some(a) => a,
            None => return fail("Unable to use default or generated URL alias"),
        },
    };
    if !linked_as.is_empty() {
        return fail(format!("Already linked as {}", linked_as.join("\n")));
    }
    let (pfx, s, a) = (ds.prefix, svc.as_str(), app.as_str());
    service_action(ctx, "pre-link", pfx, s, a)?;
    let mut links = ds.links(ctx, &svc)?;
    if !links.contains(&app) {
        links.push(app.clone());
        links.sort();
    }
    ctx.write_lines(&ds.dir(ctx, &svc).join("LINKS"), &links)?;
    crate::cmd::options::add_option(
        ctx,
        &app,
        &["build", "deploy", "run"],
        &ds.link_option(&svc),
    )?;
    // `-q` drops a leading `?` (`service_parse_args`: `${OPTARG#"?"}`).
    if let Some(q) = p
        .get("--querystring")
        .map(|q| q.strip_prefix('?').unwrap_or(q))
        .filter(|q| !q.is_empty())
    {
        url = format!("{url}?{q}");
    }
    service_action(ctx, "post-link", pfx, s, a)?;
    let var = format!("{alias}_URL");
    ctx.info1("Setting config vars");
    ctx.verbose(format!("{var}:  {url}"));
    crate::cmd::config::set_quiet(ctx, &app, &[(var, url)])?;
    if no_restart(ctx, &p) {
        ctx.verbose("Skipping restart of linked app");
    } else {
        crate::cmd::config::maybe_restart(ctx, &app)?;
    }
    service_action(ctx, "post-link-complete", pfx, s, a)?;
    Ok(())
}

/// Fires `service-action <phase> <prefix> <service> <app>` (dokku-facts.md §e, link/unlink).
fn service_action(ctx: &mut Ctx, phase: &str, prefix: &str, service: &str, app: &str) -> Res {
    crate::plugins::trigger(
        ctx,
        "service-action",
        &[phase, prefix, service, app],
        false,
        false,
    )?;
    Ok(())
}

/// `service_unlink`: LINKS and the docker option go first, then "Not linked" when no config
/// line holds the service URL, else every such variable is unset (§e).
fn unlink(ctx: &mut Ctx, ds: &'static Datastore, args: &[String]) -> Res {
    let p = parse(args, &link_spec())?;
    let (svc, app) = (p.arg(0), p.arg(1));
    ds.verify(ctx, &svc)?;
    ctx.verify_app(&app)?;
    let mut env = ctx.env(&app)?;
    let url = url_for_app(ctx, ds, &svc, &env)?;
    let keys = config_lines_with(&env, &url);
    let (pfx, s, a) = (ds.prefix, svc.as_str(), app.as_str());
    service_action(ctx, "pre-unlink", pfx, s, a)?;
    let mut links = ds.links(ctx, &svc)?;
    links.retain(|x| *x != app);
    ctx.write_lines(&ds.dir(ctx, &svc).join("LINKS"), &links)?;
    crate::cmd::options::remove_option(
        ctx,
        &app,
        &["build", "deploy", "run"],
        &ds.link_option(&svc),
    )?;
    if keys.is_empty() {
        return fail(format!("Not linked to app {app}"));
    }
    service_action(ctx, "post-unlink", pfx, s, a)?;
    for k in &keys {
        ctx.info1(format!("Unsetting {k}"));
        env.remove(k);
    }
    ctx.write_env(&app, &env)?;
    let mut targs = vec![app.clone(), "unset".to_string()];
    targs.extend(keys);
    let t: Vec<&str> = targs.iter().map(String::as_str).collect();
    crate::plugins::trigger(ctx, "post-config-update", &t, false, false)?;
    if no_restart(ctx, &p) {
        ctx.verbose("Skipping restart of linked app");
    } else {
        crate::cmd::config::maybe_restart(ctx, &app)?;
    }
    service_action(ctx, "post-unlink-complete", pfx, s, a)?;
    Ok(())
}

fn destroy(ctx: &mut Ctx, ds: &'static Datastore, args: &[String]) -> Res {
    let svc = args.first().cloned().unwrap_or_default();
    ds.verify(ctx, &svc)?;
    if !ds.links(ctx, &svc)?.is_empty() {
        return fail("Cannot delete linked service");
    }
    let forced = matches!(
        args.get(1).map(String::as_str),
        Some("-f" | "--force" | "force")
    ) || ctx.forced();
    if !forced {
        crate::cmd::apps::confirm_lines(
            ctx,
            &format!("This command will destroy {svc} {} service.", ds.name),
            &svc,
            &format!("Confirmation did not match {svc}. Aborted."),
        )?;
    }
    ctx.info2(format!("Deleting {svc}"));
    if crate::docker::enabled(&ctx.paths) {
        crate::docker::service_stop(ds.prefix, &svc, true)?;
    }
    ctx.verbose("Removing data");
    remove_any(&ds.dir(ctx, &svc))?;
    remove_any(&ctx.paths.lib.join("config").join(ds.prefix).join(&svc))?;
    ctx.info2(format!("{} container deleted: {svc}", ds.name));
    Ok(())
}

fn expose(ctx: &mut Ctx, ds: &'static Datastore, args: &[String]) -> Res {
    let svc = args.first().cloned().unwrap_or_default();
    ds.verify(ctx, &svc)?;
    let cur = ds.file(ctx, &svc, "PORT")?;
    if !cur.is_empty() {
        return fail(format!("Service {svc} already exposed on port(s) {cur}"));
    }
    let given: Vec<String> = args.iter().skip(1).cloned().collect();
    if !given.is_empty() && given.len() != ds.ports.len() {
        let list: Vec<String> = ds.ports.iter().map(u16::to_string).collect();
        return fail(format!(
            "{} ports to be exposed need to be provided in the following order: {}",
            ds.ports.len(),
            list.join(" ")
        ));
    }
    let ports: Vec<String> = if given.is_empty() {
        let seed: u32 = svc.bytes().map(u32::from).sum();
        ds.ports
            .iter()
            .enumerate()
            .map(|(i, _)| (20000 + (seed * 7 + i as u32 * 13) % 40000).to_string())
            .collect()
    } else {
        given
    };
    ds.put(ctx, &svc, "PORT", &ports.join(" "))?;
    let shown: Vec<String> = ds
        .ports
        .iter()
        .zip(&ports)
        .map(|(c, h)| format!("{c}->{h}"))
        .collect();
    ctx.info1(format!(
        "Service {svc} exposed on port(s) [container->host]: {}",
        shown.join(" ")
    ));
    Ok(())
}

/// On `apps:rename`, services linked to the old app list the new one instead.
pub fn rename_link(ctx: &Ctx, ds: &Datastore, old: &str, new: &str) -> Res {
    for svc in ds.services(ctx) {
        let mut links = ds.links(ctx, &svc)?;
        if links.iter().any(|a| a == old) {
            for a in &mut links {
                if a == old {
                    *a = new.to_string();
                }
            }
            links.sort();
            ctx.write_lines(&ds.dir(ctx, &svc).join("LINKS"), &links)?;
        }
    }
    Ok(())
}

/// `pre-delete` of datastores: an app being destroyed is removed from every `LINKS` file (§e).
pub fn forget_app(ctx: &Ctx, app: &str) -> Res {
    for ds in PLUGINS {
        for svc in ds.services(ctx) {
            let mut links = ds.links(ctx, &svc)?;
            if links.contains(&app.to_string()) {
                links.retain(|a| a != app);
                ctx.write_lines(&ds.dir(ctx, &svc).join("LINKS"), &links)?;
            }
        }
    }
    Ok(())
}
