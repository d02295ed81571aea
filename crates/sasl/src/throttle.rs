//! Brute-force protection for password authentication, shared by every
//! protocol (SMTP submission, IMAP, POP3) of one server.
//!
//! Failed authentications are counted per client address (IPv6 by /64, the
//! unit one host usually gets) and per login name (known or not, so the
//! answer reveals nothing about which names exist). From these counts:
//! - an increasing delay: after `free_failures` failures, the next attempt
//!   for the same address or login is only evaluated `base_delay_ms ×
//!   2^(n − free_failures)` (capped at `max_delay_secs`) after the last
//!   failure; an earlier attempt is refused without checking the password;
//! - a hard limit: at `max_failures_per_ip` (address) or
//!   `max_failures_per_account` (login) failures, attempts are refused
//!   until `window_secs` have passed since the last failure.
//!
//! Counts expire `window_secs` after the last failure; a success clears the
//! login's count (not the address's). Time comes from the injected clock,
//! so tests move it instead of sleeping. Memory is bounded: at most
//! `max_tracked` addresses and as many logins; when full, expired records
//! are dropped first, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pillarbox_session::SharedClock;
use serde::{Deserialize, Serialize};

/// Limits on failed authentications (`[auth]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthLimits {
    /// Failures per client address or login answered without delay.
    /// Default 3.
    pub free_failures: u32,
    /// The delay imposed after the first failure past `free_failures`,
    /// doubled with each further failure. Default 1000.
    pub base_delay_ms: u64,
    /// Upper bound of that delay. Default 300.
    pub max_delay_secs: u64,
    /// Failures from one client address (IPv6: one /64) after which its
    /// attempts are refused until `window_secs` pass. Default 30.
    pub max_failures_per_ip: u32,
    /// Failures for one login after which its attempts are refused until
    /// `window_secs` pass. Default 10.
    pub max_failures_per_account: u32,
    /// Seconds after the last failure when a count is forgotten. Default 900.
    pub window_secs: u64,
    /// Addresses (and, separately, logins) tracked at most. Default 100000.
    pub max_tracked: usize,
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            free_failures: 3,
            base_delay_ms: 1000,
            max_delay_secs: 300,
            max_failures_per_ip: 30,
            max_failures_per_account: 10,
            window_secs: 900,
            max_tracked: 100_000,
        }
    }
}

/// Why an attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too soon after the last failure; `retry_after` from now.
    Delay { scope: Scope, retry_after: Duration },
    /// The failure limit is reached; `retry_after` from now.
    Limit { scope: Scope, retry_after: Duration },
}

impl Refusal {
    /// What is throttled.
    pub fn scope(self) -> Scope {
        match self {
            Refusal::Delay { scope, .. } | Refusal::Limit { scope, .. } => scope,
        }
    }
    /// How long until an attempt will be evaluated again.
    pub fn retry_after(self) -> Duration {
        match self {
            Refusal::Delay { retry_after, .. } | Refusal::Limit { retry_after, .. } => retry_after,
        }
    }
}

/// The key a refusal was decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Address,
    Account,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Address => "address",
            Scope::Account => "account",
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    by_ip: HashMap<IpAddr, Record>,
    by_login: HashMap<String, Record>,
}

/// The failure counts of one server. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct AuthThrottle {
    limits: AuthLimits,
    clock: SharedClock,
    state: Mutex<State>,
}

/// The address an IPv6 client is counted under: its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

impl AuthThrottle {
    pub fn new(limits: AuthLimits, clock: SharedClock) -> AuthThrottle {
        AuthThrottle {
            limits,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    pub fn limits(&self) -> &AuthLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.limits.window_secs)
    }

    /// The delay owed after `failures` failures.
    fn delay(&self, failures: u32) -> Duration {
        let over = failures.saturating_sub(self.limits.free_failures);
        if over == 0 {
            return Duration::ZERO;
        }
        let factor = 1u64.checked_shl(over - 1).unwrap_or(u64::MAX);
        Duration::from_millis(self.limits.base_delay_ms.saturating_mul(factor))
            .min(Duration::from_secs(self.limits.max_delay_secs))
    }

    /// The refusal a record imposes at `now`, if any.
    fn judge(&self, record: &Record, max: u32, scope: Scope, now: SystemTime) -> Option<Refusal> {
        let since = now.duration_since(record.last).unwrap_or(Duration::ZERO);
        if since >= self.window() {
            return None;
        }
        if record.failures >= max {
            return Some(Refusal::Limit {
                scope,
                retry_after: self.window() - since,
            });
        }
        let delay = self.delay(record.failures);
        (since < delay).then(|| Refusal::Delay {
            scope,
            retry_after: delay - since,
        })
    }

    /// Whether an attempt by `ip` for `login` (lowercased; `None` when the
    /// name is not even valid) may be evaluated now. Call before checking
    /// the password; a refusal must be answered as a temporary failure.
    pub fn check(&self, ip: IpAddr, login: Option<&str>) -> Result<(), Refusal> {
        let now = self.clock.now();
        let state = self.lock();
        if let Some(r) = state.by_ip.get(&address_key(ip))
            && let Some(refusal) =
                self.judge(r, self.limits.max_failures_per_ip, Scope::Address, now)
        {
            return Err(refusal);
        }
        if let Some(r) = login.and_then(|l| state.by_login.get(l))
            && let Some(refusal) =
                self.judge(r, self.limits.max_failures_per_account, Scope::Account, now)
        {
            return Err(refusal);
        }
        Ok(())
    }

    /// Records a failed authentication (wrong password or unknown user).
    /// Returns the larger of the two failure counts, for the log line.
    pub fn failed(&self, ip: IpAddr, login: Option<&str>) -> u32 {
        let now = self.clock.now();
        let window = self.window();
        let max = self.limits.max_tracked.max(1);
        let mut state = self.lock();
        let n = bump(&mut state.by_ip, address_key(ip), now, window, max);
        let m = match login {
            Some(l) => bump(&mut state.by_login, l.to_string(), now, window, max),
            None => 0,
        };
        n.max(m)
    }

    /// Records a successful authentication: the login's count is cleared.
    pub fn succeeded(&self, login: &str) {
        self.lock().by_login.remove(login);
    }

    /// Number of addresses and logins currently tracked.
    pub fn tracked(&self) -> (usize, usize) {
        let s = self.lock();
        (s.by_ip.len(), s.by_login.len())
    }
}

/// Counts one failure for `key`, keeping the map within `max` records.
fn bump<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Record>,
    key: K,
    now: SystemTime,
    window: Duration,
    max: usize,
) -> u32 {
    let expired = |r: &Record| now.duration_since(r.last).unwrap_or(Duration::ZERO) >= window;
    if !map.contains_key(&key) && map.len() >= max {
        map.retain(|_, r| !expired(r));
        if map.len() >= max
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, r)| r.last)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    let record = map.entry(key).or_insert(Record {
        failures: 0,
        last: now,
    });
    if expired(record) {
        record.failures = 0;
    }
    record.failures = record.failures.saturating_add(1);
    record.last = now;
    record.failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use pillarbox_session::ManualClock;
    use std::sync::Arc;

    fn throttle(limits: AuthLimits) -> (AuthThrottle, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        ));
        (AuthThrottle::new(limits, clock.clone()), clock)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn delay_grows_after_the_free_failures() {
        let (t, clock) = throttle(AuthLimits::default());
        for _ in 0..3 {
            assert_eq!(t.check(IP, Some("a@x")), Ok(()));
            t.failed(IP, Some("a@x"));
        }
        // Fourth failure: 1 s, then 2 s, 4 s ...
        assert_eq!(t.check(IP, Some("a@x")), Ok(()));
        t.failed(IP, Some("a@x"));
        let r = t.check(IP, Some("a@x")).unwrap_err();
        assert!(matches!(r, Refusal::Delay { .. }));
        assert_eq!(r.retry_after(), Duration::from_secs(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(t.check(IP, Some("a@x")), Ok(()));
        t.failed(IP, Some("a@x"));
        assert_eq!(
            t.check(IP, None).unwrap_err().retry_after(),
            Duration::from_secs(2)
        );
        clock.advance(Duration::from_secs(2));
        t.failed(IP, Some("a@x"));
        assert_eq!(
            t.check(IP, None).unwrap_err().retry_after(),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn delay_is_capped() {
        let (t, _) = throttle(AuthLimits {
            max_failures_per_ip: 1000,
            max_failures_per_account: 1000,
            ..AuthLimits::default()
        });
        assert_eq!(t.delay(200), Duration::from_secs(300));
    }

    #[test]
    fn per_account_limit_holds_across_addresses() {
        let (t, clock) = throttle(AuthLimits {
            free_failures: 100,
            max_failures_per_account: 5,
            ..AuthLimits::default()
        });
        for i in 0..5u8 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
            assert_eq!(t.check(ip, Some("victim@x")), Ok(()));
            t.failed(ip, Some("victim@x"));
        }
        let other = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
        let r = t.check(other, Some("victim@x")).unwrap_err();
        assert!(matches!(
            r,
            Refusal::Limit {
                scope: Scope::Account,
                ..
            }
        ));
        // Another account from that address is not affected.
        assert_eq!(t.check(other, Some("someone@x")), Ok(()));
        // The count expires a window after the last failure.
        clock.advance(Duration::from_secs(900));
        assert_eq!(t.check(other, Some("victim@x")), Ok(()));
    }

    #[test]
    fn per_ip_limit_holds_across_logins_and_ipv6_counts_by_64() {
        let (t, _) = throttle(AuthLimits {
            free_failures: 100,
            max_failures_per_ip: 4,
            ..AuthLimits::default()
        });
        for i in 0..4 {
            let ip: IpAddr = format!("2001:db8:1:2::{i}").parse().unwrap();
            t.failed(ip, Some(&format!("user{i}@x")));
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let r = t.check(same_64, Some("new@x")).unwrap_err();
        assert_eq!(r.scope(), Scope::Address);
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(t.check(other_64, Some("new@x")), Ok(()));
    }

    #[test]
    fn success_clears_the_login_but_not_the_address() {
        let (t, _) = throttle(AuthLimits {
            free_failures: 100,
            max_failures_per_account: 2,
            max_failures_per_ip: 3,
            ..AuthLimits::default()
        });
        t.failed(IP, Some("a@x"));
        t.failed(IP, Some("a@x"));
        assert!(t.check(IP, Some("a@x")).is_err());
        t.succeeded("a@x");
        assert_eq!(t.check(IP, Some("a@x")), Ok(()));
        t.failed(IP, Some("b@x"));
        assert_eq!(
            t.check(IP, Some("c@x")).unwrap_err().scope(),
            Scope::Address
        );
    }

    #[test]
    fn memory_is_bounded() {
        let (t, clock) = throttle(AuthLimits {
            max_tracked: 50,
            ..AuthLimits::default()
        });
        for i in 0..500u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed(ip, Some(&format!("u{i}@x")));
            clock.advance(Duration::from_millis(1));
        }
        let (ips, logins) = t.tracked();
        assert!(ips <= 50 && logins <= 50, "{ips} {logins}");
    }
}
