//! State shared by all POP3 sessions of one server: the store, the
//! configuration, the clock and the maildrop locks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use pillarbox_sasl::{AuthLimits, AuthThrottle};
use pillarbox_session::SharedClock;
use pillarbox_store::{AccountId, Store};

use crate::config::{MIN_IDLE_TIMEOUT_SECS, Pop3Config};

/// Shared by every [`crate::Pop3Session`] of a server.
pub struct Pop3Context {
    pub(crate) store: Store,
    pub(crate) config: Pop3Config,
    pub(crate) clock: SharedClock,
    /// RFC 1939 §4: accounts whose maildrop a session holds.
    locked: Mutex<HashSet<AccountId>>,
    /// RFC 2449 LOGIN-DELAY: when each account last logged in.
    last_login: Mutex<HashMap<AccountId, SystemTime>>,
    /// Failed-authentication counts (see [`Pop3Context::set_auth_throttle`]).
    throttle: OnceLock<Arc<AuthThrottle>>,
}

impl std::fmt::Debug for Pop3Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked (each
    // critical section is a single insert/remove).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pop3Context {
    /// Builds the shared context. An `idle_timeout_secs` under RFC 1939's
    /// ten minutes is raised to ten minutes.
    pub fn new(store: Store, mut config: Pop3Config, clock: SharedClock) -> Arc<Pop3Context> {
        config.idle_timeout_secs = config.idle_timeout_secs.max(MIN_IDLE_TIMEOUT_SECS);
        Arc::new(Pop3Context {
            store,
            config,
            clock,
            locked: Mutex::new(HashSet::new()),
            last_login: Mutex::new(HashMap::new()),
            throttle: OnceLock::new(),
        })
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

    /// The effective configuration.
    pub fn config(&self) -> &Pop3Config {
        &self.config
    }

    /// Whether some session holds this account's maildrop.
    pub fn is_locked(&self, account: AccountId) -> bool {
        lock(&self.locked).contains(&account)
    }

    /// Takes the maildrop lock of an account, or `None` if a session holds
    /// it. The lock is released when the guard drops.
    pub(crate) fn try_lock(self: &Arc<Self>, account: AccountId) -> Option<MaildropLock> {
        if lock(&self.locked).insert(account) {
            Some(MaildropLock {
                ctx: self.clone(),
                account,
            })
        } else {
            None
        }
    }

    /// RFC 2449 §8.1.1: whether a login now would come sooner than
    /// LOGIN-DELAY after the previous one; if not, records this login.
    pub(crate) fn check_and_record_login(&self, account: AccountId) -> bool {
        let delay = self.config.login_delay_secs;
        let now = self.clock.now();
        let mut last = lock(&self.last_login);
        if delay > 0
            && let Some(prev) = last.get(&account)
            && now
                .duration_since(*prev)
                .map(|d| d < Duration::from_secs(delay))
                .unwrap_or(false)
        {
            return false;
        }
        if delay > 0 {
            last.insert(account, now);
        }
        true
    }
}

/// Holding this means holding an account's maildrop (RFC 1939 §4 "exclusive
/// access"); dropping it releases the maildrop.
pub(crate) struct MaildropLock {
    ctx: Arc<Pop3Context>,
    account: AccountId,
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        lock(&self.ctx.locked).remove(&self.account);
    }
}

impl std::fmt::Debug for MaildropLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MaildropLock({})", self.account)
    }
}
