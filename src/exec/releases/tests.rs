//! The release store's tests; the fixtures are shared with `tests/secrets.rs` and
//! `tests/diff.rs`.

mod diff;
mod secrets;

#[test]
fn release_names_round_trip_as_listed() {
    assert_eq!(super::parse_release_id("v1"), Ok(1));
    assert_eq!(super::parse_release_id("12"), Ok(12));
    assert_eq!(super::parse_release_id("V3"), Ok(3));
    for bad in ["v", "v0", "0", "-1", "v+1", "+1", "v1.2", "latest", ""] {
        let e = super::parse_release_id(bad).unwrap_err().to_string();
        assert!(
            e.contains("is not a release") && e.contains("`v3`"),
            "{bad}: {e}"
        );
    }
}

use super::*;
use crate::exec::secrets::HostKey;
use serde_json::json;

const DB_PASSWORD: &str = "hunter2-correct-horse";
const NEW_DB_PASSWORD: &str = "battery-staple-9f8e7d";
const PG_PASSWORD: &str = "pg-s3cret-pa55word";
const API_TOKEN: &str = "tok_abcdef123456";

fn key() -> HostKey {
    HostKey::from_bytes([42; 32])
}

fn compose_v1() -> Value {
    json!({
        "name": "shop",
        "services": {
            "web": {
                "image": "nginx:1.26",
                "ports": ["80:80"],
                "environment": {
                    "DB_PASSWORD": DB_PASSWORD,
                    "LOG_LEVEL": "info-level-plain",
                    "FROM_HOST": null,
                    "TOKEN_TTL": 4
                },
                "x-dokku": {
                    "domains": ["shop.example.com"],
                    "postgres": { "password": PG_PASSWORD, "version": "16" },
                    "secrets": { "API": API_TOKEN }
                }
            },
            "db": { "image": "postgres:16" }
        }
    })
}

fn compose_v2() -> Value {
    let mut c = compose_v1();
    let web = &mut c["services"]["web"];
    web["image"] = json!("nginx:1.27");
    web["environment"]["DB_PASSWORD"] = json!(NEW_DB_PASSWORD);
    let services = c["services"].as_object_mut().unwrap();
    services.remove("db");
    services.insert("cache".into(), json!({ "image": "redis:7" }));
    c
}

fn plain() -> BTreeSet<String> {
    ["LOG_LEVEL".to_owned()].into()
}

fn apps(digest: &str) -> BTreeMap<String, AppFacts> {
    let mut m = BTreeMap::new();
    m.insert(
        "shop-web".to_owned(),
        AppFacts {
            digest: digest.to_owned(),
            config_fingerprint: "cfg1".to_owned(),
            scale: [("web".to_owned(), 1)].into(),
            image: Some("nginx:1.26".to_owned()),
        },
    );
    m
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: ReleaseStore,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop/releases");
    let store = ReleaseStore::open(&dir, key()).unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        store,
    }
}

/// The first release of the fixtures: `compose_v1`, apps at `d1`.
fn record_first(store: &ReleaseStore) -> ReleaseInfo {
    record(
        store,
        &compose_v1(),
        &apps("d1"),
        "first",
        ReleaseKind::Apply,
        "2025-01-31T12:00:00Z",
    )
}

fn record(
    store: &ReleaseStore,
    compose: &Value,
    apps: &BTreeMap<String, AppFacts>,
    message: &str,
    kind: ReleaseKind,
    time: &str,
) -> ReleaseInfo {
    let plain_keys = plain();
    let steps = json!({ "steps": [{ "id": "web/config", "run": "dokku config:set shop-web DB_PASSWORD=********" }] });
    store
        .record(&NewRelease {
            stack: "shop",
            compose,
            plain_keys: &plain_keys,
            plan: &steps,
            apps,
            source_rev: "abc123",
            message,
            kind,
            time,
        })
        .unwrap()
}

/// Every file of a release commit, by name.
fn committed_files(store: &ReleaseStore, id: u64) -> BTreeMap<String, String> {
    let commit = store.release_commit(id).unwrap();
    let tree = commit.tree().unwrap();
    tree.iter()
        .map(|e| {
            let blob = e.to_object(&store.repo).unwrap().peel_to_blob().unwrap();
            (
                e.name().unwrap().to_owned(),
                String::from_utf8(blob.content().to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn empty_store_has_no_releases() {
    let f = fixture();
    assert!(f.store.list().unwrap().is_empty());
    assert!(f.store.latest().unwrap().is_none());
    let err = f.store.info(1).unwrap_err();
    assert!(
        matches!(
            err,
            ReleaseError::Unknown {
                id: 1,
                latest: None
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "unknown release v1 (there are no releases yet)"
    );
}

#[test]
fn store_dir_is_private_bare_repo_on_releases_branch() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    let mode = std::fs::metadata(&f.dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(f.store.repo.is_bare());
    record_first(&f.store);
    let head = f.store.repo.head().unwrap();
    assert_eq!(head.name(), Some(BRANCH));
}

#[test]
fn three_releases_listed_newest_first() {
    let f = fixture();
    let c1 = compose_v1();
    let c2 = compose_v2();
    let r1 = record(
        &f.store,
        &c1,
        &apps("d1"),
        "first",
        ReleaseKind::Apply,
        "2025-01-31T12:00:00Z",
    );
    let r2 = record(
        &f.store,
        &c2,
        &apps("d2"),
        "second",
        ReleaseKind::Apply,
        "2025-02-01T08:30:00Z",
    );
    let r3 = record(
        &f.store,
        &c1,
        &apps("d1"),
        "rollback to v1",
        ReleaseKind::Rollback { to: 1 },
        "2025-02-01T09:00:00+02:00",
    );
    assert_eq!((r1.id, r2.id, r3.id), (1, 2, 3));
    let list = f.store.list().unwrap();
    let ids: Vec<u64> = list.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 2, 1]);
    assert_eq!(list[0], r3);
    assert_eq!(list[2], r1);
    assert_eq!(list[0].kind, "rollback");
    assert_eq!(list[1].kind, "apply");
    assert_eq!(list[1].message, "second");
    assert_eq!(list[1].time, "2025-02-01T08:30:00Z");
    assert_eq!(list[1].source_rev, "abc123");
    assert_eq!(list[1].services, 2);
    assert_eq!(f.store.latest().unwrap(), Some(r3.clone()));
    assert_eq!(f.store.info(2).unwrap(), r2);
    assert_eq!(f.store.rolled_back_to(3).unwrap(), Some(1));
    assert_eq!(f.store.rolled_back_to(2).unwrap(), None);

    // Commit message, author and time.
    let commit = f
        .store
        .repo
        .find_commit(git2::Oid::from_str(&r2.commit).unwrap())
        .unwrap();
    assert_eq!(commit.message(), Some("release v2: second"));
    assert_eq!(commit.author().name(), Some("dokku-compose"));
    assert_eq!(commit.committer().email(), Some("dokku-compose@localhost"));
    assert_eq!(commit.time().seconds(), 1_738_398_600);
    let c3 = f
        .store
        .repo
        .find_commit(git2::Oid::from_str(&r3.commit).unwrap())
        .unwrap();
    assert_eq!(c3.time().seconds(), 1_738_393_200);
    assert_eq!(c3.time().offset_minutes(), 120);

    // release.json of the rollback.
    let files = committed_files(&f.store, 3);
    let rel: Value = serde_json::from_str(&files["release.json"]).unwrap();
    assert_eq!(
        rel,
        json!({ "id": 3, "stack": "shop", "time": "2025-02-01T09:00:00+02:00", "source_rev": "abc123",
                "message": "rollback to v1", "kind": "rollback", "rolled_back_to": 1 })
    );

    // A reopened store sees the same history.
    let again = ReleaseStore::open(&f.dir, key()).unwrap();
    assert_eq!(again.list().unwrap(), list);
}

#[test]
fn unknown_release_id() {
    let f = fixture();
    record_first(&f.store);
    record(
        &f.store,
        &compose_v1(),
        &apps("d1"),
        "second",
        ReleaseKind::Apply,
        "2025-01-31T12:00:00Z",
    );
    for id in [0, 3, 99] {
        let err = f.store.info(id).unwrap_err();
        assert!(
            matches!(err, ReleaseError::Unknown { id: i, latest: Some(2) } if i == id),
            "{err:?}"
        );
    }
    assert_eq!(
        f.store.compose(7).unwrap_err().to_string(),
        "unknown release v7 (the latest is v2)"
    );
    assert!(matches!(
        f.store.diff(1, 5),
        Err(ReleaseError::Unknown { id: 5, .. })
    ));
    assert!(matches!(
        f.store.apps(3),
        Err(ReleaseError::Unknown { id: 3, .. })
    ));
}

#[test]
fn plan_and_apps_round_trip() {
    let f = fixture();
    let plain_keys = plain();
    let c = compose_v1();
    let a = apps("d1");
    let steps = json!({ "steps": [{ "id": "web/deploy", "undo": null }], "project": "shop" });
    f.store
        .record(&NewRelease {
            stack: "shop",
            compose: &c,
            plain_keys: &plain_keys,
            plan: &steps,
            apps: &a,
            source_rev: "abc123",
            message: "m",
            kind: ReleaseKind::Apply,
            time: "2025-01-31T12:00:00.123Z",
        })
        .unwrap();
    assert_eq!(f.store.plan(1).unwrap(), steps);
    assert_eq!(f.store.apps(1).unwrap(), a);
}

#[test]
fn secrets_leaked_by_caller_into_message_and_plan_are_redacted() {
    let f = fixture();
    let plain_keys = plain();
    let c = compose_v1();
    let steps = json!({ "run": format!("dokku config:set shop-web DB_PASSWORD={DB_PASSWORD}") });
    let msg = format!("set {PG_PASSWORD}");
    let info = f
        .store
        .record(&NewRelease {
            stack: "shop",
            compose: &c,
            plain_keys: &plain_keys,
            plan: &steps,
            apps: &BTreeMap::new(),
            source_rev: "abc123",
            message: &msg,
            kind: ReleaseKind::Apply,
            time: "2025-01-31T12:00:00Z",
        })
        .unwrap();
    assert_eq!(info.message, "set ********");
    assert_eq!(
        f.store.plan(1).unwrap(),
        json!({ "run": "dokku config:set shop-web DB_PASSWORD=********" })
    );
    let commit = f
        .store
        .repo
        .find_commit(git2::Oid::from_str(&info.commit).unwrap())
        .unwrap();
    assert_eq!(commit.message(), Some("release v1: set ********"));
}

#[test]
fn wrong_host_key_cannot_open_and_does_not_leak() {
    let f = fixture();
    record_first(&f.store);
    let other = ReleaseStore::open(&f.dir, HostKey::from_bytes([1; 32])).unwrap();
    // Listing and masked views need no key.
    assert_eq!(other.list().unwrap().len(), 1);
    assert!(other.masked_compose(1).is_ok());
    let err = other.compose(1).unwrap_err();
    assert!(matches!(err, ReleaseError::Sealed { id: 1, .. }), "{err:?}");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        source = s.source();
    }
    assert!(chain.contains("another host key"), "{chain}");
    for s in [DB_PASSWORD, PG_PASSWORD, API_TOKEN] {
        assert!(!chain.contains(s));
    }
}

#[test]
fn invalid_time_is_refused() {
    let f = fixture();
    let plain = plain();
    for time in [
        "yesterday",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-01-31T12:00:00",
    ] {
        let err = f
            .store
            .record(&NewRelease {
                stack: "shop",
                compose: &json!({}),
                plain_keys: &plain,
                plan: &json!(null),
                apps: &BTreeMap::new(),
                source_rev: "",
                message: "",
                kind: ReleaseKind::Apply,
                time,
            })
            .unwrap_err();
        assert!(
            matches!(err, ReleaseError::InvalidTime { .. }),
            "{time}: {err:?}"
        );
    }
    assert!(f.store.list().unwrap().is_empty());
}

#[test]
fn rfc3339_parse_and_format() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(
        parse_rfc3339("2025-01-31T12:00:00Z"),
        Some((1_738_324_800, 0))
    );
    assert_eq!(
        parse_rfc3339("2024-02-29T23:59:59.999Z"),
        Some((1_709_251_199, 0))
    );
    assert_eq!(
        parse_rfc3339("2025-01-31T14:00:00+02:00"),
        Some((1_738_324_800, 120))
    );
    assert_eq!(
        parse_rfc3339("2025-01-31T06:30:00-05:30"),
        Some((1_738_324_800, -330))
    );
    assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
    assert_eq!(parse_rfc3339("2025-01-31T12:00:00+2:00"), None);
    assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    let now = now_rfc3339();
    let (secs, off) = parse_rfc3339(&now).unwrap();
    assert_eq!(off, 0);
    assert_eq!(format_rfc3339(secs), now);
    assert!(secs > 1_700_000_000);
}
