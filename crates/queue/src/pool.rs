//! The outbound connection cache: after a transaction, a usable
//! connection waits idle for the next message to the same server, as
//! Postfix's connection cache does (RFC 5321 §3.3: a session may carry
//! many transactions). Bounded three ways: idle time
//! (`connection_idle_secs`, by the injected clock), transactions per
//! connection (`connection_max_transactions`) and idle connections
//! (`concurrency`, the oldest closed first). Expired connections are
//! closed with QUIT.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pillarbox_session::SharedClock;

use crate::client::Session;

/// The destination actually connected: address and port, and the name
/// TLS was (or would be) negotiated for. A session keeps its own TLS
/// state and EHLO capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) addr: SocketAddr,
    pub(crate) server_name: String,
}

impl Key {
    pub(crate) fn new(addr: SocketAddr, server_name: &str) -> Key {
        Key {
            addr,
            server_name: server_name.to_ascii_lowercase(),
        }
    }
}

struct Idle {
    key: Key,
    session: Session,
    since: SystemTime,
}

pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    /// Zero: no reuse.
    idle_for: Duration,
    max_transactions: u32,
    max_idle: usize,
    clock: SharedClock,
}

impl Pool {
    pub(crate) fn new(
        idle_secs: u64,
        max_transactions: u32,
        max_idle: usize,
        clock: SharedClock,
    ) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            idle_for: Duration::from_secs(idle_secs),
            max_transactions: max_transactions.max(1),
            max_idle: max_idle.max(1),
            clock,
        }
    }

    /// How long a connection may stay idle; zero when reuse is off.
    pub(crate) fn idle_for(&self) -> Duration {
        self.idle_for
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, idle: &Idle, now: SystemTime) -> bool {
        now.duration_since(idle.since)
            .is_ok_and(|d| d >= self.idle_for)
    }

    /// Removes the expired connections from `idle` (to be closed).
    fn take_expired(&self, idle: &mut Vec<Idle>) -> Vec<Session> {
        let now = self.clock.now();
        let mut out = Vec::new();
        let mut i = 0;
        while i < idle.len() {
            if self.expired(&idle[i], now) {
                out.push(idle.remove(i).session);
            } else {
                i += 1;
            }
        }
        out
    }

    /// The most recently used idle connection to `key`, if any.
    pub(crate) fn take(&self, key: &Key) -> Option<Session> {
        let (expired, found) = {
            let mut idle = self.lock();
            let expired = self.take_expired(&mut idle);
            let found = idle
                .iter()
                .rposition(|c| &c.key == key)
                .map(|i| idle.remove(i).session);
            (expired, found)
        };
        expired.into_iter().for_each(Session::quit_in_background);
        found
    }

    /// Keeps `session` for reuse, or closes it: QUIT when reuse is off or
    /// it carried its share of transactions, a plain close when it is not
    /// usable (a broken or closing connection has no one to say QUIT to).
    pub(crate) fn put(&self, key: Key, session: Session) {
        if !session.usable {
            return;
        }
        if self.idle_for.is_zero() || session.transactions >= self.max_transactions {
            session.quit_in_background();
            return;
        }
        let mut close = {
            let mut idle = self.lock();
            let mut close = self.take_expired(&mut idle);
            while idle.len() >= self.max_idle {
                close.push(idle.remove(0).session);
            }
            idle.push(Idle {
                key,
                session,
                since: self.clock.now(),
            });
            close
        };
        close.drain(..).for_each(Session::quit_in_background);
    }

    /// Closes the connections idle for `connection_idle_secs`.
    pub(crate) fn sweep(&self) {
        let expired = self.take_expired(&mut self.lock());
        expired.into_iter().for_each(Session::quit_in_background);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Closes every idle connection with QUIT, waiting for the replies
    /// (all at once, at most 2 s: shutdown stays short).
    pub(crate) async fn close_all(&self) {
        let all: Vec<Session> = self.lock().drain(..).map(|c| c.session).collect();
        let wait = Duration::from_secs(2);
        futures::future::join_all(all.into_iter().map(|s| s.quit_within(wait))).await;
    }
}
