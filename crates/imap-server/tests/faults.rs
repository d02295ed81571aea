//! Hostile conditions for IMAP sessions fed bytes directly: store faults
//! (a failed write is `NO [UNAVAILABLE]`, never `OK`, changes nothing and
//! the session goes on) and brute-force protection of LOGIN/AUTHENTICATE.
//! The store is real SQLite behind `pillarbox_store::fault::FaultyStore`;
//! time is a `ManualClock`.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;
use pillarbox_imap_server::{ImapConfig, ImapContext, ImapSession};
use pillarbox_session::{Clock, ConnInfo, Control, ManualClock, Session, TlsInfo};
use pillarbox_store::fault::{Fault, FaultyStore, Op};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, DeliveryTarget, Flags, MailStore, NewMessage, StoredCredentials};

fn credentials() -> StoredCredentials {
    static C: OnceLock<StoredCredentials> = OnceLock::new();
    C.get_or_init(|| {
        let c = pillarbox_sasl::hash_password("secret");
        StoredCredentials {
            password_hash: c.password_hash,
            scram_sha256: Some(c.scram_sha256),
        }
    })
    .clone()
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<FaultyStore<SqliteStore>>,
    ctx: Arc<ImapContext>,
    clock: Arc<ManualClock>,
    alice: AccountId,
}

async fn harness() -> Harness {
    harness_with_delay(0).await
}

/// `auth_failure_delay_ms` as given; the clock is a [`ManualClock`].
async fn harness_with_delay(auth_failure_delay_ms: u64) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).unwrap();
    sqlite.create_domain("example.org").await.unwrap();
    let alice = sqlite
        .create_account("alice@example.org", credentials())
        .await
        .unwrap()
        .id;
    for i in 1..=3 {
        sqlite
            .deliver(
                NewMessage {
                    data: Arc::new(format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes()),
                    internal_date: 1_767_225_600,
                },
                vec![DeliveryTarget {
                    account: alice,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: vec![],
                }],
            )
            .await
            .unwrap();
    }
    let store = FaultyStore::new(sqlite);
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ));
    let config = ImapConfig {
        auth_failure_delay_ms,
        max_auth_failures: 100,
        ..ImapConfig::default()
    };
    let ctx = ImapContext::new(store.clone(), config, clock.clone());
    Harness {
        _dir: dir,
        store,
        ctx,
        clock,
        alice,
    }
}

struct Client {
    session: ImapSession,
    buf: BytesMut,
    control: Control,
}

impl Client {
    async fn connect(h: &Harness, peer: &str) -> Client {
        let conn = ConnInfo {
            session_id: 1,
            peer: peer.parse().unwrap(),
            local: "192.0.2.2:993".parse().unwrap(),
            tls: Some(TlsInfo {
                protocol: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                ..Default::default()
            }),
            starttls_available: false,
        };
        let mut session = ImapSession::new(h.ctx.clone(), conn);
        let mut out = Vec::new();
        assert_eq!(session.greeting(&mut out).await, Control::Continue);
        Client {
            session,
            buf: BytesMut::new(),
            control: Control::Continue,
        }
    }

    async fn raw(&mut self, bytes: &[u8]) -> String {
        assert_eq!(self.control, Control::Continue, "session closed");
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        self.control = self.session.input(&mut self.buf, &mut out).await;
        String::from_utf8(out).unwrap()
    }

    /// Sends `tag command`; returns the tagged status line.
    async fn cmd(&mut self, tag: &str, command: &str) -> String {
        let out = self.raw(format!("{tag} {command}\r\n").as_bytes()).await;
        out.lines()
            .find(|l| l.starts_with(&format!("{tag} ")))
            .unwrap_or_else(|| panic!("no tagged reply in {out}"))
            .to_string()
    }

    async fn logged_in(h: &Harness) -> Client {
        let mut c = Client::connect(h, "192.0.2.1:40000").await;
        let r = c.cmd("a", "LOGIN alice@example.org secret").await;
        assert!(r.starts_with("a OK "), "{r}");
        let r = c.cmd("b", "SELECT INBOX").await;
        assert!(r.starts_with("b OK "), "{r}");
        c
    }
}

async fn inbox(h: &Harness) -> Vec<pillarbox_store::Entry> {
    let s = h.store.inner();
    let mailbox = s.mailbox_by_name(h.alice, "INBOX").await.unwrap().unwrap();
    s.entries(h.alice, mailbox.id).await.unwrap()
}

// --- store faults ---

#[tokio::test]
async fn disk_full_while_spooling_a_large_append_is_no_unavailable() {
    let h = harness().await;
    // APPEND data past 1 MiB goes to a temporary file, here on a full disk.
    assert!(h.ctx.set_spool_file(|| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/full")
    }));
    let mut c = Client::logged_in(&h).await;
    let message = format!("Subject: big\r\n\r\n{}", "x".repeat(1100 * 1024));
    let out = c
        .raw(format!("c APPEND INBOX {{{}+}}\r\n{message}\r\n", message.len()).as_bytes())
        .await;
    assert!(
        out.ends_with("c NO [UNAVAILABLE] Server storage full, try again later\r\n"),
        "{out}"
    );
    assert_eq!(inbox(&h).await.len(), 3);
    // Small messages stay in memory and still get through.
    let out = c
        .raw(b"d APPEND INBOX {23+}\r\nSubject: new\r\n\r\nhello\r\n\r\n")
        .await;
    assert!(out.contains("d OK [APPENDUID "), "{out}");
}

#[tokio::test]
async fn append_on_a_full_disk_is_no_unavailable_and_stores_nothing() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    h.store.fail_writes(Fault::DiskFull);
    let out = c
        .raw(b"c APPEND INBOX {23+}\r\nSubject: new\r\n\r\nhello\r\n\r\n")
        .await;
    assert!(
        out.contains("c NO [UNAVAILABLE] Server storage full, try again later\r\n"),
        "{out}"
    );
    assert_eq!(h.store.failures(Op::Append), 1);
    assert_eq!(inbox(&h).await.len(), 3);
    // The session goes on, and works once there is space.
    assert!(c.cmd("d", "NOOP").await.starts_with("d OK"));
    h.store.heal();
    let out = c
        .raw(b"e APPEND INBOX {23+}\r\nSubject: new\r\n\r\nhello\r\n\r\n")
        .await;
    assert!(out.contains("e OK [APPENDUID "), "{out}");
    assert_eq!(inbox(&h).await.len(), 4);
}

#[tokio::test]
async fn store_io_error_is_no_and_flags_are_unchanged() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    h.store.fail(Op::StoreFlags, Fault::Io);
    h.store.fail(Op::UpdateFlags, Fault::Io);
    let r = c.cmd("c", "STORE 1:* +FLAGS (\\Deleted)").await;
    assert!(r.starts_with("c NO [UNAVAILABLE] "), "{r}");
    assert!(
        inbox(&h)
            .await
            .iter()
            .all(|e| !e.flags.contains(Flags::DELETED))
    );
    assert!(c.cmd("d", "NOOP").await.starts_with("d OK"));
}

#[tokio::test]
async fn expunge_failure_is_no_and_nothing_is_removed() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    assert!(
        c.cmd("c", "STORE 1:2 +FLAGS.SILENT (\\Deleted)")
            .await
            .starts_with("c OK")
    );
    h.store.fail(Op::Expunge, Fault::DiskFull);
    let out = c.raw(b"d EXPUNGE\r\n").await;
    assert!(out.contains("d NO [UNAVAILABLE] "), "{out}");
    assert!(!out.contains("EXPUNGE\r\n* "), "no untagged EXPUNGE: {out}");
    assert!(!out.contains("* 1 EXPUNGE"), "{out}");
    assert_eq!(inbox(&h).await.len(), 3);
    // UID EXPUNGE and CLOSE fail the same way; the client may retry later.
    let r = c.cmd("e", "UID EXPUNGE 1:*").await;
    assert!(r.starts_with("e NO [UNAVAILABLE] "), "{r}");
    h.store.heal();
    let out = c.raw(b"f EXPUNGE\r\n").await;
    assert!(out.contains("* 1 EXPUNGE\r\n"), "{out}");
    assert!(out.contains("f OK"), "{out}");
    assert_eq!(inbox(&h).await.len(), 1);
}

#[tokio::test]
async fn move_failure_is_no_and_messages_stay() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    h.store.fail(Op::MoveMessages, Fault::Busy);
    let r = c.cmd("c", "MOVE 1:* Archive").await;
    assert!(r.starts_with("c NO [UNAVAILABLE] "), "{r}");
    assert_eq!(inbox(&h).await.len(), 3);
}

#[tokio::test]
async fn corruption_is_no_serverbug_never_ok() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    h.store.fail(Op::StoreFlags, Fault::Corrupt);
    h.store.fail(Op::UpdateFlags, Fault::Corrupt);
    let r = c.cmd("c", "STORE 1 +FLAGS (\\Seen)").await;
    assert!(r.starts_with("c NO [SERVERBUG] "), "{r}");
}

// --- brute force ---

#[tokio::test]
async fn failed_logins_from_one_address_are_throttled_with_a_growing_delay() {
    let h = harness().await;
    let mut c = Client::connect(&h, "198.51.100.7:1234").await;
    // The first three failures (the free ones) are answered normally.
    for tag in ["a", "b", "c"] {
        let r = c.cmd(tag, "LOGIN alice@example.org wrong").await;
        assert_eq!(
            r,
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed")
        );
    }
    // The fourth is evaluated (no delay owed yet); it imposes 1 s.
    let r = c.cmd("d", "LOGIN nobody@example.org wrong").await;
    assert!(r.starts_with("d NO [AUTHENTICATIONFAILED]"), "{r}");
    // Even the right password is refused without being checked meanwhile,
    // from another connection of the same address too.
    let mut c2 = Client::connect(&h, "198.51.100.7:1235").await;
    let r = c2.cmd("e", "LOGIN alice@example.org secret").await;
    assert_eq!(
        r,
        "e NO [UNAVAILABLE] Too many failed authentications, try again later"
    );
    h.clock.advance(Duration::from_secs(1));
    let r = c2.cmd("f", "LOGIN alice@example.org wrong").await;
    assert!(r.starts_with("f NO [AUTHENTICATIONFAILED]"), "{r}");
    // Now 2 s are owed: 1 s is not enough.
    h.clock.advance(Duration::from_secs(1));
    let r = c2.cmd("g", "LOGIN alice@example.org secret").await;
    assert!(r.starts_with("g NO [UNAVAILABLE]"), "{r}");
    h.clock.advance(Duration::from_secs(1));
    let r = c2.cmd("h", "LOGIN alice@example.org secret").await;
    assert!(r.starts_with("h OK "), "{r}");
    // Another address was never affected.
    let mut other = Client::connect(&h, "203.0.113.5:999").await;
    let r = other.cmd("i", "LOGIN alice@example.org wrong").await;
    assert!(r.starts_with("i NO [AUTHENTICATIONFAILED]"), "{r}");
}

#[tokio::test]
async fn each_failed_login_waits_the_configured_delay_on_the_clock() {
    let h = harness_with_delay(1500).await;
    let t0 = h.clock.now();
    let waited = || h.clock.now().duration_since(t0).unwrap();
    let mut c = Client::connect(&h, "198.51.100.7:1234").await;
    let r = c.cmd("a", "LOGIN alice@example.org wrong").await;
    assert!(r.starts_with("a NO [AUTHENTICATIONFAILED]"), "{r}");
    assert_eq!(waited(), Duration::from_millis(1500));
    // An unknown account waits just as long.
    let r = c.cmd("b", "LOGIN nobody@example.org wrong").await;
    assert!(r.starts_with("b NO [AUTHENTICATIONFAILED]"), "{r}");
    assert_eq!(waited(), Duration::from_millis(3000));
    // Success costs nothing.
    let r = c.cmd("c", "LOGIN alice@example.org secret").await;
    assert!(r.starts_with("c OK "), "{r}");
    assert_eq!(waited(), Duration::from_millis(3000));
}

#[tokio::test]
async fn per_account_limit_holds_across_addresses_and_authenticate() {
    let h = harness().await;
    // A distributed guesser: each failure from a different address, spaced
    // out so that no delay applies.
    for i in 0..10 {
        let mut c = Client::connect(&h, &format!("198.51.100.{i}:1000")).await;
        let r = c.cmd("a", "LOGIN alice@example.org wrong").await;
        assert!(r.starts_with("a NO [AUTHENTICATIONFAILED]"), "{i}: {r}");
        h.clock.advance(Duration::from_secs(301));
    }
    // The account is now locked for the window, whatever the address and
    // mechanism (AUTHENTICATE PLAIN with the right password).
    let mut c = Client::connect(&h, "203.0.113.9:1000").await;
    // "\0alice@example.org\0secret"
    let r = c
        .cmd(
            "b",
            "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==",
        )
        .await;
    assert!(r.starts_with("b NO [UNAVAILABLE] "), "{r}");
    h.clock.advance(Duration::from_secs(900));
    let r = c
        .cmd(
            "c",
            "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==",
        )
        .await;
    assert!(r.starts_with("c OK "), "{r}");
}

#[tokio::test]
async fn refusals_count_towards_the_per_connection_limit() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).unwrap();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ));
    let config = ImapConfig {
        auth_failure_delay_ms: 0,
        max_auth_failures: 5,
        ..ImapConfig::default()
    };
    let ctx = ImapContext::new(sqlite.clone(), config, clock.clone());
    let h = Harness {
        _dir: dir,
        store: FaultyStore::new(sqlite),
        ctx,
        clock,
        alice: AccountId(0),
    };
    let mut c = Client::connect(&h, "198.51.100.7:1234").await;
    for tag in ["a", "b", "c", "d"] {
        c.cmd(tag, "LOGIN x@example.org y").await;
    }
    let out = c.raw(b"e LOGIN x@example.org y\r\n").await;
    assert!(out.contains("* BYE "), "{out}");
    assert!(out.contains("e NO [UNAVAILABLE] "), "{out}");
    assert_eq!(c.control, Control::Close);
}

// --- slowloris ---

#[tokio::test]
async fn a_command_sent_one_byte_per_second_gets_bye() {
    let h = harness().await;
    let mut c = Client::connect(&h, "192.0.2.1:1").await;
    let mut out = String::new();
    for (i, b) in b"a LOGIN alice@example.org secret"
        .iter()
        .cycle()
        .take(400)
        .enumerate()
    {
        h.clock.advance(Duration::from_secs(1));
        out = c.raw(&[*b]).await;
        if c.control == Control::Close {
            assert_eq!(i, 301);
            break;
        }
    }
    assert_eq!(out, "* BYE Command too slow; closing connection\r\n");
}

#[tokio::test]
async fn append_data_trickling_in_gets_bye_and_stores_nothing() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    let out = c.raw(b"c APPEND INBOX {100000}\r\n").await;
    assert!(out.starts_with("+ "), "{out}");
    let mut closed = None;
    for i in 0..1000 {
        h.clock.advance(Duration::from_secs(1));
        let out = c.raw(b"x").await;
        if c.control == Control::Close {
            assert!(out.contains("* BYE Command too slow"), "{out}");
            closed = Some(i);
            break;
        }
    }
    assert!(
        closed.is_some_and(|i| (300..310).contains(&i)),
        "{closed:?}"
    );
    c.session.closed().await;
    assert_eq!(inbox(&h).await.len(), 3);
}

#[tokio::test]
async fn a_quiet_client_between_commands_is_only_subject_to_the_idle_timeout() {
    let h = harness().await;
    let mut c = Client::logged_in(&h).await;
    h.clock.advance(Duration::from_secs(3600));
    assert!(c.cmd("c", "NOOP").await.starts_with("c OK"));
}
