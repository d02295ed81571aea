//! Conformance checks of DKIM keys (see [`crate::dkim`]).

use crate::api::*;
use crate::dkim::{DkimAlgorithm, DkimKey};
use crate::error::ErrorKind;

use super::kind;

fn key(domain: &str, selector: &str, algorithm: DkimAlgorithm, created: UnixTime) -> DkimKey {
    DkimKey {
        domain: domain.to_owned(),
        selector: selector.to_owned(),
        algorithm,
        // The store keeps the key opaque: any non-empty bytes will do.
        private_key: format!("pkcs8 {selector}").into_bytes(),
        created,
    }
}

/// Keys are stored per domain, listed oldest first, unique per selector,
/// removable one by one, and removed with their domain.
pub async fn dkim_keys_round_trip_and_go_with_their_domain(store: Store) {
    store.create_domain("example.org").await.expect("domain");
    store.create_domain("other.example").await.expect("domain");
    assert!(
        store
            .dkim_keys("example.org")
            .await
            .expect("list")
            .is_empty()
    );
    let rsa = key("Example.ORG", "PBX-rsa-2", DkimAlgorithm::RsaSha256, 200);
    let ed = key("example.org", "pbx-ed-1", DkimAlgorithm::Ed25519Sha256, 100);
    store.add_dkim_key(rsa.clone()).await.expect("add rsa");
    store.add_dkim_key(ed.clone()).await.expect("add ed25519");
    store
        .add_dkim_key(key(
            "other.example",
            "pbx-ed-1",
            DkimAlgorithm::Ed25519Sha256,
            1,
        ))
        .await
        .expect("the same selector in another domain");
    let keys = store.dkim_keys("EXAMPLE.org").await.expect("list");
    let got: Vec<(&str, &str, DkimAlgorithm, &[u8], UnixTime)> = keys
        .iter()
        .map(|k| {
            (
                k.domain.as_str(),
                k.selector.as_str(),
                k.algorithm,
                k.private_key.as_slice(),
                k.created,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "example.org",
                "pbx-ed-1",
                DkimAlgorithm::Ed25519Sha256,
                ed.private_key.as_slice(),
                100
            ),
            (
                "example.org",
                "pbx-rsa-2",
                DkimAlgorithm::RsaSha256,
                rsa.private_key.as_slice(),
                200
            ),
        ],
        "keys are lowercased, kept exactly and listed oldest first"
    );
    assert_eq!(
        kind(
            store
                .add_dkim_key(key("example.org", "pbx-ed-1", DkimAlgorithm::RsaSha256, 3))
                .await
        ),
        ErrorKind::Conflict,
        "a selector is unique within its domain"
    );
    assert_eq!(
        kind(
            store
                .add_dkim_key(key("nope.example", "s", DkimAlgorithm::RsaSha256, 3))
                .await
        ),
        ErrorKind::NotFound
    );
    for bad in ["", "a_b", "-x", "a..b"] {
        assert_eq!(
            kind(
                store
                    .add_dkim_key(key("example.org", bad, DkimAlgorithm::RsaSha256, 3))
                    .await
            ),
            ErrorKind::Invalid,
            "selector {bad:?}"
        );
    }
    let mut empty = key("example.org", "empty", DkimAlgorithm::RsaSha256, 3);
    empty.private_key.clear();
    assert_eq!(kind(store.add_dkim_key(empty).await), ErrorKind::Invalid);
    assert!(
        store
            .dkim_keys("nope.example")
            .await
            .expect("list")
            .is_empty()
    );

    store
        .remove_dkim_key("example.org", "PBX-ED-1")
        .await
        .expect("remove");
    assert_eq!(
        kind(store.remove_dkim_key("example.org", "pbx-ed-1").await),
        ErrorKind::NotFound
    );
    let left: Vec<String> = store
        .dkim_keys("example.org")
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.selector)
        .collect();
    assert_eq!(left, ["pbx-rsa-2"]);

    store
        .delete_domain("example.org")
        .await
        .expect("delete domain");
    store
        .create_domain("example.org")
        .await
        .expect("domain again");
    assert!(
        store
            .dkim_keys("example.org")
            .await
            .expect("list")
            .is_empty(),
        "removing a domain removes its keys"
    );
    assert_eq!(
        store.dkim_keys("other.example").await.expect("list").len(),
        1,
        "other domains keep theirs"
    );
}
