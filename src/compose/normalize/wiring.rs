//! How a service connects: `ports`, `volumes`, `depends_on` and `networks` in their long
//! syntax.

use super::*;

pub(super) fn ports(node: Node, path: &str) -> Result<Node, ComposeError> {
    Ok(Node::Seq(
        ports_indexed(node, path)?
            .into_iter()
            .map(|(_, n)| n)
            .collect(),
    ))
}

/// The long-syntax port entries, each with the index of the written entry it came from.
pub(super) fn ports_indexed(node: Node, path: &str) -> Result<Vec<(usize, Node)>, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Int(n) => out.extend(
                syntax::parse_port(&n.to_string())
                    .map_err(|reason| syntax_error(&format!("{path}[{i}]"), reason))?
                    .into_iter()
                    .map(|n| (i, n)),
            ),
            Node::Str(s) => out.extend(
                syntax::parse_port(&s)
                    .map_err(|reason| syntax_error(&format!("{path}[{i}]"), reason))?
                    .into_iter()
                    .map(|n| (i, n)),
            ),
            Node::Map(mut m) => {
                if !m.contains_key("mode") {
                    m.insert("mode".into(), Node::Str("ingress".into()));
                }
                if !m.contains_key("protocol") {
                    m.insert("protocol".into(), Node::Str("tcp".into()));
                }
                edit(&mut m, "target", |v| {
                    to_int(v, &format!("{path}[{i}].target"))
                })?;
                edit(&mut m, "published", |v| {
                    Ok(scalar_string(&v).map_or(v, Node::Str))
                })?;
                out.push((i, Node::Map(m)));
            }
            other => {
                return Err(key_error(
                    format!("{path}[{i}]"),
                    KeyProblem::wrong(Expected::NumberStringOrMapping, other.kind()),
                ))
            }
        }
    }
    Ok(out)
}

pub(super) fn volumes(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Str(s) => out.push(Node::Map(
                syntax::parse_volume(&s, ctx.base, ctx.home())
                    .map_err(|reason| syntax_error(&format!("{path}[{i}]"), reason))?,
            )),
            Node::Map(mut m) => {
                let kind = m
                    .get("type")
                    .and_then(Node::as_str)
                    .unwrap_or("volume")
                    .to_string();
                if kind == "bind" {
                    match m.get("source").and_then(scalar_string) {
                        Some(src) if !src.is_empty() => {
                            m.insert("source".into(), Node::Str(ctx.path(&src)));
                        }
                        _ => {
                            return Err(key_error(
                                format!("{path}[{i}]"),
                                KeyProblem::EmptyBindSource,
                            ))
                        }
                    }
                }
                edit(&mut m, "read_only", |v| {
                    to_bool(v, &format!("{path}[{i}].read_only"))
                })?;
                if matches!(m.get("read_only"), Some(Node::Bool(false))) {
                    m.remove("read_only");
                }
                edit(&mut m, "tmpfs", |v| {
                    let mut t = into_map(v);
                    edit(&mut t, "size", |s| {
                        bytes(s, &format!("{path}[{i}].tmpfs.size"))
                    })?;
                    Ok(Node::Map(t))
                })?;
                edit(&mut m, "target", |t| {
                    Ok(scalar_string(&t).map_or(t, |s| Node::Str(syntax::clean_target(&s))))
                })?;
                // `false` options are not printed (Go `omitempty`).
                for key in ["bind", "volume"] {
                    if let Some(Node::Map(opts)) = m.get_mut(key) {
                        opts.retain(|_, v| !matches!(v, Node::Bool(false)));
                    }
                }
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

pub(super) fn depends_on(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Map::new();
    match node {
        Node::Seq(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let name = scalar_string(&item).ok_or_else(|| {
                    key_error(
                        format!("{path}[{i}]"),
                        KeyProblem::must_be(Expected::String),
                    )
                })?;
                let mut d = Map::new();
                d.insert("condition".into(), Node::Str("service_started".into()));
                d.insert("required".into(), Node::Bool(true));
                out.insert(name, Node::Map(d));
            }
        }
        Node::Map(m) => {
            for (name, v) in m {
                let mut d = into_map(v);
                if !d.contains_key("condition") {
                    d.insert("condition".into(), Node::Str("service_started".into()));
                }
                edit(&mut d, "required", |v| {
                    to_bool(v, &format!("{path}.{name}.required"))
                })?;
                edit(&mut d, "restart", |v| {
                    to_bool(v, &format!("{path}.{name}.restart"))
                })?;
                if !d.contains_key("required") {
                    d.insert("required".into(), Node::Bool(true));
                }
                if matches!(d.get("restart"), Some(Node::Bool(false))) {
                    d.remove("restart");
                }
                out.insert(name, Node::Map(d));
            }
        }
        other => {
            return Err(key_error(
                path,
                KeyProblem::wrong(Expected::ListOrMapping, other.kind()),
            ))
        }
    }
    Ok(Node::Map(out))
}

pub(super) fn networks(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Seq(items) => {
            let mut out = Map::new();
            for (i, item) in items.into_iter().enumerate() {
                let name = scalar_string(&item).ok_or_else(|| {
                    key_error(
                        format!("{path}[{i}]"),
                        KeyProblem::must_be(Expected::String),
                    )
                })?;
                out.insert(name, Node::Null);
            }
            Ok(Node::Map(out))
        }
        Node::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match v {
                    Node::Map(mut n) => {
                        edit(&mut n, "aliases", |a| Ok(string_or_list(a)))?;
                        edit(&mut n, "priority", |a| {
                            to_int(a, &format!("{path}.{k}.priority"))
                        })?;
                        Node::Map(n)
                    }
                    other => other,
                };
                out.insert(k, v);
            }
            Ok(Node::Map(out))
        }
        other => Err(key_error(
            path,
            KeyProblem::wrong(Expected::ListOrMapping, other.kind()),
        )),
    }
}
