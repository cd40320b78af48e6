//! `config:*` (dokku-cli.json `config:*`; dokku-facts.md §d "Other names" for key validation,
//! §b "`config:set` without `--no-restart`" for the restart).

use std::collections::BTreeMap;

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::plugins::trigger;
use crate::store::is_valid_config_key;

fn scope_and_rest(ctx: &Ctx, p: &crate::args::Parsed) -> Res<(String, Vec<String>)> {
    if p.has("--global") {
        return Ok(("--global".into(), p.pos.clone()));
    }
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    Ok((app, p.pos.iter().skip(1).cloned().collect()))
}

fn pretty(ctx: &Ctx, env: &BTreeMap<String, String>) {
    let w = env.keys().map(String::len).max().unwrap_or(0) + 1;
    for (k, v) in env {
        ctx.out(format!("{:<w$}  {v}", format!("{k}:")));
    }
}

fn decode_b64(s: &str) -> Option<String> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = alphabet.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Set variables without output or restart (used for `GIT_REV` and datastore links).
pub fn set_quiet(ctx: &mut Ctx, scope: &str, pairs: &[(String, String)]) -> Res {
    let mut env = ctx.env(scope)?;
    for (k, v) in pairs {
        env.insert(k.clone(), v.clone());
    }
    ctx.write_env(scope, &env)?;
    let mut targs = vec![scope.to_string(), "set".to_string()];
    targs.extend(pairs.iter().map(|(k, _)| k.clone()));
    let a: Vec<&str> = targs.iter().map(String::as_str).collect();
    trigger(ctx, "post-config-update", &a, false, false)?;
    Ok(())
}

/// Restart a deployed app after a config change unless `ps` `restore` is `false`; a failure is
/// only a warning (§b).
pub fn maybe_restart(ctx: &mut Ctx, app: &str) -> Res {
    if app == "--global" {
        return Ok(());
    }
    let st = crate::deploy::load(ctx, app)?;
    if !st.deployed || ctx.prop_computed("ps", app, "restore", "true")? == "false" {
        return Ok(());
    }
    ctx.info1(format!("Restarting app {app}"));
    if let Err(e) = crate::deploy::release_and_deploy(ctx, app) {
        ctx.warn(format!("Failure while restarting app: {e}"));
    }
    Ok(())
}

/// Dispatch `config:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "set" => {
            let p = parse(args, &spec(&[], &["--no-restart", "--encoded", "--global"]))?;
            let (scope, rest) = scope_and_rest(ctx, &p)?;
            if rest.is_empty() {
                return fail("At least one env pair must be given");
            }
            let mut pairs = Vec::new();
            for kv in &rest {
                let Some((k, v)) = kv.split_once('=') else {
                    return fail(format!("Invalid env pair: {kv}"));
                };
                if !is_valid_config_key(k) {
                    return fail(format!("Invalid key name: '{k}'"));
                }
                let v = if p.has("--encoded") {
                    match decode_b64(v) {
                        Some(d) => d,
                        None => return fail(format!("Unable to decode value for {k}")),
                    }
                } else {
                    v.to_string()
                };
                pairs.push((k.to_string(), v));
            }
            ctx.info1("Setting config vars");
            let shown: BTreeMap<String, String> = pairs.iter().cloned().collect();
            let w = shown.keys().map(String::len).max().unwrap_or(0) + 1;
            for (k, v) in &shown {
                ctx.verbose(format!("{:<w$}  {v}", format!("{k}:")));
            }
            set_quiet(ctx, &scope, &pairs)?;
            if !p.has("--no-restart") {
                maybe_restart(ctx, &scope)?;
            }
            Ok(())
        }
        "unset" => {
            let p = parse(args, &spec(&[], &["--no-restart", "--global"]))?;
            let (scope, rest) = scope_and_rest(ctx, &p)?;
            if rest.is_empty() {
                return fail("At least one key must be given");
            }
            let mut env = ctx.env(&scope)?;
            let mut changed = Vec::new();
            for k in &rest {
                if env.remove(k).is_some() {
                    ctx.info1(format!("Unsetting {k}"));
                    changed.push(k.clone());
                } else {
                    ctx.info1(format!("Skipping {k}, it is not set in the environment"));
                }
            }
            if changed.is_empty() {
                return Ok(());
            }
            ctx.write_env(&scope, &env)?;
            let mut targs = vec![scope.clone(), "unset".to_string()];
            targs.extend(changed);
            let a: Vec<&str> = targs.iter().map(String::as_str).collect();
            trigger(ctx, "post-config-update", &a, false, false)?;
            if !p.has("--no-restart") {
                maybe_restart(ctx, &scope)?;
            }
            Ok(())
        }
        "get" => {
            let p = parse(args, &spec(&[], &["--quoted", "--global"]))?;
            let (scope, rest) = scope_and_rest(ctx, &p)?;
            let Some(k) = rest.first() else {
                return fail("Expected: key");
            };
            match ctx.env(&scope)?.get(k) {
                Some(v) if p.has("--quoted") => {
                    ctx.out(format!("'{}'", v.replace('\'', "'\\''")));
                    Ok(())
                }
                Some(v) => {
                    ctx.out(v);
                    Ok(())
                }
                None => Err(Fail::Silent(1)),
            }
        }
        "show" | "keys" | "export" | "bundle" => {
            let p = parse(args, &spec(&["--format"], &["--merged", "--global"]))?;
            let (scope, _) = scope_and_rest(ctx, &p)?;
            let mut env = if p.has("--merged") && scope != "--global" {
                ctx.env("--global")?
            } else {
                BTreeMap::new()
            };
            env.extend(ctx.env(&scope)?);
            match sub {
                "show" => {
                    ctx.info2(format!(
                        "{} env vars",
                        if scope == "--global" {
                            "global"
                        } else {
                            &scope
                        }
                    ));
                    pretty(ctx, &env);
                }
                "keys" => env.keys().for_each(|k| ctx.out(k)),
                "export" => export(ctx, &env, p.get("--format").unwrap_or("exports"))?,
                _ => return crate::cmd::not_modelled(ctx, "config:bundle"),
            }
            Ok(())
        }
        "import" => {
            let p = parse(
                args,
                &spec(&["--format"], &["--no-restart", "--replace", "--global"]),
            )?;
            let (scope, rest) = scope_and_rest(ctx, &p)?;
            // plugins/config/functions.go SubImport: the file argument is required (`-` is
            // stdin, announced); every key is printed with its value; nothing to set fails.
            let file = rest.first().cloned().unwrap_or_default();
            if file.is_empty() {
                return fail("open : no such file or directory");
            }
            let text = if file == "-" {
                ctx.info1("Reading config vars from stdin");
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(crate::ctx::io_err(std::path::Path::new("-")))?;
                t
            } else {
                std::fs::read_to_string(&file)
                    .map_err(crate::ctx::io_err(std::path::Path::new(&file)))?
            };
            let entries: BTreeMap<String, String> = match p.get("--format").unwrap_or("envfile") {
                "json" => match serde_json::from_str::<BTreeMap<String, String>>(&text) {
                    Ok(m) => m,
                    Err(e) => return fail(format!("Unable to parse json: {e}")),
                },
                "envfile" => parse_envfile(&text),
                other => return fail(format!("Invalid format specified: {other}")),
            };
            for k in entries.keys() {
                if !is_valid_config_key(k) {
                    return fail(format!("Invalid key name: '{k}'"));
                }
            }
            let mut env = if p.has("--replace") {
                BTreeMap::new()
            } else {
                ctx.env(&scope)?
            };
            if entries.is_empty() {
                return fail("No config vars to set");
            }
            env.extend(entries.clone());
            {
                for (k, v) in &entries {
                    ctx.info1(format!("Setting config var {k}={v}"));
                }
                ctx.write_env(&scope, &env)?;
                let mut targs = vec![scope.clone(), "set".to_string()];
                targs.extend(entries.keys().cloned());
                let a: Vec<&str> = targs.iter().map(String::as_str).collect();
                trigger(ctx, "post-config-update", &a, false, false)?;
            }
            if !p.has("--no-restart") {
                maybe_restart(ctx, &scope)?;
            }
            Ok(())
        }
        "clear" => {
            let p = parse(args, &spec(&[], &["--no-restart", "--global"]))?;
            let (scope, _) = scope_and_rest(ctx, &p)?;
            ctx.info1("Clearing config vars");
            ctx.write_env(&scope, &BTreeMap::new())?;
            trigger(ctx, "post-config-update", &[&scope, "clear"], false, false)?;
            if !p.has("--no-restart") {
                maybe_restart(ctx, &scope)?;
            }
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

/// `KEY=value` lines with optional `export `, single or double quotes, `#` comments.
fn parse_envfile(s: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in s.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            let inner = &v[1..v.len() - 1];
            if v.starts_with('"') {
                inner.replace("\\n", "\n").replace("\\\"", "\"")
            } else {
                inner.to_string()
            }
        } else {
            v.to_string()
        };
        m.insert(k.trim().to_string(), v);
    }
    m
}

/// `Env.Export` (plugins/config/environment.go): one printed string per format.
fn export(ctx: &Ctx, env: &BTreeMap<String, String>, format: &str) -> Res {
    let q = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
    let joined = |prefix: &str, sep: &str| {
        env.iter()
            .map(|(k, v)| format!("{prefix}{k}={}", q(v)))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let keys = |prefix: &str| {
        env.keys()
            .map(|k| format!("{prefix}{k}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = match format {
        "exports" => joined("export ", "\n"),
        "shell" => joined("", " "),
        "docker-args" => joined("--env=", " "),
        "docker-args-keys" => keys("--env="),
        "pack-keys" => keys("--env "),
        "envfile" => env
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}=\"{}\"",
                    v.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "json" => serde_json::to_string(env).unwrap_or_default(),
        // A nil Go slice marshals to `null` when the env is empty.
        "json-list" if env.is_empty() => "null".to_string(),
        "json-list" => {
            let v: Vec<serde_json::Value> = env
                .iter()
                .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                .collect();
            serde_json::to_string(&v).unwrap_or_default()
        }
        "pretty" => {
            pretty(ctx, env);
            return Ok(());
        }
        other => return fail(format!("Unknown export format: {other}")),
    };
    // plugins/config `SubExport`: `fmt.Print(exported + suffix)`, no newline; the shell
    // format ends in a space.
    let suffix = if format == "shell" { " " } else { "" };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    drop(write!(out, "{text}{suffix}"));
    drop(out.flush());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envfile_parsing() {
        let m = parse_envfile("# c\nexport A=1\nB=\"two\\nlines\"\nC='x y'\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two\nlines");
        assert_eq!(m["C"], "x y");
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(
            decode_b64("aGVsbG8gd29ybGQ=").as_deref(),
            Some("hello world")
        );
        assert_eq!(decode_b64("!!"), None);
    }
}
