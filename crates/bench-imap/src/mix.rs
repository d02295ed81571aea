//! The imaptest-style mixed load.
//!
//! Each client owns one mailbox (its own account's INBOX by default, or
//! `bench-<client>` when several clients share an account) and loops until
//! the deadline:
//!
//! connect (+TLS) → LOGIN → SELECT → FETCH k (FLAGS ENVELOPE BODY[]) →
//! STORE +FLAGS (\Seen \Flagged) → APPEND → STORE +FLAGS.SILENT (\Deleted)
//! → EXPUNGE → LOGOUT
//!
//! and checks every answer: tagged OK; SELECT's EXISTS equals what this
//! client left in the mailbox last time (its appends and expunges, nobody
//! else touches it); FETCH returns exactly the asked messages each with
//! FLAGS, ENVELOPE and a non-empty BODY[]; a STORE echo (if any) shows
//! \Flagged; APPEND
//! answers OK (with APPENDUID where UIDPLUS is offered); EXPUNGE reports
//! exactly the one message marked; the EXISTS the server announced equals
//! the count the client expects before LOGOUT (one NOOP allowed to let a
//! lagging EXISTS arrive); LOGOUT sends BYE. A failed check counts an
//! error for that command, the connection is dropped and the client starts
//! over (relearning the mailbox size at the next SELECT).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Reply, Seg, Target, contains_ci, quote};
use crate::corpus;
use crate::stats::{Kind, Stats};

#[derive(Clone)]
pub struct MixConfig {
    pub target: Target,
    pub user_fmt: String,
    pub password: String,
    pub first_user: usize,
    pub users: usize,
    pub clients: usize,
    pub duration: Duration,
    pub fetch: u32,
    pub msg_size: usize,
    pub source: Option<IpAddr>,
    pub verbose_errors: usize,
}

pub fn user_name(fmt: &str, n: usize) -> String {
    fmt.replace("%d", &n.to_string())
}

/// A small xorshift PRNG (no dependency; quality is irrelevant here).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in 1..=n (n ≥ 1).
    pub fn seq(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32 + 1
    }
}

struct Failure {
    kind: Kind,
    msg: String,
}

fn fail<T>(kind: Kind, msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        kind,
        msg: msg.into(),
    })
}

fn io_fail(kind: Kind) -> impl Fn(io::Error) -> Failure {
    move |e| Failure {
        kind,
        msg: format!("I/O: {e}"),
    }
}

fn need_ok(kind: Kind, r: &Reply) -> Result<(), Failure> {
    if r.ok() {
        Ok(())
    } else {
        fail(kind, format!("tagged {}", r.text))
    }
}

/// Client state carried across sessions.
struct Client {
    id: usize,
    user: String,
    mailbox: String,
    /// Messages this client expects in its mailbox (None: unknown, learn at
    /// the next SELECT).
    expected: Option<u32>,
    appended: u64,
    rng: Rng,
    stats: Stats,
}

/// The mailbox size as the server has announced it in this session.
struct View {
    exists: u32,
}

impl View {
    /// Applies EXISTS / EXPUNGE from untagged responses; returns the
    /// sequence numbers expunged.
    fn apply(&mut self, r: &Reply) -> Vec<u32> {
        let mut gone = Vec::new();
        for u in &r.untagged {
            if let Some((n, what)) = u.numbered() {
                if what.eq_ignore_ascii_case(b"EXISTS") {
                    self.exists = n;
                } else if what.eq_ignore_ascii_case(b"EXPUNGE") {
                    self.exists = self.exists.saturating_sub(1);
                    gone.push(n);
                }
            }
        }
        gone
    }
}

pub async fn run(cfg: MixConfig) -> io::Result<(Stats, Duration)> {
    let cfg = Arc::new(cfg);
    let share = cfg.users < cfg.clients;
    // Prepare: every client's mailbox exists (shared accounts get one
    // mailbox per client), untimed.
    if share {
        for id in 0..cfg.clients {
            let user = user_name(&cfg.user_fmt, cfg.first_user + id % cfg.users);
            let mut c = Conn::connect(&cfg.target, cfg.source, 16 << 10).await?;
            let r = c
                .simple(&format!("LOGIN {} {}", quote(&user), quote(&cfg.password)))
                .await?;
            if !r.ok() {
                return Err(io::Error::other(format!("LOGIN {user}: {}", r.text)));
            }
            let _ = c.simple(&format!("CREATE bench-{id}")).await?;
            let _ = c.simple("LOGOUT").await;
        }
    }
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut tasks = Vec::with_capacity(cfg.clients);
    for id in 0..cfg.clients {
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let user = user_name(&cfg.user_fmt, cfg.first_user + id % cfg.users);
            let mailbox = if share {
                format!("bench-{id}")
            } else {
                "INBOX".to_string()
            };
            let mut cl = Client {
                id,
                user,
                mailbox,
                expected: None,
                appended: 0,
                rng: Rng::new(id as u64 + 1),
                stats: Stats::default(),
            };
            let mut shown = 0;
            while Instant::now() < deadline {
                if let Err(f) = iteration(&cfg, &mut cl).await {
                    cl.stats.error(f.kind);
                    cl.expected = None;
                    if shown < cfg.verbose_errors {
                        shown += 1;
                        eprintln!(
                            "client {} ({}): {}: {}",
                            cl.id,
                            cl.user,
                            f.kind.name(),
                            f.msg
                        );
                    }
                    // Do not spin on a server that refuses everything.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            cl.stats
        }));
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(t.await.map_err(io::Error::other)?);
    }
    Ok((total, start.elapsed()))
}

async fn timed<F, T>(kind: Kind, f: F) -> Result<(T, Duration), Failure>
where
    F: std::future::Future<Output = io::Result<T>>,
{
    let t0 = Instant::now();
    let out = f.await.map_err(io_fail(kind))?;
    Ok((out, t0.elapsed()))
}

async fn iteration(cfg: &MixConfig, cl: &mut Client) -> Result<(), Failure> {
    let (mut c, d) = timed(
        Kind::Connect,
        Conn::connect(&cfg.target, cfg.source, 64 << 10),
    )
    .await?;
    cl.stats.ok(Kind::Connect, d);

    // LOGIN
    let login = format!("LOGIN {} {}", quote(&cl.user), quote(&cfg.password));
    let (r, d) = timed(Kind::Login, c.simple(&login)).await?;
    need_ok(Kind::Login, &r)?;
    cl.stats.ok(Kind::Login, d);

    // SELECT
    let sel = format!("SELECT {}", quote(&cl.mailbox));
    let (r, d) = timed(Kind::Select, c.simple(&sel)).await?;
    need_ok(Kind::Select, &r)?;
    let mut view = View { exists: u32::MAX };
    view.apply(&r);
    if view.exists == u32::MAX {
        return fail(Kind::Select, "no EXISTS in SELECT response");
    }
    if !contains_ci(r.text.as_bytes(), b"READ-WRITE") {
        return fail(Kind::Select, format!("not READ-WRITE: {}", r.text));
    }
    if let Some(e) = cl.expected
        && e != view.exists
    {
        return fail(
            Kind::Select,
            format!("EXISTS {} but this client left {e} messages", view.exists),
        );
    }
    let mut expected = view.exists;
    cl.expected = Some(expected);
    cl.stats.ok(Kind::Select, d);

    // FETCH k (FLAGS ENVELOPE BODY[])
    if view.exists > 0 {
        let k = cfg.fetch.min(view.exists).max(1);
        let first = cl.rng.seq(view.exists - k + 1);
        let last = first + k - 1;
        let cmd = format!("FETCH {first}:{last} (FLAGS ENVELOPE BODY[])");
        let (r, d) = timed(Kind::Fetch, c.simple(&cmd)).await?;
        need_ok(Kind::Fetch, &r)?;
        let mut seen = vec![false; k as usize];
        for u in &r.untagged {
            let Some((n, what)) = u.numbered() else {
                continue;
            };
            if !crate::conn::starts_with_ci(what, b"FETCH") {
                continue;
            }
            if n < first || n > last {
                return fail(Kind::Fetch, format!("unasked FETCH for {n}: {}", u.text()));
            }
            let has_body = contains_ci(&u.line, b"BODY[] {")
                && u.literals.iter().any(|l| contains_ci(l, b"Subject:"));
            if !has_body {
                // A separate unsolicited FLAGS update is allowed; the
                // data must come in one response per message.
                if contains_ci(&u.line, b"ENVELOPE") || contains_ci(&u.line, b"BODY[]") {
                    return fail(Kind::Fetch, format!("bad FETCH response: {}", u.text()));
                }
                continue;
            }
            if !contains_ci(&u.line, b"FLAGS (") || !contains_ci(&u.line, b"ENVELOPE (") {
                return fail(
                    Kind::Fetch,
                    format!("FETCH lacks FLAGS/ENVELOPE: {}", u.text()),
                );
            }
            let slot = &mut seen[(n - first) as usize];
            if *slot {
                return fail(Kind::Fetch, format!("message {n} fetched twice"));
            }
            *slot = true;
        }
        if let Some(miss) = seen.iter().position(|s| !s) {
            return fail(
                Kind::Fetch,
                format!("no BODY[] for message {}", first + miss as u32),
            );
        }
        cl.stats.ok(Kind::Fetch, d);

        // STORE +FLAGS (\Seen \Flagged)
        let s = cl.rng.seq(view.exists);
        let cmd = format!("STORE {s} +FLAGS (\\Seen \\Flagged)");
        let (r, d) = timed(Kind::Store, c.simple(&cmd)).await?;
        need_ok(Kind::Store, &r)?;
        // The server SHOULD echo the new flags; Dovecot omits the FETCH when
        // the flags did not change (the message was flagged before), so
        // only an echo that lacks \Flagged is an error.
        for u in &r.untagged {
            if let Some((n, w)) = u.numbered()
                && n == s
                && crate::conn::starts_with_ci(w, b"FETCH")
                && contains_ci(w, b"FLAGS")
                && !contains_ci(w, b"\\Flagged")
            {
                return fail(
                    Kind::Store,
                    format!("STORE echo lacks \\Flagged: {}", u.text()),
                );
            }
        }
        view.apply(&r);
        cl.stats.ok(Kind::Store, d);
    }

    // APPEND
    cl.appended += 1;
    let msg = corpus::sized_message(cl.id, cl.appended, cfg.msg_size);
    let head = format!("APPEND {} (\\Seen) ", quote(&cl.mailbox));
    let (r, d) = timed(
        Kind::Append,
        c.command(&[Seg::Text(head.as_bytes()), Seg::Lit(&msg)]),
    )
    .await?;
    need_ok(Kind::Append, &r)?;
    expected += 1;
    cl.expected = Some(expected);
    view.apply(&r);
    cl.stats.ok(Kind::Append, d);

    // EXPUNGE one message: STORE \Deleted, then EXPUNGE.
    let n = view.exists.min(expected);
    if n > 0 {
        let s = cl.rng.seq(n);
        let cmd = format!("STORE {s} +FLAGS.SILENT (\\Deleted)");
        let (r, d) = timed(Kind::Store, c.simple(&cmd)).await?;
        need_ok(Kind::Store, &r)?;
        view.apply(&r);
        cl.stats.ok(Kind::Store, d);

        let (r, d) = timed(Kind::Expunge, c.simple("EXPUNGE")).await?;
        need_ok(Kind::Expunge, &r)?;
        let gone = view.apply(&r);
        if gone != [s] {
            return fail(Kind::Expunge, format!("expunged {gone:?}, expected [{s}]"));
        }
        expected -= 1;
        cl.expected = Some(expected);
        cl.stats.ok(Kind::Expunge, d);
    }

    // The server's view must match ours (one NOOP lets a late EXISTS in).
    if view.exists != expected {
        let (r, d) = timed(Kind::Noop, c.simple("NOOP")).await?;
        need_ok(Kind::Noop, &r)?;
        view.apply(&r);
        cl.stats.ok(Kind::Noop, d);
        if view.exists != expected {
            return fail(
                Kind::Noop,
                format!(
                    "server says {} messages, client expects {expected}",
                    view.exists
                ),
            );
        }
    }

    // LOGOUT
    let (r, d) = timed(Kind::Logout, c.simple("LOGOUT")).await?;
    need_ok(Kind::Logout, &r)?;
    if !r.untagged.iter().any(|u| u.is_untagged(b"BYE")) {
        return fail(Kind::Logout, "no * BYE");
    }
    cl.stats.ok(Kind::Logout, d);
    Ok(())
}
