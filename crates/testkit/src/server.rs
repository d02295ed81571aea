//! An in-process Pillarbox on loopback port 0 with a temporary data
//! directory and a manual clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pillarbox::Config;
use pillarbox::admin;
use pillarbox::config::{Protocol, TlsMode};
use pillarbox::server::Server;
use pillarbox_session::ManualClock;
use pillarbox_store::{DeliveryTarget, Flags, NewMessage, Store};
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::client::Conn;

/// The listeners every test server has, on 127.0.0.1 port 0.
/// SPF/DKIM/DMARC checks are off: they would query the system resolver
/// (tests never touch the Internet); a test enables them with
/// `delivery.verify_inbound = true` and `dns.nameservers` pointing at a
/// local server. For the same reason the outbound queue routes every
/// domain to a closed local port: queued mail stays queued.
const LISTENERS: &str = r#"
[delivery]
verify_inbound = false

[[queue.route]]
domain = "*"
host = "127.0.0.1"
port = 9

[[listener]]
protocol = "smtp"
address = "127.0.0.1:0"
tls = "starttls"
[[listener]]
protocol = "submission"
address = "127.0.0.1:0"
tls = "starttls"
[[listener]]
protocol = "submission"
address = "127.0.0.1:0"
tls = "implicit"
[[listener]]
protocol = "lmtp"
address = "127.0.0.1:0"
tls = "starttls"
[[listener]]
protocol = "pop3"
address = "127.0.0.1:0"
tls = "starttls"
[[listener]]
protocol = "pop3"
address = "127.0.0.1:0"
tls = "implicit"
[[listener]]
protocol = "imap"
address = "127.0.0.1:0"
tls = "starttls"
[[listener]]
protocol = "imap"
address = "127.0.0.1:0"
tls = "implicit"
"#;

/// 2026-01-01T00:00:00Z, the manual clock's start.
pub const T0: u64 = 1_767_225_600;

/// A running test server.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub client_tls: Arc<ClientConfig>,
}

impl TestServer {
    /// Starts a server with the test listeners plus `extra_toml` (merged over
    /// them, e.g. `[pop3]\nallow_plaintext_auth = true`).
    pub async fn start(extra_toml: &str) -> TestServer {
        let mut table: toml::Table = toml::from_str(LISTENERS).expect("listeners");
        let extra: toml::Table = toml::from_str(extra_toml).expect("extra config");
        merge(&mut table, extra);
        let text = toml::to_string(&table).expect("toml");
        let config = Config::from_toml(&text, std::path::Path::new("test")).expect("config");
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        ));
        let server = Server::start(&config, dir.path(), clock.clone())
            .await
            .expect("server starts");
        let cert = std::fs::read(dir.path().join("tls/self-signed-cert.pem")).expect("cert");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&cert) {
            roots.add(c.expect("pem")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TestServer {
            dir,
            store: server.store.clone(),
            server: Some(server),
            clock,
            client_tls: Arc::new(client_tls),
        }
    }

    /// The address of a listener by short name: `smtp`, `submission`,
    /// `submissions`, `lmtp`, `pop3`, `pop3s`, `imap`, `imaps`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        let server = self.server.as_ref().expect("running");
        let (p, t) = match name {
            "smtp" => (Protocol::Smtp, TlsMode::Starttls),
            "submission" => (Protocol::Submission, TlsMode::Starttls),
            "submissions" => (Protocol::Submission, TlsMode::Implicit),
            "lmtp" => (Protocol::Lmtp, TlsMode::Starttls),
            "pop3" => (Protocol::Pop3, TlsMode::Starttls),
            "pop3s" => (Protocol::Pop3, TlsMode::Implicit),
            "imap" => (Protocol::Imap, TlsMode::Starttls),
            "imaps" => (Protocol::Imap, TlsMode::Implicit),
            other => panic!("unknown listener {other}"),
        };
        server.address(p, t).expect("listener")
    }

    /// Opens a connection to a listener by short name (implicit TLS for `*s`).
    pub async fn connect(&self, name: &str) -> Conn {
        let addr = self.addr(name);
        if matches!(name, "pop3s" | "imaps" | "submissions") {
            Conn::connect_tls(addr, self.client_tls.clone())
                .await
                .expect("connect tls")
        } else {
            Conn::connect(addr, self.client_tls.clone())
                .await
                .expect("connect")
        }
    }

    /// Creates the domain (if new) and an account with this password.
    pub async fn add_user(&self, address: &str, password: &str) {
        let domain = address.rsplit_once('@').expect("address").1;
        if self.store.domain(domain).await.expect("domain").is_none() {
            admin::domain_add(&self.store, domain)
                .await
                .expect("domain add");
        }
        admin::user_add(&self.store, address, password)
            .await
            .expect("user add");
    }

    /// Stores a message directly in an account's INBOX.
    pub async fn deliver(&self, address: &str, message: &[u8]) {
        let account = self
            .store
            .account(address)
            .await
            .expect("lookup")
            .expect("account exists");
        let now = self.clock_now();
        let r = self
            .store
            .deliver(
                NewMessage {
                    data: Arc::new(message.to_vec()),
                    internal_date: now,
                },
                vec![DeliveryTarget {
                    account: account.id,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: vec![],
                }],
            )
            .await
            .expect("deliver");
        r.into_iter().next().expect("one").expect("delivered");
    }

    /// The manual clock's time as Unix seconds.
    pub fn clock_now(&self) -> i64 {
        use pillarbox_session::Clock;
        self.clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    /// Stops the server.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown(Duration::from_secs(5)).await;
        }
    }
}

fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
