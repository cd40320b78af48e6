//! The nginx proxy of the docker runtime (issue #16): one nginx per sandbox, run from
//! `<lib>/sandbox/nginx/` (Debian's nginx-light, `NGINX_BIN` or `/usr/sbin/nginx`). Each
//! `http`/`https` port map of a deployed app with the proxy enabled gets a loopback port that
//! the sandbox assigns once and keeps (`<lib>/sandbox/nginx/ports.json`, printed by
//! `dokku sandbox:proxy-port <app> [<scheme>:<host-port>]`); its server block proxies to the
//! app's running web containers on the map's container port, like Dokku's nginx-vhosts
//! template, and includes the app's `nginx.conf.d/*.conf`. `https` maps are served with a
//! self-signed certificate (standing in for Let's Encrypt).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ctx::{fail, io_err, read_opt, write_atomic, Ctx, Paths, Res};
use crate::store::mkdirs;

fn dir(paths: &Paths) -> PathBuf {
    paths.sandbox_dir().join("nginx")
}

fn nginx_bin() -> String {
    std::env::var("NGINX_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/usr/sbin/nginx".into())
}

type Ports = BTreeMap<String, BTreeMap<String, u16>>;

fn load_ports(paths: &Paths) -> Res<Ports> {
    Ok(read_opt(&dir(paths).join("ports.json"))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// A free loopback port, not one already assigned in this sandbox.
fn free_port(taken: &Ports) -> Res<u16> {
    for _ in 0..50 {
        let l =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err(Path::new("127.0.0.1:0")))?;
        let p = l
            .local_addr()
            .map_err(io_err(Path::new("127.0.0.1:0")))?
            .port();
        if !taken.values().any(|m| m.values().any(|x| *x == p)) {
            return Ok(p);
        }
    }
    fail("no free loopback port")
}

/// The loopback port of an app's map (`scheme:host:container`, or `scheme:host` prefix).
pub fn port_of(paths: &Paths, app: &str, map: Option<&str>) -> Res<u16> {
    let ports = load_ports(paths)?;
    let Some(m) = ports.get(app) else {
        return fail(format!(
            "{app} has no proxied port (is it deployed with the proxy enabled?)"
        ));
    };
    let found = match map {
        None => m
            .iter()
            .find(|(k, _)| k.starts_with("http:"))
            .or_else(|| m.iter().next()),
        Some(want) => m
            .iter()
            .find(|(k, _)| *k == want || k.starts_with(&format!("{want}:"))),
    };
    match found {
        Some((_, p)) => Ok(*p),
        None => fail(format!(
            "{app} has no proxied map {}",
            map.unwrap_or("http")
        )),
    }
}

fn self_signed(d: &Path, app: &str) -> Res<(PathBuf, PathBuf)> {
    let tls = d.join("tls");
    mkdirs(&tls)?;
    let (crt, key) = (
        tls.join(format!("{app}.crt")),
        tls.join(format!("{app}.key")),
    );
    if !crt.exists() {
        let o = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
            ])
            .arg(format!("/CN={app}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .map_err(io_err(Path::new("openssl")))?;
        if !o.status.success() {
            return fail(format!(
                "openssl: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
    }
    Ok((crt, key))
}

/// In the docker runtime, rebuild the proxy after a change of ports, domains, certificates or
/// the proxy's state (Dokku's nginx-vhosts rebuilds the app's config on the same events).
pub fn refresh(ctx: &Ctx) -> Res {
    if crate::docker::enabled(&ctx.paths) {
        rebuild(ctx)?;
    }
    Ok(())
}

/// Rewrite every server block from the deployed state and (re)load nginx.
pub fn rebuild(ctx: &Ctx) -> Res {
    let d = dir(&ctx.paths);
    let conf_d = d.join("conf.d");
    mkdirs(&conf_d)?;
    // Parallel deploys rebuild one after the other (one nginx is started, never two).
    let lock_path = d.join("rebuild.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    let _lock =
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
            crate::ctx::Fail::Io {
                path: lock_path.display().to_string(),
                source: e.into(),
            }
        })?;
    mkdirs(&d.join("tmp"))?;
    let mut ports = load_ports(&ctx.paths)?;
    let mut blocks = String::new();
    for app in ctx.apps()? {
        let st = crate::deploy::load(ctx, &app)?;
        if !st.deployed || !st.running || ctx.prop_or("proxy", &app, "disabled")? == "true" {
            continue;
        }
        let mut maps = crate::cmd::ports::mappings(ctx, &app)?;
        if maps.is_empty() {
            maps.push(format!("http:80:{}", crate::docker::web_port(ctx, &app)?));
        }
        let ips: Vec<String> = st
            .containers
            .iter()
            .filter(|c| c.proc == "web" && c.state == "running")
            .filter_map(|c| {
                crate::docker::docker(&[
                    "container",
                    "inspect",
                    "--format",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                    &c.id,
                ])
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
            })
            .collect();
        if ips.is_empty() {
            continue;
        }
        let domains = crate::cmd::domains::app_domains(ctx, &app)?;
        let includes = ctx.paths.app_dir(&app).join("nginx.conf.d");
        for m in &maps {
            let parts: Vec<&str> = m.split(':').collect();
            let [scheme, _host, cport] = parts[..] else {
                continue;
            };
            if scheme != "http" && scheme != "https" {
                continue;
            }
            let port = match ports.get(&app).and_then(|p| p.get(m)) {
                Some(p) => *p,
                None => {
                    let p = free_port(&ports)?;
                    ports.entry(app.clone()).or_default().insert(m.clone(), p);
                    p
                }
            };
            let upstream = format!("{app}-{scheme}-{cport}");
            blocks.push_str(&format!("upstream {upstream} {{\n"));
            for ip in &ips {
                blocks.push_str(&format!("  server {ip}:{cport};\n"));
            }
            blocks.push_str("}\n");
            let ssl = if scheme == "https" {
                let (crt, key) = self_signed(&d, &app)?;
                format!(
                    " ssl;\n  ssl_certificate {};\n  ssl_certificate_key {}",
                    crt.display(),
                    key.display()
                )
            } else {
                String::new()
            };
            let names = if domains.is_empty() {
                "_".to_string()
            } else {
                domains.join(" ")
            };
            blocks.push_str(&format!(
                "server {{\n  listen 127.0.0.1:{port}{ssl};\n  server_name {names};\n  location / {{\n    proxy_pass http://{upstream};\n    proxy_http_version 1.1;\n    proxy_set_header Host $http_host;\n    proxy_set_header X-Forwarded-For $remote_addr;\n    proxy_set_header X-Forwarded-Proto $scheme;\n    proxy_set_header X-Request-Start $msec;\n  }}\n  include {}/*.conf;\n}}\n",
                includes.display()
            ));
        }
    }
    // Apps that are gone or no longer proxied keep no port.
    let live: Vec<String> = ctx.apps()?;
    ports.retain(|a, _| live.contains(a));
    write_atomic(
        &d.join("ports.json"),
        &serde_json::to_string_pretty(&ports).unwrap_or_default(),
    )?;
    write_atomic(&conf_d.join("apps.conf"), &blocks)?;
    let main = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 512; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  server_names_hash_bucket_size 128;\n  include {d}/conf.d/*.conf;\n}}\n",
        d = d.display()
    );
    write_atomic(&d.join("nginx.conf"), &main)?;
    let nginx = |extra: &[&str]| {
        let mut c = Command::new(nginx_bin());
        crate::docker::without_inherited_fds(&mut c);
        c.arg("-p")
            .arg(&d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .args(extra);
        c.output().map_err(io_err(Path::new("nginx")))
    };
    let t = nginx(&["-t", "-q"])?;
    if !t.status.success() {
        return fail(format!(
            "nginx: invalid configuration: {}",
            String::from_utf8_lossy(&t.stderr).trim()
        ));
    }
    let o = if running(&ctx.paths) {
        nginx(&["-s", "reload"])?
    } else {
        nginx(&[])?
    };
    if !o.status.success() {
        return fail(format!(
            "nginx: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(())
}

fn pid(paths: &Paths) -> Option<i32> {
    std::fs::read_to_string(dir(paths).join("nginx.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn running(paths: &Paths) -> bool {
    pid(paths).is_some_and(|p| Path::new(&format!("/proc/{p}")).exists())
}

/// Stop this sandbox's nginx.
pub fn stop(paths: &Paths) {
    if let Some(p) = pid(paths).filter(|_| running(paths)) {
        drop(
            Command::new("kill")
                .arg("-QUIT")
                .arg(p.to_string())
                .status(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_ports_are_looked_up_by_map_or_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            root: dir.path().join("home"),
            lib: dir.path().join("lib"),
        };
        let ports = r#"{"web": {"http:80:5000": 40001, "https:443:5000": 40002}}"#;
        mkdirs(&paths.sandbox_dir().join("nginx")).unwrap();
        std::fs::write(paths.sandbox_dir().join("nginx/ports.json"), ports).unwrap();
        assert_eq!(port_of(&paths, "web", None).unwrap(), 40001);
        assert_eq!(port_of(&paths, "web", Some("https")).unwrap(), 40002);
        assert_eq!(port_of(&paths, "web", Some("https:443")).unwrap(), 40002);
        assert!(port_of(&paths, "web", Some("http:8080")).is_err());
        assert!(port_of(&paths, "api", None).is_err());
    }
}
