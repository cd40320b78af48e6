//! `compose:diff` of recorded releases.

use super::*;

#[test]
fn diff_shows_changes_without_secret_values() {
    let f = fixture();
    let mut apps2 = apps("d2");
    apps2
        .get_mut("shop-web")
        .unwrap()
        .scale
        .insert("web".into(), 2);
    record_first(&f.store);
    record(
        &f.store,
        &compose_v2(),
        &apps2,
        "second",
        ReleaseKind::Apply,
        "2025-02-01T08:30:00Z",
    );
    let diff = f.store.diff(1, 2).unwrap();
    assert_eq!(
        diff,
        "+ services.cache.image: redis:7\n\
         - services.db: {…}\n\
         ~ services.web.environment.DB_PASSWORD: secret changed\n\
         ~ services.web.image: nginx:1.26 -> nginx:1.27\n\
         ~ app shop-web: build context changed\n\
         ~ app shop-web: scale web=1 -> web=2\n"
    );
    for s in [DB_PASSWORD, NEW_DB_PASSWORD, PG_PASSWORD, API_TOKEN] {
        assert!(!diff.contains(s));
    }
    // The other way round.
    let back = f.store.diff(2, 1).unwrap();
    assert!(
        back.contains("+ services.db.image: postgres:16\n"),
        "{back}"
    );
    assert!(back.contains("- services.cache: {…}\n"), "{back}");
    assert!(
        back.contains("~ services.web.image: nginx:1.27 -> nginx:1.26\n"),
        "{back}"
    );
    assert!(
        back.contains("~ services.web.environment.DB_PASSWORD: secret changed\n"),
        "{back}"
    );
    // Equal releases: nothing; resealing the same secret (new nonce) is not a change.
    record(
        &f.store,
        &compose_v1(),
        &apps("d1"),
        "again",
        ReleaseKind::Apply,
        "2025-02-02T00:00:00Z",
    );
    assert_eq!(f.store.diff(1, 3).unwrap(), "");
    assert_eq!(f.store.diff(2, 2).unwrap(), "");
}

#[test]
fn diff_of_added_and_removed_leaves_and_apps() {
    let f = fixture();
    let a = json!({ "services": { "web": { "image": "x", "command": ["run", "a"],
        "environment": { "SECRET_A": "aaaaaaaa" } } } });
    let b = json!({ "services": { "web": { "image": "x", "command": ["run", "b"],
        "restart": "always", "environment": { "SECRET_B": "bbbbbbbb" } } } });
    let mut apps_b = apps("d1");
    apps_b.insert("shop-worker".into(), apps("d1")["shop-web"].clone());
    record(
        &f.store,
        &a,
        &apps("d1"),
        "a",
        ReleaseKind::Apply,
        "2025-01-31T12:00:00Z",
    );
    record(
        &f.store,
        &b,
        &apps_b,
        "b",
        ReleaseKind::Apply,
        "2025-01-31T12:00:01Z",
    );
    assert_eq!(
        f.store.diff(1, 2).unwrap(),
        "~ services.web.command.1: a -> b\n\
         - services.web.environment.SECRET_A: ********\n\
         + services.web.environment.SECRET_B: ********\n\
         + services.web.restart: always\n\
         + app shop-worker\n"
    );
}
