//! Test harness: a real SqliteStore in a temp dir, sessions fed bytes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::BytesMut;
use pillarbox_pop3_server::{Pop3Config, Pop3Context, Pop3Session};
use pillarbox_session::{ConnInfo, Control, ManualClock, Session, TlsInfo};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::*;
use tokio::sync::broadcast;

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
    pub faulty: Arc<FaultyStore>,
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
        let faulty = Arc::new(FaultyStore {
            inner: sqlite.clone(),
            fail_expunge: AtomicBool::new(false),
            fail_reads: AtomicBool::new(false),
        });
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

/// Delegates to SQLite, with switchable faults.
pub struct FaultyStore {
    pub inner: Arc<SqliteStore>,
    pub fail_expunge: AtomicBool,
    pub fail_reads: AtomicBool,
}

fn transient() -> StoreError {
    StoreError::Io(std::io::Error::other("injected fault"))
}

#[async_trait]
impl MailStore for FaultyStore {
    async fn create_domain(&self, name: &str) -> Result<Domain, StoreError> {
        self.inner.create_domain(name).await
    }
    async fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        self.inner.domain(name).await
    }
    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.inner.list_domains().await
    }
    async fn delete_domain(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete_domain(name).await
    }
    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        self.inner.set_catch_all(domain, account).await
    }
    async fn create_account(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<Account, StoreError> {
        self.inner.create_account(login, credentials).await
    }
    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        self.inner.account(login).await
    }
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.inner.account_by_id(id).await
    }
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.inner.list_accounts().await
    }
    async fn delete_account(&self, login: &str) -> Result<(), StoreError> {
        self.inner.delete_account(login).await
    }
    async fn credentials(
        &self,
        login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(transient());
        }
        self.inner.credentials(login).await
    }
    async fn set_credentials(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<(), StoreError> {
        self.inner.set_credentials(login, credentials).await
    }
    async fn set_quota(&self, login: &str, quota: Option<u64>) -> Result<(), StoreError> {
        self.inner.set_quota(login, quota).await
    }
    async fn lookup_address(&self, address: &str) -> Result<Option<AddressTarget>, StoreError> {
        self.inner.lookup_address(address).await
    }
    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError> {
        self.inner.add_alias(address, target).await
    }
    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<(), StoreError> {
        self.inner.remove_alias(address, target).await
    }
    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.inner.list_aliases().await
    }
    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>, StoreError> {
        self.inner.list_mailboxes(account).await
    }
    async fn mailbox_by_name(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.inner.mailbox_by_name(account, name).await
    }
    async fn mailbox(
        &self,
        account: AccountId,
        id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.inner.mailbox(account, id).await
    }
    async fn deliver(
        &self,
        message: NewMessage,
        targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
        self.inner.deliver(message, targets).await
    }
    async fn entries(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError> {
        self.inner.entries(account, mailbox).await
    }
    async fn message_bytes(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(transient());
        }
        self.inner.message_bytes(account, message).await
    }
    async fn summary(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<pillarbox_message::summary::Summary, StoreError> {
        self.inner.summary(account, message).await
    }
    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        if self.fail_expunge.load(Ordering::SeqCst) {
            return Err(transient());
        }
        self.inner.expunge(account, mailbox, uids).await
    }
    async fn vanished(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Uid>, StoreError> {
        self.inner.vanished(account, mailbox, since).await
    }
    async fn update_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        add: Flags,
        remove: Flags,
    ) -> Result<Vec<Entry>, StoreError> {
        self.inner
            .update_flags(account, mailbox, uids, add, remove)
            .await
    }
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox, StoreError> {
        self.inner.create_mailbox(account, name, special_use).await
    }
    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<(), StoreError> {
        self.inner.delete_mailbox(account, name).await
    }
    async fn rename_mailbox(
        &self,
        account: AccountId,
        from: &str,
        to: &str,
    ) -> Result<Mailbox, StoreError> {
        self.inner.rename_mailbox(account, from, to).await
    }
    async fn set_special_use(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError> {
        self.inner
            .set_special_use(account, mailbox, special_use)
            .await
    }
    async fn set_subscribed(
        &self,
        account: AccountId,
        name: &str,
        subscribed: bool,
    ) -> Result<(), StoreError> {
        self.inner.set_subscribed(account, name, subscribed).await
    }
    async fn list_subscriptions(&self, account: AccountId) -> Result<Vec<String>, StoreError> {
        self.inner.list_subscriptions(account).await
    }
    async fn mailbox_keywords(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.mailbox_keywords(account, mailbox).await
    }
    async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
        flags: Flags,
        keywords: Vec<String>,
    ) -> Result<Appended, StoreError> {
        self.inner
            .append(account, mailbox, message, flags, keywords)
            .await
    }
    async fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError> {
        self.inner.copy(account, from, uids, to).await
    }
    async fn move_messages(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError> {
        self.inner.move_messages(account, from, uids, to).await
    }
    async fn entries_changed_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Entry>, StoreError> {
        self.inner
            .entries_changed_since(account, mailbox, since)
            .await
    }
    async fn first_unseen(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Option<FirstUnseen>, StoreError> {
        self.inner.first_unseen(account, mailbox).await
    }
    async fn message_range(
        &self,
        account: AccountId,
        message: MessageId,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(transient());
        }
        self.inner.message_range(account, message, start, len).await
    }
    async fn message_header(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Vec<u8>, StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(transient());
        }
        self.inner.message_header(account, message).await
    }
    async fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        change: FlagChange,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored, StoreError> {
        self.inner
            .store_flags(account, mailbox, uids, change, unchanged_since)
            .await
    }
    async fn search_text(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        field: SearchField,
        needle: &str,
    ) -> Result<Vec<Uid>, StoreError> {
        self.inner
            .search_text(account, mailbox, field, needle)
            .await
    }
    fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        self.inner.subscribe(account)
    }
    async fn check(&self) -> Result<CheckReport, StoreError> {
        self.inner.check().await
    }

    async fn enqueue(&self, item: NewQueueItem) -> Result<QueueId, StoreError> {
        self.inner.enqueue(item).await
    }

    async fn queue_due(&self, now: UnixTime, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        self.inner.queue_due(now, limit).await
    }

    async fn queue_list(&self) -> Result<Vec<QueueItem>, StoreError> {
        self.inner.queue_list().await
    }

    async fn queue_item(&self, id: QueueId) -> Result<Option<QueueItem>, StoreError> {
        self.inner.queue_item(id).await
    }

    async fn queue_message(&self, id: QueueId) -> Result<Arc<Vec<u8>>, StoreError> {
        self.inner.queue_message(id).await
    }

    async fn queue_update(&self, id: QueueId, update: QueueUpdate) -> Result<(), StoreError> {
        self.inner.queue_update(id, update).await
    }

    async fn queue_delete(&self, id: QueueId) -> Result<(), StoreError> {
        self.inner.queue_delete(id).await
    }
}
