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
