use super::*;

#[test]
fn queries_are_told_from_changes() {
    assert!(
        is_query(&["ps:report", "a", "--format", "json"])
            && is_query(&["ps:scale", "--format", "json", "a"])
    );
    assert!(
        !is_query(&["ps:scale", "--skip-deploy", "a", "web=1"])
            && !is_query(&["config:set", "a", "K=V"])
            && !is_query(&[])
    );
}

fn c() -> Cmd {
    Cmd::dokku(["x:report"])
}

#[test]
fn read_queries_only_what_the_project_touches() {
    let json = serde_json::json!({"services": {"db": {"image": "postgres:16"}, "web": {"image": "nginx", "depends_on": {"db": {"condition": "service_started", "required": true}}}}});
    let opts = crate::model::ConvertOptions {
        stack: crate::model::StackName::parse("s").unwrap(),
        project_dir: "/p".into(),
    };
    let (project, _) = crate::model::from_compose_json(&json, &opts).unwrap();
    let answer = |line: &str| -> QueryOutput {
        match line {
            "dokku apps:list --format json" => Some(r#"["s-web","other"]"#.into()),
            "dokku network:list --format json" => Some("[]".into()),
            "dokku postgres:list" => Some("=====> Postgres services\ns-db\n".into()),
            "dokku postgres:links s-db" => Some("s-web\n".into()),
            "dokku config:export --format json s-web" => Some(r#"{"A":"1"}"#.into()),
            "dokku ps:report s-web --format json" => {
                Some(r#"{"deployed":"true","restart-policy":"on-failure:10"}"#.into())
            }
            "dokku ports:report s-web --format json" => {
                Some(r#"{"map":"http:80:80 http:8080:80"}"#.into())
            }
            "dokku letsencrypt:active s-web" => Some("false\n".into()),
            _ => None,
        }
    };
    let (state, asked) = read_answering(&project, answer);
    // The parallel reader sees the same host.
    let parallel =
        read_parallel(&project, &|cmd: &Cmd| Ok(answer(&cmd.argv().join(" "))), 4).unwrap();
    assert_eq!(parallel, state);
    // A host that does not answer `apps:list` is an error, never an empty host.
    let err = read(&project, &mut |_: &Cmd| Ok(None)).unwrap_err();
    assert!(err.to_string().contains("apps:list"), "{err}");
    // apps:list, scheduler:report --global, network:list, storage:list-entries, postgres
    // list/links/info x2; for the one app: config:export, the 12 reports, storage:list
    // and ps:scale.
    assert_eq!(asked.len(), 23, "{asked:#?}");
    assert!(asked.iter().all(|a| !a.contains("other")));
    let web = &state.apps["s-web"];
    assert!(web.deployed);
    assert_eq!(web.config["A"], "1");
    assert_eq!(
        web.ports,
        ["http:8080:80", "http:80:80"],
        "sorted as strings, as the planner sorts them"
    );
    assert_eq!(web.properties["ps:restart-policy"], "on-failure:10");
    assert!(state.datastores["postgres"]["s-db"].contains("s-web"));
}

#[test]
fn apps_are_read_in_bulk_and_known_state_is_trusted() {
    let json = serde_json::json!({"services": {"web": {"image": "nginx"}, "api": {"image": "api"}, "worker": {"image": "w"}}});
    let opts = crate::model::ConvertOptions {
        stack: crate::model::StackName::parse("s").unwrap(),
        project_dir: "/p".into(),
    };
    let (project, _) = crate::model::from_compose_json(&json, &opts).unwrap();
    // `other` sorts between the stack's apps: bulk lines are matched by position.
    let answer = |line: &str| -> QueryOutput {
        match line {
            "dokku apps:list --format json" => Some(r#"["a-other","s-api","s-web"]"#.into()),
            "dokku network:list --format json" => Some("[]".into()),
            "dokku ports:report --format json" => Some(
                "{\"map\":\"http:1:1\"}\n{\"map\":\"http:80:8080\"}\n{\"map\":\"http:80:80\"}\n"
                    .into(),
            ),
            "dokku letsencrypt:report --format json" => Some(
                "{\"active\":\"false\"}\n{\"active\":\"false\"}\n{\"active\":\"true\"}\n".into(),
            ),
            l if l.ends_with(":report --format json") => Some("{}\n{}\n{}\n".into()),
            l if l.starts_with("dokku config:export") => {
                Some(format!(r#"{{"APP":"{}"}}"#, l.rsplit(' ').next().unwrap()))
            }
            _ => None,
        }
    };
    let (state, asked) = read_answering(&project, answer);
    // apps:list, scheduler:report --global, network:list, storage:list-entries, 12 bulk
    // reports, 3 per-app queries x2.
    assert_eq!(asked.len(), 22, "{asked:#?}");
    assert_eq!(state.apps["s-api"].ports, ["http:80:8080"]);
    assert_eq!(state.apps["s-web"].ports, ["http:80:80"]);
    assert!(state.apps["s-web"].letsencrypt && !state.apps["s-api"].letsencrypt);
    assert_eq!(state.apps["s-api"].config["APP"], "s-api");
    // A bulk answer that does not match `apps:list` is not trusted: per app instead.
    let (short, asked) = read_answering(&project, |line| {
        if line == "dokku ports:report --format json" {
            Some("{}\n".into())
        } else {
            answer(line)
        }
    });
    assert!(
        asked.contains(&"dokku ports:report s-api --format json".to_owned()),
        "{asked:#?}"
    );
    assert!(short.apps["s-api"].ports.is_empty());
    // Known state: only apps:list and the changed app, read per app.
    let changed = BTreeSet::from(["s-web".to_owned()]);
    let mut recorded = state.clone();
    recorded
        .apps
        .get_mut("s-api")
        .unwrap()
        .config
        .insert("RECORDED".into(), "1".into());
    let mut asked = Vec::new();
    let fast = read_stack(
        &project,
        &mut |cmd: &Cmd| {
            asked.push(cmd.argv().join(" "));
            Ok(answer(&cmd.argv().join(" ")))
        },
        Some(Known {
            state: &recorded,
            changed: &changed,
        }),
    )
    .unwrap();
    assert_eq!(asked.len(), 2 + 15, "{asked:#?}");
    assert!(asked.iter().all(|a| !a.contains("s-api")), "{asked:#?}");
    assert_eq!(fast.apps["s-api"].config["RECORDED"], "1");
    // An app of the record that is gone from the host is gone from the state.
    let gone = read_stack(
        &project,
        &mut |cmd: &Cmd| {
            Ok(if cmd.argv().join(" ") == "dokku apps:list --format json" {
                Some(r#"["s-web"]"#.into())
            } else {
                answer(&cmd.argv().join(" "))
            })
        },
        Some(Known {
            state: &recorded,
            changed: &BTreeSet::new(),
        }),
    )
    .unwrap();
    assert!(!gone.apps.contains_key("s-api") && gone.apps.contains_key("s-web"));
}

#[test]
fn parsers() {
    assert_eq!(parse_name_list(&c(), "[\"a\",\"b\"]\n").unwrap().len(), 2);
    assert!(parse_name_list(&c(), "nope")
        .unwrap_err()
        .to_string()
        .starts_with("cannot parse the output of `dokku x:report`"));
    assert_eq!(
        parse_lines("=====> Postgres services\nshop-db\n"),
        BTreeSet::from(["shop-db".to_owned()])
    );
    let r = parse_report(&c(), r#"{"deployed":"true","restart-policy":"always"}"#).unwrap();
    assert_eq!(r["restart-policy"], "always");
    let m = parse_mounts(&c(), r#"[{"entry_name":"s-data","host_path":"/var/lib/dokku/data/storage/s-data","container_path":"/data"},{"host_path":"/etc/x","container_path":"/x","readonly":true}]"#).unwrap();
    assert!(m.contains("entry:s-data:/data"));
    assert!(m.contains("/etc/x:/x:ro"));
    assert_eq!(
        parse_scale(&c(), r#"[{"process_type":"web","quantity":2}]"#).unwrap()["web"],
        2
    );
    assert_eq!(
        resource_key("_default_.limit.memory-swap"),
        Some(("limit", "memory-swap"))
    );
    assert_eq!(resource_key("reserve-memory"), Some(("reserve", "memory")));
    assert_eq!(resource_key("web.limit.cpu"), None);
    let all = "=====> bank-web domains information\n       Domains app enabled:           true\n       Domains app vhosts:            bank.example.com www.bank.example.com\n       Domains global enabled:        false\n=====> empty domains information\n       Domains app vhosts:            \n";
    let v = parse_all_vhosts(all);
    assert_eq!(v.len(), 2);
    assert_eq!(v["www.bank.example.com"], "bank-web");
    assert_eq!(
        split_docker_options("--link a:b --add-host x:1.2.3.4 --init"),
        ["--link a:b", "--add-host x:1.2.3.4", "--init"]
    );
}

#[test]
fn networks_are_read_from_dokkus_network_objects() {
    // plugins/network `CommandList` marshals `DockerNetwork` objects.
    let out = r#"[{"CreatedAt":"2024-02-25T01:55:24.275184461Z","DokkuManaged":true,"Driver":"bridge","ID":"0123456789ab","Internal":false,"IPv6":false,"Labels":{"com.dokku.network-name":"s-back"},"Name":"s-back","Scope":"local"},{"DokkuManaged":false,"Name":"bridge"}]"#;
    assert_eq!(
        parse_name_list(&c(), out).unwrap(),
        BTreeSet::from(["bridge".to_owned(), "s-back".to_owned()])
    );
    // storage:list-entries prints entries named by `name`.
    let out = r#"[{"name":"s-data","scheduler":"docker-local","host_path":"/var/lib/dokku/data/storage/s-data","schema_version":1}]"#;
    assert_eq!(
        parse_name_list(&c(), out).unwrap(),
        BTreeSet::from(["s-data".to_owned()])
    );
}

#[test]
fn legacy_mount_entries_are_host_path_mounts() {
    // `storage:mount app /etc/x:/x:ro` is stored by Dokku 0.38 as entry `legacy-<sha1[:10]>`.
    let out = r#"[{"entry_name":"legacy-4f1c8fd4a5","host_path":"/etc/x","container_path":"/x","readonly":true},{"entry_name":"legacy-0123456789","host_path":"/srv/y","container_path":"/y"}]"#;
    let m = parse_mounts(&c(), out).unwrap();
    assert_eq!(
        m,
        BTreeSet::from([
            mount_key(None, "/etc/x", "/x", true),
            mount_key(None, "/srv/y", "/y", false)
        ])
    );
}
