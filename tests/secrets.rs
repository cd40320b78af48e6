//! Encrypted secrets and datastore backups end to end against the Dokku sandbox (issue #8):
//! an env file and a secret file encrypted with ansible-vault are decrypted at deploy time,
//! compose `secrets` reach the services as read-only files or variables, backups are
//! configured from secrets, and no secret value appears in any output or plain file.

use std::path::Path;
use std::process::Output;

use crate::support::{self, text};

const VAULT_PW: &str = "correct horse battery staple";
const SECRETS: &[&str] = &[
    "api-token-from-vault",
    "db-password-from-vault",
    "sk_live_stripe_value",
    "AKIAEXAMPLEKEY",
    "aws-secret-value-123",
    "backup-passphrase-xyz",
    "db-password-in-compose",
];

/// The sandbox (`root`) and the project directory holding the fixture and its vault files.
struct Host(support::ProjectHost);

impl std::ops::Deref for Host {
    type Target = support::ProjectHost;
    fn deref(&self) -> &support::ProjectHost {
        &self.0
    }
}

impl Host {
    fn new() -> Self {
        let h = Host(support::ProjectHost::new());
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets/compose.yaml"),
            h.project.path().join("compose.yaml"),
        )
        .unwrap();
        h.write_vault(
            "api.env",
            "API_TOKEN=api-token-from-vault\nLOG_LEVEL=info\n",
            VAULT_PW,
        );
        h.write_vault("db_password.vault", "db-password-from-vault", VAULT_PW);
        std::fs::write(h.project.path().join("vault-pw"), format!("{VAULT_PW}\n")).unwrap();
        std::fs::write(h.project.path().join("wrong-pw"), "not it\n").unwrap();
        h
    }
    fn write_vault(&self, name: &str, plain: &str, pw: &str) {
        let text = dokku_compose::vault::encrypt(plain.as_bytes(), pw.as_bytes(), None).unwrap();
        std::fs::write(self.project.path().join(name), text).unwrap();
    }
    fn compose(&self, args: &[&str], pw: &str) -> Output {
        self.root
            .compose()
            .env("STRIPE_KEY", "sk_live_stripe_value")
            .env("AWS_KEY", "AKIAEXAMPLEKEY")
            .env("AWS_SECRET", "aws-secret-value-123")
            .env("BACKUP_PASS", "backup-passphrase-xyz")
            .args(args)
            .arg("--data-dir")
            .arg(self.data())
            .args(if pw.is_empty() {
                vec![]
            } else {
                vec![
                    "--vault-password-file".to_owned(),
                    self.project.path().join(pw).display().to_string(),
                ]
            })
            .output()
            .unwrap()
    }
    fn apply(&self, pw: &str, extra: &[&str]) -> Output {
        let f = self.project.path().join("compose.yaml");
        let mut args = vec!["apply", "-f", f.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.compose(&args, pw)
    }
}

#[test]
fn vaulted_secrets_reach_the_services_and_nothing_leaks() {
    let h = Host::new();
    // Without the password, or with a wrong one: a clear error and no change.
    let o = h.apply("", &[]);
    assert!(
        !o.status.success()
            && text(&o).contains("encrypted with ansible-vault and no vault password"),
        "{}",
        text(&o)
    );
    let o = h.apply("wrong-pw", &[]);
    assert!(
        !o.status.success()
            && text(&o).contains("vault password is wrong or the file was modified"),
        "{}",
        text(&o)
    );
    assert_eq!(
        h.json(&["apps:list", "--format", "json"]),
        serde_json::json!([]),
        "nothing was created"
    );

    let mut outputs = String::new();
    let plan = h.apply("vault-pw", &["--dry-run"]);
    outputs += &text(&plan);
    assert!(plan.status.success(), "{}", text(&plan));
    let o = h.apply("vault-pw", &[]);
    outputs += &text(&o);
    assert!(o.status.success(), "{}", text(&o));

    // The env file was decrypted into the api's config; the worker gets the secret as a variable.
    let api = h.config("vaulted-api");
    assert_eq!(api["API_TOKEN"], "api-token-from-vault");
    assert_eq!(
        h.config("vaulted-worker")["STRIPE_KEY"],
        "sk_live_stripe_value"
    );
    // Secret files: mounted read-only, in a directory only the dokku user can read.
    let mounts = h.json(&["storage:list", "vaulted-api", "--format", "json"]);
    let secrets = h.data().join("vaulted/secrets/vaulted-api");
    let mounted: Vec<(String, String)> = mounts
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["host_path"].as_str().unwrap().to_owned(),
                m["container_path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        mounted.contains(&(
            secrets.join("db_password").display().to_string(),
            "/run/secrets/db_password".to_owned()
        )),
        "{mounts}"
    );
    assert!(
        mounted.contains(&(
            secrets.join("stripe_key").display().to_string(),
            "/etc/stripe/key".to_owned()
        )),
        "{mounts}"
    );
    assert!(
        mounts
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["readonly"] == true),
        "{mounts}"
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("db_password")).unwrap(),
        "db-password-from-vault"
    );
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(
        (mode(&secrets), mode(&secrets.join("db_password"))),
        (0o700, 0o444)
    );
    // Backups: configured from the secrets, through the datastore plugin's commands.
    let svc = h.root.path().join("lib/services/postgres/vaulted-db");
    assert_eq!(
        std::fs::read_to_string(svc.join("SANDBOX_BACKUP_AUTH")).unwrap(),
        "AKIAEXAMPLEKEY aws-secret-value-123 eu-west-1"
    );
    assert_eq!(
        std::fs::read_to_string(svc.join("SANDBOX_BACKUP_SCHEDULE")).unwrap(),
        "0 3 * * * backups/vaulted"
    );
    assert_eq!(
        std::fs::read_to_string(svc.join("SANDBOX_BACKUP_SET_ENCRYPTION")).unwrap(),
        "backup-passphrase-xyz"
    );

    // Unchanged: nothing runs again, backups included.
    let o = h.apply("vault-pw", &[]);
    outputs += &text(&o);
    assert!(
        o.status.success() && text(&o).contains("up to date"),
        "{}",
        text(&o)
    );

    // A changed secret file: the file is rewritten and its services restart.
    h.write_vault("db_password.vault", "db-password-rotated", VAULT_PW);
    let o = h.apply("vault-pw", &[]);
    outputs += &text(&o);
    assert!(
        o.status.success() && text(&o).contains("ps:restart vaulted-api"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("db_password")).unwrap(),
        "db-password-rotated"
    );
    // And a failing apply puts the previous file back.
    std::fs::write(
        h.root.path().join("lib/sandbox/rules.json"),
        r#"{"faults": [{"match": "ps:restart vaulted-api", "message": "boom"}]}"#,
    )
    .unwrap();
    h.write_vault("db_password.vault", "db-password-third", VAULT_PW);
    let o = h.apply("vault-pw", &[]);
    outputs += &text(&o);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(secrets.join("db_password")).unwrap(),
        "db-password-rotated",
        "rolled back"
    );
    std::fs::write(h.root.path().join("lib/sandbox/rules.json"), "{}").unwrap();

    for args in [
        vec!["releases", "--stack", "vaulted", "--format", "json"],
        vec!["diff", "--stack", "vaulted"],
    ] {
        outputs += &text(&h.compose(&args, ""));
    }
    for s in SECRETS
        .iter()
        .chain(["db-password-rotated", "db-password-third", VAULT_PW].iter())
    {
        assert!(
            !outputs.contains(s),
            "`{s}` appears in an output:\n{outputs}"
        );
    }
    // No plain file of the data directory holds one, except the secret files themselves.
    let mut files = vec![h.data()];
    let mut checked = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            if p.ends_with("secrets") || p.ends_with("objects") {
                continue;
            }
            files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else {
            let content = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            for s in SECRETS
                .iter()
                .chain(["db-password-rotated", VAULT_PW].iter())
            {
                assert!(!content.contains(s), "`{s}` in {}", p.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 5, "{checked}");
}
