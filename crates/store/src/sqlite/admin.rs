//! Administrative writes: domains, accounts, credentials, quotas and
//! aliases. Like every write they run on the writer thread inside a job
//! savepoint (see `writer`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::*;
use crate::error::StoreError;
use crate::names;

use super::mailboxes::{insert_mailbox, subscribe};
use super::ops::collect_garbage;
use super::to_db_u64;

fn domain_id(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM domains WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

fn account_id(conn: &Connection, login: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM accounts WHERE login = ?1")?
        .query_row([login], |r| r.get(0))
        .optional()?)
}

fn alias_exists(conn: &Connection, address: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM aliases WHERE address = ?1 LIMIT 1")?
        .exists([address])?)
}

// --- domains ---

pub(crate) fn create_domain(conn: &Connection, name: &str) -> Result<Domain, StoreError> {
    let name = names::domain(name)?;
    if domain_id(conn, &name)?.is_some() {
        return Err(StoreError::Conflict(format!("domain {name}")));
    }
    conn.prepare_cached("INSERT INTO domains (name) VALUES (?1)")?
        .execute([&name])?;
    Ok(Domain {
        id: DomainId(conn.last_insert_rowid()),
        name,
        catch_all: None,
    })
}

pub(crate) fn delete_domain(conn: &Connection, name: &str) -> Result<(), StoreError> {
    let name = names::domain(name)?;
    let id =
        domain_id(conn, &name)?.ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
    let accounts: i64 = conn.query_row(
        "SELECT count(*) FROM accounts WHERE domain = ?1",
        [id],
        |r| r.get(0),
    )?;
    let aliases: i64 = conn.query_row(
        "SELECT count(*) FROM aliases WHERE domain = ?1",
        [id],
        |r| r.get(0),
    )?;
    if accounts > 0 || aliases > 0 {
        return Err(StoreError::Conflict(format!(
            "domain {name} still has {accounts} account(s) and {aliases} alias target(s)"
        )));
    }
    super::dkim::remove_all(conn, id)?;
    conn.execute("DELETE FROM domains WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn set_catch_all(
    conn: &Connection,
    domain: &str,
    account: Option<AccountId>,
) -> Result<(), StoreError> {
    let domain = names::domain(domain)?;
    let id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    if let Some(a) = account {
        let exists = conn
            .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
            .exists([a.0])?;
        if !exists {
            return Err(StoreError::NotFound(format!("account {a}")));
        }
    }
    conn.execute(
        "UPDATE domains SET catch_all = ?1 WHERE id = ?2",
        params![account.map(|a| a.0), id],
    )?;
    Ok(())
}

// --- accounts ---

pub(crate) fn create_account(
    conn: &Connection,
    login: &str,
    credentials: &StoredCredentials,
) -> Result<Account, StoreError> {
    let (login, domain) = names::address(login)?;
    let domain_id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    if account_id(conn, &login)?.is_some() {
        return Err(StoreError::Conflict(format!("account {login}")));
    }
    if alias_exists(conn, &login)? {
        return Err(StoreError::Conflict(format!("{login} is an alias")));
    }
    conn.execute(
        "INSERT INTO accounts (login, domain, password_hash, scram_sha256, quota, used)
         VALUES (?1, ?2, ?3, ?4, NULL, 0)",
        params![
            login,
            domain_id,
            credentials.password_hash,
            credentials.scram_sha256
        ],
    )?;
    let id = conn.last_insert_rowid();
    for (name, special_use) in DEFAULT_MAILBOXES {
        insert_mailbox(conn, id, name, *special_use)?;
        subscribe(conn, id, name)?;
    }
    Ok(Account {
        id: AccountId(id),
        login,
        quota: None,
        used: 0,
    })
}

pub(crate) fn delete_account(conn: &Connection, login: &str) -> Result<(), StoreError> {
    let (login, _) = names::address(login)?;
    let id = account_id(conn, &login)?
        .ok_or_else(|| StoreError::NotFound(format!("account {login}")))?;
    let messages: Vec<i64> = conn
        .prepare(
            "SELECT DISTINCT e.message FROM entries e JOIN mailboxes m ON m.id = e.mailbox
             WHERE m.account = ?1",
        )?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute(
        "DELETE FROM entries WHERE mailbox IN (SELECT id FROM mailboxes WHERE account = ?1)",
        [id],
    )?;
    for table in ["tombstones", "mailbox_keywords"] {
        conn.execute(
            &format!(
                "DELETE FROM {table} WHERE mailbox IN (SELECT id FROM mailboxes WHERE account = ?1)"
            ),
            [id],
        )?;
    }
    conn.execute("DELETE FROM mailboxes WHERE account = ?1", [id])?;
    conn.execute("DELETE FROM subscriptions WHERE account = ?1", [id])?;
    conn.execute(
        "UPDATE domains SET catch_all = NULL WHERE catch_all = ?1",
        [id],
    )?;
    conn.execute("DELETE FROM accounts WHERE id = ?1", [id])?;
    collect_garbage(conn, &messages)?;
    Ok(())
}

pub(crate) fn set_credentials(
    conn: &Connection,
    login: &str,
    credentials: &StoredCredentials,
) -> Result<(), StoreError> {
    let (login, _) = names::address(login)?;
    let n = conn.execute(
        "UPDATE accounts SET password_hash = ?1, scram_sha256 = ?2 WHERE login = ?3",
        params![credentials.password_hash, credentials.scram_sha256, login],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("account {login}")));
    }
    Ok(())
}

pub(crate) fn set_quota(
    conn: &Connection,
    login: &str,
    quota: Option<u64>,
) -> Result<(), StoreError> {
    let (login, _) = names::address(login)?;
    let n = conn.execute(
        "UPDATE accounts SET quota = ?1 WHERE login = ?2",
        params![quota.map(to_db_u64), login],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("account {login}")));
    }
    Ok(())
}

// --- aliases ---

pub(crate) fn add_alias(conn: &Connection, address: &str, target: &str) -> Result<(), StoreError> {
    let (address, domain) = names::address(address)?;
    let (target, _) = names::address(target)?;
    let domain_id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    if account_id(conn, &address)?.is_some() {
        return Err(StoreError::Conflict(format!("{address} is an account")));
    }
    let n = conn.execute(
        "INSERT OR IGNORE INTO aliases (address, target, domain) VALUES (?1, ?2, ?3)",
        params![address, target, domain_id],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!("alias {address} -> {target}")));
    }
    Ok(())
}

pub(crate) fn remove_alias(
    conn: &Connection,
    address: &str,
    target: Option<&str>,
) -> Result<(), StoreError> {
    let (address, _) = names::address(address)?;
    let n = match target {
        Some(t) => {
            let (t, _) = names::address(t)?;
            conn.execute(
                "DELETE FROM aliases WHERE address = ?1 AND target = ?2",
                params![address, t],
            )?
        }
        None => conn.execute("DELETE FROM aliases WHERE address = ?1", [&address])?,
    };
    if n == 0 {
        return Err(StoreError::NotFound(format!("alias {address}")));
    }
    Ok(())
}
