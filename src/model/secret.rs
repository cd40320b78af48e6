//! The one classification of environment values as secret (masked in plans, diffs and
//! output, sealed in releases) or plain (shown). Every masking site calls
//! [`env_is_secret`]; `x-dokku.plain` names keys that are shown even when they look secret
//! (docs/mapping.md "Secrets and masking").

use std::collections::BTreeSet;

/// Words that make an environment key secret wherever they appear in it (case-insensitive):
/// `DB_PASSWORD`, `SECRET_KEY_BASE`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `SENTRY_DSN`.
pub(crate) const SECRET_KEY_WORDS: [&str; 11] = [
    "PASS",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "SALT",
    "PRIVATE",
    "DSN",
    "COOKIE",
    "SIGNING",
];

/// Whether the key alone marks a value as secret.
pub(crate) fn env_key_is_secret(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_KEY_WORDS.iter().any(|w| upper.contains(w))
}

/// Whether a value carries a credential whatever its key: a URL with a password in its
/// user part (`postgres://u:pw@db/x`, `redis://:pw@cache`).
pub(crate) fn value_has_credentials(value: &str) -> bool {
    let Some(i) = value.find("://") else {
        return false;
    };
    let rest = &value[i + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| {
        userinfo
            .split_once(':')
            .is_some_and(|(_, pw)| !pw.is_empty())
    })
}

/// The classification: secret when the key says so or the value holds credentials, unless the
/// key is in `plain` (`x-dokku.plain`, stack-wide or per service).
pub(crate) fn env_is_secret(key: &str, value: &str, plain: &BTreeSet<String>) -> bool {
    !plain.contains(key) && (env_key_is_secret(key) || value_has_credentials(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_told_from_ordinary_values() {
        let none = BTreeSet::new();
        for (k, v) in [
            ("DB_PASSWORD", "x"),
            ("SECRET_KEY_BASE", "x"),
            ("api_token", "x"),
            ("SENTRY_DSN", "x"),
            ("DATABASE_URL", "postgres://u:pw@db/x"),
            ("R", "redis://:pw@c:6379"),
        ] {
            assert!(env_is_secret(k, v, &none), "{k}");
        }
        for (k, v) in [
            ("RAILS_ENV", "production"),
            ("WEB_CONCURRENCY", "3"),
            ("SITE_URL", "https://shop.example.com"),
            ("DB_HOST", "db"),
            ("U", "postgres://u@db/x"),
        ] {
            assert!(!env_is_secret(k, v, &none), "{k}");
        }
        let plain: BTreeSet<String> = ["DB_PASSWORD".to_owned()].into();
        assert!(!env_is_secret("DB_PASSWORD", "x", &plain));
    }
}
