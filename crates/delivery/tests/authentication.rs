//! SPF/DKIM/DMARC on the MX path against a local authoritative DNS server
//! (`test_dns`): nothing here touches the Internet.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use pillarbox_delivery::test_dns::TestDns;
use pillarbox_delivery::{
    Authenticator, Delivery, DeliveryConfig, Disposition, DnsConfig, Envelope, EnvelopeRecipient,
};
use pillarbox_session::ManualClock;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, MailStore, SpecialUse, StoredCredentials};

const PEER: &str = "192.0.2.7";
const OTHER_PEER: &str = "198.51.100.9";

struct Fixture {
    _dir: tempfile::TempDir,
    dns: TestDns,
    store: Arc<SqliteStore>,
    delivery: Delivery,
    alice: AccountId,
    /// The PKCS#8 Ed25519 key published at `sel._domainkey.example.net`.
    key: Vec<u8>,
}

async fn fixture(config: DeliveryConfig) -> Fixture {
    let dns = TestDns::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.create_domain("example.org").await.unwrap();
    let alice = store
        .create_account(
            "alice@example.org",
            StoredCredentials {
                password_hash: "x".into(),
                scram_sha256: None,
            },
        )
        .await
        .unwrap()
        .id;
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ));
    let authenticator = Authenticator::new(&DnsConfig {
        nameservers: vec![dns.addr().to_string()],
        timeout_secs: 1,
    })
    .unwrap();
    let delivery = Delivery::new(
        store.clone(),
        DeliveryConfig {
            hostname: "mx.example.org".into(),
            ..config
        },
        clock,
    )
    .with_authenticator(authenticator);

    let key = Ed25519Key::generate_pkcs8().unwrap();
    let public = Ed25519Key::from_pkcs8_der(&key).unwrap().public_key();
    let public = base64::engine::general_purpose::STANDARD.encode(public);
    dns.txt(
        "sel._domainkey.example.net",
        &format!("v=DKIM1; k=ed25519; p={public}"),
    );
    Fixture {
        _dir: dir,
        dns,
        store,
        delivery,
        alice,
        key,
    }
}

fn default_fixture() -> impl Future<Output = Fixture> {
    fixture(DeliveryConfig::default())
}

impl Fixture {
    /// SPF for example.net (MAIL FROM) and mail.example.net (HELO).
    fn publish_spf(&self) {
        self.dns
            .txt("example.net", &format!("v=spf1 ip4:{PEER} -all"));
        self.dns
            .txt("mail.example.net", &format!("v=spf1 ip4:{PEER} -all"));
    }

    fn publish_dmarc(&self, policy: &str) {
        self.dns
            .txt("_dmarc.example.net", &format!("v=DMARC1; p={policy}"));
    }

    fn envelope(&self, peer: &str, reverse_path: &str) -> Envelope {
        Envelope {
            reverse_path: reverse_path.into(),
            recipients: vec![EnvelopeRecipient {
                address: "alice@example.org".into(),
                accounts: vec![self.alice],
            }],
            helo: "mail.example.net".into(),
            peer_ip: peer.parse().unwrap(),
            protocol: "ESMTP",
            tls: None,
            authenticated: None,
            id: "t1".into(),
        }
    }

    /// `message` with a DKIM-Signature by `d=domain s=sel` prepended.
    fn sign(&self, domain: &str, message: &str) -> Vec<u8> {
        let key = Ed25519Key::from_pkcs8_der(&self.key).unwrap();
        let signature = DkimSigner::from_key(key)
            .domain(domain)
            .selector("sel")
            .headers(["From", "To", "Subject", "Date"])
            .sign(message.as_bytes())
            .unwrap();
        let mut out = signature.to_header().into_bytes();
        out.extend_from_slice(message.as_bytes());
        out
    }

    async fn mailbox(&self, special_use: Option<SpecialUse>) -> Vec<String> {
        let mailboxes = self.store.list_mailboxes(self.alice).await.unwrap();
        let mailbox = mailboxes
            .iter()
            .find(|m| match special_use {
                Some(s) => m.special_use == Some(s),
                None => m.name == "INBOX",
            })
            .unwrap();
        let mut out = Vec::new();
        for entry in self.store.entries(self.alice, mailbox.id).await.unwrap() {
            let bytes = self
                .store
                .message_bytes(self.alice, entry.message)
                .await
                .unwrap();
            out.push(String::from_utf8(bytes.to_vec()).unwrap());
        }
        out
    }
}

const MESSAGE: &str = "From: Bob <bob@example.net>\r\n\
    To: alice@example.org\r\n\
    Subject: hello\r\n\
    Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
    \r\n\
    Hi Alice.\r\n";

#[tokio::test]
async fn all_pass_is_delivered_with_authentication_results_above_received() {
    let f = default_fixture().await;
    f.publish_spf();
    f.publish_dmarc("reject");
    let raw = f.sign("example.net", MESSAGE);
    let env = f.envelope(PEER, "bob@example.net");
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.spf, "pass");
    assert_eq!(verdict.dkim, vec!["pass"]);
    assert_eq!(verdict.dmarc, "pass");
    assert_eq!(verdict.disposition, Disposition::Deliver);
    let results = f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    assert!(results.iter().all(Result::is_ok));
    let inbox = f.mailbox(None).await;
    assert_eq!(inbox.len(), 1);
    let text = &inbox[0];
    assert!(
        text.starts_with("Return-Path: <bob@example.net>\r\nAuthentication-Results: mx.example.org;\r\n\tspf=pass "),
        "{text}"
    );
    let received = text.find("\r\nReceived: ").unwrap();
    let ar = &text[..received];
    assert!(ar.contains("smtp.mailfrom=bob@example.net"), "{ar}");
    assert!(ar.contains("smtp.helo=mail.example.net"), "{ar}");
    assert!(
        ar.contains(";\r\n\tdkim=pass header.d=example.net header.s=sel"),
        "{ar}"
    );
    assert!(
        ar.contains(";\r\n\tdmarc=pass header.from=example.net policy.dmarc=reject"),
        "{ar}"
    );
    assert!(text.contains("\r\nDKIM-Signature: "));
}

#[tokio::test]
async fn no_records_anywhere_is_none_and_delivered() {
    let f = default_fixture().await;
    let env = f.envelope(PEER, "bob@example.net");
    let raw = MESSAGE.as_bytes().to_vec();
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.spf, "none");
    assert!(verdict.dkim.is_empty());
    assert_eq!(verdict.dmarc, "none");
    assert_eq!(verdict.disposition, Disposition::Deliver);
    assert!(verdict.header.contains("spf=none"), "{}", verdict.header);
    assert!(verdict.header.contains("dkim=none"), "{}", verdict.header);
    assert!(verdict.header.contains("dmarc=none"), "{}", verdict.header);
}

#[tokio::test]
async fn spf_fail_with_dmarc_reject_is_rejected() {
    let f = default_fixture().await;
    f.publish_spf();
    f.publish_dmarc("reject");
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let verdict = f
        .delivery
        .authenticate(&env, MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(verdict.spf, "fail");
    assert_eq!(verdict.dmarc, "fail");
    assert_eq!(verdict.disposition, Disposition::Reject);
}

#[tokio::test]
async fn dmarc_reject_disabled_delivers_to_junk_with_the_result() {
    let f = fixture(DeliveryConfig {
        dmarc_reject: false,
        ..DeliveryConfig::default()
    })
    .await;
    f.publish_spf();
    f.publish_dmarc("reject");
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let raw = MESSAGE.as_bytes().to_vec();
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.disposition, Disposition::Quarantine);
    let results = f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(f.mailbox(None).await.is_empty());
    let junk = f.mailbox(Some(SpecialUse::Junk)).await;
    assert_eq!(junk.len(), 1);
    assert!(junk[0].contains("dmarc=fail"), "{}", junk[0]);
}

#[tokio::test]
async fn dkim_fail_with_dmarc_quarantine_goes_to_junk() {
    let f = default_fixture().await;
    f.publish_dmarc("quarantine");
    let signed = String::from_utf8(f.sign("example.net", MESSAGE)).unwrap();
    // A signed header field changed after signing. (A changed body is
    // reported `neutral` by mail-auth: body hash mismatch.)
    let raw = signed
        .replace("Subject: hello", "Subject: HELLO")
        .into_bytes();
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.dkim, vec!["fail"]);
    assert_eq!(verdict.spf, "none");
    assert_eq!(verdict.dmarc, "fail");
    assert_eq!(verdict.disposition, Disposition::Quarantine);
    f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    assert_eq!(f.mailbox(Some(SpecialUse::Junk)).await.len(), 1);
    assert!(f.mailbox(None).await.is_empty());
}

#[tokio::test]
async fn quarantine_to_junk_disabled_keeps_inbox() {
    let f = fixture(DeliveryConfig {
        dmarc_quarantine_to_junk: false,
        ..DeliveryConfig::default()
    })
    .await;
    f.publish_dmarc("quarantine");
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let raw = MESSAGE.as_bytes().to_vec();
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.dmarc, "fail");
    assert_eq!(verdict.disposition, Disposition::Deliver);
    f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    assert_eq!(f.mailbox(None).await.len(), 1);
}

#[tokio::test]
async fn dmarc_none_policy_delivers_a_failure() {
    let f = default_fixture().await;
    f.publish_spf();
    f.publish_dmarc("none");
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let verdict = f
        .delivery
        .authenticate(&env, MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(verdict.dmarc, "fail");
    assert_eq!(verdict.disposition, Disposition::Deliver);
    assert!(
        verdict.header.contains("policy.dmarc=none"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn dkim_signature_of_another_domain_does_not_align() {
    let f = default_fixture().await;
    f.publish_dmarc("reject");
    f.dns.txt(
        "sel._domainkey.example.com",
        &f.dns_key_record_for_other_domain(),
    );
    let raw = f.sign("example.com", MESSAGE);
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.dkim, vec!["pass"]);
    assert_eq!(verdict.dmarc, "fail");
    assert_eq!(verdict.disposition, Disposition::Reject);
}

impl Fixture {
    fn dns_key_record_for_other_domain(&self) -> String {
        let public = Ed25519Key::from_pkcs8_der(&self.key).unwrap().public_key();
        let public = base64::engine::general_purpose::STANDARD.encode(public);
        format!("v=DKIM1; k=ed25519; p={public}")
    }
}

#[tokio::test]
async fn spf_temperror_never_rejects() {
    let f = default_fixture().await;
    f.publish_dmarc("reject");
    f.dns.servfail("example.net");
    let env = f.envelope(PEER, "bob@example.net");
    let raw = MESSAGE.as_bytes().to_vec();
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.spf, "temperror");
    assert_eq!(verdict.dmarc, "temperror");
    assert_eq!(verdict.disposition, Disposition::Deliver);
    let results = f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    assert!(results.iter().all(Result::is_ok));
    let inbox = f.mailbox(None).await;
    assert!(inbox[0].contains("spf=temperror"), "{}", inbox[0]);
}

#[tokio::test]
async fn dkim_temperror_is_recorded_and_delivered() {
    let f = default_fixture().await;
    f.publish_dmarc("reject");
    let raw = f.sign("example.net", MESSAGE);
    f.dns.servfail("sel._domainkey.example.net");
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert_eq!(verdict.dkim, vec!["temperror"]);
    assert_eq!(verdict.dmarc, "temperror");
    assert_eq!(verdict.disposition, Disposition::Deliver);
}

#[tokio::test]
async fn dmarc_record_temperror_delivers() {
    let f = default_fixture().await;
    f.publish_spf();
    f.dns.servfail("_dmarc.example.net");
    let env = f.envelope(OTHER_PEER, "bob@example.net");
    let verdict = f
        .delivery
        .authenticate(&env, MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(verdict.spf, "fail");
    assert_eq!(verdict.dmarc, "temperror");
    assert_eq!(verdict.disposition, Disposition::Deliver);
}

#[tokio::test]
async fn null_reverse_path_uses_the_helo_identity() {
    let f = default_fixture().await;
    f.publish_spf();
    let env = f.envelope(PEER, "");
    let verdict = f
        .delivery
        .authenticate(&env, MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(verdict.spf, "pass");
    assert!(
        verdict.header.contains("smtp.mailfrom=<>"),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn forged_results_for_our_host_are_removed() {
    let f = default_fixture().await;
    f.publish_spf();
    let env = f.envelope(PEER, "bob@example.net");
    let raw = format!(
        "Authentication-Results: mx.example.org; dmarc=pass header.from=example.net\r\n\
         Authentication-Results: upstream.example; spf=pass\r\n{MESSAGE}"
    )
    .into_bytes();
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    let text = &f.mailbox(None).await[0];
    assert_eq!(
        text.matches("Authentication-Results: mx.example.org")
            .count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("dmarc=pass header.from=example.net\r\n"),
        "{text}"
    );
    assert!(text.contains("Authentication-Results: upstream.example; spf=pass\r\n"));
}

#[tokio::test]
async fn verification_off_means_no_verdict() {
    let f = fixture(DeliveryConfig {
        verify_inbound: false,
        ..DeliveryConfig::default()
    })
    .await;
    let env = f.envelope(PEER, "bob@example.net");
    assert!(
        f.delivery
            .authenticate(&env, MESSAGE.as_bytes())
            .await
            .is_none()
    );
}

#[test]
fn bad_nameserver_is_a_setup_error() {
    let error = Authenticator::new(&DnsConfig {
        nameservers: vec!["dns.example".into()],
        timeout_secs: 1,
    })
    .unwrap_err();
    assert!(error.to_string().contains("dns.example"), "{error}");
}

/// RFC 6376 §6.1: only the first signatures are verified. A message with
/// hundreds of `DKIM-Signature:` fields (each a DNS query) is verified and
/// reported for the first 8 only, and delivered with its fields intact.
#[tokio::test]
async fn only_the_first_dkim_signatures_are_verified() {
    let f = default_fixture().await;
    f.publish_spf();
    let mut raw = f.sign("example.net", MESSAGE);
    let mut extra = String::new();
    for i in 0..300 {
        let signature = DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&f.key).unwrap())
            .domain("example.net")
            .selector(format!("unpublished{i}"))
            .headers(["From"])
            .sign(MESSAGE.as_bytes())
            .unwrap();
        extra.push_str(&signature.to_header());
    }
    raw.extend_from_slice(extra.as_bytes());
    // The extra fields go after the valid one, above the message's own.
    let raw = {
        let text = String::from_utf8(raw).unwrap();
        let (valid, rest) = text.split_at(text.find("From: Bob").unwrap());
        let (message, sigs) = rest.split_at(MESSAGE.len());
        format!("{valid}{sigs}{message}").into_bytes()
    };
    let env = f.envelope(PEER, "bob@example.net");
    let started = std::time::Instant::now();
    let verdict = f.delivery.authenticate(&env, &raw).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(verdict.dkim.len(), 8, "{:?}", verdict.dkim);
    assert_eq!(verdict.dkim[0], "pass");
    let results = f.delivery.deliver_authenticated(&env, raw, &verdict).await;
    assert!(results.iter().all(Result::is_ok));
    let inbox = f.mailbox(None).await;
    assert_eq!(inbox[0].matches("\r\nDKIM-Signature: ").count(), 301);
}
