//! IDLE: holding many idle sessions open (for the server's memory per
//! connection), and push latency between two sessions.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::conn::{Conn, Seg, Target, quote};
use crate::corpus;

pub struct HoldConfig {
    pub target: Target,
    pub users: Vec<String>,
    pub password: String,
    pub conns: usize,
    pub sources: Vec<IpAddr>,
    pub concurrency: usize,
    pub hold: Duration,
}

/// Opens `conns` sessions (connect, TLS if asked, LOGIN, SELECT INBOX,
/// IDLE), prints `READY ok=.. failed=.. secs=..`, then keeps them until
/// standard input closes (or a line arrives) or `hold` passes, and closes
/// them all.
pub async fn hold(cfg: HoldConfig) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(cfg.conns);
    for i in 0..cfg.conns {
        let cfg = cfg.clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(io::Error::other)?;
            let source = if cfg.sources.is_empty() {
                None
            } else {
                Some(cfg.sources[i % cfg.sources.len()])
            };
            let mut c = Conn::connect(&cfg.target, source, 1024).await?;
            let user = &cfg.users[i % cfg.users.len()];
            let r = c
                .simple(&format!("LOGIN {} {}", quote(user), quote(&cfg.password)))
                .await?;
            if !r.ok() {
                return Err(io::Error::other(format!("LOGIN {user}: {}", r.text)));
            }
            let r = c.simple("SELECT INBOX").await?;
            if !r.ok() {
                return Err(io::Error::other(format!("SELECT: {}", r.text)));
            }
            let (tag, _) = c.idle_start().await?;
            Ok::<_, io::Error>((c, tag))
        }));
    }
    let mut held = Vec::with_capacity(cfg.conns);
    let mut failed = 0usize;
    let mut first_err = None;
    for t in tasks {
        match t.await.map_err(io::Error::other)? {
            Ok(c) => held.push(c),
            Err(e) => {
                failed += 1;
                first_err.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = first_err {
        eprintln!("idle-hold: {failed} sessions failed; first error: {e}");
    }
    println!(
        "READY ok={} failed={failed} secs={:.1}",
        held.len(),
        t0.elapsed().as_secs_f64()
    );
    // Wait for the driver (stdin) or the time limit.
    // (A blocking thread: the workspace's tokio has no io-std feature.)
    let stdin = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 64];
        std::io::Read::read(&mut std::io::stdin(), &mut buf)
    });
    let _ = tokio::time::timeout(cfg.hold, stdin).await;
    drop(held);
    println!("DONE");
    Ok(())
}

pub struct LatencyConfig {
    pub target: Target,
    pub user: String,
    pub password: String,
    pub iterations: usize,
}

pub struct LatencyResult {
    /// APPEND sent on session B → `* n EXISTS` seen on idling session A.
    pub push: Vec<Duration>,
    /// APPEND sent → its tagged OK on B.
    pub append: Vec<Duration>,
}

/// Session A selects INBOX and IDLEs; session B APPENDs to that INBOX; the
/// time until A sees the new EXISTS is the push latency. A ends IDLE and
/// restarts it each iteration (outside the timed part).
pub async fn latency(cfg: &LatencyConfig) -> io::Result<LatencyResult> {
    let login = format!("LOGIN {} {}", quote(&cfg.user), quote(&cfg.password));
    let mut a = Conn::connect(&cfg.target, None, 16 << 10).await?;
    let mut b = Conn::connect(&cfg.target, None, 16 << 10).await?;
    for c in [&mut a, &mut b] {
        let r = c.simple(&login).await?;
        if !r.ok() {
            return Err(io::Error::other(format!("LOGIN: {}", r.text)));
        }
    }
    let r = a.simple("SELECT INBOX").await?;
    let mut exists = r
        .untagged
        .iter()
        .find_map(|u| {
            u.numbered()
                .filter(|(_, w)| w.eq_ignore_ascii_case(b"EXISTS"))
                .map(|(n, _)| n)
        })
        .ok_or_else(|| io::Error::other("SELECT INBOX: no EXISTS"))?;
    let mut out = LatencyResult {
        push: Vec::with_capacity(cfg.iterations),
        append: Vec::with_capacity(cfg.iterations),
    };
    for i in 0..cfg.iterations {
        let (tag_a, _) = a.idle_start().await?;
        let msg = corpus::message(1_000_000 + i as u64);
        let t0 = Instant::now();
        let tag_b = b
            .send(&[Seg::Text(b"APPEND INBOX "), Seg::Lit(&msg)])
            .await?;
        // A waits for the new EXISTS (other untagged data is skipped) while
        // B waits for its tagged OK; each is timed on its own.
        let want = exists + 1;
        let wait_push = async {
            loop {
                let r = a.read_resp().await?;
                if let Some((n, w)) = r.numbered()
                    && w.eq_ignore_ascii_case(b"EXISTS")
                    && n >= want
                {
                    return Ok::<_, io::Error>(t0.elapsed());
                }
            }
        };
        let wait_ok = async {
            let rb = b.wait(&tag_b).await?;
            Ok::<_, io::Error>((rb, t0.elapsed()))
        };
        let (push, ok) = tokio::join!(wait_push, wait_ok);
        let (push, (rb, append)) = (push?, ok?);
        if !rb.ok() {
            return Err(io::Error::other(format!("APPEND: {}", rb.text)));
        }
        let r = a.idle_done(&tag_a).await?;
        if !r.ok() {
            return Err(io::Error::other(format!("IDLE: {}", r.text)));
        }
        exists = want;
        out.push.push(push);
        out.append.push(append);
    }
    let _ = a.simple("LOGOUT").await;
    let _ = b.simple("LOGOUT").await;
    Ok(out)
}
