//! The generated build context each app is deployed from (docs/mapping.md "Images and
//! builds"): for image services a Dockerfile `FROM <image>` with the compose overrides
//! (ENTRYPOINT, CMD, WORKDIR, USER, copied files) and an app.json with the health check; for
//! build services the context directory of the pushed source plus an overlay under
//! `.dokku-compose/<service>/`. Rendering is pure; the executor packs the archive.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dokku::Stdin;
use crate::model::{AppSpec, FileSource, ServiceName, Source};

/// The overlay directory of a build service inside its context.
pub(crate) fn overlay_dir(service: &ServiceName) -> String {
    format!(".dokku-compose/{service}")
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

/// One startup check of app.json. The fields are in key order, as a JSON object prints them.
#[derive(Serialize)]
struct Check<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<u64>,
    command: &'a [String],
    #[serde(rename = "initialDelay", skip_serializing_if = "Option::is_none")]
    initial_delay: Option<u64>,
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<u64>,
}

#[derive(Serialize)]
struct Checks<'a> {
    web: [Check<'a>; 1],
}

#[derive(Serialize)]
struct AppJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    formation: Option<super::k3s_appjson::Formation<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthchecks: Option<Checks<'a>>,
}

/// app.json with the compose health check as a Dokku startup check of the `web` process (on
/// k3s, the pods' startup probe), and the KEDA autoscaling of `x-dokku` (k3s only).
pub(crate) fn app_json(app: &AppSpec) -> Option<String> {
    let formation = super::k3s_appjson::formation(app);
    let Some(h) = app.healthcheck.as_ref() else {
        let doc = AppJson {
            formation: Some(formation?),
            healthchecks: None,
        };
        return Some(serde_json::to_string_pretty(&doc).expect("json") + "\n");
    };
    let check = Check {
        attempts: h.retries,
        command: &h.command,
        initial_delay: h.start_period,
        name: "compose healthcheck",
        timeout: h.timeout,
        kind: "startup",
        wait: h.interval,
    };
    let doc = AppJson {
        formation,
        healthchecks: Some(Checks { web: [check] }),
    };
    Some(serde_json::to_string_pretty(&doc).expect("json") + "\n")
}

/// The archive for `git:from-archive`, with its digest. `source_rev` identifies the pushed
/// source for build services (a git revision), so that a new push redeploys them.
pub(crate) fn build_context(service: &ServiceName, app: &AppSpec, source_rev: &str) -> Stdin {
    let mut files = BTreeMap::new();
    let mut copies = BTreeMap::new();
    let base = match &app.source {
        Source::Image { image } => {
            let mut df = format!("FROM {image}\n");
            for (target, src) in &app.files {
                let inner = format!("files{target}");
                match src {
                    FileSource::Source { path } => {
                        copies.insert(inner.clone(), path.clone());
                    }
                    FileSource::Content { content } => {
                        files.insert(inner.clone(), content.clone());
                    }
                }
                let _ = writeln!(
                    df,
                    "COPY {} {}",
                    json_list(&[inner]).trim_matches(['[', ']']),
                    target
                );
            }
            if let Some(w) = &app.working_dir {
                let _ = writeln!(df, "WORKDIR {w}");
            }
            if let Some(u) = &app.user {
                let _ = writeln!(df, "USER {u}");
            }
            if let Some(e) = &app.entrypoint {
                let _ = writeln!(df, "ENTRYPOINT {}", json_list(e));
            }
            if let Some(c) = &app.command {
                let _ = writeln!(df, "CMD {}", json_list(c));
            }
            files.insert("Dockerfile".into(), df);
            if let Some(j) = app_json(app) {
                files.insert("app.json".into(), j);
            }
            None
        }
        Source::Build(b) => {
            let dir = overlay_dir(service);
            if let Some(j) = app_json(app) {
                files.insert(format!("{dir}/app.json"), j);
            }
            if let Some(c) = &app.command {
                let words: Vec<String> = c
                    .iter()
                    .map(|w| crate::dokku::cmd::shell_quote(w))
                    .collect();
                files.insert(
                    format!("{dir}/Procfile"),
                    format!("web: {}\n", words.join(" ")),
                );
            }
            Some(b.context.clone())
        }
    };
    // Only contexts that read the pushed source change with its revision.
    let rev = if base.is_some() || !copies.is_empty() {
        source_rev
    } else {
        ""
    };
    // Hashed piece by piece: the same bytes as `format!("{base:?}\0{rev}\0")`, then
    // `f\0{k}\0{v}\0` per file and `c\0{k}\0{v}\0` per copy.
    let mut h = Sha256::new();
    match &base {
        None => h.update(b"None"),
        Some(b) => h.update(format!("Some({b:?})").as_bytes()),
    }
    for part in ["\0", rev, "\0"] {
        h.update(part.as_bytes());
    }
    for (tag, map) in [("f", &files), ("c", &copies)] {
        for (k, v) in map {
            for part in [tag, "\0", k, "\0", v, "\0"] {
                h.update(part.as_bytes());
            }
        }
    }
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    Stdin::Archive {
        app: app.app.to_string(),
        base,
        files,
        copies,
        digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_compose_json, ConvertOptions, StackName};

    fn app(service: serde_json::Value) -> AppSpec {
        let opts = ConvertOptions {
            stack: StackName::parse("s").unwrap(),
            project_dir: "/p".into(),
        };
        let json = serde_json::json!({"services": {"web": service}, "configs": {"motd": {"content": "hi"}}});
        let (p, _) = from_compose_json(&json, &opts).unwrap();
        p.services[&ServiceName::new("web")].app().unwrap().clone()
    }

    #[test]
    fn image_service_dockerfile() {
        let a = app(serde_json::json!({
            "image": "nginx:1.27", "command": ["nginx", "-g", "daemon off;"], "entrypoint": ["/docker-entrypoint.sh"],
            "working_dir": "/srv", "user": "101",
            "volumes": [{"type": "bind", "source": "/p/conf/site.conf", "target": "/etc/nginx/conf.d/site.conf", "read_only": true}],
            "configs": [{"source": "motd", "target": "/etc/motd"}],
            "healthcheck": {"test": ["CMD-SHELL", "curl -f localhost"], "retries": 3, "interval": "5s"}
        }));
        let Stdin::Archive {
            base,
            files,
            copies,
            digest,
            ..
        } = build_context(&ServiceName::new("web"), &a, "rev")
        else {
            panic!("an archive")
        };
        assert_eq!(base, None);
        assert_eq!(
            files["Dockerfile"],
            "FROM nginx:1.27\nCOPY \"files/etc/motd\" /etc/motd\nCOPY \"files/etc/nginx/conf.d/site.conf\" /etc/nginx/conf.d/site.conf\nWORKDIR /srv\nUSER 101\nENTRYPOINT [\"/docker-entrypoint.sh\"]\nCMD [\"nginx\",\"-g\",\"daemon off;\"]\n"
        );
        assert_eq!(files["files/etc/motd"], "hi");
        assert_eq!(copies["files/etc/nginx/conf.d/site.conf"], "conf/site.conf");
        let appjson: serde_json::Value = serde_json::from_str(&files["app.json"]).unwrap();
        assert_eq!(
            appjson,
            serde_json::json!({"healthchecks": {"web": [{"type": "startup", "name": "compose healthcheck", "command": ["/bin/sh", "-c", "curl -f localhost"], "attempts": 3, "wait": 5}]}})
        );
        // Image contexts do not depend on the source revision unless they copy source files.
        let b = app(serde_json::json!({"image": "nginx:1.27"}));
        let d1 = build_context(&ServiceName::new("web"), &b, "one");
        let d2 = build_context(&ServiceName::new("web"), &b, "two");
        assert_eq!(d1, d2);
        assert!(digest.starts_with("sha256:") && digest.len() == 71);
    }

    #[test]
    fn build_service_overlay() {
        let a = app(
            serde_json::json!({"build": {"context": "/p/api", "dockerfile": "Dockerfile"}, "command": "bin/server --port 80"}),
        );
        let Stdin::Archive { base, files, .. } = build_context(&ServiceName::new("web"), &a, "rev")
        else {
            panic!("an archive")
        };
        assert_eq!(base.as_deref(), Some("api"));
        assert_eq!(
            files[".dokku-compose/web/Procfile"],
            "web: bin/server --port 80\n"
        );
        let other = build_context(&ServiceName::new("web"), &a, "rev2");
        assert_ne!(
            build_context(&ServiceName::new("web"), &a, "rev"),
            other,
            "a new push redeploys build services"
        );
    }
}
