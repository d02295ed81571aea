//! SQLite backend (being written).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use pillarbox_message::summary::Summary;
use tokio::sync::broadcast;

use crate::api::*;
use crate::error::StoreError;

/// The embedded SQLite store.
pub struct SqliteStore {
    _private: (),
}

fn unimpl<T>() -> Result<T, StoreError> {
    Err(StoreError::Internal("unimplemented".into()))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Arc<SqliteStore>, StoreError> {
        std::fs::create_dir_all(dir)?;
        Ok(Arc::new(SqliteStore { _private: () }))
    }
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn create_domain(&self, _name: &str) -> Result<Domain, StoreError> {
        unimpl()
    }
    async fn domain(&self, _name: &str) -> Result<Option<Domain>, StoreError> {
        unimpl()
    }
    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        unimpl()
    }
    async fn delete_domain(&self, _name: &str) -> Result<(), StoreError> {
        unimpl()
    }
    async fn set_catch_all(
        &self,
        _domain: &str,
        _account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        unimpl()
    }
    async fn create_account(
        &self,
        _login: &str,
        _credentials: StoredCredentials,
    ) -> Result<Account, StoreError> {
        unimpl()
    }
    async fn account(&self, _login: &str) -> Result<Option<Account>, StoreError> {
        unimpl()
    }
    async fn account_by_id(&self, _id: AccountId) -> Result<Option<Account>, StoreError> {
        unimpl()
    }
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        unimpl()
    }
    async fn delete_account(&self, _login: &str) -> Result<(), StoreError> {
        unimpl()
    }
    async fn credentials(
        &self,
        _login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
        unimpl()
    }
    async fn set_credentials(
        &self,
        _login: &str,
        _credentials: StoredCredentials,
    ) -> Result<(), StoreError> {
        unimpl()
    }
    async fn set_quota(&self, _login: &str, _quota: Option<u64>) -> Result<(), StoreError> {
        unimpl()
    }
    async fn lookup_address(&self, _address: &str) -> Result<Option<AddressTarget>, StoreError> {
        unimpl()
    }
    async fn add_alias(&self, _address: &str, _target: &str) -> Result<(), StoreError> {
        unimpl()
    }
    async fn remove_alias(&self, _address: &str, _target: Option<&str>) -> Result<(), StoreError> {
        unimpl()
    }
    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        unimpl()
    }
    async fn list_mailboxes(&self, _account: AccountId) -> Result<Vec<Mailbox>, StoreError> {
        unimpl()
    }
    async fn mailbox_by_name(
        &self,
        _account: AccountId,
        _name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        unimpl()
    }
    async fn mailbox(
        &self,
        _account: AccountId,
        _id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError> {
        unimpl()
    }
    async fn deliver(
        &self,
        _message: NewMessage,
        _targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
        unimpl()
    }
    async fn entries(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError> {
        unimpl()
    }
    async fn message_bytes(
        &self,
        _account: AccountId,
        _message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError> {
        unimpl()
    }
    async fn summary(
        &self,
        _account: AccountId,
        _message: MessageId,
    ) -> Result<Summary, StoreError> {
        unimpl()
    }
    async fn expunge(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        unimpl()
    }
    async fn update_flags(
        &self,
        _account: AccountId,
        _mailbox: MailboxId,
        _uids: &[Uid],
        _add: Flags,
        _remove: Flags,
    ) -> Result<Vec<Entry>, StoreError> {
        unimpl()
    }
    fn subscribe(&self, _account: AccountId) -> broadcast::Receiver<Change> {
        broadcast::channel(1).1
    }
    async fn check(&self) -> Result<CheckReport, StoreError> {
        unimpl()
    }
}
