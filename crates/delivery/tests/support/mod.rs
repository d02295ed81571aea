//! A small in-memory [`MailStore`] for the tests that need to inject
//! failures (a transient store error, counting store calls) the real
//! backend cannot be made to produce. Only the calls delivery uses are
//! implemented; everything else answers `Internal`. All other tests run
//! against the real `SqliteStore`.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pillarbox_store::*;
use tokio::sync::broadcast;

#[derive(Default)]
struct Data {
    domains: HashMap<String, Domain>,
    accounts: HashMap<String, Account>,
    aliases: HashMap<String, Vec<String>>,
    /// account → delivered messages
    inbox: HashMap<AccountId, Vec<Arc<Vec<u8>>>>,
}

#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    next: AtomicI64,
    /// When set, every call fails with a transient error.
    pub fail: AtomicBool,
    /// Number of `deliver` calls.
    pub deliver_calls: AtomicI64,
}

fn unsupported<T>() -> Result<T, StoreError> {
    Err(StoreError::Internal("not supported by MemoryStore".into()))
}

impl MemoryStore {
    pub fn new() -> Arc<MemoryStore> {
        Arc::new(MemoryStore::default())
    }

    fn maybe_fail(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(StoreError::Io(std::io::Error::other("injected failure")))
        } else {
            Ok(())
        }
    }

    pub fn messages(&self, account: AccountId) -> Vec<Arc<Vec<u8>>> {
        let d = self.data.lock().unwrap();
        d.inbox.get(&account).cloned().unwrap_or_default()
    }
}

#[async_trait]
impl MailStore for MemoryStore {
    async fn create_domain(&self, name: &str) -> Result<Domain, StoreError> {
        let id = DomainId(self.next.fetch_add(1, Ordering::SeqCst));
        let domain = Domain {
            id,
            name: name.to_string(),
            catch_all: None,
        };
        self.data
            .lock()
            .unwrap()
            .domains
            .insert(name.to_string(), domain.clone());
        Ok(domain)
    }
    async fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        self.maybe_fail()?;
        Ok(self.data.lock().unwrap().domains.get(name).cloned())
    }
    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        unsupported()
    }
    async fn delete_domain(&self, _name: &str) -> Result<(), StoreError> {
        unsupported()
    }
    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        let mut d = self.data.lock().unwrap();
        d.domains.get_mut(domain).unwrap().catch_all = account;
        Ok(())
    }
    async fn add_dkim_key(&self, _key: DkimKey) -> Result<(), StoreError> {
        unsupported()
    }
    async fn dkim_keys(&self, _domain: &str) -> Result<Vec<DkimKey>, StoreError> {
        unsupported()
    }
    async fn remove_dkim_key(&self, _domain: &str, _selector: &str) -> Result<(), StoreError> {
        unsupported()
    }
    async fn create_account(
        &self,
        login: &str,
        _credentials: StoredCredentials,
    ) -> Result<Account, StoreError> {
        let account = Account {
            id: AccountId(self.next.fetch_add(1, Ordering::SeqCst)),
            login: login.to_string(),
            quota: None,
            used: 0,
        };
        self.data
            .lock()
            .unwrap()
            .accounts
            .insert(login.to_string(), account.clone());
        Ok(account)
    }
    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.data.lock().unwrap().accounts.get(login).cloned())
    }
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let d = self.data.lock().unwrap();
        Ok(d.accounts.values().find(|a| a.id == id).cloned())
    }
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        unsupported()
    }
    async fn delete_account(&self, _login: &str) -> Result<(), StoreError> {
        unsupported()
    }
    async fn credentials(
        &self,
        _login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
        unsupported()
    }
    async fn set_credentials(
        &self,
        _login: &str,
        _credentials: StoredCredentials,
    ) -> Result<(), StoreError> {
        unsupported()
    }
    async fn set_quota(&self, login: &str, quota: Option<u64>) -> Result<(), StoreError> {
        let mut d = self.data.lock().unwrap();
        d.accounts.get_mut(login).unwrap().quota = quota;
        Ok(())
    }
    async fn lookup_address(&self, address: &str) -> Result<Option<AddressTarget>, StoreError> {
        self.maybe_fail()?;
        let d = self.data.lock().unwrap();
        if let Some(a) = d.accounts.get(address) {
            return Ok(Some(AddressTarget::Account(a.id)));
        }
        Ok(d.aliases.get(address).cloned().map(AddressTarget::Alias))
    }
    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError> {
        let mut d = self.data.lock().unwrap();
        d.aliases
            .entry(address.to_string())
            .or_default()
            .push(target.to_string());
        Ok(())
    }
    async fn remove_alias(&self, _address: &str, _target: Option<&str>) -> Result<(), StoreError> {
        unsupported()
    }
    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        unsupported()
    }
    async fn list_mailboxes(&self, _account: AccountId) -> Result<Vec<Mailbox>, StoreError> {
        unsupported()
    }
    async fn mailbox_by_name(
        &self,
        _account: AccountId,
        _name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        unsupported()
    }
    async fn mailbox(
        &self,
        _account: AccountId,
        _id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError> {
        unsupported()
    }
    async fn deliver(
        &self,
        message: NewMessage,
        targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
        self.deliver_calls.fetch_add(1, Ordering::SeqCst);
        self.maybe_fail()?;
        let mut d = self.data.lock().unwrap();
        let mut out = Vec::new();
        for t in targets {
            let account = d.accounts.values_mut().find(|a| a.id == t.account);
            let Some(account) = account else {
                out.push(Err(StoreError::NotFound("account".into())));
                continue;
            };
            let size = message.data.len() as u64;
            if account.quota.is_some_and(|q| account.used + size > q) {
                out.push(Err(StoreError::QuotaExceeded));
                continue;
            }
            account.used += size;
            let inbox = d.inbox.entry(t.account).or_default();
            inbox.push(message.data.clone());
            out.push(Ok(Delivered {
                mailbox: MailboxId(1),
                uid: Uid(inbox.len() as u32),
                message: MessageId(1),
                modseq: ModSeq(1),
            }));
        }
        Ok(out)
    }
    async fn entries(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError> {
        unsupported()
    }
    async fn message_bytes(
        &self,
        _account: AccountId,
        _message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError> {
        unsupported()
    }
    async fn summary(
        &self,
        _account: AccountId,
        _message: MessageId,
    ) -> Result<pillarbox_message::summary::Summary, StoreError> {
        unsupported()
    }
    async fn sort_fields(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _uids: &[Uid],
    ) -> Result<Vec<(Uid, pillarbox_message::sort_fields::SortFields)>, StoreError> {
        unsupported()
    }
    async fn vanished(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _since: ModSeq,
    ) -> Result<Vec<Uid>, StoreError> {
        unsupported()
    }
    async fn expunge(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        unsupported()
    }
    async fn update_flags(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _uids: &[Uid],
        _add: Flags,
        _remove: Flags,
    ) -> Result<Vec<Entry>, StoreError> {
        unsupported()
    }
    async fn create_mailbox(
        &self,
        _account: AccountId,
        _name: &str,
        _special_use: Option<SpecialUse>,
    ) -> Result<Mailbox, StoreError> {
        unsupported()
    }
    async fn delete_mailbox(&self, _account: AccountId, _name: &str) -> Result<(), StoreError> {
        unsupported()
    }
    async fn rename_mailbox(
        &self,
        _account: AccountId,
        _from: &str,
        _to: &str,
    ) -> Result<Mailbox, StoreError> {
        unsupported()
    }
    async fn set_special_use(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError> {
        unsupported()
    }
    async fn set_subscribed(
        &self,
        _account: AccountId,
        _name: &str,
        _subscribed: bool,
    ) -> Result<(), StoreError> {
        unsupported()
    }
    async fn list_subscriptions(&self, _account: AccountId) -> Result<Vec<String>, StoreError> {
        unsupported()
    }
    async fn mailbox_keywords(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
    ) -> Result<Vec<String>, StoreError> {
        unsupported()
    }
    async fn append(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _message: NewMessage,
        _flags: Flags,
        _keywords: Vec<String>,
    ) -> Result<Appended, StoreError> {
        unsupported()
    }
    async fn copy(
        &self,
        _account: AccountId,
        _from: MailboxId,
        _uids: &[Uid],
        _to: MailboxId,
    ) -> Result<Copied, StoreError> {
        unsupported()
    }
    async fn move_messages(
        &self,
        _account: AccountId,
        _from: MailboxId,
        _uids: &[Uid],
        _to: MailboxId,
    ) -> Result<Copied, StoreError> {
        unsupported()
    }
    async fn entries_changed_since(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _since: ModSeq,
    ) -> Result<Vec<Entry>, StoreError> {
        unsupported()
    }
    async fn first_unseen(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
    ) -> Result<Option<FirstUnseen>, StoreError> {
        unsupported()
    }
    async fn message_range(
        &self,
        _account: AccountId,
        _message: MessageId,
        _start: u64,
        _len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        unsupported()
    }
    async fn message_header(
        &self,
        _account: AccountId,
        _message: MessageId,
    ) -> Result<Vec<u8>, StoreError> {
        unsupported()
    }
    async fn store_flags(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _uids: &[Uid],
        _change: FlagChange,
        _unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored, StoreError> {
        unsupported()
    }
    async fn search_text(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _field: SearchField,
        _needle: &str,
    ) -> Result<Vec<Uid>, StoreError> {
        unsupported()
    }
    fn subscribe(&self, _account: AccountId) -> broadcast::Receiver<Change> {
        broadcast::channel(1).1
    }
    async fn check(&self) -> Result<CheckReport, StoreError> {
        unsupported()
    }

    async fn enqueue(&self, _item: NewQueueItem) -> Result<QueueId, StoreError> {
        unsupported()
    }

    async fn queue_due(&self, _now: UnixTime, _limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        unsupported()
    }

    async fn queue_list(&self) -> Result<Vec<QueueItem>, StoreError> {
        unsupported()
    }

    async fn queue_item(&self, _id: QueueId) -> Result<Option<QueueItem>, StoreError> {
        unsupported()
    }

    async fn queue_message(&self, _id: QueueId) -> Result<Arc<Vec<u8>>, StoreError> {
        unsupported()
    }

    async fn queue_update(&self, _id: QueueId, _update: QueueUpdate) -> Result<(), StoreError> {
        unsupported()
    }

    async fn queue_delete(&self, _id: QueueId) -> Result<(), StoreError> {
        unsupported()
    }

    async fn queue_finish(&self, _id: QueueId, _counted: QueueCounters) -> Result<(), StoreError> {
        unsupported()
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        unsupported()
    }

    async fn queue_counters_reset(&self, _since: UnixTime) -> Result<(), StoreError> {
        unsupported()
    }
}
