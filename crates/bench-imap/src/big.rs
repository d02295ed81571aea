//! Commands on a large mailbox (DESIGN.md §9: SELECT, FETCH 1:* FLAGS and
//! SEARCH on a 100 000-message mailbox; also SORT and THREAD), each timed `repeat` times on one
//! connection and checked against the known corpus.

use std::io;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Reply, Target, quote, starts_with_ci};
use crate::corpus;

pub struct BigConfig {
    pub target: Target,
    pub user: String,
    pub password: String,
    pub mailbox: String,
    pub start: u64,
    pub count: u64,
    pub repeat: usize,
}

pub struct OpResult {
    pub name: &'static str,
    pub command: String,
    /// Wall time of each run, first one first (the first after seeding is
    /// "cold": for Dovecot it may build the index).
    pub runs: Vec<Duration>,
    pub result: String,
}

fn check(ok: bool, what: String) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(what))
    }
}

fn status_ok(r: &Reply, cmd: &str) -> io::Result<()> {
    check(r.ok(), format!("{cmd}: {}", r.text))
}

fn search_count(r: &Reply) -> u64 {
    r.untagged
        .iter()
        .filter(|u| u.is_untagged(b"SEARCH"))
        .map(|u| u.text().split_whitespace().skip(2).count() as u64)
        .sum()
}

/// The numbers in `* SORT` / `* THREAD` answers (THREAD's parentheses
/// split them from each other).
fn numbers_in(r: &Reply, word: &[u8]) -> u64 {
    r.untagged
        .iter()
        .filter(|u| u.is_untagged(word))
        .map(|u| {
            u.text()
                .trim_end()
                .split([' ', '(', ')'])
                .skip(2)
                .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
                .count() as u64
        })
        .sum()
}

pub async fn run(cfg: &BigConfig) -> io::Result<Vec<OpResult>> {
    let mut c = Conn::connect(&cfg.target, None, 1 << 20).await?;
    let r = c
        .simple(&format!(
            "LOGIN {} {}",
            quote(&cfg.user),
            quote(&cfg.password)
        ))
        .await?;
    status_ok(&r, "LOGIN")?;
    let mb = quote(&cfg.mailbox);
    let n = cfg.count;
    let (subj, body) = corpus::expected_matches(cfg.start, cfg.count);
    let mut out = Vec::new();

    // STATUS (not selected).
    let cmd = format!("STATUS {mb} (MESSAGES UIDNEXT UNSEEN)");
    let mut op = OpResult {
        name: "status",
        command: cmd.clone(),
        runs: vec![],
        result: String::new(),
    };
    for _ in 0..cfg.repeat {
        let t0 = Instant::now();
        let r = c.simple(&cmd).await?;
        op.runs.push(t0.elapsed());
        status_ok(&r, &cmd)?;
        let line = r
            .untagged
            .iter()
            .find(|u| u.is_untagged(b"STATUS"))
            .map(|u| u.text())
            .unwrap_or_default();
        check(
            line.to_ascii_uppercase().contains(&format!("MESSAGES {n}")),
            format!("STATUS: expected MESSAGES {n}: {line}"),
        )?;
        op.result = line.trim_end().to_string();
    }
    out.push(op);

    // SELECT.
    let cmd = format!("SELECT {mb}");
    let mut op = OpResult {
        name: "select",
        command: cmd.clone(),
        runs: vec![],
        result: String::new(),
    };
    for _ in 0..cfg.repeat {
        let t0 = Instant::now();
        let r = c.simple(&cmd).await?;
        op.runs.push(t0.elapsed());
        status_ok(&r, &cmd)?;
        let exists = r.untagged.iter().find_map(|u| {
            u.numbered()
                .filter(|(_, w)| w.eq_ignore_ascii_case(b"EXISTS"))
                .map(|(k, _)| u64::from(k))
        });
        check(
            exists == Some(n),
            format!("SELECT: EXISTS {exists:?}, expected {n}"),
        )?;
        op.result = format!("EXISTS {n}");
    }
    out.push(op);

    // FETCH 1:* (FLAGS UID).
    let cmd = "FETCH 1:* (FLAGS UID)".to_string();
    let mut op = OpResult {
        name: "fetch_flags",
        command: cmd.clone(),
        runs: vec![],
        result: String::new(),
    };
    for _ in 0..cfg.repeat {
        let t0 = Instant::now();
        let r = c.simple(&cmd).await?;
        op.runs.push(t0.elapsed());
        status_ok(&r, &cmd)?;
        let k = r
            .untagged
            .iter()
            .filter(|u| {
                u.numbered().is_some_and(|(_, w)| {
                    starts_with_ci(w, b"FETCH")
                        && w.windows(4).any(|x| x.eq_ignore_ascii_case(b"UID "))
                })
            })
            .count() as u64;
        check(k == n, format!("FETCH 1:*: {k} responses, expected {n}"))?;
        op.result = format!("{k} FETCH responses");
    }
    out.push(op);

    // Searches.
    for (name, cmd, want) in [
        (
            "search_subject",
            format!("UID SEARCH HEADER Subject {}", quote(corpus::SUBJECT_WORD)),
            subj,
        ),
        (
            "search_body",
            format!("UID SEARCH BODY {}", quote(corpus::BODY_WORD)),
            body,
        ),
    ] {
        let mut op = OpResult {
            name,
            command: cmd.clone(),
            runs: vec![],
            result: String::new(),
        };
        for _ in 0..cfg.repeat {
            let t0 = Instant::now();
            let r = c.simple(&cmd).await?;
            op.runs.push(t0.elapsed());
            status_ok(&r, &cmd)?;
            let k = search_count(&r);
            check(k == want, format!("{cmd}: {k} UIDs, expected {want}"))?;
            op.result = format!("{k} UIDs");
        }
        out.push(op);
    }

    // RFC 5256 SORT and THREAD over the whole mailbox (webmail's view):
    // every message comes back once.
    for (name, cmd, word) in [
        (
            "sort_date",
            "UID SORT (REVERSE DATE) UTF-8 ALL",
            &b"SORT"[..],
        ),
        ("sort_subject", "UID SORT (SUBJECT) UTF-8 ALL", b"SORT"),
        (
            "thread_references",
            "UID THREAD REFERENCES UTF-8 ALL",
            b"THREAD",
        ),
    ] {
        let mut op = OpResult {
            name,
            command: cmd.to_string(),
            runs: vec![],
            result: String::new(),
        };
        for _ in 0..cfg.repeat {
            let t0 = Instant::now();
            let r = c.simple(cmd).await?;
            op.runs.push(t0.elapsed());
            status_ok(&r, cmd)?;
            let k = numbers_in(&r, word);
            check(k == n, format!("{cmd}: {k} UIDs, expected {n}"))?;
            op.result = format!("{k} UIDs");
        }
        out.push(op);
    }

    let _ = c.simple("LOGOUT").await;
    Ok(out)
}
