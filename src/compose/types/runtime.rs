//! The typed parts of a service's runtime keys: [`Scalar`] values, [`Deploy`], [`Logging`],
//! [`Ulimit`], [`ExtraHosts`], [`Device`], [`Sysctls`].
//!
//! A key that may be written as `null` is an [`Opt`]: `None` when absent, `Some(None)` when
//! `null`, so the project serialises back to exactly the JSON it was decoded from.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Every other key of a typed part, kept verbatim.
pub(super) type Other = BTreeMap<String, serde_json::Value>;

/// A key that may be absent (`None`) or `null` (`Some(None)`).
pub(crate) type Opt<T> = Option<Option<T>>;

/// The value of an [`Opt`] key, `None` when absent or `null`.
pub(crate) fn set<T>(v: &Opt<T>) -> Option<&T> {
    v.as_ref().and_then(Option::as_ref)
}

/// Deserialises an [`Opt`] key: present keys are `Some`, `null` inside.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<Opt<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A number or a string, as written (the loader prints byte counts as strings, the reference
/// numbers as numbers; hand-written JSON may hold either).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A JSON number, in its own representation (`2` stays `2`, `0.5` stays `0.5`).
    Number(serde_json::Number),
    /// A JSON string.
    Text(String),
}

impl Scalar {
    /// The text: the string itself, or the number as JSON prints it.
    pub(crate) fn text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(s) => s.clone(),
        }
    }

    /// The string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            Self::Number(_) => None,
        }
    }

    /// A byte count: a non-negative integer or a string of digits.
    pub(crate) fn bytes(&self) -> Option<u64> {
        match self {
            Self::Number(n) => n.as_u64(),
            Self::Text(s) => s.parse().ok(),
        }
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => n.serialize(s),
            Self::Text(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(n.into()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
                serde_json::Number::from_f64(n)
                    .map(Scalar::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(s))
            }
        }
        d.deserialize_any(V)
    }
}

/// `deploy`: what the model maps (replicas, resources, restart policy, mode); the Swarm-only
/// rest is kept in `other`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Deploy {
    /// `replicated` or `global`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub mode: Opt<Scalar>,
    /// The process count.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub replicas: Opt<serde_json::Number>,
    /// Limits and reservations.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub resources: Opt<DeployResources>,
    /// The Swarm restart policy.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub restart_policy: Opt<RestartPolicy>,
    /// Every other key (placement, labels, update_config…).
    #[serde(flatten)]
    pub other: Other,
}

/// `deploy.resources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeployResources {
    /// The limits.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub limits: Opt<ResourceSet>,
    /// The reservations.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub reservations: Opt<ResourceSet>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// `deploy.resources.limits`/`reservations`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceSet {
    /// A CPU count.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cpus: Opt<Scalar>,
    /// A byte count.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub memory: Opt<Scalar>,
    /// A process count.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub pids: Opt<Scalar>,
    /// Every other key (devices, generic_resources…).
    #[serde(flatten)]
    pub other: Other,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub condition: Opt<Scalar>,
    /// Attempts before giving up.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub max_attempts: Opt<serde_json::Number>,
    /// Time between attempts (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub delay: Opt<Scalar>,
    /// Time to wait before deciding a restart worked (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub window: Opt<Scalar>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Logging {
    /// The driver.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub driver: Opt<Scalar>,
    /// The driver's options (a mapping; hand-written JSON may hold a list).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub options: Opt<LogOptions>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// `logging.options`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a mapping or a list of `key=value` items")]
pub enum LogOptions {
    /// Option -> value.
    Map(BTreeMap<String, Option<Scalar>>),
    /// `key=value` items.
    List(Vec<Option<Scalar>>),
}

/// One `ulimits` entry: a number (soft = hard) or `{soft, hard}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a number or a mapping of `soft` and `hard`")]
pub enum Ulimit {
    /// Soft and hard limit alike.
    Single(serde_json::Number),
    /// Separate limits.
    Pair(UlimitPair),
}

/// `{soft, hard}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UlimitPair {
    /// The soft limit.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub soft: Opt<Scalar>,
    /// The hard limit.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub hard: Opt<Scalar>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// `extra_hosts`: `host=ip` items (the loader's form) or host -> ip(s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of `host=ip` items or a mapping of host to addresses"
)]
pub enum ExtraHosts {
    /// `host=ip` or `host:ip` items.
    List(Vec<Scalar>),
    /// Host -> one address or several.
    Map(BTreeMap<String, HostAddresses>),
}

/// The address(es) of one `extra_hosts` host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "an address or a list of addresses")]
pub enum HostAddresses {
    /// One address.
    One(Scalar),
    /// Several.
    Many(Vec<Scalar>),
}

/// One `devices` entry: `source:target:permissions` or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a `source:target:permissions` string or a mapping"
)]
pub enum Device {
    /// As written.
    Spec(String),
    /// The long form.
    Long(DeviceLong),
}

/// The long form of a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLong {
    /// The host device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The container device (the source when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// cgroup permissions (`rwm` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// `sysctls`: name -> value (the loader's form) or `name=value` items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a mapping of name to value or a list of `name=value` items"
)]
pub enum Sysctls {
    /// Name -> value.
    Map(BTreeMap<String, Scalar>),
    /// `name=value` items.
    List(Vec<Scalar>),
}

/// A string-or-list key (`dns`, `cap_add`, `tmpfs`…): the loader prints a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a string or a list")]
pub enum StringOrList {
    /// One value.
    One(String),
    /// Several (`null` items are skipped).
    Many(Vec<Option<Scalar>>),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compose::types::Project;

    fn web(service: serde_json::Value) -> Result<super::super::Service, super::super::DecodeError> {
        let p = Project::from_json(&json!({"name": "p", "services": {"web": service}}))?;
        Ok(p.services["web"].clone())
    }

    #[test]
    fn runtime_keys_decode_to_typed_values() {
        let s = web(json!({
            "image": "x",
            "cpus": 0.5,
            "mem_limit": "536870912",
            "scale": 2,
            "stop_grace_period": "1m30s",
            "ulimits": {"nofile": {"soft": 10, "hard": 20}, "nproc": 65535},
            "extra_hosts": ["db=10.0.0.1"],
            "devices": [{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}],
            "sysctls": {"net.core.somaxconn": "1024"},
            "deploy": {"replicas": 3, "resources": {"limits": {"cpus": 1.5, "memory": "1048576"}}, "placement": {}},
            "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "retries": 3},
            "dns": ["1.1.1.1"],
            "privileged": true,
            "links": ["db:database"],
        }))
        .unwrap();
        assert_eq!(
            set(&s.cpus),
            Some(&Scalar::Number(serde_json::Number::from_f64(0.5).unwrap()))
        );
        assert_eq!(set(&s.mem_limit).and_then(Scalar::bytes), Some(536_870_912));
        assert_eq!(set(&s.scale).and_then(serde_json::Number::as_u64), Some(2));
        assert_eq!(
            set(&s.stop_grace_period).and_then(Scalar::as_str),
            Some("1m30s")
        );
        let ulimits = set(&s.ulimits).unwrap();
        let Ulimit::Pair(nofile) = &ulimits["nofile"] else {
            panic!("{ulimits:?}")
        };
        assert_eq!(
            (
                set(&nofile.soft).map(Scalar::text),
                set(&nofile.hard).map(Scalar::text)
            ),
            (Some("10".into()), Some("20".into()))
        );
        assert_eq!(ulimits["nproc"], Ulimit::Single(65535.into()));
        assert!(
            matches!(set(&s.extra_hosts), Some(ExtraHosts::List(l)) if l == &[Scalar::Text("db=10.0.0.1".into())])
        );
        assert!(
            matches!(set(&s.devices).map(Vec::as_slice), Some([Device::Long(d)]) if d.permissions.as_deref() == Some("rwm"))
        );
        assert!(
            matches!(set(&s.sysctls), Some(Sysctls::Map(m)) if m["net.core.somaxconn"] == Scalar::Text("1024".into()))
        );
        let deploy = set(&s.deploy).unwrap();
        assert_eq!(
            set(&deploy.replicas).and_then(serde_json::Number::as_u64),
            Some(3)
        );
        let limits = set(&deploy.resources).and_then(|r| set(&r.limits)).unwrap();
        assert_eq!(set(&limits.memory).and_then(Scalar::bytes), Some(1_048_576));
        assert_eq!(deploy.other.keys().collect::<Vec<_>>(), ["placement"]);
        let logging = set(&s.logging).unwrap();
        assert_eq!(
            set(&logging.driver).and_then(Scalar::as_str),
            Some("json-file")
        );
        let h = s.healthcheck.as_ref().unwrap();
        assert_eq!(set(&h.interval).and_then(Scalar::as_str), Some("30s"));
        assert_eq!(
            set(&h.retries).and_then(serde_json::Number::as_u64),
            Some(3)
        );
        assert!(
            matches!(set(&s.dns), Some(StringOrList::Many(d)) if d == &[Some(Scalar::Text("1.1.1.1".into()))])
        );
        assert_eq!(set(&s.privileged), Some(&true));
        // None of them is left in `other`.
        assert!(s.other.is_empty(), "{:?}", s.other);
    }

    #[test]
    fn typed_keys_serialise_back_to_what_was_decoded() {
        let json = json!({"name": "p", "services": {"web": {
            "image": "x",
            "cpus": 2,
            "mem_reservation": 1024,
            "stop_signal": null,
            "ulimits": {"nofile": {"soft": 10, "hard": 20, "extra": true}, "core": 0},
            "extra_hosts": {"db": ["10.0.0.1", "10.0.0.2"], "cache": "10.0.0.3"},
            "devices": ["/dev/fuse", {"source": "/dev/kvm", "x": 1}],
            "sysctls": ["a=1", 2],
            "deploy": {"mode": "replicated", "replicas": null, "restart_policy": {"condition": "on-failure", "max_attempts": 3, "delay": "5s"}, "labels": {"a": "b"}},
            "logging": {"options": ["max-size=1m"], "x": 1},
            "healthcheck": {"disable": true, "start_interval": null, "y": 2},
            "networks": {"front": {"priority": 10, "gw_priority": 1}},
            "command": null,
            "entrypoint": null,
            "tmpfs": "/tmp",
            "links": ["db", null],
            "use_api_socket": false,
            "ports": [{"target": 80, "app_protocol": "http"}],
            "pid": "host",
            "cap_add": [],
        }}, "volumes": {"data": {"name": "p_data", "driver_opts": {"size": "10G", "n": 1, "z": null}}}});
        let p = Project::from_json(&json).unwrap();
        assert_eq!(p.to_json(false), json);
        assert_eq!(p.to_stored_json(false), json);
        assert_eq!(Project::from_json(&p.to_stored_json(true)).unwrap(), p);
    }

    #[test]
    fn a_key_of_the_wrong_shape_is_refused_with_its_path() {
        for (service, path) in [
            (
                json!({"ulimits": {"nofile": "many"}}),
                "services.web.ulimits.nofile",
            ),
            (
                json!({"ulimits": {"nofile": {"soft": [1]}}}),
                "services.web.ulimits.nofile",
            ),
            (json!({"cpus": true}), "services.web.cpus"),
            (json!({"scale": "3"}), "services.web.scale"),
            (
                json!({"deploy": {"resources": {"limits": {"memory": {}}}}}),
                "services.web.deploy.resources.limits.memory",
            ),
            (
                json!({"deploy": {"restart_policy": {"max_attempts": "x"}}}),
                "services.web.deploy.restart_policy.max_attempts",
            ),
            (json!({"deploy": []}), "services.web.deploy"),
            (
                json!({"logging": {"driver": {}}}),
                "services.web.logging.driver",
            ),
            (
                json!({"extra_hosts": "db=1.2.3.4"}),
                "services.web.extra_hosts",
            ),
            (json!({"devices": [1]}), "services.web.devices[0]"),
            (
                json!({"use_api_socket": "yes"}),
                "services.web.use_api_socket",
            ),
            (
                json!({"healthcheck": {"retries": "3"}}),
                "services.web.healthcheck.retries",
            ),
            (
                json!({"networks": {"front": {"priority": "high"}}}),
                "services.web.networks.front.priority",
            ),
            (json!({"dns": 1}), "services.web.dns"),
            (
                json!({"build": {"context": ".", "privileged": "yes"}}),
                "services.web.build.privileged",
            ),
        ] {
            let e = web(service.clone()).unwrap_err();
            assert_eq!(e.path, path, "{service}: {e}");
        }
        let e = web(json!({"ulimits": {"nofile": "many"}})).unwrap_err();
        assert!(
            e.message
                .contains("a number or a mapping of `soft` and `hard`"),
            "{e}"
        );
    }
}
