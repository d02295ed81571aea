//! Submission sessions (RFC 6409 / RFC 4954) fed bytes directly, against a
//! real SQLite store: the SCRAM-SHA-256 exchange with a small client of our
//! own (a transcript cannot compute the proof for a random server nonce),
//! AUTH line limits, and TLS rules.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use hmac::{Hmac, Mac};
use pillarbox_delivery::{Delivery, DeliveryConfig};
use pillarbox_session::{ConnInfo, Control, ManualClock, Session, TlsInfo};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, MailStore, StoredCredentials};
use sha2::{Digest, Sha256};

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    ctx: Arc<SmtpContext>,
    bob: AccountId,
}

fn credentials(password: &str) -> StoredCredentials {
    let c = pillarbox_sasl::hash_password(password);
    StoredCredentials {
        password_hash: c.password_hash,
        scram_sha256: Some(c.scram_sha256),
    }
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.create_domain("example.org").await.unwrap();
    store
        .create_account("alice@example.org", credentials("secret"))
        .await
        .unwrap();
    let bob = store
        .create_account("bob@example.org", credentials("hunter2"))
        .await
        .unwrap()
        .id;
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ));
    let delivery = Arc::new(Delivery::new(
        store.clone(),
        DeliveryConfig {
            hostname: "mail.example.org".into(),
            ..DeliveryConfig::default()
        },
        clock.clone(),
    ));
    let config = SmtpConfig {
        hostname: "mail.example.org".into(),
        submission_auth_failure_delay_ms: 0,
        ..SmtpConfig::default()
    };
    let ctx = SmtpContext::new(store.clone(), delivery, config, clock);
    Harness {
        _dir: dir,
        store,
        ctx,
        bob,
    }
}

/// A submission session plus its unconsumed input.
struct Client {
    session: SmtpSession,
    buf: BytesMut,
    last: Control,
}

impl Client {
    /// `tls`: as on the implicit-TLS listener.
    async fn connect(h: &Harness, tls: bool) -> Client {
        let conn = ConnInfo {
            session_id: 9,
            peer: "192.0.2.1:40000".parse().unwrap(),
            local: "192.0.2.25:465".parse().unwrap(),
            tls: tls.then(|| TlsInfo {
                protocol: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                ..Default::default()
            }),
            starttls_available: !tls,
        };
        let mut session = SmtpSession::new(h.ctx.clone(), conn, Mode::Submission);
        let mut out = Vec::new();
        session.greeting(&mut out).await;
        assert!(out.starts_with(b"220 mail.example.org ESMTP"));
        let mut client = Client {
            session,
            buf: BytesMut::new(),
            last: Control::Continue,
        };
        let ehlo = client.send(&["EHLO client.example.net"]).await;
        assert!(ehlo.starts_with("250-mail.example.org"), "{ehlo}");
        assert_eq!(ehlo.contains("250-AUTH SCRAM-SHA-256 PLAIN LOGIN\r\n"), tls);
        client
    }

    async fn raw(&mut self, bytes: &[u8]) -> String {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        self.last = self.session.input(&mut self.buf, &mut out).await;
        String::from_utf8(out).unwrap()
    }

    async fn send(&mut self, lines: &[&str]) -> String {
        let mut data = String::new();
        for l in lines {
            data.push_str(l);
            data.push_str("\r\n");
        }
        self.raw(data.as_bytes()).await
    }

    /// Sends one line and returns the decoded data of the `334` reply.
    async fn challenge(&mut self, line: &str) -> Vec<u8> {
        let out = self.send(&[line]).await;
        let data = out
            .strip_prefix("334 ")
            .and_then(|r| r.strip_suffix("\r\n"))
            .unwrap_or_else(|| panic!("expected 334, got {out:?}"));
        STANDARD.decode(data).unwrap()
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The client side of RFC 5802 §3 after the server-first message: returns
/// the client-final message and the server signature to expect.
fn scram_client_final(
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> (String, String) {
    let attr = |name: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let nonce = attr("r=");
    let salt = STANDARD.decode(attr("s=")).unwrap();
    let iterations: u32 = attr("i=").parse().unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    // c= is base64("n,,"), the GS2 header without channel binding.
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac(&salted, b"Server Key");
    let server_signature = hmac(&server_key, auth_message.as_bytes());
    (
        format!("{without_proof},p={}", STANDARD.encode(proof)),
        format!("v={}", STANDARD.encode(server_signature)),
    )
}

async fn bob_inbox(h: &Harness) -> Vec<String> {
    let mailbox = h
        .store
        .mailbox_by_name(h.bob, "INBOX")
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    for entry in h.store.entries(h.bob, mailbox.id).await.unwrap() {
        let bytes = h.store.message_bytes(h.bob, entry.message).await.unwrap();
        out.push(String::from_utf8(bytes.to_vec()).unwrap());
    }
    out
}

#[tokio::test]
async fn scram_sha256_with_initial_response_then_submit() {
    let h = harness().await;
    let mut c = Client::connect(&h, true).await;
    let first_bare = "n=alice@example.org,r=fyko+d2lbbFgONRv9qkxdawL";
    let initial = STANDARD.encode(format!("n,,{first_bare}"));
    let server_first = c.challenge(&format!("AUTH SCRAM-SHA-256 {initial}")).await;
    let server_first = String::from_utf8(server_first).unwrap();
    assert!(
        server_first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"),
        "{server_first}"
    );
    let (client_final, expected) = scram_client_final("secret", first_bare, &server_first);
    let server_final = c.challenge(&STANDARD.encode(client_final)).await;
    // The server proves it knows the key too (RFC 5802 §3).
    assert_eq!(String::from_utf8(server_final).unwrap(), expected);
    assert_eq!(
        c.send(&[""]).await,
        "235 2.7.0 Authentication successful\r\n"
    );

    let out = c
        .send(&[
            "MAIL FROM:<alice@example.org>",
            "RCPT TO:<bob@example.org>",
            "DATA",
            "From: Alice <alice@example.org>",
            "Subject: scram",
            "",
            "Hi Bob.",
            ".",
        ])
        .await;
    assert!(
        out.ends_with("250 2.0.0 Message accepted as 9.1\r\n"),
        "{out}"
    );
    let inbox = bob_inbox(&h).await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].contains(
            "with ESMTPSA\r\n\t(version=TLSv1.3 cipher=TLS13_AES_128_GCM_SHA256)\r\n\
             \t(authenticated as alice@example.org) id 9.1\r\n\tfor <bob@example.org>;"
        ),
        "{}",
        inbox[0]
    );
    assert!(inbox[0].contains("Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"));
    assert!(inbox[0].contains("@mail.example.org>\r\n"));
}

#[tokio::test]
async fn scram_sha256_without_initial_response_and_wrong_password() {
    let h = harness().await;
    let mut c = Client::connect(&h, true).await;
    assert_eq!(c.challenge("AUTH SCRAM-SHA-256").await, b"");
    let first_bare = "n=alice@example.org,r=abcdefghijklmnop";
    let server_first = c
        .challenge(&STANDARD.encode(format!("n,,{first_bare}")))
        .await;
    let server_first = String::from_utf8(server_first).unwrap();
    let (client_final, _) = scram_client_final("not the password", first_bare, &server_first);
    let out = c.send(&[&STANDARD.encode(client_final)]).await;
    assert_eq!(out, "535 5.7.8 Authentication credentials invalid\r\n");
    // An unknown user runs the same exchange to its end and fails alike.
    let first_bare = "n=nobody@example.org,r=abcdefghijklmnop";
    let initial = STANDARD.encode(format!("n,,{first_bare}"));
    let server_first = c.challenge(&format!("AUTH SCRAM-SHA-256 {initial}")).await;
    let server_first = String::from_utf8(server_first).unwrap();
    let (client_final, _) = scram_client_final("secret", first_bare, &server_first);
    let out = c.send(&[&STANDARD.encode(client_final)]).await;
    assert_eq!(out, "535 5.7.8 Authentication credentials invalid\r\n");
    assert_eq!(c.last, Control::Continue);
    // Channel binding is not offered: a client demanding it is refused.
    let initial = STANDARD.encode("p=tls-exporter,,n=alice@example.org,r=abc");
    let out = c.send(&[&format!("AUTH SCRAM-SHA-256 {initial}")]).await;
    assert_eq!(out, "501 5.5.2 Malformed authentication exchange\r\n");
    // The third bad password closes the connection.
    let plain = STANDARD.encode("\0alice@example.org\0guess");
    let out = c.send(&[&format!("AUTH PLAIN {plain}")]).await;
    assert_eq!(
        out,
        "535 5.7.8 Authentication credentials invalid\r\n\
         421 4.7.0 mail.example.org Too many authentication failures, closing connection\r\n"
    );
    assert_eq!(c.last, Control::Close);
}

#[tokio::test]
async fn no_auth_before_tls() {
    let h = harness().await;
    let mut c = Client::connect(&h, false).await;
    let plain = STANDARD.encode("\0alice@example.org\0secret");
    let out = c.send(&[&format!("AUTH PLAIN {plain}")]).await;
    assert_eq!(
        out,
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    );
    let out = c.send(&["MAIL FROM:<alice@example.org>"]).await;
    assert_eq!(out, "530 5.7.0 Authentication required\r\n");
    assert_eq!(
        c.send(&["STARTTLS"]).await,
        "220 2.0.0 Ready to start TLS\r\n"
    );
    assert_eq!(c.last, Control::StartTls);
}

#[tokio::test]
async fn auth_lines_may_exceed_the_command_limit_up_to_12288_octets() {
    let h = harness().await;
    let mut c = Client::connect(&h, true).await;
    // RFC 4616 allows three 255-octet fields: the line is longer than the
    // 1000-octet command limit but must still be read.
    let user = format!("{}@example.org", "u".repeat(243));
    let password = "p".repeat(255);
    let plain = STANDARD.encode(format!("{user}\0{user}\0{password}"));
    let line = format!("AUTH PLAIN {plain}");
    assert!(line.len() > 1000);
    let out = c.send(&[&line]).await;
    assert_eq!(out, "535 5.7.8 Authentication credentials invalid\r\n");
    // A response line past 12288 octets ends the exchange.
    assert_eq!(c.challenge("AUTH LOGIN").await, b"Username:");
    let out = c.raw(&vec![b'A'; 13_000]).await;
    assert_eq!(out, "500 5.5.6 Line too long\r\n");
    let out = c.send(&["AAAA"]).await;
    assert_eq!(out, "");
    // Other commands keep the normal limit.
    let out = c.send(&[&format!("NOOP {}", "x".repeat(1200))]).await;
    assert_eq!(out, "500 5.5.6 Line too long\r\n");
}

#[tokio::test]
async fn pipelined_auth_and_transaction() {
    let h = harness().await;
    let mut c = Client::connect(&h, true).await;
    let plain = STANDARD.encode("\0Alice@Example.org\0secret");
    let out = c
        .send(&[
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<alice@example.org>",
            "RCPT TO:<bob@example.org>",
            "RCPT TO:<someone@example.net>",
            "DATA",
        ])
        .await;
    assert_eq!(
        out,
        "235 2.7.0 Authentication successful\r\n\
         250 2.1.0 Sender OK\r\n\
         250 2.1.5 Recipient OK\r\n\
         554 5.7.1 Outbound delivery not configured: only local recipients are accepted\r\n\
         354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    let out = c
        .send(&["From: alice@example.org", "Message-ID: <x@y>", "", "."])
        .await;
    assert!(out.starts_with("250 2.0.0 Message accepted"), "{out}");
    let inbox = bob_inbox(&h).await;
    assert_eq!(inbox.len(), 1);
    assert!(!inbox[0].contains("@mail.example.org>"), "{}", inbox[0]);
}
