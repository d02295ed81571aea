//! The backend-neutral store API: ids, records and the [`MailStore`] trait.
//!
//! Every backend (SQLite now, PostgreSQL later) implements [`MailStore`] and
//! must pass [`crate::conformance`].

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::StoreError;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $inner:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub $inner);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(/// An account's stable id.
    AccountId, i64);
id_type!(/// A domain's stable id.
    DomainId, i64);
id_type!(/// A mailbox's stable id (never reused; also the IMAP OBJECTID MAILBOXID).
    MailboxId, i64);
id_type!(/// A stored message's stable id (shared by every mailbox entry that
    /// refers to the same copy; the IMAP EMAILID).
    MessageId, i64);
id_type!(/// RFC 9051 §2.3.1.1: unique identifier of a message in a mailbox.
    /// UIDs only grow; a UID is never reused within one UIDVALIDITY.
    Uid, u32);
id_type!(/// RFC 9051 §2.3.1.1: UIDVALIDITY of a mailbox.
    UidValidity, u32);
id_type!(/// RFC 7162: per-mailbox modification sequence; every change to a
    /// mailbox (append, flag change, expunge) gets a strictly larger value.
    ModSeq, u64);

/// Seconds since the Unix epoch, UTC.
pub type UnixTime = i64;

/// RFC 6154 special-use attributes of the mailboxes every account has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

impl SpecialUse {
    /// The IMAP attribute, e.g. `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::All => "\\All",
            SpecialUse::Flagged => "\\Flagged",
        }
    }

    /// Parses an IMAP attribute (case-insensitive).
    pub fn from_attribute(s: &str) -> Option<SpecialUse> {
        [
            SpecialUse::Sent,
            SpecialUse::Drafts,
            SpecialUse::Trash,
            SpecialUse::Junk,
            SpecialUse::Archive,
            SpecialUse::All,
            SpecialUse::Flagged,
        ]
        .into_iter()
        .find(|u| u.attribute().eq_ignore_ascii_case(s))
    }
}

/// The mailboxes created with every account, in this order.
pub const DEFAULT_MAILBOXES: &[(&str, Option<SpecialUse>)] = &[
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Archive", Some(SpecialUse::Archive)),
];

/// System flags (RFC 9051 §2.3.2), as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Flags(pub u8);

impl Flags {
    pub const SEEN: Flags = Flags(1);
    pub const ANSWERED: Flags = Flags(2);
    pub const FLAGGED: Flags = Flags(4);
    pub const DELETED: Flags = Flags(8);
    pub const DRAFT: Flags = Flags(16);
    pub const EMPTY: Flags = Flags(0);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    pub fn minus(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
    /// The IMAP names of the set flags, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (f, n) in [
            (Flags::SEEN, "\\Seen"),
            (Flags::ANSWERED, "\\Answered"),
            (Flags::FLAGGED, "\\Flagged"),
            (Flags::DELETED, "\\Deleted"),
            (Flags::DRAFT, "\\Draft"),
        ] {
            if self.contains(f) {
                v.push(n);
            }
        }
        v
    }
}

/// A domain we accept mail for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: DomainId,
    /// Lowercase; IDNA A-label.
    pub name: String,
    /// Where mail for unknown local parts goes, if anywhere.
    pub catch_all: Option<AccountId>,
}

/// A user account. Its login is its primary address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// Lowercase `local@domain`.
    pub login: String,
    /// Bytes; `None` is unlimited.
    pub quota: Option<u64>,
    /// Bytes used by the messages in the account's mailboxes.
    pub used: u64,
}

/// What an account's password is checked against. Opaque to the store;
/// produced and verified by `pillarbox-sasl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// argon2id PHC string, for PLAIN/LOGIN/USER+PASS.
    pub password_hash: String,
    /// SCRAM-SHA-256 record (`salt$iterations$stored_key$server_key`, base64
    /// parts), if one was derived when the password was set.
    pub scram_sha256: Option<String>,
}

/// What an address (exact, lowercase `local@domain`) maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressTarget {
    /// The address is an account's login.
    Account(AccountId),
    /// The address is an alias expanding to these addresses (which may be
    /// local or remote; resolution of the targets is the caller's job).
    Alias(Vec<String>),
}

/// A mailbox and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub id: MailboxId,
    pub account: AccountId,
    /// UTF-8, `/`-separated hierarchy; `INBOX` is always spelled so.
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub subscribed: bool,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// Number of entries.
    pub exists: u32,
    /// Entries without `\Seen`.
    pub unseen: u32,
    /// Sum of the entries' message sizes.
    pub size: u64,
}

/// One message in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: Uid,
    pub message: MessageId,
    pub flags: Flags,
    /// Keywords in the case they were first set, e.g. `$Forwarded`.
    pub keywords: Vec<String>,
    pub modseq: ModSeq,
    /// RFC 822 size in octets.
    pub size: u64,
    /// INTERNALDATE.
    pub internal_date: UnixTime,
    /// RFC 8514 SAVEDATE: when the entry was added to this mailbox.
    pub saved_date: UnixTime,
}

/// Where a delivery puts a message for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    pub account: AccountId,
    /// `None` means INBOX.
    pub mailbox: Option<MailboxId>,
    pub flags: Flags,
    pub keywords: Vec<String>,
}

/// A message body to store, with its receipt time.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The complete RFC 5322 message, exactly as it will be served.
    pub data: Arc<Vec<u8>>,
    /// INTERNALDATE to record.
    pub internal_date: UnixTime,
}

/// The outcome of storing a message for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub mailbox: MailboxId,
    pub uid: Uid,
    pub message: MessageId,
    pub modseq: ModSeq,
}

/// A committed change, published on the change feed after commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub account: AccountId,
    pub mailbox: MailboxId,
    /// The mailbox's HIGHESTMODSEQ after the change.
    pub modseq: ModSeq,
}

/// A store consistency report from [`MailStore::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub accounts: u64,
    pub mailboxes: u64,
    pub entries: u64,
    pub messages: u64,
    pub blobs: u64,
    /// Each inconsistency found, human-readable. Empty means consistent.
    pub problems: Vec<String>,
}

/// The mail store. All methods are safe to call concurrently; every write
/// returns only once it is durable (fsync'd).
#[async_trait]
pub trait MailStore: Send + Sync + 'static {
    // --- domains ---
    /// Adds a domain (name lowercased by the caller). `Conflict` if present.
    async fn create_domain(&self, name: &str) -> Result<Domain, StoreError>;
    async fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError>;
    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError>;
    /// Removes a domain. `Conflict` while accounts or aliases still use it.
    async fn delete_domain(&self, name: &str) -> Result<(), StoreError>;
    /// Sets or clears the catch-all account of a domain.
    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError>;

    // --- accounts ---
    /// Creates an account with the default mailboxes. Its domain must exist
    /// (`NotFound`); the login must not be an account or alias (`Conflict`).
    async fn create_account(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<Account, StoreError>;
    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError>;
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Deletes an account, all its mailboxes and messages.
    async fn delete_account(&self, login: &str) -> Result<(), StoreError>;
    async fn credentials(
        &self,
        login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError>;
    async fn set_credentials(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<(), StoreError>;
    async fn set_quota(&self, login: &str, quota: Option<u64>) -> Result<(), StoreError>;

    // --- addresses and aliases ---
    /// What an exact address is (account login or alias), if anything.
    async fn lookup_address(&self, address: &str) -> Result<Option<AddressTarget>, StoreError>;
    /// Adds `target` to the alias `address` (created if new). The alias's
    /// domain must exist; `address` must not be an account login.
    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError>;
    /// Removes one target, or the whole alias when `target` is `None`.
    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<(), StoreError>;
    /// All aliases with their targets, sorted by address.
    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError>;

    // --- mailboxes ---
    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>, StoreError>;
    async fn mailbox_by_name(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Mailbox>, StoreError>;
    async fn mailbox(
        &self,
        account: AccountId,
        id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError>;

    // --- messages ---
    /// Stores one message for several targets in one durable transaction.
    /// The result has one entry per target, in order: a target can fail alone
    /// (e.g. `QuotaExceeded`) while the others succeed. An `Err` of the whole
    /// call means nothing was stored.
    async fn deliver(
        &self,
        message: NewMessage,
        targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError>;
    /// All entries of a mailbox in UID order.
    async fn entries(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError>;
    /// The complete bytes of a message of this account.
    async fn message_bytes(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError>;
    /// The parse-once summary of a message of this account (computed at
    /// delivery; never re-parses the body).
    async fn summary(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<pillarbox_message::summary::Summary, StoreError>;
    /// Removes the entries with these UIDs (missing ones are ignored) in one
    /// transaction, leaving tombstones. Returns the UIDs actually removed.
    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError>;
    /// RFC 7162 §3.2.10 (QRESYNC VANISHED): the UIDs expunged from a mailbox
    /// of this account with a MODSEQ greater than `since`, in UID order.
    async fn vanished(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Uid>, StoreError>;
    /// Adds and removes flags on entries (one transaction); each changed entry
    /// gets a new MODSEQ. Returns the changed entries.
    async fn update_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        add: Flags,
        remove: Flags,
    ) -> Result<Vec<Entry>, StoreError>;

    // --- change feed ---
    /// Committed changes of one account, in commit order. A lagging receiver
    /// must resynchronise from the store (it will see `Lagged`).
    fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change>;

    // --- maintenance ---
    /// Verifies every entry's message and blob exist, blob hashes match,
    /// reference counts and mailbox counters agree.
    async fn check(&self) -> Result<CheckReport, StoreError>;
}

/// The store handle passed to every component.
pub type Store = Arc<dyn MailStore>;
