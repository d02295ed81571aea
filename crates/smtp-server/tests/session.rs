//! Session logic fed bytes directly, against a real SQLite store in a
//! temporary directory.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;
use pillarbox_delivery::{Delivery, DeliveryConfig};
use pillarbox_session::{ConnInfo, Control, ManualClock, Session, TlsInfo};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, MailStore, StoredCredentials};

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    ctx: Arc<SmtpContext>,
    alice: AccountId,
    bob: AccountId,
}

fn creds() -> StoredCredentials {
    StoredCredentials {
        password_hash: "x".into(),
        scram_sha256: None,
    }
}

async fn harness(config: SmtpConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.create_domain("example.org").await.unwrap();
    let alice = store
        .create_account("alice@example.org", creds())
        .await
        .unwrap()
        .id;
    let bob = store
        .create_account("bob@example.org", creds())
        .await
        .unwrap()
        .id;
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ));
    let delivery = Arc::new(Delivery::new(
        store.clone(),
        DeliveryConfig {
            hostname: "mx.example.org".into(),
            ..DeliveryConfig::default()
        },
        clock.clone(),
    ));
    let ctx = SmtpContext::new(store.clone(), delivery, config, clock);
    Harness {
        _dir: dir,
        store,
        ctx,
        alice,
        bob,
    }
}

fn config() -> SmtpConfig {
    SmtpConfig {
        hostname: "mx.example.org".into(),
        ..SmtpConfig::default()
    }
}

/// A session plus its unconsumed input.
struct Client {
    session: SmtpSession,
    buf: BytesMut,
    last: Control,
}

impl Client {
    async fn connect(h: &Harness, mode: Mode) -> (Client, String) {
        let conn = ConnInfo {
            session_id: 7,
            peer: "192.0.2.1:40000".parse().unwrap(),
            local: "192.0.2.25:25".parse().unwrap(),
            tls: None,
            starttls_available: true,
        };
        let mut session = SmtpSession::new(h.ctx.clone(), conn, mode);
        let mut out = Vec::new();
        let control = session.greeting(&mut out).await;
        assert_eq!(control, Control::Continue);
        let client = Client {
            session,
            buf: BytesMut::new(),
            last: Control::Continue,
        };
        (client, String::from_utf8(out).unwrap())
    }

    /// Sends raw bytes; returns all the output.
    async fn raw(&mut self, bytes: &[u8]) -> String {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        self.last = self.session.input(&mut self.buf, &mut out).await;
        String::from_utf8(out).unwrap()
    }

    /// Sends lines (CRLF added to each).
    async fn send(&mut self, lines: &[&str]) -> String {
        let mut data = String::new();
        for l in lines {
            data.push_str(l);
            data.push_str("\r\n");
        }
        self.raw(data.as_bytes()).await
    }

    async fn ehlo(&mut self) {
        let out = self.send(&["EHLO client.example.net"]).await;
        assert!(out.starts_with("250-mx.example.org"), "{out}");
    }
}

async fn inbox(store: &SqliteStore, account: AccountId) -> Vec<String> {
    let mailbox = store
        .mailbox_by_name(account, "INBOX")
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    for entry in store.entries(account, mailbox.id).await.unwrap() {
        let bytes = store.message_bytes(account, entry.message).await.unwrap();
        out.push(String::from_utf8(bytes.to_vec()).unwrap());
    }
    out
}

fn codes(out: &str) -> Vec<&str> {
    out.lines().map(|l| &l[..l.len().min(9)]).collect()
}

#[tokio::test]
async fn greeting_and_ehlo_capabilities() {
    let h = harness(config()).await;
    let (mut c, greeting) = Client::connect(&h, Mode::Mx).await;
    assert_eq!(greeting, "220 mx.example.org ESMTP Pillarbox ready\r\n");
    let out = c.send(&["EHLO client.example.net"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("250-mx.example.org"));
    for cap in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "STARTTLS",
        "DSN",
    ] {
        assert!(
            lines.iter().any(|l| &l[4..] == cap),
            "missing {cap} in {out}"
        );
    }
    assert!(lines.last().unwrap().starts_with("250 "));
    assert!(!out.contains("AUTH"));
}

#[tokio::test]
async fn helo_gets_plain_reply_and_no_extensions() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    assert_eq!(c.send(&["HELO client"]).await, "250 mx.example.org\r\n");
    let out = c.send(&["MAIL FROM:<a@example.net> BODY=8BITMIME"]).await;
    assert!(out.starts_with("555 5.5.4"), "{out}");
    let out = c.send(&["MAIL FROM:<a@example.net>"]).await;
    assert!(out.starts_with("250 2.1.0"), "{out}");
}

#[tokio::test]
async fn delivers_a_message_durably_with_trace_headers() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    assert_eq!(
        c.send(&["MAIL FROM:<sender@example.net>"]).await,
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        c.send(&["RCPT TO:<Alice@Example.org>"]).await,
        "250 2.1.5 Recipient OK\r\n"
    );
    assert!(c.send(&["DATA"]).await.starts_with("354 "));
    let out = c
        .send(&["Subject: hi", "", "hello", "..dot line", "."])
        .await;
    assert!(out.starts_with("250 2.0.0 Message accepted as "), "{out}");
    let msgs = inbox(&h.store, h.alice).await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].starts_with(
            "Return-Path: <sender@example.net>\r\n\
             Received: from client.example.net ([192.0.2.1])\r\n\
             \tby mx.example.org (Pillarbox) with ESMTP id "
        ),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[0].contains("\tfor <Alice@Example.org>;\r\n\tThu, 01 Jan 2026 00:00:00 +0000\r\n")
    );
    assert!(msgs[0].ends_with("Subject: hi\r\n\r\nhello\r\n.dot line\r\n"));
    assert_eq!(
        c.send(&["QUIT"]).await,
        "221 2.0.0 mx.example.org closing connection\r\n"
    );
    assert_eq!(c.last, Control::Close);
}

#[tokio::test]
async fn pipelined_transaction_gets_replies_in_order() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    let out = c
        .send(&[
            "EHLO x",
            "MAIL FROM:<s@example.net>",
            "RCPT TO:<alice@example.org>",
            "RCPT TO:<nobody@example.org>",
            "RCPT TO:<bob@example.org>",
            "DATA",
        ])
        .await;
    let codes: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("250-"))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(codes, ["250", "250", "250", "550", "250", "354"], "{out}");
    let out = c.send(&["x", ".", "NOOP", "QUIT"]).await;
    assert_eq!(codes_of(&out), ["250", "250", "221"], "{out}");
    assert_eq!(inbox(&h.store, h.alice).await.len(), 1);
    assert_eq!(inbox(&h.store, h.bob).await.len(), 1);
}

fn codes_of(out: &str) -> Vec<&str> {
    out.lines().map(|l| &l[..3]).collect()
}

#[tokio::test]
async fn data_split_at_every_byte_is_unstuffed_correctly() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    c.send(&["MAIL FROM:<>", "RCPT TO:<alice@example.org>", "DATA"])
        .await;
    let body = b".leading dot\r\nline\r\n..\r\n.\r\nNOOP\r\n";
    let mut out = String::new();
    for b in body {
        out.push_str(&c.raw(&[*b]).await);
    }
    assert_eq!(codes_of(&out), ["250", "250"], "{out}");
    let msgs = inbox(&h.store, h.alice).await;
    assert!(msgs[0].starts_with("Return-Path: <>\r\n"));
    assert!(
        msgs[0].ends_with(";\r\n\tThu, 01 Jan 2026 00:00:00 +0000\r\nleading dot\r\nline\r\n.\r\n"),
        "{:?}",
        msgs[0]
    );
}

#[tokio::test]
async fn empty_message_and_bare_lf_normalised() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c
        .send(&[
            "MAIL FROM:<a@b.example>",
            "RCPT TO:<alice@example.org>",
            "DATA",
            ".",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "354", "250"], "{out}");
    let out = c
        .send(&[
            "MAIL FROM:<a@b.example>",
            "RCPT TO:<alice@example.org>",
            "DATA",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "354"]);
    let out = c.raw(b"a\nb\r\n.\r\n").await;
    assert_eq!(codes_of(&out), ["250"]);
    let msgs = inbox(&h.store, h.alice).await;
    assert!(msgs[0].ends_with("+0000\r\n"));
    assert!(msgs[1].ends_with("+0000\r\na\r\nb\r\n"));
}

#[tokio::test]
async fn rcpt_unknown_user_gets_550_5_1_1_and_relay_is_denied() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    c.send(&["MAIL FROM:<a@example.net>"]).await;
    let out = c.send(&["RCPT TO:<nobody@example.org>"]).await;
    assert_eq!(out, "550 5.1.1 Mailbox unavailable: no such user\r\n");
    let out = c.send(&["RCPT TO:<someone@example.net>"]).await;
    assert_eq!(out, "554 5.7.1 Relay access denied\r\n");
    // smtp-proto refuses address literals as syntax errors; either way
    // nothing is relayed.
    let out = c.send(&["RCPT TO:<someone@[192.0.2.9]>"]).await;
    assert!(out.starts_with("501 5.1.3"), "{out}");
    let out = c.send(&["DATA"]).await;
    assert_eq!(out, "554 5.5.1 No valid recipients\r\n");
}

#[tokio::test]
async fn subaddress_alias_catch_all_and_postmaster() {
    let h = harness(config()).await;
    h.store
        .add_alias("team@example.org", "alice@example.org")
        .await
        .unwrap();
    h.store
        .add_alias("team@example.org", "bob@example.org")
        .await
        .unwrap();
    h.store
        .set_catch_all("example.org", Some(h.bob))
        .await
        .unwrap();
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<alice+news@example.org>",
            "RCPT TO:<team@example.org>",
            "RCPT TO:<whoever@example.org>",
            "DATA",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "250", "250", "354"], "{out}");
    let out = c.send(&["Subject: x", "", "y", "."]).await;
    assert_eq!(codes_of(&out), ["250"]);
    // Delivered once per account although reached several times.
    assert_eq!(inbox(&h.store, h.alice).await.len(), 1);
    assert_eq!(inbox(&h.store, h.bob).await.len(), 1);
    // Several recipients: no "for" clause.
    assert!(!inbox(&h.store, h.alice).await[0].contains("\tfor <"));
}

#[tokio::test]
async fn postmaster_without_domain_is_accepted() {
    let h = harness(SmtpConfig {
        hostname: "example.org".into(),
        ..SmtpConfig::default()
    })
    .await;
    h.store
        .add_alias("postmaster@example.org", "alice@example.org")
        .await
        .unwrap();
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.send(&["EHLO x"]).await;
    let out = c
        .send(&["MAIL FROM:<>", "RCPT TO:<Postmaster>", "RCPT TO:<>"])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "501"], "{out}");
}

#[tokio::test]
async fn too_many_recipients_get_452_4_5_3() {
    let h = harness(SmtpConfig {
        max_recipients: 2,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<alice@example.org>",
            "RCPT TO:<bob@example.org>",
            "RCPT TO:<alice+2@example.org>",
        ])
        .await;
    assert_eq!(codes(&out)[3], "452 4.5.3", "{out}");
}

#[tokio::test]
async fn size_limits_mail_param_and_data() {
    let h = harness(SmtpConfig {
        max_message_size: 100,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    let out = c.send(&["EHLO x"]).await;
    assert!(out.contains("250-SIZE 100\r\n"));
    let out = c.send(&["MAIL FROM:<a@example.net> SIZE=101"]).await;
    assert!(out.starts_with("552 5.3.4"), "{out}");
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net> SIZE=50",
            "RCPT TO:<alice@example.org>",
            "DATA",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "354"]);
    let big = "x".repeat(200);
    let out = c.send(&[&big, "."]).await;
    assert!(out.starts_with("552 5.3.4"), "{out}");
    assert!(inbox(&h.store, h.alice).await.is_empty());
    // The transaction is over; a new one works.
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<alice@example.org>",
            "DATA",
            "small",
            ".",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "354", "250"], "{out}");
}

#[tokio::test]
async fn bad_sequence_gets_503() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    assert!(
        c.send(&["MAIL FROM:<a@example.net>"])
            .await
            .starts_with("503 5.5.1")
    );
    c.ehlo().await;
    assert!(
        c.send(&["RCPT TO:<alice@example.org>"])
            .await
            .starts_with("503 5.5.1")
    );
    assert!(c.send(&["DATA"]).await.starts_with("503 5.5.1"));
    c.send(&["MAIL FROM:<a@example.net>"]).await;
    assert!(
        c.send(&["MAIL FROM:<a@example.net>"])
            .await
            .starts_with("503 5.5.1")
    );
    assert_eq!(c.send(&["RSET"]).await, "250 2.0.0 OK\r\n");
    assert!(
        c.send(&["RCPT TO:<alice@example.org>"])
            .await
            .starts_with("503 5.5.1")
    );
}

#[tokio::test]
async fn syntax_and_unknown_commands() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    assert!(c.send(&["FOO bar"]).await.starts_with("500 5.5.1"));
    assert!(c.send(&["MAIL FROM:bad"]).await.starts_with("501 5.5.4"));
    assert!(c.send(&["EXPN list"]).await.starts_with("502 5.5.1"));
    assert!(
        c.send(&["MAIL FROM:<a@example.net> BY=120;R"])
            .await
            .starts_with("555 5.5.4"),
        "DELIVERBY is not offered"
    );
    assert!(
        c.send(&["MAIL FROM:<a@example.net> FOO=1"])
            .await
            .starts_with("555 5.5.4")
    );
    assert!(c.send(&["VRFY alice"]).await.starts_with("252 "));
    assert!(c.send(&["HELP"]).await.starts_with("214 "));
    assert_eq!(c.send(&["NOOP"]).await, "250 2.0.0 OK\r\n");
}

#[tokio::test]
async fn overlong_line_gets_500_5_5_6_and_session_continues() {
    let h = harness(SmtpConfig {
        max_line_length: 64,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let long = format!("NOOP {}", "a".repeat(100));
    let out = c.send(&[&long, "NOOP"]).await;
    assert_eq!(codes(&out), ["500 5.5.6", "250 2.0.0"], "{out}");
    // A long line arriving in pieces without its end is cut off early.
    let out = c.raw("x".repeat(70).as_bytes()).await;
    assert!(out.starts_with("500 5.5.6"));
    assert!(c.buf.is_empty());
    let out = c.raw(b"yyyy\r\nNOOP\r\n").await;
    assert_eq!(out, "250 2.0.0 OK\r\n");
}

#[tokio::test]
async fn too_many_errors_close_with_421() {
    let h = harness(SmtpConfig {
        max_errors: 3,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    let out = c.send(&["BAD", "BAD", "BAD", "NOOP"]).await;
    assert_eq!(
        codes(&out),
        ["500 5.5.1", "500 5.5.1", "500 5.5.1", "421 4.7.0"],
        "{out}"
    );
    assert_eq!(c.last, Control::Close);
}

#[tokio::test]
async fn bdat_chunks_and_last() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c
        .raw(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT 14\r\nSubject: x\r\n\r\nBDAT 6 LAST\r\nbody\r\nNOOP\r\n")
        .await;
    assert_eq!(
        codes(&out),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.0.0"
        ],
        "{out}"
    );
    assert!(out.contains("Message accepted as"));
    // BDAT 0 LAST ends a message; a chunk may split anywhere.
    let out = c
        .raw(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT 5\r\nhe")
        .await;
    assert_eq!(codes_of(&out), ["250", "250"]);
    assert_eq!(codes_of(&c.raw(b"llo").await), ["250"]);
    let out = c.raw(b"DATA\r\nBDAT 0 LAST\r\n").await;
    assert_eq!(codes(&out), ["503 5.5.1", "250 2.0.0"], "{out}");
    let msgs = inbox(&h.store, h.alice).await;
    assert!(msgs[0].ends_with("Subject: x\r\n\r\nbody\r\n"));
    assert!(msgs[1].ends_with("+0000\r\nhello"));
}

#[tokio::test]
async fn bdat_without_transaction_is_read_then_refused() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c.raw(b"BDAT 12 LAST\r\nRCPT TO:<>\r\nNOOP\r\n").await;
    assert_eq!(codes(&out), ["503 5.5.1", "250 2.0.0"], "{out}");
    let out = c
        .raw(b"MAIL FROM:<a@example.net>\r\nBDAT 4 LAST\r\nabcd")
        .await;
    assert_eq!(codes(&out), ["250 2.1.0", "554 5.5.1"], "{out}");
}

#[tokio::test]
async fn bdat_too_large_is_refused_after_the_chunk() {
    let h = harness(SmtpConfig {
        max_message_size: 10,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c
        .raw(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT 8\r\n12345678BDAT 8\r\n12345678BDAT 1 LAST\r\nx")
        .await;
    assert_eq!(
        codes(&out),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "552 5.3.4",
            "503 5.5.1"
        ],
        "{out}"
    );
    assert!(inbox(&h.store, h.alice).await.is_empty());
}

#[tokio::test]
async fn lmtp_replies_once_per_recipient() {
    let h = harness(config()).await;
    h.store
        .set_quota("bob@example.org", Some(10))
        .await
        .unwrap();
    let (mut c, greeting) = Client::connect(&h, Mode::Lmtp).await;
    assert!(greeting.starts_with("220 mx.example.org LMTP"));
    assert!(c.send(&["EHLO x"]).await.starts_with("500 5.5.1"));
    assert!(c.send(&["HELO x"]).await.starts_with("500 5.5.1"));
    assert!(
        c.send(&["MAIL FROM:<a@example.net>"])
            .await
            .starts_with("503 5.5.1")
    );
    let out = c.send(&["LHLO x"]).await;
    assert!(out.starts_with("250-mx.example.org"));
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<alice@example.org>",
            "RCPT TO:<nobody@example.org>",
            "RCPT TO:<bob@example.org>",
            "DATA",
            "Subject: lmtp",
            "",
            "hi",
            ".",
        ])
        .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "550 5.1.1 Mailbox unavailable: no such user",
            "250 2.1.5 Recipient OK",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 <alice@example.org> Message accepted",
            "552 5.2.2 <bob@example.org> Mailbox full",
        ],
        "{out}"
    );
    assert_eq!(inbox(&h.store, h.alice).await.len(), 1);
    assert!(inbox(&h.store, h.bob).await.is_empty());
    assert!(inbox(&h.store, h.alice).await[0].contains(" with LMTP id "));
}

#[tokio::test]
async fn lmtp_size_failure_is_reported_per_recipient() {
    let h = harness(SmtpConfig {
        max_message_size: 5,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Lmtp).await;
    c.send(&["LHLO x"]).await;
    let out = c
        .raw(b"MAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nBDAT 6 LAST\r\n123456")
        .await;
    assert_eq!(
        codes(&out),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "552 5.3.4",
            "552 5.3.4"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn smtp_partial_failure_still_accepts() {
    let h = harness(config()).await;
    h.store
        .set_quota("bob@example.org", Some(10))
        .await
        .unwrap();
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<bob@example.org>",
            "RCPT TO:<alice@example.org>",
            "DATA",
            "hello",
            ".",
        ])
        .await;
    assert_eq!(codes_of(&out).last(), Some(&"250"), "{out}");
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<bob@example.org>",
            "DATA",
            "hello",
            ".",
        ])
        .await;
    assert!(out.ends_with("552 5.2.2 Mailbox full\r\n"), "{out}");
}

#[tokio::test]
async fn starttls_discards_pipelined_data_and_resets() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    assert!(c.send(&["STARTTLS"]).await.starts_with("503 5.5.1"));
    c.ehlo().await;
    let out = c
        .send(&["MAIL FROM:<a@example.net>", "STARTTLS", "RSET"])
        .await;
    assert_eq!(codes(&out), ["250 2.1.0", "220 2.0.0"], "{out}");
    assert_eq!(c.last, Control::StartTls);
    assert!(c.buf.is_empty(), "pipelined plaintext was discarded");
    c.session.tls_established(TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
        ..Default::default()
    });
    // RFC 3207 §4.2: state is reset; EHLO again, STARTTLS no longer offered.
    assert!(
        c.send(&["MAIL FROM:<a@example.net>"])
            .await
            .starts_with("503 5.5.1")
    );
    let out = c.send(&["EHLO x"]).await;
    assert!(!out.contains("STARTTLS"), "{out}");
    assert!(c.send(&["STARTTLS"]).await.starts_with("503 5.5.1"));
    let out = c
        .send(&[
            "MAIL FROM:<a@example.net>",
            "RCPT TO:<alice@example.org>",
            "DATA",
            "x",
            ".",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "354", "250"]);
    let msg = &inbox(&h.store, h.alice).await[0];
    assert!(
        msg.contains(" with ESMTPS\r\n\t(version=TLSv1.3 cipher=TLS13_AES_128_GCM_SHA256) id "),
        "{msg}"
    );
}

#[tokio::test]
async fn require_tls_refuses_mail_before_starttls() {
    let h = harness(SmtpConfig {
        require_tls: true,
        ..config()
    })
    .await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    assert!(
        c.send(&["MAIL FROM:<a@example.net>"])
            .await
            .starts_with("530 5.7.0")
    );
}

#[tokio::test]
async fn smtputf8_addresses_need_the_parameter() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    assert!(
        c.send(&["MAIL FROM:<jösé@example.net>"])
            .await
            .starts_with("553 5.6.7")
    );
    let out = c
        .send(&[
            "MAIL FROM:<jösé@example.net> SMTPUTF8 BODY=8BITMIME",
            "RCPT TO:<alice@example.org>",
            "DATA",
            "Subject: ünïcode",
            ".",
        ])
        .await;
    assert_eq!(codes_of(&out), ["250", "250", "354", "250"], "{out}");
    let msg = &inbox(&h.store, h.alice).await[0];
    assert!(msg.starts_with("Return-Path: <jösé@example.net>\r\n"));
    assert!(msg.contains(" with UTF8SMTP id "));
}

#[tokio::test]
async fn idle_timeout_says_421_4_4_2() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    assert_eq!(c.session.idle_timeout(), Duration::from_secs(300));
    let mut out = Vec::new();
    c.session.timed_out(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "421 4.4.2 mx.example.org Idle timeout, closing connection\r\n"
    );
}

#[tokio::test]
async fn smuggled_end_of_data_with_bare_lf_does_not_end_the_message() {
    let h = harness(config()).await;
    let (mut c, _) = Client::connect(&h, Mode::Mx).await;
    c.ehlo().await;
    c.send(&[
        "MAIL FROM:<a@example.net>",
        "RCPT TO:<alice@example.org>",
        "DATA",
    ])
    .await;
    // "\n.\n" and "\r.\r" are not the end of data (SMTP smuggling); the
    // "commands" after them are message text.
    let out = c
        .raw(b"Subject: s\r\n\r\nx\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\ny\r.\r\nz\r\n.\r\n")
        .await;
    assert_eq!(codes_of(&out), ["250"], "{out}");
    assert!(inbox(&h.store, h.bob).await.is_empty());
    let msgs = inbox(&h.store, h.alice).await;
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].contains("MAIL FROM:<evil@example.net>"));
}
