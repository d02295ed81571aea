//! Filling mailboxes: over IMAP (MULTIAPPEND batches with LITERAL+, several
//! connections in parallel), or by writing Maildir files directly (for
//! Dovecot; it indexes them at the first access).

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::{Conn, Seg, Target, contains_ci, quote};
use crate::corpus;

pub struct SeedConfig {
    pub target: Target,
    pub user: String,
    pub password: String,
    pub mailbox: String,
    pub start: u64,
    pub count: u64,
    pub batch: u64,
    pub conns: usize,
}

/// Appends corpus messages `start..start+count` to the mailbox.
pub async fn seed(cfg: SeedConfig) -> io::Result<Duration> {
    let cfg = Arc::new(cfg);
    let t0 = Instant::now();
    if !cfg.mailbox.eq_ignore_ascii_case("INBOX") {
        let mut c = login(&cfg).await?;
        let _ = c.simple(&format!("CREATE {}", quote(&cfg.mailbox))).await?;
        let _ = c.simple("LOGOUT").await;
    }
    let next = Arc::new(AtomicU64::new(0));
    let chunks = cfg.count.div_ceil(cfg.batch.max(1));
    let mut tasks = Vec::new();
    for _ in 0..cfg.conns.max(1) {
        let cfg = cfg.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = login(&cfg).await?;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= chunks {
                    break;
                }
                let lo = cfg.start + k * cfg.batch;
                let hi = (lo + cfg.batch).min(cfg.start + cfg.count);
                let msgs: Vec<Vec<u8>> = (lo..hi).map(corpus::message).collect();
                let head = format!("APPEND {} ", quote(&cfg.mailbox));
                let mut segs = vec![Seg::Text(head.as_bytes())];
                for (j, m) in msgs.iter().enumerate() {
                    if j > 0 {
                        segs.push(Seg::Text(b" "));
                    }
                    segs.push(Seg::Lit(m));
                }
                let r = c.command(&segs).await?;
                if !r.ok() {
                    return Err(io::Error::other(format!(
                        "APPEND of messages {lo}..{hi}: {}",
                        r.text
                    )));
                }
                if contains_ci(r.text.as_bytes(), b"APPENDUID") {
                    // UIDPLUS: the UID set must cover the batch.
                    let n = uid_set_len(&r.text);
                    if n != Some(hi - lo) {
                        return Err(io::Error::other(format!(
                            "APPENDUID for {} messages: {}",
                            hi - lo,
                            r.text
                        )));
                    }
                }
            }
            let _ = c.simple("LOGOUT").await;
            Ok::<_, io::Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(io::Error::other)??;
    }
    Ok(t0.elapsed())
}

async fn login(cfg: &SeedConfig) -> io::Result<Conn> {
    let mut c = Conn::connect(&cfg.target, None, 64 << 10).await?;
    let r = c
        .simple(&format!(
            "LOGIN {} {}",
            quote(&cfg.user),
            quote(&cfg.password)
        ))
        .await?;
    if !r.ok() {
        return Err(io::Error::other(format!("LOGIN {}: {}", cfg.user, r.text)));
    }
    Ok(c)
}

/// `OK [APPENDUID 123 5:9] ...` → 5 UIDs.
fn uid_set_len(text: &str) -> Option<u64> {
    let i = text.to_ascii_uppercase().find("APPENDUID ")?;
    let rest = &text[i + "APPENDUID ".len()..];
    let set = rest.split_whitespace().nth(1)?.trim_end_matches(']');
    let mut n = 0;
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                n += a.abs_diff(b) + 1;
            }
            None => {
                part.parse::<u64>().ok()?;
                n += 1;
            }
        }
    }
    Some(n)
}

/// Writes corpus messages `start..start+count` as Maildir files in
/// `dir/cur` (seen flag off: `:2,`), with Dovecot's `S=`/`W=` size fields
/// so it need not stat them. No fsync: this is set-up, not measurement.
pub fn gen_maildir(dir: &Path, start: u64, count: u64) -> io::Result<Duration> {
    let t0 = Instant::now();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let cur = dir.join("cur");
    let pid = std::process::id();
    for i in start..start + count {
        let m = corpus::message(i);
        let name = format!(
            "{}.M{i}P{pid}.bench,S={len},W={len}:2,",
            1_764_237_600 + i,
            len = m.len()
        );
        let mut f = std::fs::File::create(cur.join(name))?;
        f.write_all(&m)?;
    }
    Ok(t0.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appenduid_sets() {
        assert_eq!(uid_set_len("OK [APPENDUID 77 5:9] done"), Some(5));
        assert_eq!(uid_set_len("OK [APPENDUID 77 5] done"), Some(1));
        assert_eq!(uid_set_len("OK [APPENDUID 77 1,3:4] x"), Some(3));
    }
}
