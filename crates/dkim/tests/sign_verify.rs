//! Messages signed with generated, stored keys verify (with mail-auth's
//! verifier) against the published key records, served by a local DNS
//! server; changes in transit are detected.

use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use pillarbox_delivery::test_dns::TestDns;
use pillarbox_dkim::{Signer, dkim_record, ensure_keys};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{DkimAlgorithm, Store};

const NOW: i64 = 1_795_780_800; // 2026-11-27T12:00:00Z

const MESSAGE: &[u8] = b"From: Alice <alice@example.org>\r\n\
To: bob@example.net\r\n\
Subject: signed   and\r\n  folded\r\n\
Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <1@example.org>\r\n\
\r\n\
Hello Bob.  \r\n\
\r\n\
\r\n";

async fn setup() -> (tempfile::TempDir, Store, TestDns) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Store = SqliteStore::open(dir.path()).expect("store");
    store.create_domain("example.org").await.expect("domain");
    let made = ensure_keys(&store, "example.org", NOW, false)
        .await
        .expect("keys");
    let dns = TestDns::start().await.expect("dns");
    for key in &made {
        let record = dkim_record(key.algorithm, &key.private_key).expect("record");
        dns.txt(&format!("{}._domainkey.example.org", key.selector), &record);
    }
    (dir, store, dns)
}

fn verifier(dns: &TestDns) -> MessageAuthenticator {
    let (config, options) =
        pillarbox_dns::resolver_config(&[dns.addr().to_string()], 5).expect("resolver config");
    MessageAuthenticator::new(config, options).expect("resolver")
}

/// The result and `(d=, s=, a=)` of each signature (every message here
/// carries two), in header order.
async fn verify(resolver: &MessageAuthenticator, raw: &[u8]) -> Vec<(DkimResult, String)> {
    let message = AuthenticatedMessage::parse(raw).expect("parse");
    let results: Vec<(DkimResult, String)> = resolver
        .verify_dkim(&message)
        .await
        .into_iter()
        .map(|o| {
            let s = o.signature().expect("signature");
            (o.result().clone(), format!("{} {} {:?}", s.d, s.s, s.a))
        })
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_signatures_verify_against_the_published_records() {
    let (_dir, store, dns) = setup().await;
    let keys = store.dkim_keys("example.org").await.expect("keys");
    assert_eq!(
        keys.iter()
            .map(|k| (k.selector.as_str(), k.algorithm))
            .collect::<Vec<_>>(),
        [
            ("pbx-ed-20261127", DkimAlgorithm::Ed25519Sha256),
            ("pbx-rsa-20261127", DkimAlgorithm::RsaSha256)
        ]
    );
    let signer = Signer::new(store.clone());
    let (signed, count) = signer
        .sign(&["example.org".to_string()], MESSAGE.to_vec())
        .await
        .expect("sign");
    assert_eq!(count, 2);
    assert!(signed.ends_with(MESSAGE), "the message follows the fields");
    let text = String::from_utf8_lossy(&signed[..signed.len() - MESSAGE.len()]).to_string();
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    assert!(text.contains("c=relaxed/relaxed"), "{text}");
    // Oversigned From, absent fields signed as absent.
    let h = text
        .split("h=")
        .nth(1)
        .expect("h= tag")
        .split(';')
        .next()
        .expect("h value")
        .replace(['\r', '\n', ' ', '\t'], "");
    assert_eq!(h.matches("From").count(), 2, "{h}");
    assert!(h.contains("Reply-To") && h.contains("Message-ID"), "{h}");

    let resolver = verifier(&dns);
    let results = verify(&resolver, &signed).await;
    assert_eq!(results.len(), 2, "{results:?}");
    for (result, _) in &results {
        assert_eq!(*result, DkimResult::Pass, "{results:?}");
    }
    let names: Vec<&str> = results.iter().map(|(_, n)| n.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("pbx-ed-20261127") && n.contains("Ed25519"))
    );
    assert!(
        names
            .iter()
            .any(|n| n.contains("pbx-rsa-20261127") && n.contains("Rsa"))
    );

    // Relaxed canonicalization: refolding and trailing spaces are fine.
    let refolded = String::from_utf8_lossy(&signed)
        .replace("signed   and\r\n  folded", "signed and folded")
        .replace("Hello Bob.  ", "Hello Bob.");
    for (result, _) in verify(&resolver, refolded.as_bytes()).await {
        assert_eq!(result, DkimResult::Pass);
    }
    // A changed body, or a second From: field, fails every signature.
    let tampered = String::from_utf8_lossy(&signed).replace("Hello Bob.", "Hello Eve.");
    for (result, _) in verify(&resolver, tampered.as_bytes()).await {
        assert_ne!(result, DkimResult::Pass);
    }
    let mut extra_from = b"From: mallory@example.org\r\n".to_vec();
    extra_from.extend_from_slice(&signed);
    let mut added = signed.clone();
    let at = added.len() - MESSAGE.len();
    added.splice(at..at, b"From: mallory@example.org\r\n".iter().copied());
    for raw in [extra_from, added] {
        for (result, _) in verify(&resolver, &raw).await {
            assert_ne!(result, DkimResult::Pass, "a second From: must break it");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_signs_with_the_newest_keys_and_keyless_domains_stay_unsigned() {
    let (_dir, store, dns) = setup().await;
    let later = NOW + 86_400;
    let rotated = ensure_keys(&store, "example.org", later, true)
        .await
        .expect("rotate");
    let selectors: Vec<&str> = rotated.iter().map(|k| k.selector.as_str()).collect();
    assert_eq!(selectors, ["pbx-ed-20261128", "pbx-rsa-20261128"]);
    for key in &rotated {
        let record = dkim_record(key.algorithm, &key.private_key).expect("record");
        dns.txt(&format!("{}._domainkey.example.org", key.selector), &record);
    }
    // Without --rotate, nothing is missing, so nothing is made.
    assert!(
        ensure_keys(&store, "example.org", later, false)
            .await
            .expect("ensure")
            .is_empty()
    );
    let signer = Signer::new(store.clone());
    let (signed, count) = signer
        .sign(&["example.org".to_string()], MESSAGE.to_vec())
        .await
        .expect("sign");
    assert_eq!(count, 2);
    let results = verify(&verifier(&dns), &signed).await;
    assert!(
        results
            .iter()
            .all(|(r, n)| *r == DkimResult::Pass && n.contains("20261128")),
        "{results:?}"
    );

    store
        .create_domain("keyless.example")
        .await
        .expect("domain");
    let (same, count) = signer
        .sign(&["keyless.example".to_string()], MESSAGE.to_vec())
        .await
        .expect("sign");
    assert_eq!((same.as_slice(), count), (MESSAGE, 0));
    // Keys added while running are used for the next message.
    ensure_keys(&store, "keyless.example", NOW, false)
        .await
        .expect("keys");
    let (_, count) = signer
        .sign(&["keyless.example".to_string()], MESSAGE.to_vec())
        .await
        .expect("sign");
    assert_eq!(count, 2);
    assert!(
        ensure_keys(&store, "missing.example", NOW, false)
            .await
            .is_err(),
        "an unknown domain gets no keys"
    );
}
