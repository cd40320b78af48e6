use super::*;

/// Digests of authenticated deliveries (signed bodies and delivery ids) seen within the replay
/// window. Only digests are kept, never a header or a body.
#[derive(Debug, Default)]
pub(super) struct Replay {
    pub(super) seen: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Replay {
    /// Records every key when none of them was seen within `window`; else records nothing and
    /// returns the index of the first key seen.
    pub(super) fn check(&self, keys: &[[u8; 32]], window: Duration) -> Result<(), usize> {
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        if seen.len() > 4096 {
            seen.retain(|_, t| now.duration_since(*t) < window);
        }
        if let Some(i) = keys
            .iter()
            .position(|k| seen.get(k).is_some_and(|t| now.duration_since(*t) < window))
        {
            return Err(i);
        }
        for k in keys {
            seen.insert(*k, now);
        }
        Ok(())
    }
}

/// SHA-256 of length-prefixed parts (so no two lists of parts share a digest).
pub(super) fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The headers the credentials come in.
pub(crate) const TOKEN_HEADERS: &[&str] = &["X-Dokku-Compose-Token", "X-Gitlab-Token"];
/// The headers delivery ids come in.
pub(crate) const DELIVERY_HEADERS: &[&str] = &[
    "X-Dokku-Compose-Delivery",
    "X-GitHub-Delivery",
    "X-Gitea-Delivery",
    "X-Gitlab-Event-UUID",
];

/// How a request proved it knows the stack's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The secret itself (bearer or token header).
    Token,
    /// An HMAC-SHA256 of the body keyed with the secret (GitHub, Gitea); it wins over a token
    /// sent alongside, so the signed body is replay-protected.
    Signature,
}

/// How the request carries `secret`, if it does: a token compared in constant time, or a valid
/// HMAC-SHA256 of `body`. `header` looks a header up by name (case-insensitive).
pub(crate) fn authenticate<'h>(
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    secret: &str,
) -> Option<Credential> {
    let token_ok = |t: &str| bool::from(t.as_bytes().ct_eq(secret.as_bytes()));
    let hmac_ok = |sig: &str| {
        let Ok(sig) = hex::decode(sig.trim()) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    };
    let (mut token, mut signature) = (false, false);
    if let Some(auth) = header("Authorization") {
        if let Some(t) = auth.strip_prefix("Bearer ") {
            token |= token_ok(t.trim());
        }
    }
    for h in TOKEN_HEADERS {
        if let Some(t) = header(h) {
            token |= token_ok(t.trim());
        }
    }
    if let Some(sig) = header("X-Hub-Signature-256") {
        signature |= sig.trim().strip_prefix("sha256=").is_some_and(hmac_ok);
    }
    if let Some(sig) = header("X-Gitea-Signature") {
        signature |= hmac_ok(sig);
    }
    if signature {
        Some(Credential::Signature)
    } else if token {
        Some(Credential::Token)
    } else {
        None
    }
}
