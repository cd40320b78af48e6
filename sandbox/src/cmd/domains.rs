//! `domains:*`, `url`, `urls` (dokku-cli.json `domains:*`: VHOST file per app, global VHOST,
//! `post-domains-update <app> <action> [domains…]`).

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::plugins::trigger;
use crate::store::{rows, Report, Row};

/// `is_valid_hostname` (plugins/domains/functions): `_`, or `^[a-z0-9.*-]*[a-z0-9*-]$` lowercased.
fn valid_domain(d: &str) -> bool {
    let d = d.to_lowercase();
    if d == "_" {
        return true;
    }
    let ok =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '*' || c == '-';
    !d.is_empty() && d.chars().all(ok) && !d.ends_with('.')
}

fn vhost_path(ctx: &Ctx, app: &str) -> std::path::PathBuf {
    ctx.paths.app_dir(app).join("VHOST")
}

fn global_vhosts(ctx: &Ctx) -> Res<Vec<String>> {
    ctx.read_lines(&ctx.paths.root.join("VHOST"))
}

/// `is_global_vhost_enabled`: some global line is a valid hostname.
fn global_enabled(ctx: &Ctx) -> Res<bool> {
    Ok(global_vhosts(ctx)?.iter().any(|v| valid_domain(v)))
}

/// `is_app_vhost_enabled`: the app's `NO_VHOST` config var is not `1`.
pub fn app_vhost_enabled(ctx: &Ctx, app: &str) -> Res<bool> {
    Ok(ctx.env(app)?.get("NO_VHOST").map(String::as_str) != Some("1"))
}

fn looks_like_ip(v: &str) -> bool {
    v.parse::<std::net::IpAddr>().is_ok()
}

/// `get_default_vhosts`: `<app>.<global>` per global domain (the app name itself when it has a dot).
fn default_vhosts(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    if !global_enabled(ctx)? {
        return Ok(Vec::new());
    }
    Ok(global_vhosts(ctx)?
        .iter()
        .filter(|v| !looks_like_ip(v))
        .map(|v| {
            if app.contains('.') {
                app.to_string()
            } else {
                format!("{app}.{v}")
            }
        })
        .collect())
}

/// The app's domains (`get_app_domains`: only when vhost support is enabled).
pub fn app_domains(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    if !app_vhost_enabled(ctx, app)? {
        return Ok(Vec::new());
    }
    ctx.read_lines(&vhost_path(ctx, app))
}

fn update(ctx: &mut Ctx, args: &[&str]) -> Res {
    let t = trigger(ctx, "post-domains-update", args, false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(t.code.clamp(1, 255) as u8));
    }
    Ok(())
}

fn set_no_vhost(ctx: &mut Ctx, app: &str, v: &str, action: &str) -> Res {
    let quiet = std::mem::replace(&mut ctx.globals.quiet, true);
    let r = crate::cmd::config::set_quiet(ctx, app, &[("NO_VHOST".to_string(), v.to_string())]);
    ctx.globals.quiet = quiet;
    r?;
    update(ctx, &[app, action])
}

/// `disable_app_vhost <app> --no-restart`.
fn disable_vhost(ctx: &mut Ctx, app: &str) -> Res {
    trigger(ctx, "pre-disable-vhost", &[app], false, false)?;
    let p = vhost_path(ctx, app);
    if p.exists() {
        ctx.info1("App virtual host support disabled");
        crate::ctx::remove_any(&p)?;
    }
    set_no_vhost(ctx, app, "1", "disable")
}

/// `domains_enable <app> --no-restart`.
fn enable_vhost(ctx: &mut Ctx, app: &str) -> Res {
    if app_vhost_enabled(ctx, app)? {
        ctx.info1(format!(
            "Domains (VHOST) support is already enabled for app ({app})"
        ));
        return Ok(());
    }
    let defaults = default_vhosts(ctx, app)?;
    if !defaults.is_empty() {
        ctx.write_lines(&vhost_path(ctx, app), &defaults)?;
    }
    trigger(ctx, "pre-enable-vhost", &[app], false, false)?;
    set_no_vhost(ctx, app, "0", "enable")
}

/// The domains plugin's `post-create` (`domains_setup`): default vhosts from the global
/// domains, else vhost support disabled with `NO_VHOST=1`.
pub fn setup(ctx: &mut Ctx, app: &str) -> Res {
    if !app_vhost_enabled(ctx, app)? {
        ctx.info1("App virtual host support disabled, skipping domain setup");
        return Ok(());
    }
    if vhost_path(ctx, app).exists() {
        return Ok(());
    }
    let defaults = default_vhosts(ctx, app)?;
    if defaults.is_empty() {
        ctx.info1("Global server virtual host not set, disabling app vhost...");
        disable_vhost(ctx, app)
    } else {
        ctx.info1("Creating new app virtual host file...");
        ctx.write_lines(&vhost_path(ctx, app), &defaults)
    }
}

/// URLs of an app from its domains and port mappings (`domains-urls`).
pub fn app_urls(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    let domains = app_domains(ctx, app)?;
    let https = crate::cmd::ports::mappings(ctx, app)?
        .iter()
        .any(|m| m.starts_with("https:"));
    let scheme = if https { "https" } else { "http" };
    if domains.is_empty() {
        return Ok(vec![format!("{scheme}://{app}.sandbox.invalid")]);
    }
    Ok(domains.iter().map(|d| format!("{scheme}://{d}")).collect())
}

/// `url` / `urls`.
pub fn urls(ctx: &mut Ctx, which: &str, args: &[String]) -> Res {
    let app = args.first().cloned().unwrap_or_default();
    ctx.verify_app(&app)?;
    let u = app_urls(ctx, &app)?;
    if which == "url" {
        ctx.out(u.first().cloned().unwrap_or_default());
    } else {
        u.iter().for_each(|x| ctx.out(x));
    }
    Ok(())
}

fn validate(domains: &[String]) -> Res {
    match domains.iter().find(|d| !valid_domain(d)) {
        Some(d) => fail(format!("{d} is invalid. exiting...")),
        None => Ok(()),
    }
}

/// Dispatch `domains:<sub>` (plugins/domains/functions).
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report {
            plugin: "domains",
            kind: "domains",
            legacy: false,
        }
        .run(ctx, args, &report_rows, &|c| {
            let g = global_enabled(c)?;
            Ok(rows(vec![
                ("domains-global-enabled".into(), g.to_string()),
                (
                    "domains-global-vhosts".into(),
                    if g {
                        global_vhosts(c)?.join(" ")
                    } else {
                        String::new()
                    },
                ),
            ]))
        });
    }
    let p = parse(args, &spec(&[], &[]))?;
    if let Some(g) = sub.strip_suffix("-global") {
        let path = ctx.paths.root.join("VHOST");
        let mut cur = global_vhosts(ctx)?;
        match g {
            "add" => {
                validate(&p.pos)?;
                for d in &p.pos {
                    if cur.contains(d) {
                        ctx.info1(format!("Skipping {d}: already added"));
                    } else {
                        cur.push(d.clone());
                        ctx.info1(format!("Added {d}"));
                    }
                }
            }
            "set" => {
                validate(&p.pos)?;
                cur = p.pos.clone();
                ctx.info1(format!("Set {}", p.pos.join(" ")));
            }
            "remove" => {
                for d in &p.pos {
                    cur.retain(|x| x != d);
                    ctx.info1(format!("Removed {d}"));
                }
            }
            "clear" => cur.clear(),
            _ => return Err(Fail::Silent(255)),
        }
        return ctx.write_lines(&path, &cur);
    }
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let domains: Vec<String> = p.pos.iter().skip(1).cloned().collect();
    let path = vhost_path(ctx, &app);
    let mut cur = ctx.read_lines(&path)?;
    let mut targs: Vec<String> = vec![app.clone(), sub.to_string()];
    match sub {
        "add" | "set" => {
            if domains.is_empty() {
                return fail("Please specify a domain name");
            }
            validate(&domains)?;
            if sub == "set" {
                cur = domains.clone();
                ctx.write_lines(&path, &cur)?;
                ctx.info1(format!("Set {} for {app}", domains.join(" ")));
            } else {
                for d in &domains {
                    if cur.contains(d) {
                        ctx.info1(format!("Skipping: {d} already added to {app}"));
                    } else {
                        cur.push(d.clone());
                        ctx.info1(format!("Added {d} to {app}"));
                    }
                }
                ctx.write_lines(&path, &cur)?;
            }
            if !app_vhost_enabled(ctx, &app)? {
                enable_vhost(ctx, &app)?;
            }
            targs.extend(domains);
        }
        "remove" => {
            if domains.is_empty() {
                return fail("Please specify a domain name");
            }
            for d in &domains {
                cur.retain(|x| x != d);
                ctx.info1(format!("Removed {d} from {app}"));
            }
            ctx.write_lines(&path, &cur)?;
            targs.extend(domains);
        }
        "clear" => {
            crate::ctx::remove_any(&path)?;
            update(ctx, &[&app, "clear"])?;
            ctx.info1(format!("Cleared domains in {app}"));
            return Ok(());
        }
        "reset" => {
            crate::ctx::remove_any(&path)?;
            update(ctx, &[&app, "clear"])?;
            ctx.info1(format!("Cleared domains in {app}"));
            setup(ctx, &app)?;
            update(ctx, &[&app, "reset"])?;
            ctx.info1(format!("Reset domains for {app}"));
            return Ok(());
        }
        "enable" => return enable_vhost(ctx, &app),
        "disable" => {
            if !path.exists() {
                ctx.write_lines(&path, &[])?;
            }
            if app_vhost_enabled(ctx, &app)? {
                return disable_vhost(ctx, &app);
            }
            ctx.info1(format!(
                "Domains (VHOST) support is already disabled for app ({app})"
            ));
            return Ok(());
        }
        _ => return Err(Fail::Silent(255)),
    }
    let a: Vec<&str> = targs.iter().map(String::as_str).collect();
    update(ctx, &a)
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let g = global_enabled(ctx)?;
    Ok(rows(vec![
        (
            "domains-app-enabled".into(),
            app_vhost_enabled(ctx, app)?.to_string(),
        ),
        (
            "domains-app-vhosts".into(),
            ctx.read_lines(&vhost_path(ctx, app))?.join(" "),
        ),
        ("domains-global-enabled".into(), g.to_string()),
        (
            "domains-global-vhosts".into(),
            if g {
                global_vhosts(ctx)?.join(" ")
            } else {
                String::new()
            },
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::valid_domain;

    #[test]
    fn domain_validation() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("*.example.com"));
        assert!(valid_domain("_"));
        assert!(valid_domain("Example.COM"), "lowercased first");
        assert!(!valid_domain("bad domain"));
        assert!(!valid_domain("x.com."));
    }
}
