//! Conformance of planned commands with ../shared/dokku-cli.json: the command exists (and is
//! not `removed`), every flag is one it accepts, and the number of positional arguments fits
//! its argument list.

use std::collections::BTreeMap;

use crate::support::shared_dir;

/// Flags that take a value (the next argv word), from the usage strings of dokku-cli.json.
const VALUE_FLAGS: &[&str] = &[
    "--alias",
    "-a",
    "--querystring",
    "-q",
    "--image",
    "-i",
    "--image-version",
    "-I",
    "--custom-env",
    "-C",
    "--config-options",
    "-c",
    "--memory",
    "-m",
    "--password",
    "-p",
    "--root-password",
    "-r",
    "--initial-network",
    "-N",
    "--post-create-network",
    "-P",
    "--post-start-network",
    "-S",
    "--shm-size",
    "-s",
    "--cpu",
    "--memory-swap",
    "--network",
    "--network-ingress",
    "--network-egress",
    "--nvidia-gpu",
    "--process-type",
    "--container-dir",
    "--phase",
    "--volume-subpath",
    "--volume-chown",
    "--volume-options",
    "--chown",
    "--archive-type",
    "--build-dir",
    "--format",
    "--process",
    "--parallel",
    "--scheduler",
    "--mode",
    "--reclaim-policy",
    "--size",
    // `storage:create --scheduler k3s` (Dokku docs/deployment/schedulers/k3s.md "Persistent
    // storage": `--access-mode ReadWriteOnce --storage-class-name longhorn`).
    "--access-mode",
    "--storage-class-name",
    "--namespace",
    "--index",
    "--ttl-seconds",
    "-e",
    "--env",
    "--num",
    "-n",
];

/// Known gaps in dokku-cli.json's `args` (checked against its own `usage`).
const ARG_FIXES: &[(&str, &[&str])] = &[("app-json:set", &["app", "key", "[value]"])];

pub(crate) struct Conformance {
    commands: BTreeMap<String, serde_json::Value>,
}

impl Conformance {
    pub(crate) fn load() -> Self {
        let path = shared_dir().join("dokku-cli.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let commands = list
            .into_iter()
            .map(|c| (c["command"].as_str().unwrap().to_owned(), c))
            .collect();
        Self { commands }
    }

    /// Checks one argv (`dokku <command> ...`).
    pub(crate) fn check(&self, argv: &[String]) -> Result<(), String> {
        if argv.first().map(String::as_str) != Some("dokku") {
            return Err(format!("`{}` is not a dokku command", argv.join(" ")));
        }
        let name = argv.get(1).ok_or("empty command")?;
        let spec = self
            .commands
            .get(name)
            .ok_or_else(|| format!("`{name}` is not in dokku-cli.json"))?;
        if spec["status"] == "removed" || spec["status"] == "unimplemented" {
            return Err(format!("`{name}` is {} in dokku-cli.json", spec["status"]));
        }
        let flags: Vec<&str> = spec["flags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        let args: Vec<String> = match ARG_FIXES.iter().find(|(c, _)| c == name) {
            Some((_, a)) => a.iter().map(|s| (*s).to_owned()).collect(),
            None => spec["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.as_str())
                .map(str::to_owned)
                .collect(),
        };
        let rest_index = args
            .iter()
            .position(|a| a.ends_with("...") || a.ends_with("...]"));
        let mut positional = 0usize;
        let mut words = argv[2..].iter();
        while let Some(w) = words.next() {
            let in_rest = rest_index.is_some_and(|r| positional >= r);
            if w.starts_with('-') && w.len() > 1 && !in_rest && w != "--" {
                let flag = w.split('=').next().unwrap();
                let known =
                    flags.contains(&flag) || (flag == "--global" && spec["global_allowed"] == true);
                if !known {
                    return Err(format!(
                        "`{name}` has no flag `{flag}` (valid: {})",
                        flags.join(" ")
                    ));
                }
                if VALUE_FLAGS.contains(&flag) && !w.contains('=') {
                    words
                        .next()
                        .ok_or_else(|| format!("`{name}` flag `{flag}` needs a value"))?;
                }
            } else {
                positional += 1;
            }
        }
        let required = args.iter().filter(|a| !a.starts_with('[')).count();
        let max = if rest_index.is_some() {
            usize::MAX
        } else {
            args.len()
        };
        if positional < required || positional > max {
            return Err(format!(
                "`{}` has {positional} argument(s); `{name}` takes {}",
                argv.join(" "),
                spec["usage"].as_str().unwrap_or_default()
            ));
        }
        Ok(())
    }
}

#[test]
fn checker_rejects_what_dokku_would() {
    let c = Conformance::load();
    let argv = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    assert!(c.check(&argv("dokku apps:create shop-web")).is_ok());
    assert!(c
        .check(&argv(
            "dokku postgres:create db --image-version 16 --password x"
        ))
        .is_ok());
    assert!(c
        .check(&argv("dokku docker-options:add app deploy --init"))
        .is_ok());
    assert_eq!(
        c.check(&argv("dokku apps:create")).unwrap_err(),
        "`dokku apps:create` has 0 argument(s); `apps:create` takes apps:create <app>"
    );
    assert_eq!(
        c.check(&argv("dokku apps:make x")).unwrap_err(),
        "`apps:make` is not in dokku-cli.json"
    );
    assert!(c.check(&argv("dokku apps:create a b")).is_err());
    assert!(c
        .check(&argv("dokku config:set --bogus app A=1"))
        .unwrap_err()
        .contains("has no flag `--bogus`"));
    assert!(c
        .check(&argv("dokku proxy:ports-set app http:80:5000"))
        .unwrap_err()
        .contains("removed"));
}

/// Every typed constructor of src/dokku/commands.rs (issue 18 item 4), built once for every
/// property plugin, resource kind and datastore plugin with every optional argument given,
/// conforms to dokku-cli.json: the command exists, each flag is one it takes, the arity
/// fits. The constructors are listed from the source, so a new one cannot be left out.
#[test]
fn commands_match_dokku_cli() {
    use dokku_compose::dokku::{self, catalog, Cmd, PropertyPlugin, Resource, Stdin};
    let c = Conformance::load();
    let values = BTreeMap::from([("K".to_owned(), "v".to_owned())]);
    let maps = ["http:80:5000".to_owned(), "https:443:5000".to_owned()];
    let mut built: Vec<(&str, Cmd)> = vec![
        ("apps_create", dokku::apps_create("a")),
        ("apps_destroy", dokku::apps_destroy("a")),
        ("network_create", dokku::network_create("n")),
        ("network_destroy", dokku::network_destroy("n")),
        ("storage_create", dokku::storage_create("s")),
        (
            "storage_create_k3s",
            dokku::storage_create_k3s(
                "s",
                &dokku::K3sClaim {
                    size: "1Gi",
                    access_mode: Some("ReadWriteMany"),
                    storage_class: Some("longhorn"),
                    host_path: Some("/srv/x"),
                    namespace: "shop",
                },
            ),
        ),
        ("storage_destroy", dokku::storage_destroy("s")),
        (
            "storage_mount_entry",
            dokku::storage_mount_entry("a", "s", "/d", true),
        ),
        (
            "storage_unmount_entry",
            dokku::storage_unmount_entry("a", "s", "/d"),
        ),
        ("storage_mount", dokku::storage_mount("a", "/h:/d:ro")),
        ("storage_unmount", dokku::storage_unmount("a", "/h:/d:ro")),
        (
            "docker_options_add",
            dokku::docker_options_add("a", "deploy", "--init"),
        ),
        (
            "docker_options_remove",
            dokku::docker_options_remove("a", "deploy", "--init"),
        ),
        ("proxy_enable", dokku::proxy_enable("a")),
        ("proxy_disable", dokku::proxy_disable("a")),
        ("proxy_build_config", dokku::proxy_build_config("a")),
        ("ports_set", dokku::ports_set("a", &maps)),
        ("ports_clear", dokku::ports_clear("a")),
        (
            "domains_set",
            dokku::domains_set("a", &["a.example".into()]),
        ),
        ("domains_clear", dokku::domains_clear("a")),
        ("ps_scale", dokku::ps_scale("a", "web", 2)),
        ("ps_restart", dokku::ps_restart("a")),
        ("ps_start", dokku::ps_start("a")),
        ("ps_stop", dokku::ps_stop("a")),
        ("config_set", dokku::config_set("a", &values)),
        (
            "config_import",
            dokku::config_import("a", values.clone(), ["K".to_owned()].into()),
        ),
        ("config_unset", dokku::config_unset("a", ["K", "L"])),
        (
            "git_from_archive",
            dokku::git_from_archive(
                "a",
                Stdin::Saved {
                    app: "a".into(),
                    digest: "d".into(),
                },
            ),
        ),
        (
            "run",
            dokku::run("a", ["sh".into(), "-c".into(), "x".into()]),
        ),
        ("letsencrypt_enable", dokku::letsencrypt_enable("a")),
        ("letsencrypt_disable", dokku::letsencrypt_disable("a")),
    ];
    for plugin in PropertyPlugin::ALL {
        built.push(("property_set", dokku::property_set(plugin, "a", "k", ["v"])));
        built.push(("property_set", dokku::property_set(plugin, "a", "k", [])));
    }
    let resources = BTreeMap::from([
        ("cpu".to_owned(), "1".to_owned()),
        ("memory".to_owned(), "64m".to_owned()),
        ("memory-swap".to_owned(), "128m".to_owned()),
    ]);
    for which in [Resource::Limit, Resource::Reserve] {
        built.push(("resource_set", dokku::resource_set(which, "a", &resources)));
        built.push(("resource_clear", dokku::resource_clear(which, "a")));
    }
    for ds in catalog::DATASTORES {
        let p = ds.plugin;
        let all = dokku::DatastoreCreate {
            image: Some(ds.image.into()),
            version: Some(ds.default_version.into()),
            password: Some("pw".into()),
            root_password: Some("root".into()),
            config_options: Some("--x".into()),
            custom_env: Some("K=V".into()),
            initial_network: Some("n".into()),
        };
        built.extend([
            ("datastore_create", dokku::datastore_create(p, "d", all)),
            (
                "datastore_upgrade",
                dokku::datastore_upgrade(p, "d", "i", "1"),
            ),
            (
                "datastore_link",
                dokku::datastore_link(p, "d", "a", Some("X")),
            ),
            ("datastore_unlink", dokku::datastore_unlink(p, "d", "a")),
        ]);
        let backups = [
            (
                "backup_auth",
                dokku::backup_auth(p, "d", "id".into(), "key".into(), &["r", "v4", "e"]),
            ),
            (
                "backup_schedule",
                dokku::backup_schedule(p, "d", "0 3 * * *", "b"),
            ),
            (
                "backup_set_encryption",
                dokku::backup_set_encryption(p, "d", "x".into()),
            ),
            (
                "backup_unset_encryption",
                dokku::backup_unset_encryption(p, "d"),
            ),
        ];
        // What the catalog says the plugin implements; Dokku agrees about the rest.
        let implemented = match ds.backups {
            catalog::Backups::None => 0,
            catalog::Backups::Unencrypted => 2,
            catalog::Backups::Encrypted => 4,
        };
        for (i, (f, cmd)) in backups.into_iter().enumerate() {
            if i < implemented {
                built.push((f, cmd));
            } else {
                let err = c.check(&cmd.argv()).unwrap_err();
                assert!(err.contains("unimplemented"), "{f} of {p}: {err}");
            }
        }
    }
    let failures: Vec<String> = built
        .iter()
        .filter_map(|(f, cmd)| c.check(&cmd.argv()).err().map(|e| format!("{f}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dokku/commands.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let constructors: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn "))
        .filter_map(|l| l.split(['(', '<']).next())
        .collect();
    assert!(constructors.len() >= 30, "{constructors:?}");
    for f in constructors {
        assert!(
            built.iter().any(|(g, _)| *g == f),
            "`dokku::{f}` is not checked against dokku-cli.json here"
        );
    }
}
