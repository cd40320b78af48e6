//! The kubectl stand-in: the sandbox binary run as `kubectl` (a link named `kubectl` to it, the
//! plugin's `DOKKU_COMPOSE_KUBECTL` in tests). It serves what dokku-compose and Dokku's
//! scheduler-k3s use, on the sandbox's cluster object store ([`crate::kube`]):
//!
//! - `apply -f -`: an object or a `List` on stdin; every object is checked as the API server
//!   would (kinds it serves, names, the schema in strict mode through `KUBE_VALIDATE_BIN`), and
//!   nothing is stored unless all pass. An object that exists keeps what the server assigned
//!   (uid, creation time, cluster IP).
//! - `get <kind> [<name>] [-n <ns>] [-l <selector>] -o json [--ignore-not-found]`.
//! - `delete <kind> <name> [-n <ns>] [--ignore-not-found]`.
//!
//! `KUBECONFIG` must be k3s's (`/etc/rancher/k3s/k3s.yaml`), as Dokku's scheduler-k3s sets it.

use std::io::Read as _;

use serde_json::{json, Value};

use crate::ctx::Paths;
use crate::kube;

/// The kubeconfig Dokku's scheduler-k3s (and so the plugin) passes.
pub const KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

/// Entry point; the exit status.
pub fn main(args: Vec<String>) -> u8 {
    match run(args) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

struct Parsed {
    words: Vec<String>,
    namespace: String,
    selector: Option<String>,
    output: Option<String>,
    file: Option<String>,
    ignore_not_found: bool,
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut p = Parsed {
        words: Vec::new(),
        namespace: "default".into(),
        selector: None,
        output: None,
        file: None,
        ignore_not_found: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("error: flag needs an argument: {flag}"))
        };
        match a.as_str() {
            "-n" | "--namespace" => p.namespace = value(a)?,
            "-l" | "--selector" => p.selector = Some(value(a)?),
            "-o" | "--output" => p.output = Some(value(a)?),
            "-f" | "--filename" => p.file = Some(value(a)?),
            "--ignore-not-found" | "--ignore-not-found=true" => p.ignore_not_found = true,
            s if s.starts_with("--namespace=") => p.namespace = s[12..].into(),
            s if s.starts_with("--selector=") => p.selector = Some(s[11..].into()),
            s if s.starts_with("--output=") => p.output = Some(s[9..].into()),
            s if s.starts_with('-') => return Err(format!("error: unknown flag: {s}")),
            s => p.words.push(s.to_owned()),
        }
    }
    Ok(p)
}

fn run(args: Vec<String>) -> Result<String, String> {
    if std::env::var("KUBECONFIG").as_deref() != Ok(KUBECONFIG) {
        return Err(format!(
            "error: KUBECONFIG is not {KUBECONFIG}: Dokku's scheduler-k3s reaches the cluster with k3s's kubeconfig"
        ));
    }
    let paths = Paths::from_env()?;
    let p = parse(&args)?;
    let verb = p.words.first().map(String::as_str).unwrap_or("");
    match verb {
        "apply" => apply(&paths, &p),
        "get" => get(&paths, &p),
        "delete" => delete(&paths, &p),
        "" => Err("error: the sandbox's kubectl needs a command (apply, get, delete)".into()),
        other => Err(format!(
            "error: unknown command \"{other}\" for the sandbox's kubectl (apply, get, delete)"
        )),
    }
}

fn apply(paths: &Paths, p: &Parsed) -> Result<String, String> {
    if p.file.as_deref() != Some("-") {
        return Err("error: the sandbox's kubectl applies from stdin only (`apply -f -`)".into());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("error: reading stdin: {e}"))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("error: error parsing STDIN: {e}"))?;
    let items: Vec<Value> = if doc["kind"] == "List" {
        doc["items"]
            .as_array()
            .cloned()
            .ok_or("error: a List without items")?
    } else {
        vec![doc]
    };
    // Every object is checked before any is stored.
    let mut resolved = Vec::new();
    for mut o in items {
        let api = o["apiVersion"].as_str().unwrap_or("").to_owned();
        let kind = o["kind"].as_str().unwrap_or("").to_owned();
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let Some((_, _, k, namespaced)) = kube::served(&api, &kind) else {
            return Err(format!(
                "error: resource mapping not found for name: \"{name}\": no matches for kind \"{kind}\" in version \"{api}\""
            ));
        };
        let ns = if *namespaced {
            match o["metadata"]["namespace"].as_str() {
                Some(n) if n != p.namespace && p.namespace != "default" => {
                    return Err(format!("error: the namespace from the provided object \"{n}\" does not match the namespace \"{}\". You must pass '--namespace={n}' to perform this operation.", p.namespace));
                }
                Some(n) => n.to_owned(),
                None => {
                    o["metadata"]["namespace"] = json!(p.namespace);
                    p.namespace.clone()
                }
            }
        } else {
            String::new()
        };
        kube::validate::semantics(&o)?;
        resolved.push((ns, *k, name, o));
    }
    let objects: Vec<Value> = resolved.iter().map(|(.., o)| o.clone()).collect();
    if !objects.is_empty() {
        kube::validate::schema(&objects)?;
    }
    let mut out = String::new();
    for (ns, kind, name, mut o) in resolved {
        let before = kube::get(paths, &ns, kind, &name)?;
        let meta = o["metadata"].as_object_mut().ok_or("error: metadata")?;
        let verb = match &before {
            Some(b) => {
                for k in ["uid", "creationTimestamp"] {
                    if let Some(v) = b["metadata"].get(k) {
                        meta.insert(k.into(), v.clone());
                    }
                }
                if kind == "Service" && o["spec"]["clusterIP"].is_null() {
                    if let Some(ip) = b["spec"].get("clusterIP") {
                        o["spec"]["clusterIP"] = ip.clone();
                    }
                }
                if before.as_ref() == Some(&o) {
                    "unchanged"
                } else {
                    "configured"
                }
            }
            None => {
                meta.insert("uid".into(), json!(uid(&ns, kind, &name)));
                meta.insert("creationTimestamp".into(), json!(now()));
                if kind == "Service"
                    && o["spec"]["clusterIP"].is_null()
                    && o["spec"]["type"].as_str().unwrap_or("ClusterIP") == "ClusterIP"
                {
                    o["spec"]["clusterIP"] = json!(cluster_ip(&ns, &name));
                }
                "created"
            }
        };
        kube::put(paths, &ns, kind, &name, &o)?;
        out.push_str(&format!("{}/{name} {verb}\n", kind.to_ascii_lowercase()));
    }
    Ok(out)
}

fn uid(ns: &str, kind: &str, name: &str) -> String {
    use sha1::Digest as _;
    let d = sha1::Sha1::digest(format!(
        "{ns}/{kind}/{name}/{}/{}",
        now(),
        std::process::id()
    ));
    let h: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn cluster_ip(ns: &str, name: &str) -> String {
    use sha1::Digest as _;
    let d = sha1::Sha1::digest(format!("{ns}/{name}"));
    format!("10.43.{}.{}", d[0], d[1].max(1))
}

fn now() -> String {
    crate::harness::rfc3339(crate::harness::now_ms())
}

fn get(paths: &Paths, p: &Parsed) -> Result<String, String> {
    let resource = p
        .words
        .get(1)
        .ok_or("error: you must specify the type of resource to get")?;
    let (_, _, kind, namespaced) = kube::kind_of(resource)
        .ok_or_else(|| format!("error: the server doesn't have a resource type \"{resource}\""))?;
    if p.output.as_deref() != Some("json") {
        return Err("error: the sandbox's kubectl prints JSON only (`-o json`)".into());
    }
    let ns = if *namespaced {
        p.namespace.as_str()
    } else {
        ""
    };
    if let Some(name) = p.words.get(2) {
        return match kube::get(paths, ns, kind, name)? {
            Some(o) => Ok(serde_json::to_string_pretty(&o).map_err(|e| e.to_string())? + "\n"),
            None if p.ignore_not_found => Ok(String::new()),
            None => Err(format!(
                "Error from server (NotFound): {}s \"{name}\" not found",
                kind.to_ascii_lowercase()
            )),
        };
    }
    let items: Vec<Value> = kube::list(paths, ns, kind)?
        .into_iter()
        .filter(|o| {
            p.selector
                .as_deref()
                .is_none_or(|s| kube::selector_matches(s, &o["metadata"]["labels"]))
        })
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
    Ok(serde_json::to_string_pretty(&list).map_err(|e| e.to_string())? + "\n")
}

fn delete(paths: &Paths, p: &Parsed) -> Result<String, String> {
    let resource = p
        .words
        .get(1)
        .ok_or("error: you must specify the type of resource to delete")?;
    let (_, _, kind, namespaced) = kube::kind_of(resource)
        .ok_or_else(|| format!("error: the server doesn't have a resource type \"{resource}\""))?;
    let names = &p.words[2.min(p.words.len())..];
    if names.is_empty() {
        return Err("error: resource(s) were provided, but no name was specified".into());
    }
    let ns = if *namespaced {
        p.namespace.as_str()
    } else {
        ""
    };
    let mut out = String::new();
    for name in names {
        if kube::remove(paths, ns, kind, name)? {
            out.push_str(&format!(
                "{} \"{name}\" deleted\n",
                kind.to_ascii_lowercase()
            ));
        } else if !p.ignore_not_found {
            return Err(format!(
                "Error from server (NotFound): {}s \"{name}\" not found",
                kind.to_ascii_lowercase()
            ));
        }
    }
    Ok(out)
}
