//! Newtypes for every name the mapping handles, with Dokku's naming rules
//! (docs/dokku-facts.md §d "App names", "Other names").

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A compose service name, as written in the compose file (`services.<name>`).
///
/// Shared, not owned: the graph and the plan copy it into every step of the service, and a
/// copy is a reference count. Compares, hashes, prints and serialises as the string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName(Arc<str>);

impl ServiceName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ServiceName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}
name_type!(
    /// A stack name: the Dokku-side name of one compose project, valid as an app-name prefix.
    StackName
);
name_type!(
    /// A Dokku app name, valid for `apps:create` (`^[a-z0-9][a-z0-9.-]*$`).
    AppName
);
name_type!(
    /// A datastore service name, valid for `<plugin>:create` (`^[A-Za-z0-9_-]+$`).
    DatastoreName
);
name_type!(
    /// A Dokku storage entry name: a DNS-1123 label of at most 45 characters.
    StorageName
);
name_type!(
    /// A Docker network name created with `network:create`.
    NetworkName
);

/// Longest app name we generate. Dokku has no limit in code, but the k3s scheduler puts the
/// app name into DNS-1123 labels (63 characters) together with the process type, so we keep
/// room for `-<proc>-<hash>` suffixes.
pub const MAX_APP_NAME: usize = 48;
/// Longest storage entry name Dokku accepts (0.38 migration guide).
pub const MAX_STORAGE_NAME: usize = 45;

impl ServiceName {
    /// Wraps a compose service name. Compose already validated it (`[a-zA-Z0-9._-]+`).
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }
}

/// A name Dokku would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A stack name that is empty or longer than 32 characters.
    #[error("stack name `{0}` must have 1 to 32 characters")]
    StackLength(String),
    /// A stack name with characters an app name cannot have.
    #[error("stack name `{0}` must begin with a lowercase alphanumeric character and contain only lowercase alphanumerics and hyphens")]
    StackCharacters(String),
}

impl StackName {
    /// Validates a stack name: it must already be a valid Dokku app name of at most 32 characters,
    /// so that `<stack>-<service>` stays readable. Returns the reason when it is not.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        if name.is_empty() || name.len() > 32 {
            return Err(NameError::StackLength(name.to_owned()));
        }
        if !is_valid_app_name(name) {
            return Err(NameError::StackCharacters(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// Derives a stack name from any string (a compose project name) deterministically.
    pub fn sanitise(name: &str) -> Self {
        let s = sanitise_label(name, 32);
        Self(if s.is_empty() { "stack".to_owned() } else { s })
    }
}

impl AppName {
    /// The app for `service` in `stack`: `<stack>-<service>`, lowercased, every character outside
    /// `[a-z0-9-]` turned into `-`, runs of `-` collapsed, and cut to [`MAX_APP_NAME`] with a
    /// short hash of the full name so that two long names never collide after the cut.
    pub(crate) fn for_service(stack: &StackName, service: &ServiceName) -> Self {
        let full = format!("{stack}-{}", service.as_str());
        Self(sanitise_with_hash(&full, MAX_APP_NAME))
    }

    /// Appends `-<n>` to resolve a collision, keeping the length limit.
    pub(crate) fn with_suffix(&self, n: usize) -> Self {
        let suffix = format!("-{n}");
        let keep = MAX_APP_NAME.saturating_sub(suffix.len()).min(self.0.len());
        Self(format!("{}{suffix}", self.0[..keep].trim_end_matches('-')))
    }
}

impl DatastoreName {
    /// The datastore service for `service` in `stack`: same rules as [`AppName::for_service`]
    /// (a subset of `^[A-Za-z0-9_-]+$`), so the container alias `dokku-<plugin>-<name>` is stable.
    pub(crate) fn for_service(stack: &StackName, service: &ServiceName) -> Self {
        Self(AppName::for_service(stack, service).0)
    }

    /// Wraps a name read from Dokku (tests).
    #[cfg(test)]
    pub(crate) fn new_unchecked(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The database name the plugin creates: the service name with `.` and `-` as `_`.
    pub(crate) fn database_name(&self) -> String {
        self.0.replace(['.', '-'], "_")
    }
}

impl StorageName {
    /// The storage entry for a named volume or relative bind source of `stack`.
    pub(crate) fn for_volume(stack: &StackName, volume: &str) -> Self {
        Self(sanitise_with_hash(
            &format!("{stack}-{volume}"),
            MAX_STORAGE_NAME,
        ))
    }
}

impl NetworkName {
    /// The Docker network for compose network `network` of `stack`: `<stack>-<network>`.
    pub(crate) fn for_network(stack: &StackName, network: &str) -> Self {
        Self(sanitise_with_hash(
            &format!("{stack}-{network}"),
            MAX_APP_NAME,
        ))
    }

    /// An external network, used by its own name.
    pub(crate) fn external(name: &str) -> Self {
        Self(name.to_owned())
    }
}

/// Dokku's app-name rule (`IsValidAppName`): `^[a-z0-9][a-z0-9.-]*$`.
pub fn is_valid_app_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

/// Dokku's config-key rule (`validateKey`): `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn is_valid_config_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitise_label(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(max);
    let kept = out.trim_end_matches('-').len();
    out.truncate(kept);
    out
}

fn sanitise_with_hash(raw: &str, max: usize) -> String {
    let clean = sanitise_label(raw, usize::MAX);
    if clean.len() <= max {
        return clean;
    }
    let digest = Sha256::digest(raw.as_bytes());
    let hash: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let keep = max - hash.len() - 1;
    format!("{}-{hash}", clean[..keep].trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(stack: &str, svc: &str) -> String {
        AppName::for_service(&StackName::parse(stack).unwrap(), &ServiceName::new(svc)).0
    }

    #[test]
    fn app_names_follow_dokku_rules() {
        assert_eq!(app("shop", "web"), "shop-web");
        assert_eq!(app("shop", "Web_Worker.1"), "shop-web-worker-1");
        assert_eq!(app("shop", "__x"), "shop-x");
        for name in [app("shop", "A__b..c"), app("s", "-")] {
            assert!(is_valid_app_name(&name), "{name}");
        }
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let a = app("shop", &"a".repeat(80));
        let b = app("shop", &format!("{}b", "a".repeat(79)));
        assert_eq!(a.len(), MAX_APP_NAME);
        assert_ne!(a, b);
        assert!(is_valid_app_name(&a));
    }

    #[test]
    fn config_keys() {
        assert!(is_valid_config_key("DATABASE_URL"));
        assert!(is_valid_config_key("_x1"));
        assert!(!is_valid_config_key("1X"));
        assert!(!is_valid_config_key("spring.datasource.url"));
        assert!(!is_valid_config_key("A-B"));
    }

    #[test]
    fn stack_names() {
        assert!(StackName::parse("shop").is_ok());
        assert!(StackName::parse("Shop").is_err());
        assert_eq!(
            StackName::sanitise("awesome-compose__wordpress").as_str(),
            "awesome-compose-wordpress"
        );
        assert_eq!(
            StackName::sanitise("x".repeat(40).as_str()).as_str().len(),
            32
        );
    }

    #[test]
    fn database_name() {
        assert_eq!(
            DatastoreName::new_unchecked("shop-db").database_name(),
            "shop_db"
        );
    }
}
