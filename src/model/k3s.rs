//! Dokku's k3s scheduler (issue 21): the `x-dokku` keys that say where a stack runs and what
//! a cluster needs from it (scheduler, registry, volume claims, KEDA autoscaling), and the
//! pure conversions of compose values to Kubernetes ones (memory and CPU quantities, volume
//! sizes). Which compose keys are mapped, ignored or refused on k3s is decided in
//! `plan::k3s`, where the scheduler of every app is known (docs/mapping.md, "k3s" column).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::error::ModelError;
use super::names::StorageName;

/// A Dokku scheduler the plan knows how to map onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheduler {
    /// `docker-local`, Dokku's default: containers on the Dokku host.
    DockerLocal,
    /// `k3s`: Kubernetes through Dokku's `scheduler-k3s` plugin.
    K3s,
}

impl Scheduler {
    /// The value of `scheduler:set <app> selected`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scheduler::DockerLocal => "docker-local",
            Scheduler::K3s => "k3s",
        }
    }

    /// Reads a `selected` value; an empty one is Dokku's default.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "" | "docker-local" => Some(Scheduler::DockerLocal),
            "k3s" => Some(Scheduler::K3s),
            _ => None,
        }
    }
}

/// `x-dokku.registry`: the registry k3s pulls the apps' images from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// `registry:set <app> server`.
    pub server: String,
    /// `registry:set <app> image-repo-template` (Dokku's default is the app name).
    pub image_repo_template: Option<String>,
}

/// The PersistentVolumeClaim of one volume on k3s (`x-dokku.volumes.<volume>`, or the
/// volume's `driver_opts.size`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// `--size`, a Kubernetes quantity; [`DEFAULT_SIZE`] when not given.
    pub size: Option<String>,
    /// `--access-mode` (`ReadWriteOnce`, `ReadWriteMany`, `ReadOnlyMany`, `ReadWriteOncePod`).
    pub access_mode: Option<String>,
    /// `--storage-class-name`.
    pub storage_class: Option<String>,
}

/// The size of a claim that names none.
pub(crate) const DEFAULT_SIZE: &str = "1Gi";

const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadWriteMany",
    "ReadOnlyMany",
    "ReadWriteOncePod",
];

/// `x-dokku.services.<svc>.autoscaling`: app.json `formation.web.autoscaling` (KEDA), with
/// the field names of Dokku's app-json plugin (`FormationAutoscaling`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Autoscaling {
    /// Seconds between scaling events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_period_seconds: Option<u32>,
    /// Most instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u32>,
    /// Fewest instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_quantity: Option<u32>,
    /// Seconds between trigger polls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polling_interval_seconds: Option<u32>,
    /// KEDA triggers, passed on as written.
    pub triggers: Vec<Trigger>,
}

/// One KEDA trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// Its name (Dokku names unnamed triggers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The KEDA scaler (`cpu`, `http`, `datadog` …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The scaler's metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The k3s part of the top-level `x-dokku`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StackK3s {
    /// `scheduler`: every app of the stack.
    pub scheduler: Option<Scheduler>,
    /// `registry`.
    pub registry: Option<Registry>,
    /// `volumes.<volume>`: claims by compose volume name.
    pub volumes: BTreeMap<String, Claim>,
}

/// The k3s part of a service's `x-dokku`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceK3s {
    /// `scheduler`: this service's app (over the stack's).
    pub scheduler: Option<Scheduler>,
    /// `autoscaling`.
    pub autoscaling: Option<Autoscaling>,
}

fn err(path: &str, message: impl Into<String>) -> ModelError {
    ModelError::Extension {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn scheduler(v: &Value, path: &str) -> Result<Scheduler, ModelError> {
    v.as_str()
        .filter(|s| !s.trim().is_empty())
        .and_then(Scheduler::parse)
        .ok_or_else(|| err(path, "must be `docker-local` or `k3s`"))
}

/// A non-empty string without whitespace or shell-significant characters that does not start
/// with `-`: it becomes one word of a Dokku command, the value after a flag or a property key,
/// where a leading `-` would be read as another flag (`--storage-class-name --reclaim-policy`).
fn word(v: &Value, path: &str) -> Result<String, ModelError> {
    v.as_str()
        .filter(|s| {
            !s.is_empty()
                && !s.starts_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '`' | '\\' | '$'))
        })
        .map(str::to_owned)
        .ok_or_else(|| {
            err(
                path,
                "must be one word (no spaces or quotes) that does not start with `-`",
            )
        })
}

fn count(v: &Value, path: &str) -> Result<u32, ModelError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| err(path, "must be a whole number"))
}

impl StackK3s {
    /// Reads top-level `x-dokku.<key>` (`registry`, `scheduler` or `volumes`).
    pub(crate) fn read(&mut self, key: &str, v: &Value, path: &str) -> Result<(), ModelError> {
        match key {
            "scheduler" => self.scheduler = Some(scheduler(v, path)?),
            "registry" => self.registry = Some(registry(v, path)?),
            "volumes" => {
                let m = v.as_object().ok_or_else(|| {
                    err(
                        path,
                        "must be a mapping of volume name to `{size, access_mode, storage_class}`",
                    )
                })?;
                for (name, c) in m {
                    self.volumes
                        .insert(name.clone(), claim(c, &format!("{path}.{name}"))?);
                }
            }
            _ => return Err(err(path, "unknown setting")),
        }
        Ok(())
    }
}

impl ServiceK3s {
    /// Reads `x-dokku.services.<svc>.<key>` (`autoscaling` or `scheduler`).
    pub(crate) fn read(&mut self, key: &str, v: &Value, path: &str) -> Result<(), ModelError> {
        match key {
            "scheduler" => self.scheduler = Some(scheduler(v, path)?),
            "autoscaling" => self.autoscaling = Some(autoscaling(v, path)?),
            _ => return Err(err(path, "unknown setting")),
        }
        Ok(())
    }
}

fn registry(v: &Value, path: &str) -> Result<Registry, ModelError> {
    match v {
        Value::String(_) => Ok(Registry {
            server: word(v, path)?,
            image_repo_template: None,
        }),
        Value::Object(m) => {
            let mut server = None;
            let mut template = None;
            for (k, v) in m {
                let p = format!("{path}.{k}");
                match k.as_str() {
                    "server" => server = Some(word(v, &p)?),
                    "image_repo_template" => template = Some(word(v, &p)?),
                    _ => {
                        return Err(err(
                            &p,
                            "unknown setting; valid settings: image_repo_template, server",
                        ))
                    }
                }
            }
            Ok(Registry {
                server: server.ok_or_else(|| err(&format!("{path}.server"), "is required"))?,
                image_repo_template: template,
            })
        }
        _ => Err(err(
            path,
            "must be a registry host or `{server, image_repo_template}`",
        )),
    }
}

fn claim(v: &Value, path: &str) -> Result<Claim, ModelError> {
    let m = v.as_object().ok_or_else(|| {
        err(
            path,
            "must be a mapping of `size`, `access_mode`, `storage_class`",
        )
    })?;
    let mut c = Claim::default();
    for (k, v) in m {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "size" => {
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    _ => word(v, &p)?,
                };
                c.size = Some(size_quantity(&text).ok_or_else(|| {
                    err(&p, format!("`{text}` is not a size like `10Gi` or `512Mi`"))
                })?);
            }
            "access_mode" => {
                let mode = word(v, &p)?;
                if !ACCESS_MODES.contains(&mode.as_str()) {
                    return Err(err(
                        &p,
                        format!("must be one of {}", ACCESS_MODES.join(", ")),
                    ));
                }
                c.access_mode = Some(mode);
            }
            "storage_class" => c.storage_class = Some(word(v, &p)?),
            _ => {
                return Err(err(
                    &p,
                    "unknown setting; valid settings: access_mode, size, storage_class",
                ))
            }
        }
    }
    Ok(c)
}

fn autoscaling(v: &Value, path: &str) -> Result<Autoscaling, ModelError> {
    let m = v.as_object().ok_or_else(|| {
        err(path, "must be a mapping of `min_quantity`, `max_quantity`, `polling_interval_seconds`, `cooldown_period_seconds`, `triggers`")
    })?;
    let mut a = Autoscaling::default();
    for (k, v) in m {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "min_quantity" => a.min_quantity = Some(count(v, &p)?),
            "max_quantity" => a.max_quantity = Some(count(v, &p)?),
            "polling_interval_seconds" => a.polling_interval_seconds = Some(count(v, &p)?),
            "cooldown_period_seconds" => a.cooldown_period_seconds = Some(count(v, &p)?),
            "triggers" => {
                let items = v
                    .as_array()
                    .ok_or_else(|| err(&p, "must be a list of `{name, type, metadata}`"))?;
                for (i, t) in items.iter().enumerate() {
                    a.triggers.push(trigger(t, &format!("{p}[{i}]"))?);
                }
            }
            _ => return Err(err(&p, "unknown setting; valid settings: cooldown_period_seconds, max_quantity, min_quantity, polling_interval_seconds, triggers")),
        }
    }
    if a.triggers.is_empty() {
        return Err(err(
            &format!("{path}.triggers"),
            "needs at least one trigger",
        ));
    }
    if let (Some(min), Some(max)) = (a.min_quantity, a.max_quantity) {
        if min > max {
            return Err(err(
                &format!("{path}.min_quantity"),
                format!("{min} is more than `max_quantity` {max}"),
            ));
        }
    }
    Ok(a)
}

fn trigger(v: &Value, path: &str) -> Result<Trigger, ModelError> {
    let m = v
        .as_object()
        .ok_or_else(|| err(path, "must be a mapping of `name`, `type`, `metadata`"))?;
    let mut t = Trigger::default();
    for (k, v) in m {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "name" => t.name = Some(word(v, &p)?),
            "type" => t.kind = word(v, &p)?,
            "metadata" => {
                let meta = v
                    .as_object()
                    .ok_or_else(|| err(&p, "must be a mapping of strings"))?;
                for (mk, mv) in meta {
                    let text = match mv {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(err(&format!("{p}.{mk}"), "must be a string")),
                    };
                    t.metadata.insert(mk.clone(), text);
                }
            }
            _ => {
                return Err(err(
                    &p,
                    "unknown setting; valid settings: metadata, name, type",
                ))
            }
        }
    }
    if t.kind.is_empty() {
        return Err(err(&format!("{path}.type"), "is required"));
    }
    Ok(t)
}

/// The claims of the stack's volumes on k3s, by storage entry: `x-dokku.volumes.<v>` over the
/// volume's `driver_opts.size` (the size Docker's `local` driver ignores, but a volume
/// plugin or a Kubernetes claim honours). Errors for an `x-dokku.volumes` key that names no
/// volume of the project.
pub(crate) fn claims(
    settings: &StackK3s,
    volumes: &BTreeMap<String, (StorageName, bool, String)>,
    top_volumes: &BTreeMap<String, crate::compose::types::Volume>,
) -> Result<BTreeMap<StorageName, Claim>, ModelError> {
    if let Some(unknown) = settings.volumes.keys().find(|k| !volumes.contains_key(*k)) {
        return Err(err(
            &format!("x-dokku.volumes.{unknown}"),
            "names no volume of the project (top-level `volumes`)",
        ));
    }
    let mut out = BTreeMap::new();
    for (key, (storage, external, _)) in volumes {
        if *external {
            continue;
        }
        let mut c = settings.volumes.get(key).cloned().unwrap_or_default();
        if c.size.is_none() {
            c.size = top_volumes
                .get(key)
                .and_then(|d| crate::compose::types::set(&d.driver_opts))
                .and_then(|o| o.get("size"))
                .and_then(Option::as_ref)
                .and_then(|s| size_quantity(&s.text()));
        }
        out.insert(storage.clone(), c);
    }
    Ok(out)
}

/// A size as a Kubernetes quantity: `10Gi`/`512Mi` as written, Docker-style `10g`/`10G`/
/// `10GB`/`512m` as binary units (Docker's sizes are powers of 1024), a bare number as bytes.
pub(crate) fn size_quantity(s: &str) -> Option<String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => "",
        "k" | "kb" | "ki" | "kib" => "Ki",
        "m" | "mb" | "mi" | "mib" => "Mi",
        "g" | "gb" | "gi" | "gib" => "Gi",
        "t" | "tb" | "ti" | "tib" => "Ti",
        _ => return None,
    };
    Some(format!("{n}{unit}"))
}

/// Memory in Kubernetes units. The model holds compose memory in MiB (Docker's `512m` is
/// 512 × 1024² bytes); Kubernetes reads `512m` as 0.512 bytes, so the unit is written `Mi`.
pub(crate) fn memory_quantity(mib: u64) -> String {
    format!("{mib}Mi")
}

/// CPUs in Kubernetes units: whole CPUs as they are, fractions in millicores (`0.5` ->
/// `500m`, `1.25` -> `1250m`). `None` for a value that is not a decimal number or is finer
/// than a millicore.
pub(crate) fn cpu_quantity(cpus: &str) -> Option<String> {
    let cpus = cpus.trim();
    let (whole, frac) = cpus.split_once('.').unwrap_or((cpus, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(whole) || !all_digits(frac) {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    if frac.is_empty() {
        return Some(whole.to_string());
    }
    if frac.len() > 3 {
        return None;
    }
    let milli: u64 = format!("{frac:0<3}").parse().ok()?;
    Some(format!("{}m", whole.checked_mul(1000)?.checked_add(milli)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubernetes_units() {
        assert_eq!(memory_quantity(512), "512Mi");
        assert_eq!(cpu_quantity("0.5").as_deref(), Some("500m"));
        assert_eq!(cpu_quantity("1.25").as_deref(), Some("1250m"));
        assert_eq!(cpu_quantity("2").as_deref(), Some("2"));
        assert_eq!(cpu_quantity("2.0").as_deref(), Some("2"));
        assert_eq!(cpu_quantity(".1").as_deref(), Some("100m"));
        assert_eq!(cpu_quantity("0.0001"), None);
        assert_eq!(cpu_quantity("x"), None);
        assert_eq!(size_quantity("10g").as_deref(), Some("10Gi"));
        assert_eq!(size_quantity("512m").as_deref(), Some("512Mi"));
        assert_eq!(size_quantity("2Gi").as_deref(), Some("2Gi"));
        assert_eq!(size_quantity("1024").as_deref(), Some("1024"));
        assert_eq!(size_quantity("lots"), None);
        assert_eq!(size_quantity("0Gi"), None);
    }

    #[test]
    fn settings_are_read_and_checked() {
        let mut s = StackK3s::default();
        s.read("scheduler", &json!("k3s"), "x-dokku.scheduler")
            .unwrap();
        s.read(
            "registry",
            &json!({"server": "registry.example.com", "image_repo_template": "shop/{{ .AppName }}"}),
            "x-dokku.registry",
        )
        .unwrap_err();
        s.read(
            "registry",
            &json!("registry.example.com"),
            "x-dokku.registry",
        )
        .unwrap();
        s.read(
            "volumes",
            &json!({"data": {"size": "5g", "access_mode": "ReadWriteMany", "storage_class": "longhorn"}}),
            "x-dokku.volumes",
        )
        .unwrap();
        assert_eq!(s.scheduler, Some(Scheduler::K3s));
        assert_eq!(s.registry.as_ref().unwrap().server, "registry.example.com");
        assert_eq!(s.volumes["data"].size.as_deref(), Some("5Gi"));
        let e = s
            .read("scheduler", &json!("swarm"), "x-dokku.scheduler")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`x-dokku.scheduler`: must be `docker-local` or `k3s`"
        );
        let e = s
            .read(
                "volumes",
                &json!({"d": {"access_mode": "rw"}}),
                "x-dokku.volumes",
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`x-dokku.volumes.d.access_mode`: must be one of"),
            "{e}"
        );

        let mut svc = ServiceK3s::default();
        svc.read(
            "autoscaling",
            &json!({"min_quantity": 1, "max_quantity": 5, "triggers": [{"type": "cpu", "metadata": {"type": "Utilization", "value": 60}}]}),
            "x-dokku.services.web.autoscaling",
        )
        .unwrap();
        let a = svc.autoscaling.unwrap();
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"max_quantity": 5, "min_quantity": 1, "triggers": [{"type": "cpu", "metadata": {"type": "Utilization", "value": "60"}}]})
        );
        let e = ServiceK3s::default()
            .read("autoscaling", &json!({"triggers": []}), "a")
            .unwrap_err();
        assert_eq!(e.to_string(), "`a.triggers`: needs at least one trigger");
        let e = ServiceK3s::default()
            .read(
                "autoscaling",
                &json!({"min_quantity": 3, "max_quantity": 2, "triggers": [{"type": "cpu"}]}),
                "a",
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`a.min_quantity`: 3 is more than `max_quantity` 2"
        );
    }
}
