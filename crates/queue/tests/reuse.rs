//! Connection reuse (the queue's connection cache) against the fake MX:
//! one connection for many messages to one server, dead cached
//! connections replaced without an attempt counted, RSET when due,
//! separate connections per destination, idle expiry and shutdown.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pillarbox_delivery::test_dns::TestDns;
use pillarbox_queue::Route;
use pillarbox_store::*;

mod common;
use common::*;

/// Waits (real time, at most 5 s) until `cond` holds for what the fake
/// MX received: QUIT is sent by a background task.
async fn wait_for(received: &Arc<Mutex<Received>>, cond: impl Fn(&Received) -> bool) {
    for _ in 0..500 {
        if cond(&received.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn counters(s: &Setup) -> QueueCounters {
    s.store.queue_stats().await.unwrap().counters
}

#[tokio::test]
async fn messages_to_one_server_share_one_connection() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
    let s = setup_with(addr.port(), &dns, |c| c.concurrency = 1).await;
    for _ in 0..10 {
        submit(&s, "alice@example.org", &["bob@example.net"]).await;
    }
    // A pass takes at most 4 × concurrency items.
    while s.queue.run_due().await.unwrap() > 0 {}
    assert!(s.store.queue_list().await.unwrap().is_empty());
    let r = received.lock().unwrap();
    assert_eq!(r.messages.len(), 10);
    assert_eq!(r.connections, 1, "one connection for ten messages");
    assert_eq!(r.quits, 0, "still cached");
    assert!(
        !r.commands.iter().any(|c| c.starts_with("RSET")),
        "clean transactions need no RSET: {:?}",
        r.commands
    );
}

#[tokio::test]
async fn a_connection_carries_at_most_max_transactions() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
    let s = setup_with(addr.port(), &dns, |c| {
        c.concurrency = 1;
        c.connection_max_transactions = 3;
    })
    .await;
    for _ in 0..7 {
        submit(&s, "alice@example.org", &["bob@example.net"]).await;
    }
    while s.queue.run_due().await.unwrap() > 0 {}
    wait_for(&received, |r| r.quits == 2).await;
    let r = received.lock().unwrap();
    assert_eq!(r.messages.len(), 7);
    assert_eq!(r.connections, 3, "3 + 3 + 1 transactions");
    assert_eq!(r.quits, 2, "the two full connections were closed with QUIT");
}

#[tokio::test]
async fn reuse_can_be_turned_off() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
    let s = setup_with(addr.port(), &dns, |c| {
        c.concurrency = 1;
        c.connection_idle_secs = 0;
    })
    .await;
    for _ in 0..3 {
        submit(&s, "alice@example.org", &["bob@example.net"]).await;
    }
    s.queue.run_due().await.unwrap();
    wait_for(&received, |r| r.quits == 3).await;
    let r = received.lock().unwrap();
    assert_eq!((r.messages.len(), r.connections, r.quits), (3, 3, 3));
}

/// The server closed the cached connection (EOF on MAIL): the message
/// goes out once on a new connection, and no deferral is counted.
#[tokio::test]
async fn a_cached_connection_closed_by_the_server_is_replaced() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::CloseAfterData, false).await;
    let s = setup(addr.port(), &dns).await;
    s.store.queue_counters_reset(T0 as i64).await.unwrap();
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let id = submit(&s, "alice@example.org", &["carol@example.net"]).await;
    assert_eq!(s.queue.run_due().await.unwrap(), 1);
    {
        let r = received.lock().unwrap();
        assert_eq!(r.connections, 2);
        let rcpts: Vec<&Vec<String>> = r.messages.iter().map(|m| &m.1).collect();
        assert_eq!(rcpts, [&["bob@example.net"], &["carol@example.net"]]);
    }
    assert!(s.store.queue_item(id).await.unwrap().is_none(), "delivered");
    assert_eq!(
        counters(&s).await,
        QueueCounters {
            delivered: 2,
            deferred: 0,
            bounced: 0
        }
    );
    assert!(inbox_messages(&s).await.is_empty(), "no notice");
}

/// `421` to MAIL on the cached connection: a new connection, once.
#[tokio::test]
async fn a_421_on_a_cached_connection_is_retried_on_a_new_one() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Busy421OnSecondMail, false).await;
    let s = setup(addr.port(), &dns).await;
    s.store.queue_counters_reset(T0 as i64).await.unwrap();
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let id = submit(&s, "alice@example.org", &["carol@example.net"]).await;
    s.queue.run_due().await.unwrap();
    {
        let r = received.lock().unwrap();
        assert_eq!((r.connections, r.messages.len()), (2, 2));
    }
    assert!(s.store.queue_item(id).await.unwrap().is_none());
    assert_eq!(counters(&s).await.deferred, 0);
}

/// RFC 5321 §4.1.1.5: a transaction that ended without DATA (every
/// recipient refused) is reset before the connection carries another.
#[tokio::test]
async fn rset_follows_a_transaction_that_did_not_finish() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Reject, false).await;
    let s = setup_with(addr.port(), &dns, |c| c.concurrency = 1).await;
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    submit(&s, "alice@example.org", &["carol@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let r = received.lock().unwrap();
    assert_eq!(r.connections, 1);
    assert_eq!(
        r.commands,
        [
            "MAIL FROM:<alice@example.org>",
            "RCPT TO:<bob@example.net>",
            "RSET",
            "MAIL FROM:<alice@example.org>",
            "RCPT TO:<carol@example.net>",
        ]
    );
}

/// The EHLO capabilities stay with the cached connection: DSN
/// parameters still go on MAIL and RCPT of the second transaction.
#[tokio::test]
async fn a_reused_connection_remembers_dsn() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, true).await;
    let s = setup_with(addr.port(), &dns, |c| c.concurrency = 1).await;
    for to in ["bob@example.net", "carol@example.net"] {
        s.queue
            .submit(
                "alice@example.org",
                vec![NewQueueRecipient {
                    address: to.into(),
                    notify: Some("FAILURE".into()),
                    orcpt: None,
                }],
                DsnEnvelope {
                    ret: Some("HDRS".into()),
                    envid: None,
                },
                message(),
            )
            .await
            .unwrap();
    }
    s.queue.run_due().await.unwrap();
    let r = received.lock().unwrap();
    assert_eq!(r.connections, 1);
    assert_eq!(
        r.commands,
        [
            "MAIL FROM:<alice@example.org> RET=HDRS",
            "RCPT TO:<bob@example.net> NOTIFY=FAILURE",
            "MAIL FROM:<alice@example.org> RET=HDRS",
            "RCPT TO:<carol@example.net> NOTIFY=FAILURE",
        ]
    );
}

#[tokio::test]
async fn different_destinations_do_not_share_connections() {
    let dns = TestDns::start().await.unwrap();
    let (net, net_received) = fake_mx(Behaviour::Accept, false).await;
    let (com, com_received) = fake_mx(Behaviour::Accept, false).await;
    // Two idle connections may be kept (at most `concurrency`).
    let s = setup_with(net.port(), &dns, |c| {
        c.concurrency = 2;
        c.routes.push(Route {
            domain: "example.com".into(),
            host: "127.0.0.1".into(),
            port: com.port(),
        });
    })
    .await;
    for to in [
        "bob@example.net",
        "dave@example.com",
        "carol@example.net",
        "erin@example.com",
    ] {
        submit(&s, "alice@example.org", &[to]).await;
    }
    s.queue.run_due().await.unwrap();
    for (received, domain) in [(net_received, "example.net"), (com_received, "example.com")] {
        let r = received.lock().unwrap();
        assert_eq!((r.connections, r.messages.len()), (1, 2), "{domain}");
        assert!(r.messages.iter().all(|m| m.1[0].ends_with(domain)));
    }
}

/// Idle for `connection_idle_secs` by the injected clock: closed with
/// QUIT at the next pass; the next message connects anew.
#[tokio::test]
async fn idle_connections_expire_with_quit() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
    let s = setup(addr.port(), &dns).await;
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    s.clock.advance(Duration::from_secs(1));
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    assert_eq!(received.lock().unwrap().connections, 1, "1 s idle: reused");
    s.clock.advance(Duration::from_secs(2));
    assert_eq!(s.queue.run_due().await.unwrap(), 0);
    wait_for(&received, |r| r.quits == 1).await;
    assert_eq!(received.lock().unwrap().quits, 1, "expired: QUIT");
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let r = received.lock().unwrap();
    assert_eq!((r.connections, r.messages.len()), (2, 3));
}

/// At shutdown the cached connections are closed with QUIT before
/// [`pillarbox_queue::Queue::run`] returns.
#[tokio::test]
async fn shutdown_closes_cached_connections() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
    let s = setup(addr.port(), &dns).await;
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(s.queue.clone().run(shutdown.clone()));
    wait_for(&received, |r| r.messages.len() == 1).await;
    assert_eq!(received.lock().unwrap().messages.len(), 1);
    // Let the result be recorded and the connection cached.
    for _ in 0..500 {
        if s.store.queue_list().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(received.lock().unwrap().quits, 1);
}
