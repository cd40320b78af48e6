//! `command`, `build` and `env_file`: strings to lists, build contexts and env files resolved
//! against the file's directory.

use super::*;

pub(super) fn command(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => Ok(Node::Seq(
            syntax::split_command(&s)
                .map_err(|reason| syntax_error(path, reason))?
                .into_iter()
                .map(Node::Str)
                .collect(),
        )),
        Node::Seq(items) => Ok(Node::Seq(
            items
                .into_iter()
                .map(|n| scalar_string(&n).map_or(n, Node::Str))
                .collect(),
        )),
        other => Ok(other),
    }
}

/// A build's `context` resolved against the project directory (a remote one as written),
/// and `dockerfile` defaulted to `Dockerfile` unless an inline one is given.
pub(super) fn build_context(m: &mut Map, ctx: &Ctx<'_>) {
    let context = m
        .get("context")
        .and_then(scalar_string)
        .unwrap_or_else(|| ".".into());
    let context = if is_remote(&context) {
        context
    } else {
        ctx.path(&context)
    };
    m.insert("context".into(), Node::Str(context));
    if !m.contains_key("dockerfile") && !m.contains_key("dockerfile_inline") {
        m.insert("dockerfile".into(), Node::Str("Dockerfile".into()));
    }
}

pub(super) fn build(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut m = match node {
        Node::Str(s) => {
            let mut m = Map::new();
            m.insert("context".into(), Node::Str(s));
            m
        }
        Node::Map(m) => m,
        other => {
            return Err(key_error(
                path,
                KeyProblem::wrong(Expected::StringOrMapping, other.kind()),
            ))
        }
    };
    build_context(&mut m, ctx);
    edit(&mut m, "args", |v| {
        list_or_map(v, &format!("{path}.args"), Bare::Lookup, ctx)
    })?;
    edit(&mut m, "labels", |v| {
        list_or_map(v, &format!("{path}.labels"), Bare::Empty, ctx)
    })?;
    edit(&mut m, "additional_contexts", |v| {
        additional_contexts(v, &format!("{path}.additional_contexts"), ctx)
    })?;
    edit(&mut m, "extra_hosts", |v| {
        extra_hosts(v, &format!("{path}.extra_hosts"))
    })?;
    edit(&mut m, "secrets", |v| {
        file_refs(v, &format!("{path}.secrets"))
    })?;
    edit(&mut m, "shm_size", |v| {
        bytes(v, &format!("{path}.shm_size"))
    })?;
    edit(&mut m, "ulimits", |v| {
        ulimits(v, &format!("{path}.ulimits"))
    })?;
    edit(&mut m, "ssh", |v| match v {
        Node::Map(m) => Ok(Node::Seq(
            m.into_iter()
                .map(|(k, v)| Node::Str(format!("{k}={}", scalar_string(&v).unwrap_or_default())))
                .collect(),
        )),
        other => Ok(string_or_list(other)),
    })?;
    for key in ["cache_from", "cache_to", "tags", "platforms"] {
        edit(&mut m, key, |v| Ok(string_or_list(v)))?;
    }
    for key in ["no_cache", "pull", "privileged"] {
        edit(&mut m, key, |v| to_bool(v, &format!("{path}.{key}")))?;
        if matches!(m.get(key), Some(Node::Bool(false))) {
            m.remove(key);
        }
    }
    Ok(Node::Map(m))
}

/// `additional_contexts` as a map, local paths made absolute.
pub(super) fn additional_contexts(
    v: Node,
    path: &str,
    ctx: &Ctx<'_>,
) -> Result<Node, ComposeError> {
    if let Node::Seq(items) = &v {
        if let Some(bare) = items
            .iter()
            .filter_map(scalar_string)
            .find(|s| !s.contains('='))
        {
            return Err(key_error(path, KeyProblem::NotKeyValue(bare)));
        }
    }
    let m = into_map(list_or_map(v, path, Bare::Null, ctx)?);
    Ok(Node::Map(
        m.into_iter()
            .map(|(k, v)| match v {
                Node::Str(s) if !s.contains("://") && !s.contains(':') => {
                    (k, Node::Str(ctx.path(&s)))
                }
                other => (k, other),
            })
            .collect(),
    ))
}

pub(super) fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

pub(super) fn env_file(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        let mut m = Map::new();
        match item {
            Node::Str(s) => {
                m.insert("path".into(), Node::Str(ctx.path(&s)));
                m.insert("required".into(), Node::Bool(true));
            }
            Node::Map(mut e) => {
                let file = e
                    .remove("path")
                    .and_then(|p| scalar_string(&p))
                    .ok_or_else(|| key_error(format!("{path}[{i}].path"), KeyProblem::Required))?;
                m.insert("path".into(), Node::Str(ctx.path(&file)));
                let required = to_bool(
                    e.remove("required").unwrap_or(Node::Bool(true)),
                    &format!("{path}[{i}].required"),
                )?;
                m.insert("required".into(), required);
                if let Some(f) = e.remove("format") {
                    m.insert("format".into(), f);
                }
            }
            other => {
                return Err(key_error(
                    format!("{path}[{i}]"),
                    KeyProblem::wrong(Expected::StringOrMapping, other.kind()),
                ))
            }
        }
        out.push(Node::Map(m));
    }
    Ok(Node::Seq(out))
}
