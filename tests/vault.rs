//! Interop with the real `ansible-vault` (`PyPI` package `ansible-core`, installed by `scripts/setup-vault`):
//! files it encrypts, format 1.1 and 1.2, our `vault::decrypt` reads byte for byte; files our
//! `vault::encrypt` writes, it reads byte for byte; wrong passwords and tampered files give our
//! clear errors (issue #8, "Encrypted secrets").
//!
//! Fails (never skips) when the binary is missing: set `ANSIBLE_VAULT_BIN` or run
//! `scripts/setup-vault`. Each run gets an empty ansible config and a temporary HOME, so the
//! user's own ansible setup does not matter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dokku_compose::vault::{self, VaultError};

const PASSWORD: &str = "s3cret-vault-pass";
const WRONG_PASSWORD: &str = "not-the-vault-pass";

/// The contents every direction is checked with.
fn contents() -> Vec<(&'static str, Vec<u8>)> {
    let mut binary: Vec<u8> = (0..=255_u8).collect();
    binary.extend(b"\r\n\0\xff\xfe trailing bytes without a newline");
    vec![
        ("multi-line", b"first line\nsecond line\n\nfourth line after a blank one\n".to_vec()),
        ("empty", Vec::new()),
        ("one block", b"exactly 16 bytes".to_vec()),
        ("utf-8", "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c}\u{8a9e} \u{1f510}\n".as_bytes().to_vec()),
        ("binary", binary),
        (
            "yaml env file",
            b"# production secrets\nDATABASE_URL: \"postgres://app:p%40ss@db:5432/app\"\nSECRET_KEY_BASE: 'a1b2c3d4e5f6'\nSMTP_PASSWORD: |\n  multi\n  line\n"
                .to_vec(),
        ),
        ("large", (0..5000_u32).flat_map(|i| format!("KEY_{i}=value-{}\n", i * 7919).into_bytes()).collect()),
    ]
}

/// The real `ansible-vault`, run in an isolated temporary directory.
struct Real {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Real {
    fn new() -> Self {
        let Some(bin) = std::env::var_os("ANSIBLE_VAULT_BIN") else {
            panic!("ANSIBLE_VAULT_BIN is not set: run scripts/setup-vault and export ANSIBLE_VAULT_BIN to the path it prints");
        };
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "ansible-vault missing at `{}` (from ANSIBLE_VAULT_BIN): run scripts/setup-vault",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("ansible.cfg"), "").unwrap();
        std::fs::write(dir.path().join("pass"), format!("{PASSWORD}\n")).unwrap();
        std::fs::write(dir.path().join("wrong-pass"), format!("{WRONG_PASSWORD}\n")).unwrap();
        Self { bin, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ansible-vault <args>` with a clean environment: an empty config file (ansible refuses
    /// `/dev/null`, which has no extension), a temporary HOME, and a UTF-8 locale.
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(&self.bin)
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.path("home"))
            .env("ANSIBLE_CONFIG", self.path("ansible.cfg"))
            .env("ANSIBLE_HOME", self.path("home/.ansible"))
            .env("ANSIBLE_LOCAL_TEMP", self.path("home/tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "C.UTF-8")
            .output()
            .expect("run ansible-vault");
        out
    }

    fn run_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ansible-vault {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The secret arguments: `--vault-password-file pass`, or `--vault-id <id>@pass` for 1.2.
    fn secret(&self, vault_id: Option<&str>, pass: &str) -> Vec<String> {
        let file = self.path(pass).display().to_string();
        match vault_id {
            Some(id) => vec!["--vault-id".into(), format!("{id}@{file}")],
            None => vec!["--vault-password-file".into(), file],
        }
    }

    /// Encrypts `plaintext` with the real ansible-vault and returns the file it wrote.
    fn encrypt(&self, name: &str, plaintext: &[u8], vault_id: Option<&str>) -> Vec<u8> {
        let input = self.path(&format!("{name}.plain"));
        let output = self.path(&format!("{name}.vault"));
        std::fs::write(&input, plaintext).unwrap();
        let mut args = vec!["encrypt".to_string()];
        args.extend(self.secret(vault_id, "pass"));
        args.extend(["--output".into(), path_arg(&output), path_arg(&input)]);
        self.run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::read(&output).unwrap()
    }

    /// Writes `file` and runs `ansible-vault <verb>` on it (`decrypt --output -` or `view`).
    fn read(
        &self,
        verb: &str,
        name: &str,
        file: &str,
        vault_id: Option<&str>,
        pass: &str,
    ) -> Output {
        let path = self.path(&format!("{name}.ours"));
        std::fs::write(&path, file).unwrap();
        let mut args = vec![verb.to_string()];
        args.extend(self.secret(vault_id, pass));
        if verb == "decrypt" {
            args.extend(["--output".into(), "-".into()]);
        }
        args.push(path_arg(&path));
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("UTF-8 temporary path").to_string()
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn files_ansible_vault_encrypts_we_decrypt_byte_exactly() {
    let real = Real::new();
    for (version, vault_id) in [("1.1", None), ("1.2", Some("prod"))] {
        for (name, plaintext) in contents() {
            let file = real.encrypt(&format!("{name}-{version}"), &plaintext, vault_id);
            let header = vault::header(&file).unwrap_or_else(|e| panic!("{name} {version}: {e}"));
            assert_eq!(header.version, version, "{name}");
            assert_eq!(header.cipher, "AES256", "{name}");
            assert_eq!(header.vault_id.as_deref(), vault_id, "{name}");
            assert!(vault::is_vault(&file), "{name} {version}");
            let ours = vault::decrypt(&file, PASSWORD.as_bytes())
                .unwrap_or_else(|e| panic!("{name} {version}: {e}"));
            assert!(
                ours == plaintext,
                "{name} {version}: decrypted {:?}, expected {:?}",
                show(&ours),
                show(&plaintext)
            );
        }
    }
}

#[test]
fn files_we_encrypt_ansible_vault_decrypts_byte_exactly() {
    let real = Real::new();
    for (version, vault_id) in [("1.1", None), ("1.2", Some("prod"))] {
        for (name, plaintext) in contents() {
            let file = vault::encrypt(&plaintext, PASSWORD.as_bytes(), vault_id).unwrap();
            let label = format!("{name}-{version}");
            let out = real.read("decrypt", &label, &file, vault_id, "pass");
            assert!(
                out.status.success(),
                "{label}: ansible-vault decrypt failed:\n{}",
                show(&out.stderr)
            );
            assert!(
                out.stdout == plaintext,
                "{label}: ansible-vault decrypted {:?}, expected {:?}",
                show(&out.stdout),
                show(&plaintext)
            );
        }
    }
}

#[test]
fn files_we_encrypt_ansible_vault_views_exactly() {
    // `view` prints text (it decodes the plaintext to show it), so only UTF-8 text that ends in
    // a newline comes back unchanged.
    let real = Real::new();
    for (version, vault_id) in [("1.1", None), ("1.2", Some("prod"))] {
        for (name, plaintext) in contents()
            .into_iter()
            .filter(|(_, p)| p.ends_with(b"\n") && std::str::from_utf8(p).is_ok())
        {
            let file = vault::encrypt(&plaintext, PASSWORD.as_bytes(), vault_id).unwrap();
            let label = format!("{name}-{version}-view");
            let out = real.read("view", &label, &file, vault_id, "pass");
            assert!(
                out.status.success(),
                "{label}: ansible-vault view failed:\n{}",
                show(&out.stderr)
            );
            assert_eq!(show(&out.stdout), show(&plaintext), "{label}");
        }
    }
}

#[test]
fn wrong_password_gives_our_clear_error() {
    let real = Real::new();
    let file = real.encrypt("wrong-password", b"API_TOKEN=abc123\n", None);
    let err = vault::decrypt(&file, WRONG_PASSWORD.as_bytes()).unwrap_err();
    assert!(
        matches!(err, VaultError::WrongPasswordOrTampered),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(
        msg,
        "the vault password is wrong or the file was modified (HMAC mismatch)"
    );
    assert!(
        !msg.contains(WRONG_PASSWORD) && !msg.contains("abc123"),
        "{msg}"
    );

    // And ansible-vault agrees about the file we write.
    let ours = vault::encrypt(b"API_TOKEN=abc123\n", PASSWORD.as_bytes(), None).unwrap();
    let out = real.read("decrypt", "ours-wrong-password", &ours, None, "wrong-pass");
    assert!(
        !out.status.success(),
        "ansible-vault decrypted with the wrong password"
    );
}

/// Flips one hex digit inside field `field` (0 salt, 1 hmac, 2 ciphertext) of the payload and
/// re-wraps the file at 80 columns, so it stays well formed.
fn tamper(file: &[u8], field: usize) -> String {
    let text = std::str::from_utf8(file).unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    let payload = String::from_utf8(hex::decode(body.replace('\n', "")).unwrap()).unwrap();
    let mut lines: Vec<String> = payload.splitn(3, '\n').map(str::to_string).collect();
    let digit = lines[field].remove(10);
    lines[field].insert(10, if digit == '0' { '1' } else { '0' });
    let hexed = hex::encode(lines.join("\n"));
    let wrapped: Vec<&str> = hexed
        .as_bytes()
        .chunks(80)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("{head}\n{}\n", wrapped.join("\n"))
}

#[test]
fn tampered_files_give_our_clear_error() {
    let real = Real::new();
    for (version, vault_id) in [("1.1", None), ("1.2", Some("prod"))] {
        let file = real.encrypt(
            &format!("tamper-{version}"),
            b"DB_PASSWORD=hunter2\nOTHER=1\n",
            vault_id,
        );
        for (field, what) in [(0, "salt"), (1, "hmac"), (2, "ciphertext")] {
            let tampered = tamper(&file, field);
            let err = vault::decrypt(tampered.as_bytes(), PASSWORD.as_bytes()).unwrap_err();
            assert!(
                matches!(err, VaultError::WrongPasswordOrTampered),
                "{version} {what}: {err:?}"
            );
            assert!(!err.to_string().contains("hunter2"));
            // The real ansible-vault refuses the same file.
            let out = real.read(
                "decrypt",
                &format!("tampered-{version}-{what}"),
                &tampered,
                vault_id,
                "pass",
            );
            assert!(
                !out.status.success(),
                "ansible-vault accepted a tampered {what} ({version})"
            );
        }
        // A corrupt (not just tampered) file is named as malformed.
        let mut corrupt = file.clone();
        let at = corrupt.len() - 5;
        corrupt[at] = b'z';
        let err = vault::decrypt(&corrupt, PASSWORD.as_bytes()).unwrap_err();
        assert!(
            matches!(err, VaultError::Malformed(_)),
            "{version}: {err:?}"
        );
        assert!(err.to_string().contains("non-hex character"), "{err}");
    }
}
