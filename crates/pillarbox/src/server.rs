//! Wiring: opens the store, builds the protocol contexts, binds the
//! listeners and runs them until shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pillarbox_delivery::{Authenticator, Delivery, DnsSetupError};
use pillarbox_imap_server::{ImapContext, ImapSession};
use pillarbox_net::driver::DriveOptions;
use pillarbox_net::tls::CertSource;
use pillarbox_net::{ConnLimiter, ListenerSpec, serve_listener};
use pillarbox_pop3_server::{Pop3Context, Pop3Session};
use pillarbox_queue::{DnsServers, Queue};
use pillarbox_session::{Limits, SharedClock};
use pillarbox_smtp_server::{Mode, SmtpContext, SmtpSession};
use pillarbox_store::Store;
use pillarbox_store::sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::config::{Config, ListenerConfig, Protocol, TlsMode};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot open the store in {path}: {source}")]
    Store {
        path: PathBuf,
        source: pillarbox_store::StoreError,
    },
    #[error("TLS: {0}")]
    Tls(#[from] pillarbox_net::tls::TlsError),
    #[error("DNS: {0}")]
    Dns(#[from] DnsSetupError),
    #[error("cannot listen on {address} ({name}): {source}")]
    Bind {
        name: String,
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Opens the store in the data directory.
pub fn open_store(data_dir: &Path) -> Result<Store, ServeError> {
    let store = SqliteStore::open(data_dir).map_err(|source| ServeError::Store {
        path: data_dir.to_owned(),
        source,
    })?;
    Ok(store)
}

/// A running server.
pub struct Server {
    pub store: Store,
    /// Each configured listener with the address it actually bound (port 0
    /// in the configuration becomes the chosen port).
    pub listeners: Vec<(ListenerConfig, SocketAddr)>,
    /// Where the certificate came from.
    pub cert_source: CertSource,
    pub limiter: Arc<ConnLimiter>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    /// Opens the store and binds every listener; connections are served from
    /// the moment this returns.
    pub async fn start(
        config: &Config,
        data_dir: &Path,
        clock: SharedClock,
    ) -> Result<Server, ServeError> {
        let store = open_store(data_dir)?;
        Self::start_with_store(config, data_dir, store, clock).await
    }

    /// As [`Server::start`], with an already opened store.
    pub async fn start_with_store(
        config: &Config,
        data_dir: &Path,
        store: Store,
        clock: SharedClock,
    ) -> Result<Server, ServeError> {
        let configured = match (&config.tls.cert, &config.tls.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        };
        let (acceptor, cert_source) =
            pillarbox_net::tls::acceptor(configured, &data_dir.join("tls"), &config.hostname)?;

        let mut delivery = Delivery::new(store.clone(), config.delivery.clone(), clock.clone());
        // The resolver is only built when MX mail is checked, so a machine
        // without /etc/resolv.conf can still run with verification off.
        if config.delivery.verify_inbound {
            delivery = delivery.with_authenticator(Authenticator::new(&config.dns)?);
        }
        let delivery = Arc::new(delivery);
        // Without a usable resolver the server still runs; submission then
        // refuses other domains (`554 5.7.1`), as without a queue.
        let queue = match Queue::new(
            store.clone(),
            config.queue.clone(),
            &config.hostname,
            clock.clone(),
            &DnsServers {
                nameservers: config.dns.nameservers.clone(),
                timeout_secs: config.dns.timeout_secs,
            },
        ) {
            Ok(queue) => {
                // Bounces and other notices are DKIM-signed like submitted mail.
                queue.set_notice_signer(Arc::new(crate::notice_dkim::NoticeDkim::new(
                    store.clone(),
                )));
                Some(queue)
            }
            Err(error) => {
                tracing::error!(%error, "outbound queue disabled");
                None
            }
        };
        let smtp = match &queue {
            Some(queue) => SmtpContext::with_queue(
                store.clone(),
                delivery,
                config.smtp.clone(),
                clock.clone(),
                queue.clone(),
            ),
            None => SmtpContext::new(store.clone(), delivery, config.smtp.clone(), clock.clone()),
        };
        let pop3 = Pop3Context::new(store.clone(), config.pop3.clone(), clock.clone());
        let imap = ImapContext::new(store.clone(), config.imap.clone(), clock.clone());
        // One set of failed-authentication counts for every protocol, so a
        // guesser cannot multiply its budget by switching ports.
        let throttle = Arc::new(pillarbox_sasl::AuthThrottle::new(
            config.auth.clone(),
            clock.clone(),
        ));
        smtp.set_auth_throttle(throttle.clone());
        pop3.set_auth_throttle(throttle.clone());
        imap.set_auth_throttle(throttle);

        let limiter = ConnLimiter::new(
            config.limits.connections_per_ip,
            config.limits.connections_total,
        );
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        // The delivery task stops with the listeners (see `shutdown`).
        if let Some(queue) = queue {
            tracker.spawn(queue.run(shutdown.clone()));
        }
        let mut bound = Vec::new();
        for l in &config.listeners {
            let listener =
                TcpListener::bind(l.address)
                    .await
                    .map_err(|source| ServeError::Bind {
                        name: l.name(),
                        address: l.address,
                        source,
                    })?;
            let local = listener.local_addr().map_err(|source| ServeError::Bind {
                name: l.name(),
                address: l.address,
                source,
            })?;
            let opts = DriveOptions {
                limits: Limits::default(),
                tls: (l.tls != TlsMode::None).then(|| acceptor.clone()),
                implicit_tls: l.tls == TlsMode::Implicit,
                handshake_timeout: Duration::from_secs(config.limits.tls_handshake_timeout_secs),
                shutdown: shutdown.clone(),
            };
            let busy: &[u8] = match l.protocol {
                Protocol::Smtp | Protocol::Submission | Protocol::Lmtp => {
                    b"421 4.7.0 Too many connections, try again later\r\n"
                }
                Protocol::Pop3 => b"-ERR [SYS/TEMP] Too many connections, try again later\r\n",
                Protocol::Imap => b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
            };
            let spec = ListenerSpec {
                name: l.name(),
                implicit_tls: l.tls == TlsMode::Implicit,
                busy_reply: busy.to_vec(),
            };
            let (limiter2, tracker2) = (limiter.clone(), tracker.clone());
            match l.protocol {
                Protocol::Smtp | Protocol::Submission | Protocol::Lmtp => {
                    let ctx = smtp.clone();
                    let mode = match l.protocol {
                        Protocol::Submission => Mode::Submission,
                        Protocol::Lmtp => Mode::Lmtp,
                        _ => Mode::Mx,
                    };
                    tracker.spawn(serve_listener(
                        listener,
                        spec,
                        move |conn| SmtpSession::new(ctx.clone(), conn, mode),
                        opts,
                        limiter2,
                        tracker2,
                    ));
                }
                Protocol::Imap => {
                    let ctx = imap.clone();
                    tracker.spawn(serve_listener(
                        listener,
                        spec,
                        move |conn| ImapSession::new(ctx.clone(), conn),
                        opts,
                        limiter2,
                        tracker2,
                    ));
                }
                Protocol::Pop3 => {
                    let ctx = pop3.clone();
                    tracker.spawn(serve_listener(
                        listener,
                        spec,
                        move |conn| Pop3Session::new(ctx.clone(), conn),
                        opts,
                        limiter2,
                        tracker2,
                    ));
                }
            }
            info!(listener = %l.name(), address = %local, "listening");
            bound.push((l.clone(), local));
        }
        Ok(Server {
            store,
            listeners: bound,
            cert_source,
            limiter,
            shutdown,
            tracker,
        })
    }

    /// The bound address of the first listener of this protocol and TLS mode.
    pub fn address(&self, protocol: Protocol, tls: TlsMode) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(l, _)| l.protocol == protocol && l.tls == tls)
            .map(|(_, a)| *a)
    }

    /// A token that, when cancelled, starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, asks idle sessions to close, and waits (at most
    /// `grace`) for sessions in a transaction to finish.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
    }
}
