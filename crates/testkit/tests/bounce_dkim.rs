//! The queue's notices are DKIM-signed: a submission to a recipient the
//! remote server refuses comes back to the sender as a bounce from
//! `MAILER-DAEMON@mail.a.example`, signed (Ed25519 and RSA) by the keys of
//! `a.example`, the nearest of our domains with keys (DMARC relaxed
//! alignment), and both signatures verify against the published records.

use std::time::Duration;

use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use pillarbox::dns_records::key_records;
use pillarbox_delivery::test_dns::TestDns;
use pillarbox_testkit::{Conn, TestServer};

/// `\0alice@a.example\0secret`, base64 (RFC 4616 PLAIN).
const ALICE_PLAIN: &str = "AGFsaWNlQGEuZXhhbXBsZQBzZWNyZXQ=";

async fn expect(conn: &mut Conn, send: &str, reply: &str) {
    conn.send_line(send).await.expect("send");
    let lines = conn
        .read_until(&format!("{} ", &reply[..3]))
        .await
        .expect("reply");
    assert!(
        lines.last().expect("line").starts_with(reply),
        "{send} -> {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_carries_verifiable_dkim_signatures() {
    let dns = TestDns::start().await.expect("dns");
    // B: the remote MX, which knows no `nobody@b.example` (550 at RCPT).
    let mut b = TestServer::start("hostname = \"mx.b.example\"\n").await;
    b.add_user("bob@b.example", "hunter2").await;
    let mut a = TestServer::start(&format!(
        "hostname = \"mail.a.example\"\n\
         [[queue.route]]\ndomain = \"b.example\"\nhost = \"127.0.0.1\"\nport = {}\n",
        b.addr("smtp").port()
    ))
    .await;
    a.add_user("alice@a.example", "secret").await;
    let keys = a.store.dkim_keys("a.example").await.expect("keys");
    for record in key_records(&keys).expect("records") {
        dns.txt(
            &format!("{}._domainkey.a.example", record.selector),
            &record.value,
        );
    }
    let alice = a
        .store
        .account("alice@a.example")
        .await
        .expect("lookup")
        .expect("alice");
    let mut changes = a.store.subscribe(alice.id);

    let mut conn = a.connect("submissions").await;
    conn.read_until("220 ").await.expect("greeting");
    expect(&mut conn, "EHLO client.a.example", "250").await;
    expect(&mut conn, &format!("AUTH PLAIN {ALICE_PLAIN}"), "235").await;
    expect(&mut conn, "MAIL FROM:<alice@a.example>", "250").await;
    expect(&mut conn, "RCPT TO:<nobody@b.example>", "250").await;
    expect(&mut conn, "DATA", "354").await;
    conn.send_raw(
        b"From: alice@a.example\r\nTo: nobody@b.example\r\nSubject: lost\r\n\r\nHello?\r\n.\r\n",
    )
    .await
    .expect("data");
    conn.read_until("250 ").await.expect("accepted");
    expect(&mut conn, "QUIT", "221").await;

    // The queue delivers at once, B refuses, the bounce lands in Alice's
    // INBOX (the change feed wakes us).
    tokio::time::timeout(Duration::from_secs(60), changes.recv())
        .await
        .expect("a bounce in time")
        .expect("change feed");
    let inbox = a
        .store
        .mailbox_by_name(alice.id, "INBOX")
        .await
        .expect("lookup")
        .expect("INBOX");
    let entries = a.store.entries(alice.id, inbox.id).await.expect("entries");
    let bounce = a
        .store
        .message_bytes(alice.id, entries[0].message)
        .await
        .expect("bytes")
        .to_vec();
    let text = String::from_utf8_lossy(&bounce);
    assert!(text.contains("\r\nFrom: Mail Delivery System <MAILER-DAEMON@mail.a.example>\r\n"));
    assert!(text.contains("Action: failed"), "{text}");
    let header = &text[..text.find("\r\n\r\n").expect("header end")];
    assert_eq!(header.matches("DKIM-Signature:").count(), 2, "{header}");

    let (config, options) =
        pillarbox_dns::resolver_config(&[dns.addr().to_string()], 5).expect("resolver config");
    let verifier = MessageAuthenticator::new(config, options).expect("resolver");
    let message = AuthenticatedMessage::parse(&bounce).expect("parse");
    let results = verifier.verify_dkim(&message).await;
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(*r.result(), DkimResult::Pass, "{results:?}");
        assert_eq!(r.signature().expect("signature").d, "a.example");
    }
    // Changed in transit: fails.
    let tampered = text.replace("Action: failed", "Action: delivered");
    let message = AuthenticatedMessage::parse(tampered.as_bytes()).expect("parse");
    for r in verifier.verify_dkim(&message).await {
        assert_ne!(*r.result(), DkimResult::Pass);
    }
    a.stop().await;
    b.stop().await;
}
