//! Issue 5 abuse limits on message structure, through the real server:
//! a message with MIME nested 10 000 deep, one with 4 000 000 tiny parts
//! (40 MB) and one with 2 000 000 header fields (36 MB) are delivered over
//! SMTP. They are within the default 50 MiB size limit, so they are
//! accepted (an admin expects mail within the configured size to be
//! delivered, not lost): structure beyond `message::mime::MAX_DEPTH` (64)
//! levels and `MAX_PARTS` (10 000) parts is kept as one opaque part, and
//! what full-text search and the summary parse is cut down the same way.
//! They are then read back with IMAP FETCH BODYSTRUCTURE, ENVELOPE,
//! BODY[1.2.3], SEARCH BODY and POP3 RETR. Each step finishes within a
//! generous time bound, the process's peak memory stays under
//! [`MAX_PEAK_KIB`] (the 1 000 000 parts and 200 000 fields are
//! exceeded fourfold and tenfold so that this bound tells a bounded parse
//! from one that allocates per part or field: without the cuts the peaks
//! were 1.3 GiB and 690 MiB, with them about 210 MiB), and a second
//! client is served while the bomb is being read. The tests run one at a
//! time, so the peak is one bomb's.

use std::time::{Duration, Instant};

use pillarbox_testkit::{Conn, TestServer};

const USER: &str = "alice@example.org";
/// Generous bounds for a debug build on a busy machine: what they catch
/// is quadratic or unbounded work (minutes, or never).
const STEP: Duration = Duration::from_secs(60);
/// Peak resident memory of the whole test process, the test's own copies
/// of the message included.
const MAX_PEAK_KIB: u64 = 512 * 1024;

/// One bomb at a time, so the peak memory is one bomb's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn server() -> TestServer {
    server_with("").await
}

async fn server_with(extra: &str) -> TestServer {
    let s = TestServer::start(&format!(
        "[imap]\nallow_plaintext_auth = true\nauth_failure_delay_ms = 0\n\
         [pop3]\nallow_plaintext_auth = true\nauth_failure_delay_ms = 0\n{extra}"
    ))
    .await;
    s.add_user(USER, "secret").await;
    s
}

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn line(c: &mut Conn) -> String {
    c.read_line().await.expect("read").expect("not eof")
}

/// Delivers `body` (CRLF lines, no line starting with ".") over SMTP to
/// the MX listener; returns the final reply.
async fn deliver(s: &TestServer, message: &[u8]) -> String {
    let mut c = s.connect("smtp").await;
    line(&mut c).await;
    for cmd in [
        "EHLO client.example.net",
        "MAIL FROM:<mallory@example.net>",
        &format!("RCPT TO:<{USER}>"),
        "DATA",
    ] {
        c.send_line(cmd).await.expect("send");
        // The last line of a reply has a space after the code.
        let last = loop {
            let l = line(&mut c).await;
            if l.as_bytes().get(3) != Some(&b'-') {
                break l;
            }
        };
        assert!(
            last.starts_with('2') || last.starts_with('3'),
            "{cmd}: {last}"
        );
    }
    let started = Instant::now();
    c.send_raw(message).await.expect("data");
    c.send_raw(b".\r\n").await.expect("dot");
    let reply = line(&mut c).await;
    eprintln!(
        "DATA: {:?}, peak {} MiB",
        started.elapsed(),
        peak_kib() / 1024
    );
    assert!(
        started.elapsed() < STEP,
        "DATA took {:?}",
        started.elapsed()
    );
    reply
}

async fn imap_login(s: &TestServer) -> Conn {
    let mut c = s.connect("imap").await;
    line(&mut c).await;
    c.send_line(&format!("l LOGIN {USER} secret"))
        .await
        .expect("send");
    assert!(
        c.read_until("l ")
            .await
            .expect("login")
            .last()
            .expect("l")
            .starts_with("l OK")
    );
    c.send_line("s SELECT INBOX").await.expect("send");
    assert!(
        c.read_until("s ")
            .await
            .expect("select")
            .last()
            .expect("s")
            .starts_with("s OK")
    );
    c
}

/// Runs one IMAP command; returns the response lines (literals included as
/// lines) and the total octets, after checking it completed OK in time.
async fn imap(c: &mut Conn, tag: &str, cmd: &str) -> (Vec<String>, usize) {
    let started = Instant::now();
    c.send_line(&format!("{tag} {cmd}")).await.expect("send");
    let lines = c.read_until(&format!("{tag} ")).await.expect("response");
    let elapsed = started.elapsed();
    eprintln!("{cmd}: {elapsed:?}, peak {} MiB", peak_kib() / 1024);
    assert!(elapsed < STEP, "{cmd} took {elapsed:?}");
    let last = lines.last().expect("tagged");
    assert!(last.starts_with(&format!("{tag} OK")), "{cmd}: {last}");
    let octets = lines.iter().map(|l| l.len() + 2).sum();
    (lines, octets)
}

/// RETR 1 over POP3: the whole message comes back, in time.
async fn pop3_retr(s: &TestServer, size: usize) {
    let mut c = s.connect("pop3").await;
    line(&mut c).await;
    c.send_line(&format!("USER {USER}")).await.expect("send");
    assert!(line(&mut c).await.starts_with("+OK"));
    c.send_line("PASS secret").await.expect("send");
    assert!(line(&mut c).await.starts_with("+OK"));
    let started = Instant::now();
    c.send_line("RETR 1").await.expect("send");
    assert!(line(&mut c).await.starts_with("+OK"));
    let mut octets = 0;
    loop {
        let l = line(&mut c).await;
        if l == "." {
            break;
        }
        octets += l.len() + 2;
    }
    assert!(
        started.elapsed() < STEP,
        "RETR took {:?}",
        started.elapsed()
    );
    // Received: and Return-Path: were prepended at delivery.
    assert!(octets > size, "{octets} <= {size}");
    c.send_line("QUIT").await.expect("send");
}

/// A small client is served promptly while another reads the bomb.
async fn others_are_served(s: &TestServer, bomb_cmd: &str) {
    let mut heavy = imap_login(s).await;
    heavy
        .send_line(&format!("h {bomb_cmd}"))
        .await
        .expect("send");
    let mut light = s.connect("imap").await;
    let started = Instant::now();
    line(&mut light).await;
    light.send_line("n NOOP").await.expect("send");
    assert!(
        light
            .read_until("n ")
            .await
            .expect("noop")
            .last()
            .expect("n")
            .starts_with("n OK")
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let lines = heavy.read_until("h ").await.expect("heavy");
    assert!(lines.last().expect("h").starts_with("h OK"));
}

/// Reads the message back every way, checks its bounded structure.
async fn read_back(s: &TestServer, size: usize) -> Vec<String> {
    let mut c = imap_login(s).await;
    let (bs, _) = imap(&mut c, "f1", "FETCH 1 BODYSTRUCTURE").await;
    imap(&mut c, "f2", "FETCH 1 ENVELOPE").await;
    imap(&mut c, "f3", "FETCH 1 BODY.PEEK[1.2.3]").await;
    imap(
        &mut c,
        "f4",
        "FETCH 1 (BODY.PEEK[1.2.3.MIME] BODY.PEEK[TEXT]<0.100>)",
    )
    .await;
    imap(&mut c, "f5", "FETCH 1 RFC822.SIZE").await;
    imap(&mut c, "f6", "SEARCH BODY needle").await;
    pop3_retr(s, size).await;
    let peak = peak_kib();
    eprintln!("peak RSS so far: {} MiB", peak / 1024);
    assert!(peak < MAX_PEAK_KIB, "peak RSS {peak} KiB");
    bs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mime_nested_ten_thousand_deep() {
    let _one = SERIAL.lock().await;
    let s = server().await;
    let depth = 10_000;
    let mut m = String::from(
        "From: mallory@example.net\r\nTo: alice@example.org\r\nSubject: deep\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n",
    );
    for i in 0..depth {
        m.push_str(&format!(
            "--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
            i + 1
        ));
    }
    m.push_str(&format!(
        "--b{depth}\r\nContent-Type: text/plain\r\n\r\nneedle\r\n"
    ));
    for i in (0..=depth).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    let reply = deliver(&s, m.as_bytes()).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let bs = read_back(&s, m.len()).await;
    // The structure stops at the nesting bound: at most MAX_DEPTH + 1
    // nested multiparts are described.
    let opened = bs.iter().map(|l| l.matches('(').count()).sum::<usize>();
    assert!(opened < 200, "{opened} parentheses in BODYSTRUCTURE");
    others_are_served(&s, "FETCH 1 (BODYSTRUCTURE BODY[])").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_million_tiny_parts() {
    let _one = SERIAL.lock().await;
    let s = server().await;
    let parts = 4_000_000;
    let mut m = String::with_capacity(parts * 12 + 300);
    m.push_str(
        "From: mallory@example.net\r\nTo: alice@example.org\r\nSubject: many\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n",
    );
    for _ in 0..parts {
        m.push_str("--x\r\n\r\na\r\n");
    }
    m.push_str("--x--\r\n");
    assert!(m.len() < 50 * 1024 * 1024);
    let reply = deliver(&s, m.as_bytes()).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let bs = read_back(&s, m.len()).await;
    // At most MAX_PARTS parts are described (each a few dozen octets).
    let described: usize = bs.iter().map(|l| l.matches("\"TEXT\"").count()).sum();
    assert!(described <= 10_000, "{described} parts described");
    let mut c = imap_login(&s).await;
    // A part beyond the bound is not addressable; a part within is.
    let (lines, _) = imap(&mut c, "p1", "FETCH 1 BODY.PEEK[5000]").await;
    assert!(lines[0].contains("BODY[5000] {1}"), "{lines:?}");
    imap(&mut c, "p2", "FETCH 1 BODY.PEEK[999999]").await;
    others_are_served(&s, "FETCH 1 BODYSTRUCTURE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_million_header_fields() {
    let _one = SERIAL.lock().await;
    // With SPF/DKIM/DMARC on, as in production: the MX path parses the
    // header for them too.
    let dns = pillarbox_delivery::test_dns::TestDns::start()
        .await
        .expect("dns");
    let s = server_with(&format!(
        "[delivery]\nverify_inbound = true\n[dns]\nnameservers = [\"{}\"]\ntimeout_secs = 2\n",
        dns.addr()
    ))
    .await;
    let fields = 2_000_000;
    let mut m = String::from("From: mallory@example.net\r\nTo: alice@example.org\r\n");
    // Some of them DKIM signatures, each a DNS query if verified.
    for i in 0..fields {
        if i % 1000 == 0 {
            m.push_str(&format!(
                "DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=s{i}; h=from; bh=AAAA; b=AAAA\r\n"
            ));
        }
        m.push_str(&format!("X-Filler-{i}: v\r\n"));
    }
    m.push_str("Subject: many fields\r\n\r\nneedle\r\n");
    let reply = deliver(&s, m.as_bytes()).await;
    assert!(reply.starts_with("250 "), "{reply}");
    read_back(&s, m.len()).await;
    let mut c = imap_login(&s).await;
    let (lines, _) = imap(&mut c, "e", "FETCH 1 ENVELOPE").await;
    assert!(
        lines[0].contains("\"many fields\""),
        "{}",
        &lines[0][..200.min(lines[0].len())]
    );
    imap(
        &mut c,
        "h",
        "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT X-FILLER-1999999)]",
    )
    .await;
    others_are_served(&s, "FETCH 1 (BODY[HEADER] ENVELOPE)").await;
}
