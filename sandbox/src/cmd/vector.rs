//! The logs plugin's generated vector configuration, `$DOKKU_LIB_ROOT/data/logs/vector.json`,
//! as plugins/logs `functions.go` (`vectorScopes`, `buildVectorConfig`, `writeVectorConfig`)
//! and `logs.go` (`SinkValueToConfig`) of dokku/dokku 33896f5d7 build it. Nothing runs vector:
//! the file is the state a real host would hand to the vector container.

use serde_json::{json, Map, Value};

use crate::ctx::{fail, io_err, Ctx, Res};

/// The docker label every Dokku container carries with its app name (`AppLabelAlias`).
pub const APP_LABEL: &str = "com.dokku.app-name";
const CONTAINER_TYPE_LABEL: &str = "com.dokku.container-type";
const CRON_ID_LABEL: &str = "com.dokku.cron-id";
const DEFAULT_SINK: &str = "blackhole://?print_interval_secs=1";

/// `url.QueryUnescape`: `+` is a space, `%XX` a byte.
fn query_unescape(s: &str) -> Result<String, String> {
    unescape(&s.replace('+', " "))
}

/// `url.PathUnescape`-like `%XX` decoding; a malformed escape is an error.
fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                return Err(format!(
                    "invalid URL escape {:?}",
                    s.get(i..(i + 3).min(s.len())).unwrap_or("%")
                ));
            };
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Insert `value` at the bracketed key path (`auth[token]` is `auth` → `token`).
fn insert_path(obj: &mut Map<String, Value>, key: &str, value: Value) {
    let mut parts: Vec<&str> = Vec::new();
    let (head, rest) = key.split_once('[').map_or((key, ""), |(h, r)| (h, r));
    parts.push(head);
    for seg in rest.split('[') {
        let seg = seg.trim_end_matches(']');
        if !seg.is_empty() {
            parts.push(seg);
        }
    }
    let mut cur = obj;
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            cur.insert((*p).to_string(), value);
            return;
        }
        let next = cur
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(m) = next else { return };
        cur = m;
    }
}

/// `SinkValueToConfig`: `<type>://?<query>` into a vector sink, the query's bracketed keys
/// nested (qson), values that parse as JSON kept typed, `base64enc:` values decoded.
pub fn sink_to_config(value: &str, inputs: &[String]) -> Result<Value, String> {
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (s.to_string(), r),
        None => (String::new(), value),
    };
    let valid_scheme = scheme.is_empty()
        || (scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_')));
    if !valid_scheme {
        return Err(format!(
            "parse {value:?}: first path segment in URL cannot contain colon"
        ));
    }
    let rest = rest.split_once('#').map_or(rest, |(q, _)| q);
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let query = query.trim_start_matches('&');
    let mut data = Map::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = query_unescape(k)?;
        if key == "sinks" && !v.is_empty() {
            return Err("Invalid option sinks".into());
        }
        let once = query_unescape(v)?;
        let decoded = unescape(&once).unwrap_or(once);
        let typed = serde_json::from_str::<Value>(&decoded)
            .ok()
            .filter(|j| !j.is_object() && !j.is_array())
            .unwrap_or(Value::String(decoded));
        insert_path(&mut data, &key, typed);
    }
    for v in data.values_mut() {
        if let Some(enc) = v.as_str().and_then(|s| s.strip_prefix("base64enc:")) {
            let bytes = base64_decode(enc).ok_or("Error decoding base64: illegal base64 data")?;
            *v = Value::String(String::from_utf8_lossy(&bytes).trim().to_string());
        }
    }
    data.insert("type".into(), Value::String(scheme.replace('-', "_")));
    if !inputs.is_empty() {
        data.insert("inputs".into(), json!(inputs));
    }
    Ok(Value::Object(data))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = A.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn label(l: &str) -> String {
    format!(".label.{}", serde_json::to_string(l).unwrap_or_default())
}

fn rename(alias: &str) -> String {
    format!("{} = del({})", label(alias), label(APP_LABEL))
}

struct Scope {
    source: String,
    include: String,
    sink_id: String,
    cron_sink_id: String,
    router: String,
    cron_remap: String,
    relabel_id: String,
    alias: String,
    overrides: Vec<(String, String)>,
    sink: String,
    cron_sink: String,
}

/// `relabelVRL`: the program moving the app label to the scope's alias (per-app overrides
/// first for the global scope), empty when nothing is renamed.
fn relabel(s: &Scope) -> String {
    if s.overrides.is_empty() {
        return if s.alias == APP_LABEL {
            String::new()
        } else {
            rename(&s.alias)
        };
    }
    let mut clauses: Vec<(String, String)> = Vec::new();
    let mut retained = Vec::new();
    for (app, alias) in &s.overrides {
        let q = serde_json::to_string(app).unwrap_or_default();
        if alias == APP_LABEL {
            retained.push(format!("app != {q}"));
        } else {
            clauses.push((format!("app == {q}"), rename(alias)));
        }
    }
    if s.alias != APP_LABEL {
        clauses.push((retained.join(" && "), rename(&s.alias)));
    }
    if clauses.is_empty() {
        return String::new();
    }
    let chain = if clauses.len() == 1 && clauses[0].0.is_empty() {
        clauses[0].1.clone()
    } else {
        let mut c = String::new();
        for (i, (cond, stmt)) in clauses.iter().enumerate() {
            if i > 0 {
                c.push_str(" else ");
            }
            if !cond.is_empty() {
                c.push_str(&format!("if {cond} "));
            }
            c.push_str(&format!("{{\n  {stmt}\n}}"));
        }
        c
    };
    format!("app = to_string({}) ?? \"\"\n{chain}", label(APP_LABEL))
}

fn computed_alias(ctx: &Ctx, scope: &str) -> Res<String> {
    let own = ctx
        .prop("logs", scope, "app-label-alias")?
        .unwrap_or_default();
    if !own.is_empty() {
        return Ok(own);
    }
    let global = ctx
        .prop("logs", "--global", "app-label-alias")?
        .unwrap_or_default();
    Ok(if global.is_empty() {
        APP_LABEL.to_string()
    } else {
        global
    })
}

fn scopes(ctx: &Ctx) -> Res<Vec<Scope>> {
    let global_alias = computed_alias(ctx, "--global")?;
    let mut out = Vec::new();
    let mut overrides = Vec::new();
    for app in ctx.apps()? {
        let id = app.replace('.', "-");
        let alias = computed_alias(ctx, &app)?;
        if alias != global_alias {
            overrides.push((app.clone(), alias.clone()));
        }
        out.push(Scope {
            source: format!("docker-source:{id}"),
            include: format!("{APP_LABEL}={app}"),
            sink_id: format!("docker-sink:{id}"),
            cron_sink_id: format!("docker-cron-sink:{id}"),
            router: format!("docker-router:{id}"),
            cron_remap: format!("docker-cron-remap:{id}"),
            relabel_id: format!("docker-relabel:{id}"),
            alias,
            overrides: Vec::new(),
            sink: ctx.prop("logs", &app, "vector-sink")?.unwrap_or_default(),
            cron_sink: ctx
                .prop("logs", &app, "vector-cron-sink")?
                .unwrap_or_default(),
        });
    }
    overrides.sort();
    out.push(Scope {
        source: "docker-global-source".into(),
        include: APP_LABEL.into(),
        sink_id: "docker-global-sink".into(),
        cron_sink_id: "docker-global-cron-sink".into(),
        router: "docker-global-router".into(),
        cron_remap: "docker-global-cron-remap".into(),
        relabel_id: "docker-global-relabel".into(),
        alias: global_alias,
        overrides,
        sink: ctx
            .prop("logs", "--global", "vector-sink")?
            .unwrap_or_default(),
        cron_sink: ctx
            .prop("logs", "--global", "vector-cron-sink")?
            .unwrap_or_default(),
    });
    Ok(out)
}

/// `buildVectorConfig`.
fn build(scopes: &[Scope]) -> Result<Value, String> {
    let (mut sources, mut transforms, mut sinks) = (Map::new(), Map::new(), Map::new());
    for s in scopes {
        if s.sink.is_empty() && s.cron_sink.is_empty() {
            continue;
        }
        sources.insert(
            s.source.clone(),
            json!({"type": "docker_logs", "include_labels": [s.include]}),
        );
        let rl = relabel(s);
        let mut inputs = vec![s.source.clone()];
        if !s.cron_sink.is_empty() {
            let mut src = format!(
                ".dokku_app = to_string({}) ?? \"\"\n.dokku_cron_id = to_string({}) ?? \"\"",
                label(APP_LABEL),
                label(CRON_ID_LABEL)
            );
            if !rl.is_empty() {
                src = format!("{src}\n{rl}");
            }
            transforms.insert(
                s.router.clone(),
                json!({
                    "type": "route",
                    "inputs": [s.source],
                    "reroute_unmatched": !s.sink.is_empty(),
                    "route": {"cron": {"type": "vrl", "source": format!("{} == \"cron\"", label(CONTAINER_TYPE_LABEL))}},
                }),
            );
            transforms.insert(
                s.cron_remap.clone(),
                json!({"type": "remap", "inputs": [format!("{}.cron", s.router)], "source": src}),
            );
            inputs = vec![format!("{}._unmatched", s.router)];
            sinks.insert(
                s.cron_sink_id.clone(),
                sink_to_config(&s.cron_sink, std::slice::from_ref(&s.cron_remap))?,
            );
        }
        if !s.sink.is_empty() {
            if !rl.is_empty() {
                transforms.insert(
                    s.relabel_id.clone(),
                    json!({"type": "remap", "inputs": inputs, "source": rl}),
                );
                inputs = vec![s.relabel_id.clone()];
            }
            sinks.insert(s.sink_id.clone(), sink_to_config(&s.sink, &inputs)?);
        }
    }
    if sources.is_empty() {
        sources.insert(
            "docker-null-source".into(),
            json!({"type": "docker_logs", "include_labels": ["com.dokku.vector-null"]}),
        );
    }
    if sinks.is_empty() {
        sinks.insert(
            "docker-null-sink".into(),
            sink_to_config(DEFAULT_SINK, &["docker-null-source".to_string()])?,
        );
    }
    let mut out = Map::new();
    out.insert("sources".into(), Value::Object(sources));
    if !transforms.is_empty() {
        out.insert("transforms".into(), Value::Object(transforms));
    }
    out.insert("sinks".into(), Value::Object(sinks));
    Ok(Value::Object(out))
}

/// Keys in sorted order at every level (Go marshals maps sorted).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The path of the generated file.
pub fn path(ctx: &Ctx) -> std::path::PathBuf {
    ctx.paths.lib.join("data/logs/vector.json")
}

/// `writeVectorConfig`: regenerate the file (mode 0600).
pub fn write(ctx: &Ctx) -> Res {
    let cfg = match build(&scopes(ctx)?) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let text = serde_json::to_string_pretty(&sorted(&cfg)).unwrap_or_default();
    let p = path(ctx);
    crate::store::mkdirs(p.parent().unwrap_or(&ctx.paths.lib))?;
    crate::ctx::write_atomic(&p, &text)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(io_err(&p))
}

/// `regenerateVectorConfig`: app lifecycle changes rewrite the file; a failure only warns.
pub fn regenerate(ctx: &Ctx) {
    if let Err(e) = write(ctx) {
        let why = match e {
            crate::ctx::Fail::Dokku { lines, .. } => lines.join(" "),
            other => other.to_string(),
        };
        ctx.warn(format!("Unable to write updated vector config: {why}"));
    }
}
