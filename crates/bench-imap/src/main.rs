//! `pillarbox-bench-imap`: an imaptest-style IMAP load generator and the
//! IMAP measurements of DESIGN.md §9, for `bench/imap-bench.sh`. It works
//! against any IMAP server (Pillarbox, Dovecot) over plain TCP or implicit
//! TLS, checks every answer it gets, and prints a human summary followed by
//! one `RESULT {json}` line per measurement for scripts.
//!
//! Modes (run with no arguments for the options):
//! - `mix`: N clients looping login/select/fetch/store/append/expunge/logout
//!   for a fixed duration; ops/s, errors, p50/p99 per command.
//! - `seed`: append corpus messages (MULTIAPPEND batches, LITERAL+).
//! - `gen-maildir`: write the same corpus as Maildir files (for Dovecot).
//! - `big`: time STATUS, SELECT, FETCH 1:* (FLAGS UID), UID SEARCH HEADER
//!   Subject, UID SEARCH BODY on a large mailbox, checking the results.
//! - `idle-hold`: open many idling sessions and hold them (memory test).
//! - `idle-latency`: IDLE push latency between two sessions.

mod big;
mod conn;
mod corpus;
mod idle;
mod mix;
mod seed;
mod stats;

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use conn::Target;
use stats::{Json, KINDS, Kind, pct_ms};

const USAGE: &str = "\
usage: pillarbox-bench-imap MODE [options]

common options:
  --host IP            server address (default 127.0.0.1)
  --port N             server port (default 143)
  --tls                implicit TLS (any certificate accepted, no resumption)
  --user-fmt FMT       account name pattern, %d = number (default user%d@example.org)
  --password PW        password of every account (default secret)
  --timeout SECS       bound on any single response (default 120)
  --label TEXT         copied into the RESULT line

mix          --clients 10 --duration 30 [--users N (default = clients)]
             [--first-user 1] [--fetch 5] [--msg-size 2048] [--source IP]
             [--errors 5 (how many error messages to print per client)]
seed         --user ADDR | --users N [--first-user 1]; --count N [--start 0]
             [--batch 500] [--conns 4] [--mailbox INBOX]
gen-maildir  --dir MAILDIR --count N [--start 0]
big          --user ADDR --count N [--start 0] [--repeat 5] [--mailbox INBOX]
idle-hold    --conns N [--users N] [--first-user 1] [--sources 127.0.0.2,127.0.0.3]
             [--concurrency 64] [--hold SECS (default 600)]
idle-latency --user ADDR [--iterations 1000]
";

struct Args {
    mode: String,
    vals: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut it = std::env::args().skip(1);
        let mode = it.next().ok_or("no mode")?;
        let mut vals = HashMap::new();
        let mut flags = Vec::new();
        while let Some(a) = it.next() {
            let Some(k) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a}"));
            };
            if k == "tls" {
                flags.push(k.to_string());
                continue;
            }
            let v = it.next().ok_or(format!("--{k} needs a value"))?;
            vals.insert(k.to_string(), v);
        }
        Ok(Args { mode, vals, flags })
    }

    fn str(&self, k: &str, default: &str) -> String {
        self.vals
            .get(k)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    fn opt(&self, k: &str) -> Option<String> {
        self.vals.get(k).cloned()
    }

    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.vals.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{k}: bad number {v}")),
        }
    }

    fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }

    fn target(&self) -> Result<Target, String> {
        let host = self.str("host", "127.0.0.1");
        let port = self.num("port", 143u16)?;
        let timeout = Duration::from_secs(self.num("timeout", 120u64)?);
        Target::new(&host, port, self.flag("tls"), timeout).map_err(|e| e.to_string())
    }

    fn users(&self) -> Result<Vec<String>, String> {
        if let Some(u) = self.opt("user") {
            return Ok(vec![u]);
        }
        let fmt = self.str("user-fmt", "user%d@example.org");
        let first = self.num("first-user", 1usize)?;
        let n = self.num("users", 1usize)?;
        Ok((first..first + n)
            .map(|i| mix::user_name(&fmt, i))
            .collect())
    }

    fn base_json(&self, mode: &str) -> Json {
        let mut j = Json::default();
        j.str("mode", mode)
            .str("label", &self.str("label", ""))
            .str("host", &self.str("host", "127.0.0.1"))
            .int("port", self.num("port", 143u64).unwrap_or(0))
            .int("tls", u64::from(self.flag("tls")));
        j
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pillarbox-bench-imap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn err(e: io::Error) -> String {
    e.to_string()
}

async fn run(args: Args) -> Result<(), String> {
    match args.mode.as_str() {
        "mix" => run_mix(&args).await,
        "seed" => run_seed(&args).await,
        "gen-maildir" => {
            let dir = PathBuf::from(args.opt("dir").ok_or("--dir is required")?);
            let count = args.num("count", 0u64)?;
            let start = args.num("start", 0u64)?;
            let d = seed::gen_maildir(&dir, start, count).map_err(err)?;
            println!(
                "wrote {count} messages to {} in {:.2} s",
                dir.display(),
                d.as_secs_f64()
            );
            Ok(())
        }
        "big" => run_big(&args).await,
        "idle-hold" => {
            let cfg = idle::HoldConfig {
                target: args.target()?,
                users: args.users()?,
                password: args.str("password", "secret"),
                conns: args.num("conns", 100usize)?,
                sources: args
                    .str("sources", "")
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<IpAddr>()
                            .map_err(|_| format!("--sources: bad IP {s}"))
                    })
                    .collect::<Result<_, _>>()?,
                concurrency: args.num("concurrency", 64usize)?,
                hold: Duration::from_secs(args.num("hold", 600u64)?),
            };
            idle::hold(cfg).await.map_err(err)
        }
        "idle-latency" => run_latency(&args).await,
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        m => Err(format!("unknown mode {m}\n{USAGE}")),
    }
}

async fn run_mix(args: &Args) -> Result<(), String> {
    let clients = args.num("clients", 10usize)?;
    let cfg = mix::MixConfig {
        target: args.target()?,
        user_fmt: args.str("user-fmt", "user%d@example.org"),
        password: args.str("password", "secret"),
        first_user: args.num("first-user", 1usize)?,
        users: args.num("users", clients)?.max(1),
        clients,
        duration: Duration::from_secs_f64(args.num("duration", 30.0f64)?),
        fetch: args.num("fetch", 5u32)?,
        msg_size: args.num("msg-size", 2048usize)?,
        source: match args.opt("source") {
            Some(s) => Some(s.parse().map_err(|_| format!("--source: bad IP {s}"))?),
            None => None,
        },
        verbose_errors: args.num("errors", 5usize)?,
    };
    let (stats, elapsed) = mix::run(cfg.clone()).await.map_err(err)?;
    let secs = elapsed.as_secs_f64();
    let mut j = args.base_json("mix");
    j.int("clients", clients as u64).num("secs", secs);
    println!(
        "mix: {clients} clients, {secs:.1} s, {} {}",
        if args.flag("tls") { "TLS" } else { "plain" },
        args.str("label", "")
    );
    println!(
        "{:<8} {:>9} {:>9} {:>7} {:>9} {:>9}",
        "command", "count", "ops/s", "errors", "p50 ms", "p99 ms"
    );
    let (mut total, mut errors) = (0u64, 0u64);
    for k in KINDS {
        let pk = stats.get(k);
        let mut lat = pk.lat_us.clone();
        lat.sort_unstable();
        let n = lat.len() as u64;
        if n == 0 && pk.errors == 0 {
            continue;
        }
        let rate = n as f64 / secs;
        let (p50, p99) = (pct_ms(&lat, 50.0), pct_ms(&lat, 99.0));
        println!(
            "{:<8} {n:>9} {rate:>9.1} {:>7} {p50:>9.2} {p99:>9.2}",
            k.name(),
            pk.errors
        );
        j.num(&format!("{}_per_s", k.name()), rate)
            .int(&format!("{}_errors", k.name()), pk.errors)
            .num(&format!("{}_p50_ms", k.name()), p50)
            .num(&format!("{}_p99_ms", k.name()), p99);
        errors += pk.errors;
        if k.is_command() {
            total += n;
        }
    }
    let total_rate = total as f64 / secs;
    let logins = stats.get(Kind::Logout).lat_us.len() as f64 / secs;
    println!(
        "total: {total} IMAP commands, {total_rate:.1} commands/s, {logins:.1} full sessions/s, {errors} errors"
    );
    j.num("commands_per_s", total_rate)
        .num("sessions_per_s", logins)
        .int("errors", errors);
    println!("RESULT {}", j.finish());
    Ok(())
}

async fn run_seed(args: &Args) -> Result<(), String> {
    let target = args.target()?;
    let count = args.num("count", 0u64)?;
    let users = args.users()?;
    let mut j = args.base_json("seed");
    let t0 = std::time::Instant::now();
    for user in &users {
        let cfg = seed::SeedConfig {
            target: target.clone(),
            user: user.clone(),
            password: args.str("password", "secret"),
            mailbox: args.str("mailbox", "INBOX"),
            start: args.num("start", 0u64)?,
            count,
            batch: args.num("batch", 500u64)?.max(1),
            conns: args.num("conns", 4usize)?,
        };
        seed::seed(cfg)
            .await
            .map_err(|e| format!("seeding {user}: {e}"))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let total = count * users.len() as u64;
    println!(
        "seeded {count} messages into each of {} mailbox(es) in {secs:.2} s ({:.0} msg/s)",
        users.len(),
        total as f64 / secs
    );
    j.int("messages", total)
        .num("secs", secs)
        .num("msg_per_s", total as f64 / secs);
    println!("RESULT {}", j.finish());
    Ok(())
}

async fn run_big(args: &Args) -> Result<(), String> {
    let cfg = big::BigConfig {
        target: args.target()?,
        user: args.opt("user").ok_or("--user is required")?,
        password: args.str("password", "secret"),
        mailbox: args.str("mailbox", "INBOX"),
        start: args.num("start", 0u64)?,
        count: args.num("count", 0u64)?,
        repeat: args.num("repeat", 5usize)?.max(1),
    };
    let ops = big::run(&cfg).await.map_err(err)?;
    let mut j = args.base_json("big");
    j.int("messages", cfg.count)
        .int("repeat", cfg.repeat as u64);
    println!(
        "{:<15} {:>10} {:>10} {:>10}  check",
        "command", "first ms", "median ms", "min ms"
    );
    for op in &ops {
        let ms: Vec<f64> = op.runs.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let first = ms.first().copied().unwrap_or(f64::NAN);
        // Median and minimum of the repeats after the first (warm runs);
        // with one run, of that run.
        let mut warm: Vec<f64> = if ms.len() > 1 {
            ms[1..].to_vec()
        } else {
            ms.clone()
        };
        warm.sort_by(f64::total_cmp);
        let median = warm.get(warm.len() / 2).copied().unwrap_or(f64::NAN);
        let min = warm.first().copied().unwrap_or(f64::NAN);
        println!(
            "{:<15} {first:>10.2} {median:>10.2} {min:>10.2}  {} ({})",
            op.name, op.result, op.command
        );
        j.num(&format!("{}_first_ms", op.name), first)
            .num(&format!("{}_median_ms", op.name), median)
            .num(&format!("{}_min_ms", op.name), min);
    }
    println!("RESULT {}", j.finish());
    Ok(())
}

async fn run_latency(args: &Args) -> Result<(), String> {
    let cfg = idle::LatencyConfig {
        target: args.target()?,
        user: args.opt("user").ok_or("--user is required")?,
        password: args.str("password", "secret"),
        iterations: args.num("iterations", 1000usize)?.max(1),
    };
    let r = idle::latency(&cfg).await.map_err(err)?;
    let mut j = args.base_json("idle-latency");
    j.int("iterations", cfg.iterations as u64);
    for (name, v) in [("push", &r.push), ("append", &r.append)] {
        let mut us: Vec<u32> = v
            .iter()
            .map(|d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
            .collect();
        us.sort_unstable();
        let mean = us.iter().map(|&x| f64::from(x)).sum::<f64>() / us.len().max(1) as f64 / 1000.0;
        let (p50, p99, max) = (pct_ms(&us, 50.0), pct_ms(&us, 99.0), pct_ms(&us, 100.0));
        println!(
            "{name:<7} n={} p50 {p50:.3} ms  p99 {p99:.3} ms  max {max:.3} ms  mean {mean:.3} ms",
            us.len()
        );
        j.num(&format!("{name}_p50_ms"), p50)
            .num(&format!("{name}_p99_ms"), p99)
            .num(&format!("{name}_max_ms"), max)
            .num(&format!("{name}_mean_ms"), mean);
    }
    println!("RESULT {}", j.finish());
    Ok(())
}
