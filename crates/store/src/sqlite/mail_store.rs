//! [`MailStore`] for [`SqliteStore`]: each call becomes a read on the pool
//! or a job for the writer thread (CPU work first on the blocking pool).

use std::sync::Arc;

use async_trait::async_trait;
use pillarbox_message::summary::Summary;
use tokio::sync::broadcast;

use crate::api::*;
use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::queue::{NewQueueItem, QueueCounters, QueueId, QueueItem, QueueStats, QueueUpdate};

use super::{
    SqliteStore, admin, check, dkim, flags, mailboxes, ops, prepare, prepare_blocking, read,
};

#[async_trait]
impl MailStore for SqliteStore {
    async fn create_domain(&self, name: &str) -> Result<Domain, StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| admin::create_domain(c, &name)).await
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| read::domain(c, &name)).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.read(read::list_domains).await
    }

    async fn delete_domain(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| admin::delete_domain(c, &name)).await
    }

    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        let domain = domain.to_owned();
        self.write(move |c, _| admin::set_catch_all(c, &domain, account))
            .await
    }

    async fn add_dkim_key(&self, key: DkimKey) -> Result<(), StoreError> {
        self.write(move |c, _| dkim::add(c, &key)).await
    }

    async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>, StoreError> {
        let domain = domain.to_owned();
        self.read(move |c| dkim::list(c, &domain)).await
    }

    async fn remove_dkim_key(&self, domain: &str, selector: &str) -> Result<(), StoreError> {
        let (domain, selector) = (domain.to_owned(), selector.to_owned());
        self.write(move |c, _| dkim::remove(c, &domain, &selector))
            .await
    }

    async fn create_account(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<Account, StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| admin::create_account(c, &login, &credentials))
            .await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        let login = login.to_owned();
        self.read(move |c| read::account(c, &login)).await
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.read(move |c| read::account_by_id(c, id)).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(read::list_accounts).await
    }

    async fn delete_account(&self, login: &str) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| admin::delete_account(c, &login))
            .await
    }

    async fn credentials(
        &self,
        login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
        let login = login.to_owned();
        self.read(move |c| read::credentials(c, &login)).await
    }

    async fn set_credentials(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| admin::set_credentials(c, &login, &credentials))
            .await
    }

    async fn set_quota(&self, login: &str, quota: Option<u64>) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| admin::set_quota(c, &login, quota))
            .await
    }

    async fn lookup_address(&self, address: &str) -> Result<Option<AddressTarget>, StoreError> {
        let address = address.to_owned();
        self.read(move |c| read::lookup_address(c, &address)).await
    }

    async fn lookup_recipient(
        &self,
        domain: &str,
        address: &str,
    ) -> Result<(Option<Domain>, Option<AddressTarget>), StoreError> {
        let (domain, address) = (domain.to_owned(), address.to_owned());
        // One read (one hop to the blocking pool, one snapshot) for both.
        self.read(move |c| {
            let Some(found) = read::domain(c, &domain)? else {
                return Ok((None, None));
            };
            Ok((Some(found), read::lookup_address(c, &address)?))
        })
        .await
    }

    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError> {
        let (address, target) = (address.to_owned(), target.to_owned());
        self.write(move |c, _| admin::add_alias(c, &address, &target))
            .await
    }

    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<(), StoreError> {
        let address = address.to_owned();
        let target = target.map(str::to_owned);
        self.write(move |c, _| admin::remove_alias(c, &address, target.as_deref()))
            .await
    }

    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.read(read::list_aliases).await
    }

    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>, StoreError> {
        self.read(move |c| read::list_mailboxes(c, account)).await
    }

    async fn mailbox_by_name(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| read::mailbox_by_name(c, account, &name))
            .await
    }

    async fn mailbox(
        &self,
        account: AccountId,
        id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.read(move |c| read::mailbox(c, account, id)).await
    }

    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox, StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| mailboxes::create_mailbox(c, account, &name, special_use))
            .await
    }

    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |c, changes| mailboxes::delete_mailbox(c, account, &name, changes))
            .await
    }

    async fn rename_mailbox(
        &self,
        account: AccountId,
        from: &str,
        to: &str,
    ) -> Result<Mailbox, StoreError> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.write(move |c, changes| mailboxes::rename_mailbox(c, account, &from, &to, changes))
            .await
    }

    async fn set_special_use(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError> {
        self.write(move |c, _| mailboxes::set_special_use(c, account, mailbox, special_use))
            .await
    }

    async fn set_subscribed(
        &self,
        account: AccountId,
        name: &str,
        subscribed: bool,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| mailboxes::set_subscribed(c, account, &name, subscribed))
            .await
    }

    async fn list_subscriptions(&self, account: AccountId) -> Result<Vec<String>, StoreError> {
        self.read(move |c| read::list_subscriptions(c, account))
            .await
    }

    async fn mailbox_keywords(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<String>, StoreError> {
        self.read(move |c| read::mailbox_keywords(c, account, mailbox))
            .await
    }

    async fn deliver(
        &self,
        message: NewMessage,
        targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        if self.writer_idle() {
            return self
                .write(move |c, changes| {
                    let prepared = prepare(&message)?;
                    ops::deliver(c, &prepared, &targets, changes)
                })
                .await;
        }
        let prepared = prepare_blocking(message).await?;
        self.write(move |c, changes| ops::deliver(c, &prepared, &targets, changes))
            .await
    }

    async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
        flags: Flags,
        keywords: Vec<String>,
    ) -> Result<Appended, StoreError> {
        if self.writer_idle() {
            return self
                .write(move |c, changes| {
                    let prepared = prepare(&message)?;
                    ops::append(c, account, mailbox, &prepared, flags, &keywords, changes)
                })
                .await;
        }
        let prepared = prepare_blocking(message).await?;
        self.write(move |c, changes| {
            ops::append(c, account, mailbox, &prepared, flags, &keywords, changes)
        })
        .await
    }

    async fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| {
            ops::transfer(c, account, from, &uids, to, ops::Transfer::Copy, changes)
        })
        .await
    }

    async fn move_messages(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| {
            ops::transfer(c, account, from, &uids, to, ops::Transfer::Move, changes)
        })
        .await
    }

    async fn entries(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError> {
        self.read(move |c| read::entries(c, account, mailbox)).await
    }

    async fn entries_changed_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Entry>, StoreError> {
        self.read(move |c| read::entries_changed_since(c, account, mailbox, since))
            .await
    }

    async fn first_unseen(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Option<FirstUnseen>, StoreError> {
        self.read(move |c| read::first_unseen(c, account, mailbox))
            .await
    }

    async fn message_range(
        &self,
        account: AccountId,
        message: MessageId,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        self.read(move |c| read::message_range(c, account, message, start, len))
            .await
    }

    async fn message_header(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Vec<u8>, StoreError> {
        self.read(move |c| read::message_header(c, account, message))
            .await
    }

    async fn message_bytes(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError> {
        self.read(move |c| read::message_bytes(c, account, message))
            .await
    }

    async fn summary(&self, account: AccountId, message: MessageId) -> Result<Summary, StoreError> {
        self.read(move |c| read::summary(c, account, message)).await
    }

    async fn sort_fields(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<(Uid, pillarbox_message::sort_fields::SortFields)>, StoreError> {
        let uids = uids.to_vec();
        self.read(move |c| super::sort::sort_fields(c, account, mailbox, &uids))
            .await
    }

    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| ops::expunge(c, account, mailbox, &uids, changes))
            .await
    }

    async fn vanished(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Uid>, StoreError> {
        self.read(move |c| read::vanished(c, account, mailbox, since))
            .await
    }

    async fn update_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        add: Flags,
        remove: Flags,
    ) -> Result<Vec<Entry>, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| {
            flags::update_flags(c, account, mailbox, &uids, add, remove, changes)
        })
        .await
    }

    async fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        change: FlagChange,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| {
            flags::store_flags(
                c,
                account,
                mailbox,
                &uids,
                &change,
                unchanged_since,
                changes,
            )
        })
        .await
    }

    async fn search_text(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        field: SearchField,
        needle: &str,
    ) -> Result<Vec<Uid>, StoreError> {
        let needle = needle.to_owned();
        self.read(move |c| read::search_text(c, account, mailbox, &field, &needle))
            .await
    }

    fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        self.feeds.subscribe(account)
    }

    async fn check(&self) -> Result<CheckReport, StoreError> {
        self.read_fresh(check::check).await
    }

    async fn enqueue(&self, item: NewQueueItem) -> Result<QueueId, StoreError> {
        let data = item.data.clone();
        let compressed = tokio::task::spawn_blocking(move || super::blob::compress(&data))
            .await
            .map_err(|e| StoreError::Internal(format!("queue compression failed: {e}")))??;
        self.write(move |c, _| super::queue::enqueue(c, &item, &compressed))
            .await
    }

    async fn queue_due(&self, now: UnixTime, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        self.read(move |c| super::queue::due(c, now, limit)).await
    }

    async fn queue_list(&self) -> Result<Vec<QueueItem>, StoreError> {
        self.read(super::queue::list).await
    }

    async fn queue_item(&self, id: QueueId) -> Result<Option<QueueItem>, StoreError> {
        self.read(move |c| super::queue::item(c, id)).await
    }

    async fn queue_message(&self, id: QueueId) -> Result<Arc<Vec<u8>>, StoreError> {
        self.read(move |c| super::queue::message(c, id)).await
    }

    async fn queue_update(&self, id: QueueId, update: QueueUpdate) -> Result<(), StoreError> {
        self.write(move |c, _| super::queue::update(c, id, &update))
            .await
    }

    async fn queue_delete(&self, id: QueueId) -> Result<(), StoreError> {
        self.write(move |c, _| super::queue::delete(c, id)).await
    }

    async fn queue_finish(&self, id: QueueId, counted: QueueCounters) -> Result<(), StoreError> {
        self.write(move |c, _| {
            super::queue::count(c, &counted)?;
            super::queue::delete(c, id)
        })
        .await
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.read(super::queue::stats).await
    }

    async fn queue_counters_reset(&self, since: UnixTime) -> Result<(), StoreError> {
        self.write(move |c, _| super::queue::reset_counters(c, since))
            .await
    }
}
