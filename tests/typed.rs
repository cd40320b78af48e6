//! The typed model exposes the long syntax through named fields, not only through `other`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dokku_compose::compose::types::Project;
use dokku_compose::compose::{self, LoadOptions};

#[test]
fn typed_project_names_the_fields_the_planner_reads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/multi-file");
    let opts = LoadOptions {
        files: vec!["compose.yaml".into(), "compose.override.yaml".into()],
        project_name: Some("demo".into()),
        environment: BTreeMap::from([("COMPOSE_PROFILES".to_string(), "never".to_string())]),
        working_dir: dir.clone(),
        ..LoadOptions::default()
    };
    let loaded = compose::load(&opts).unwrap();
    let project = Project::from_loaded(&loaded).unwrap();
    assert_eq!(project.name, "demo");
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:1"));
    assert_eq!(
        web.command,
        Some(vec!["nginx".to_string(), "-T".to_string()])
    );
    assert_eq!(web.entrypoint, None);
    assert_eq!(web.environment["B"].as_deref(), Some("two"));
    let ports: Vec<(u32, Option<&str>)> = web
        .ports
        .iter()
        .map(|p| (p.target, p.published.as_deref()))
        .collect();
    assert_eq!(ports, vec![(80, Some("8080")), (443, Some("8443"))]);
    assert_eq!(web.depends_on["cache"].condition, "service_healthy");
    assert!(web.depends_on["db"].required);
    let html = web
        .volumes
        .iter()
        .find(|m| m.target == "/usr/share/nginx/html")
        .unwrap();
    assert_eq!(
        (html.kind.as_str(), html.source.clone()),
        (
            "bind",
            Some(dir.join("other").to_string_lossy().into_owned())
        )
    );
    assert_eq!(project.volumes["data"].name, "demo_data");
    assert_eq!(project.networks["default"].name, "demo_default");
    assert_eq!(
        project.services["db"]
            .healthcheck
            .as_ref()
            .and_then(|h| h.test.clone()),
        Some(vec!["CMD-SHELL".to_string(), "pg_isready".to_string()])
    );
}

#[test]
fn load_typed_returns_the_project_and_refuses_no_interpolate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/profiles-env");
    let mut opts = LoadOptions {
        files: vec!["compose.yaml".into()],
        project_name: Some("p".into()),
        profiles: vec!["ops".into()],
        working_dir: dir,
        ..LoadOptions::default()
    };
    let (project, _warnings) = compose::load_typed(&opts).unwrap();
    assert_eq!(
        project.services.keys().collect::<Vec<_>>(),
        ["tools", "web"]
    );
    assert_eq!(project.services["tools"].profiles, ["tools", "ops"]);
    opts.no_interpolate = true;
    assert!(compose::load_typed(&opts)
        .unwrap_err()
        .to_string()
        .contains("needs interpolation"));
}
