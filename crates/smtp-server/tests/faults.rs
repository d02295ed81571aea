//! Hostile conditions: store faults during delivery (a full disk answers
//! `452 4.3.1`, other I/O trouble `451 4.3.0`, never `250`; nothing already
//! accepted is lost and the session keeps serving) and AUTH brute force on
//! submission. The store is a real SQLite store behind
//! `pillarbox_store::fault::FaultyStore`; time is a `ManualClock`.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pillarbox_delivery::{Delivery, DeliveryConfig};
use pillarbox_session::{Clock, ConnInfo, Control, ManualClock, Session, TlsInfo};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::fault::{Fault, FaultyStore, Op};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, MailStore, StoredCredentials};

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<FaultyStore<SqliteStore>>,
    ctx: Arc<SmtpContext>,
    clock: Arc<ManualClock>,
    alice: AccountId,
    bob: AccountId,
}

async fn harness() -> Harness {
    harness_with_delay(0).await
}

/// `submission_auth_failure_delay_ms` as given; the clock is a [`ManualClock`].
async fn harness_with_delay(submission_auth_failure_delay_ms: u64) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).unwrap();
    sqlite.create_domain("example.org").await.unwrap();
    let creds = StoredCredentials {
        password_hash: "x".into(),
        scram_sha256: None,
    };
    let alice = sqlite
        .create_account("alice@example.org", creds.clone())
        .await
        .unwrap()
        .id;
    let bob = sqlite
        .create_account("bob@example.org", creds)
        .await
        .unwrap()
        .id;
    let store = FaultyStore::new(sqlite);
    let clock = support::test_clock();
    let delivery = Arc::new(Delivery::new(
        store.clone(),
        DeliveryConfig {
            hostname: "mx.example.org".into(),
            ..DeliveryConfig::default()
        },
        clock.clone(),
    ));
    let config = SmtpConfig {
        hostname: "mx.example.org".into(),
        submission_auth_failure_delay_ms,
        submission_max_auth_failures: 100,
        ..SmtpConfig::default()
    };
    let ctx = SmtpContext::new(store.clone(), delivery, config, clock.clone());
    Harness {
        _dir: dir,
        store,
        ctx,
        clock,
        alice,
        bob,
    }
}

struct Client {
    session: SmtpSession,
    buf: BytesMut,
    last: Control,
}

impl Client {
    async fn connect(h: &Harness, mode: Mode) -> Client {
        Client::connect_from(h, mode, "192.0.2.1:40000").await
    }

    async fn connect_from(h: &Harness, mode: Mode, peer: &str) -> Client {
        let conn = ConnInfo {
            session_id: 9,
            peer: peer.parse().unwrap(),
            local: "192.0.2.25:25".parse().unwrap(),
            tls: (mode == Mode::Submission).then(|| TlsInfo {
                protocol: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                ..Default::default()
            }),
            starttls_available: false,
        };
        let mut session = SmtpSession::new(h.ctx.clone(), conn, mode);
        let mut out = Vec::new();
        assert_eq!(session.greeting(&mut out).await, Control::Continue);
        let mut c = Client {
            session,
            buf: BytesMut::new(),
            last: Control::Continue,
        };
        let hello = match mode {
            Mode::Lmtp => "LHLO client.example.net\r\n",
            _ => "EHLO client.example.net\r\n",
        };
        assert!(c.raw(hello.as_bytes()).await.starts_with("250"));
        c
    }

    async fn raw(&mut self, bytes: &[u8]) -> String {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        self.last = self.session.input(&mut self.buf, &mut out).await;
        String::from_utf8(out).unwrap()
    }

    /// One message by DATA to `rcpts`; returns the reply to the data.
    async fn data(&mut self, rcpts: &[&str], body: &str) -> String {
        let mut cmds = String::from("MAIL FROM:<s@example.net>\r\n");
        for r in rcpts {
            cmds.push_str(&format!("RCPT TO:<{r}>\r\n"));
        }
        cmds.push_str("DATA\r\n");
        let out = self.raw(cmds.as_bytes()).await;
        assert!(
            out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"),
            "{out}"
        );
        self.raw(format!("Subject: {body}\r\n\r\n{body}\r\n.\r\n").as_bytes())
            .await
    }
}

async fn inbox_len(h: &Harness, account: AccountId) -> usize {
    let s = h.store.inner();
    let inbox = s.mailbox_by_name(account, "INBOX").await.unwrap().unwrap();
    s.entries(account, inbox.id).await.unwrap().len()
}

#[tokio::test]
async fn disk_full_during_data_is_452_4_3_1_and_keeps_earlier_mail() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    let out = c.data(&["alice@example.org"], "first").await;
    assert!(out.starts_with("250 2.0.0 "), "{out}");

    h.store.fail_writes(Fault::DiskFull);
    let out = c.data(&["alice@example.org"], "second").await;
    assert_eq!(
        out,
        "452 4.3.1 Insufficient system storage, try again later\r\n"
    );
    assert_eq!(h.store.failures(Op::Deliver), 1);
    assert_eq!(c.last, Control::Continue);
    assert_eq!(inbox_len(&h, h.alice).await, 1, "the first message is kept");

    // The session goes on; once there is space the retry is accepted.
    h.store.heal();
    let out = c.data(&["alice@example.org"], "second").await;
    assert!(out.starts_with("250 2.0.0 "), "{out}");
    assert_eq!(inbox_len(&h, h.alice).await, 2);
}

#[tokio::test]
async fn disk_full_during_bdat_is_452_4_3_1() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    h.store.fail_writes(Fault::DiskFull);
    let out = c
        .raw(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT 12\r\nSubject: x\r\nBDAT 8 LAST\r\n\r\nbody\r\n")
        .await;
    assert!(
        out.ends_with(
            "250 2.0.0 Chunk accepted (12 octets so far)\r\n\
             452 4.3.1 Insufficient system storage, try again later\r\n"
        ),
        "{out}"
    );
    assert_eq!(inbox_len(&h, h.alice).await, 0);
    // The transaction is over; a new one works after the disk is freed.
    h.store.heal();
    let out = c.data(&["alice@example.org"], "again").await;
    assert!(out.starts_with("250 2.0.0 "), "{out}");
}

fn dev_full() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/full")
}

#[tokio::test]
async fn disk_full_while_spooling_a_large_message_is_452_4_3_1() {
    let h = harness().await;
    // Data past 1 MiB goes to a temporary file, here on a full disk.
    assert!(h.ctx.set_spool_file(dev_full));
    let body = "x".repeat(1000) + "\r\n";
    let big = body.repeat(1100);
    let mut c = Client::connect(&h, Mode::Mx).await;
    let out = c.data(&["alice@example.org"], &big).await;
    assert_eq!(
        out,
        "452 4.3.1 Insufficient system storage, try again later\r\n"
    );
    // By BDAT the chunk that hit the full disk gets the 452 (RFC 3030 §2:
    // the client sends no more chunks)...
    let head = format!("Subject: big\r\n\r\n{big}");
    let mail = "MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n";
    let out = c
        .raw(format!("{mail}BDAT {}\r\n{head}", head.len()).as_bytes())
        .await;
    assert!(
        out.ends_with(
            "250 2.1.5 Recipient OK\r\n452 4.3.1 Insufficient system storage, try again later\r\n"
        ),
        "{out}"
    );
    // ...and a last chunk that does gets it for the message.
    let out = c
        .raw(format!("{mail}BDAT {} LAST\r\n{head}", head.len()).as_bytes())
        .await;
    assert!(
        out.ends_with(
            "250 2.1.5 Recipient OK\r\n452 4.3.1 Insufficient system storage, try again later\r\n"
        ),
        "{out}"
    );
    assert_eq!(c.last, Control::Continue);
    assert_eq!(inbox_len(&h, h.alice).await, 0);
    // Small messages stay in memory and still get through.
    let out = c.data(&["alice@example.org"], "small").await;
    assert!(out.starts_with("250 2.0.0 "), "{out}");
}

#[tokio::test]
async fn io_error_during_data_is_451_never_250() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    h.store.fail(Op::Deliver, Fault::Io);
    let out = c.data(&["alice@example.org", "bob@example.org"], "x").await;
    assert!(out.starts_with("451 4.3.0 "), "{out}");
    assert_eq!(inbox_len(&h, h.alice).await, 0);
    assert_eq!(inbox_len(&h, h.bob).await, 0);
}

#[tokio::test]
async fn disk_full_in_lmtp_is_452_for_each_recipient() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Lmtp).await;
    let out = c
        .data(&["alice@example.org", "bob@example.org"], "first")
        .await;
    assert_eq!(out.lines().filter(|l| l.starts_with("250 ")).count(), 2);

    h.store.fail_times(Op::Deliver, Fault::DiskFull, 1);
    let out = c
        .data(&["alice@example.org", "bob@example.org"], "second")
        .await;
    // RFC 2033 §4.2: one reply per recipient, in order.
    assert_eq!(
        out,
        "452 4.3.1 <alice@example.org> Insufficient system storage, try again later\r\n\
         452 4.3.1 <bob@example.org> Insufficient system storage, try again later\r\n"
    );
    assert_eq!(inbox_len(&h, h.alice).await, 1);
    assert_eq!(inbox_len(&h, h.bob).await, 1);

    // The one-shot fault is gone: the retry delivers to both.
    let out = c
        .data(&["alice@example.org", "bob@example.org"], "second")
        .await;
    assert_eq!(out.lines().filter(|l| l.starts_with("250 ")).count(), 2);
    assert_eq!(inbox_len(&h, h.alice).await, 2);
}

#[tokio::test]
async fn lookup_failure_at_rcpt_is_temporary() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    h.store.fail(Op::LookupAddress, Fault::Busy);
    let out = c
        .raw(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n")
        .await;
    assert!(
        out.ends_with("451 4.3.0 Temporary local problem, try again later\r\n"),
        "{out}"
    );
}

// --- AUTH brute force (submission) ---

async fn alice_password_is_secret(h: &Harness) {
    let c = pillarbox_sasl::hash_password("secret");
    h.store
        .inner()
        .set_credentials(
            "alice@example.org",
            StoredCredentials {
                password_hash: c.password_hash,
                scram_sha256: Some(c.scram_sha256),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn auth_brute_force_gets_454_4_7_0_from_any_connection_until_the_delay_passes() {
    let h = harness().await;
    alice_password_is_secret(&h).await;
    let mut a = Client::connect_from(&h, Mode::Submission, "198.51.100.7:1").await;
    for _ in 0..4 {
        let out = a
            .raw(support::auth_plain("alice@example.org", "wrong").as_bytes())
            .await;
        assert!(out.starts_with("535 5.7.8 "), "{out}");
    }
    // A second connection from the same address, right password: refused
    // without a check while the delay runs.
    let mut b = Client::connect_from(&h, Mode::Submission, "198.51.100.7:2").await;
    let out = b
        .raw(support::auth_plain("alice@example.org", "secret").as_bytes())
        .await;
    assert_eq!(
        out,
        "454 4.7.0 Too many failed authentications, try again later\r\n"
    );
    h.clock.advance(Duration::from_secs(1));
    let out = b
        .raw(support::auth_plain("alice@example.org", "secret").as_bytes())
        .await;
    assert!(out.starts_with("235 "), "{out}");
}

#[tokio::test]
async fn each_failed_auth_waits_the_configured_delay_on_the_clock() {
    let h = harness_with_delay(1500).await;
    alice_password_is_secret(&h).await;
    let t0 = h.clock.now();
    let waited = || h.clock.now().duration_since(t0).unwrap();
    let mut a = Client::connect_from(&h, Mode::Submission, "198.51.100.7:1").await;
    let out = a
        .raw(support::auth_plain("alice@example.org", "wrong").as_bytes())
        .await;
    assert!(out.starts_with("535 5.7.8 "), "{out}");
    assert_eq!(waited(), Duration::from_millis(1500));
    let out = a
        .raw(support::auth_plain("alice@example.org", "secret").as_bytes())
        .await;
    assert!(out.starts_with("235 "), "{out}");
    assert_eq!(waited(), Duration::from_millis(1500));
}

// --- slowloris ---

#[tokio::test]
async fn a_command_sent_one_byte_per_second_gets_421_4_4_2() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    let line = b"MAIL FROM:<slow@example.net>";
    let mut out = String::new();
    for (i, b) in line.iter().cycle().take(400).enumerate() {
        h.clock.advance(Duration::from_secs(1));
        out = c.raw(&[*b]).await;
        if c.last == Control::Close {
            // 300 s allowance, counted from the first byte.
            assert_eq!(i, 301);
            break;
        }
        assert_eq!(out, "", "{i}");
    }
    assert_eq!(
        out,
        "421 4.4.2 mx.example.org Command or data too slow, closing connection\r\n"
    );
    assert_eq!(c.last, Control::Close);
}

#[tokio::test]
async fn message_data_trickling_in_gets_421_and_nothing_is_stored() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    let out = c
        .raw(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        .await;
    assert!(out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"));
    let mut closed_after = None;
    for i in 0..1000 {
        h.clock.advance(Duration::from_secs(1));
        let out = c.raw(b"x").await;
        if c.last == Control::Close {
            assert!(out.starts_with("421 4.4.2 "), "{out}");
            closed_after = Some(i);
            break;
        }
    }
    assert!(closed_after.is_some_and(|i| (300..310).contains(&i)));
    assert_eq!(inbox_len(&h, h.alice).await, 0);
}

#[tokio::test]
async fn a_large_message_at_a_modest_rate_is_not_cut_off() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    c.raw(
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: big\r\n\r\n",
    )
    .await;
    // 2 KiB/s for 20 minutes: 2.4 MB, far past the 300 s base allowance.
    let chunk = [b"y".repeat(2046), b"\r\n".to_vec()].concat();
    for _ in 0..1200 {
        h.clock.advance(Duration::from_secs(1));
        assert_eq!(c.raw(&chunk).await, "");
        assert_eq!(c.last, Control::Continue);
    }
    let out = c.raw(b".\r\n").await;
    assert!(out.starts_with("250 2.0.0 "), "{out}");
}

#[tokio::test]
async fn shutdown_mid_data_is_421_4_3_2_and_stores_nothing() {
    let h = harness().await;
    let mut c = Client::connect(&h, Mode::Mx).await;
    c.raw(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: half\r\n")
        .await;
    let mut out = Vec::new();
    c.session.shutting_down(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "421 4.3.2 mx.example.org Service shutting down, try again later\r\n"
    );
    assert_eq!(inbox_len(&h, h.alice).await, 0);
}
