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
pub const MAX_VAULT_LEN: usize = 64 * 1024 * 1024;

/// The largest plaintext [`encrypt`] accepts, in bytes: the hex-in-hex encoding with its line
/// breaks is just over four times larger, so what [`encrypt`] writes [`decrypt`] always reads.
pub const MAX_PLAINTEXT_LEN: usize = MAX_VAULT_LEN / 5;

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

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &[u8] = b"correct horse battery staple";
    const PLAINTEXT: &[u8] = b"DATABASE_URL=postgres://app:s3cret@db/app\nAPI_KEY=abc123\n";

    /// `printf '%s' "$PLAINTEXT" > in; ansible-vault encrypt --vault-password-file pw in`
    /// (ansible-core 2.19.14, password file holding `correct horse battery staple`).
    const ANSIBLE_1_1: &str = "\
$ANSIBLE_VAULT;1.1;AES256
34653832663937613738326563636633323834303334633639393061616535353161343537353764
3563393361303066646261303066666239616336363563310a366235383435323563633436363961
62386438343161343434343736326435356339353332363133626161396532363831663431313964
3164633963353335630a343233386633356363383266663439393965316665613039353265653066
30303161353836623731303263303534643332613562306434643064383862386438633161353864
37343066626133646531356666393633393464656237306537646232386531396165356637366265
373263393830666165333365363637653664
";

    /// As above with `--vault-id prod@pw` and `ANSIBLE_VAULT_ENCRYPT_SALT=` the salt below, so
    /// the output is deterministic and our encryption must reproduce it byte for byte.
    const ANSIBLE_1_2: &str = "\
$ANSIBLE_VAULT;1.2;AES256;prod
36343666366236623735326436333666366437303666373336353264366236653666373736653264
3631366537333737363537323264373336313663373432310a633030383466653461323439626534
33323161633239316538643833346363343337383936343232373539303737636331386666343237
6632313061323762330a623161663737623133323134333762313066303137633237636361376231
39643337323966306638363064313730363562313937346632396164366233383139626534613434
65396662373632666665663263656565373432333337663266376639653939663065346438633235
373136366439623634353133646439343434
";
    const ANSIBLE_1_2_SALT: &[u8] = b"dokku-compose-known-answer-salt!";

    /// The error, checked to carry neither the password nor the plaintext.
    fn err(result: Result<Vec<u8>, VaultError>) -> VaultError {
        let e = result.expect_err("expected an error");
        let msg = e.to_string();
        assert!(
            !msg.contains("correct horse") && !msg.contains("s3cret"),
            "message leaks a secret: {msg}"
        );
        assert!(
            msg.starts_with(char::is_lowercase),
            "not a lowercase fragment: {msg}"
        );
        e
    }

    /// Re-encodes a vault file after `edit` changed its three hex payload lines.
    fn tamper(file: &str, edit: impl FnOnce(&mut [String; 3])) -> String {
        let (head, body) = file.split_once('\n').unwrap();
        let payload = hex::decode(body.replace('\n', "")).unwrap();
        let text = String::from_utf8(payload).unwrap();
        let mut lines: [String; 3] = text
            .splitn(3, '\n')
            .map(str::to_string)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        edit(&mut lines);
        format!("{head}\n{}\n", hex::encode(lines.join("\n")))
    }

    /// Flips the low bit of the hex digit at `i`, keeping it a hex digit.
    fn flip(line: &mut String, i: usize) {
        let mut bytes = std::mem::take(line).into_bytes();
        let digit = u8::try_from(char::from(bytes[i]).to_digit(16).unwrap() ^ 1).unwrap();
        bytes[i] = b"0123456789abcdef"[usize::from(digit)];
        *line = String::from_utf8(bytes).unwrap();
    }

    #[test]
    fn round_trip_1_1() {
        let file = encrypt(PLAINTEXT, PASSWORD, None).unwrap();
        assert!(file.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{file}");
        assert!(file.ends_with('\n'));
        assert!(file
            .lines()
            .skip(1)
            .all(|l| l.len() <= LINE_WIDTH && !l.is_empty()));
        assert_eq!(
            header(file.as_bytes()).unwrap(),
            VaultHeader {
                version: "1.1".into(),
                cipher: "AES256".into(),
                vault_id: None
            }
        );
        assert_eq!(decrypt(file.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
    }

    #[test]
    fn round_trip_1_2() {
        let file = encrypt(PLAINTEXT, PASSWORD, Some("prod")).unwrap();
        assert!(
            file.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
            "{file}"
        );
        assert_eq!(
            header(file.as_bytes()).unwrap().vault_id.as_deref(),
            Some("prod")
        );
        assert_eq!(decrypt(file.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
    }

    #[test]
    fn salts_are_fresh() {
        let a = encrypt(PLAINTEXT, PASSWORD, None).unwrap();
        let b = encrypt(PLAINTEXT, PASSWORD, None).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn known_answer_from_ansible_vault() {
        assert_eq!(
            decrypt(ANSIBLE_1_1.as_bytes(), PASSWORD).unwrap(),
            PLAINTEXT
        );
        assert_eq!(
            decrypt(ANSIBLE_1_2.as_bytes(), PASSWORD).unwrap(),
            PLAINTEXT
        );
        assert_eq!(
            header(ANSIBLE_1_2.as_bytes()).unwrap().vault_id.as_deref(),
            Some("prod")
        );
    }

    #[test]
    fn known_answer_encryption_matches_ansible_vault_byte_for_byte() {
        assert_eq!(
            seal(pad(PLAINTEXT), PASSWORD, ANSIBLE_1_2_SALT, Some("prod")),
            ANSIBLE_1_2
        );
    }

    #[test]
    fn crlf_and_leading_whitespace_are_tolerated() {
        let crlf = ANSIBLE_1_1.replace('\n', "\r\n");
        assert_eq!(decrypt(crlf.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
        let indented = format!("\n  {ANSIBLE_1_1}\n\n");
        assert!(is_vault(indented.as_bytes()));
        assert_eq!(decrypt(indented.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
    }

    #[test]
    fn wrong_password() {
        let e = err(decrypt(
            ANSIBLE_1_1.as_bytes(),
            b"correct horse battery stapler",
        ));
        assert!(matches!(e, VaultError::WrongPasswordOrTampered), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the vault password is wrong or the file was modified (HMAC mismatch)"
        );
        assert!(matches!(
            err(decrypt(ANSIBLE_1_1.as_bytes(), b"")),
            VaultError::WrongPasswordOrTampered
        ));
    }

    #[test]
    fn tampered_ciphertext_hmac_or_salt() {
        for field in 0..3 {
            for i in [0, 17, 63] {
                let file = tamper(ANSIBLE_1_1, |lines| flip(&mut lines[field], i));
                let e = err(decrypt(file.as_bytes(), PASSWORD));
                assert!(
                    matches!(e, VaultError::WrongPasswordOrTampered),
                    "field {field}, digit {i}: {e:?}"
                );
            }
        }
        // Dropping a whole ciphertext block keeps the structure valid but breaks the HMAC.
        let file = tamper(ANSIBLE_1_1, |lines| lines[2].truncate(lines[2].len() - 32));
        assert!(matches!(
            err(decrypt(file.as_bytes(), PASSWORD)),
            VaultError::WrongPasswordOrTampered
        ));
    }

    #[test]
    fn the_vault_id_is_only_a_label() {
        let relabelled = ANSIBLE_1_2.replace(";prod\n", ";staging\n");
        assert_eq!(decrypt(relabelled.as_bytes(), PASSWORD).unwrap(), PLAINTEXT);
    }

    #[test]
    fn header_errors() {
        let body = ANSIBLE_1_1.split_once('\n').unwrap().1;
        let with = |head: &str| format!("{head}\n{body}");
        let v = |head: &str| err(decrypt(with(head).as_bytes(), PASSWORD));
        assert!(
            matches!(v("$ANSIBLE_VAULT;1.0;AES256"), VaultError::UnsupportedVersion(s) if s == "1.0")
        );
        assert!(
            matches!(v("$ANSIBLE_VAULT;;AES256"), VaultError::UnsupportedVersion(s) if s.is_empty())
        );
        assert!(
            matches!(v("$ANSIBLE_VAULT;1.1;AES128"), VaultError::UnsupportedCipher(s) if s == "AES128")
        );
        assert!(matches!(v("$ANSIBLE_VAULT;1.1"), VaultError::Malformed(_)));
        assert!(matches!(
            v("$ANSIBLE_VAULT;1.2;AES256;a;b"),
            VaultError::Malformed(_)
        ));
        assert!(matches!(
            v("$ANSIBLE_VAULTX;1.1;AES256"),
            VaultError::NotVault
        ));
        let bad_id = [
            b"$ANSIBLE_VAULT;1.2;AES256;\xff\n".as_slice(),
            body.as_bytes(),
        ]
        .concat();
        assert!(matches!(
            err(decrypt(&bad_id, PASSWORD)),
            VaultError::Malformed(_)
        ));
        // A huge hostile field is cut short in the message.
        let long = format!("$ANSIBLE_VAULT;{};AES256", "9".repeat(10_000));
        let msg = v(&long).to_string();
        assert!(msg.len() < 200, "{msg}");
        assert_eq!(
            header(with("$ANSIBLE_VAULT; 1.2 ; AES256 ; dev ").as_bytes())
                .unwrap()
                .vault_id
                .as_deref(),
            Some("dev")
        );
    }

    #[test]
    fn not_a_vault() {
        for data in [
            &b""[..],
            b"   ",
            b"hello",
            b"$ANSIBLE_VAULT",
            b"ANSIBLE_VAULT;1.1;AES256\n00",
            b"\xef\xbb\xbf$ANSIBLE_VAULT;1.1;AES256\n",
        ] {
            assert!(!is_vault(data));
            assert!(matches!(err(decrypt(data, PASSWORD)), VaultError::NotVault));
            assert!(matches!(header(data), Err(VaultError::NotVault)));
        }
    }

    #[test]
    fn malformed_payloads() {
        let head = "$ANSIBLE_VAULT;1.1;AES256\n";
        let salt = "ab".repeat(32);
        let hmac = "cd".repeat(32);
        let ct = "ef".repeat(32);
        let inner = |s: &str, h: &str, c: &str| {
            format!("{head}{}\n", hex::encode(format!("{s}\n{h}\n{c}")))
        };
        let cases: Vec<(String, &str)> = vec![
            (head.to_string(), "no payload"),
            ("$ANSIBLE_VAULT;1.1;AES256".to_string(), "no payload"),
            (format!("{head}\n\n"), "no payload"),
            (format!("{head}abc\n"), "payload has an odd number"),
            (
                format!("{head}zz\n"),
                "payload has a non-hex character at offset 0",
            ),
            (
                format!("{head}3031\n3g\n"),
                "payload has a non-hex character at offset 5",
            ),
            (
                format!("{head}{}\n", hex::encode("abcd")),
                "1 line(s), expected 3",
            ),
            (
                format!("{head}{}\n", hex::encode(format!("{salt}\n{hmac}"))),
                "2 line(s), expected 3",
            ),
            (inner(&salt[1..], &hmac, &ct), "salt has an odd number"),
            (inner("", &hmac, &ct), "salt is 0 bytes"),
            (
                inner(&"00".repeat(MAX_SALT_LEN + 1), &hmac, &ct),
                "salt is 1025 bytes",
            ),
            (inner(&salt, "xy", &ct), "hmac has a non-hex character"),
            (inner(&salt, &hmac[2..], &ct), "hmac is 31 bytes"),
            (inner(&salt, &hmac, ""), "ciphertext is 0 bytes"),
            (inner(&salt, &hmac, &ct[2..]), "ciphertext is 31 bytes"),
            (
                inner(&salt, &hmac, &format!("{ct}\n{ct}0")),
                "ciphertext has a non-hex character at offset 64",
            ),
        ];
        for (file, want) in cases {
            let e = err(decrypt(file.as_bytes(), PASSWORD));
            assert!(matches!(e, VaultError::Malformed(_)), "{file:?}: {e:?}");
            assert!(
                e.to_string().contains(want),
                "{file:?}: `{e}` lacks `{want}`"
            );
        }
    }

    #[test]
    fn huge_inputs_are_refused_or_cheap() {
        // One huge line of valid hex without newlines inside: bounded, linear work.
        let file = format!(
            "$ANSIBLE_VAULT;1.1;AES256\n{}\n",
            "61".repeat(4 * 1024 * 1024)
        );
        assert!(matches!(
            err(decrypt(file.as_bytes(), PASSWORD)),
            VaultError::Malformed(_)
        ));
        let mut huge = b"$ANSIBLE_VAULT;1.1;AES256\n".to_vec();
        huge.resize(MAX_VAULT_LEN + 1, b'0');
        let e = err(decrypt(&huge, PASSWORD));
        assert!(
            matches!(
                e,
                VaultError::TooLarge {
                    what: "vault file",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(header(&huge), Err(VaultError::TooLarge { .. })));
        let big = vec![0_u8; MAX_PLAINTEXT_LEN + 1];
        assert!(matches!(
            encrypt(&big, PASSWORD, None),
            Err(VaultError::TooLarge {
                what: "plaintext",
                ..
            })
        ));
    }

    #[test]
    fn the_largest_plaintext_fits_under_the_file_limit() {
        let overhead = "$ANSIBLE_VAULT;1.2;AES256;".len() + 256;
        let padded = MAX_PLAINTEXT_LEN + BLOCK_LEN;
        let inner = 2 * SALT_LEN + 1 + 2 * HMAC_LEN + 1 + 2 * padded;
        let body = 2 * inner;
        let file_len = overhead + body + body / LINE_WIDTH + 1;
        assert!(file_len <= MAX_VAULT_LEN, "{file_len}");
    }

    #[test]
    fn padding_edge_cases() {
        for (len, blocks) in [(0, 1), (1, 1), (15, 1), (16, 2), (17, 2), (32, 3)] {
            let plaintext: Vec<u8> = (0..len).map(|i| u8::try_from(i).unwrap()).collect();
            let padded = pad(&plaintext);
            assert_eq!(padded.len(), blocks * BLOCK_LEN, "len {len}");
            assert_eq!(unpadded_len(&padded), Some(len));
            let file = encrypt(&plaintext, PASSWORD, None).unwrap();
            assert_eq!(
                decrypt(file.as_bytes(), PASSWORD).unwrap(),
                plaintext,
                "len {len}"
            );
        }
    }

    #[test]
    fn bad_padding_behind_a_valid_hmac() {
        let mut bad_tail = vec![b'x'; 16];
        bad_tail[14] = 3;
        bad_tail[15] = 2;
        for data in [
            vec![0_u8; 16],
            vec![17_u8; 16],
            [vec![0_u8; 31], vec![16]].concat(),
            bad_tail,
        ] {
            let file = seal(data, PASSWORD, &[7; SALT_LEN], None);
            let e = err(decrypt(file.as_bytes(), PASSWORD));
            assert!(matches!(e, VaultError::BadPadding), "{e:?}");
        }
        // A full block of padding is valid.
        let file = seal(vec![16_u8; 16], PASSWORD, &[7; SALT_LEN], None);
        assert_eq!(decrypt(file.as_bytes(), PASSWORD).unwrap(), b"");
    }

    #[test]
    fn invalid_vault_ids() {
        for id in ["", "a;b", " a", "a ", "a\nb", "a\tb"] {
            let e = encrypt(b"x", PASSWORD, Some(id)).expect_err(id);
            assert!(matches!(e, VaultError::InvalidVaultId(_)), "{id:?}: {e:?}");
        }
        let file = encrypt(b"x", PASSWORD, Some("team prod/é")).unwrap();
        assert_eq!(
            header(file.as_bytes()).unwrap().vault_id.as_deref(),
            Some("team prod/é")
        );
    }

    #[test]
    fn mutated_files_never_panic() {
        // A small deterministic fuzz: each mutation must give a plaintext or a typed error.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % 1_000_003).unwrap()
        };
        let original = ANSIBLE_1_1.as_bytes();
        for _ in 0..40 {
            let mut data = original.to_vec();
            match next() % 3 {
                0 => data.truncate(next() % original.len()),
                1 => {
                    let i = next() % data.len();
                    data[i] = u8::try_from(next() % 256).unwrap();
                }
                _ => {
                    let i = next() % data.len();
                    data.insert(i, b"\n;0a\r "[next() % 6]);
                }
            }
            if let Ok(plain) = decrypt(&data, PASSWORD) {
                assert_eq!(plain, PLAINTEXT);
            }
        }
    }
}

/// A vault password; `Debug` never shows it. Password files are read as ansible reads them:
/// surrounding whitespace stripped.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultPassword(Vec<u8>);

impl VaultPassword {
    /// From the bytes of a password file or of stdin, surrounding whitespace stripped.
    pub fn from_file_bytes(bytes: &[u8]) -> Self {
        Self(bytes.trim_ascii().to_vec())
    }

    /// The password.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for VaultPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultPassword(********)")
    }
}

/// Reads a file that may be vault-encrypted: its plaintext, decrypted with `password` when it
/// is a vault. A vault without a password is an error that says how to give one.
pub fn read_maybe_vault(
    path: &std::path::Path,
    password: Option<&VaultPassword>,
) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    plaintext(data, path, password)
}

/// The plaintext of `data`, read from `path` (named in errors): decrypted with `password`
/// when it is a vault.
pub fn plaintext(
    data: Vec<u8>,
    path: &std::path::Path,
    password: Option<&VaultPassword>,
) -> Result<Vec<u8>, String> {
    if !is_vault(&data) {
        return Ok(data);
    }
    let Some(pw) = password.filter(|p| !p.is_empty()) else {
        return Err(format!("`{}` is encrypted with ansible-vault and no vault password is set (`dokku compose:vault-password <app>`, or `--vault-password-file`)", path.display()));
    };
    decrypt(&data, pw.as_bytes()).map_err(|e| format!("cannot decrypt `{}`: {e}", path.display()))
}
