//! Property plugins: one table drives `<plugin>:set` and `<plugin>:report` for builder,
//! builder-dockerfile, scheduler, scheduler-docker-local, checks, nginx, logs, git, ps and
//! letsencrypt (dokku-facts.md §d "Property `:set` commands" and ":report conventions";
//! keys from dokku-cli.json `<plugin>:set` notes).

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::store::{rows, Report, Row};

/// A property plugin.
pub struct PropPlugin {
    /// Command prefix and storage name.
    pub name: &'static str,
    /// Report type (flag prefix).
    pub kind: &'static str,
    /// Valid keys with their defaults.
    pub keys: &'static [(&'static str, &'static str)],
    /// Keys that may be set with `--global` (`None`: all).
    pub global_keys: Option<&'static [&'static str]>,
    /// Keys that may only be set with `--global`.
    pub global_only: &'static [&'static str],
    /// Bash plugin (message wording, no legacy JSON keys) or Go plugin.
    pub bash: bool,
}

const NGINX_KEYS: &[(&str, &str)] = &[
    ("access-log-format", ""),
    ("access-log-path", ""),
    ("bind-address-ipv4", ""),
    ("bind-address-ipv6", "::"),
    ("client-body-timeout", "60s"),
    ("client-header-timeout", "60s"),
    ("client-max-body-size", "1m"),
    ("disable-custom-config", "false"),
    ("error-log-path", ""),
    ("hsts", "true"),
    ("hsts-include-subdomains", "true"),
    ("hsts-preload", "false"),
    ("hsts-max-age", "15724800"),
    ("keepalive-timeout", "75s"),
    ("lingering-timeout", "5s"),
    ("nginx-conf-sigil-path", "nginx.conf.sigil"),
    ("nginx-service-command", ""),
    ("proxy-buffer-size", "4k"),
    ("proxy-buffering", "on"),
    ("proxy-buffers", "8 4k"),
    ("proxy-busy-buffers-size", "8k"),
    ("proxy-connect-timeout", "60s"),
    ("proxy-read-timeout", "60s"),
    ("proxy-send-timeout", "60s"),
    ("proxy-keepalive", ""),
    ("send-timeout", "60s"),
    ("underscore-in-headers", "off"),
    ("x-forwarded-for-value", "$remote_addr"),
    ("x-forwarded-port-value", "$server_port"),
    ("x-forwarded-proto-value", "$scheme"),
    ("x-forwarded-ssl", ""),
];

/// Every property plugin.
pub const PLUGINS: &[PropPlugin] = &[
    // plugins/app-json (Go): `appjson-path`, default `app.json` (dokku-cli.json `app-json:set`).
    PropPlugin {
        name: "app-json",
        kind: "app-json",
        keys: &[("appjson-path", "app.json")],
        global_keys: None,
        global_only: &[],
        bash: false,
    },
    PropPlugin {
        name: "builder",
        kind: "builder",
        keys: &[
            ("selected", ""),
            ("build-dir", ""),
            ("skip-cleanup", "false"),
        ],
        global_keys: None,
        global_only: &[],
        bash: false,
    },
    PropPlugin {
        name: "builder-dockerfile",
        kind: "builder-dockerfile",
        keys: &[("dockerfile-path", "Dockerfile")],
        global_keys: None,
        global_only: &[],
        bash: true,
    },
    // plugins/builder-herokuish `cmd-builder-herokuish-set` and report.go; `allowed` computes
    // to true on amd64 hosts.
    PropPlugin {
        name: "builder-herokuish",
        kind: "builder-herokuish",
        keys: &[("allowed", "true")],
        global_keys: None,
        global_only: &[],
        bash: true,
    },
    PropPlugin {
        name: "scheduler",
        kind: "scheduler",
        keys: &[("selected", "docker-local"), ("shell", "")],
        global_keys: None,
        global_only: &[],
        bash: false,
    },
    PropPlugin {
        name: "scheduler-docker-local",
        kind: "scheduler-docker-local",
        keys: &[("init-process", "true"), ("parallel-schedule-count", "1")],
        global_keys: None,
        global_only: &[],
        bash: true,
    },
    PropPlugin {
        name: "checks",
        kind: "checks",
        keys: &[("wait-to-retire", "60")],
        global_keys: None,
        global_only: &[],
        bash: true,
    },
    PropPlugin {
        name: "nginx",
        kind: "nginx",
        keys: NGINX_KEYS,
        global_keys: None,
        global_only: &[],
        bash: true,
    },
    PropPlugin {
        name: "logs",
        kind: "logs",
        keys: &[
            ("app-label-alias", "com.dokku.app-name"),
            ("max-size", "10m"),
            ("vector-cron-sink", ""),
            ("vector-image", ""),
            ("vector-networks", ""),
            ("vector-sink", ""),
        ],
        global_keys: None,
        global_only: &["vector-image", "vector-networks"],
        bash: false,
    },
    PropPlugin {
        name: "git",
        kind: "git",
        keys: &[
            ("archive-max-files", "10000"),
            ("archive-max-size", "1073741824"),
            ("deploy-branch", "master"),
            ("keep-git-dir", "false"),
            ("rev-env-var", "GIT_REV"),
            ("source-image", ""),
        ],
        global_keys: None,
        global_only: &[],
        bash: true,
    },
    PropPlugin {
        name: "ps",
        kind: "ps",
        keys: &[
            ("dockerfile-start-cmd", ""),
            ("procfile-path", "Procfile"),
            ("restart-policy", "on-failure:10"),
            ("restore", "true"),
            ("skip-deploy", "false"),
            ("start-cmd", ""),
            ("stop-timeout-seconds", "30"),
        ],
        global_keys: Some(&[
            "procfile-path",
            "restart-policy",
            "skip-deploy",
            "stop-timeout-seconds",
        ]),
        global_only: &[],
        bash: false,
    },
    PropPlugin {
        name: "letsencrypt",
        kind: "letsencrypt",
        keys: &[
            ("dns-provider", ""),
            ("email", ""),
            ("graceperiod", "2592000"),
            ("server", "default"),
            ("lego-args", ""),
            ("lego-docker-options", ""),
        ],
        global_keys: None,
        global_only: &[],
        bash: true,
    },
];

/// Find a property plugin by name.
pub fn find(name: &str) -> Option<&'static PropPlugin> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// Store (or unset, for an empty value) a property and print Dokku's message.
pub fn set_value(ctx: &Ctx, plugin: &str, scope: &str, key: &str, value: &str) -> Res {
    if value.is_empty() {
        ctx.info2(format!("Unsetting {key}"));
        ctx.unset_prop(plugin, scope, key)
    } else {
        ctx.info2(format!("Setting {key} to {value}"));
        ctx.set_prop(plugin, scope, key, value)
    }
}

fn valid_key(p: &PropPlugin, key: &str) -> bool {
    p.keys.iter().any(|(k, _)| *k == key)
        || (p.name == "letsencrypt" && key.starts_with("dns-provider-"))
}

/// `<plugin>:set (<app>|--global) <key> [<value>...]`.
pub fn set(ctx: &mut Ctx, p: &PropPlugin, args: &[String]) -> Res {
    let a = parse(args, &spec(&[], &["--global"]))?;
    let global = a.has("--global");
    let (scope, rest) = if global {
        ("--global".to_string(), a.pos.clone())
    } else {
        (a.arg(0), a.pos.iter().skip(1).cloned().collect::<Vec<_>>())
    };
    if !global {
        ctx.verify_app(&scope)?;
    }
    let key = rest.first().cloned().unwrap_or_default();
    let value = rest.iter().skip(1).cloned().collect::<Vec<_>>().join(" ");
    if key.is_empty() {
        return fail(if p.bash {
            "No key specified"
        } else {
            "No property specified"
        });
    }
    if !valid_key(p, &key) {
        let list: Vec<&str> = p.keys.iter().map(|(k, _)| *k).collect();
        return if p.bash {
            fail(format!(
                "Invalid key specified, valid keys include: {}",
                list.join(", ")
            ))
        } else {
            fail(format!(
                "Invalid property specified, valid properties include: {}",
                list.join(", ")
            ))
        };
    }
    if global && p.global_keys.is_some_and(|g| !g.contains(&key.as_str())) {
        return if p.bash {
            fail(format!("The key '{key}' cannot be set globally"))
        } else {
            fail("Property cannot be specified globally")
        };
    }
    if !global && p.global_only.contains(&key.as_str()) {
        if p.name == "logs" {
            // plugins/logs `validateVectorImage`/`validateVectorNetworks`.
            return fail(format!("{key} may only be set globally with --global"));
        }
        return fail("Property can only be specified globally");
    }
    if p.name == "logs" {
        return logs_set(ctx, &scope, &key, &value);
    }
    if p.name == "ps" && key == "restart-policy" && !value.is_empty() {
        // `isValidRestartPolicy` (plugins/ps/functions.go): any `on-failure:` suffix passes.
        let ok = matches!(
            value.as_str(),
            "no" | "always" | "unless-stopped" | "on-failure"
        ) || value.starts_with("on-failure:");
        if !ok {
            return fail("Invalid restart-policy specified");
        }
    }
    if p.name == "nginx"
        && key == "proxy-keepalive"
        && !value.is_empty()
        && value.parse::<u32>().is_err()
    {
        return fail("Invalid value for proxy-keepalive, must be an integer");
    }
    if p.name == "git" && key == "rev-env-var" && value.is_empty() {
        // An empty rev-env-var is stored (it disables GIT_REV) rather than unset (dokku-cli.json git:set).
        ctx.info2(format!("Setting {key} to "));
        return ctx.set_prop(p.name, &scope, &key, "");
    }
    set_value(ctx, p.name, &scope, &key, &value)
}

/// Rows for a property plugin report: `<kind>-<key>`, `-computed-`, `-global-` (§d).
pub fn prop_rows(ctx: &Ctx, p: &PropPlugin, app: &str) -> Res<Vec<Row>> {
    let mut v = Vec::new();
    for (k, d) in p.keys {
        // ps reports `restore` unprefixed (plugins/ps/report.go), so it is not a property row.
        if p.name == "ps" && *k == "restore" {
            continue;
        }
        let global_capable = p.global_keys.is_none_or(|g| g.contains(k));
        if global_capable {
            v.push((
                format!("{}-computed-{k}", p.kind),
                ctx.prop_computed(p.name, app, k, d)?,
            ));
            v.push((
                format!("{}-global-{k}", p.kind),
                ctx.prop_or(p.name, "--global", k)?,
            ));
        } else {
            v.push((
                format!("{}-computed-{k}", p.kind),
                ctx.prop_computed(p.name, app, k, d)?,
            ));
        }
        if !p.global_only.contains(k) {
            v.push((format!("{}-{k}", p.kind), ctx.prop_or(p.name, app, k)?));
        }
    }
    Ok(rows(v))
}

/// Global rows for `--global`.
pub fn global_rows(ctx: &Ctx, p: &PropPlugin) -> Res<Vec<Row>> {
    let mut v = Vec::new();
    for (k, d) in p.keys {
        if p.global_keys.is_some_and(|g| !g.contains(k)) {
            continue;
        }
        v.push((
            format!("{}-computed-{k}", p.kind),
            ctx.prop_computed(p.name, "--global", k, d)?,
        ));
        v.push((
            format!("{}-global-{k}", p.kind),
            ctx.prop_or(p.name, "--global", k)?,
        ));
    }
    Ok(rows(v))
}

/// Run `<plugin>:set` or `<plugin>:report`.
pub fn run(ctx: &mut Ctx, p: &'static PropPlugin, sub: &str, args: &[String]) -> Res {
    match sub {
        "set" => set(ctx, p, args),
        "report" => Report {
            plugin: p.name,
            kind: p.kind,
            legacy: !p.bash,
        }
        .run(ctx, args, &|c, a| prop_rows(c, p, a), &|c| {
            global_rows(c, p)
        }),
        _ => Err(Fail::Silent(255)),
    }
}

/// plugins/logs `CommandSet`: `validateSetValue`, the property, then the vector config for the
/// keys that shape it.
fn logs_set(ctx: &mut Ctx, scope: &str, key: &str, value: &str) -> Res {
    if !value.is_empty() {
        match key {
            "app-label-alias" => {
                let ok = value.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                if !ok {
                    return fail("Invalid app-label-alias value, must start with a letter or number and contain only letters, numbers, and any of [_, ., -]");
                }
            }
            "max-size" if value != "unlimited" => {
                if !value.ends_with(['k', 'm', 'g']) {
                    return fail(
                        "Invalid max-size unit measure, value must end in any of [k, m, g]",
                    );
                }
                if value.len() < 2 {
                    return fail("Invalid max-size value, must be a number followed by a unit of measure [k, m, g]");
                }
                let n = &value[..value.len() - 1];
                if let Err(e) = n.parse::<i64>() {
                    return fail(format!("Invalid max-size value, unable to convert number to int: strconv.Atoi: parsing {n:?}: {e}"));
                }
            }
            "vector-networks" => {
                for name in value.split(',').map(str::trim) {
                    if name.is_empty() {
                        return fail(
                            "Invalid vector-networks value, empty entry in comma-separated list",
                        );
                    }
                    if name == "bridge" {
                        return fail("Invalid vector-networks value, \"bridge\" is not a valid entry for vector-networks");
                    }
                    if !crate::cmd::network::exists(ctx, name) {
                        return fail(format!("Network {name:?} does not exist"));
                    }
                }
            }
            "vector-sink" | "vector-cron-sink" => {
                if let Err(e) = crate::cmd::vector::sink_to_config(value, &[]) {
                    return fail(e);
                }
            }
            _ => {}
        }
    }
    set_value(ctx, "logs", scope, key, value)?;
    if matches!(key, "app-label-alias" | "vector-cron-sink" | "vector-sink") {
        ctx.verbose(format!(
            "Writing updated vector config to {}",
            crate::cmd::vector::path(ctx).display()
        ));
        crate::cmd::vector::write(ctx)?;
    }
    Ok(())
}
