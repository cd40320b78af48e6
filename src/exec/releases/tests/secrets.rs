//! Sealing and masking by the one classification.

use super::*;

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, checked from every angle"
)]
fn compose_round_trips_and_no_plaintext_is_stored() {
    let f = fixture();
    let c1 = compose_v1();
    let c2 = compose_v2();
    record(
        &f.store,
        &c1,
        &apps("d1"),
        "first",
        ReleaseKind::Apply,
        "2025-01-31T12:00:00Z",
    );
    record(
        &f.store,
        &c2,
        &apps("d2"),
        "second",
        ReleaseKind::Apply,
        "2025-02-01T08:30:00Z",
    );
    assert_eq!(f.store.compose(1).unwrap(), c1);
    assert_eq!(f.store.compose(2).unwrap(), c2);

    let secrets = [DB_PASSWORD, NEW_DB_PASSWORD, PG_PASSWORD, API_TOKEN];

    // The committed files.
    for id in [1, 2] {
        let files = committed_files(&f.store, id);
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "apps.json",
                "compose.json",
                "fingerprints.json",
                "masked.json",
                "plan.json",
                "release.json"
            ]
        );
        for (name, text) in &files {
            for s in secrets {
                assert!(!text.contains(s), "{name} of v{id} holds a secret");
            }
        }
        let raw: Value = serde_json::from_str(&files["compose.json"]).unwrap();
        let sealed = raw["services"]["web"]["environment"]["DB_PASSWORD"]
            .as_str()
            .unwrap();
        assert!(sealed.starts_with("v1:"), "{sealed}");
        let sealed_pg = raw["services"]["web"]["x-dokku"]["postgres"]["password"]
            .as_str()
            .unwrap();
        assert!(sealed_pg.starts_with("v1:"));
        // A non-string secret is sealed too, and comes back as a number.
        assert!(raw["services"]["web"]["environment"]["TOKEN_TTL"]
            .as_str()
            .unwrap()
            .starts_with("v1:"));
        // Not secret: null env values, x-dokku keys without a sensitive word.
        assert_eq!(
            raw["services"]["web"]["environment"]["FROM_HOST"],
            Value::Null
        );
        assert_eq!(
            raw["services"]["web"]["x-dokku"]["postgres"]["version"],
            json!("16")
        );
        assert_eq!(
            raw["services"]["web"]["x-dokku"]["domains"],
            json!(["shop.example.com"])
        );

        let masked: Value = serde_json::from_str(&files["masked.json"]).unwrap();
        assert_eq!(masked, f.store.masked_compose(id).unwrap());
        assert_eq!(
            masked["services"]["web"]["environment"]["DB_PASSWORD"],
            json!("********")
        );
        assert_eq!(
            masked["services"]["web"]["environment"]["TOKEN_TTL"],
            json!("********")
        );
        assert_eq!(
            masked["services"]["web"]["x-dokku"]["secrets"]["API"],
            json!("********")
        );

        let fps: BTreeMap<String, String> =
            serde_json::from_str(&files["fingerprints.json"]).unwrap();
        let paths: Vec<&str> = fps.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "services.web.environment.DB_PASSWORD",
                "services.web.environment.TOKEN_TTL",
                "services.web.x-dokku.postgres.password",
                "services.web.x-dokku.secrets.API",
            ]
        );
    }
    assert!(committed_files(&f.store, 1)["fingerprints.json"]
        .contains(&key().fingerprint(b"\"hunter2-correct-horse\"")));

    // Every object in the git object store, decompressed by libgit2.
    let odb = f.store.repo.odb().unwrap();
    let mut objects = 0;
    odb.foreach(|oid| {
        let obj = odb.read(*oid).unwrap();
        let data = String::from_utf8_lossy(obj.data()).into_owned();
        for s in secrets {
            assert!(!data.contains(s), "object {oid} holds a secret");
        }
        objects += 1;
        true
    })
    .unwrap();
    // 2 commits, 2 trees, and 11 blobs (apps/masked/plan/fingerprints/release differ,
    // compose.json differs) at least.
    assert!(objects >= 14, "{objects}");

    // Every blob of every commit on the branch.
    let mut walk = f.store.repo.revwalk().unwrap();
    walk.push_ref(BRANCH).unwrap();
    let mut blobs = 0;
    for oid in walk {
        let commit = f.store.repo.find_commit(oid.unwrap()).unwrap();
        for s in secrets {
            assert!(!commit.message().unwrap().contains(s));
        }
        commit
            .tree()
            .unwrap()
            .walk(git2::TreeWalkMode::PreOrder, |_, entry| {
                let blob = entry
                    .to_object(&f.store.repo)
                    .unwrap()
                    .peel_to_blob()
                    .unwrap();
                let data = String::from_utf8_lossy(blob.content()).into_owned();
                for s in secrets {
                    assert!(!data.contains(s), "{:?} holds a secret", entry.name());
                }
                blobs += 1;
                git2::TreeWalkResult::Ok
            })
            .unwrap();
    }
    assert_eq!(blobs, 12);

    // Every file under the store directory, raw bytes.
    let mut stack = vec![f.dir.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                for s in secrets {
                    assert!(
                        !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                        "{} holds a secret",
                        p.display()
                    );
                }
                files += 1;
            }
        }
    }
    assert!(files >= 16, "{files}");
}

#[test]
fn plain_keys_are_stored_in_clear() {
    let f = fixture();
    record_first(&f.store);
    let files = committed_files(&f.store, 1);
    let raw: Value = serde_json::from_str(&files["compose.json"]).unwrap();
    assert_eq!(
        raw["services"]["web"]["environment"]["LOG_LEVEL"],
        json!("info-level-plain")
    );
    let masked: Value = serde_json::from_str(&files["masked.json"]).unwrap();
    assert_eq!(
        masked["services"]["web"]["environment"]["LOG_LEVEL"],
        json!("info-level-plain")
    );
    assert!(!files["fingerprints.json"].contains("LOG_LEVEL"));

    // Without the plain list, an ordinary key stays in clear too (one classification,
    // `model::env_is_secret`); a secret one is sealed.
    let none = BTreeSet::new();
    let c = compose_v1();
    f.store
        .record(&NewRelease {
            stack: "shop",
            compose: &c,
            plain_keys: &none,
            plan: &json!(null),
            apps: &BTreeMap::new(),
            source_rev: "abc123",
            message: "all secret",
            kind: ReleaseKind::Apply,
            time: "2025-01-31T12:00:00Z",
        })
        .unwrap();
    let files = committed_files(&f.store, 2);
    assert!(files["compose.json"].contains("info-level-plain"));
    assert!(!files["fingerprints.json"].contains("services.web.environment.LOG_LEVEL"));
    assert!(files["fingerprints.json"].contains("services.web.environment.DB_PASSWORD"));
    assert_eq!(f.store.compose(2).unwrap(), c);
}

/// examples/django-migrate: a secret defined in an `x-*` block and reached through a YAML
/// anchor is a secret there too (the classification looks at the value, not only at where
/// it is written).
#[test]
fn secrets_in_extension_blocks_reached_by_anchors_are_sealed() {
    let f = fixture();
    let compose = |key: &str| {
        json!({
            "name": "ledger",
            "x-app": {"image": "ghcr.io/example/ledger:3", "environment": {"DJANGO_SECRET_KEY": key, "DJANGO_SETTINGS_MODULE": "ledger.settings"}, "command-note": key},
            "x-urls": ["postgres://ledger:pw@db/ledger"],
            "services": {"web": {"image": "ghcr.io/example/ledger:3", "environment": {"DJANGO_SECRET_KEY": key, "DJANGO_SETTINGS_MODULE": "ledger.settings"}}}
        })
    };
    let plain: BTreeSet<String> = ["DJANGO_SETTINGS_MODULE".to_owned()].into();
    let rec = |c: &Value, t: &str| {
        f.store
            .record(&NewRelease {
                stack: "shop",
                compose: c,
                plain_keys: &plain,
                plan: &json!({}),
                apps: &BTreeMap::new(),
                source_rev: "r",
                message: "m",
                kind: ReleaseKind::Apply,
                time: t,
            })
            .unwrap()
    };
    rec(&compose("anchored-secret-one"), "2025-01-31T12:00:00Z");
    rec(&compose("anchored-secret-two"), "2025-02-01T12:00:00Z");
    for id in [1, 2] {
        for (name, text) in committed_files(&f.store, id) {
            assert!(!text.contains("anchored-secret"), "{name} of v{id}: {text}");
        }
    }
    assert_eq!(
        f.store.compose(1).unwrap(),
        compose("anchored-secret-one"),
        "sealed values come back exactly"
    );
    let diff = f.store.diff(1, 2).unwrap();
    assert!(!diff.contains("anchored-secret"), "{diff}");
    assert!(
        diff.contains("~ x-app.environment.DJANGO_SECRET_KEY: secret changed"),
        "{diff}"
    );
    assert!(
        diff.contains("~ x-app.command-note: secret changed"),
        "same value as a secret: {diff}"
    );
    // The one classification, as `compose:config` prints it.
    let masked = SecretRule::new(&plain).mask(&compose("anchored-secret-one"));
    assert_eq!(masked["x-app"]["environment"]["DJANGO_SECRET_KEY"], MASK);
    assert_eq!(masked["x-app"]["command-note"], MASK);
    assert_eq!(
        masked["x-app"]["environment"]["DJANGO_SETTINGS_MODULE"],
        "ledger.settings"
    );
    assert_eq!(masked["x-app"]["image"], "ghcr.io/example/ledger:3");
    assert_eq!(
        masked["x-urls"][0], "postgres://ledger:pw@db/ledger",
        "no secret value, no secret key: shown"
    );
    assert_eq!(
        masked["services"]["web"]["environment"]["DJANGO_SECRET_KEY"],
        MASK
    );
}
