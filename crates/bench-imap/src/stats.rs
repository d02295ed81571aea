//! Per-kind operation counts, errors and latencies; percentiles; a small
//! JSON writer (no serde: the output is flat).

use std::fmt::Write as _;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Connect,
    Login,
    Select,
    Fetch,
    Store,
    Append,
    Expunge,
    Noop,
    Logout,
}

pub const KINDS: [Kind; 9] = [
    Kind::Connect,
    Kind::Login,
    Kind::Select,
    Kind::Fetch,
    Kind::Store,
    Kind::Append,
    Kind::Expunge,
    Kind::Noop,
    Kind::Logout,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Login => "login",
            Kind::Select => "select",
            Kind::Fetch => "fetch",
            Kind::Store => "store",
            Kind::Append => "append",
            Kind::Expunge => "expunge",
            Kind::Noop => "noop",
            Kind::Logout => "logout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Counted in "IMAP commands per second" (connect is a TCP/TLS set-up,
    /// not a command).
    pub fn is_command(self) -> bool {
        self != Kind::Connect
    }
}

#[derive(Debug, Default, Clone)]
pub struct PerKind {
    /// Latency of each successful operation, microseconds.
    pub lat_us: Vec<u32>,
    pub errors: u64,
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub kinds: Vec<PerKind>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            kinds: vec![PerKind::default(); KINDS.len()],
        }
    }
}

impl Stats {
    pub fn ok(&mut self, k: Kind, d: Duration) {
        self.kinds[k.index()]
            .lat_us
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn error(&mut self, k: Kind) {
        self.kinds[k.index()].errors += 1;
    }

    pub fn merge(&mut self, other: Stats) {
        for (a, b) in self.kinds.iter_mut().zip(other.kinds) {
            a.lat_us.extend(b.lat_us);
            a.errors += b.errors;
        }
    }

    pub fn get(&self, k: Kind) -> &PerKind {
        &self.kinds[k.index()]
    }
}

/// Percentile (0..=100) of sorted microsecond samples, in milliseconds.
pub fn pct_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

/// A flat JSON object built field by field.
#[derive(Default)]
pub struct Json {
    s: String,
}

impl Json {
    fn sep(&mut self) {
        self.s.push(if self.s.is_empty() { '{' } else { ',' });
    }

    pub fn num(&mut self, k: &str, v: f64) -> &mut Self {
        self.sep();
        if v.is_finite() {
            let _ = write!(self.s, "\"{k}\":{}", (v * 1000.0).round() / 1000.0);
        } else {
            let _ = write!(self.s, "\"{k}\":null");
        }
        self
    }

    pub fn int(&mut self, k: &str, v: u64) -> &mut Self {
        self.sep();
        let _ = write!(self.s, "\"{k}\":{v}");
        self
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.sep();
        let esc: String = v
            .chars()
            .flat_map(|c| match c {
                '"' => vec!['\\', '"'],
                '\\' => vec!['\\', '\\'],
                c if (c as u32) < 0x20 => vec![' '],
                c => vec![c],
            })
            .collect();
        let _ = write!(self.s, "\"{k}\":\"{esc}\"");
        self
    }

    pub fn finish(&mut self) -> String {
        if self.s.is_empty() {
            return "{}".into();
        }
        let mut s = std::mem::take(&mut self.s);
        s.push('}');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(pct_ms(&v, 50.0), 50.0);
        assert_eq!(pct_ms(&v, 99.0), 99.0);
        assert_eq!(pct_ms(&v, 100.0), 100.0);
        assert_eq!(pct_ms(&[], 50.0), 0.0);
    }

    #[test]
    fn json() {
        let mut j = Json::default();
        j.int("a", 1).num("b", 1.5).str("c", "x\"y");
        assert_eq!(j.finish(), r#"{"a":1,"b":1.5,"c":"x\"y"}"#);
    }
}
