//! End to end, two Pillarbox instances: A accepts a submission from its
//! user, DKIM-signs it with the keys `domain add` made, queues it and
//! delivers it over SMTP to B (A's queue routes B's domain to B's loopback
//! listener); B, the remote MX, verifies SPF, DKIM and DMARC against a
//! local DNS server publishing A's records, and files the message with
//! `dkim=pass spf=pass dmarc=pass` in its `Authentication-Results:` field.

use std::net::Ipv4Addr;
use std::time::Duration;

use pillarbox::dns_records::key_records;
use pillarbox_delivery::test_dns::TestDns;
use pillarbox_store::Store;
use pillarbox_testkit::TestServer;

/// `\0alice@a.example\0secret`, base64 (RFC 4616 PLAIN).
const ALICE_PLAIN: &str = "AGFsaWNlQGEuZXhhbXBsZQBzZWNyZXQ=";

async fn expect(conn: &mut pillarbox_testkit::Conn, send: &str, reply: &str) -> Vec<String> {
    conn.send_line(send).await.expect("send");
    let lines = conn
        .read_until(&format!("{} ", &reply[..3]))
        .await
        .expect("reply");
    let last = lines.last().expect("a reply line");
    assert!(last.starts_with(reply), "{send} -> {lines:?}");
    lines
}

/// The message bytes of the account's first INBOX message, once there.
async fn first_inbox_message(store: &Store, login: &str) -> Vec<u8> {
    let account = store
        .account(login)
        .await
        .expect("lookup")
        .expect("account");
    let inbox = store
        .mailbox_by_name(account.id, "INBOX")
        .await
        .expect("lookup")
        .expect("INBOX");
    let entries = store.entries(account.id, inbox.id).await.expect("entries");
    let entry = entries.first().expect("a message");
    store
        .message_bytes(account.id, entry.message)
        .await
        .expect("bytes")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_submission_passes_spf_dkim_and_dmarc_at_the_remote_mx() {
    let dns = TestDns::start().await.expect("dns");
    let mut b = TestServer::start(&format!(
        "hostname = \"mx.b.example\"\n\
         [delivery]\nverify_inbound = true\n\
         [dns]\nnameservers = [\"{}\"]\ntimeout_secs = 5\n",
        dns.addr()
    ))
    .await;
    b.add_user("bob@b.example", "hunter2").await;
    let mut a = TestServer::start(&format!(
        "hostname = \"mail.a.example\"\n\
         [[queue.route]]\ndomain = \"b.example\"\nhost = \"127.0.0.1\"\nport = {}\n",
        b.addr("smtp").port()
    ))
    .await;
    a.add_user("alice@a.example", "secret").await;

    // What `pillarbox dns a.example` tells the domain owner to publish:
    // the DKIM key records, SPF for A's address, a DMARC policy.
    let keys = a.store.dkim_keys("a.example").await.expect("keys");
    assert_eq!(keys.len(), 2, "domain add made an Ed25519 and an RSA key");
    for record in key_records(&keys).expect("records") {
        dns.txt(
            &format!("{}._domainkey.a.example", record.selector),
            &record.value,
        );
    }
    dns.txt("a.example", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt("mail.a.example", "v=spf1 ip4:127.0.0.1 -all");
    dns.a("mail.a.example", Ipv4Addr::LOCALHOST);
    dns.txt("_dmarc.a.example", "v=DMARC1; p=reject");

    let bob = b
        .store
        .account("bob@b.example")
        .await
        .expect("lookup")
        .expect("bob");
    let mut changes = b.store.subscribe(bob.id);

    let mut conn = a.connect("submission").await;
    conn.read_until("220 ").await.expect("greeting");
    expect(&mut conn, "EHLO client.a.example", "250").await;
    expect(&mut conn, "STARTTLS", "220").await;
    conn.start_tls().await.expect("tls");
    expect(&mut conn, "EHLO client.a.example", "250").await;
    expect(&mut conn, &format!("AUTH PLAIN {ALICE_PLAIN}"), "235").await;
    expect(&mut conn, "MAIL FROM:<alice@a.example>", "250").await;
    expect(&mut conn, "RCPT TO:<bob@b.example>", "250").await;
    expect(&mut conn, "DATA", "354").await;
    conn.send_raw(
        b"From: Alice <alice@a.example>\r\n\
          To: Bob <bob@b.example>\r\n\
          Subject: across the Internet\r\n\
          \r\n\
          Signed at A, verified at B.\r\n\
          .\r\n",
    )
    .await
    .expect("data");
    let accepted = conn.read_until("250 ").await.expect("accepted");
    assert!(accepted[0].starts_with("250 2.0.0"), "{accepted:?}");
    expect(&mut conn, "QUIT", "221").await;

    // A's queue was woken by the submission and delivers at once.
    tokio::time::timeout(Duration::from_secs(60), changes.recv())
        .await
        .expect("B received the message in time")
        .expect("change feed");
    let message =
        String::from_utf8(first_inbox_message(&b.store, "bob@b.example").await).expect("utf-8");
    let header = &message[..message.find("\r\n\r\n").expect("header end")];
    let results = header
        .split("\r\nAuthentication-Results:")
        .nth(1)
        .map(|rest| {
            // The field with its folded continuation lines.
            let end = rest
                .match_indices("\r\n")
                .find(|(at, _)| !rest[at + 2..].starts_with([' ', '\t']))
                .map_or(rest.len(), |(at, _)| at);
            &rest[..end]
        })
        .unwrap_or_else(|| panic!("no Authentication-Results: in\n{header}"));
    assert!(
        results.trim_start().starts_with("mx.b.example"),
        "{results}"
    );
    assert_eq!(
        results.matches("dkim=pass").count(),
        2,
        "both signatures (Ed25519 and RSA) verify: {results}"
    );
    for key in &keys {
        assert!(
            results.contains(&key.selector),
            "{} in {results}",
            key.selector
        );
    }
    assert!(results.contains("spf=pass"), "{results}");
    assert!(results.contains("dmarc=pass"), "{results}");
    assert_eq!(header.matches("DKIM-Signature:").count(), 2, "{header}");
    assert!(
        message.contains("\r\n\r\nSigned at A, verified at B.\r\n"),
        "{message:?}"
    );

    // A's queue empties once B's `250` is recorded (just after B's commit,
    // which woke us): delivered, not bounced. The queue publishes no
    // event, so its state is polled, with a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !a.store.queue_list().await.expect("queue").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A's queue still holds the delivered message"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alice = a
        .store
        .account("alice@a.example")
        .await
        .expect("lookup")
        .expect("alice");
    let inbox = a
        .store
        .mailbox_by_name(alice.id, "INBOX")
        .await
        .expect("lookup")
        .expect("INBOX");
    assert_eq!(inbox.exists, 0, "no bounce came back to Alice");
    a.stop().await;
    b.stop().await;
}
