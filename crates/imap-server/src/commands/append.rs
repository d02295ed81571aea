//! RFC 9051 §6.3.12 APPEND with RFC 3502 MULTIAPPEND, RFC 4315 APPENDUID,
//! RFC 3516 literal8, RFC 6855 `UTF8 (...)` and RFC 7889 APPENDLIMIT.
//!
//! The parser announces each message ([`message`]), streams its octets
//! ([`data`]) and ends the command ([`done`]). Message data goes into a
//! bounded [`Spool`] (memory, then an anonymous temporary file), never
//! whole into memory while arriving; each message is stored when the next
//! one is announced or the command ends, so one spool exists at a time.
//!
//! Checks happen before the data is sent where possible: for a
//! synchronizing literal a refused message (missing mailbox → `TRYCREATE`,
//! too large → `TOOBIG`, over quota → `OVERQUOTA`) is answered at once and
//! the client never sends it; a non-synchronizing literal is read and
//! dropped, and the `NO` comes at the end of the command.
//!
//! RFC 3502 §3: MULTIAPPEND is all or nothing. If any message fails,
//! or the command breaks off (a parse error, the connection closing),
//! the messages it already stored are expunged again ([`abort`]).

use bytes::Bytes;
use pillarbox_imap_proto::{AppendMessage, Code, SequenceSet, Tag};
use pillarbox_message::spool::{Spool, SpoolError};
use pillarbox_session::Control;
use pillarbox_store::{AccountId, ErrorKind, Flags, MailboxId, NewMessage, StoreError, Uid};
use tracing::warn;

use super::{Completion, complete};
use crate::selected::split_flags;
use crate::session::{ImapSession, Pending, State};

const NAME: &str = "APPEND";

/// An APPEND whose messages are arriving.
pub(crate) struct InProgress {
    tag: Tag,
    /// Where the messages go, once resolved.
    target: Option<(AccountId, MailboxId)>,
    /// The answer once the command has failed: later data is read and
    /// dropped.
    failed: Option<Completion>,
    /// The message whose data is arriving.
    current: Option<Incoming>,
    /// UIDs stored by this command so far, and their UIDVALIDITY.
    appended: Vec<Uid>,
    uid_validity: u32,
}

/// One message being received.
struct Incoming {
    spool: Spool,
    flags: Flags,
    keywords: Vec<String>,
    internal_date: i64,
}

impl InProgress {
    fn new(tag: Tag) -> InProgress {
        InProgress {
            tag,
            target: None,
            failed: None,
            current: None,
            appended: Vec::new(),
            uid_validity: 0,
        }
    }

    fn fail(&mut self, done: Completion) {
        self.current = None;
        if self.failed.is_none() {
            self.failed = Some(done);
        }
    }
}

/// `NO [TRYCREATE]`: RFC 9051 §6.3.12, the mailbox does not exist.
fn no_mailbox() -> Completion {
    Completion::no(Some(Code::TryCreate), "Mailbox does not exist")
}

fn store_failed(e: &StoreError) -> Completion {
    if e.kind() == ErrorKind::NotFound {
        no_mailbox()
    } else {
        Completion::store(e)
    }
}

/// A message of the command is announced.
pub(crate) async fn message(s: &mut ImapSession, m: AppendMessage) -> Control {
    let mut p = match std::mem::replace(&mut s.pending, Pending::None) {
        Pending::Append(p) if m.index > 0 && p.tag == m.tag => p,
        other => {
            s.pending = other;
            let mut p = Box::new(InProgress::new(m.tag.clone()));
            if m.index > 0 {
                p.fail(Completion::bad("APPEND out of sequence"));
            }
            p
        }
    };
    if m.index == 0 && p.failed.is_none() {
        match target(s, &m).await {
            Ok(t) => p.target = Some(t),
            Err(done) => p.fail(done),
        }
    } else {
        store_current(s, &mut p).await;
    }
    if p.failed.is_none() {
        match incoming(s, &p, &m).await {
            Ok(incoming) => p.current = Some(incoming),
            Err(done) => p.fail(done),
        }
    }
    if m.sync {
        if let Some(done) = p.failed.take() {
            // The client waits for `+`: refuse the literal and answer now.
            s.parser.reject_literal();
            rollback(s, &mut p).await;
            return complete(s, &m.tag, NAME, done, true).await;
        }
        s.parser.accept_literal();
        s.continuation("Ready for literal data");
    }
    s.pending = Pending::Append(p);
    Control::Continue
}

/// The account and mailbox the command appends to.
async fn target(s: &ImapSession, m: &AppendMessage) -> Result<(AccountId, MailboxId), Completion> {
    let account = match &s.state {
        State::Authenticated(a) | State::Selected(a, _) => a.account,
        _ => return Err(Completion::bad("Log in first")),
    };
    match s
        .ctx
        .store
        .mailbox_by_name(account, m.mailbox.as_str())
        .await
    {
        Ok(Some(mb)) => Ok((account, mb.id)),
        Ok(None) => Err(no_mailbox()),
        Err(e) => Err(Completion::store(&e)),
    }
}

/// Checks one announced message and prepares its spool.
async fn incoming(
    s: &ImapSession,
    p: &InProgress,
    m: &AppendMessage,
) -> Result<Incoming, Completion> {
    let Some((account, _)) = p.target else {
        return Err(Completion::bad("Log in first"));
    };
    let limit = s.ctx.config.max_append_size;
    if m.size > limit {
        // RFC 7889 §4: over APPENDLIMIT.
        return Err(Completion::no(Some(Code::TooBig), "Message too large"));
    }
    if m.size == 0 {
        return Err(Completion::no(Some(Code::Cannot), "Empty message"));
    }
    // `\Recent` cannot be set by a client (RFC 3501 §2.3.2): ignored.
    let (flags, keywords) = split_flags(&m.flags);
    let keywords =
        pillarbox_store::names::keywords(&keywords).map_err(|e| Completion::store(&e))?;
    match s.ctx.store.account_by_id(account).await {
        Ok(Some(a)) => {
            if a.quota.is_some_and(|q| a.used.saturating_add(m.size) > q) {
                return Err(Completion::no(Some(Code::OverQuota), "Quota exceeded"));
            }
        }
        Ok(None) => return Err(Completion::no(Some(Code::NonExistent), "No such account")),
        Err(e) => return Err(Completion::store(&e)),
    }
    let internal_date = m.date.map_or_else(|| s.ctx.now(), |d| d.unix_timestamp());
    Ok(Incoming {
        spool: s.ctx.spool(limit),
        flags,
        keywords,
        internal_date,
    })
}

/// A chunk of the current message.
pub(crate) fn data(s: &mut ImapSession, chunk: &Bytes) -> Control {
    if let Pending::Append(p) = &mut s.pending
        && let Some(cur) = &mut p.current
        && let Err(e) = cur.spool.write(chunk)
    {
        let done = match e {
            SpoolError::TooLarge { .. } => Completion::no(Some(Code::TooBig), "Message too large"),
            // A full disk is NO [UNAVAILABLE] like a full store.
            SpoolError::Io(e) => Completion::store(&StoreError::Io(e)),
            _ => {
                warn!(error = %e, "append spool failed");
                Completion::no(Some(Code::ServerBug), "Internal error")
            }
        };
        p.fail(done);
    }
    Control::Continue
}

/// Stores the message whose data is complete.
async fn store_current(s: &ImapSession, p: &mut InProgress) {
    let Some(cur) = p.current.take() else {
        return;
    };
    let Some((account, mailbox)) = p.target else {
        return;
    };
    let data = match cur.spool.into_bytes() {
        Ok(d) => d,
        Err(e) => {
            p.fail(Completion::store(&StoreError::Io(e)));
            return;
        }
    };
    let message = NewMessage {
        data: std::sync::Arc::new(data),
        internal_date: cur.internal_date,
    };
    match s
        .ctx
        .store
        .append(account, mailbox, message, cur.flags, cur.keywords)
        .await
    {
        Ok(a) => {
            p.appended.push(a.uid);
            p.uid_validity = a.uid_validity.0;
        }
        Err(e) => p.fail(store_failed(&e)),
    }
}

/// Expunges what the command stored (RFC 3502: nothing may remain of a
/// failed MULTIAPPEND).
async fn rollback(s: &ImapSession, p: &mut InProgress) {
    let (Some((account, mailbox)), false) = (p.target, p.appended.is_empty()) else {
        return;
    };
    let uids = std::mem::take(&mut p.appended);
    if let Err(e) = s.ctx.store.expunge(account, mailbox, &uids).await {
        warn!(error = %e, "append rollback failed");
    }
}

/// The command ended after its last message.
pub(crate) async fn done(s: &mut ImapSession, tag: Tag) -> Control {
    let Pending::Append(mut p) = std::mem::replace(&mut s.pending, Pending::None) else {
        return complete(
            s,
            &tag,
            NAME,
            Completion::bad("APPEND out of sequence"),
            true,
        )
        .await;
    };
    store_current(s, &mut p).await;
    let result = match p.failed.take() {
        Some(failed) => {
            rollback(s, &mut p).await;
            failed
        }
        None => match SequenceSet::from_numbers(p.appended.iter().map(|u| u.0)) {
            Some(uids) => Completion::ok_code(
                Code::AppendUid {
                    uidvalidity: p.uid_validity,
                    uids,
                },
                "APPEND completed",
            ),
            None => Completion::ok(""),
        },
    };
    complete(s, &tag, NAME, result, true).await
}

/// The command broke off (parse error, connection closed): undo what it
/// stored. No response is written.
pub(crate) async fn abort(s: &mut ImapSession) {
    if let Pending::Append(mut p) = std::mem::replace(&mut s.pending, Pending::None) {
        p.current = None;
        rollback(s, &mut p).await;
    }
}

/// An authenticated session over a fresh store, driven byte by byte like
/// the network driver does (also used by the COPY tests).
#[cfg(test)]
pub(crate) mod harness {
    use std::sync::Arc;

    use bytes::BytesMut;
    use pillarbox_session::{ConnInfo, ManualClock, Session};
    use pillarbox_store::sqlite::SqliteStore;
    use pillarbox_store::{AccountId, Entry, Store, StoredCredentials};

    use crate::config::ImapConfig;
    use crate::context::ImapContext;
    use crate::session::{Authed, ImapSession, State};

    pub(crate) struct Harness {
        pub session: ImapSession,
        pub store: Store,
        pub account: AccountId,
        _dir: tempfile::TempDir,
    }

    impl Harness {
        /// Alice, logged in, with `quota` bytes.
        pub(crate) async fn new(quota: Option<u64>) -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let store: Store = SqliteStore::open(dir.path()).unwrap();
            store.create_domain("example.org").await.unwrap();
            let creds = StoredCredentials {
                password_hash: String::new(),
                scram_sha256: None,
            };
            let account = store
                .create_account("alice@example.org", creds)
                .await
                .unwrap()
                .id;
            store.set_quota("alice@example.org", quota).await.unwrap();
            let clock = Arc::new(ManualClock::new(std::time::UNIX_EPOCH));
            let ctx = ImapContext::new(store.clone(), ImapConfig::default(), clock);
            let addr = "127.0.0.1:143".parse().unwrap();
            let conn = ConnInfo {
                session_id: 1,
                peer: addr,
                local: addr,
                tls: None,
                starttls_available: false,
            };
            let mut session = ImapSession::new(ctx, conn);
            let slot = session.ctx.enter(account).unwrap();
            let feed = store.subscribe(account);
            session.state =
                State::Authenticated(Authed::new(account, "alice@example.org".into(), feed, slot));
            Harness {
                session,
                store,
                account,
                _dir: dir,
            }
        }

        /// Sends `input`; returns what the server wrote.
        pub(crate) async fn send(&mut self, input: &str) -> String {
            let mut buf = BytesMut::from(input.as_bytes());
            let mut out = Vec::new();
            self.session.input(&mut buf, &mut out).await;
            String::from_utf8(out).unwrap()
        }

        pub(crate) async fn entries(&self, mailbox: &str) -> Vec<Entry> {
            let mb = self
                .store
                .mailbox_by_name(self.account, mailbox)
                .await
                .unwrap()
                .unwrap();
            self.store.entries(self.account, mb.id).await.unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use pillarbox_session::Session;

    use super::harness::Harness;

    const MSG: &str = "Subject: test\r\n\r\nsome body text\r\n"; // 33 octets

    #[tokio::test]
    async fn sync_literal_over_quota_is_refused_before_the_data() {
        let mut h = Harness::new(Some(20)).await;
        let out = h.send("a1 APPEND INBOX {33}\r\n").await;
        assert_eq!(out, "a1 NO [OVERQUOTA] Quota exceeded\r\n");
        // The literal was refused: the next line is a command.
        let out = h.send("a2 NOOP\r\n").await;
        assert_eq!(out, "a2 OK NOOP completed\r\n");
    }

    #[tokio::test]
    async fn multiappend_over_quota_leaves_nothing() {
        // The first message fits, the second does not.
        let mut h = Harness::new(Some(50)).await;
        let out = h
            .send(&format!(
                "a1 APPEND INBOX {{33+}}\r\n{MSG} {{33+}}\r\n{MSG}\r\n"
            ))
            .await;
        assert_eq!(out, "a1 NO [OVERQUOTA] Quota exceeded\r\n");
        assert!(h.entries("INBOX").await.is_empty());
        let used = h
            .store
            .account_by_id(h.account)
            .await
            .unwrap()
            .unwrap()
            .used;
        assert_eq!(used, 0);
    }

    #[tokio::test]
    async fn multiappend_broken_off_leaves_nothing() {
        let mut h = Harness::new(None).await;
        let out = h
            .send(&format!("a1 APPEND INBOX {{33+}}\r\n{MSG} {{33+}}\r\n"))
            .await;
        assert_eq!(out, "");
        // The first message is stored once the second is announced.
        assert_eq!(h.entries("INBOX").await.len(), 1);
        h.send("Subject: half").await;
        h.session.closed().await;
        assert!(h.entries("INBOX").await.is_empty());
    }

    #[tokio::test]
    async fn multiappend_syntax_error_leaves_nothing() {
        let mut h = Harness::new(None).await;
        let out = h
            .send(&format!("a1 APPEND INBOX {{33+}}\r\n{MSG} (\\Bogus\r\n"))
            .await;
        assert!(out.starts_with("a1 BAD "), "{out}");
        assert!(h.entries("INBOX").await.is_empty());
        let out = h.send("a2 NOOP\r\n").await;
        assert_eq!(out, "a2 OK NOOP completed\r\n");
    }

    #[tokio::test]
    async fn appenduid_lists_every_message() {
        let mut h = Harness::new(None).await;
        let out = h.send("a1 APPEND INBOX (\\Seen $Work) {33}\r\n").await;
        assert_eq!(out, "+ Ready for literal data\r\n");
        let out = h.send(&format!("{MSG} {{33}}\r\n")).await;
        assert_eq!(out, "+ Ready for literal data\r\n");
        let out = h.send(&format!("{MSG}\r\n")).await;
        assert!(out.starts_with("a1 OK [APPENDUID "), "{out}");
        assert!(out.ends_with(" 1:2] APPEND completed\r\n"), "{out}");
        let entries = h.entries("INBOX").await;
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].keywords, vec!["$Work".to_string()]);
        assert!(entries[0].flags.contains(pillarbox_store::Flags::SEEN));
        assert_eq!(entries[1].keywords, Vec::<String>::new());
        // The clock (the epoch here) is the internal date without date-time.
        assert_eq!(entries[1].internal_date, 0);
    }
}
