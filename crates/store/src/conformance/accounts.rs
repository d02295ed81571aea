//! Conformance checks of domains, accounts, credentials and aliases.

use crate::api::*;
use crate::error::{ErrorKind, StoreError};

use super::{assert_clean, creds, deliver_one, inbox_of, kind, setup, test_message, to_inbox};

/// Domains are stored lowercase, listed sorted, and unique.
pub async fn domains_are_unique_and_lowercase(store: Store) {
    let d = store.create_domain("Example.ORG").await.expect("create");
    assert_eq!(d.name, "example.org");
    assert_eq!(d.catch_all, None);
    assert_eq!(
        kind(store.create_domain("example.org").await),
        ErrorKind::Conflict
    );
    store.create_domain("a.example").await.expect("create");
    let names: Vec<String> = store
        .list_domains()
        .await
        .expect("list")
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["a.example", "example.org"]);
    let found = store.domain("EXAMPLE.org").await.expect("lookup");
    assert_eq!(found.map(|d| d.id), Some(d.id));
    assert_eq!(store.domain("nope.example").await.expect("lookup"), None);
    store.delete_domain("a.example").await.expect("delete");
    assert_eq!(
        kind(store.delete_domain("a.example").await),
        ErrorKind::NotFound
    );
    setup(&store, "u@example.org").await;
    assert_eq!(
        kind(store.delete_domain("example.org").await),
        ErrorKind::Conflict
    );
}

/// Accounts start with the default mailboxes, in order, with special-use.
pub async fn accounts_get_default_mailboxes(store: Store) {
    let a = setup(&store, "Alice@Example.org").await;
    assert_eq!(a.login, "alice@example.org");
    assert_eq!((a.quota, a.used), (None, 0));
    let boxes = store.list_mailboxes(a.id).await.expect("list");
    let got: Vec<(String, Option<SpecialUse>)> = boxes
        .iter()
        .map(|m| (m.name.clone(), m.special_use))
        .collect();
    let want: Vec<(String, Option<SpecialUse>)> = DEFAULT_MAILBOXES
        .iter()
        .map(|(n, s)| ((*n).to_owned(), *s))
        .collect();
    assert_eq!(got, want);
    for m in &boxes {
        assert_eq!(m.account, a.id);
        assert_eq!(m.uid_next, Uid(1));
        assert!(m.highest_modseq.0 >= 1, "HIGHESTMODSEQ must be positive");
        assert_eq!((m.exists, m.unseen, m.size), (0, 0, 0));
    }
    let by_name = store.mailbox_by_name(a.id, "inbox").await.expect("lookup");
    assert_eq!(by_name.map(|m| m.id), Some(boxes[0].id));
    let by_id = store.mailbox(a.id, boxes[1].id).await.expect("lookup");
    assert_eq!(by_id.map(|m| m.name), Some("Sent".to_owned()));
    assert_eq!(
        store.account("ALICE@example.org").await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(
        store.account_by_id(a.id).await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(store.list_accounts().await.expect("list"), vec![a]);
    assert_eq!(
        kind(store.create_account("alice@example.org", creds("x")).await),
        ErrorKind::Conflict
    );
}

/// Malformed names are `Invalid`; unknown domains and accounts `NotFound`.
pub async fn invalid_input_is_refused(store: Store) {
    store.create_domain("example.org").await.expect("create");
    for bad in [
        "",
        "no-at-sign",
        "@example.org",
        "user@",
        "sp ace@example.org",
    ] {
        assert_eq!(
            kind(store.create_account(bad, creds("x")).await),
            ErrorKind::Invalid,
            "login {bad:?}"
        );
    }
    assert_eq!(kind(store.create_domain("").await), ErrorKind::Invalid);
    assert_eq!(kind(store.create_domain("a@b").await), ErrorKind::Invalid);
    assert_eq!(
        kind(store.create_account("u@unknown.example", creds("x")).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.delete_account("nobody@example.org").await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.set_quota("nobody@example.org", None).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(
            store
                .set_credentials("nobody@example.org", creds("x"))
                .await
        ),
        ErrorKind::NotFound
    );
    assert_eq!(store.account("garbage").await.expect("lookup"), None);
    let a = setup(&store, "u@example.org").await;
    let mut bad = to_inbox(a.id);
    bad.keywords = vec!["has space".into()];
    let results = store
        .deliver(test_message("kw"), vec![bad, to_inbox(a.id)])
        .await
        .expect("deliver");
    assert_eq!(
        results[0].as_ref().map_err(StoreError::kind).err(),
        Some(ErrorKind::Invalid)
    );
    assert!(results[1].is_ok(), "a bad target must not fail the others");
    assert_clean(&store).await;
}

/// Credentials and quotas are stored and returned exactly.
pub async fn credentials_round_trip(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let (id, c) = store
        .credentials("U@EXAMPLE.ORG")
        .await
        .expect("get")
        .expect("present");
    assert_eq!((id, c), (a.id, creds("u@example.org")));
    let new = StoredCredentials {
        password_hash: "$argon2id$new".into(),
        scram_sha256: None,
    };
    store
        .set_credentials("u@example.org", new.clone())
        .await
        .expect("set");
    let got = store.credentials("u@example.org").await.expect("get");
    assert_eq!(got, Some((a.id, new)));
    assert_eq!(store.credentials("x@example.org").await.expect("get"), None);
    store
        .set_quota("u@example.org", Some(1234))
        .await
        .expect("quota");
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc.quota, Some(1234));
    store.set_quota("u@example.org", None).await.expect("quota");
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc.quota, None);
}

/// Aliases: several targets each, sorted listing, removal, and conflicts
/// with accounts in both directions.
pub async fn aliases_add_remove_list(store: Store) {
    let a = setup(&store, "user@example.org").await;
    store
        .add_alias("Team@example.org", "user@example.org")
        .await
        .expect("add");
    store
        .add_alias("team@example.org", "Other@remote.example")
        .await
        .expect("add");
    store
        .add_alias("abuse@example.org", "user@example.org")
        .await
        .expect("add");
    assert_eq!(
        kind(
            store
                .add_alias("team@example.org", "user@example.org")
                .await
        ),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(store.add_alias("user@example.org", "x@example.org").await),
        ErrorKind::Conflict,
        "an account login cannot become an alias"
    );
    assert_eq!(
        kind(
            store
                .add_alias("x@unknown.example", "user@example.org")
                .await
        ),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.add_alias("x@example.org", "not-an-address").await),
        ErrorKind::Invalid
    );
    assert_eq!(
        kind(store.create_account("team@example.org", creds("t")).await),
        ErrorKind::Conflict,
        "an alias cannot become an account"
    );
    assert_eq!(
        store.list_aliases().await.expect("list"),
        vec![
            (
                "abuse@example.org".to_owned(),
                vec!["user@example.org".to_owned()]
            ),
            (
                "team@example.org".to_owned(),
                vec![
                    "other@remote.example".to_owned(),
                    "user@example.org".to_owned()
                ]
            ),
        ]
    );
    assert_eq!(
        store
            .lookup_address("TEAM@example.org")
            .await
            .expect("lookup"),
        Some(AddressTarget::Alias(vec![
            "other@remote.example".into(),
            "user@example.org".into()
        ]))
    );
    assert_eq!(
        store
            .lookup_address("user@example.org")
            .await
            .expect("lookup"),
        Some(AddressTarget::Account(a.id))
    );
    assert_eq!(
        store
            .lookup_address("none@example.org")
            .await
            .expect("lookup"),
        None
    );
    store
        .remove_alias("team@example.org", Some("other@remote.example"))
        .await
        .expect("remove one");
    assert_eq!(
        store
            .lookup_address("team@example.org")
            .await
            .expect("lookup"),
        Some(AddressTarget::Alias(vec!["user@example.org".into()]))
    );
    store
        .remove_alias("team@example.org", None)
        .await
        .expect("remove all");
    assert_eq!(
        store
            .lookup_address("team@example.org")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        kind(store.remove_alias("team@example.org", None).await),
        ErrorKind::NotFound
    );
    store
        .delete_account("user@example.org")
        .await
        .expect("delete");
    assert_eq!(
        kind(store.delete_domain("example.org").await),
        ErrorKind::Conflict,
        "a domain with aliases cannot be deleted"
    );
    store
        .remove_alias("abuse@example.org", None)
        .await
        .expect("remove");
    store.delete_domain("example.org").await.expect("delete");
}

/// A domain's catch-all account is set, read back and cleared, also by
/// deleting the account.
pub async fn catch_all_is_set_and_cleared(store: Store) {
    let a = setup(&store, "all@example.org").await;
    store
        .set_catch_all("example.org", Some(a.id))
        .await
        .expect("set");
    let d = store
        .domain("example.org")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(d.catch_all, Some(a.id));
    store
        .set_catch_all("example.org", None)
        .await
        .expect("clear");
    let d = store
        .domain("example.org")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(d.catch_all, None);
    assert_eq!(
        kind(
            store
                .set_catch_all("example.org", Some(AccountId(a.id.0 + 1000)))
                .await
        ),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.set_catch_all("nope.example", None).await),
        ErrorKind::NotFound
    );
    store
        .set_catch_all("example.org", Some(a.id))
        .await
        .expect("set");
    store
        .delete_account("all@example.org")
        .await
        .expect("delete");
    let d = store
        .domain("example.org")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        d.catch_all, None,
        "deleting the account clears the catch-all"
    );
}

/// Deleting an account removes its mailboxes, entries, messages and blobs,
/// but not what another account still uses.
pub async fn delete_account_removes_everything(store: Store) {
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    for i in 0..5 {
        deliver_one(&store, a.id, &format!("d{i}")).await;
    }
    let shared = store
        .deliver(test_message("shared"), vec![to_inbox(a.id), to_inbox(b.id)])
        .await
        .expect("deliver");
    let sb = shared[1].as_ref().expect("delivered to b").clone();
    let mbox_a = inbox_of(&store, a.id).await;
    store.delete_account("A@example.org").await.expect("delete");
    assert_eq!(store.account("a@example.org").await.expect("get"), None);
    assert_eq!(store.account_by_id(a.id).await.expect("get"), None);
    assert_eq!(
        store.lookup_address("a@example.org").await.expect("lookup"),
        None
    );
    assert!(store.list_mailboxes(a.id).await.expect("list").is_empty());
    assert_eq!(
        kind(store.entries(a.id, mbox_a.id).await),
        ErrorKind::NotFound
    );
    let report = assert_clean(&store).await;
    assert_eq!(
        (
            report.accounts,
            report.mailboxes,
            report.entries,
            report.messages,
            report.blobs
        ),
        (1, DEFAULT_MAILBOXES.len() as u64, 1, 1, 1)
    );
    let bytes = store
        .message_bytes(b.id, sb.message)
        .await
        .expect("b keeps its copy");
    assert_eq!(bytes.as_slice(), test_message("shared").data.as_slice());
    let r = store
        .deliver(test_message("late"), vec![to_inbox(a.id)])
        .await
        .expect("deliver");
    assert_eq!(
        r[0].as_ref().map_err(StoreError::kind).err(),
        Some(ErrorKind::NotFound)
    );
    store.delete_account("b@example.org").await.expect("delete");
    let report = assert_clean(&store).await;
    assert_eq!(
        (
            report.accounts,
            report.mailboxes,
            report.messages,
            report.blobs
        ),
        (0, 0, 0, 0)
    );
}
