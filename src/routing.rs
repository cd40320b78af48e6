//! Path routing (issue 7, docs/routing.md): `x-dokku.services.<svc>.paths` rendered into the
//! nginx include Dokku reads for the owning app (`$DOKKU_ROOT/<app>/nginx.conf.d/*.conf`,
//! included inside each of the app's `server` blocks by `nginx.conf.sigil`).
//!
//! [`includes`] checks the paths against the whole project (target services exist, are apps
//! with a port, and come first in the service graph), [`render`] is the pure tera rendering
//! (golden-tested in tests/routing.rs and checked there by the real `nginx -t`), and
//! [`install`] / [`restore`] are the executor's hook that writes the file before the step
//! that rebuilds the app's nginx config, and puts the previous one back on a rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::graph::ServiceGraph;
use crate::model::{Kind, ModelError, PathTarget, Project, ServiceName};

/// Config var holding the digest of the include the app was last given (like `DIGEST_VAR`),
/// so an unchanged stack plans nothing.
pub const PATHS_VAR: &str = "DOKKU_COMPOSE_PATHS";
/// The include's file name inside `$DOKKU_ROOT/<app>/nginx.conf.d/`.
pub const INCLUDE_FILE: &str = "dokku-compose-paths.conf";
/// The template, embedded (style R20).
pub(crate) const TEMPLATE: &str = include_str!("../templates/nginx-paths.conf.tera");

/// One `location` block, as the template reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The location path.
    pub path: String,
    /// `service`, `redirect`, `static` or `nginx`.
    pub kind: &'static str,
    /// `service`: the target app's Dokku upstream (`<app>-<container port>`).
    pub upstream: Option<String>,
    /// `redirect`: the URL.
    pub url: Option<String>,
    /// `static`: the host directory nginx serves (trailing `/` when the path has one).
    pub alias: Option<String>,
    /// `static` with `spa`: the `try_files` fallback (`<path>index.html`).
    pub fallback: Option<String>,
    /// `nginx`: the body's lines, trimmed.
    pub body: Vec<String>,
}

/// A directory of the pushed source the executor copies to where nginx serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticCopy {
    /// Relative to the pushed source (the project directory).
    pub from: String,
    /// Host directory.
    pub to: String,
}

/// The include of one owning app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Include {
    /// The owning app.
    pub app: String,
    /// Its compose service.
    pub service: String,
    /// The location blocks, in the order of `paths`.
    pub locations: Vec<Location>,
    /// Static directories to copy before the include is used.
    #[serde(skip)]
    pub statics: Vec<StaticCopy>,
}

fn err(path: &str, message: String) -> ModelError {
    ModelError::Extension {
        path: path.to_owned(),
        message,
    }
}

/// `services` that `service` depends on, directly or not.
fn ancestors<'a>(graph: &'a ServiceGraph, service: &ServiceName) -> BTreeSet<&'a ServiceName> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&ServiceName> = graph
        .dependencies
        .get(service)
        .into_iter()
        .flatten()
        .collect();
    while let Some(s) = todo.pop() {
        if seen.insert(s) {
            todo.extend(graph.dependencies.get(s).into_iter().flatten());
        }
    }
    seen
}

/// The includes of every service with `paths`, checked against the project. Static
/// directories are served from `<static_root>/<app>/<n>` (`n` the index in `paths`).
pub fn includes(
    project: &Project,
    graph: &ServiceGraph,
    static_root: &str,
) -> Result<BTreeMap<ServiceName, Include>, ModelError> {
    let mut out = BTreeMap::new();
    for (name, svc) in &project.services {
        if svc.settings.paths.is_empty() {
            continue;
        }
        let base = format!("x-dokku.services.{name}.paths");
        let Kind::App(app) = &svc.kind else {
            return Err(err(
                &base,
                format!("`{name}` is a datastore: only apps serve paths"),
            ));
        };
        if app.ports.is_empty() {
            return Err(err(&base, format!("`{name}` publishes no port and has no `proxy_port`: nginx does not serve it, so it cannot serve paths")));
        }
        let before = ancestors(graph, name);
        let mut inc = Include {
            app: app.app.to_string(),
            service: name.to_string(),
            locations: Vec::new(),
            statics: Vec::new(),
        };
        for (i, route) in svc.settings.paths.iter().enumerate() {
            let p = format!("{base}[{i}]");
            let mut loc = Location {
                path: route.path.clone(),
                kind: "nginx",
                upstream: None,
                url: None,
                alias: None,
                fallback: None,
                body: Vec::new(),
            };
            match &route.target {
                PathTarget::Service { service } => {
                    let p = format!("{p}.service");
                    let target = ServiceName::new(service);
                    let Some(t) = project.services.get(&target) else {
                        return Err(err(
                            &p,
                            format!("`{service}` is not a service of the stack"),
                        ));
                    };
                    let Kind::App(ta) = &t.kind else {
                        return Err(err(
                            &p,
                            format!("`{service}` is a datastore: only apps have an nginx upstream"),
                        ));
                    };
                    if &target == name {
                        return Err(err(&p, format!("`{service}` is the service itself")));
                    }
                    let Some(port) = ta
                        .ports
                        .iter()
                        .find(|pt| pt.scheme == "http")
                        .or_else(|| ta.ports.first())
                    else {
                        return Err(err(&p, format!("`{service}` publishes no port and has no `proxy_port`: it has no Dokku nginx upstream to proxy to")));
                    };
                    if !before.contains(&target) {
                        return Err(err(&p, format!("`{name}` must depend on `{service}` (`services.{name}.depends_on`): Dokku defines `{service}`'s upstream when it deploys it, and nginx refuses `{name}`'s config before that")));
                    }
                    loc.kind = "service";
                    loc.upstream = Some(format!("{}-{}", ta.app, port.container));
                }
                PathTarget::Redirect { url } => {
                    loc.kind = "redirect";
                    loc.url = Some(url.clone());
                }
                PathTarget::Static { dir, spa } => {
                    let to = format!("{}/{}/{i}", static_root.trim_end_matches('/'), app.app);
                    loc.kind = "static";
                    loc.alias = Some(if route.path.ends_with('/') {
                        format!("{to}/")
                    } else {
                        to.clone()
                    });
                    if *spa {
                        loc.fallback =
                            Some(format!("{}/index.html", route.path.trim_end_matches('/')));
                    }
                    inc.statics.push(StaticCopy {
                        from: dir.clone(),
                        to,
                    });
                }
                PathTarget::Nginx { body } => {
                    loc.body = body
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
            }
            inc.locations.push(loc);
        }
        out.insert(name.clone(), inc);
    }
    Ok(out)
}

/// Directives a custom `nginx` location may use without the `nginx-custom` policy rule
/// (issue #13): headers, redirects, rewrites, timeouts and buffers of the proxied request.
/// Nothing that names a host file (`alias`, `root`, `include`, `auth_basic_user_file`,
/// `access_log`), loads code (`load_module`, `*_by_lua*`, `perl`) or proxies outside the
/// stack (`proxy_pass` is allowed only to an upstream of the stack's own apps).
const NGINX_ALLOWED: &[&str] = &[
    "add_header",
    "add_trailer",
    "allow",
    "autoindex",
    "break",
    "charset",
    "client_body_buffer_size",
    "client_max_body_size",
    "default_type",
    "deny",
    "error_page",
    "etag",
    "expires",
    "gzip",
    "gzip_comp_level",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_types",
    "gzip_vary",
    "if",
    "if_modified_since",
    "index",
    "internal",
    "keepalive_timeout",
    "limit_rate",
    "log_not_found",
    "proxy_buffer_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_busy_buffers_size",
    "proxy_cache_bypass",
    "proxy_connect_timeout",
    "proxy_cookie_domain",
    "proxy_cookie_path",
    "proxy_hide_header",
    "proxy_http_version",
    "proxy_ignore_headers",
    "proxy_intercept_errors",
    "proxy_next_upstream",
    "proxy_no_cache",
    "proxy_pass",
    "proxy_pass_header",
    "proxy_read_timeout",
    "proxy_redirect",
    "proxy_request_buffering",
    "proxy_send_timeout",
    "proxy_set_header",
    "return",
    "rewrite",
    "send_timeout",
    "set",
    "sub_filter",
    "sub_filter_once",
    "sub_filter_types",
    "try_files",
];

/// One directive of a custom location body: its name, arguments (quotes removed) and
/// whether it opens a block.
struct Directive {
    name: String,
    args: Vec<String>,
}

/// Why an nginx body does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum BodyError {
    #[error("an unterminated quote")]
    UnterminatedQuote,
    #[error("a directive without `;` before `}}`")]
    UnterminatedBeforeClose,
    #[error("a `}}` closing more than it opened")]
    UnbalancedClose,
    #[error("an empty statement before `{0}`")]
    EmptyStatement(char),
    #[error("a directive without `;`")]
    Unterminated,
    #[error("an unclosed `{{`")]
    Unclosed,
}

/// Splits an nginx body into directives (nested blocks flattened); `Err` when it does not
/// parse (an unbalanced brace or quote could close the location and open another block).
fn directives(body: &str) -> Result<Vec<Directive>, BodyError> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut chars = body.chars().peekable();
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '#' if word.is_none() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' if word.is_none() => {
                let mut w = String::new();
                let mut closed = false;
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => w.extend(chars.next()),
                        d if d == c => {
                            closed = true;
                            break;
                        }
                        d => w.push(d),
                    }
                }
                if !closed {
                    return Err(BodyError::UnterminatedQuote);
                }
                words.push(w);
            }
            ';' | '{' | '}' => {
                words.extend(word.take());
                if c == '}' {
                    if !words.is_empty() {
                        return Err(BodyError::UnterminatedBeforeClose);
                    }
                    depth = depth.checked_sub(1).ok_or(BodyError::UnbalancedClose)?;
                    continue;
                }
                if words.is_empty() {
                    return Err(BodyError::EmptyStatement(c));
                }
                if c == '{' {
                    depth += 1;
                }
                let name = words.remove(0);
                out.push(Directive {
                    name,
                    args: std::mem::take(&mut words),
                });
            }
            c if c.is_whitespace() => words.extend(word.take()),
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word.take());
    if !words.is_empty() {
        return Err(BodyError::Unterminated);
    }
    if depth != 0 {
        return Err(BodyError::Unclosed);
    }
    Ok(out)
}

/// What a custom location `body` needs the `nginx-custom` policy rule for: each directive
/// outside the allow-list, `proxy_pass` anywhere but the Dokku upstream of one of `apps` (the
/// stack's apps: `http://<app>-<port>`), and a body that does not parse.
pub(crate) fn nginx_custom_violations(apps: &[String], body: &str) -> Vec<String> {
    let list = match directives(body) {
        Ok(l) => l,
        Err(e) => return vec![format!("the nginx body does not parse: {e}")],
    };
    let mut out = Vec::new();
    for d in list {
        if d.name == "access_log" {
            // Only `off`: a log path is a file nginx's master process (root) opens.
            if d.args != ["off"] {
                out.push("uses `access_log` with a file; only `access_log off` is on the allow-list of custom locations".to_owned());
            }
        } else if !NGINX_ALLOWED.contains(&d.name.as_str()) {
            out.push(format!(
                "uses nginx directive `{}`, which is not on the allow-list of custom locations",
                d.name
            ));
        } else if d.name == "proxy_pass" {
            let target = d.args.first().map_or("", String::as_str);
            let host = target
                .strip_prefix("http://")
                .or_else(|| target.strip_prefix("https://"))
                .map(|rest| rest.split(['/', ':']).next().unwrap_or_default());
            let ours = host.is_some_and(|h| {
                apps.iter().any(|a| {
                    h.strip_prefix(a.as_str())
                        .and_then(|r| r.strip_prefix('-'))
                        .is_some_and(|port| {
                            !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
                        })
                })
            });
            if !ours || d.args.len() != 1 {
                out.push(format!("proxies to `{target}`, not to the upstream of an app of the stack (`http://<app>-<port>`)"));
            }
        }
    }
    out
}

/// The include's text (pure; golden-tested).
pub fn render(include: &Include) -> String {
    let ctx = tera::Context::from_serialize(include).expect("an include serialises");
    // The template and its inputs are ours and validated: a failure here is a bug.
    let mut out = tera::Tera::one_off(TEMPLATE, &ctx, false)
        .unwrap_or_else(|e| panic!("templates/nginx-paths.conf.tera: {e:?}"));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// What `PATHS_VAR` holds: the include's text and what each static directory holds
/// (`source_key(dir)`), so a change to either rewrites it.
pub(crate) fn digest(
    content: &str,
    statics: &[StaticCopy],
    source_key: impl Fn(&str) -> String,
) -> String {
    let mut h = Sha256::new();
    h.update(content.as_bytes());
    for s in statics {
        for part in ["\0", &s.from, "=", &source_key(&s.from), ">", &s.to] {
            h.update(part.as_bytes());
        }
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

// ---- Effects: the executor's hook (exec::executor), kept next to the format they write ----

/// `$DOKKU_ROOT/<app>/nginx.conf.d/dokku-compose-paths.conf`.
pub(crate) fn include_path(dokku_root: &Path, app: &str) -> PathBuf {
    dokku_root.join(app).join("nginx.conf.d").join(INCLUDE_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_13_custom_locations_use_an_allow_list() {
        let v = |body: &str| {
            nginx_custom_violations(&["shop-api".to_owned(), "shop-web".to_owned()], body)
        };
        assert!(v("proxy_set_header X-A 1;\nadd_header Cache-Control \"no-store; private\";\nexpires 1h;\nif ($x) { return 404; }\n# alias /etc/;\n").is_empty());
        assert!(v("proxy_pass http://shop-api-5000/v1;").is_empty());
        assert_eq!(
            v("alias /etc/;"),
            ["uses nginx directive `alias`, which is not on the allow-list of custom locations"]
        );
        assert_eq!(
            v("root /;"),
            ["uses nginx directive `root`, which is not on the allow-list of custom locations"]
        );
        assert_eq!(v("proxy_pass http://unix:/var/run/docker.sock:/;"), ["proxies to `http://unix:/var/run/docker.sock:/`, not to the upstream of an app of the stack (`http://<app>-<port>`)"]);
        assert_eq!(v("proxy_pass http://other-web-5000;").len(), 1);
        assert_eq!(
            v("proxy_pass http://shop-api-x-5000;").len(),
            1,
            "another stack's app"
        );
        assert_eq!(v("proxy_pass http://$host;").len(), 1);
        assert_eq!(v("include /etc/passwd;").len(), 1);
        assert!(v("access_log off;").is_empty());
        assert_eq!(v("access_log /etc/cron.d/x;").len(), 1);
        assert_eq!(v("access_by_lua_file /tmp/x.lua; perl Module::handler;"), ["uses nginx directive `access_by_lua_file`, which is not on the allow-list of custom locations", "uses nginx directive `perl`, which is not on the allow-list of custom locations"]);
        assert_eq!(
            v("content_by_lua_block { os.execute('x') }").len(),
            1,
            "not nginx syntax: refused as unparsable"
        );
        assert_eq!(
            v("return 200; } location /x { alias /etc/; "),
            ["the nginx body does not parse: a `}` closing more than it opened"]
        );
        assert_eq!(v("return 200").len(), 1);
        assert_eq!(v("add_header X \"a;").len(), 1);
    }
    use crate::model::{from_compose_json, ConvertOptions, StackName};
    use serde_json::json;

    fn includes_of(
        x: serde_json::Value,
        services: serde_json::Value,
    ) -> Result<BTreeMap<ServiceName, Include>, ModelError> {
        let opts = ConvertOptions {
            stack: StackName::parse("shop").unwrap(),
            project_dir: "/p".into(),
        };
        let (p, _) = from_compose_json(
            &json!({"services": services, "x-dokku": {"services": x}}),
            &opts,
        )?;
        let g = crate::graph::build(&p).unwrap();
        includes(&p, &g, "/data/shop/static")
    }

    #[test]
    fn routing_renders_every_kind() {
        let inc = includes_of(
            json!({"web": {"domains": ["shop.example.com"], "paths": [
                {"path": "/api/", "service": "api"},
                {"path": "/old", "redirect": "https://example.com/new"},
                {"path": "/assets/", "static": "./public", "spa": true},
                {"path": "/healthz", "nginx": "return 200 'ok';"}
            ]}}),
            json!({"web": {"image": "nginx", "ports": [{"target": 80, "published": "80"}], "depends_on": {"api": {"condition": "service_started"}}}, "api": {"image": "api", "ports": [{"target": 5000, "published": "8080"}]}}),
        )
        .unwrap();
        let web = &inc[&ServiceName::new("web")];
        assert_eq!(web.app, "shop-web");
        let text = render(web);
        assert!(
            text.contains("location /api/ {\n    proxy_pass http://shop-api-5000;"),
            "{text}"
        );
        assert!(
            text.contains("location /old {\n    return 302 https://example.com/new;\n}"),
            "{text}"
        );
        assert!(text.contains("    alias /data/shop/static/shop-web/2/;\n    try_files $uri $uri/ /assets/index.html;"), "{text}");
        assert!(
            text.contains("location /healthz {\n    return 200 'ok';\n}"),
            "{text}"
        );
        assert_eq!(
            web.statics,
            [StaticCopy {
                from: "public".into(),
                to: "/data/shop/static/shop-web/2".into()
            }]
        );
    }

    #[test]
    fn routing_errors_name_the_key_path() {
        let svcs = json!({"web": {"image": "nginx", "ports": [{"target": 80, "published": "80"}]}, "api": {"image": "api", "ports": [{"target": 5000, "published": "8080"}]}, "db": {"image": "postgres:16"}, "bg": {"image": "w"}});
        let e = |paths: serde_json::Value| {
            includes_of(json!({"web": {"paths": paths}}), svcs.clone())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e(json!([{"path": "api", "service": "api"}])),
            "`x-dokku.services.web.paths[0].path`: `api` must start with `/`"
        );
        assert_eq!(e(json!([{"path": "/a b", "service": "api"}])), "`x-dokku.services.web.paths[0].path`: `/a b` must not contain whitespace, quotes, `{`, `}` or `;`");
        assert_eq!(e(json!([{"path": "/a", "redirect": "https://x/;evil"}])), "`x-dokku.services.web.paths[0].redirect`: `https://x/;evil` must not contain whitespace, quotes, `{`, `}` or `;`");
        assert_eq!(e(json!([{"path": "/a"}, {"path": "/b", "service": "api", "redirect": "https://x"}])), "`x-dokku.services.web.paths[0]`: needs exactly one of `service`, `redirect`, `static`, `nginx` (given: none)");
        assert_eq!(e(json!([{"path": "/a", "redirect": "https://x"}, {"path": "/b", "static": "../etc"}])), "`x-dokku.services.web.paths[1].static`: `../etc` must be a directory inside the project (relative, without leaving it with `..`)");
        assert_eq!(e(json!([{"path": "/b", "static": "/etc"}])), "`x-dokku.services.web.paths[0].static`: `/etc` must be a directory inside the project (relative, without leaving it with `..`)");
        assert_eq!(e(json!([{"path": "/b", "nginx": "return 200; }"}])), "`x-dokku.services.web.paths[0].nginx`: has unbalanced braces or quotes: it must be the body of one location block");
        assert_eq!(e(json!([{"path": "/b", "nginx": "if ($x) { return 200;"}])), "`x-dokku.services.web.paths[0].nginx`: has unbalanced braces or quotes: it must be the body of one location block");
        assert_eq!(
            e(json!([{"path": "/b", "redirect": "https://x", "spa": true}])),
            "`x-dokku.services.web.paths[0].spa`: only applies to `static`"
        );
        assert_eq!(e(json!([{"path": "/", "redirect": "https://x"}])), "`x-dokku.services.web.paths[0].path`: `/` is the app itself (Dokku's own `location /`): route a sub-path");
        assert_eq!(
            e(json!([{"path": "/a", "service": "nope"}])),
            "`x-dokku.services.web.paths[0].service`: `nope` is not a service of the stack"
        );
        assert_eq!(e(json!([{"path": "/a", "service": "db"}])), "`x-dokku.services.web.paths[0].service`: `db` is a datastore: only apps have an nginx upstream");
        assert_eq!(e(json!([{"path": "/a", "service": "bg"}])), "`x-dokku.services.web.paths[0].service`: `bg` publishes no port and has no `proxy_port`: it has no Dokku nginx upstream to proxy to");
        assert!(e(json!([{"path": "/a", "service": "api"}]))
            .starts_with("`x-dokku.services.web.paths[0].service`: `web` must depend on `api`"));
        let e = includes_of(
            json!({"bg": {"paths": [{"path": "/a", "redirect": "https://x"}]}}),
            svcs.clone(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "`x-dokku.services.bg.paths`: `bg` publishes no port and has no `proxy_port`: nginx does not serve it, so it cannot serve paths");
        // Braces inside quotes and comments do not count.
        assert!(includes_of(
            json!({"web": {"paths": [{"path": "/b", "nginx": "return 200 '}'; # {"}]}}),
            svcs
        )
        .is_ok());
    }
}
