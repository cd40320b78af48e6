//! Ansible-vault files (format 1.1 and 1.2, cipher AES256), as `ansible-vault encrypt` writes
//! them: the secret files a stack keeps in its repository are decrypted here at deploy time with
//! the stack's vault password (issue #8, "Encrypted secrets").
//!
//! The format, checked against ansible-core's `ansible/parsing/vault/__init__.py`:
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256            or  $ANSIBLE_VAULT;1.2;AES256;<vault-id>
//! <hex(payload), wrapped at 80 columns>
//! ```
//!
//! The payload is three lines, `hex(salt)\nhex(hmac)\nhex(ciphertext)`. PBKDF2-HMAC-SHA256
//! (10 000 rounds, 80 bytes of output) turns the password and salt into a 32-byte AES-256 key,
//! a 32-byte HMAC-SHA256 key and a 16-byte initial counter block. The plaintext is PKCS#7-padded
//! to 16 bytes and encrypted with AES-256-CTR (128-bit big-endian counter); the HMAC covers the
//! ciphertext. The vault id in a 1.2 header is only a label: it is neither encrypted nor signed.
//!
//! Decryption checks the HMAC (in constant time) before it decrypts anything. No error message
//! carries plaintext or password bytes, and hostile input costs work linear in its size, capped
//! by [`MAX_VAULT_LEN`].

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The largest vault file [`decrypt`] and [`header`] accept, in bytes (64 MiB). Secret files are
/// small; the cap bounds the memory and time a hostile file can cost.
pub(crate) const MAX_VAULT_LEN: usize = 64 * 1024 * 1024;

/// The largest plaintext [`encrypt`] accepts, in bytes: the hex-in-hex encoding with its line
/// breaks is just over four times larger, so what [`encrypt`] writes [`decrypt`] always reads.
pub(crate) const MAX_PLAINTEXT_LEN: usize = MAX_VAULT_LEN / 5;

/// The first header field.
const MAGIC: &[u8] = b"$ANSIBLE_VAULT";
/// The only cipher ansible-vault writes (its `CIPHER_WRITE_ALLOWLIST`).
const CIPHER: &str = "AES256";
const PBKDF2_ROUNDS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const BLOCK_LEN: usize = 16;
const HMAC_LEN: usize = 32;
/// ansible-vault uses 32 random bytes; `VAULT_ENCRYPT_SALT` lets users set any string.
const SALT_LEN: usize = 32;
/// Generous for a custom salt, small enough that PBKDF2 stays cheap on hostile input.
const MAX_SALT_LEN: usize = 1024;
/// Hex columns per line in the file.
const LINE_WIDTH: usize = 80;
/// How many characters of a hostile header field an error message shows.
const SHOWN_CHARS: usize = 40;

type HmacSha256 = Hmac<Sha256>;
type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Why a vault file could not be read, decrypted or written. Messages never include plaintext or
/// password bytes.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The data does not start with an `$ANSIBLE_VAULT;` header.
    #[error("the data is not an ansible-vault file (it does not start with `$ANSIBLE_VAULT;`)")]
    NotVault,
    /// The header names a format version other than 1.1 or 1.2.
    #[error("unsupported ansible-vault format version `{0}` (expected `1.1` or `1.2`)")]
    UnsupportedVersion(String),
    /// The header names a cipher other than AES256.
    #[error("unsupported ansible-vault cipher `{0}` (only `AES256` is supported)")]
    UnsupportedCipher(String),
    /// The header or the payload is not well formed; the text says what is wrong.
    #[error("malformed ansible-vault file: {0}")]
    Malformed(String),
    /// The HMAC does not match: the password is wrong, or the file was changed after encryption.
    #[error("the vault password is wrong or the file was modified (HMAC mismatch)")]
    WrongPasswordOrTampered,
    /// The HMAC matched but the decrypted data does not end in valid PKCS#7 padding, so the file
    /// was written by something other than ansible-vault.
    #[error(
        "the decrypted data has invalid PKCS#7 padding (the file was not written by ansible-vault)"
    )]
    BadPadding,
    /// The input is over the size limit ([`MAX_VAULT_LEN`] or [`MAX_PLAINTEXT_LEN`]).
    #[error("the {what} is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was too large: `vault file` or `plaintext`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The vault id given to [`encrypt`] cannot be written into a header.
    #[error("invalid vault id: {0}")]
    InvalidVaultId(String),
    /// The operating system's random number generator failed while making a salt.
    /// (getrandom 0.2 without its `std` feature has no `std::error::Error` impl, so the cause is
    /// shown in the message instead of as a source.)
    #[error("could not generate a random salt: {0}")]
    Random(getrandom::Error),
}

/// The first line of a vault file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultHeader {
    /// The format version: `1.1` or `1.2`.
    pub version: String,
    /// The cipher name; always `AES256` once parsed.
    pub cipher: String,
    /// The vault id label of a 1.2 header, if it has one.
    pub vault_id: Option<String>,
}

/// Whether `data` looks like a vault file: it starts, after optional leading whitespace, with
/// `$ANSIBLE_VAULT;`.
#[must_use]
pub fn is_vault(data: &[u8]) -> bool {
    let data = data.trim_ascii_start();
    data.starts_with(MAGIC) && data.get(MAGIC.len()) == Some(&b';')
}

/// Parses the header of a vault file without decrypting anything.
///
/// # Errors
/// [`VaultError::NotVault`] when `data` is not a vault file, [`VaultError::UnsupportedVersion`]
/// or [`VaultError::UnsupportedCipher`] for formats this module does not read,
/// [`VaultError::Malformed`] for a broken header and [`VaultError::TooLarge`] over
/// [`MAX_VAULT_LEN`].
pub fn header(data: &[u8]) -> Result<VaultHeader, VaultError> {
    split_envelope(data).map(|(header, _)| header)
}

/// Decrypts a vault file with `password` (the exact bytes; ansible strips surrounding whitespace
/// from password files, so callers reading one should do the same).
///
/// The vault id in a 1.2 header is not checked: ansible treats it as a label only.
///
/// # Errors
/// Everything [`header`] reports, [`VaultError::Malformed`] for a broken payload (bad hex,
/// missing lines, wrong field sizes), [`VaultError::WrongPasswordOrTampered`] when the HMAC does
/// not match (nothing is decrypted then), and [`VaultError::BadPadding`].
pub fn decrypt(data: &[u8], password: &[u8]) -> Result<Vec<u8>, VaultError> {
    let (_, body) = split_envelope(data)?;
    let payload = unhex_body(body)?;
    let Payload {
        salt,
        hmac,
        mut ciphertext,
    } = Payload::parse(&payload)?;
    let keys = Keys::derive(password, &salt);

    // Refuse before decrypting: `verify_slice` compares in constant time.
    keys.mac()
        .chain_update(&ciphertext)
        .verify_slice(&hmac)
        .map_err(|_| VaultError::WrongPasswordOrTampered)?;

    keys.cipher().apply_keystream(&mut ciphertext);
    let len = unpadded_len(&ciphertext).ok_or(VaultError::BadPadding)?;
    ciphertext.truncate(len);
    Ok(ciphertext)
}

/// Encrypts `plaintext` with `password` and a fresh random 32-byte salt, as `ansible-vault
/// encrypt` does: format 1.1 without a vault id, 1.2 with `vault_id` in the header. The result
/// ends with a newline.
///
/// # Errors
/// [`VaultError::InvalidVaultId`] when `vault_id` is empty, has surrounding whitespace, or
/// contains `;` or control characters; [`VaultError::TooLarge`] over [`MAX_PLAINTEXT_LEN`];
/// [`VaultError::Random`] when the system random number generator fails.
pub fn encrypt(
    plaintext: &[u8],
    password: &[u8],
    vault_id: Option<&str>,
) -> Result<String, VaultError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(VaultError::TooLarge {
            what: "plaintext",
            len: plaintext.len(),
            limit: MAX_PLAINTEXT_LEN,
        });
    }
    if let Some(id) = vault_id {
        check_vault_id(id)?;
    }
    let mut salt = [0_u8; SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(VaultError::Random)?;
    Ok(seal(pad(plaintext), password, &salt, vault_id))
}

/// The header of `data` and the rest of the file after the header line.
fn split_envelope(data: &[u8]) -> Result<(VaultHeader, &[u8]), VaultError> {
    if data.len() > MAX_VAULT_LEN {
        return Err(VaultError::TooLarge {
            what: "vault file",
            len: data.len(),
            limit: MAX_VAULT_LEN,
        });
    }
    if !is_vault(data) {
        return Err(VaultError::NotVault);
    }
    let data = data.trim_ascii_start();
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &b""[..]),
    };
    Ok((parse_header(line)?, body))
}

/// Parses `$ANSIBLE_VAULT;<version>;<cipher>[;<vault-id>]`. Like ansible, each field is trimmed,
/// and a vault id is read whatever the version says.
fn parse_header(line: &[u8]) -> Result<VaultHeader, VaultError> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b';').map(<[u8]>::trim_ascii).collect();
    if fields.len() < 3 || fields.len() > 4 {
        return Err(VaultError::Malformed(format!(
            "the header has {} `;`-separated fields, expected `$ANSIBLE_VAULT;<version>;<cipher>` and an optional vault id",
            fields.len()
        )));
    }
    let version = match fields[1] {
        b"1.1" => "1.1",
        b"1.2" => "1.2",
        other => return Err(VaultError::UnsupportedVersion(shown(other))),
    };
    if fields[2] != CIPHER.as_bytes() {
        return Err(VaultError::UnsupportedCipher(shown(fields[2])));
    }
    let vault_id = match fields.get(3) {
        None | Some([]) => None,
        Some(id) => Some(
            std::str::from_utf8(id)
                .map_err(|_| {
                    VaultError::Malformed(
                        "the vault id in the header is not valid UTF-8".to_string(),
                    )
                })?
                .to_string(),
        ),
    };
    Ok(VaultHeader {
        version: version.to_string(),
        cipher: CIPHER.to_string(),
        vault_id,
    })
}

/// Joins the 80-column lines after the header (tolerating `\r\n` and blank lines) and un-hexes them.
fn unhex_body(body: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut joined = Vec::with_capacity(body.len());
    for line in body.split(|&b| b == b'\n') {
        joined.extend_from_slice(line.trim_ascii());
    }
    if joined.is_empty() {
        return Err(VaultError::Malformed(
            "there is no payload after the header".to_string(),
        ));
    }
    unhex(&joined, "payload")
}

/// The three fields of the un-hexed payload.
struct Payload {
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Payload {
    fn parse(payload: &[u8]) -> Result<Self, VaultError> {
        let mut lines = payload.splitn(3, |&b| b == b'\n');
        let (Some(salt), Some(hmac), Some(ciphertext)) = (lines.next(), lines.next(), lines.next())
        else {
            let found = payload.split(|&b| b == b'\n').count();
            return Err(VaultError::Malformed(format!(
                "the payload has {found} line(s), expected 3 (salt, hmac, ciphertext)"
            )));
        };
        let (salt, hmac, ciphertext) = (
            unhex(salt, "salt")?,
            unhex(hmac, "hmac")?,
            unhex(ciphertext, "ciphertext")?,
        );
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(VaultError::Malformed(format!(
                "the salt is {} bytes, expected 1 to {MAX_SALT_LEN}",
                salt.len()
            )));
        }
        if hmac.len() != HMAC_LEN {
            return Err(VaultError::Malformed(format!(
                "the hmac is {} bytes, expected {HMAC_LEN}",
                hmac.len()
            )));
        }
        if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
            return Err(VaultError::Malformed(format!(
                "the ciphertext is {} bytes, expected a positive multiple of {BLOCK_LEN}",
                ciphertext.len()
            )));
        }
        Ok(Self {
            salt,
            hmac,
            ciphertext,
        })
    }
}

/// Decodes hex (either case) with a message that names `field` but never echoes its bytes.
fn unhex(text: &[u8], field: &str) -> Result<Vec<u8>, VaultError> {
    hex::decode(text).map_err(|e| {
        VaultError::Malformed(match e {
            hex::FromHexError::OddLength => format!("the {field} has an odd number of hex digits"),
            hex::FromHexError::InvalidHexCharacter { index, .. } => {
                format!("the {field} has a non-hex character at offset {index}")
            }
            hex::FromHexError::InvalidStringLength => format!("the {field} is not valid hex"),
        })
    })
}

/// The keys PBKDF2 derives from the password and salt.
struct Keys {
    cipher: [u8; KEY_LEN],
    mac: [u8; KEY_LEN],
    iv: [u8; IV_LEN],
}

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Self {
        let mut out = [0_u8; 2 * KEY_LEN + IV_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, PBKDF2_ROUNDS, &mut out);
        let mut keys = Self {
            cipher: [0; KEY_LEN],
            mac: [0; KEY_LEN],
            iv: [0; IV_LEN],
        };
        keys.cipher.copy_from_slice(&out[..KEY_LEN]);
        keys.mac.copy_from_slice(&out[KEY_LEN..2 * KEY_LEN]);
        keys.iv.copy_from_slice(&out[2 * KEY_LEN..]);
        keys
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length (RFC 2104), so this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.mac).expect("HMAC accepts a key of any length")
    }

    fn cipher(&self) -> Aes256Ctr {
        Aes256Ctr::new(&self.cipher.into(), &self.iv.into())
    }
}

/// PKCS#7: 1 to 16 bytes, each holding the pad length.
fn pad(plaintext: &[u8]) -> Vec<u8> {
    let n = BLOCK_LEN - plaintext.len() % BLOCK_LEN;
    let mut padded = Vec::with_capacity(plaintext.len() + n);
    padded.extend_from_slice(plaintext);
    padded.resize(plaintext.len() + n, u8::try_from(n).unwrap_or(0));
    padded
}

/// The length without PKCS#7 padding, or `None` when the padding is invalid. Runs after the HMAC
/// matched, so it does not need to be constant-time.
fn unpadded_len(padded: &[u8]) -> Option<usize> {
    let n = usize::from(*padded.last()?);
    if n == 0 || n > BLOCK_LEN || n > padded.len() {
        return None;
    }
    let (rest, tail) = padded.split_at(padded.len() - n);
    tail.iter()
        .all(|&b| usize::from(b) == n)
        .then_some(rest.len())
}

/// Encrypts already padded data with `salt` and formats the file.
fn seal(mut data: Vec<u8>, password: &[u8], salt: &[u8], vault_id: Option<&str>) -> String {
    let keys = Keys::derive(password, salt);
    keys.cipher().apply_keystream(&mut data);
    let hmac = keys.mac().chain_update(&data).finalize().into_bytes();
    let payload = [hex::encode(salt), hex::encode(hmac), hex::encode(&data)].join("\n");
    let body = hex::encode(payload);

    let mut out = match vault_id {
        Some(id) => format!("$ANSIBLE_VAULT;1.2;{CIPHER};{id}\n"),
        None => format!("$ANSIBLE_VAULT;1.1;{CIPHER}\n"),
    };
    out.reserve(body.len() + body.len() / LINE_WIDTH + 1);
    // The body is ASCII hex, so every 80-byte chunk is valid UTF-8.
    for line in body.as_bytes().chunks(LINE_WIDTH) {
        out.extend(line.iter().map(|&b| char::from(b)));
        out.push('\n');
    }
    out
}

/// A vault id must survive the round trip through the header: ansible splits on `;` and trims
/// each field.
fn check_vault_id(id: &str) -> Result<(), VaultError> {
    let problem = if id.is_empty() {
        "it is empty"
    } else if id.contains(';') {
        "it contains `;`"
    } else if id.chars().any(char::is_control) {
        "it contains a control character"
    } else if id.trim() != id {
        "it has leading or trailing whitespace"
    } else {
        return Ok(());
    };
    Err(VaultError::InvalidVaultId(format!(
        "`{}`: {problem}",
        shown(id.as_bytes())
    )))
}

/// A short, printable rendering of a hostile header field for an error message.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(SHOWN_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > SHOWN_CHARS {
        out.push('…');
    }
    out
}

/// A vault password; `Debug` never shows it. Password files are read as ansible reads them:
/// surrounding whitespace stripped.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultPassword(Vec<u8>);

impl VaultPassword {
    /// From the bytes of a password file or of stdin, surrounding whitespace stripped.
    pub(crate) fn from_file_bytes(bytes: &[u8]) -> Self {
        Self(bytes.trim_ascii().to_vec())
    }

    /// The password.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether it is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for VaultPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultPassword(********)")
    }
}

/// Why a file that may be a vault has no plaintext.
#[derive(Debug, thiserror::Error)]
pub enum VaultFileError {
    /// The file cannot be read.
    #[error("cannot read `{}`: {error}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is a vault and no password is set.
    #[error("`{}` is encrypted with ansible-vault and no vault password is set (`dokku compose:vault-password <app>`, or `--vault-password-file`)", path.display())]
    NoPassword {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The vault does not decrypt.
    #[error("cannot decrypt `{}`: {error}", path.display())]
    Decrypt {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: VaultError,
    },
}

impl VaultFileError {
    /// Whether the file does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Read { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads a file that may be vault-encrypted: its plaintext, decrypted with `password` when it
/// is a vault. A vault without a password is an error that says how to give one.
pub(crate) fn read_maybe_vault(
    path: &std::path::Path,
    password: Option<&VaultPassword>,
) -> Result<Vec<u8>, VaultFileError> {
    let data = std::fs::read(path).map_err(|error| VaultFileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    plaintext(data, path, password)
}

/// The plaintext of `data`, read from `path` (named in errors): decrypted with `password`
/// when it is a vault.
pub(crate) fn plaintext(
    data: Vec<u8>,
    path: &std::path::Path,
    password: Option<&VaultPassword>,
) -> Result<Vec<u8>, VaultFileError> {
    if !is_vault(&data) {
        return Ok(data);
    }
    let Some(pw) = password.filter(|p| !p.is_empty()) else {
        return Err(VaultFileError::NoPassword {
            path: path.to_path_buf(),
        });
    };
    decrypt(&data, pw.as_bytes()).map_err(|error| VaultFileError::Decrypt {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests;
