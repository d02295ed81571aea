//! POP3 session behaviour against a real SQLite store, fed bytes directly.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use harness::{Harness, test_config, tls_info};
use pillarbox_pop3_server::Pop3Config;
use pillarbox_session::{Clock, Control, Session};
use pillarbox_store::fault::{Fault, Op};

const MSG1: &[u8] = b"From: bob@example.net\r\nTo: alice@example.org\r\nSubject: one\r\n\r\nHello\r\n.hidden dot\r\n..two dots\r\n.\r\nlast line\r\n";
const MSG2: &[u8] =
    b"From: carol@example.net\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";

async fn alice_with_two() -> (Harness, pillarbox_store::AccountId) {
    let h = Harness::new(test_config()).await;
    let a = h.add_user("alice@example.org").await;
    h.deliver(a, MSG1).await;
    h.deliver(a, MSG2).await;
    (h, a)
}

fn lines(s: &str) -> Vec<&str> {
    s.split_terminator("\r\n").collect()
}

#[tokio::test]
async fn capa_without_tls_hides_user_and_sasl_and_offers_stls() {
    let mut h = Harness::new(test_config()).await;
    let mut c = h.client(false).await;
    let r = c.cmd("CAPA").await;
    let l = lines(&r);
    assert_eq!(l[0], "+OK Capability list follows");
    assert_eq!(*l.last().unwrap(), ".");
    for cap in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "UTF8 USER",
        "EXPIRE NEVER",
        "STLS",
        "IMPLEMENTATION Pillarbox",
    ] {
        assert!(l.contains(&cap), "{cap} missing in {r}");
    }
    assert!(!l.contains(&"USER"));
    assert!(!l.iter().any(|x| x.starts_with("SASL")));
    assert!(!l.iter().any(|x| x.starts_with("LOGIN-DELAY")));
}

#[tokio::test]
async fn stls_upgrades_then_capa_offers_auth() {
    let mut h = Harness::new(test_config()).await;
    let mut c = h.client(false).await;
    // Pipelined data after STLS is not processed.
    let r = c.send(b"STLS\r\nCAPA\r\n").await;
    assert_eq!(r, "+OK Begin TLS negotiation\r\n");
    assert_eq!(c.control, Control::StartTls);
    c.buf.clear(); // the driver discards it
    c.session.tls_established(tls_info());
    c.control = Control::Continue;
    let r = c.cmd("CAPA").await;
    let l = lines(&r);
    assert!(l.contains(&"USER"));
    assert!(l.contains(&"SASL SCRAM-SHA-256 PLAIN LOGIN"));
    assert!(!l.contains(&"STLS"));
    assert_eq!(c.cmd("STLS").await, "-ERR TLS already active\r\n");
}

#[tokio::test]
async fn plaintext_auth_refused_without_tls() {
    let mut h = Harness::new(test_config()).await;
    h.add_user("alice@example.org").await;
    let mut c = h.client(false).await;
    let refusal = "-ERR Authentication requires TLS: use STLS first\r\n";
    assert_eq!(c.cmd("USER alice@example.org").await, refusal);
    assert_eq!(c.cmd("PASS secret").await, refusal);
    assert_eq!(
        c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==")
            .await,
        refusal
    );
}

#[tokio::test]
async fn plaintext_auth_allowed_by_config() {
    let mut h = Harness::new(Pop3Config {
        allow_plaintext_auth: true,
        ..test_config()
    })
    .await;
    h.add_user("alice@example.org").await;
    let mut c = h.client(false).await;
    assert!(lines(&c.cmd("CAPA").await).contains(&"USER"));
    assert_eq!(c.cmd("USER alice@example.org").await, "+OK Send PASS\r\n");
    assert_eq!(
        c.cmd("PASS secret").await,
        "+OK Maildrop has 0 messages (0 octets)\r\n"
    );
}

#[tokio::test]
async fn user_pass_then_stat_list_uidl() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.login("Alice@Example.org").await;
    let total = MSG1.len() + MSG2.len();
    assert_eq!(c.cmd("STAT").await, format!("+OK 2 {total}\r\n"));
    assert_eq!(
        c.cmd("LIST").await,
        format!(
            "+OK 2 messages ({total} octets)\r\n1 {}\r\n2 {}\r\n.\r\n",
            MSG1.len(),
            MSG2.len()
        )
    );
    assert_eq!(c.cmd("LIST 2").await, format!("+OK 2 {}\r\n", MSG2.len()));
    let r = c.cmd("UIDL").await;
    let l = lines(&r);
    assert_eq!(l.len(), 4);
    let uid1 = l[1].strip_prefix("1 ").unwrap();
    let uid2 = l[2].strip_prefix("2 ").unwrap();
    for u in [uid1, uid2] {
        assert!((1..=70).contains(&u.len()));
        assert!(u.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }
    assert_ne!(uid1, uid2);
    assert_eq!(c.cmd("UIDL 1").await, format!("+OK 1 {uid1}\r\n"));
    assert_eq!(c.cmd("NOOP").await, "+OK\r\n");
    let (uid1, uid2) = (uid1.to_string(), uid2.to_string());
    assert_eq!(c.cmd("QUIT").await, "+OK Bye\r\n");
    assert_eq!(c.control, Control::Close);

    // Stable across sessions.
    let mut c = h.login("alice@example.org").await;
    assert_eq!(
        c.cmd("UIDL").await,
        format!("+OK Unique-ID listing follows\r\n1 {uid1}\r\n2 {uid2}\r\n.\r\n")
    );
}

#[tokio::test]
async fn retr_is_dot_stuffed_and_size_exact() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    let r = c.cmd("RETR 1").await;
    let (status, body) = r.split_once("\r\n").unwrap();
    assert_eq!(status, format!("+OK {} octets", MSG1.len()));
    assert_eq!(
        body,
        "From: bob@example.net\r\nTo: alice@example.org\r\nSubject: one\r\n\r\nHello\r\n..hidden dot\r\n...two dots\r\n..\r\nlast line\r\n.\r\n"
    );
    let (decoded, used) = pillarbox_pop3_proto::decode_multiline_body(body.as_bytes()).unwrap();
    assert_eq!(used, body.len());
    assert_eq!(decoded, MSG1);
}

#[tokio::test]
async fn top_sends_header_and_n_lines() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    assert_eq!(
        c.cmd("TOP 2 2").await,
        "+OK Top of message follows\r\nFrom: carol@example.net\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\n.\r\n"
    );
    assert_eq!(
        c.cmd("TOP 2 0").await,
        "+OK Top of message follows\r\nFrom: carol@example.net\r\nSubject: two\r\n\r\n.\r\n"
    );
    let r = c.cmd("TOP 1 100").await;
    assert!(r.ends_with("last line\r\n.\r\n"), "{r}");
}

#[tokio::test]
async fn bad_message_numbers() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    for cmd in [
        "RETR 0",
        "RETR 3",
        "LIST 9",
        "UIDL 4294967295",
        "TOP 3 1",
        "DELE 0",
    ] {
        assert_eq!(c.cmd(cmd).await, "-ERR No such message\r\n", "{cmd}");
    }
    assert_eq!(c.cmd("RETR x").await, "-ERR Invalid number\r\n");
    assert_eq!(c.cmd("RETR").await, "-ERR Missing argument\r\n");
}

#[tokio::test]
async fn dele_rset_and_deleted_messages_are_hidden() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    assert_eq!(c.cmd("DELE 1").await, "+OK Message 1 deleted\r\n");
    assert_eq!(c.cmd("DELE 1").await, "-ERR Message already deleted\r\n");
    assert_eq!(c.cmd("RETR 1").await, "-ERR Message is deleted\r\n");
    assert_eq!(c.cmd("LIST 1").await, "-ERR Message is deleted\r\n");
    assert_eq!(c.cmd("STAT").await, format!("+OK 1 {}\r\n", MSG2.len()));
    let r = c.cmd("LIST").await;
    assert_eq!(
        r,
        format!(
            "+OK 1 messages ({} octets)\r\n2 {}\r\n.\r\n",
            MSG2.len(),
            MSG2.len()
        )
    );
    let r = c.cmd("RSET").await;
    assert!(r.starts_with("+OK Maildrop has 2 messages"), "{r}");
    assert_eq!(c.cmd("QUIT").await, "+OK Bye\r\n");
    assert_eq!(h.inbox_count(a).await, 2);
}

#[tokio::test]
async fn dele_quit_expunges_and_next_session_sees_it_gone() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    c.cmd("DELE 1").await;
    assert_eq!(c.cmd("QUIT").await, "+OK Bye (1 messages deleted)\r\n");
    assert_eq!(c.control, Control::Close);
    assert_eq!(h.inbox_count(a).await, 1);
    let mut c = h.login("alice@example.org").await;
    assert_eq!(c.cmd("STAT").await, format!("+OK 1 {}\r\n", MSG2.len()));
    assert!(c.cmd("RETR 1").await.contains("Subject: two"));
}

#[tokio::test]
async fn dropped_connection_or_timeout_deletes_nothing_and_unlocks() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    c.cmd("DELE 1").await;
    c.cmd("DELE 2").await;
    c.close().await;
    assert_eq!(h.inbox_count(a).await, 2);

    let mut c = h.login("alice@example.org").await;
    c.cmd("DELE 1").await;
    let mut out = Vec::new();
    c.session.timed_out(&mut out);
    assert_eq!(out, b"-ERR Idle timeout, closing connection\r\n");
    assert!(!h.ctx.is_locked(a));
    assert_eq!(h.inbox_count(a).await, 2);

    // Dropping a session without `closed` releases the lock too.
    let c = h.login("alice@example.org").await;
    drop(c);
    assert!(!h.ctx.is_locked(a));
}

#[tokio::test]
async fn second_login_gets_in_use_until_the_first_quits() {
    let (mut h, _) = alice_with_two().await;
    let mut first = h.login("alice@example.org").await;
    let mut second = h.client(true).await;
    second.cmd("USER alice@example.org").await;
    assert_eq!(
        second.cmd("PASS secret").await,
        "-ERR [IN-USE] Maildrop is in use by another session\r\n"
    );
    // Still in AUTHORIZATION: may try again.
    first.cmd("QUIT").await;
    second.cmd("USER alice@example.org").await;
    assert!(second.cmd("PASS secret").await.starts_with("+OK"));
}

#[tokio::test]
async fn update_failure_reports_sys_temp_and_deletes_nothing() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    c.cmd("DELE 1").await;
    c.cmd("DELE 2").await;
    // The disk fills up: SQLITE_FULL on the expunge at QUIT.
    h.faulty.fail_writes(Fault::DiskFull);
    assert_eq!(
        c.cmd("QUIT").await,
        "-ERR [SYS/TEMP] Messages could not be deleted; nothing was removed\r\n"
    );
    assert_eq!(c.control, Control::Close);
    assert_eq!(h.faulty.failures(Op::Expunge), 1);
    assert_eq!(h.inbox_count(a).await, 2);
    assert!(!h.ctx.is_locked(a));
    // Space again: the client's retry deletes both.
    h.faulty.heal();
    let mut c = h.login("alice@example.org").await;
    c.cmd("DELE 1").await;
    c.cmd("DELE 2").await;
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(h.inbox_count(a).await, 0);
}

#[tokio::test]
async fn io_error_at_quit_is_sys_temp_too() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    c.cmd("DELE 2").await;
    h.faulty.fail(Op::Expunge, Fault::Io);
    assert!(c.cmd("QUIT").await.starts_with("-ERR [SYS/TEMP] "));
    assert_eq!(h.inbox_count(a).await, 2);
}

#[tokio::test]
async fn store_errors_are_sys_temp() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    for op in [
        Op::Credentials,
        Op::MessageBytes,
        Op::MessageRange,
        Op::MessageHeader,
    ] {
        h.faulty.fail(op, Fault::Io);
    }
    assert_eq!(
        c.cmd("RETR 1").await,
        "-ERR [SYS/TEMP] Temporary server error, try again later\r\n"
    );
    let mut c2 = h.client(true).await;
    c2.cmd("USER bob@example.org").await;
    assert_eq!(
        c2.cmd("PASS x").await,
        "-ERR [SYS/TEMP] Temporary server error, try again later\r\n"
    );
}

#[tokio::test]
async fn bad_password_gets_auth_code_and_too_many_close() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.client(true).await;
    c.cmd("USER alice@example.org").await;
    assert_eq!(
        c.cmd("PASS wrong").await,
        "-ERR [AUTH] Authentication failed\r\n"
    );
    // PASS again needs USER again.
    assert_eq!(c.cmd("PASS secret").await, "-ERR USER first\r\n");
    c.cmd("USER nobody@example.org").await;
    assert_eq!(
        c.cmd("PASS secret").await,
        "-ERR [AUTH] Authentication failed\r\n"
    );
    c.cmd("USER alice@example.org").await;
    assert_eq!(
        c.cmd("PASS nope").await,
        "-ERR [AUTH] Authentication failed; too many failures, closing connection\r\n"
    );
    assert_eq!(c.control, Control::Close);
}

#[tokio::test]
async fn auth_plain_initial_response_and_continuation() {
    let (mut h, _) = alice_with_two().await;
    let ir = B64.encode(b"\0alice@example.org\0secret");
    let mut c = h.client(true).await;
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {ir}")).await,
        "+OK Maildrop has 2 messages (".to_string()
            + &(MSG1.len() + MSG2.len()).to_string()
            + " octets)\r\n"
    );
    c.cmd("QUIT").await;

    let mut c = h.client(true).await;
    assert_eq!(c.cmd("AUTH plain").await, "+ \r\n");
    assert!(c.cmd(&ir).await.starts_with("+OK Maildrop has 2"));
    c.cmd("QUIT").await;

    // Wrong password, cancellation, garbage.
    let mut c = h.client(true).await;
    let bad = B64.encode(b"\0alice@example.org\0wrong");
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {bad}")).await,
        "-ERR [AUTH] Authentication failed\r\n"
    );
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ \r\n");
    assert_eq!(c.cmd("*").await, "-ERR Authentication cancelled\r\n");
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ \r\n");
    assert_eq!(
        c.cmd("!!!").await,
        "-ERR Malformed authentication exchange\r\n"
    );
    assert_eq!(
        c.cmd("AUTH CRAM-MD5").await,
        "-ERR Unsupported authentication mechanism\r\n"
    );
    assert_eq!(
        c.cmd("AUTH").await,
        "+OK Supported mechanisms follow\r\nSCRAM-SHA-256\r\nPLAIN\r\nLOGIN\r\n.\r\n"
    );
}

#[tokio::test]
async fn auth_login() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.client(true).await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    assert_eq!(
        c.cmd(&B64.encode("alice@example.org")).await,
        "+ UGFzc3dvcmQ6\r\n"
    );
    assert!(c.cmd(&B64.encode("secret")).await.starts_with("+OK"));
}

/// A SCRAM-SHA-256 client step: the client-final-message.
fn scram_client_final(password: &str, first_bare: &str, server_first: &str) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let hmac = |k: &[u8], d: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
        m.update(d);
        m.finalize().into_bytes().to_vec()
    };
    let attr = |p: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(p))
            .unwrap()
            .to_string()
    };
    let (nonce, salt, iter) = (attr("r="), B64.decode(attr("s=")).unwrap(), attr("i="));
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        &salt,
        iter.parse().unwrap(),
        &mut salted,
    );
    let client_key = hmac(&salted, b"Client Key");
    let stored = Sha256::digest(&client_key);
    let without = format!("c=biws,r={nonce}");
    let auth = format!("{first_bare},{server_first},{without}");
    let sig = hmac(&stored, auth.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
    format!("{without},p={}", B64.encode(proof))
}

#[tokio::test]
async fn auth_scram_sha256() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.client(true).await;
    let first_bare = "n=alice@example.org,r=fyko+d2lbbFgONRv9qkxdawL";
    let r = c
        .cmd(&format!(
            "AUTH SCRAM-SHA-256 {}",
            B64.encode(format!("n,,{first_bare}"))
        ))
        .await;
    let sf = String::from_utf8(
        B64.decode(r.strip_prefix("+ ").unwrap().trim_end())
            .unwrap(),
    )
    .unwrap();
    let r = c
        .cmd(&B64.encode(scram_client_final("secret", first_bare, &sf)))
        .await;
    let v = String::from_utf8(
        B64.decode(r.strip_prefix("+ ").unwrap().trim_end())
            .unwrap(),
    )
    .unwrap();
    assert!(v.starts_with("v="), "{v}");
    assert!(c.cmd("").await.starts_with("+OK Maildrop has 2"));

    // Wrong password.
    let mut c = h.client(true).await;
    assert_eq!(c.cmd("AUTH SCRAM-SHA-256").await, "+ \r\n");
    let r = c.cmd(&B64.encode(format!("n,,{first_bare}"))).await;
    let sf = String::from_utf8(
        B64.decode(r.strip_prefix("+ ").unwrap().trim_end())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        c.cmd(&B64.encode(scram_client_final("wrong", first_bare, &sf)))
            .await,
        "-ERR [AUTH] Authentication failed\r\n"
    );
}

#[tokio::test]
async fn wrong_state_and_unknown_commands() {
    let (mut h, _) = alice_with_two().await;
    let mut c = h.client(true).await;
    for cmd in [
        "STAT", "LIST", "RETR 1", "DELE 1", "RSET", "NOOP", "TOP 1 1", "UIDL",
    ] {
        assert_eq!(
            c.cmd(cmd).await,
            "-ERR Command not valid in this state\r\n",
            "{cmd}"
        );
    }
    let mut c = h.login("alice@example.org").await;
    for cmd in ["USER a", "PASS b", "AUTH PLAIN", "STLS", "UTF8"] {
        assert_eq!(
            c.cmd(cmd).await,
            "-ERR Command not valid in this state\r\n",
            "{cmd}"
        );
    }
    assert_eq!(c.cmd("XYZZY").await, "-ERR Unknown command\r\n");
    assert_eq!(
        c.cmd("APOP a b").await,
        "-ERR Command not valid in this state\r\n"
    );
    let mut c = h.client(true).await;
    assert_eq!(c.cmd("APOP a b").await, "-ERR Command not supported\r\n");
    assert_eq!(c.cmd("LANG").await, "-ERR Command not supported\r\n");
    assert_eq!(c.cmd("UTF8").await, "+OK UTF8 enabled\r\n");
}

#[tokio::test]
async fn too_many_bad_commands_close() {
    let mut h = Harness::new(test_config()).await;
    let mut c = h.client(false).await;
    for _ in 0..10 {
        assert_eq!(c.cmd("BOGUS").await, "-ERR Unknown command\r\n");
    }
    assert_eq!(
        c.cmd("BOGUS").await,
        "-ERR Too many bad commands, closing connection\r\n"
    );
    assert_eq!(c.control, Control::Close);
}

#[tokio::test]
async fn overlong_line_is_refused_and_skipped() {
    let mut h = Harness::new(test_config()).await;
    let mut c = h.client(false).await;
    let long = format!("USER {}\r\nNOOP", "x".repeat(300));
    // The rest of the long line, then a valid command.
    let r = c.send(long.as_bytes()).await;
    assert_eq!(r, "-ERR Line too long\r\n");
    let r = c.send(b"\r\nCAPA\r\n").await;
    assert!(
        r.starts_with("-ERR Command not valid in this state\r\n+OK Capability"),
        "{r}"
    );
    // Overlong without CRLF: refused once, discarded while it lasts.
    let r = c.send(&[b'A'; 1000]).await;
    assert_eq!(r, "-ERR Line too long\r\n");
    assert!(c.buf.is_empty());
    assert_eq!(c.send(&[b'A'; 1000]).await, "");
    assert_eq!(c.send(b"\r\nQUIT\r\n").await, "+OK Bye\r\n");
}

#[tokio::test]
async fn pipelined_and_byte_at_a_time_give_the_same_output() {
    let (mut h, a) = alice_with_two().await;
    let script = b"USER alice@example.org\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 1 1\r\nDELE 2\r\nRSET\r\nQUIT\r\n";
    let mut c = h.client(true).await;
    let all = c.send(script).await;
    assert_eq!(c.control, Control::Close);
    let mut c = h.client(true).await;
    let mut bytewise = String::new();
    for b in script {
        bytewise.push_str(&c.send(&[*b]).await);
        if c.control != Control::Continue {
            break;
        }
    }
    assert_eq!(all, bytewise);
    assert!(all.ends_with("+OK Bye\r\n"));
    assert_eq!(all.matches("\r\n.\r\n").count(), 4);
    assert_eq!(h.inbox_count(a).await, 2);
}

#[tokio::test]
async fn maildrop_is_a_snapshot() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    h.deliver(a, b"Subject: three\r\n\r\nx\r\n").await;
    assert!(c.cmd("STAT").await.starts_with("+OK 2 "));
    assert_eq!(c.cmd("RETR 3").await, "-ERR No such message\r\n");
    c.cmd("QUIT").await;
    let mut c = h.login("alice@example.org").await;
    assert!(c.cmd("STAT").await.starts_with("+OK 3 "));
}

#[tokio::test]
async fn login_delay_is_advertised_and_enforced() {
    let mut h = Harness::new(Pop3Config {
        login_delay_secs: 60,
        expire_days: Some(30),
        ..test_config()
    })
    .await;
    h.add_user("alice@example.org").await;
    let mut c = h.login("alice@example.org").await;
    let capa = c.cmd("CAPA").await;
    assert!(lines(&capa).contains(&"LOGIN-DELAY 60"));
    assert!(lines(&capa).contains(&"EXPIRE 30"));
    c.cmd("QUIT").await;
    let mut c = h.client(true).await;
    c.cmd("USER alice@example.org").await;
    assert_eq!(
        c.cmd("PASS secret").await,
        "-ERR [LOGIN-DELAY] Logged in too recently\r\n"
    );
    h.clock.advance(Duration::from_secs(61));
    c.cmd("USER alice@example.org").await;
    assert!(c.cmd("PASS secret").await.starts_with("+OK"));
}

#[tokio::test]
async fn idle_timeout_is_at_least_ten_minutes() {
    let mut h = Harness::new(Pop3Config {
        idle_timeout_secs: 5,
        ..test_config()
    })
    .await;
    let c = h.client(false).await;
    assert_eq!(c.session.idle_timeout(), Duration::from_secs(600));
}

#[tokio::test]
async fn greeting_names_the_host() {
    let mut h = Harness::new(test_config()).await;
    let conn = h.conn_info(false);
    let mut s = pillarbox_pop3_server::Pop3Session::new(h.ctx.clone(), conn);
    let mut out = Vec::new();
    s.greeting(&mut out).await;
    assert_eq!(out, b"+OK mail.example.org Pillarbox POP3 server ready\r\n");
}

#[test]
fn config_deserialises_with_defaults_and_rejects_unknown_fields() {
    let c: Pop3Config = toml::from_str("allow_plaintext_auth = true\nexpire_days = 7").unwrap();
    assert!(c.allow_plaintext_auth);
    assert_eq!(c.expire_days, Some(7));
    assert_eq!(c.idle_timeout_secs, 600);
    assert_eq!(c.max_auth_failures, 3);
    assert_eq!(c.auth_failure_delay_ms, 1000);
    assert!(toml::from_str::<Pop3Config>("allow_plaintext = true").is_err());
    assert_eq!(
        toml::from_str::<Pop3Config>("").unwrap(),
        Pop3Config::default()
    );
}

#[tokio::test]
async fn each_failed_login_waits_the_configured_delay_on_the_clock() {
    let mut h = Harness::new(Pop3Config {
        auth_failure_delay_ms: 1500,
        max_auth_failures: 100,
        ..test_config()
    })
    .await;
    h.add_user("alice@example.org").await;
    let t0 = h.clock.now();
    let waited = |h: &Harness| h.clock.now().duration_since(t0).unwrap();
    let mut c = h.client(true).await;
    c.cmd("USER alice@example.org").await;
    assert_eq!(
        c.cmd("PASS wrong").await,
        "-ERR [AUTH] Authentication failed\r\n"
    );
    assert_eq!(waited(&h), Duration::from_millis(1500));
    c.cmd("USER alice@example.org").await;
    assert!(c.cmd("PASS secret").await.starts_with("+OK "));
    assert_eq!(waited(&h), Duration::from_millis(1500));
}

#[tokio::test]
async fn brute_force_is_refused_with_sys_temp_until_the_delay_passes() {
    let mut h = Harness::new(Pop3Config {
        max_auth_failures: 100,
        ..test_config()
    })
    .await;
    h.add_user("alice@example.org").await;
    let mut c = h.client(true).await;
    for _ in 0..4 {
        c.cmd("USER alice@example.org").await;
        assert_eq!(
            c.cmd("PASS wrong").await,
            "-ERR [AUTH] Authentication failed\r\n"
        );
    }
    // 1 s is owed now: even the right password is refused unchecked, also
    // on a new connection, and over SASL.
    let mut c2 = h.client(true).await;
    c2.cmd("USER alice@example.org").await;
    assert_eq!(
        c2.cmd("PASS secret").await,
        "-ERR [SYS/TEMP] Too many failed authentications, try again later\r\n"
    );
    // "\0alice@example.org\0secret"
    assert!(
        c2.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==")
            .await
            .starts_with("-ERR [SYS/TEMP] ")
    );
    h.clock.advance(Duration::from_secs(1));
    c2.cmd("USER alice@example.org").await;
    assert!(c2.cmd("PASS secret").await.starts_with("+OK "));
}

#[tokio::test]
async fn a_command_sent_one_byte_per_second_is_cut_off_and_deletes_nothing() {
    let (mut h, a) = alice_with_two().await;
    let mut c = h.login("alice@example.org").await;
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    let mut out = String::new();
    for (i, b) in b"NOOP".iter().cycle().take(400).enumerate() {
        h.clock.advance(Duration::from_secs(1));
        out = c.send(&[*b]).await;
        if c.control == Control::Close {
            assert_eq!(i, 301);
            break;
        }
    }
    assert_eq!(out, "-ERR Command too slow, closing connection\r\n");
    assert_eq!(c.control, Control::Close);
    c.close().await;
    // No UPDATE state: the marked message is still there.
    assert_eq!(h.inbox_count(a).await, 2);
}
