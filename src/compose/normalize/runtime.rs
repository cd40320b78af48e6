//! What a service runs with: file references (secrets, configs), `healthcheck`, `devices`,
//! `extra_hosts`, `ulimits`, `deploy` (resources, GPUs), `develop`, hooks and `blkio_config`.

use super::*;

pub(super) fn file_refs(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Str(s) => {
                let mut m = Map::new();
                m.insert("source".into(), Node::Str(s));
                out.push(Node::Map(m));
            }
            Node::Map(mut m) => {
                for key in ["uid", "gid"] {
                    edit(&mut m, key, |v| Ok(scalar_string(&v).map_or(v, Node::Str)))?;
                }
                edit(&mut m, "mode", |v| match v {
                    Node::Str(s) => i64::from_str_radix(s.trim_start_matches("0o"), 8)
                        .map(|n| Node::Str(format!("0{n:o}")))
                        .map_err(|_| {
                            key_error(
                                format!("{path}[{i}].mode"),
                                KeyProblem::InvalidFileMode(s.clone()),
                            )
                        }),
                    Node::Int(n) => Ok(Node::Str(format!("0{n:o}"))),
                    other => Ok(other),
                })?;
                out.push(Node::Map(m));
            }
            other => {
                return Err(key_error(
                    format!("{path}[{i}]"),
                    KeyProblem::wrong(Expected::StringOrMapping, other.kind()),
                ))
            }
        }
    }
    Ok(Node::Seq(out))
}

pub(super) fn healthcheck(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut m = into_map(node);
    edit(&mut m, "test", |v| match v {
        Node::Str(s) => Ok(Node::Seq(vec![Node::Str("CMD-SHELL".into()), Node::Str(s)])),
        other => Ok(other),
    })?;
    edit(&mut m, "retries", |v| to_int(v, &format!("{path}.retries")))?;
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        edit(&mut m, key, |v| duration(v, &format!("{path}.{key}")))?;
    }
    edit(&mut m, "disable", |v| {
        to_bool(v, &format!("{path}.disable"))
    })?;
    if matches!(m.get("disable"), Some(Node::Bool(false))) {
        m.remove("disable");
    }
    Ok(Node::Map(m))
}

pub(super) fn devices(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Str(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, perms) = match parts.as_slice() {
                    [a] => (*a, *a, "rwm"),
                    [a, b] => (*a, *b, "rwm"),
                    [a, b, c] => (*a, *b, *c),
                    _ => {
                        return Err(key_error(
                            format!("{path}[{i}]"),
                            KeyProblem::InvalidDevice(s.clone()),
                        ))
                    }
                };
                let mut m = Map::new();
                m.insert("source".into(), Node::Str(src.into()));
                m.insert("target".into(), Node::Str(dst.into()));
                m.insert("permissions".into(), Node::Str(perms.into()));
                out.push(Node::Map(m));
            }
            other => out.push(other),
        }
    }
    Ok(Node::Seq(out))
}

pub(super) fn extra_hosts(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    match node {
        Node::Map(m) => {
            for (host, v) in m {
                match v {
                    Node::Seq(ips) => {
                        for ip in ips {
                            out.push(Node::Str(format!(
                                "{host}={}",
                                scalar_string(&ip).unwrap_or_default()
                            )));
                        }
                    }
                    other => out.push(Node::Str(format!(
                        "{host}={}",
                        scalar_string(&other).unwrap_or_default()
                    ))),
                }
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let s = scalar_string(&item).ok_or_else(|| {
                    key_error(
                        format!("{path}[{i}]"),
                        KeyProblem::must_be(Expected::String),
                    )
                })?;
                let entry = match s.split_once('=') {
                    Some((h, ip)) => format!("{h}={ip}"),
                    None => match s.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => {
                            return Err(key_error(
                                format!("{path}[{i}]"),
                                KeyProblem::MissingHostIp(s),
                            ))
                        }
                    },
                };
                out.push(Node::Str(entry));
            }
        }
        other => {
            return Err(key_error(
                path,
                KeyProblem::wrong(Expected::ListOrMapping, other.kind()),
            ))
        }
    }
    Ok(Node::Seq(out))
}

pub(super) fn ulimits(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Map::new();
    for (k, v) in into_map(node) {
        let v = match v {
            Node::Map(mut l) => {
                edit(&mut l, "soft", |x| to_int(x, &format!("{path}.{k}.soft")))?;
                edit(&mut l, "hard", |x| to_int(x, &format!("{path}.{k}.hard")))?;
                Node::Map(l)
            }
            other => to_int(other, &format!("{path}.{k}"))?,
        };
        out.insert(k, v);
    }
    Ok(Node::Map(out))
}

pub(super) fn deploy(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut m = into_map(node);
    m.entry("placement".to_string())
        .or_insert_with(|| Node::Map(Map::new()));
    m.entry("resources".to_string())
        .or_insert_with(|| Node::Map(Map::new()));
    edit(&mut m, "replicas", |v| {
        to_int(v, &format!("{path}.replicas"))
    })?;
    edit(&mut m, "labels", |v| {
        let env = BTreeMap::new();
        list_or_map(
            v,
            &format!("{path}.labels"),
            Bare::Empty,
            &Ctx {
                base: Path::new("/"),
                env: &env,
                ports: &std::cell::Cell::new(0),
                untyped: false,
                written: None,
            },
        )
    })?;
    edit(&mut m, "resources", |v| {
        let mut r = into_map(v);
        for key in ["limits", "reservations"] {
            edit(&mut r, key, |l| {
                let mut l = into_map(l);
                let p = format!("{path}.resources.{key}");
                edit(&mut l, "cpus", |x| to_float(x, &format!("{p}.cpus")))?;
                edit(&mut l, "memory", |x| bytes(x, &format!("{p}.memory")))?;
                edit(&mut l, "pids", |x| to_int(x, &format!("{p}.pids")))?;
                edit(&mut l, "devices", |d| {
                    Ok(Node::Seq(
                        seq(d)
                            .into_iter()
                            .map(|d| gpu(d, &format!("{p}.devices")))
                            .collect::<Result<_, _>>()?,
                    ))
                })?;
                Ok(Node::Map(l))
            })?;
        }
        Ok(Node::Map(r))
    })?;
    edit(&mut m, "restart_policy", |v| {
        let mut r = into_map(v);
        edit(&mut r, "max_attempts", |x| {
            to_int(x, &format!("{path}.restart_policy.max_attempts"))
        })?;
        for key in ["delay", "window"] {
            edit(&mut r, key, |x| {
                duration(x, &format!("{path}.restart_policy.{key}"))
            })?;
        }
        Ok(Node::Map(r))
    })?;
    for key in ["update_config", "rollback_config"] {
        edit(&mut m, key, |v| {
            let mut r = into_map(v);
            edit(&mut r, "parallelism", |x| {
                to_int(x, &format!("{path}.{key}.parallelism"))
            })?;
            edit(&mut r, "max_failure_ratio", |x| {
                to_float(x, &format!("{path}.{key}.max_failure_ratio"))
            })?;
            for d in ["delay", "monitor"] {
                edit(&mut r, d, |x| duration(x, &format!("{path}.{key}.{d}")))?;
            }
            Ok(Node::Map(r))
        })?;
    }
    Ok(Node::Map(m))
}

pub(super) fn gpu(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut d = into_map(node);
    edit(&mut d, "count", |c| match c {
        Node::Str(s) if s == "all" => Ok(Node::Int(-1)),
        other => to_int(other, &format!("{path}.count")),
    })?;
    for key in ["capabilities", "device_ids"] {
        edit(&mut d, key, |v| Ok(string_or_list(v)))?;
    }
    if !d.contains_key("count") && !d.contains_key("device_ids") {
        d.insert("count".into(), Node::Int(-1));
    }
    edit(&mut d, "options", |o| {
        Ok(Node::Map(
            into_map(o)
                .into_iter()
                .map(|(k, v)| (k, scalar_string(&v).map_or(v, Node::Str)))
                .collect(),
        ))
    })?;
    Ok(Node::Map(d))
}

pub(super) fn gpus(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) if s == "all" => {
            let mut d = Map::new();
            d.insert("count".into(), Node::Int(-1));
            Ok(Node::Seq(vec![Node::Map(d)]))
        }
        other => Ok(Node::Seq(
            seq(other)
                .into_iter()
                .map(|d| gpu(d, path))
                .collect::<Result<_, _>>()?,
        )),
    }
}

pub(super) fn develop(node: Node, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut m = into_map(node);
    edit(&mut m, "watch", |w| {
        let mut out = Vec::new();
        for item in seq(w) {
            let mut e = into_map(item);
            edit(&mut e, "path", |p| {
                Ok(scalar_string(&p).map_or(p, |s| Node::Str(ctx.path(&s))))
            })?;
            let mut exec = e.remove("exec").map(into_map).unwrap_or_default();
            edit(&mut exec, "command", |c| {
                command(c, "develop.watch.exec.command")
            })?;
            exec.entry("command".into()).or_insert(Node::Null);
            e.insert("exec".into(), Node::Map(exec));
            for key in ["ignore", "include"] {
                edit(&mut e, key, |v| Ok(string_or_list(v)))?;
            }
            if matches!(e.get("initial_sync"), Some(Node::Bool(false))) {
                e.remove("initial_sync");
            }
            out.push(Node::Map(e));
        }
        Ok(Node::Seq(out))
    })?;
    Ok(Node::Map(m))
}

pub(super) fn hooks(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        let mut h = into_map(item);
        edit(&mut h, "command", |c| {
            command(c, &format!("{path}[{i}].command"))
        })?;
        edit(&mut h, "environment", |e| {
            list_or_map(e, &format!("{path}[{i}].environment"), Bare::Lookup, ctx)
        })?;
        if matches!(h.get("privileged"), Some(Node::Bool(false))) {
            h.remove("privileged");
        }
        out.push(Node::Map(h));
    }
    Ok(Node::Seq(out))
}

pub(super) fn blkio(node: Node, path: &str) -> Result<Node, ComposeError> {
    // (The JSON output prints these entries with Go field names: `Path`, `Rate`, `Weight`.)
    let mut m = into_map(node);
    for key in [
        "device_read_bps",
        "device_write_bps",
        "device_read_iops",
        "device_write_iops",
        "weight_device",
    ] {
        edit(&mut m, key, |v| {
            let mut out = Vec::new();
            for d in seq(v) {
                let mut e = Map::new();
                for (k, v) in into_map(d) {
                    let v = match k.as_str() {
                        "rate" if key.ends_with("bps") => bytes(v, &format!("{path}.{key}.rate"))?,
                        "rate" => Node::Str(scalar_string(&v).unwrap_or_default()),
                        _ => v,
                    };
                    e.insert(k, v);
                }
                out.push(Node::Map(e));
            }
            Ok(Node::Seq(out))
        })?;
    }
    Ok(Node::Map(m))
}
