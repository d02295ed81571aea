//! Shared by the session targets (`imap_session`, `pop3_session`): one
//! SQLite store in a temporary directory (on tmpfs when there is one, so
//! fsyncs stay cheap) and, per input, a fresh account `alice@example.org`
//! (password `secret`, as in the transcript tests) holding a few messages.
//! After an input that changed the account (any mailbox, subscription or
//! message state differs) it is deleted and created afresh for the next,
//! so no state leaks from one input into the next; an input that changed
//! nothing leaves it in place, which saves most of the SQLite writes.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use argon2::password_hash::{PasswordHasher, SaltString};
use pillarbox_session::{ConnInfo, ManualClock, TlsInfo};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, DeliveryTarget, Flags, NewMessage, Store, StoredCredentials};

pub const LOGIN: &str = "alice@example.org";
pub const PASSWORD: &str = "secret";

/// The store, its directory and the runtime the sessions run on.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub store: Store,
}

pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // libFuzzer ends the process with exit(), which runs no
        // destructors: the directory is named after the process, and those
        // of processes that are gone are removed here.
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("pillarbox-fuzz-")
                && !std::path::Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("pillarbox-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("store directory");
        let store: Store = SqliteStore::open(&dir).expect("store");
        rt.block_on(store.create_domain("example.org"))
            .expect("domain");
        World { rt, store }
    })
}

/// A fixed clock (2026-01-01); each input gets its own.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ))
}

/// Credentials for `secret` that verify fast: argon2id with the smallest
/// parameters (the server honours the parameters in the PHC string) and a
/// 1-iteration SCRAM record. Computed once.
fn credentials() -> StoredCredentials {
    static C: OnceLock<StoredCredentials> = OnceLock::new();
    C.get_or_init(|| {
        let params = argon2::Params::new(8, 1, 1, None).expect("params");
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"pillarbox-fuzz-salt").expect("salt");
        let phc = argon
            .hash_password(PASSWORD.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        let scram = pillarbox_sasl::ScramRecord::derive(PASSWORD, b"QSXCR+Q6sek8bf92", 1).encode();
        StoredCredentials {
            password_hash: phc,
            scram_sha256: Some(scram),
        }
    })
    .clone()
}

const PLAIN: &[u8] = b"Return-Path: <bob@example.net>\r\n\
From: Bob <bob@example.net>\r\n\
To: alice@example.org\r\n\
Subject: Hello\r\n\
Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
Message-ID: <1@example.net>\r\n\
\r\n\
Hi Alice,\r\n\
.a line starting with a dot\r\n\
\r\n\
-- \r\nBob\r\n";

const MULTIPART: &[u8] = b"From: =?utf-8?q?Caf=C3=A9?= <cafe@example.net>\r\n\
To: alice@example.org, \"Group\": a@b.test, c@d.test;\r\n\
Cc: <x@y.test>\r\n\
Subject: =?utf-8?b?w6nDqMOg?= report\r\n\
Date: Fri, 02 Jan 2026 10:00:00 +0100\r\n\
Message-ID: <2@example.net>\r\n\
In-Reply-To: <1@example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
preamble\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 needle\r\n\
--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>caf\xc3\xa9</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwQFBgcICQoLDA0ODxAREhM=\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@example.net\r\n\
Subject: inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
nested body\r\n\
--outer--\r\n\
epilogue\r\n";

const BARE: &[u8] = b"Subject: no date, no from\r\n\r\nbody with 8bit \xe9 and a very long line \
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";

/// Creates the account with its messages: INBOX holds four (one `\Seen`,
/// one `\Deleted \Flagged` with a keyword), `Work` (subscribed) one.
async fn create_account(store: &Store) -> AccountId {
    let account = store
        .create_account(LOGIN, credentials())
        .await
        .expect("account")
        .id;
    let work = store
        .create_mailbox(account, "Work", None)
        .await
        .expect("mailbox")
        .id;
    let _ = store.set_subscribed(account, "Work", true).await;
    let messages: [(&[u8], Option<_>, Flags, &[&str]); 5] = [
        (PLAIN, None, Flags::SEEN, &[]),
        (MULTIPART, None, Flags::EMPTY, &["$Important"]),
        (
            BARE,
            None,
            Flags(Flags::DELETED.0 | Flags::FLAGGED.0),
            &["later"],
        ),
        (PLAIN, None, Flags::ANSWERED, &[]),
        (MULTIPART, Some(work), Flags::EMPTY, &[]),
    ];
    for (i, (data, mailbox, flags, keywords)) in messages.into_iter().enumerate() {
        store
            .deliver(
                NewMessage {
                    data: Arc::new(data.to_vec()),
                    internal_date: 1_767_225_600 + i as i64 * 3600,
                },
                vec![DeliveryTarget {
                    account,
                    mailbox,
                    flags,
                    keywords: keywords.iter().map(|k| k.to_string()).collect(),
                }],
            )
            .await
            .expect("deliver")
            .into_iter()
            .next()
            .expect("one result")
            .expect("delivered");
    }
    account
}

/// Everything about the account an IMAP or POP3 session can change.
async fn fingerprint(store: &Store, account: AccountId) -> Vec<String> {
    let mut f: Vec<String> = store
        .list_mailboxes(account)
        .await
        .expect("mailboxes")
        .iter()
        .map(|m| format!("{m:?}"))
        .collect();
    f.extend(
        store
            .list_subscriptions(account)
            .await
            .expect("subscriptions"),
    );
    f
}

static CURRENT: std::sync::Mutex<Option<(AccountId, Vec<String>)>> = std::sync::Mutex::new(None);

/// The account in its initial state, for one input.
pub async fn account(store: &Store) -> AccountId {
    let current = CURRENT.lock().expect("lock").as_ref().map(|(a, _)| *a);
    if let Some(account) = current {
        return account;
    }
    let account = create_account(store).await;
    let print = fingerprint(store, account).await;
    *CURRENT.lock().expect("lock") = Some((account, print));
    account
}

/// After an input: deletes the account if the input changed it.
pub async fn finish(store: &Store) {
    let Some((account, print)) = CURRENT.lock().expect("lock").clone() else {
        return;
    };
    if fingerprint(store, account).await != print {
        store.delete_account(LOGIN).await.expect("delete account");
        *CURRENT.lock().expect("lock") = None;
    }
}

pub fn tls_info() -> TlsInfo {
    TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
        ..TlsInfo::default()
    }
}

pub fn conn(port: u16, tls: bool) -> ConnInfo {
    ConnInfo {
        session_id: 1,
        peer: "192.0.2.1:40000".parse().expect("addr"),
        local: std::net::SocketAddr::from(([192, 0, 2, 2], port)),
        tls: tls.then(tls_info),
        starttls_available: true,
    }
}
