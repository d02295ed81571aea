//! DKIM keys in SQLite (schema version 5, table `dkim_keys`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::dkim::{self, DkimAlgorithm, DkimKey};
use crate::error::StoreError;
use crate::names;

fn domain_id(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM domains WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

pub(crate) fn add(conn: &Connection, key: &DkimKey) -> Result<(), StoreError> {
    let domain = names::domain(&key.domain)?;
    let selector = dkim::selector(&key.selector)?;
    if key.private_key.is_empty() {
        return Err(StoreError::Invalid("empty DKIM private key".into()));
    }
    let id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO dkim_keys (domain, selector, algorithm, private_key, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            id,
            selector,
            key.algorithm.as_str(),
            key.private_key,
            key.created
        ])?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "DKIM selector {selector} of {domain}"
        )));
    }
    Ok(())
}

pub(crate) fn list(conn: &Connection, domain: &str) -> Result<Vec<DkimKey>, StoreError> {
    let Ok(domain) = names::domain(domain) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT k.selector, k.algorithm, k.private_key, k.created
           FROM dkim_keys k JOIN domains d ON d.id = k.domain
          WHERE d.name = ?1 ORDER BY k.created, k.selector",
    )?;
    let rows = stmt
        .query_map([&domain], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(selector, algorithm, private_key, created)| {
            let algorithm = DkimAlgorithm::parse(&algorithm).ok_or_else(|| {
                StoreError::Internal(format!("unknown DKIM algorithm {algorithm:?}"))
            })?;
            Ok(DkimKey {
                domain: domain.clone(),
                selector,
                algorithm,
                private_key,
                created,
            })
        })
        .collect()
}

pub(crate) fn remove(conn: &Connection, domain: &str, selector: &str) -> Result<(), StoreError> {
    let domain = names::domain(domain)?;
    let selector = dkim::selector(selector)?;
    let n = conn.execute(
        "DELETE FROM dkim_keys
          WHERE domain = (SELECT id FROM domains WHERE name = ?1) AND selector = ?2",
        params![domain, selector],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "DKIM selector {selector} of {domain}"
        )));
    }
    Ok(())
}

/// Deletes every key of a domain (before the domain row itself).
pub(crate) fn remove_all(conn: &Connection, domain_id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM dkim_keys WHERE domain = ?1", [domain_id])?;
    Ok(())
}
