//! app.json `env` as plugins/app-json `processAppJSONEnv` (dokku/dokku 33896f5d7) applies it
//! before the `pre-release-builder` trigger: the first deploy sets every variable that has no
//! value yet, later deploys only the `sync` ones; `generator: secret` makes 64 hex characters;
//! a required variable without a value fails the deploy (the sandbox has no TTY to prompt on).

use serde_json::Value;

use crate::ctx::{fail, io_err, Ctx, Res};

/// Where the extracted app.json is kept (`GetAppJSONPath`: the app-json data directory).
pub fn stored_path(ctx: &Ctx, app: &str) -> std::path::PathBuf {
    ctx.paths.data_dir("app-json", app).join("app.json")
}

/// `CorePostExtract`: keep the file at `appjson-path` (or forget the old one when missing).
pub fn store(ctx: &Ctx, app: &str, from: Option<&std::path::Path>) -> Res {
    let to = stored_path(ctx, app);
    match from {
        Some(f) => {
            crate::store::mkdirs(to.parent().unwrap_or(&ctx.paths.lib))?;
            std::fs::copy(f, &to).map_err(io_err(f))?;
            Ok(())
        }
        None => crate::ctx::remove_any(&to),
    }
}

fn secret() -> String {
    use std::io::Read;
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        drop(f.read_exact(&mut b));
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `processAppJSONEnv`.
pub fn process_env(ctx: &mut Ctx, app: &str, first_deploy: bool) -> Res {
    let Some(text) = crate::ctx::read_opt(&stored_path(ctx, app))? else {
        return Ok(());
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        return Ok(());
    };
    let Some(env) = doc["env"].as_object().filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    ctx.info1("Processing app.json env vars");
    let processed = ctx.prop_or("app-json", app, "appjson-env-processed")? == "executed";
    let current = ctx.env(app)?;
    let mut keys: Vec<&String> = env.keys().collect();
    keys.sort();
    let mut set = Vec::new();
    for key in keys {
        let v = &env[key];
        let (value, generator, sync, required) = match v {
            Value::String(s) => (s.clone(), String::new(), false, true),
            Value::Object(o) => (
                o.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                o.get("generator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                o.get("sync").and_then(Value::as_bool).unwrap_or(false),
                o.get("required").and_then(Value::as_bool).unwrap_or(true),
            ),
            _ => continue,
        };
        if !((first_deploy && !processed) || sync) {
            continue;
        }
        let has = current.get(key).is_some_and(|c| !c.is_empty());
        if has && !sync {
            continue;
        }
        let value = if generator == "secret" {
            secret()
        } else if !value.is_empty() {
            value
        } else if required {
            return fail(format!(
                "required env var {key} has no value, no default, and no TTY for prompt"
            ));
        } else {
            continue;
        };
        set.push((key.clone(), value));
    }
    if set.is_empty() {
        ctx.verbose("No env vars to set from app.json");
        if !first_deploy {
            ctx.set_prop("app-json", app, "appjson-env-processed", "executed")?;
        }
        return Ok(());
    }
    ctx.info1(format!("Setting {} env var(s) from app.json", set.len()));
    crate::cmd::config::set_quiet(ctx, app, &set)?;
    ctx.set_prop("app-json", app, "appjson-env-processed", "executed")
}
