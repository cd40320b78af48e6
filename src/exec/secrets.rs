//! The host key and the sealing of secrets at rest.
//!
//! Stage 5 (effects) keeps a history of what it applied (`exec::releases`), and that history
//! holds secret values: environment values of compose services, and undo commands that carry
//! old config values. They must never sit on disk in clear, yet a rollback must be able to
//! restore them. So every secret is sealed with a per-host key before it is written:
//!
//! - the key is 32 random bytes in a file readable only by its owner (mode `0600`, parent
//!   directories `0700`), created once and atomically ([`HostKey::load_or_create`]);
//! - a sealed value is `v1:` followed by the base64 of a random 12-byte nonce and the
//!   ChaCha20-Poly1305 ciphertext with its tag ([`HostKey::seal`], [`HostKey::open`]);
//! - a keyed fingerprint (HMAC-SHA256) lets a diff say "changed" without revealing a
//!   low-entropy value ([`HostKey::fingerprint`]).
//!
//! The encryption key and the fingerprint key are both derived from the host key with
//! HMAC-SHA256 and distinct labels, so a fingerprint never doubles as key material.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every sealed string; the version of the sealing format.
pub(crate) const SEALED_PREFIX: &str = "v1:";

/// Length in bytes of a host key.
pub(crate) const KEY_LEN: usize = 32;

/// Length in bytes of the random nonce at the start of a sealed payload.
const NONCE_LEN: usize = 12;

/// Length in bytes of the Poly1305 tag at the end of a sealed payload.
const TAG_LEN: usize = 16;

/// Number of bytes of the HMAC kept in a fingerprint (hex-encoded: twice as many characters).
const FINGERPRINT_LEN: usize = 16;

/// Additional authenticated data bound to every sealed value, so a ciphertext made for
/// another purpose with the same key cannot be passed off as a sealed secret.
const AAD: &[u8] = b"dokku-compose sealed v1";

/// Label of the derived encryption key.
const SEAL_LABEL: &[u8] = b"dokku-compose seal key v1";

/// Label of the derived fingerprint key.
const FINGERPRINT_LABEL: &[u8] = b"dokku-compose fingerprint key v1";

type HmacSha256 = Hmac<Sha256>;

/// Why a key could not be loaded or a sealed value could not be opened.
///
/// No variant ever carries a plaintext or key bytes.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Reading or writing the key file (or its directory) failed.
    /// The message shows the OS error itself (it is not also a `source()`).
    #[error("host key `{}`: {error}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// The key file exists but cannot be used as it is.
    #[error("host key `{}` is unusable: {reason}", path.display())]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file is gone while sealed data made with it is still there: a new key would
    /// make all of it unreadable, so none is created.
    #[error(
        "host key `{}` is missing, but sealed data made with it is still there ({}); a new key would make it unreadable, so none is created. \
         Restore the key from a backup to `{}` (owner root or dokku, mode 0600). \
         If it is lost for good, move the sealed data aside (each `<stack>/releases` and `<stack>/journal.jsonl` listed), \
         check the stacks' apps by hand (an interrupted apply cannot be rolled back without the key), and the next apply creates a new key and starts a new history",
        path.display(),
        sealed.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", "),
        path.display()
    )]
    Missing {
        /// The key file.
        path: PathBuf,
        /// Release histories and journals sealed with it.
        sealed: Vec<PathBuf>,
    },
    /// A sealed value could not be opened.
    #[error("cannot open sealed value: {reason}")]
    Open {
        /// What went wrong (never the plaintext).
        reason: String,
    },
}

/// What is sealed with the host key of data directory `data`: each stack's release history
/// that holds a release, and each journal of an interrupted apply (`<data>/<stack>/…`).
fn sealed_data(data: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(data) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let stack = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let releases = stack.join("releases");
        let packed = fs::read_to_string(releases.join("packed-refs")).unwrap_or_default();
        if releases.join("refs/heads/releases").is_file() || packed.contains("refs/heads/releases")
        {
            out.push(releases);
        }
        let journal = stack.join("journal.jsonl");
        if journal.is_file() {
            out.push(journal);
        }
    }
    out.sort();
    out
}

/// The per-host key that seals secrets at rest: 32 random bytes.
///
/// `Debug` never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct HostKey {
    bytes: [u8; KEY_LEN],
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostKey").finish_non_exhaustive()
    }
}

/// What [`HostKey::load_or_new`] found.
enum Loaded {
    /// The key file.
    Existing(HostKey),
    /// No key file: bytes for a new key.
    New([u8; KEY_LEN]),
}

impl HostKey {
    /// Loads the key at `path`, or creates it if there is no file there.
    ///
    /// A new key is 32 bytes from the operating system's random source, written to a
    /// temporary file (mode `0600`) next to `path` and then linked into place without ever
    /// replacing an existing file; missing parent directories are created with mode `0700`.
    /// If two processes race, the loser discards its key and loads the winner's, so both end
    /// up with the same key.
    ///
    /// # Errors
    ///
    /// [`SecretError::Io`] when the file or its directory cannot be read or written, and
    /// [`SecretError::BadKeyFile`] when the file is not exactly 32 bytes long or its mode lets
    /// the group or others access it.
    pub fn load_or_create(path: &Path) -> Result<HostKey, SecretError> {
        match Self::load_or_new(path)? {
            Loaded::Existing(key) => Ok(key),
            Loaded::New(bytes) => Self::install(path, bytes),
        }
    }

    /// The key at `path`, or, when there is none, new random bytes for one: refused when
    /// data sealed by a lost key lies beside `path` (a new key could not open it).
    fn load_or_new(path: &Path) -> Result<Loaded, SecretError> {
        match Self::load(path) {
            Err(SecretError::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => {}
            other => return other.map(Loaded::Existing),
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let sealed = sealed_data(dir);
        if !sealed.is_empty() {
            return Err(SecretError::Missing {
                path: path.to_path_buf(),
                sealed,
            });
        }
        let mut bytes = [0u8; KEY_LEN];
        getrandom::getrandom(&mut bytes).map_err(|e| SecretError::Io {
            path: path.to_path_buf(),
            error: io::Error::other(format!("no random bytes for a new key: {e}")),
        })?;
        Ok(Loaded::New(bytes))
    }

    /// Writes this key (one from [`HostKey::load_or_ephemeral`]) to `path` if there is no key
    /// there yet: the host key is made just before the first change of the first apply, so a
    /// refused one leaves none behind (issue #13). When another process made one meanwhile,
    /// its key wins and this fails: what was computed with this key (fingerprints) is stale,
    /// and nothing has changed yet, so the command is simply run again.
    ///
    /// # Errors
    ///
    /// As [`HostKey::load_or_create`], and [`SecretError::Io`] when another key won.
    pub(crate) fn persist(&self, path: &Path) -> Result<(), SecretError> {
        let stored = Self::install(path, self.bytes)?;
        if stored.bytes != self.bytes {
            return Err(SecretError::Io { path: path.to_path_buf(), error: io::Error::other("another apply created the host key at the same time; nothing was changed, run the command again") });
        }
        Ok(())
    }

    /// Puts `bytes` at `path` unless a key is there (then that key is returned).
    fn install(path: &Path, bytes: [u8; KEY_LEN]) -> Result<HostKey, SecretError> {
        let io_err = |p: &Path| {
            let p = p.to_path_buf();
            move |error| SecretError::Io { path: p, error }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;

        let tmp = temp_path(path)?;
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&tmp);
            return Err(SecretError::Io { path: tmp, error });
        }
        // `link` fails if `path` exists, unlike `rename`: an existing key is never replaced,
        // and the key appears at `path` complete or not at all.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                // Make the new directory entry durable; failure here is not fatal.
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(HostKey { bytes })
            }
            // Another process won the race: use its key.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load(path),
            Err(error) => Err(SecretError::Io {
                path: path.to_path_buf(),
                error,
            }),
        }
    }

    /// Loads the key at `path`; without one (and with nothing sealed by a lost one), a fresh
    /// random key that is not written anywhere: a dry run changes nothing on the host.
    ///
    /// # Errors
    ///
    /// As [`HostKey::load_or_create`].
    pub(crate) fn load_or_ephemeral(path: &Path) -> Result<HostKey, SecretError> {
        Ok(match Self::load_or_new(path)? {
            Loaded::Existing(key) => key,
            Loaded::New(bytes) => HostKey { bytes },
        })
    }

    /// Loads an existing key file, checking its length and mode.
    fn load(path: &Path) -> Result<HostKey, SecretError> {
        let io_err = |error| SecretError::Io {
            path: path.to_path_buf(),
            error,
        };
        let mut file = fs::File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(SecretError::BadKeyFile {
                path: path.to_path_buf(),
                reason: "not a regular file".to_owned(),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::BadKeyFile {
                path: path.to_path_buf(),
                reason: format!(
                    "mode {mode:04o} lets the group or others access it; run `chmod 600` on it"
                ),
            });
        }
        // Read one byte more than a key so an over-long file is detected without reading it all.
        let mut buf = Vec::with_capacity(KEY_LEN + 1);
        (&mut file)
            .take(KEY_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(io_err)?;
        let bytes: [u8; KEY_LEN] =
            buf.as_slice()
                .try_into()
                .map_err(|_| SecretError::BadKeyFile {
                    path: path.to_path_buf(),
                    reason: if buf.len() > KEY_LEN {
                        format!("longer than {KEY_LEN} bytes")
                    } else {
                        format!("{} bytes long, expected {KEY_LEN}", buf.len())
                    },
                })?;
        Ok(HostKey { bytes })
    }

    /// A key from bytes (tests).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn from_bytes(b: [u8; KEY_LEN]) -> HostKey {
        HostKey { bytes: b }
    }

    /// Seals `plaintext`: `v1:` + base64(12-byte random nonce || ChaCha20-Poly1305
    /// ciphertext and tag). The nonce is fresh for every call, so sealing the same value twice
    /// gives two different strings.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide 12 random bytes, which would make every nonce
    /// unsafe; there is no sensible fallback.
    #[must_use]
    pub(crate) fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).expect("the OS random source failed; cannot seal");
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: AAD,
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut payload = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&ciphertext);
        format!("{SEALED_PREFIX}{}", BASE64.encode(payload))
    }

    /// Opens a string made by [`HostKey::seal`] and returns the plaintext.
    ///
    /// # Errors
    ///
    /// [`SecretError::Open`] when the string is not a sealed value, is truncated or not valid
    /// base64, or fails authentication (sealed with another key, or tampered with). The message
    /// never includes the plaintext.
    pub(crate) fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let fail = |reason: &str| SecretError::Open {
            reason: reason.to_owned(),
        };
        let Some(encoded) = sealed.strip_prefix(SEALED_PREFIX) else {
            return Err(fail("not a sealed value (no `v1:` prefix)"));
        };
        let payload = BASE64
            .decode(encoded.trim())
            .map_err(|_| fail("sealed value is not valid base64"))?;
        if payload.len() < NONCE_LEN + TAG_LEN {
            return Err(fail("sealed value is too short"));
        }
        let (nonce, ciphertext) = payload.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: AAD,
                },
            )
            .map_err(|_| {
                fail("authentication failed: sealed with another host key, or tampered with")
            })
    }

    /// A keyed fingerprint of `data`: HMAC-SHA256 under a key derived from the host key, the
    /// first 16 bytes in lowercase hex (32 characters).
    ///
    /// Equal data gives equal fingerprints under one host key, so a diff can say a secret
    /// changed; without the key, a fingerprint cannot be used to guess a low-entropy value.
    #[must_use]
    pub(crate) fn fingerprint(&self, data: &[u8]) -> String {
        let key = self.derive(FINGERPRINT_LABEL);
        let mac = hmac_sha256(&key, data);
        mac[..FINGERPRINT_LEN].iter().fold(
            String::with_capacity(2 * FINGERPRINT_LEN),
            |mut s, b| {
                use fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            },
        )
    }

    /// The AEAD under the derived encryption key.
    fn cipher(&self) -> ChaCha20Poly1305 {
        let key = self.derive(SEAL_LABEL);
        ChaCha20Poly1305::new(Key::from_slice(&key))
    }

    /// A 32-byte subkey for one purpose: HMAC-SHA256(host key, label).
    fn derive(&self, label: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.bytes, label)
    }
}

/// HMAC-SHA256 of `data` under `key`.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A fresh, unpredictable name next to `path` for the temporary key file.
fn temp_path(path: &Path) -> Result<PathBuf, SecretError> {
    let mut tag = [0u8; 8];
    getrandom::getrandom(&mut tag).map_err(|e| SecretError::Io {
        path: path.to_path_buf(),
        error: io::Error::other(format!("no random bytes for a temporary name: {e}")),
    })?;
    let name = path
        .file_name()
        .map_or_else(|| "host-key".into(), |n| n.to_string_lossy().into_owned());
    let tmp_name = format!(
        ".{name}.tmp.{}.{:016x}",
        std::process::id(),
        u64::from_le_bytes(tag)
    );
    Ok(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> HostKey {
        HostKey::from_bytes([b; KEY_LEN])
    }

    #[test]
    fn seal_open_round_trip() {
        let k = key(7);
        for plain in [
            &b""[..],
            b"hunter2",
            "pässwörd \u{1f511}".as_bytes(),
            &[0u8; 1000],
        ] {
            let sealed = k.seal(plain);
            assert!(sealed.starts_with("v1:"), "{sealed}");
            assert_eq!(k.open(&sealed).unwrap(), plain);
        }
    }

    #[test]
    fn sealed_string_does_not_contain_plaintext_and_has_expected_length() {
        let k = key(7);
        let sealed = k.seal(b"hunter2-hunter2");
        assert!(!sealed.contains("hunter2"));
        let payload = BASE64.decode(&sealed[3..]).unwrap();
        assert_eq!(payload.len(), NONCE_LEN + "hunter2-hunter2".len() + TAG_LEN);
    }

    #[test]
    fn nonces_differ_between_two_seals() {
        let k = key(7);
        let a = k.seal(b"same");
        let b = k.seal(b"same");
        assert_ne!(a, b);
        let na = &BASE64.decode(&a[3..]).unwrap()[..NONCE_LEN];
        let nb = &BASE64.decode(&b[3..]).unwrap()[..NONCE_LEN];
        assert_ne!(na, nb);
    }

    #[test]
    fn open_with_wrong_key_fails_without_leaking() {
        let sealed = key(1).seal(b"topsecret");
        let err = key(2).open(&sealed).unwrap_err();
        assert!(matches!(err, SecretError::Open { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("another host key"), "{msg}");
        assert!(!msg.contains("topsecret"));
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let k = key(3);
        let sealed = k.seal(b"topsecret");
        let mut payload = BASE64.decode(&sealed[3..]).unwrap();
        // Flip one bit in the ciphertext, then in the tag, then in the nonce.
        for i in [NONCE_LEN, payload.len() - 1, 0] {
            payload[i] ^= 1;
            let bad = format!("v1:{}", BASE64.encode(&payload));
            assert!(
                matches!(k.open(&bad), Err(SecretError::Open { .. })),
                "byte {i}"
            );
            payload[i] ^= 1;
        }
        // Untouched it still opens.
        let good = format!("v1:{}", BASE64.encode(&payload));
        assert_eq!(k.open(&good).unwrap(), b"topsecret");
    }

    #[test]
    fn malformed_input_fails_with_reason() {
        let k = key(3);
        let cases = [
            ("plain text", "no `v1:` prefix"),
            ("v2:AAAA", "no `v1:` prefix"),
            ("v1:!!!not base64!!!", "not valid base64"),
            ("v1:AAAA", "too short"),
        ];
        for (input, want) in cases {
            let msg = k.open(input).unwrap_err().to_string();
            assert!(msg.contains(want), "{input}: {msg}");
        }
    }

    #[test]
    fn fingerprint_is_keyed_and_stable() {
        let a = key(1).fingerprint(b"hunter2");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, key(1).fingerprint(b"hunter2"));
        assert_ne!(a, key(1).fingerprint(b"hunter3"));
        assert_ne!(a, key(2).fingerprint(b"hunter2"));
    }

    #[test]
    fn debug_does_not_print_bytes() {
        let s = format!("{:?}", key(0xab));
        assert_eq!(s, "HostKey { .. }");
    }

    #[test]
    fn key_file_created_0600_in_0700_dirs_and_reloaded_equal() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/host.key");
        let k1 = HostKey::load_or_create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let dir_mode = fs::metadata(tmp.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");
        assert_eq!(fs::read(&path).unwrap(), k1.bytes);
        let k2 = HostKey::load_or_create(&path).unwrap();
        assert_eq!(k1, k2);
        // The temporary file is gone.
        let names: Vec<_> = fs::read_dir(tmp.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("host.key")]);
        // A second key elsewhere is different.
        let other = HostKey::load_or_create(&tmp.path().join("other.key")).unwrap();
        assert_ne!(k1, other);
    }

    #[test]
    fn a_lost_key_with_sealed_data_is_an_error_never_a_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("host.key");
        // An empty history (no release yet) seals nothing: a key may be created.
        fs::create_dir_all(tmp.path().join("shop/releases/refs/heads")).unwrap();
        HostKey::load_or_create(&path).unwrap();
        fs::remove_file(&path).unwrap();
        fs::write(
            tmp.path().join("shop/releases/refs/heads/releases"),
            "0000\n",
        )
        .unwrap();
        fs::create_dir_all(tmp.path().join("blog")).unwrap();
        fs::write(tmp.path().join("blog/journal.jsonl"), "{}\n").unwrap();
        let err = HostKey::load_or_create(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SecretError::Missing { .. }), "{msg}");
        for want in [
            "is missing",
            "shop/releases",
            "blog/journal.jsonl",
            "Restore the key from a backup",
            "move the sealed data aside",
        ] {
            assert!(msg.contains(want), "{want} not in {msg}");
        }
        assert!(!path.exists(), "no new key is created");
    }

    #[test]
    fn existing_key_is_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("host.key");
        fs::write(&path, [9u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let k = HostKey::load_or_create(&path).unwrap();
        assert_eq!(k, key(9));
        assert_eq!(fs::read(&path).unwrap(), [9u8; 32]);
    }

    #[test]
    fn racing_creators_end_with_the_same_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("race/host.key");
        let keys: Vec<HostKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| HostKey::load_or_create(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let on_disk = HostKey::load_or_create(&path).unwrap();
        for k in keys {
            assert_eq!(k, on_disk);
        }
    }

    #[test]
    fn short_and_long_key_files_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for (len, want) in [
            (31usize, "31 bytes long, expected 32"),
            (0, "0 bytes long"),
            (33, "longer than 32"),
        ] {
            let path = tmp.path().join(format!("k{len}"));
            fs::write(&path, vec![1u8; len]).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = HostKey::load_or_create(&path).unwrap_err();
            assert!(matches!(err, SecretError::BadKeyFile { .. }), "{err:?}");
            assert!(err.to_string().contains(want), "{err}");
            // The bad file is left alone.
            assert_eq!(fs::read(&path).unwrap().len(), len);
        }
    }

    #[test]
    fn group_readable_key_file_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("host.key");
        fs::write(&path, [1u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = HostKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretError::BadKeyFile { .. }), "{err:?}");
        assert!(err.to_string().contains("0640"), "{err}");
    }
}
