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
    /// Every system flag the store knows; other bits are ignored.
    pub const ALL: Flags = Flags(31);

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
    /// Whether the account's subscription list holds this name
    /// ([`MailStore::set_subscribed`]).
    pub subscribed: bool,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// Number of entries.
    pub exists: u32,
    /// Entries without `\Seen`.
    pub unseen: u32,
    /// Entries with `\Deleted` (RFC 9051 STATUS DELETED).
    pub deleted: u32,
    /// Sum of the entries' message sizes (RFC 8438 STATUS SIZE).
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

/// How [`MailStore::store_flags`] changes the flags of each entry
/// (RFC 9051 §6.4.6 STORE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`: add the given flags and keywords.
    Add,
    /// `-FLAGS`: remove the given flags and keywords.
    Remove,
    /// `FLAGS`: the entry ends up with exactly the given flags and keywords.
    Replace,
}

/// A STORE request: an operation on system flags and keywords together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub op: FlagOp,
    pub flags: Flags,
    /// Keywords (validated by [`crate::names::keywords`]; compared
    /// case-insensitively).
    pub keywords: Vec<String>,
}

/// The outcome of [`MailStore::store_flags`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsStored {
    /// The entries whose flags or keywords changed, in UID order, with their
    /// new state and new MODSEQ.
    pub changed: Vec<Entry>,
    /// RFC 7162 §3.1.3: the UIDs left alone because their MODSEQ was above
    /// the UNCHANGEDSINCE guard (the `[MODIFIED ...]` response code), in
    /// UID order.
    pub modified: Vec<Uid>,
}

/// The outcome of [`MailStore::append`]: what RFC 4315 APPENDUID needs,
/// and more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub mailbox: MailboxId,
    pub uid_validity: UidValidity,
    pub uid: Uid,
    pub message: MessageId,
    pub modseq: ModSeq,
}

/// The outcome of [`MailStore::copy`] and [`MailStore::move_messages`]:
/// RFC 4315 COPYUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// UIDVALIDITY of the destination mailbox.
    pub uid_validity: UidValidity,
    /// `(source UID, destination UID)` for every entry copied, in source
    /// UID order (destination UIDs ascend in the same order).
    pub uids: Vec<(Uid, Uid)>,
}

/// The first entry without `\Seen` (the IMAP4rev1 `[UNSEEN n]` code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstUnseen {
    /// 1-based message sequence number in the full mailbox.
    pub seq: u32,
    pub uid: Uid,
}

/// Where [`MailStore::search_text`] looks (RFC 9051 §6.4.4 search keys
/// taking a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchField {
    /// `BODY`: the decoded text of the body parts.
    Body,
    /// `TEXT`: the header fields and the body text.
    Text,
    /// `HEADER <name>`: a header field of that name (case-insensitive)
    /// whose decoded value contains the string; every message having the
    /// field matches an empty string.
    Header(String),
    Subject,
    From,
    To,
    Cc,
    Bcc,
}

/// A committed change, published on the change feed after commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub account: AccountId,
    pub mailbox: MailboxId,
    /// The mailbox's HIGHESTMODSEQ after the change. When the mailbox was
    /// deleted, one more than its last HIGHESTMODSEQ (and the id no longer
    /// resolves).
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
    /// Removes a domain and its DKIM keys. `Conflict` while accounts or
    /// aliases still use it.
    async fn delete_domain(&self, name: &str) -> Result<(), StoreError>;
    /// Sets or clears the catch-all account of a domain.
    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError>;

    // --- DKIM keys (see [`crate::dkim`]) ---
    /// Stores a signing key of an existing domain (`NotFound` otherwise);
    /// domain and selector are lowercased and checked (`Invalid`), and the
    /// selector must be new for the domain (`Conflict`).
    async fn add_dkim_key(&self, key: crate::dkim::DkimKey) -> Result<(), StoreError>;
    /// The domain's keys, oldest first; empty for an unknown domain.
    async fn dkim_keys(&self, domain: &str) -> Result<Vec<crate::dkim::DkimKey>, StoreError>;
    /// Removes one key (`NotFound` if the domain has no such selector).
    async fn remove_dkim_key(&self, domain: &str, selector: &str) -> Result<(), StoreError>;

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
    /// A recipient's first lookup: the domain `domain` and, if it exists,
    /// what `address` is — [`MailStore::domain`] then
    /// [`MailStore::lookup_address`], which a backend may answer in one
    /// round trip (SMTP asks this for every RCPT).
    async fn lookup_recipient(
        &self,
        domain: &str,
        address: &str,
    ) -> Result<(Option<Domain>, Option<AddressTarget>), StoreError> {
        let Some(found) = self.domain(domain).await? else {
            return Ok((None, None));
        };
        Ok((Some(found), self.lookup_address(address).await?))
    }
    /// Adds `target` to the alias `address` (created if new). The alias's
    /// domain must exist; `address` must not be an account login.
    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError>;
    /// Removes one target, or the whole alias when `target` is `None`.
    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<(), StoreError>;
    /// All aliases with their targets, sorted by address.
    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError>;

    // --- mailboxes ---
    /// The account's mailboxes (only those that exist: a parent that is
    /// only implied by a child's name is not listed), in creation order,
    /// with their counters. Counters are stored, so this is cheap for any
    /// mailbox size.
    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>, StoreError>;
    /// A mailbox by name (normalised by [`crate::names::mailbox`], so
    /// `inbox` finds `INBOX`); `None` for invalid names.
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
    /// RFC 9051 §6.3.4 CREATE (and RFC 6154 CREATE-SPECIAL-USE): creates an
    /// empty, unsubscribed mailbox with a fresh UIDVALIDITY. `Conflict` if
    /// the name exists (INBOX always does); `Invalid` for a bad name. Parent
    /// names are not created (see the crate docs on hierarchy). A
    /// special-use attribute need not be unique in the account.
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox, StoreError>;
    /// RFC 9051 §6.3.5 DELETE: removes the mailbox, its entries and
    /// tombstones; messages no other entry uses are collected. Children stay
    /// (the name becomes an implied parent); subscriptions stay. `Invalid`
    /// for INBOX, `NotFound` if it does not exist. Publishes a change for
    /// the mailbox (whose id then no longer resolves).
    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<(), StoreError>;
    /// RFC 9051 §6.3.6 RENAME: renames the mailbox and every mailbox below
    /// it, keeping ids, UIDVALIDITY, UIDs and MODSEQs; subscriptions of the
    /// renamed names follow. Renaming INBOX instead creates `to` and moves
    /// every INBOX entry into it (INBOX stays, empty, with tombstones; its
    /// children are unaffected). Returns the mailbox now named `to`.
    /// `NotFound` if `from` does not exist; `Conflict` if `to` or a renamed
    /// child's new name exists; `Invalid` for bad names or a move below
    /// itself.
    async fn rename_mailbox(
        &self,
        account: AccountId,
        from: &str,
        to: &str,
    ) -> Result<Mailbox, StoreError>;
    /// Sets or clears the special-use attribute of a mailbox (RFC 6154).
    async fn set_special_use(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError>;
    /// RFC 9051 §6.3.7/§6.3.8 SUBSCRIBE/UNSUBSCRIBE. Any valid name may be
    /// subscribed, existing or not; (un)subscribing twice is not an error.
    async fn set_subscribed(
        &self,
        account: AccountId,
        name: &str,
        subscribed: bool,
    ) -> Result<(), StoreError>;
    /// The account's subscribed names, sorted (LSUB / LIST (SUBSCRIBED)).
    async fn list_subscriptions(&self, account: AccountId) -> Result<Vec<String>, StoreError>;
    /// Every keyword ever set in the mailbox, in first-use order, each in
    /// the spelling it was first used with (the IMAP FLAGS and
    /// PERMANENTFLAGS responses).
    async fn mailbox_keywords(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<String>, StoreError>;

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
    /// RFC 9051 §6.3.12 APPEND: stores one message in one mailbox with
    /// these flags and keywords; the whole call fails on any error
    /// (`NotFound` mailbox — the IMAP TRYCREATE case —, `QuotaExceeded`,
    /// `Invalid` keyword).
    async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
        flags: Flags,
        keywords: Vec<String>,
    ) -> Result<Appended, StoreError>;
    /// RFC 9051 §6.4.7 COPY with RFC 4315 COPYUID: adds entries for these
    /// source UIDs (missing ones are ignored) to `to`, sharing the stored
    /// messages, keeping flags, keywords and INTERNALDATE; each new entry
    /// gets a new UID, MODSEQ and SAVEDATE. Atomic: `QuotaExceeded` (the
    /// copies count against the quota) stores nothing.
    async fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError>;
    /// RFC 6851 MOVE: [`MailStore::copy`] and expunge of the sources (with
    /// tombstones) in ONE transaction. Not subject to the quota (the
    /// account's usage does not change).
    async fn move_messages(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Copied, StoreError>;
    /// All entries of a mailbox in UID order (one indexed scan).
    async fn entries(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError>;
    /// RFC 7162 §3.1.4.1 CHANGEDSINCE: the entries whose MODSEQ is greater
    /// than `since`, in UID order. Expunged ones are in [`MailStore::vanished`].
    async fn entries_changed_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Entry>, StoreError>;
    /// The first entry without `\Seen`, with its sequence number.
    async fn first_unseen(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Option<FirstUnseen>, StoreError>;
    /// The complete bytes of a message of this account.
    async fn message_bytes(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError>;
    /// Bytes `start..start + len` of a message of this account (clamped to
    /// its size; empty past the end). Decompresses only the frames that
    /// hold the range, stopping at its end: a header or leading part never
    /// costs the whole body.
    async fn message_range(
        &self,
        account: AccountId,
        message: MessageId,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError>;
    /// The header section of a message (RFC 9051 `BODY[HEADER]`: through
    /// the empty line), by its stored length; the body is not decompressed.
    async fn message_header(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Vec<u8>, StoreError>;
    /// The parse-once summary of a message of this account (computed at
    /// delivery; never re-parses the body).
    async fn summary(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<pillarbox_message::summary::Summary, StoreError>;
    /// RFC 5256 SORT / THREAD: the sort fields of the entries with these
    /// UIDs (ascending; missing ones are left out), in UID order, in one
    /// read: no query per message, no re-parsing, and no more of each
    /// stored summary than [`SortFields`](pillarbox_message::sort_fields::SortFields) holds.
    async fn sort_fields(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<(Uid, pillarbox_message::sort_fields::SortFields)>, StoreError>;
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
    /// Adds and removes system flags on entries (one transaction),
    /// leaving keywords alone; each changed entry gets a new MODSEQ.
    /// Returns the changed entries. The simple form of
    /// [`MailStore::store_flags`].
    async fn update_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        add: Flags,
        remove: Flags,
    ) -> Result<Vec<Entry>, StoreError>;
    /// RFC 9051 §6.4.6 STORE on system flags and keywords, in one
    /// transaction. Missing UIDs are ignored. With `unchanged_since`
    /// (RFC 7162 §3.1.3 UNCHANGEDSINCE), entries whose MODSEQ is greater are
    /// left alone and reported in [`FlagsStored::modified`]. Every entry
    /// whose state actually changes gets a new MODSEQ; a no-op changes
    /// nothing. New keywords join the mailbox's keyword list.
    async fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        change: FlagChange,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored, StoreError>;

    // --- search ---
    /// RFC 9051 §6.4.4 SEARCH on text: the UIDs (ascending) of the
    /// mailbox's entries whose `field` contains `needle`, compared
    /// case-insensitively as a substring. The searchable text is
    /// [`crate::fulltext`]'s: decoded header fields, and the decoded text of
    /// the text parts (HTML stripped), up to a bound. The results are
    /// complete and exact as soon as a write has returned: a backend may
    /// index in the background, but must then match the messages it has
    /// not indexed yet some other way (the SQLite backend reads them).
    async fn search_text(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        field: SearchField,
        needle: &str,
    ) -> Result<Vec<Uid>, StoreError>;

    // --- change feed ---
    /// Committed changes of one account, in commit order. A lagging receiver
    /// must resynchronise from the store (it will see `Lagged`).
    fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change>;

    // --- outbound queue (see [`crate::queue`]) ---
    /// Stores a message for remote delivery with its envelope; durable on
    /// return. `Invalid` without recipients.
    async fn enqueue(
        &self,
        item: crate::queue::NewQueueItem,
    ) -> Result<crate::queue::QueueId, StoreError>;
    /// Items with a pending recipient whose next attempt is at or before
    /// `now`, soonest first, at most `limit`.
    async fn queue_due(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<crate::queue::QueueItem>, StoreError>;
    /// Every item, by id.
    async fn queue_list(&self) -> Result<Vec<crate::queue::QueueItem>, StoreError>;
    async fn queue_item(
        &self,
        id: crate::queue::QueueId,
    ) -> Result<Option<crate::queue::QueueItem>, StoreError>;
    /// The message bytes of an item (`NotFound` if gone).
    async fn queue_message(&self, id: crate::queue::QueueId) -> Result<Arc<Vec<u8>>, StoreError>;
    /// Records results and reschedules, in one transaction (`NotFound`
    /// if the item is gone).
    async fn queue_update(
        &self,
        id: crate::queue::QueueId,
        update: crate::queue::QueueUpdate,
    ) -> Result<(), StoreError>;
    /// Removes an item and its message (`NotFound` if gone).
    async fn queue_delete(&self, id: crate::queue::QueueId) -> Result<(), StoreError>;
    /// Removes a finished item and adds `counted` to the delivery
    /// counters, in one transaction (`NotFound` if gone).
    async fn queue_finish(
        &self,
        id: crate::queue::QueueId,
        counted: crate::queue::QueueCounters,
    ) -> Result<(), StoreError>;
    /// Queue size, oldest item and the delivery counters; readable by
    /// another process while the server runs.
    async fn queue_stats(&self) -> Result<crate::queue::QueueStats, StoreError>;
    /// Zeroes the delivery counters and records `since` (the queue does
    /// this when the server starts: the counters are "since start").
    async fn queue_counters_reset(&self, since: UnixTime) -> Result<(), StoreError>;

    // --- maintenance ---
    /// Verifies every entry's message and blob exist, blob hashes match,
    /// reference counts and mailbox counters agree.
    async fn check(&self) -> Result<CheckReport, StoreError>;
}

/// The store handle passed to every component.
pub type Store = Arc<dyn MailStore>;
