//! Schema validation of one interpolated document, before any normalisation: unknown keys
//! and wrong shapes, reported with the file and the key path as the reference words them
//! (`validating FILE: services.web additional properties 'foo' not allowed`).

use std::path::Path;

use super::error::{Expected, KeyProblem};
use super::tree::{Map, Node};
use super::ComposeError;

const TOP: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models",
];

const SERVICE: &[&str] = &[
    "develop",
    "deploy",
    "annotations",
    "attach",
    "build",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "label_file",
    "environment",
    "expose",
    "extends",
    "provider",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "models",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "security_opt",
    "shm_size",
    "secrets",
    "sysctls",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "uts",
    "userns_mode",
    "volumes",
    "volumes_from",
    "working_dir",
];

const BUILD: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "additional_contexts",
    "network",
    "provenance",
    "sbom",
    "pull",
    "target",
    "shm_size",
    "extra_hosts",
    "isolation",
    "privileged",
    "secrets",
    "tags",
    "ulimits",
    "platforms",
];
const DEPLOY: &[&str] = &[
    "mode",
    "endpoint_mode",
    "replicas",
    "labels",
    "rollback_config",
    "update_config",
    "resources",
    "restart_policy",
    "placement",
];
const RESOURCES: &[&str] = &["limits", "reservations"];
const HEALTHCHECK: &[&str] = &[
    "disable",
    "interval",
    "retries",
    "test",
    "timeout",
    "start_period",
    "start_interval",
];
const VOLUME_LONG: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];
const PORT_LONG: &[&str] = &[
    "name",
    "mode",
    "host_ip",
    "target",
    "published",
    "protocol",
    "app_protocol",
];
const NETWORK: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "enable_ipv4",
    "enable_ipv6",
    "attachable",
    "labels",
];
const VOLUME: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];
const SECRET: &[&str] = &[
    "name",
    "environment",
    "file",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
];
const CONFIG: &[&str] = &[
    "name",
    "content",
    "environment",
    "file",
    "external",
    "labels",
    "template_driver",
];

fn err(file: &Path, path: impl Into<String>, problem: KeyProblem) -> ComposeError {
    ComposeError::Schema {
        file: file.to_path_buf(),
        path: path.into(),
        problem,
    }
}

fn untag(n: &Node) -> &Node {
    match n {
        Node::Tagged(_, inner) => untag(inner),
        other => other,
    }
}

fn keys(m: &Map, allowed: &[&str], path: &str, file: &Path) -> Result<(), ComposeError> {
    // Compare lengths first: most candidates differ in length, which skips the memcmp.
    let known = |k: &str| allowed.iter().any(|a| a.len() == k.len() && *a == k);
    if let Some(k) = m.keys().find(|k| !k.starts_with("x-") && !known(k)) {
        let at = if path.is_empty() {
            String::from("(root)")
        } else {
            path.to_string()
        };
        return Err(err(file, at, KeyProblem::UnknownKey(k.clone())));
    }
    Ok(())
}

fn sub_map<'a>(n: &'a Node, path: &str, file: &Path) -> Result<Option<&'a Map>, ComposeError> {
    match untag(n) {
        Node::Map(m) => Ok(Some(m)),
        Node::Null => Ok(None),
        other => Err(err(
            file,
            path,
            KeyProblem::wrong(Expected::Mapping, other.kind()),
        )),
    }
}

/// Validates one document of `file` against the compose schema (keys and main shapes).
pub(crate) fn schema(doc: &Map, file: &Path) -> Result<(), ComposeError> {
    keys(doc, TOP, "", file)?;
    if let Some(services) = doc.get("services") {
        if let Some(services) = sub_map(services, "services", file)? {
            for (name, svc) in services {
                let p = format!("services.{name}");
                match untag(svc) {
                    Node::Map(s) => service(s, &p, file)?,
                    other => {
                        return Err(err(
                            file,
                            p,
                            KeyProblem::WrongType {
                                expected: Expected::Mapping,
                                found: (!matches!(other, Node::Null)).then(|| other.kind()),
                            },
                        ))
                    }
                }
            }
        }
    }
    for (kind, allowed) in [
        ("networks", NETWORK),
        ("volumes", VOLUME),
        ("secrets", SECRET),
        ("configs", CONFIG),
    ] {
        if let Some(res) = doc.get(kind) {
            if let Some(res) = sub_map(res, kind, file)? {
                for (name, r) in res {
                    if let Some(r) = sub_map(r, &format!("{kind}.{name}"), file)? {
                        keys(r, allowed, &format!("{kind}.{name}"), file)?;
                        resource_values(r, &format!("{kind}.{name}"), file)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The typed values of a top-level resource that the schema constrains: `driver_opts`
/// values are numbers or strings, `ipam.options` values strings.
fn resource_values(r: &Map, path: &str, file: &Path) -> Result<(), ComposeError> {
    if let Some(Node::Map(opts)) = r.get("driver_opts").map(untag) {
        if let Some((k, _)) = opts
            .iter()
            .find(|(_, v)| !matches!(untag(v), Node::Str(_) | Node::Int(_) | Node::Float(_)))
        {
            return Err(err(
                file,
                format!("{path}.driver_opts.{k}"),
                KeyProblem::must_be(Expected::NumberOrString),
            ));
        }
    }
    let ipam_options = r
        .get("ipam")
        .map(untag)
        .and_then(Node::as_map)
        .and_then(|m| m.get("options"))
        .map(untag);
    if let Some(Node::Map(opts)) = ipam_options {
        if let Some((k, _)) = opts.iter().find(|(_, v)| !matches!(untag(v), Node::Str(_))) {
            return Err(err(
                file,
                format!("{path}.ipam.options.{k}"),
                KeyProblem::must_be(Expected::String),
            ));
        }
    }
    Ok(())
}

/// What shape a service key takes, as the schema allows it.
#[derive(Clone, Copy)]
enum Shape {
    /// A string (numbers are accepted where the reference casts them).
    Str,
    /// A list.
    List,
    /// A string or a list.
    StrOrList,
    /// A list or a map.
    ListOrMap,
    /// A mapping.
    Map,
    /// A boolean (or a string the reference casts).
    Bool,
    /// A number (or a string the reference casts).
    Num,
}

const SHAPES: &[(&str, Shape)] = &[
    ("image", Shape::Str),
    ("container_name", Shape::Str),
    ("hostname", Shape::Str),
    ("domainname", Shape::Str),
    ("user", Shape::Str),
    ("working_dir", Shape::Str),
    ("restart", Shape::Str),
    ("platform", Shape::Str),
    ("pull_policy", Shape::Str),
    ("network_mode", Shape::Str),
    ("ipc", Shape::Str),
    ("pid", Shape::Str),
    ("stop_signal", Shape::Str),
    ("stop_grace_period", Shape::Str),
    ("runtime", Shape::Str),
    ("ports", Shape::List),
    ("volumes", Shape::List),
    ("expose", Shape::List),
    ("devices", Shape::List),
    ("cap_add", Shape::List),
    ("cap_drop", Shape::List),
    ("secrets", Shape::List),
    ("configs", Shape::List),
    ("profiles", Shape::List),
    ("links", Shape::List),
    ("external_links", Shape::List),
    ("volumes_from", Shape::List),
    ("security_opt", Shape::List),
    ("group_add", Shape::List),
    ("command", Shape::StrOrList),
    ("entrypoint", Shape::StrOrList),
    ("dns", Shape::StrOrList),
    ("dns_search", Shape::StrOrList),
    ("tmpfs", Shape::StrOrList),
    ("env_file", Shape::StrOrList),
    ("label_file", Shape::StrOrList),
    ("environment", Shape::ListOrMap),
    ("labels", Shape::ListOrMap),
    ("annotations", Shape::ListOrMap),
    ("sysctls", Shape::ListOrMap),
    ("depends_on", Shape::ListOrMap),
    ("networks", Shape::ListOrMap),
    ("extra_hosts", Shape::ListOrMap),
    ("deploy", Shape::Map),
    ("healthcheck", Shape::Map),
    ("logging", Shape::Map),
    ("ulimits", Shape::Map),
    ("develop", Shape::Map),
    ("blkio_config", Shape::Map),
    ("storage_opt", Shape::Map),
    ("provider", Shape::Map),
    ("privileged", Shape::Bool),
    ("read_only", Shape::Bool),
    ("stdin_open", Shape::Bool),
    ("tty", Shape::Bool),
    ("init", Shape::Bool),
    ("oom_kill_disable", Shape::Bool),
    ("cpu_shares", Shape::Num),
    ("cpu_quota", Shape::Num),
    ("cpu_period", Shape::Num),
    ("cpus", Shape::Num),
    ("scale", Shape::Num),
    ("mem_swappiness", Shape::Num),
    ("oom_score_adj", Shape::Num),
    ("pids_limit", Shape::Num),
];

/// [`SHAPES`] as a map: looked up for every key of every service.
fn shapes() -> &'static std::collections::HashMap<&'static str, Shape> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<&'static str, Shape>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| SHAPES.iter().copied().collect())
}

/// [`SERVICE`] as a set.
fn service_keys() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| SERVICE.iter().copied().collect())
}

fn shape_ok(shape: Shape, n: &Node) -> bool {
    let scalar = matches!(
        n,
        Node::Str(_) | Node::Int(_) | Node::Float(_) | Node::Bool(_)
    );
    match shape {
        Shape::Str => matches!(n, Node::Str(_) | Node::Int(_) | Node::Float(_)),
        Shape::List => matches!(n, Node::Seq(_)),
        Shape::StrOrList => matches!(n, Node::Str(_) | Node::Seq(_)),
        Shape::ListOrMap => matches!(n, Node::Seq(_) | Node::Map(_)),
        Shape::Map => matches!(n, Node::Map(_)),
        Shape::Bool => matches!(n, Node::Bool(_) | Node::Str(_)),
        Shape::Num => scalar && !matches!(n, Node::Bool(_)),
    }
}

fn expected(shape: Shape) -> Expected {
    match shape {
        Shape::Str => Expected::String,
        Shape::List => Expected::Array,
        Shape::StrOrList => Expected::StringOrArray,
        Shape::ListOrMap => Expected::ArrayOrMapping,
        Shape::Map => Expected::Mapping,
        Shape::Bool => Expected::Boolean,
        Shape::Num => Expected::Number,
    }
}

fn service(s: &Map, p: &str, file: &Path) -> Result<(), ComposeError> {
    if let Some(k) = s
        .keys()
        .find(|k| !k.starts_with("x-") && !service_keys().contains(k.as_str()))
    {
        return Err(err(file, p, KeyProblem::UnknownKey(k.clone())));
    }
    for (key, v) in s {
        let v = untag(v);
        if matches!(v, Node::Null) {
            continue;
        }
        if let Some(shape) = shapes().get(key.as_str()) {
            if !shape_ok(*shape, v) {
                return Err(err(
                    file,
                    format!("{p}.{key}"),
                    KeyProblem::wrong(expected(*shape), v.kind()),
                ));
            }
        }
    }
    if let Some(Node::Map(b)) = s.get("build").map(untag) {
        keys(b, BUILD, &format!("{p}.build"), file)?;
    }
    if let Some(d) = s.get("deploy") {
        if let Some(d) = sub_map(d, &format!("{p}.deploy"), file)? {
            keys(d, DEPLOY, &format!("{p}.deploy"), file)?;
            if let Some(r) = d.get("resources") {
                if let Some(r) = sub_map(r, &format!("{p}.deploy.resources"), file)? {
                    keys(r, RESOURCES, &format!("{p}.deploy.resources"), file)?;
                }
            }
        }
    }
    if let Some(h) = s.get("healthcheck") {
        if let Some(h) = sub_map(h, &format!("{p}.healthcheck"), file)? {
            keys(h, HEALTHCHECK, &format!("{p}.healthcheck"), file)?;
        }
    }
    if let Some(Node::Map(env)) = s.get("environment").map(untag) {
        for (k, v) in env {
            if matches!(untag(v), Node::Map(_) | Node::Seq(_)) {
                return Err(err(
                    file,
                    format!("{p}.environment.{k}"),
                    KeyProblem::must_be(Expected::Scalar),
                ));
            }
        }
    }
    entries(s, p, file)?;
    if let Some(Node::Map(e)) = s.get("extends").map(untag) {
        if !e.contains_key("service") {
            return Err(err(
                file,
                format!("{p}.extends.service"),
                KeyProblem::Required,
            ));
        }
    }
    Ok(())
}

/// The entries of a service's lists and maps: long volume and port entries, dependency
/// conditions, the pull policy and per-network addresses.
fn entries(s: &Map, p: &str, file: &Path) -> Result<(), ComposeError> {
    if let Some(Node::Seq(vols)) = s.get("volumes").map(untag) {
        for (i, v) in vols.iter().enumerate() {
            if let Node::Map(m) = untag(v) {
                keys(m, VOLUME_LONG, &format!("{p}.volumes.{i}"), file)?;
                match m.get("type").map(untag) {
                    None => {
                        return Err(err(
                            file,
                            format!("{p}.volumes.{i}"),
                            KeyProblem::MissingProperty("type"),
                        ))
                    }
                    Some(t) => one_of(
                        t,
                        &["bind", "volume", "tmpfs", "cluster", "npipe", "image"],
                        &format!("{p}.volumes.{i}.type"),
                        file,
                    )?,
                }
            }
        }
    }
    if let Some(Node::Map(deps)) = s.get("depends_on").map(untag) {
        for (dep, spec) in deps {
            if let Some(c) = spec.as_map().and_then(|m| m.get("condition")) {
                one_of(
                    untag(c),
                    &[
                        "service_started",
                        "service_healthy",
                        "service_completed_successfully",
                    ],
                    &format!("{p}.depends_on.{dep}.condition"),
                    file,
                )?;
            }
        }
    }
    if let Some(Node::Str(policy)) = s.get("pull_policy").map(untag) {
        if !pull_policy_ok(policy) {
            return Err(err(
                file,
                format!("{p}.pull_policy"),
                KeyProblem::PullPolicy(policy.clone()),
            ));
        }
    }
    if let Some(Node::Map(nets)) = s.get("networks").map(untag) {
        for (net, spec) in nets {
            if let Some(spec) = untag(spec).as_map() {
                for key in [
                    "ipv4_address",
                    "ipv6_address",
                    "mac_address",
                    "interface_name",
                ] {
                    if let Some(v) = spec.get(key).map(untag) {
                        if !matches!(v, Node::Str(_) | Node::Null) {
                            return Err(err(
                                file,
                                format!("{p}.networks.{net}.{key}"),
                                KeyProblem::must_be(Expected::String),
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(Node::Seq(ports)) = s.get("ports").map(untag) {
        for (i, v) in ports.iter().enumerate() {
            if let Node::Map(m) = untag(v) {
                keys(m, PORT_LONG, &format!("{p}.ports.{i}"), file)?;
            }
        }
    }
    Ok(())
}

fn one_of(
    v: &Node,
    allowed: &'static [&'static str],
    path: &str,
    file: &Path,
) -> Result<(), ComposeError> {
    if v.as_str().is_some_and(|s| allowed.contains(&s)) {
        return Ok(());
    }
    Err(err(file, path, KeyProblem::NotOneOf(allowed)))
}

/// `always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+`,
/// matched as the reference's unanchored pattern does for the usual values.
fn pull_policy_ok(policy: &str) -> bool {
    const WORDS: &[&str] = &[
        "always",
        "never",
        "build",
        "if_not_present",
        "missing",
        "refresh",
        "daily",
        "weekly",
    ];
    if WORDS.iter().any(|w| policy.contains(w)) {
        return true;
    }
    policy.match_indices("every_").any(|(i, _)| {
        let rest = &policy[i + "every_".len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(['w', 'd', 'h', 'm', 's'])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Map {
        let nodes = crate::compose::yaml::parse(yaml, Path::new("c.yaml")).unwrap();
        nodes
            .into_iter()
            .next()
            .and_then(|n| n.as_map().cloned())
            .unwrap()
    }

    #[test]
    fn unknown_service_key_names_the_path() {
        let e = schema(
            &doc("services:\n  web:\n    image: x\n    imagee: y\n"),
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validating c.yaml: services.web additional properties 'imagee' not allowed"
        );
    }

    #[test]
    fn wrong_types_name_the_key_and_the_expected_shape() {
        let e = schema(
            &doc("services:\n  web:\n    image: [a]\n"),
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validating c.yaml: services.web.image must be a string, not a sequence"
        );
        let e = schema(
            &doc("services:\n  web:\n    image: x\n    ports: \"80:80\"\n"),
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validating c.yaml: services.web.ports must be an array, not a string"
        );
        let e = schema(
            &doc("services:\n  web:\n    image: x\n    privileged: 1\n"),
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("services.web.privileged must be a boolean"),
            "{e}"
        );
    }

    #[test]
    fn enumerated_values_are_checked() {
        let e = schema(&doc("services:\n  web:\n    image: x\n    volumes:\n      - type: nfs\n        target: /x\n"), Path::new("c.yaml")).unwrap_err();
        assert_eq!(e.to_string(), "validating c.yaml: services.web.volumes.0.type value must be one of 'bind', 'volume', 'tmpfs', 'cluster', 'npipe', 'image'");
        let e = schema(
            &doc("services:\n  web:\n    image: x\n    pull_policy: sometimes\n"),
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("services.web.pull_policy 'sometimes' does not match pattern"),
            "{e}"
        );
        assert!(schema(
            &doc("services:\n  web:\n    image: x\n    pull_policy: every_12h\n"),
            Path::new("c.yaml")
        )
        .is_ok());
        let e = schema(&doc("services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: whenever\n"), Path::new("c.yaml")).unwrap_err();
        assert!(
            e.to_string()
                .contains("services.a.depends_on.b.condition value must be one of"),
            "{e}"
        );
    }

    #[test]
    fn nested_keys_and_shapes_are_checked() {
        let e = schema(
            &doc(
                "services:\n  web:\n    image: x\n    deploy:\n      resources:\n        nope: 1\n",
            ),
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("services.web.deploy.resources additional properties 'nope'"),
            "{e}"
        );
        let e = schema(&doc("services:\n  web:\n"), Path::new("c.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "validating c.yaml: services.web must be a mapping"
        );
        assert!(schema(
            &doc("services:\n  web:\n    image: x\n    x-any: 1\n"),
            Path::new("c.yaml")
        )
        .is_ok());
    }
}
