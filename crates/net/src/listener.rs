//! TCP listeners: accept, enforce connection limits, spawn one task per
//! connection that runs [`crate::drive`], isolate panics, and stop on
//! shutdown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use pillarbox_session::{ConnInfo, Session};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::driver::{DriveOptions, drive};

/// A listener's identity and behaviour.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// For logs, e.g. `smtp`, `pop3s`.
    pub name: String,
    /// Handshake TLS before the greeting.
    pub implicit_tls: bool,
    /// Written (in the clear, or after the handshake for implicit TLS is not
    /// attempted) to connections refused by the limiter, e.g.
    /// `421 4.7.0 Too many connections\r\n`.
    pub busy_reply: Vec<u8>,
}

/// Connection counting shared by all listeners of a server: per-IP and total
/// limits, session ids, and counters of refusals and caught panics.
#[derive(Debug)]
pub struct ConnLimiter {
    per_ip: usize,
    total: usize,
    state: Mutex<LimiterState>,
    next_id: AtomicU64,
    /// Connections refused by a limit.
    pub refused: AtomicU64,
    /// Connection tasks that panicked.
    pub panics: AtomicU64,
}

#[derive(Debug, Default)]
struct LimiterState {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Holds one connection's slot; released on drop.
#[derive(Debug)]
pub struct ConnGuard {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut st = self.limiter.state.lock().unwrap_or_else(|e| e.into_inner());
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                st.per_ip.remove(&self.ip);
            }
        }
    }
}

impl ConnLimiter {
    pub fn new(per_ip: usize, total: usize) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            per_ip,
            total,
            state: Mutex::default(),
            next_id: AtomicU64::new(1),
            refused: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        })
    }

    /// Takes a slot for a connection from `ip`, or `None` when a limit is hit.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = st.per_ip.get(&ip).copied().unwrap_or(0);
        if st.total >= self.total || n >= self.per_ip {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        st.total += 1;
        st.per_ip.insert(ip, n + 1);
        Some(ConnGuard {
            limiter: self.clone(),
            ip,
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    pub fn next_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Accepts connections on `listener` until `opts.shutdown` is cancelled,
/// running a session built by `make` on each. Connection tasks are spawned
/// on `tracker` so shutdown can wait for them.
pub async fn serve_listener<S, F>(
    listener: TcpListener,
    spec: ListenerSpec,
    make: F,
    opts: DriveOptions,
    limiter: Arc<ConnLimiter>,
    tracker: TaskTracker,
) where
    S: Session + 'static,
    F: Fn(ConnInfo) -> S + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = opts.shutdown.cancelled() => break,
        };
        let (mut socket, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn!(listener = %spec.name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let Some(guard) = limiter.try_acquire(peer.ip()) else {
            info!(listener = %spec.name, %peer, "connection refused: limit reached");
            if !spec.implicit_tls {
                let reply = spec.busy_reply.clone();
                tracker.spawn(async move {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        socket.write_all(&reply),
                    )
                    .await;
                });
            }
            continue;
        };
        let id = limiter.next_session_id();
        let conn = ConnInfo {
            session_id: id,
            peer,
            local,
            tls: None,
            starttls_available: opts.tls.is_some(),
        };
        let make = make.clone();
        let opts = opts.clone();
        let limiter2 = limiter.clone();
        let span = info_span!("conn", id, proto = %spec.name, %peer);
        tracker.spawn(
            async move {
                debug!("accepted");
                let run = std::panic::AssertUnwindSafe(drive(socket, conn, |c| make(c), &opts));
                match run.catch_unwind().await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!(error = %e, "connection ended"),
                    Err(_) => {
                        limiter2.panics.fetch_add(1, Ordering::Relaxed);
                        error!("connection task panicked; connection closed");
                    }
                }
                drop(guard);
            }
            .instrument(span),
        );
    }
}
