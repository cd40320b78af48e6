//! `domains:*`, `url`, `urls` (dokku-cli.json `domains:*`: VHOST file per app, global VHOST,
//! `post-domains-update <app> <action> [domains…]`).

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::plugins::trigger;
use crate::store::{rows, Report, Row};

fn valid_domain(d: &str) -> bool {
    let d = d.strip_prefix("*.").unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn vhost_path(ctx: &Ctx, app: &str) -> std::path::PathBuf {
    ctx.paths.app_dir(app).join("VHOST")
}

/// The app's domains.
pub fn app_domains(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    ctx.read_lines(&vhost_path(ctx, app))
}

/// URLs of an app from its domains and port mappings (`domains-urls`).
pub fn app_urls(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    let domains = app_domains(ctx, app)?;
    let https = crate::cmd::ports::mappings(ctx, app)?.iter().any(|m| m.starts_with("https:"));
    let scheme = if https { "https" } else { "http" };
    if domains.is_empty() || ctx.prop_or("domains", app, "disabled")? == "true" {
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

/// Dispatch `domains:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report { plugin: "domains", kind: "domains", legacy: false }.run(ctx, args, &report_rows, &|c| {
            Ok(rows(vec![
                ("domains-global-enabled".into(), (!c.read_lines(&c.paths.root.join("VHOST"))?.is_empty()).to_string()),
                ("domains-global-vhosts".into(), c.read_lines(&c.paths.root.join("VHOST"))?.join(" ")),
            ]))
        });
    }
    let p = parse(args, &spec(&[], &[]))?;
    if let Some(g) = sub.strip_suffix("-global") {
        let path = ctx.paths.root.join("VHOST");
        let mut cur = ctx.read_lines(&path)?;
        for d in &p.pos {
            if !valid_domain(d) {
                return fail(format!("{d} is invalid. exiting..."));
            }
        }
        match g {
            "add" => p.pos.iter().for_each(|d| {
                if !cur.contains(d) {
                    cur.push(d.clone());
                }
            }),
            "set" => cur = p.pos.clone(),
            "remove" => cur.retain(|d| !p.pos.contains(d)),
            "clear" => cur.clear(),
            _ => return Err(Fail::Silent(255)),
        }
        ctx.write_lines(&path, &cur)?;
        ctx.info1(format!("Global domains updated: {}", cur.join(" ")));
        return Ok(());
    }
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let domains: Vec<String> = p.pos.iter().skip(1).cloned().collect();
    for d in &domains {
        if !valid_domain(d) {
            return fail(format!("{d} is invalid. exiting..."));
        }
    }
    let mut cur = app_domains(ctx, &app)?;
    match sub {
        "add" | "set" => {
            if domains.is_empty() {
                return fail("Please specify a domain name");
            }
            if sub == "set" {
                cur = domains.clone();
                ctx.info1(format!("Set {} for {app}", domains.join(" ")));
            } else {
                for d in &domains {
                    if !cur.contains(d) {
                        cur.push(d.clone());
                    }
                    ctx.info1(format!("Added {d} to {app}"));
                }
            }
            ctx.unset_prop("domains", &app, "disabled")?;
        }
        "remove" => {
            if domains.is_empty() {
                return fail("Please specify a domain name");
            }
            cur.retain(|d| !domains.contains(d));
            domains.iter().for_each(|d| ctx.info1(format!("Removed {d} from {app}")));
        }
        "clear" => {
            cur.clear();
            ctx.info1(format!("Cleared domains in {app}"));
        }
        "reset" => {
            cur = ctx.read_lines(&ctx.paths.root.join("VHOST"))?.iter().map(|d| format!("{app}.{d}")).collect();
            ctx.info1(format!("Reset domains in {app}"));
        }
        "enable" => {
            ctx.unset_prop("domains", &app, "disabled")?;
            ctx.info1(format!("Enabling domains for {app}..."));
        }
        "disable" => {
            ctx.set_prop("domains", &app, "disabled", "true")?;
            ctx.info1(format!("Disabling domains for {app}..."));
        }
        _ => return Err(Fail::Silent(255)),
    }
    ctx.write_lines(&vhost_path(ctx, &app), &cur)?;
    let mut targs = vec![app.clone(), sub.to_string()];
    targs.extend(domains);
    let a: Vec<&str> = targs.iter().map(String::as_str).collect();
    let t = trigger(ctx, "post-domains-update", &a, false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(t.code.clamp(1, 255) as u8));
    }
    Ok(())
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let global = ctx.read_lines(&ctx.paths.root.join("VHOST"))?;
    Ok(rows(vec![
        ("domains-app-enabled".into(), (ctx.prop_or("domains", app, "disabled")? != "true").to_string()),
        ("domains-app-vhosts".into(), app_domains(ctx, app)?.join(" ")),
        ("domains-global-enabled".into(), (!global.is_empty()).to_string()),
        ("domains-global-vhosts".into(), global.join(" ")),
    ]))
}

#[cfg(test)]
mod tests {
    use super::valid_domain;

    #[test]
    fn domain_validation() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("*.example.com"));
        assert!(!valid_domain("bad domain"));
        assert!(!valid_domain("-x.com"));
    }
}
