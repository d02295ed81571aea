//! State shared by all IMAP sessions of a server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pillarbox_message::spool::{SpillFile, Spool};
use pillarbox_sasl::{AuthLimits, AuthThrottle};
use pillarbox_session::SharedClock;
use pillarbox_store::{AccountId, Store};

use crate::config::ImapConfig;
use crate::selected::RecentClaims;

/// Shared by every IMAP session.
pub struct ImapContext {
    pub store: Store,
    pub config: ImapConfig,
    pub clock: SharedClock,
    sessions: Mutex<HashMap<AccountId, usize>>,
    /// Which session sees which messages as `\Recent`.
    pub(crate) recent: RecentClaims,
    /// Failed-authentication counts, shared with the other protocols when
    /// set by [`ImapContext::set_auth_throttle`].
    throttle: OnceLock<Arc<AuthThrottle>>,
    /// Where APPEND data past 1 MiB is spooled (see [`ImapContext::set_spool_file`]).
    spool_file: OnceLock<SpillFile>,
}

impl std::fmt::Debug for ImapContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapContext")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ImapContext {
    pub fn new(store: Store, config: ImapConfig, clock: SharedClock) -> Arc<ImapContext> {
        Arc::new(ImapContext {
            store,
            config,
            clock,
            sessions: Mutex::new(HashMap::new()),
            recent: RecentClaims::default(),
            throttle: OnceLock::new(),
            spool_file: OnceLock::new(),
        })
    }

    /// Spools APPEND data past 1 MiB to the file `open` gives instead of an
    /// anonymous temporary file (tests inject `/dev/full`). Only before the
    /// first APPEND; returns false if already set.
    pub fn set_spool_file(&self, open: SpillFile) -> bool {
        self.spool_file.set(open).is_ok()
    }

    /// A spool for one message of at most `max_size` octets.
    pub(crate) fn spool(&self, max_size: u64) -> Spool {
        Spool::with_spill_file(max_size, self.spool_file.get().copied())
    }

    /// Uses `throttle` (normally the server's one, shared by all protocols)
    /// for brute-force protection. Only before the first authentication;
    /// returns false if a throttle is already in use.
    pub fn set_auth_throttle(&self, throttle: Arc<AuthThrottle>) -> bool {
        self.throttle.set(throttle).is_ok()
    }

    /// The brute-force protection (a default one on this context's clock
    /// unless one was set).
    pub fn auth_throttle(&self) -> &AuthThrottle {
        self.throttle
            .get_or_init(|| Arc::new(AuthThrottle::new(AuthLimits::default(), self.clock.clone())))
    }

    /// Takes a session slot of `account`, or `None` at the limit.
    pub(crate) fn enter(self: &Arc<Self>, account: AccountId) -> Option<SessionSlot> {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.entry(account).or_insert(0);
        if *n >= self.config.max_sessions_per_account {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            ctx: self.clone(),
            account,
        })
    }

    /// The current time as Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// One authenticated session of an account; released on drop.
#[derive(Debug)]
pub(crate) struct SessionSlot {
    ctx: Arc<ImapContext>,
    account: AccountId,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut s = self.ctx.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                s.remove(&self.account);
            }
        }
    }
}
