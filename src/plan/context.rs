//! The generated build context each app is deployed from (docs/mapping.md "Images and
//! builds"): for image services a Dockerfile `FROM <image>` with the compose overrides
//! (ENTRYPOINT, CMD, WORKDIR, USER, copied files) and an app.json with the health check; for
//! build services the context directory of the pushed source plus an overlay under
//! `.dokku-compose/<service>/`. Rendering is pure; the executor packs the archive.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::dokku::Stdin;
use crate::model::{AppSpec, FileSource, ServiceName, Source};

/// The overlay directory of a build service inside its context.
pub fn overlay_dir(service: &ServiceName) -> String {
    format!(".dokku-compose/{service}")
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

/// app.json with the compose health check as a Dokku startup check of the `web` process.
pub fn app_json(app: &AppSpec) -> Option<String> {
    let h = app.healthcheck.as_ref()?;
    let mut check = serde_json::Map::new();
    check.insert("type".into(), json!("startup"));
    check.insert("name".into(), json!("compose healthcheck"));
    check.insert("command".into(), json!(h.command));
    if let Some(r) = h.retries {
        check.insert("attempts".into(), json!(r));
    }
    if let Some(t) = h.timeout {
        check.insert("timeout".into(), json!(t));
    }
    if let Some(w) = h.interval {
        check.insert("wait".into(), json!(w));
    }
    if let Some(d) = h.start_period {
        check.insert("initialDelay".into(), json!(d));
    }
    let doc = json!({ "healthchecks": { "web": [check] } });
    Some(serde_json::to_string_pretty(&doc).expect("json") + "\n")
}

/// The archive for `git:from-archive`, with its digest. `source_rev` identifies the pushed
/// source for build services (a git revision), so that a new push redeploys them.
pub fn build_context(service: &ServiceName, app: &AppSpec, source_rev: &str) -> Stdin {
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
                let _ = writeln!(df, "COPY {} {}", json_list(&[inner]).trim_matches(['[', ']']), target);
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
                let words: Vec<String> = c.iter().map(|w| crate::dokku::cmd::shell_quote(w)).collect();
                files.insert(format!("{dir}/Procfile"), format!("web: {}\n", words.join(" ")));
            }
            Some(b.context.clone())
        }
    };
    // Only contexts that read the pushed source change with its revision.
    let rev = if base.is_some() || !copies.is_empty() { source_rev } else { "" };
    let mut h = Sha256::new();
    h.update(format!("{base:?}\0{rev}\0").as_bytes());
    for (k, v) in &files {
        h.update(format!("f\0{k}\0{v}\0").as_bytes());
    }
    for (k, v) in &copies {
        h.update(format!("c\0{k}\0{v}\0").as_bytes());
    }
    let mut digest = String::with_capacity(71);
    digest.push_str("sha256:");
    for b in h.finalize() {
        let _ = write!(digest, "{b:02x}");
    }
    Stdin::Archive { base, files, copies, digest }
}
