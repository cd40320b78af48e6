//! The k3s planning tests.

mod support {
    use crate::model::{ConvertOptions, StackName};
    use crate::plan::{Options, Plan, PlanError, PlanSettings};
    use crate::policy::Policy;
    use crate::state::DokkuState;
    use crate::workflow::plan_compose_json;

    pub(crate) fn plan_with(
        json: &serde_json::Value,
        state: &DokkuState,
        allow: &[&str],
    ) -> Result<Plan, PlanError> {
        let opts = Options {
            convert: ConvertOptions {
                stack: StackName::parse("shop").unwrap(),
                project_dir: "/p".into(),
            },
            policy: Policy::from_names(allow.iter().copied()).unwrap(),
            settings: PlanSettings {
                source_rev: "r".into(),
                ..PlanSettings::default()
            },
        };
        plan_compose_json(json, state, &opts)
    }

    /// A host whose global scheduler is k3s, with a global registry.
    pub(crate) fn k3s_host() -> DokkuState {
        DokkuState {
            scheduler_global: Some("k3s".into()),
            registry_global: Some("registry.example.com".into()),
            ..DokkuState::default()
        }
    }
}

mod planning {
    use serde_json::{json, Value};

    use super::support::{k3s_host, plan_with};
    use crate::plan::{Plan, PlanError};
    use crate::state::DokkuState;

    fn commands(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.run.to_string()).collect()
    }

    fn web(extra: Value) -> Value {
        let mut svc = json!({"image": "nginx:1.27", "ports": [{"target": 5000, "published": "80", "protocol": "tcp", "mode": "ingress"}]});
        for (k, v) in extra.as_object().unwrap() {
            svc[k] = v.clone();
        }
        json!({"name": "shop", "services": {"web": svc}})
    }

    fn refused(json: &Value, allow: &[&str]) -> String {
        plan_with(json, &k3s_host(), allow).unwrap_err().to_string()
    }

    #[test]
    fn an_explicit_k3s_stack_maps_scheduler_namespace_registry_storage_resources() {
        let mut j = web(json!({
            "volumes": [{"type": "volume", "source": "data", "target": "/data"}],
            "mem_limit": "536870912", "cpus": 0.5,
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
            "x-dokku": {"autoscaling": {"min_quantity": 1, "max_quantity": 4, "triggers": [{"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}}]}}
        }));
        j["volumes"] = json!({"data": {"driver_opts": {"size": "5g"}}});
        j["x-dokku"] = json!({"scheduler": "k3s", "registry": "registry.example.com", "volumes": {"data": {"storage_class": "longhorn"}}});
        let p = plan_with(&j, &DokkuState::default(), &[]).unwrap();
        let c = commands(&p);
        for want in [
            "dokku storage:create shop-data --scheduler k3s --size 5Gi --storage-class-name longhorn --namespace shop",
            "dokku scheduler:set shop-web selected k3s",
            "dokku scheduler-k3s:set shop-web namespace shop",
            "dokku registry:set shop-web server registry.example.com",
            "dokku registry:set shop-web push-on-release true",
            "dokku storage:mount shop-web shop-data --container-dir /data",
            "dokku resource:limit --cpu 500m --memory 512Mi shop-web",
        ] {
            assert!(c.iter().any(|x| x == want), "no `{want}` in\n{}", c.join("\n"));
        }
        let deploy = p.steps.iter().find(|s| s.id == "web/deploy").unwrap();
        let Some(crate::dokku::Stdin::Archive { files, .. }) = deploy.run.stdin.as_deref() else {
            panic!("an archive")
        };
        let app_json: Value = serde_json::from_str(&files["app.json"]).unwrap();
        assert_eq!(
            app_json["formation"],
            json!({"web": {"autoscaling": {"max_quantity": 4, "min_quantity": 1, "triggers": [{"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}}]}}})
        );
        assert_eq!(app_json["healthchecks"]["web"][0]["type"], "startup");
    }

    #[test]
    fn the_global_scheduler_decides_without_an_explicit_one() {
        let j = web(json!({"mem_limit": "536870912"}));
        let c = commands(&plan_with(&j, &k3s_host(), &[]).unwrap());
        assert!(c
            .iter()
            .any(|x| x == "dokku scheduler-k3s:set shop-web namespace shop"));
        assert!(c
            .iter()
            .any(|x| x == "dokku resource:limit --memory 512Mi shop-web"));
        // The global registry applies: no app-level server.
        assert!(!c.iter().any(|x| x.contains("registry:set shop-web server")));
        // No scheduler:set when the compose file names none.
        assert!(!c.iter().any(|x| x.contains("scheduler:set")));
        // On docker-local nothing of k3s is planned, and memory stays in Docker's unit.
        let c = commands(&plan_with(&j, &DokkuState::default(), &[]).unwrap());
        assert!(!c
            .iter()
            .any(|x| x.contains("scheduler") || x.contains("registry")));
        assert!(c
            .iter()
            .any(|x| x == "dokku resource:limit --memory 512m shop-web"));
    }

    #[test]
    fn an_apps_own_selection_wins_over_the_global_one() {
        let j = web(json!({}));
        let mut host = DokkuState {
            registry_global: Some("registry.example.com".into()),
            ..DokkuState::default()
        };
        let mut app = crate::state::AppState::default();
        app.properties
            .insert("scheduler:selected".into(), "k3s".into());
        host.apps.insert("shop-web".into(), app);
        let c = commands(&plan_with(&j, &host, &[]).unwrap());
        assert!(
            c.iter()
                .any(|x| x == "dokku scheduler-k3s:set shop-web namespace shop"),
            "{c:?}"
        );
    }

    #[test]
    fn a_service_can_stay_on_docker_local() {
        let mut j = web(json!({}));
        j["services"]["broker"] = json!({"image": "eclipse-mosquitto:2", "ports": [{"target": 1883, "published": "1883", "protocol": "tcp", "mode": "ingress"}], "x-dokku": {"scheduler": "docker-local"}});
        let c = commands(&plan_with(&j, &k3s_host(), &[]).unwrap());
        assert!(c
            .iter()
            .any(|x| x == "dokku scheduler:set shop-broker selected docker-local"));
        assert!(c
            .iter()
            .any(|x| x == "dokku scheduler-k3s:set shop-web namespace shop"));
        assert!(!c
            .iter()
            .any(|x| x == "dokku scheduler-k3s:set shop-broker namespace shop"));
        // Autoscaling needs k3s.
        j["services"]["broker"]["x-dokku"]["autoscaling"] = json!({"triggers": [{"type": "cpu"}]});
        let e = plan_with(&j, &k3s_host(), &[]).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "`x-dokku.services.broker.autoscaling` is not supported: KEDA autoscaling"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_k3s_stack_without_a_registry_is_refused() {
        let j = web(json!({}));
        let host = DokkuState {
            registry_global: Some(String::new()),
            ..k3s_host()
        };
        let e = plan_with(&j, &host, &[]).unwrap_err().to_string();
        assert!(e.starts_with("`x-dokku.registry` is not supported: the k3s scheduler pulls every image from a registry"), "{e}");
        let mut j = j;
        j["x-dokku"] =
            json!({"registry": {"server": "ghcr.io", "image_repo_template": "acme/{{.AppName}}"}});
        let c = commands(&plan_with(&j, &host, &[]).unwrap());
        assert!(c
            .iter()
            .any(|x| x == "dokku registry:set shop-web server ghcr.io"));
        assert!(c.iter().any(|x| x == "dokku registry:set shop-web image-repo-template 'acme/{{.AppName}}'"), "{c:?}");
    }

    #[test]
    fn settings_k3s_cannot_honour_are_refused_with_the_key_path() {
        let cases: Vec<(Value, &[&str], &str)> = vec![
            (
                web(json!({"ports": [{"target": 1883, "published": "1883", "protocol": "tcp", "mode": "ingress"}]})),
                &[],
                "`services.web.ports[0]` is not supported: only http and https port maps reach the k3s ingress",
            ),
            (
                web(json!({"ports": [{"target": 5000, "published": "80", "protocol": "tcp"}, {"target": 6000, "published": "8080", "protocol": "tcp"}]})),
                &[],
                "`services.web.ports` is not supported: the port maps reach container ports 5000, 6000",
            ),
            (
                web(json!({"network_mode": "none"})),
                &[],
                "`services.web.network_mode` is not supported: the k3s scheduler has no docker networks",
            ),
            (
                web(json!({"init": true})),
                &[],
                "`services.web.init` is not supported: it becomes the docker option `--init`, which the k3s scheduler ignores",
            ),
            (
                web(json!({"volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]})),
                &["docker-socket"],
                "`services.web.volumes[0]` is not supported: `/var/run/docker.sock`: k3s nodes run containerd",
            ),
            (
                web(json!({"secrets": [{"source": "token", "target": "/run/secrets/token"}]})),
                &[],
                "`services.web.secrets` is not supported: secret files are mounted from a directory on the Dokku host",
            ),
            (
                web(json!({"deploy": {"placement": {"constraints": ["node.role == manager"]}}})),
                &[],
                "`services.web.deploy.placement` is not supported: Dokku's k3s chart sets no node selector",
            ),
            (
                web(json!({"command": ["migrate"], "volumes": [{"type": "volume", "source": "data", "target": "/data"}], "x-dokku": {"state": "one-shot"}})),
                &[],
                "`services.web.x-dokku.state` is not supported: a one-shot job runs as `dokku run`",
            ),
            (
                web(json!({"x-dokku": {"domains": ["shop.example.com"], "letsencrypt": true}})),
                &[],
                "`x-dokku.services.web.letsencrypt` is not supported: on k3s certificates come from cert-manager",
            ),
        ];
        for (mut j, allow, want) in cases {
            if j["services"]["web"].get("secrets").is_some() {
                j["secrets"] = json!({"token": {"environment": "TOKEN"}});
            }
            if j["services"]["web"].get("volumes").is_some() {
                j["volumes"] = json!({"data": {}});
            }
            let e = refused(&j, allow);
            assert!(e.starts_with(want), "want `{want}`, got `{e}`");
            // The same stack plans on docker-local.
            let local = plan_with(&j, &DokkuState::default(), allow);
            assert!(
                local.is_ok() || matches!(local, Err(PlanError::MissingSecret { .. })),
                "{want}: {local:?}"
            );
        }
    }

    #[test]
    fn a_shared_volume_needs_read_write_many() {
        let mut j =
            web(json!({"volumes": [{"type": "volume", "source": "data", "target": "/data"}]}));
        j["services"]["worker"] = json!({"image": "busybox", "volumes": [{"type": "volume", "source": "data", "target": "/data"}]});
        j["volumes"] = json!({"data": {}});
        let e = refused(&j, &[]);
        assert!(e.starts_with("`x-dokku.volumes` is not supported: storage entry `shop-data` is mounted by 2 apps on k3s (`web`, `worker`), but its claim is ReadWriteOnce"), "{e}");
        j["x-dokku"] =
            json!({"volumes": {"data": {"access_mode": "ReadWriteMany", "size": "10Gi"}}});
        let c = commands(&plan_with(&j, &k3s_host(), &[]).unwrap());
        assert!(c.iter().any(|x| x == "dokku storage:create shop-data --scheduler k3s --size 10Gi --access-mode ReadWriteMany --namespace shop"), "{c:?}");
        // An x-dokku volume that is not a volume of the project.
        j["x-dokku"] = json!({"volumes": {"dta": {"size": "1Gi"}}});
        let e = refused(&j, &[]);
        assert_eq!(
            e,
            "`x-dokku.volumes.dta`: names no volume of the project (top-level `volumes`)"
        );
    }

    #[test]
    fn network_properties_and_aliases_are_set_only_for_the_apps_on_docker_local() {
        let j = json!({"name": "shop", "services": {
            "api": {"image": "nginx:1.27", "expose": ["3000"]},
            "broker": {"image": "eclipse-mosquitto:2"},
        }, "x-dokku": {"services": {"broker": {"scheduler": "docker-local"}}}});
        let p = plan_with(&j, &k3s_host(), &[]).unwrap();
        let network: Vec<String> = commands(&p)
            .into_iter()
            .filter(|c| c.starts_with("dokku network:set"))
            .collect();
        assert_eq!(
            network,
            ["dokku network:set shop-broker initial-network shop-default"]
        );
        let aliases: Vec<String> = commands(&p)
            .into_iter()
            .filter(|c| c.starts_with("dokku docker-options:add") && c.contains("--network-alias"))
            .collect();
        assert_eq!(
            aliases,
            ["dokku docker-options:add shop-broker deploy '--network-alias broker'"]
        );
    }

    #[test]
    fn a_host_app_depending_on_a_k3s_app_is_warned_that_the_name_does_not_resolve() {
        let j = json!({"name": "shop", "services": {
            "api": {"image": "nginx:1.27", "expose": ["3000"]},
            "broker": {"image": "eclipse-mosquitto:2", "depends_on": {"api": {"condition": "service_started", "required": true}}},
            "web": {"image": "nginx:1.27", "depends_on": {"broker": {"condition": "service_started", "required": true}}},
        }, "x-dokku": {"services": {"broker": {"scheduler": "docker-local"}}}});
        let p = plan_with(&j, &k3s_host(), &[]).unwrap();
        let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
        let unresolved: Vec<&String> = w
            .iter()
            .filter(|w| w.contains("does not resolve"))
            .collect();
        assert_eq!(unresolved.len(), 1, "{w:?}");
        assert!(
            unresolved[0].starts_with("`services.broker.depends_on`: `broker` runs on the Dokku host (docker-local) and `api` on k3s"),
            "{w:?}"
        );
    }

    #[test]
    fn ignored_settings_are_warned() {
        let j = web(
            json!({"restart": "no", "memswap_limit": "1073741824", "mem_limit": "536870912", "stop_grace_period": "1m"}),
        );
        let p = plan_with(&j, &k3s_host(), &[]).unwrap();
        let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
        assert!(
            w.iter()
                .any(|w| w.starts_with("`services.web.restart`: `no` is ignored on k3s")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|w| w
                .starts_with("`services.web.memswap_limit`: Kubernetes has no memory+swap limit")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.starts_with("`services.web.stop_grace_period`: Dokku's k3s chart sets no termination grace period")), "{w:?}");
        // No memory-swap on k3s.
        assert!(commands(&p)
            .iter()
            .any(|x| x == "dokku resource:limit --memory 512Mi shop-web"));
    }
}

mod host_path_tests {
    use serde_json::json;

    use super::support::*;

    #[test]
    fn an_allowed_host_path_becomes_a_host_path_entry_on_k3s() {
        let j = json!({"name": "shop", "services": {"web": {"image": "nginx", "volumes": [{"type": "bind", "source": "/srv/data", "target": "/data", "read_only": true}]}}});
        // Without the policy's `host-path`: refused by the policy, on either scheduler.
        assert!(plan_with(&j, &k3s_host(), &[])
            .unwrap_err()
            .to_string()
            .contains("allow with `--allow host-path`"));
        let p = plan_with(&j, &k3s_host(), &["host-path"]).unwrap();
        let c: Vec<String> = p.steps.iter().map(|s| s.run.to_string()).collect();
        let create = c
            .iter()
            .find(|x| x.starts_with("dokku storage:create shop-host-srv-data-"))
            .unwrap_or_else(|| panic!("{c:#?}"));
        assert!(
            create.ends_with(
                " /srv/data --scheduler k3s --size 1Gi --reclaim-policy Retain --namespace shop"
            ),
            "{create}"
        );
        let entry = create.split(' ').nth(2).unwrap();
        assert!(
            c.contains(&format!(
                "dokku storage:mount shop-web {entry} --container-dir /data --volume-readonly"
            )),
            "{c:#?}"
        );
        assert!(!c.iter().any(|x| x.contains("/srv/data:/data")), "{c:#?}");
        assert!(p
            .warnings
            .iter()
            .any(|w| w.path == "services.web.volumes[0]" && w.message.contains("hostPath volume")));
    }
}
