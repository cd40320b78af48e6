//! Tests of the app conversion: docker options, ports, policy rules.

use serde_json::json;

use crate::model::{from_compose_json, ConvertOptions, Kind, ModelError, PolicyRule, StackName};

fn convert(
    svc: serde_json::Value,
) -> Result<Vec<(String, String, Option<PolicyRule>)>, ModelError> {
    let json = json!({"name": "shop", "services": {"web": svc}});
    let (project, _) = from_compose_json(
        &json,
        &ConvertOptions {
            stack: StackName::sanitise("shop"),
            project_dir: "/src".into(),
        },
    )?;
    let svc = project.services.values().next().unwrap();
    let Kind::App(app) = &svc.kind else {
        panic!("not an app")
    };
    Ok(app
        .docker_options
        .iter()
        .map(|o| (o.path.clone(), o.option.clone(), o.rule))
        .collect())
}

fn refused(svc: serde_json::Value) -> (String, String) {
    match convert(svc) {
        Err(ModelError::Rejected { path, reason }) => (path, reason),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn injected_flags_are_refused_with_the_key_path() {
    for (svc, path) in [
        (
            json!({"image": "x", "stop_signal": "SIGTERM --privileged"}),
            "services.web.stop_signal",
        ),
        (
            json!({"image": "x", "dns": ["1.1.1.1", "1.1.1.1 -v /:/host"]}),
            "services.web.dns[1]",
        ),
        (
            json!({"image": "x", "extra_hosts": ["db:10.0.0.1 --privileged"]}),
            "services.web.extra_hosts[0]",
        ),
        (
            json!({"image": "x", "extra_hosts": {"db": "10.0.0.1 --pid host"}}),
            "services.web.extra_hosts.db",
        ),
        (
            json!({"image": "x", "tmpfs": "/tmp -v /:/host"}),
            "services.web.tmpfs",
        ),
        (
            json!({"image": "x", "ulimits": {"nofile": {"soft": "1 --privileged", "hard": 2}}}),
            "services.web.ulimits.nofile",
        ),
        (
            json!({"image": "x", "cpuset": "0 --cap-add ALL"}),
            "services.web.cpuset",
        ),
        (
            json!({"image": "x", "network_mode": "x --network host"}),
            "services.web.network_mode",
        ),
        (
            json!({"image": "x", "pid": "ns:/proc/1/ns/pid"}),
            "services.web.pid",
        ),
        (
            json!({"image": "x", "group_add": ["0 --privileged"]}),
            "services.web.group_add[0]",
        ),
        (
            json!({"image": "x", "sysctls": {"kernel.core_pattern": "|/x"}}),
            "services.web.sysctls.kernel.core_pattern",
        ),
        (
            json!({"image": "x", "volumes": [{"type": "tmpfs", "target": "/t -v /:/host"}]}),
            "services.web.volumes[0]",
        ),
        (
            json!({"image": "x", "cpus": "1 --privileged"}),
            "services.web.cpus",
        ),
        (
            json!({"image": "x", "networks": {"default": {"aliases": ["a --privileged"]}}}),
            "services.web.networks",
        ),
        (
            json!({"build": {"context": ".", "target": "t --privileged"}}),
            "services.web.build.target",
        ),
        (
            json!({"build": {"context": "."}, "user": "root --privileged"}),
            "services.web.user",
        ),
        (
            json!({"build": {"context": "."}, "working_dir": "/srv -v /:/host"}),
            "services.web.working_dir",
        ),
        (
            json!({"build": {"context": ".", "args": {"A": "x\n--privileged"}}}),
            "services.web.build.args.A",
        ),
    ] {
        let (p, reason) = refused(svc);
        assert_eq!(p, path, "{reason}");
        assert!(reason.contains("Dokku"), "{reason}");
    }
}

#[test]
fn ports_go_through_the_proxy_or_docker_by_protocol() {
    let port = |p: serde_json::Value| {
        let json = json!({"name": "shop", "services": {"web": {"image": "x", "ports": [p]}}});
        let (project, _) = from_compose_json(
            &json,
            &ConvertOptions {
                stack: StackName::sanitise("shop"),
                project_dir: "/src".into(),
            },
        )
        .unwrap();
        let Kind::App(app) = &project.services.values().next().unwrap().kind else {
            panic!("not an app")
        };
        let proxy: Vec<String> = app
            .ports
            .iter()
            .map(|p| format!("{}:{}:{}", p.scheme, p.host, p.container))
            .collect();
        let direct: Vec<String> = app
            .docker_options
            .iter()
            .map(|o| o.option.clone())
            .collect();
        (proxy, direct)
    };
    let proxy = |m: &str| (vec![m.to_owned()], Vec::<String>::new());
    let direct = |o: &str| (Vec::<String>::new(), vec![o.to_owned()]);
    for (p, want) in [
        (
            json!({"target": 5000, "published": "8080", "protocol": "tcp"}),
            proxy("http:8080:5000"),
        ),
        (
            json!({"target": 1883, "published": "1883", "protocol": "tcp"}),
            direct("-p 1883:1883"),
        ),
        (
            json!({"target": 53, "published": "53", "protocol": "udp"}),
            direct("-p 53:53/udp"),
        ),
        (
            json!({"target": 443, "published": "443", "protocol": "tcp"}),
            direct("-p 443:443"),
        ),
        (
            json!({"target": 8080, "published": "8443", "protocol": "tcp", "app_protocol": "https"}),
            proxy("https:8443:8080"),
        ),
        (
            json!({"target": 8080, "published": "8081", "host_ip": "127.0.0.1", "protocol": "tcp"}),
            direct("-p 127.0.0.1:8081:8080"),
        ),
        (
            json!({"target": 8080, "published": "8081", "host_ip": "::1", "protocol": "tcp"}),
            direct("-p '[::1]:8081:8080'"),
        ),
        (
            json!({"target": 7777, "published": "7777", "protocol": "tcp", "app_protocol": "tcp"}),
            direct("-p 7777:7777"),
        ),
        (
            json!({"target": 25565, "published": "25565", "protocol": "tcp", "app_protocol": "http"}),
            proxy("http:25565:25565"),
        ),
    ] {
        assert_eq!(port(p.clone()), want, "{p}");
    }
    let json = json!({"name": "shop", "services": {"web": {"image": "x", "ports": [{"target": 80, "published": "8000-8010"}]}}});
    let err = from_compose_json(
        &json,
        &ConvertOptions {
            stack: StackName::sanitise("shop"),
            project_dir: "/src".into(),
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("services.web.ports[0].published"),
        "{err}"
    );
}

#[test]
fn valid_values_render_as_one_flag_each() {
    let opts = convert(json!({
        "image": "x",
        "stop_signal": "SIGQUIT",
        "dns": ["1.1.1.1"],
        "cap_add": ["cap_sys_admin", "net_bind_service"],
        "oom_score_adj": -500,
        "sysctls": {"net.core.somaxconn": 1024},
        "device_cgroup_rules": ["c 1:3 mr"],
    }))
    .unwrap();
    let want = [
        ("services.web.stop_signal", "--stop-signal SIGQUIT", None),
        (
            "services.web.cap_add[0]",
            "--cap-add SYS_ADMIN",
            Some(PolicyRule::CapAdd),
        ),
        (
            "services.web.cap_add[1]",
            "--cap-add NET_BIND_SERVICE",
            None,
        ),
        (
            "services.web.device_cgroup_rules[0]",
            "--device-cgroup-rule 'c 1:3 mr'",
            Some(PolicyRule::Devices),
        ),
        (
            "services.web.sysctls.net.core.somaxconn",
            "--sysctl net.core.somaxconn=1024",
            None,
        ),
        ("services.web.dns[0]", "--dns 1.1.1.1", None),
        ("services.web.oom_score_adj", "--oom-score-adj=-500", None),
    ];
    for w in want {
        assert!(
            opts.iter()
                .any(|(p, o, r)| (p.as_str(), o.as_str(), *r) == w),
            "{w:?} not in {opts:?}"
        );
    }
    let none = convert(json!({"image": "x", "stop_signal": null, "shm_size": null, "cpus": null, "pids_limit": null})).unwrap();
    assert!(none.is_empty(), "{none:?}");
    let build =
        convert(json!({"build": {"context": ".", "args": {"GREETING": "hello world"}}})).unwrap();
    assert!(
        build
            .iter()
            .any(|(_, o, _)| o == "--build-arg 'GREETING=hello world'"),
        "{build:?}"
    );
}

fn project(
    services: serde_json::Value,
) -> Result<(crate::model::Project, Vec<String>), ModelError> {
    let json = json!({"name": "shop", "services": services});
    let (project, warnings) = from_compose_json(
        &json,
        &ConvertOptions {
            stack: StackName::sanitise("shop"),
            project_dir: "/src".into(),
        },
    )?;
    Ok((project, warnings.into_iter().map(|w| w.path).collect()))
}

fn app<'a>(project: &'a crate::model::Project, name: &str) -> &'a crate::model::AppSpec {
    let svc = project
        .services
        .values()
        .find(|s| s.name.as_str() == name)
        .unwrap();
    let Kind::App(app) = &svc.kind else {
        panic!("not an app")
    };
    app
}

#[test]
fn typed_ulimits_map_to_one_ulimit_option_each() {
    let opts = convert(
        json!({"image": "x", "ulimits": {"nofile": {"soft": 10, "hard": 20}, "nproc": 512}}),
    )
    .unwrap();
    let got: Vec<(&str, &str)> = opts
        .iter()
        .map(|(p, o, _)| (p.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("services.web.ulimits.nofile", "--ulimit nofile=10:20"),
            ("services.web.ulimits.nproc", "--ulimit nproc=512:512"),
        ]
    );
    match convert(json!({"image": "x", "ulimits": {"nofile": "lots"}})) {
        Err(ModelError::Shape { path, message }) => {
            assert_eq!(path, "services.web.ulimits.nofile", "{message}");
        }
        other => panic!("not a shape error: {other:?}"),
    }
}

#[test]
fn shared_namespaces_links_and_volumes_from_are_edges() {
    let (p, warnings) = project(json!({
        "db": {"image": "x"},
        "cache": {"image": "x"},
        "files": {"image": "x"},
        "web": {"image": "x", "network_mode": "service:db", "ipc": "service:cache", "links": ["files:f"]},
        "worker": {"image": "x", "pid": "service:db", "volumes_from": ["files:ro"]},
    }))
    .unwrap();
    let edges = |name: &str| -> Vec<(String, String)> {
        let svc = p
            .services
            .values()
            .find(|s| s.name.as_str() == name)
            .unwrap();
        svc.other_edges
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        edges("web"),
        [
            pair("cache", "ipc"),
            pair("db", "network_mode"),
            pair("files", "links")
        ]
    );
    assert_eq!(
        edges("worker"),
        [pair("db", "pid"), pair("files", "volumes_from")]
    );
    for w in [
        "services.web.network_mode",
        "services.web.ipc",
        "services.web.links",
        "services.worker.pid",
    ] {
        assert!(warnings.iter().any(|p| p == w), "{w} not in {warnings:?}");
    }
}

#[test]
fn typed_deploy_and_logging_map_as_before() {
    let (p, warnings) = project(json!({"web": {
        "image": "x",
        "scale": 2,
        "mem_limit": "536870912",
        "stop_grace_period": "1m30s",
        "deploy": {
            "mode": "replicated",
            "replicas": 3,
            "placement": {"constraints": ["node.role==manager"]},
            "resources": {
                "limits": {"cpus": 1.5, "memory": "1048576", "pids": 100},
                "reservations": {"memory": "2097152", "pids": 5},
            },
            "restart_policy": {"condition": "on-failure", "max_attempts": 4, "window": "10s"},
            "update_config": {"parallelism": 1},
        },
        "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
    }}))
    .unwrap();
    let web = app(&p, "web");
    assert_eq!(
        (web.replicas, web.replicas_path.as_deref()),
        (Some(3), Some("services.web.deploy.replicas"))
    );
    assert_eq!(web.limits.cpu.as_deref(), Some("1.5"));
    assert_eq!(
        (web.limits.memory_mb, web.reservations.memory_mb),
        (Some(1), Some(2))
    );
    assert_eq!(web.restart_policy.as_deref(), Some("on-failure:4"));
    assert_eq!(web.stop_timeout, Some(90));
    assert_eq!(web.log_max_size.as_deref(), Some("10m"));
    assert!(
        web.docker_options
            .iter()
            .any(|o| o.option == "--pids-limit=100" || o.option == "--pids-limit 100"),
        "{:?}",
        web.docker_options
    );
    assert_eq!(
        warnings,
        [
            "services.web.deploy.placement",
            "services.web.deploy.resources.reservations.pids",
            "services.web.deploy.restart_policy.window",
            "services.web.deploy.update_config",
            "services.web.logging.options",
        ]
    );
    // `deploy.replicas: null` still clears `scale` (as when it was read from raw JSON).
    let (p, _) =
        project(json!({"web": {"image": "x", "scale": 2, "deploy": {"replicas": null}}})).unwrap();
    assert_eq!(app(&p, "web").replicas, None);
}

#[test]
fn ports_docker_publishes_are_recorded_typed_beside_their_options() {
    let (p, _) = project(json!({"broker": {"image": "x", "ports": [
        {"target": 1883, "published": "1883", "protocol": "tcp", "app_protocol": "mqtt"},
        {"target": 5432, "published": "15432", "protocol": "tcp", "host_ip": "127.0.0.1"},
        {"target": 53, "published": "53", "protocol": "udp"},
        {"target": 8080, "published": "80", "protocol": "tcp"}
    ]}}))
    .unwrap();
    let a = app(&p, "broker");
    let published: Vec<(Option<&str>, u16, u16, bool)> = a
        .published
        .iter()
        .map(|x| (x.ip.as_deref(), x.host, x.container, x.udp))
        .collect();
    assert_eq!(
        published,
        [
            (None, 1883, 1883, false),
            (Some("127.0.0.1"), 15432, 5432, false),
            (None, 53, 53, true)
        ]
    );
    let options: Vec<&str> = a
        .docker_options
        .iter()
        .map(|o| o.option.as_str())
        .filter(|o| o.starts_with("-p "))
        .collect();
    assert_eq!(
        options,
        ["-p 1883:1883", "-p 127.0.0.1:15432:5432", "-p 53:53/udp"]
    );
}
