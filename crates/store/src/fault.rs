//! Fault injection: [`FaultyStore`] wraps any [`MailStore`] and makes
//! chosen operations fail, so tests can prove that every protocol answers a
//! failed write with a temporary error (never `250`/`OK`/`+OK`) and loses
//! nothing it already acknowledged.
//!
//! A fault is set per operation ([`Op`]) or for every write at once
//! ([`FaultyStore::fail_writes`], the disk-full case: reads keep working).
//! [`Fault::DiskFull`] produces exactly the error the SQLite backend
//! reports when the disk is full (`SQLITE_FULL`), so the whole mapping from
//! SQLite's error code to the protocol reply is exercised.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::api::*;
use crate::error::StoreError;
use crate::queue::{NewQueueItem, QueueCounters, QueueId, QueueItem, QueueStats, QueueUpdate};

/// One [`MailStore`] operation, named after its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    CreateDomain,
    Domain,
    ListDomains,
    DeleteDomain,
    SetCatchAll,
    CreateAccount,
    Account,
    AccountById,
    ListAccounts,
    DeleteAccount,
    Credentials,
    SetCredentials,
    SetQuota,
    LookupAddress,
    AddAlias,
    RemoveAlias,
    ListAliases,
    ListMailboxes,
    MailboxByName,
    Mailbox,
    Deliver,
    Entries,
    MessageBytes,
    Summary,
    SortFields,
    Expunge,
    Vanished,
    UpdateFlags,
    CreateMailbox,
    DeleteMailbox,
    RenameMailbox,
    SetSpecialUse,
    SetSubscribed,
    ListSubscriptions,
    MailboxKeywords,
    Append,
    Copy,
    MoveMessages,
    EntriesChangedSince,
    FirstUnseen,
    MessageRange,
    MessageHeader,
    StoreFlags,
    SearchText,
    Check,
    Enqueue,
    QueueDue,
    QueueList,
    QueueItem,
    QueueMessage,
    QueueUpdate,
    QueueDelete,
    QueueFinish,
    QueueStats,
    QueueCountersReset,
    AddDkimKey,
    DkimKeys,
    RemoveDkimKey,
}

impl Op {
    /// Whether the operation changes the store (fails when the disk is full).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Op::CreateDomain
                | Op::DeleteDomain
                | Op::SetCatchAll
                | Op::CreateAccount
                | Op::DeleteAccount
                | Op::SetCredentials
                | Op::SetQuota
                | Op::AddAlias
                | Op::RemoveAlias
                | Op::Deliver
                | Op::Expunge
                | Op::UpdateFlags
                | Op::CreateMailbox
                | Op::DeleteMailbox
                | Op::RenameMailbox
                | Op::SetSpecialUse
                | Op::SetSubscribed
                | Op::Append
                | Op::Copy
                | Op::MoveMessages
                | Op::StoreFlags
                | Op::Enqueue
                | Op::QueueUpdate
                | Op::QueueDelete
                | Op::QueueFinish
                | Op::QueueCountersReset
                | Op::AddDkimKey
                | Op::RemoveDkimKey
        )
    }
}

/// The kind of failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `SQLITE_FULL`, as the SQLite backend reports a full disk.
    DiskFull,
    /// `ENOSPC` from a file write (e.g. a spool or temp file).
    NoSpace,
    /// `SQLITE_IOERR`: the disk or file system failed.
    Io,
    /// `SQLITE_BUSY`: the database stayed locked past the busy timeout.
    Busy,
    /// `SQLITE_CORRUPT`: not transient; a bug or damage.
    Corrupt,
}

impl Fault {
    /// The error a backend would return for this fault.
    pub fn error(self) -> StoreError {
        let sqlite = |code: i32| {
            StoreError::Database(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some("injected fault".into()),
            ))
        };
        match self {
            Fault::DiskFull => sqlite(rusqlite::ffi::SQLITE_FULL),
            Fault::NoSpace => StoreError::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)),
            Fault::Io => sqlite(rusqlite::ffi::SQLITE_IOERR_WRITE),
            Fault::Busy => sqlite(rusqlite::ffi::SQLITE_BUSY),
            Fault::Corrupt => sqlite(rusqlite::ffi::SQLITE_CORRUPT),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    fault: Fault,
    /// How many more calls fail; `None`: until healed.
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
struct Faults {
    ops: HashMap<Op, Rule>,
    writes: Option<Fault>,
    /// Calls per operation (failed ones included).
    calls: HashMap<Op, u64>,
    /// Calls that failed per operation.
    failed: HashMap<Op, u64>,
}

/// A [`MailStore`] that delegates to `S` except where a fault is set.
/// A failing call never reaches `S`, so it changes nothing.
pub struct FaultyStore<S> {
    inner: Arc<S>,
    faults: Mutex<Faults>,
}

impl<S: MailStore> FaultyStore<S> {
    /// Wraps `inner` with no faults set.
    pub fn new(inner: Arc<S>) -> Arc<FaultyStore<S>> {
        Arc::new(FaultyStore {
            inner,
            faults: Mutex::new(Faults::default()),
        })
    }

    /// The wrapped store (to set up or inspect state without faults).
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call of `op` fails with `fault` until healed.
    pub fn fail(&self, op: Op, fault: Fault) {
        self.lock().ops.insert(
            op,
            Rule {
                fault,
                remaining: None,
            },
        );
    }

    /// The next `times` calls of `op` fail with `fault`.
    pub fn fail_times(&self, op: Op, fault: Fault, times: u32) {
        if times == 0 {
            return;
        }
        self.lock().ops.insert(
            op,
            Rule {
                fault,
                remaining: Some(times),
            },
        );
    }

    /// Every write ([`Op::is_write`]) fails with `fault` until healed.
    pub fn fail_writes(&self, fault: Fault) {
        self.lock().writes = Some(fault);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        let mut f = self.lock();
        f.ops.clear();
        f.writes = None;
    }

    /// How many times `op` was called (failed calls included).
    pub fn calls(&self, op: Op) -> u64 {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// How many calls of `op` failed by injection.
    pub fn failures(&self, op: Op) -> u64 {
        self.lock().failed.get(&op).copied().unwrap_or(0)
    }

    /// Counts the call; the injected error, if `op` is to fail.
    fn fault(&self, op: Op) -> Result<(), StoreError> {
        let mut f = self.lock();
        *f.calls.entry(op).or_insert(0) += 1;
        let mut fault = None;
        if let Some(rule) = f.ops.get_mut(&op) {
            fault = Some(rule.fault);
            if let Some(n) = &mut rule.remaining {
                *n -= 1;
                if *n == 0 {
                    f.ops.remove(&op);
                }
            }
        }
        if fault.is_none() && op.is_write() {
            fault = f.writes;
        }
        match fault {
            Some(fault) => {
                *f.failed.entry(op).or_insert(0) += 1;
                Err(fault.error())
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl<S: MailStore> MailStore for FaultyStore<S> {
    async fn create_domain(&self, name: &str) -> Result<Domain, StoreError> {
        self.fault(Op::CreateDomain)?;
        self.inner.create_domain(name).await
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        self.fault(Op::Domain)?;
        self.inner.domain(name).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.fault(Op::ListDomains)?;
        self.inner.list_domains().await
    }

    async fn delete_domain(&self, name: &str) -> Result<(), StoreError> {
        self.fault(Op::DeleteDomain)?;
        self.inner.delete_domain(name).await
    }

    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        self.fault(Op::SetCatchAll)?;
        self.inner.set_catch_all(domain, account).await
    }

    async fn create_account(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<Account, StoreError> {
        self.fault(Op::CreateAccount)?;
        self.inner.create_account(login, credentials).await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        self.fault(Op::Account)?;
        self.inner.account(login).await
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.fault(Op::AccountById)?;
        self.inner.account_by_id(id).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.fault(Op::ListAccounts)?;
        self.inner.list_accounts().await
    }

    async fn delete_account(&self, login: &str) -> Result<(), StoreError> {
        self.fault(Op::DeleteAccount)?;
        self.inner.delete_account(login).await
    }

    async fn credentials(
        &self,
        login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
        self.fault(Op::Credentials)?;
        self.inner.credentials(login).await
    }

    async fn set_credentials(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<(), StoreError> {
        self.fault(Op::SetCredentials)?;
        self.inner.set_credentials(login, credentials).await
    }

    async fn set_quota(&self, login: &str, quota: Option<u64>) -> Result<(), StoreError> {
        self.fault(Op::SetQuota)?;
        self.inner.set_quota(login, quota).await
    }

    async fn lookup_address(&self, address: &str) -> Result<Option<AddressTarget>, StoreError> {
        self.fault(Op::LookupAddress)?;
        self.inner.lookup_address(address).await
    }

    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError> {
        self.fault(Op::AddAlias)?;
        self.inner.add_alias(address, target).await
    }

    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<(), StoreError> {
        self.fault(Op::RemoveAlias)?;
        self.inner.remove_alias(address, target).await
    }

    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.fault(Op::ListAliases)?;
        self.inner.list_aliases().await
    }

    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>, StoreError> {
        self.fault(Op::ListMailboxes)?;
        self.inner.list_mailboxes(account).await
    }

    async fn mailbox_by_name(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.fault(Op::MailboxByName)?;
        self.inner.mailbox_by_name(account, name).await
    }

    async fn mailbox(
        &self,
        account: AccountId,
        id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.fault(Op::Mailbox)?;
        self.inner.mailbox(account, id).await
    }

    async fn deliver(
        &self,
        message: NewMessage,
        targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
        self.fault(Op::Deliver)?;
        self.inner.deliver(message, targets).await
    }

    async fn entries(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError> {
        self.fault(Op::Entries)?;
        self.inner.entries(account, mailbox).await
    }

    async fn message_bytes(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError> {
        self.fault(Op::MessageBytes)?;
        self.inner.message_bytes(account, message).await
    }

    async fn summary(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<pillarbox_message::summary::Summary, StoreError> {
        self.fault(Op::Summary)?;
        self.inner.summary(account, message).await
    }

    async fn sort_fields(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<(Uid, pillarbox_message::sort_fields::SortFields)>, StoreError> {
        self.fault(Op::SortFields)?;
        self.inner.sort_fields(account, mailbox, uids).await
    }

    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        self.fault(Op::Expunge)?;
        self.inner.expunge(account, mailbox, uids).await
    }

    async fn vanished(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Uid>, StoreError> {
        self.fault(Op::Vanished)?;
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
        self.fault(Op::UpdateFlags)?;
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
        self.fault(Op::CreateMailbox)?;
        self.inner.create_mailbox(account, name, special_use).await
    }

    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<(), StoreError> {
        self.fault(Op::DeleteMailbox)?;
        self.inner.delete_mailbox(account, name).await
    }

    async fn rename_mailbox(
        &self,
        account: AccountId,
        from: &str,
        to: &str,
    ) -> Result<Mailbox, StoreError> {
        self.fault(Op::RenameMailbox)?;
        self.inner.rename_mailbox(account, from, to).await
    }

    async fn set_special_use(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError> {
        self.fault(Op::SetSpecialUse)?;
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
        self.fault(Op::SetSubscribed)?;
        self.inner.set_subscribed(account, name, subscribed).await
    }

    async fn list_subscriptions(&self, account: AccountId) -> Result<Vec<String>, StoreError> {
        self.fault(Op::ListSubscriptions)?;
        self.inner.list_subscriptions(account).await
    }

    async fn mailbox_keywords(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<String>, StoreError> {
        self.fault(Op::MailboxKeywords)?;
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
        self.fault(Op::Append)?;
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
        self.fault(Op::Copy)?;
        self.inner.copy(account, from, uids, to).await
    }

    async fn move_messages(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError> {
        self.fault(Op::MoveMessages)?;
        self.inner.move_messages(account, from, uids, to).await
    }

    async fn entries_changed_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Entry>, StoreError> {
        self.fault(Op::EntriesChangedSince)?;
        self.inner
            .entries_changed_since(account, mailbox, since)
            .await
    }

    async fn first_unseen(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Option<FirstUnseen>, StoreError> {
        self.fault(Op::FirstUnseen)?;
        self.inner.first_unseen(account, mailbox).await
    }

    async fn message_range(
        &self,
        account: AccountId,
        message: MessageId,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        self.fault(Op::MessageRange)?;
        self.inner.message_range(account, message, start, len).await
    }

    async fn message_header(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Vec<u8>, StoreError> {
        self.fault(Op::MessageHeader)?;
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
        self.fault(Op::StoreFlags)?;
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
        self.fault(Op::SearchText)?;
        self.inner
            .search_text(account, mailbox, field, needle)
            .await
    }

    fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        self.inner.subscribe(account)
    }

    async fn check(&self) -> Result<CheckReport, StoreError> {
        self.fault(Op::Check)?;
        self.inner.check().await
    }

    async fn enqueue(&self, item: NewQueueItem) -> Result<QueueId, StoreError> {
        self.fault(Op::Enqueue)?;
        self.inner.enqueue(item).await
    }

    async fn queue_due(&self, now: UnixTime, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        self.fault(Op::QueueDue)?;
        self.inner.queue_due(now, limit).await
    }

    async fn queue_list(&self) -> Result<Vec<QueueItem>, StoreError> {
        self.fault(Op::QueueList)?;
        self.inner.queue_list().await
    }

    async fn queue_item(&self, id: QueueId) -> Result<Option<QueueItem>, StoreError> {
        self.fault(Op::QueueItem)?;
        self.inner.queue_item(id).await
    }

    async fn queue_message(&self, id: QueueId) -> Result<Arc<Vec<u8>>, StoreError> {
        self.fault(Op::QueueMessage)?;
        self.inner.queue_message(id).await
    }

    async fn queue_update(&self, id: QueueId, update: QueueUpdate) -> Result<(), StoreError> {
        self.fault(Op::QueueUpdate)?;
        self.inner.queue_update(id, update).await
    }

    async fn queue_delete(&self, id: QueueId) -> Result<(), StoreError> {
        self.fault(Op::QueueDelete)?;
        self.inner.queue_delete(id).await
    }

    async fn queue_finish(&self, id: QueueId, counted: QueueCounters) -> Result<(), StoreError> {
        self.fault(Op::QueueFinish)?;
        self.inner.queue_finish(id, counted).await
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.fault(Op::QueueStats)?;
        self.inner.queue_stats().await
    }

    async fn queue_counters_reset(&self, since: UnixTime) -> Result<(), StoreError> {
        self.fault(Op::QueueCountersReset)?;
        self.inner.queue_counters_reset(since).await
    }

    async fn add_dkim_key(&self, key: crate::dkim::DkimKey) -> Result<(), StoreError> {
        self.fault(Op::AddDkimKey)?;
        self.inner.add_dkim_key(key).await
    }

    async fn dkim_keys(&self, domain: &str) -> Result<Vec<crate::dkim::DkimKey>, StoreError> {
        self.fault(Op::DkimKeys)?;
        self.inner.dkim_keys(domain).await
    }

    async fn remove_dkim_key(&self, domain: &str, selector: &str) -> Result<(), StoreError> {
        self.fault(Op::RemoveDkimKey)?;
        self.inner.remove_dkim_key(domain, selector).await
    }
}
