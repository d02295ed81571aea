//! async-imap, an independent IMAP client, against the in-process server
//! over plain TCP, STARTTLS and implicit TLS: login, select, fetch (flags,
//! envelope, body), store, search, IDLE woken by another connection, logout.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response};
use async_imap::types::{Fetch, Flag};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use pillarbox_testkit::TestServer;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const CONFIG: &str = "[imap]\nallow_plaintext_auth = true\nauth_failure_delay_ms = 0\n";
const USER: &str = "alice@example.org";
const PW: &str = "correct horse battery staple";
/// A bound against hangs, not a delay.
const LIMIT: Duration = Duration::from_secs(20);

trait Stream: AsyncRead + AsyncWrite + Unpin + Debug + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Debug + Send> Stream for T {}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob Sender <bob@remote.test>\r\nTo: Alice <alice@example.org>\r\n\
         Subject: {subject}\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
         Message-ID: <{}@remote.test>\r\n\r\n{body}",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

async fn server_with_mail(subjects: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start(CONFIG).await;
    server.add_user(USER, PW).await;
    for (subject, body) in subjects {
        server.deliver(USER, &message(subject, body)).await;
    }
    server
}

async fn client<S: Stream>(stream: S, greeting: bool) -> Client<S> {
    let mut client = Client::new(stream);
    if greeting {
        let g = within("greeting", client.read_response())
            .await
            .expect("read greeting")
            .expect("a greeting");
        assert!(
            matches!(g.parsed(), Response::Data { .. }),
            "greeting: {:?}",
            g.parsed()
        );
    }
    client
}

async fn login<S: Stream>(client: Client<S>) -> Session<S> {
    within("login", client.login(USER, PW))
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

async fn plain(server: &TestServer) -> Client<TcpStream> {
    let tcp = TcpStream::connect(server.addr("imap"))
        .await
        .expect("connect");
    client(tcp, true).await
}

async fn read_line(tcp: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        let n = within("line", tcp.read(&mut byte)).await.expect("read");
        assert_eq!(n, 1, "connection closed after {line:?}");
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// `imaps` (implicit TLS) or `imap` with STARTTLS spoken by hand first
/// (async-imap has no STARTTLS helper).
async fn tls(server: &TestServer, name: &str) -> Client<TlsStream<TcpStream>> {
    let mut tcp = TcpStream::connect(server.addr(name))
        .await
        .expect("connect");
    if name == "imap" {
        let greeting = read_line(&mut tcp).await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        tcp.write_all(b"s1 STARTTLS\r\n").await.expect("write");
        let reply = read_line(&mut tcp).await;
        assert!(reply.starts_with("s1 OK"), "{reply}");
    }
    let host = ServerName::try_from("localhost").expect("name");
    let stream = within(
        "TLS handshake",
        TlsConnector::from(server.client_tls.clone()).connect(host, tcp),
    )
    .await
    .expect("TLS handshake");
    client(stream, name == "imaps").await
}

async fn fetch<S: Stream>(s: &mut Session<S>, set: &str, items: &str) -> Vec<Fetch> {
    let stream = within("FETCH", s.fetch(set, items))
        .await
        .unwrap_or_else(|e| panic!("FETCH {set} {items}: {e}"));
    within("FETCH data", stream.try_collect())
        .await
        .unwrap_or_else(|e| panic!("FETCH {set} {items}: {e}"))
}

async fn uid_fetch<S: Stream>(s: &mut Session<S>, set: &str, items: &str) -> Vec<Fetch> {
    let stream = within("UID FETCH", s.uid_fetch(set, items))
        .await
        .unwrap_or_else(|e| panic!("UID FETCH {set} {items}: {e}"));
    within("UID FETCH data", stream.try_collect())
        .await
        .unwrap_or_else(|e| panic!("UID FETCH {set} {items}: {e}"))
}

async fn store<S: Stream>(s: &mut Session<S>, set: &str, change: &str) -> Vec<Fetch> {
    let stream = within("STORE", s.store(set, change))
        .await
        .unwrap_or_else(|e| panic!("STORE {set} {change}: {e}"));
    within("STORE data", stream.try_collect())
        .await
        .unwrap_or_else(|e| panic!("STORE {set} {change}: {e}"))
}

async fn uid_search<S: Stream>(s: &mut Session<S>, query: &str) -> Vec<u32> {
    let mut v: Vec<u32> = within("UID SEARCH", s.uid_search(query))
        .await
        .unwrap_or_else(|e| panic!("UID SEARCH {query}: {e}"))
        .into_iter()
        .collect();
    v.sort_unstable();
    v
}

/// The flags of a FETCH, sorted, without \Recent (gone in IMAP4rev2; a
/// rev1 server may or may not show it).
fn flags(f: &Fetch) -> Vec<String> {
    let mut v: Vec<String> = f
        .flags()
        .filter(|f| *f != Flag::Recent)
        .map(|f| format!("{f:?}"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn login_select_fetch_store_search_logout() {
    let mut server = server_with_mail(&[
        ("first message", "Hello one.\r\n"),
        ("second message", "Hello two, with a needle.\r\n"),
        ("third message", "Hello three.\r\n"),
    ])
    .await;

    // a wrong password is refused and the client can try again
    let c = plain(&server).await;
    let (err, c) = within("bad login", c.login(USER, "wrong"))
        .await
        .expect_err("wrong password refused");
    assert!(matches!(err, async_imap::error::Error::No(_)), "{err:?}");
    let mut s = login(c).await;

    let caps = within("CAPABILITY", s.capabilities())
        .await
        .expect("CAPABILITY");
    for c in ["IMAP4rev1", "IDLE", "UIDPLUS", "MOVE"] {
        assert!(caps.has_str(c), "CAPABILITY lacks {c}");
    }

    let mb = within("SELECT", s.select("INBOX")).await.expect("SELECT");
    assert_eq!(mb.exists, 3);
    assert_eq!(mb.uid_next, Some(4));
    assert!(mb.uid_validity.is_some_and(|v| v > 0));
    assert!(mb.flags.contains(&Flag::Seen));
    assert!(mb.permanent_flags.contains(&Flag::Deleted));

    let all = fetch(&mut s, "1:*", "(UID FLAGS RFC822.SIZE ENVELOPE)").await;
    assert_eq!(all.len(), 3);
    let subjects = ["first message", "second message", "third message"];
    for (i, f) in all.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(f.message, n);
        assert_eq!(f.uid, Some(n));
        assert!(flags(f).is_empty(), "new mail has no flags: {:?}", flags(f));
        let env = f.envelope().expect("ENVELOPE");
        assert_eq!(env.subject.as_deref(), Some(subjects[i].as_bytes()));
        let body = [
            "Hello one.\r\n",
            "Hello two, with a needle.\r\n",
            "Hello three.\r\n",
        ][i];
        assert_eq!(
            f.size,
            Some(message(subjects[i], body).len() as u32),
            "RFC822.SIZE"
        );
    }
    let env = all[0].envelope().expect("ENVELOPE");
    let from = &env.from.as_ref().expect("from")[0];
    assert_eq!(from.name.as_deref(), Some(&b"Bob Sender"[..]));
    assert_eq!(from.mailbox.as_deref(), Some(&b"bob"[..]));
    assert_eq!(from.host.as_deref(), Some(&b"remote.test"[..]));
    let to = &env.to.as_ref().expect("to")[0];
    assert_eq!(to.mailbox.as_deref(), Some(&b"alice"[..]));
    assert_eq!(
        env.date.as_deref(),
        Some(&b"Thu, 01 Jan 2026 00:00:00 +0000"[..])
    );
    assert_eq!(
        env.message_id.as_deref(),
        Some(&b"<first.message@remote.test>"[..])
    );

    // BODY.PEEK[] leaves \Seen alone, BODY[] sets it
    let f = fetch(&mut s, "2", "BODY.PEEK[]").await;
    assert_eq!(
        f[0].body(),
        Some(&message("second message", "Hello two, with a needle.\r\n")[..])
    );
    let f = fetch(&mut s, "2", "FLAGS").await;
    assert!(flags(&f[0]).is_empty(), "{:?}", flags(&f[0]));
    let f = fetch(&mut s, "2", "(BODY[TEXT] BODY[HEADER])").await;
    assert_eq!(f[0].text(), Some(&b"Hello two, with a needle.\r\n"[..]));
    assert!(
        f[0].header()
            .is_some_and(|h| h.ends_with(b"\r\n\r\n") && h.starts_with(b"From: "))
    );
    let f = fetch(&mut s, "2", "FLAGS").await;
    assert_eq!(flags(&f[0]), ["Seen"]);

    // STORE reports the new flags; .SILENT reports nothing
    let f = store(&mut s, "1", "+FLAGS (\\Flagged $Work)").await;
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].message, 1);
    assert_eq!(flags(&f[0]), ["Custom(\"$Work\")", "Flagged"]);
    let f = store(&mut s, "3", "+FLAGS.SILENT (\\Answered)").await;
    assert!(f.is_empty(), "FLAGS.SILENT: {f:?}");
    let f = store(&mut s, "1", "-FLAGS ($Work)").await;
    assert_eq!(flags(&f[0]), ["Flagged"]);
    let by_uid = uid_fetch(&mut s, "1:*", "(UID FLAGS)").await;
    let got: Vec<(Option<u32>, Vec<String>)> = by_uid.iter().map(|f| (f.uid, flags(f))).collect();
    assert_eq!(
        got,
        [
            (Some(1), vec!["Flagged".to_string()]),
            (Some(2), vec!["Seen".to_string()]),
            (Some(3), vec!["Answered".to_string()]),
        ]
    );

    // SEARCH by flags, header and body text
    assert_eq!(uid_search(&mut s, "FLAGGED").await, [1]);
    assert_eq!(uid_search(&mut s, "UNSEEN").await, [1, 3]);
    assert_eq!(uid_search(&mut s, "ANSWERED").await, [3]);
    assert_eq!(uid_search(&mut s, "SUBJECT \"third\"").await, [3]);
    assert_eq!(uid_search(&mut s, "BODY needle").await, [2]);
    assert_eq!(uid_search(&mut s, "OR FLAGGED SEEN").await, [1, 2]);
    let mut seqs: Vec<u32> = within("SEARCH", s.search("SUBJECT message NOT SEEN"))
        .await
        .expect("SEARCH")
        .into_iter()
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 3]);

    within("NOOP", s.noop()).await.expect("NOOP");
    within("LOGOUT", s.logout()).await.expect("LOGOUT");
    server.stop().await;
}

/// The next `* n EXISTS` or `* n FETCH` pushed during IDLE (other data,
/// e.g. RECENT, is skipped).
async fn idle_event<S: Stream>(handle: &mut async_imap::extensions::idle::Handle<S>) -> String {
    for _ in 0..5 {
        let (wait, _stop) = handle.wait_with_timeout(LIMIT);
        match within("IDLE event", wait).await.expect("IDLE") {
            IdleResponse::NewData(d) => match d.parsed() {
                Response::MailboxData(MailboxDatum::Exists(n)) => return format!("{n} EXISTS"),
                Response::Fetch(n, attrs) => {
                    let mut fl: Vec<String> = attrs
                        .iter()
                        .filter_map(|a| match a {
                            AttributeValue::Flags(f) => Some(f.iter().map(|x| x.to_string())),
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    fl.sort();
                    return format!("{n} FETCH {}", fl.join(" "));
                }
                _ => continue,
            },
            other => panic!("IDLE ended without news: {other:?}"),
        }
    }
    panic!("no EXISTS or FETCH during IDLE");
}

#[tokio::test]
async fn idle_is_woken_by_another_connection() {
    let mut server = server_with_mail(&[("before idle", "One.\r\n")]).await;

    // the idler on implicit TLS, the other device on STARTTLS
    let mut idler = login(tls(&server, "imaps").await).await;
    let mb = within("SELECT", idler.select("INBOX"))
        .await
        .expect("SELECT");
    assert_eq!(mb.exists, 1);
    let mut other = login(tls(&server, "imap").await).await;
    within("SELECT", other.select("INBOX"))
        .await
        .expect("SELECT");

    let mut handle = idler.idle();
    within("IDLE", handle.init()).await.expect("IDLE accepted");

    // a flag change from the other connection
    let changer = tokio::spawn(async move {
        let f = store(&mut other, "1", "+FLAGS (\\Flagged)").await;
        assert_eq!(f.len(), 1);
        other
    });
    assert_eq!(idle_event(&mut handle).await, "1 FETCH \\Flagged");
    let mut other = changer.await.expect("changer");

    // a new message from another connection (APPEND)
    let appended = message("appended during idle", "Two.\r\n");
    within(
        "APPEND",
        other.append("INBOX", Some("(\\Seen)"), None, &appended),
    )
    .await
    .expect("APPEND");
    assert_eq!(idle_event(&mut handle).await, "2 EXISTS");

    // a delivery straight into the store
    server
        .deliver(USER, &message("delivered during idle", "Three.\r\n"))
        .await;
    assert_eq!(idle_event(&mut handle).await, "3 EXISTS");

    let mut idler = within("DONE", handle.done()).await.expect("DONE");
    let f = fetch(&mut idler, "1:*", "(UID FLAGS ENVELOPE)").await;
    let got: Vec<(Vec<String>, String)> = f
        .iter()
        .map(|f| {
            (
                flags(f),
                f.envelope()
                    .and_then(|e| e.subject.as_deref())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (vec!["Flagged".to_string()], "before idle".to_string()),
            (vec!["Seen".to_string()], "appended during idle".to_string()),
            (vec![], "delivered during idle".to_string()),
        ]
    );
    within("LOGOUT", other.logout()).await.expect("LOGOUT");
    within("LOGOUT", idler.logout()).await.expect("LOGOUT");
    server.stop().await;
}

/// A message of about `size` octets of varied text.
fn large_message(size: usize) -> Vec<u8> {
    let mut m = message("large", "");
    let mut i = 0u64;
    while m.len() < size {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        m.extend_from_slice(format!("{i:016x} at {}\r\n", m.len()).as_bytes());
    }
    m
}

/// A body of several store frames streams out in chunks (the server holds
/// a bounded slice of it at a time, see `fetch::stream`); the client gets
/// every octet, over TLS, followed by the answers to pipelined commands in
/// order.
#[tokio::test]
async fn large_bodies_stream_out_intact() {
    let big = large_message(3 * 1024 * 1024 + 5);
    let mut server = TestServer::start(CONFIG).await;
    server.add_user(USER, PW).await;
    server.deliver(USER, &big).await;
    server
        .deliver(USER, &message("small", "After the big one.\r\n"))
        .await;

    let mut s = login(tls(&server, "imaps").await).await;
    within("SELECT", s.select("INBOX")).await.expect("SELECT");
    let f = fetch(&mut s, "1:2", "(UID BODY.PEEK[])").await;
    assert_eq!(f.len(), 2);
    assert!(f[0].body() == Some(&big[..]), "large body differs");
    assert_eq!(
        f[1].body(),
        Some(&message("small", "After the big one.\r\n")[..])
    );
    within("LOGOUT", s.logout()).await.expect("LOGOUT");

    // Pipelined: FETCH, then NOOP and a second FETCH in the same write.
    let mut tcp = TcpStream::connect(server.addr("imap"))
        .await
        .expect("connect");
    read_line(&mut tcp).await;
    tcp.write_all(
        format!("a LOGIN {USER} \"{PW}\"\r\nb EXAMINE INBOX\r\nc FETCH 1 BODY.PEEK[]\r\nd NOOP\r\ne FETCH 2 RFC822.SIZE\r\n")
            .as_bytes(),
    )
    .await
    .expect("write");
    loop {
        let l = read_line(&mut tcp).await;
        if l.starts_with("b ") {
            break;
        }
    }
    let head = read_line(&mut tcp).await;
    assert_eq!(head, format!("* 1 FETCH (BODY[] {{{}}}\r\n", big.len()));
    let mut body = vec![0u8; big.len()];
    within("literal", tcp.read_exact(&mut body))
        .await
        .expect("literal");
    assert!(body == big, "pipelined large body differs");
    let mut rest = Vec::new();
    while !rest.last().is_some_and(|l: &String| l.starts_with("e ")) {
        rest.push(read_line(&mut tcp).await);
    }
    assert_eq!(
        rest,
        [
            ")\r\n".to_string(),
            "c OK FETCH completed\r\n".to_string(),
            "d OK NOOP completed\r\n".to_string(),
            format!(
                "* 2 FETCH (RFC822.SIZE {})\r\n",
                message("small", "After the big one.\r\n").len()
            ),
            "e OK FETCH completed\r\n".to_string(),
        ]
    );
    server.stop().await;
}
