//! RFC 9208 GETQUOTA / GETQUOTAROOT.
//!
//! An account has at most one quota: its storage limit, shared by all its
//! mailboxes. It is the quota root `""` with the `STORAGE` resource, in
//! units of 1024 octets (RFC 9208 §5.1): usage is rounded up, the limit
//! down. An account without a limit has no quota root: GETQUOTAROOT
//! answers with an empty root list and no QUOTA response, GETQUOTA `""`
//! with `NO [NONEXISTENT]`.

use pillarbox_imap_proto::{Code, Data, Mailbox as WireMailbox, QuotaResource};
use pillarbox_store::Account;

use super::Completion;
use super::mailbox_names::canonical;
use crate::session::ImapSession;

/// The one quota root's name.
const ROOT: &str = "";

/// The QUOTA response of an account with a limit.
fn quota_data(account: &Account) -> Option<Data> {
    let limit = account.quota?;
    Some(Data::Quota {
        root: ROOT.to_string(),
        resources: vec![QuotaResource {
            name: "STORAGE".into(),
            usage: account.used.div_ceil(1024),
            limit: limit / 1024,
        }],
    })
}

async fn load_account(s: &ImapSession) -> Result<Account, Completion> {
    let Some(id) = s.account() else {
        return Err(Completion::bad("Log in first"));
    };
    match s.ctx.store.account_by_id(id).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(Completion::no(Some(Code::NonExistent), "No such account")),
        Err(e) => Err(Completion::store(&e)),
    }
}

pub(crate) async fn get_quota(s: &mut ImapSession, root: String) -> Completion {
    let account = match load_account(s).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    match (root.as_str(), quota_data(&account)) {
        (ROOT, Some(d)) => {
            s.data(d);
            Completion::ok("")
        }
        _ => Completion::no(Some(Code::NonExistent), "No such quota root"),
    }
}

pub(crate) async fn get_quota_root(s: &mut ImapSession, mailbox: WireMailbox) -> Completion {
    let account = match load_account(s).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let Some(name) = canonical(mailbox.as_str()) else {
        return Completion::no(Some(Code::NonExistent), "No such mailbox");
    };
    match s.ctx.store.mailbox_by_name(account.id, &name).await {
        Ok(Some(_)) => {}
        Ok(None) => return Completion::no(Some(Code::NonExistent), "No such mailbox"),
        Err(e) => return Completion::store(&e),
    }
    let quota = quota_data(&account);
    s.data(Data::QuotaRoot {
        mailbox: WireMailbox::new(name),
        roots: if quota.is_some() {
            vec![ROOT.to_string()]
        } else {
            vec![]
        },
    });
    if let Some(d) = quota {
        s.data(d);
    }
    Completion::ok("")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use bytes::BytesMut;
    use pillarbox_session::{ConnInfo, Session, SystemClock};
    use pillarbox_store::{DeliveryTarget, Flags, NewMessage, Store, StoredCredentials};

    use crate::session::{Authed, ImapSession, State};
    use crate::{ImapConfig, ImapContext};

    /// A session logged in as an account with `quota` bytes and one
    /// message of `size` bytes in INBOX.
    async fn session(dir: &std::path::Path, quota: Option<u64>, size: usize) -> ImapSession {
        let store: Store = pillarbox_store::sqlite::SqliteStore::open(dir).unwrap();
        store.create_domain("example.org").await.unwrap();
        let credentials = StoredCredentials {
            password_hash: "x".into(),
            scram_sha256: None,
        };
        let account = store
            .create_account("alice@example.org", credentials)
            .await
            .unwrap();
        store.set_quota("alice@example.org", quota).await.unwrap();
        let mut data = b"Subject: x\r\n\r\n".to_vec();
        data.resize(size, b'a');
        store
            .deliver(
                NewMessage {
                    data: Arc::new(data),
                    internal_date: 0,
                },
                vec![DeliveryTarget {
                    account: account.id,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: vec![],
                }],
            )
            .await
            .unwrap();
        let ctx = ImapContext::new(store.clone(), ImapConfig::default(), Arc::new(SystemClock));
        let conn = ConnInfo {
            session_id: 1,
            peer: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:143".parse().unwrap(),
            tls: None,
            starttls_available: false,
        };
        let mut s = ImapSession::new(ctx.clone(), conn);
        let slot = ctx.enter(account.id).unwrap();
        s.state = State::Authenticated(Authed::new(
            account.id,
            account.login,
            store.subscribe(account.id),
            slot,
        ));
        s
    }

    async fn send(s: &mut ImapSession, line: &str) -> String {
        let mut buf = BytesMut::from(line.as_bytes());
        let mut out = Vec::new();
        s.input(&mut buf, &mut out).await;
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn quota_root_of_a_limited_account_in_kib() {
        let dir = tempfile::tempdir().unwrap();
        // 10 000 bytes allowed, 2049 used: 3 KiB used (rounded up), 9 KiB
        // limit (rounded down).
        let mut s = session(dir.path(), Some(10_000), 2049).await;
        assert_eq!(
            send(&mut s, "a1 GETQUOTAROOT INBOX\r\n").await,
            "* QUOTAROOT \"INBOX\" \"\"\r\n\
             * QUOTA \"\" (STORAGE 3 9)\r\n\
             a1 OK GETQUOTAROOT completed\r\n"
        );
        assert_eq!(
            send(&mut s, "a2 GETQUOTA \"\"\r\n").await,
            "* QUOTA \"\" (STORAGE 3 9)\r\na2 OK GETQUOTA completed\r\n"
        );
        assert_eq!(
            send(&mut s, "a3 GETQUOTA other\r\n").await,
            "a3 NO [NONEXISTENT] No such quota root\r\n"
        );
    }

    #[tokio::test]
    async fn no_quota_root_without_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path(), None, 100).await;
        assert_eq!(
            send(&mut s, "a1 GETQUOTAROOT Sent\r\n").await,
            "* QUOTAROOT \"Sent\"\r\na1 OK GETQUOTAROOT completed\r\n"
        );
    }
}
