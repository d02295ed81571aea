//! Test harness: a real SqliteStore in a temp dir, sessions fed bytes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use pillarbox_pop3_server::{Pop3Config, Pop3Context, Pop3Session};
use pillarbox_session::{ConnInfo, Control, ManualClock, Session, TlsInfo};
use pillarbox_store::fault::FaultyStore;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::*;

/// The argon2 hash of "secret", computed once (argon2 is slow in debug).
pub fn secret_credentials() -> StoredCredentials {
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

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub sqlite: Arc<SqliteStore>,
    pub faulty: Arc<FaultyStore<SqliteStore>>,
    pub ctx: Arc<Pop3Context>,
    pub clock: Arc<ManualClock>,
    next_session: u64,
}

pub fn test_config() -> Pop3Config {
    Pop3Config {
        hostname: "mail.example.org".into(),
        auth_failure_delay_ms: 0,
        ..Pop3Config::default()
    }
}

impl Harness {
    pub async fn new(config: Pop3Config) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path()).unwrap();
        let faulty = FaultyStore::new(sqlite.clone());
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        ));
        let store: Store = faulty.clone();
        let ctx = Pop3Context::new(store, config, clock.clone());
        Harness {
            _dir: dir,
            sqlite,
            faulty,
            ctx,
            clock,
            next_session: 1,
        }
    }

    pub async fn add_user(&self, login: &str) -> AccountId {
        let domain = login.rsplit_once('@').unwrap().1;
        if self.sqlite.domain(domain).await.unwrap().is_none() {
            self.sqlite.create_domain(domain).await.unwrap();
        }
        self.sqlite
            .create_account(login, secret_credentials())
            .await
            .unwrap()
            .id
    }

    pub async fn deliver(&self, account: AccountId, data: &[u8]) -> Delivered {
        let r = self
            .sqlite
            .deliver(
                NewMessage {
                    data: Arc::new(data.to_vec()),
                    internal_date: 1_767_225_600,
                },
                vec![DeliveryTarget {
                    account,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: vec![],
                }],
            )
            .await
            .unwrap();
        r.into_iter().next().unwrap().unwrap()
    }

    pub async fn inbox_count(&self, account: AccountId) -> usize {
        let inbox = self
            .sqlite
            .mailbox_by_name(account, "INBOX")
            .await
            .unwrap()
            .unwrap();
        self.sqlite.entries(account, inbox.id).await.unwrap().len()
    }

    pub fn conn_info(&mut self, tls: bool) -> ConnInfo {
        let id = self.next_session;
        self.next_session += 1;
        ConnInfo {
            session_id: id,
            peer: SocketAddr::from(([192, 0, 2, 1], 40000)),
            local: SocketAddr::from(([192, 0, 2, 2], 110)),
            tls: tls.then(tls_info),
            starttls_available: true,
        }
    }

    /// A client whose greeting has been read.
    pub async fn client(&mut self, tls: bool) -> Client {
        let conn = self.conn_info(tls);
        let mut session = Pop3Session::new(self.ctx.clone(), conn);
        let mut out = Vec::new();
        let control = session.greeting(&mut out).await;
        assert_eq!(control, Control::Continue);
        let greeting = String::from_utf8(out).unwrap();
        assert!(greeting.starts_with("+OK "), "{greeting}");
        Client {
            session,
            buf: BytesMut::new(),
            control: Control::Continue,
        }
    }

    /// A TLS client logged in as `login` with password "secret".
    pub async fn login(&mut self, login: &str) -> Client {
        let mut c = self.client(true).await;
        assert_eq!(c.cmd(&format!("USER {login}")).await, "+OK Send PASS\r\n");
        let r = c.cmd("PASS secret").await;
        assert!(r.starts_with("+OK "), "{r}");
        c
    }
}

pub fn tls_info() -> TlsInfo {
    TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
        ..Default::default()
    }
}

pub struct Client {
    pub session: Pop3Session,
    pub buf: BytesMut,
    pub control: Control,
}

impl Client {
    /// Sends raw bytes; returns everything the server wrote.
    pub async fn send(&mut self, bytes: &[u8]) -> String {
        assert_eq!(self.control, Control::Continue, "session already ended");
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        self.control = self.session.input(&mut self.buf, &mut out).await;
        String::from_utf8(out).unwrap()
    }

    /// Sends one command line.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await
    }

    pub async fn close(mut self) {
        self.session.closed().await;
    }
}
