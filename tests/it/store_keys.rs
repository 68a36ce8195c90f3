//! Teams, members and the key lifecycle through the library API, on both backends.

use revokd::store::{KeyFilter, KeyOrigin, KeyStatus, NewKey, Role, Store, StoreError};

use crate::both_backends;
use crate::testdb::{Backend, TestDb, pepper, xai_token};

both_backends!(teams_and_members, key_lifecycle, duplicate_keys_are_refused, migrations_are_idempotent,);

pub fn new_key(token: &str) -> NewKey {
    NewKey { key_hash: pepper().key_hash(token), redacted: revokd::secret::redact(token, &["xai-".to_string()]) }
}

/// A team `payments` (admins alice, bob; member carol) and one key; returns its id.
pub async fn team_with_key(store: &Store, token: &str) -> i64 {
    store
        .create_team(
            "payments",
            &["alice@example.com".into(), "bob@example.com".into()],
            &["carol@example.com".into()],
            "test",
        )
        .await
        .unwrap();
    let keys = store.add_keys("payments", "xai_api_key", &[new_key(token)], KeyOrigin::Issued, "test").await.unwrap();
    keys[0].id
}

async fn teams_and_members(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let team = store
        .create_team(
            "payments",
            &["Alice@Example.com".into()],
            &["carol@example.com".into(), "alice@example.com".into()],
            "cli:t",
        )
        .await
        .unwrap();
    assert_eq!((team.name.as_str(), team.admins, team.members), ("payments", 1, 1));

    let err = store.create_team("payments", &["x@y.z".into()], &[], "t").await.unwrap_err();
    assert!(matches!(err, StoreError::TeamExists(_)), "{err}");
    let err = store.create_team("bad name", &["x@y.z".into()], &[], "t").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidTeamName(_)), "{err}");
    let err = store.create_team("ops", &[], &["x@y.z".into()], "t").await.unwrap_err();
    assert!(matches!(err, StoreError::NoAdmin), "{err}");
    let err = store.create_team("ops", &["not-an-email".into()], &[], "t").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidEmail(_)), "{err}");

    store.add_member("payments", "dan@example.com", Role::Member, "t").await.unwrap();
    let err = store.add_member("payments", "dan@example.com", Role::Member, "t").await.unwrap_err();
    assert!(matches!(err, StoreError::MemberExists { .. }), "{err}");
    let err = store.add_member("nope", "dan@example.com", Role::Member, "t").await.unwrap_err();
    assert!(matches!(err, StoreError::TeamNotFound(_)), "{err}");

    // The last admin can neither leave nor be demoted.
    let err = store.remove_member("payments", "alice@example.com", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::LastAdmin { .. }), "{err}");
    let err = store.add_member("payments", "alice@example.com", Role::Member, "t").await.unwrap_err();
    assert!(matches!(err, StoreError::LastAdmin { .. }), "{err}");
    store.add_member("payments", "dan@example.com", Role::Admin, "t").await.unwrap();
    store.remove_member("payments", "alice@example.com", "t").await.unwrap();
    let err = store.remove_member("payments", "alice@example.com", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::MemberNotFound { .. }), "{err}");

    let members = store.team_members("payments").await.unwrap();
    let shown: Vec<_> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(shown, [("dan@example.com", Role::Admin), ("carol@example.com", Role::Member)]);
    let teams = store.teams().await.unwrap();
    assert_eq!(teams.len(), 1);
    assert_eq!((teams[0].admins, teams[0].members), (1, 1));

    let events: Vec<String> =
        store.audit_events(&Default::default()).await.unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        ["team.created", "member.added", "member.added", "member.added", "member.added", "member.removed"]
    );
}

async fn key_lifecycle(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let token = xai_token();
    let id = team_with_key(&store, &token).await;

    let found = store.find_key_by_hash(&pepper().key_hash(&token)).await.unwrap().expect("key found by hash");
    assert_eq!((found.id, found.status, found.team.as_str()), (id, KeyStatus::Active, "payments"));
    assert!(store.find_key_by_hash(&pepper().key_hash(&xai_token())).await.unwrap().is_none());

    let err = store.restore_key(id, "why", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::KeyState { status: KeyStatus::Active, .. }), "{err}");
    let err = store.disable_key(id, "  ", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::EmptyReason), "{err}");
    let err = store.disable_key(999, "x", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::KeyNotFound(999)), "{err}");

    let k = store.disable_key(id, "rotating", "t").await.unwrap();
    assert_eq!(k.status, KeyStatus::Disabled);
    assert_eq!(k.disabled_reason.as_deref(), Some("rotating"));
    assert!(k.disabled_at.is_some());
    let err = store.disable_key(id, "again", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::KeyState { status: KeyStatus::Disabled, .. }), "{err}");

    let k = store.restore_key(id, "false alarm", "t").await.unwrap();
    assert_eq!((k.status, k.disabled_at, k.disabled_reason), (KeyStatus::Active, None, None));

    let k = store.delete_key(id, "team closed", "t").await.unwrap();
    assert_eq!(k.status, KeyStatus::Deleted);
    for err in [
        store.restore_key(id, "x", "t").await.unwrap_err(),
        store.disable_key(id, "x", "t").await.unwrap_err(),
        store.delete_key(id, "x", "t").await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::KeyState { status: KeyStatus::Deleted, .. }), "{err}");
    }
    // The hash stays: a later leak of the token is still recognised.
    let found = store.find_key_by_hash(&pepper().key_hash(&token)).await.unwrap();
    assert_eq!(found.map(|k| k.status), Some(KeyStatus::Deleted));

    let second =
        store.add_keys("payments", "xai_api_key", &[new_key(&xai_token())], KeyOrigin::Imported, "t").await.unwrap();
    let active =
        store.keys(&KeyFilter { team: Some("payments".into()), status: Some(KeyStatus::Active) }).await.unwrap();
    assert_eq!(active.iter().map(|k| k.id).collect::<Vec<_>>(), [second[0].id]);
    assert_eq!(store.keys(&KeyFilter::default()).await.unwrap().len(), 2);
    let err = store.keys(&KeyFilter { team: Some("nope".into()), status: None }).await.unwrap_err();
    assert!(matches!(err, StoreError::TeamNotFound(_)), "{err}");

    let events: Vec<String> = store
        .audit_events(&revokd::store::AuditQuery { key_id: Some(id), ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["key.issued", "key.disabled", "key.restored", "key.deleted"]);
}

async fn duplicate_keys_are_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let token = xai_token();
    let id = team_with_key(&store, &token).await;
    let batch = [new_key(&xai_token()), new_key(&token)];
    let err = store.add_keys("payments", "xai_api_key", &batch, KeyOrigin::Imported, "t").await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateKey { position: 2, existing } if existing == id), "{err}");
    // All or nothing: the first key of the failed batch was not stored either.
    assert_eq!(store.keys(&KeyFilter::default()).await.unwrap().len(), 1);
}

async fn migrations_are_idempotent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url).await.unwrap();
    assert!(store.applied_migrations().await.unwrap().is_empty());
    let applied = store.migrate().await.unwrap();
    assert!(!applied.is_empty());
    assert!(store.migrate().await.unwrap().is_empty());
    let again = Store::open(&db.url).await.unwrap();
    assert_eq!(again.applied_migrations().await.unwrap(), applied);
}
