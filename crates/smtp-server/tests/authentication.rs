//! SPF/DKIM/DMARC on the MX path through the session: a DMARC `p=reject`
//! failure gets `550 5.7.1` and is not stored; a passing message lands
//! with our `Authentication-Results:`. DNS is a local test server.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::BytesMut;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use pillarbox_delivery::test_dns::TestDns;
use pillarbox_delivery::{Authenticator, Delivery, DeliveryConfig, DnsConfig};
use pillarbox_session::{ConnInfo, ManualClock, Session};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, MailStore, StoredCredentials};

const PEER: &str = "192.0.2.1";

struct Harness {
    _dir: tempfile::TempDir,
    dns: TestDns,
    store: Arc<SqliteStore>,
    ctx: Arc<SmtpContext>,
    alice: AccountId,
    key: Vec<u8>,
}

async fn harness() -> Harness {
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
    let delivery = Arc::new(
        Delivery::new(
            store.clone(),
            DeliveryConfig {
                hostname: "mx.example.org".into(),
                ..DeliveryConfig::default()
            },
            clock.clone(),
        )
        .with_authenticator(authenticator),
    );
    let config = SmtpConfig {
        hostname: "mx.example.org".into(),
        ..SmtpConfig::default()
    };
    let ctx = SmtpContext::new(store.clone(), delivery, config, clock);

    let key = Ed25519Key::generate_pkcs8().unwrap();
    let public = Ed25519Key::from_pkcs8_der(&key).unwrap().public_key();
    let public = base64::engine::general_purpose::STANDARD.encode(public);
    dns.txt(
        "sel._domainkey.example.net",
        &format!("v=DKIM1; k=ed25519; p={public}"),
    );
    dns.txt("example.net", &format!("v=spf1 ip4:{PEER} -all"));
    dns.txt("_dmarc.example.net", "v=DMARC1; p=reject");
    Harness {
        _dir: dir,
        dns,
        store,
        ctx,
        alice,
        key,
    }
}

const MESSAGE: &str = "From: Bob <bob@example.net>\r\n\
    To: alice@example.org\r\n\
    Subject: hello\r\n\
    \r\n\
    Hi Alice.\r\n";

impl Harness {
    fn signed(&self) -> String {
        let key = Ed25519Key::from_pkcs8_der(&self.key).unwrap();
        let signature = DkimSigner::from_key(key)
            .domain("example.net")
            .selector("sel")
            .headers(["From", "To", "Subject"])
            .sign(MESSAGE.as_bytes())
            .unwrap();
        format!("{}{MESSAGE}", signature.to_header())
    }

    /// One transaction from `peer`; returns the reply to the data.
    async fn send(&self, mode: Mode, peer: &str, message: &str) -> String {
        let conn = ConnInfo {
            session_id: 9,
            peer: format!("{peer}:40000").parse().unwrap(),
            local: "192.0.2.25:25".parse().unwrap(),
            tls: None,
            starttls_available: false,
        };
        let mut session = SmtpSession::new(self.ctx.clone(), conn, mode);
        let mut out = Vec::new();
        session.greeting(&mut out).await;
        let hello = match mode {
            Mode::Lmtp => "LHLO",
            _ => "EHLO",
        };
        let mut input = BytesMut::new();
        for line in [
            &format!("{hello} mail.example.net"),
            "MAIL FROM:<bob@example.net>",
            "RCPT TO:<alice@example.org>",
            "DATA",
        ] {
            input.extend_from_slice(line.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(message.as_bytes());
        input.extend_from_slice(b".\r\n");
        out.clear();
        session.input(&mut input, &mut out).await;
        let text = String::from_utf8(out).unwrap();
        text.lines().last().map(str::to_string).unwrap_or_default()
    }

    async fn inbox(&self) -> Vec<String> {
        let mailbox = self
            .store
            .mailbox_by_name(self.alice, "INBOX")
            .await
            .unwrap()
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

#[tokio::test]
async fn dmarc_reject_failure_gets_550_5_7_1_and_is_not_stored() {
    let h = harness().await;
    // Unsigned, from an address outside example.net's SPF record.
    let reply = h.send(Mode::Mx, "198.51.100.9", MESSAGE).await;
    assert!(reply.starts_with("550 5.7.1 "), "{reply}");
    assert!(h.inbox().await.is_empty());
}

#[tokio::test]
async fn passing_message_lands_with_authentication_results() {
    let h = harness().await;
    let reply = h.send(Mode::Mx, PEER, &h.signed()).await;
    assert!(reply.starts_with("250 2.0.0 "), "{reply}");
    let inbox = h.inbox().await;
    assert_eq!(inbox.len(), 1);
    let text = &inbox[0];
    let header_end = text.find("\r\nReceived: ").unwrap();
    let ar = &text[..header_end];
    assert!(
        ar.starts_with("Return-Path: <bob@example.net>\r\nAuthentication-Results: mx.example.org;\r\n\tspf=pass "),
        "{text}"
    );
    assert!(ar.contains(";\r\n\tdkim=pass header.d=example.net"), "{ar}");
    assert!(
        ar.contains(";\r\n\tdmarc=pass header.from=example.net"),
        "{ar}"
    );
}

#[tokio::test]
async fn lmtp_is_not_checked() {
    let h = harness().await;
    let reply = h.send(Mode::Lmtp, "198.51.100.9", MESSAGE).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let inbox = h.inbox().await;
    assert!(!inbox[0].contains("Authentication-Results"), "{}", inbox[0]);
}

#[tokio::test]
async fn dns_failure_never_loses_mail() {
    let h = harness().await;
    h.dns.servfail("example.net");
    h.dns.servfail("_dmarc.example.net");
    let reply = h.send(Mode::Mx, "198.51.100.9", MESSAGE).await;
    assert!(reply.starts_with("250 2.0.0 "), "{reply}");
    let inbox = h.inbox().await;
    assert!(inbox[0].contains("spf=temperror"), "{}", inbox[0]);
    assert!(inbox[0].contains("dmarc=temperror"), "{}", inbox[0]);
}
