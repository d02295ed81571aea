//! SCRAM-SHA-256-PLUS (RFC 5802 §6, RFC 7677) with the RFC 9266
//! `tls-exporter` channel binding, against the real server over TLS on all
//! three protocols: the client computes the binding from its own side of
//! the TLS 1.3 connection (rustls), so a pass means both ends derived the
//! same value. A wrong binding, as a man in the middle terminating TLS
//! would present, fails as an authentication failure; `-PLUS` is offered
//! only over TLS.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use pillarbox_testkit::{Conn, TestServer};
use sha2::{Digest, Sha256};

const USER: &str = "alice@example.org";
const PASSWORD: &str = "correct horse";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The client half of one SCRAM exchange (RFC 5802 §3).
struct Client {
    gs2: String,
    binding: Vec<u8>,
    first_bare: String,
    server_signature: Option<[u8; 32]>,
}

impl Client {
    fn new(gs2: &str, binding: Vec<u8>) -> Client {
        Client {
            gs2: gs2.to_string(),
            binding,
            first_bare: format!("n={USER},r=fyko+d2lbbFgONRv9qkxdawL"),
            server_signature: None,
        }
    }

    fn first(&self) -> String {
        STANDARD.encode(format!("{}{}", self.gs2, self.first_bare))
    }

    fn last(&mut self, server_first_b64: &str) -> String {
        let server_first =
            String::from_utf8(STANDARD.decode(server_first_b64).expect("base64")).expect("utf8");
        let attr = |p: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(p))
                .expect("attribute")
                .to_string()
        };
        let nonce = attr("r=");
        assert!(nonce.starts_with("fyko+d2lbbFgONRv9qkxdawL"));
        let salt = STANDARD.decode(attr("s=")).expect("salt");
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            PASSWORD.as_bytes(),
            &salt,
            attr("i=").parse().expect("iterations"),
            &mut salted,
        );
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        // RFC 5802 §7: c= is base64(gs2-header || cbind-data).
        let mut cbind_input = self.gs2.as_bytes().to_vec();
        cbind_input.extend_from_slice(&self.binding);
        let without_proof = format!("c={},r={nonce}", STANDARD.encode(&cbind_input));
        let auth = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.server_signature = Some(hmac(&hmac(&salted, b"Server Key"), auth.as_bytes()));
        STANDARD.encode(format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    /// Checks `v=ServerSignature`: the server knew the password too.
    fn check_server_final(&self, server_final_b64: &str) {
        let v = STANDARD.decode(server_final_b64).expect("base64");
        let expected = format!(
            "v={}",
            STANDARD.encode(self.server_signature.expect("client-final sent"))
        );
        assert_eq!(v, expected.as_bytes());
    }
}

/// How a protocol frames SASL: the command, the continuation prefix, the
/// success and failure prefixes.
struct Framing {
    command: &'static str,
    cont: &'static str,
    ok: &'static str,
    fail: &'static str,
}

const SUBMISSION: Framing = Framing {
    command: "AUTH SCRAM-SHA-256-PLUS",
    cont: "334 ",
    ok: "235 ",
    fail: "535 ",
};
const POP3: Framing = Framing {
    command: "AUTH SCRAM-SHA-256-PLUS",
    cont: "+ ",
    ok: "+OK",
    fail: "-ERR",
};
const IMAP: Framing = Framing {
    command: "a1 AUTHENTICATE SCRAM-SHA-256-PLUS",
    cont: "+ ",
    ok: "a1 OK",
    fail: "a1 NO",
};

async fn line(c: &mut Conn) -> String {
    c.read_line().await.expect("read").expect("not eof")
}

/// Reads past untagged/multi-line noise up to the line that starts with one
/// of `prefixes`.
async fn line_starting(c: &mut Conn, prefixes: &[&str]) -> String {
    loop {
        let l = line(c).await;
        if prefixes.iter().any(|p| l.starts_with(p)) {
            return l;
        }
        assert!(
            l.starts_with("* ") || l.starts_with("250-"),
            "unexpected line {l:?}"
        );
    }
}

/// Runs SCRAM-SHA-256-PLUS with `binding` as the client's channel binding;
/// returns whether the server accepted it.
async fn authenticate(c: &mut Conn, f: &Framing, binding: Vec<u8>) -> bool {
    let mut client = Client::new("p=tls-exporter,,", binding);
    c.send_line(&format!("{} {}", f.command, client.first()))
        .await
        .expect("send");
    let server_first = line_starting(c, &[f.cont]).await;
    c.send_line(&client.last(&server_first[f.cont.len()..]))
        .await
        .expect("send");
    let reply = line_starting(c, &[f.cont, f.fail, f.ok]).await;
    let Some(server_final) = reply.strip_prefix(f.cont) else {
        assert!(reply.starts_with(f.fail), "{reply}");
        return false;
    };
    client.check_server_final(server_final);
    c.send_line("").await.expect("send");
    let done = line_starting(c, &[f.ok, f.fail]).await;
    assert!(done.starts_with(f.ok), "{done}");
    true
}

async fn server() -> TestServer {
    let s = TestServer::start(
        "[smtp]\nsubmission_auth_failure_delay_ms = 0\n[pop3]\nauth_failure_delay_ms = 0\n\
         [imap]\nauth_failure_delay_ms = 0\n",
    )
    .await;
    s.add_user(USER, PASSWORD).await;
    s
}

async fn submission_starttls(s: &TestServer) -> (Conn, Vec<String>) {
    let mut c = s.connect("submission").await;
    line(&mut c).await;
    c.send_line("EHLO client.test").await.expect("send");
    let before = c.read_until("250 ").await.expect("ehlo");
    assert!(!before.iter().any(|l| l.contains("SCRAM-SHA-256-PLUS")));
    c.send_line("STARTTLS").await.expect("send");
    assert!(line(&mut c).await.starts_with("220 "));
    c.start_tls().await.expect("tls");
    c.send_line("EHLO client.test").await.expect("send");
    let after = c.read_until("250 ").await.expect("ehlo");
    (c, after)
}

#[tokio::test]
async fn submission_over_starttls() {
    let s = server().await;
    let (mut c, ehlo) = submission_starttls(&s).await;
    assert!(
        ehlo.contains(&"250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN".to_string()),
        "{ehlo:?}"
    );
    let binding = c.tls_exporter().expect("TLS 1.3");
    assert!(authenticate(&mut c, &SUBMISSION, binding).await);

    // Another connection: the binding of the first one does not fit.
    let (mut c2, _) = submission_starttls(&s).await;
    let other = c.tls_exporter().expect("TLS 1.3");
    assert_ne!(Some(other.clone()), c2.tls_exporter());
    assert!(!authenticate(&mut c2, &SUBMISSION, other).await);
}

#[tokio::test]
async fn pop3_over_implicit_tls() {
    let s = server().await;
    let mut c = s.connect("pop3s").await;
    line(&mut c).await;
    c.send_line("CAPA").await.expect("send");
    let capa = c.read_until(".").await.expect("capa");
    assert!(
        capa.contains(&"SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN".to_string()),
        "{capa:?}"
    );
    let binding = c.tls_exporter().expect("TLS 1.3");
    let mut wrong = binding.clone();
    wrong[0] ^= 1;
    assert!(!authenticate(&mut c, &POP3, wrong).await);
    assert!(authenticate(&mut c, &POP3, binding).await);

    // Without TLS (plaintext AUTH allowed) -PLUS is neither offered nor
    // accepted.
    let p = TestServer::start("[pop3]\nallow_plaintext_auth = true\n").await;
    let mut c = p.connect("pop3").await;
    line(&mut c).await;
    c.send_line("CAPA").await.expect("send");
    let capa = c.read_until(".").await.expect("capa");
    assert!(
        capa.contains(&"SASL SCRAM-SHA-256 PLAIN LOGIN".to_string()),
        "{capa:?}"
    );
    assert_eq!(c.tls_exporter(), None);
    c.send_line(&format!(
        "AUTH SCRAM-SHA-256-PLUS {}",
        Client::new("p=tls-exporter,,", vec![]).first()
    ))
    .await
    .expect("send");
    assert!(line(&mut c).await.starts_with("-ERR"));
}

#[tokio::test]
async fn imap_over_starttls() {
    let s = server().await;
    let mut c = s.connect("imap").await;
    line(&mut c).await;
    c.send_line("a0 STARTTLS").await.expect("send");
    assert!(line(&mut c).await.starts_with("a0 OK"));
    c.start_tls().await.expect("tls");
    c.send_line("c CAPABILITY").await.expect("send");
    let caps = c.read_until("c ").await.expect("capability");
    assert!(caps[0].contains(" AUTH=SCRAM-SHA-256-PLUS "), "{caps:?}");
    let binding = c.tls_exporter().expect("TLS 1.3");
    assert!(authenticate(&mut c, &IMAP, binding).await);
    c.send_line("a2 SELECT INBOX").await.expect("send");
    let sel = c.read_until("a2 ").await.expect("select");
    assert!(sel.last().expect("line").starts_with("a2 OK"), "{sel:?}");
}

#[tokio::test]
async fn downgrade_and_flag_misuse_fail_over_tls() {
    let s = server().await;
    let (mut c, _) = submission_starttls(&s).await;
    let binding = c.tls_exporter().expect("TLS 1.3");
    // "y" on SCRAM-SHA-256 while -PLUS was offered: downgrade (RFC 5802 §6).
    let y = Client::new("y,,", vec![]).first();
    c.send_line(&format!("AUTH SCRAM-SHA-256 {y}"))
        .await
        .expect("send");
    assert!(line(&mut c).await.starts_with("5"));
    // "n" on -PLUS.
    let n = Client::new("n,,", vec![]).first();
    c.send_line(&format!("AUTH SCRAM-SHA-256-PLUS {n}"))
        .await
        .expect("send");
    assert!(line(&mut c).await.starts_with("5"));
    // "p=" on the mechanism without -PLUS.
    let p = Client::new("p=tls-exporter,,", binding.clone()).first();
    c.send_line(&format!("AUTH SCRAM-SHA-256 {p}"))
        .await
        .expect("send");
    assert!(line(&mut c).await.starts_with("5"));
    // The right way still works on the same connection.
    assert!(authenticate(&mut c, &SUBMISSION, binding).await);
}
