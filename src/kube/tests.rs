use serde_json::json;

use super::*;

fn project(compose: &Value) -> Project {
    let opts = crate::model::ConvertOptions {
        stack: crate::model::StackName::parse("shop").unwrap(),
        project_dir: "/src".into(),
    };
    crate::model::from_compose_json(compose, &opts).unwrap().0
}

fn compose() -> Value {
    json!({
        "name": "shop",
        "services": {
            "api": {"image": "nginx:1.27", "expose": ["3000", "9000-9001/udp"],
                    "networks": {"default": {"aliases": ["backend"]}}},
            "web": {"image": "nginx:1.27", "ports": [{"target": 80, "published": "8080", "protocol": "tcp", "mode": "ingress"}]},
            "worker": {"image": "busybox:1"},
            "db": {"image": "postgres:16", "environment": {"POSTGRES_PASSWORD": "pw"}}
        },
        "networks": {"default": {"name": "shop_default"}}
    })
}

fn endpoint() -> BTreeMap<String, DatastoreEndpoint> {
    BTreeMap::from([(
        "db".to_owned(),
        DatastoreEndpoint {
            address: "10.0.0.5".into(),
            ports: vec![(5432, 23456)],
        },
    )])
}

fn names(objs: &[Value]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_name_and_alias_gets_a_service_with_the_compose_ports() {
    let c = compose();
    let objs = desired(&project(&c), &c, &BTreeSet::new(), &endpoint()).unwrap();
    assert_eq!(
        names(&objs),
        [
            "Service/api",
            "Service/backend",
            "Service/db",
            "Service/dokku-postgres-shop-db",
            "Service/web",
            "EndpointSlice/db",
            "EndpointSlice/dokku-postgres-shop-db",
        ]
    );
    let api = &objs[0];
    assert_eq!(api["apiVersion"], "v1");
    assert_eq!(api["metadata"]["namespace"], "shop");
    assert_eq!(api["metadata"]["labels"][STACK_LABEL], "shop");
    assert_eq!(
        api["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        MANAGED_BY
    );
    assert_eq!(
        api["spec"]["selector"],
        json!({"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop-api"})
    );
    let ports: Vec<(u64, &str)> = api["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_u64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(ports, [(3000, "TCP"), (9000, "UDP"), (9001, "UDP")]);
    assert_eq!(objs[4]["spec"]["ports"][0]["port"], 80);
    let slice = &objs[6];
    assert_eq!(slice["apiVersion"], "discovery.k8s.io/v1");
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "dokku-postgres-shop-db"
    );
    assert_eq!(slice["endpoints"][0]["addresses"], json!(["10.0.0.5"]));
    assert_eq!(
        slice["ports"][0],
        json!({"name": "tcp-5432", "port": 23456, "protocol": "TCP"})
    );
    assert_eq!(objs[3]["spec"]["ports"][0]["name"], "tcp-5432");
    assert_eq!(objs[3]["spec"]["ports"][0]["port"], 5432);
    assert!(objs[3]["spec"].get("selector").is_none());
}

#[test]
fn names_the_cluster_cannot_have_and_collisions_are_refused() {
    let mut c = compose();
    c["services"]["api"]["networks"]["default"]["aliases"] = json!(["Back_End"]);
    let e = desired(&project(&c), &c, &BTreeSet::new(), &endpoint()).unwrap_err();
    assert!(
        e.to_string()
            .contains("`services.api`: `Back_End` cannot be a Kubernetes Service name"),
        "{e}"
    );
    let mut c = compose();
    c["services"]["api"]["networks"]["default"]["aliases"] = json!(["web"]);
    let e = desired(&project(&c), &c, &BTreeSet::new(), &endpoint()).unwrap_err();
    assert!(matches!(e, KubeError::Collision { .. }), "{e}");
    let mut c = compose();
    c["services"]["api"]["expose"] = json!(["1-65535"]);
    let e = desired(&project(&c), &c, &BTreeSet::new(), &endpoint()).unwrap_err();
    assert!(
        e.to_string()
            .contains("`services.api.expose[0]`: 65535 container ports"),
        "{e}"
    );
    let mut c = compose();
    c["services"]["api"]["expose"] = json!(["30x0"]);
    let e = desired(&project(&c), &c, &BTreeSet::new(), &endpoint()).unwrap_err();
    assert!(
        e.to_string()
            .contains("`services.api.expose[0]`: `30x0` is not a port"),
        "{e}"
    );
}

#[test]
fn diff_applies_what_changed_deletes_what_left_and_refuses_foreign_objects() {
    let c = compose();
    let want = desired(&project(&c), &c, &BTreeSet::new(), &endpoint()).unwrap();
    assert_eq!(diff("shop", &want, &[]).unwrap().len(), want.len());
    // What the API server stored (with its own fields) is unchanged.
    let mut live: Vec<Value> = want.clone();
    for o in &mut live {
        o["metadata"]["uid"] = json!("u");
        if o["kind"] == "Service" {
            o["spec"]["clusterIP"] = json!("10.43.0.9");
        }
    }
    assert_eq!(diff("shop", &want, &live).unwrap(), []);
    // A changed port is applied; a Service of the stack no longer wanted is deleted.
    let mut old = live.clone();
    old[0]["spec"]["ports"][0]["port"] = json!(3001);
    let mut gone = want[4].clone();
    gone["metadata"]["name"] = json!("old");
    old.push(gone);
    let d = diff("shop", &want, &old).unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(matches!(&d[0], KubeEffect::Apply { name, .. } if name == "api"));
    assert!(matches!(&d[1], KubeEffect::Delete { name, .. } if name == "old"));
    // A Service of the same name the stack does not own is never replaced.
    let mut foreign = live.clone();
    foreign[0]["metadata"]["labels"] = json!({});
    let e = diff("shop", &want, &foreign).unwrap_err();
    assert!(
        e.to_string()
            .contains("Service `api` exists in namespace `shop` and is not this stack's"),
        "{e}"
    );
    // Another stack's objects in the namespace are not this stack's to delete.
    let mut other = want[4].clone();
    other["metadata"]["name"] = json!("theirs");
    other["metadata"]["labels"][STACK_LABEL] = json!("blog");
    assert_eq!(
        diff("shop", &want, &[live.clone(), vec![other]].concat()).unwrap(),
        []
    );
}

#[test]
fn the_scheduler_stand_in_reads_x_dokku_then_the_global_value() {
    assert!(on_k3s(&json!({}), "k3s\n"));
    assert!(!on_k3s(&json!({}), "docker-local"));
    assert!(!on_k3s(
        &json!({"x-dokku": {"scheduler": "docker-local"}}),
        "k3s"
    ));
    assert!(on_k3s(&json!({"x-dokku": {"scheduler": "k3s"}}), ""));
}
