//! The day of a message's `Date:` header for SENTBEFORE / SENTON /
//! SENTSINCE (RFC 9051 §6.4.4: "disregarding time and timezone", so the
//! calendar date as written in the header, not converted to UTC).
//!
//! The summary keeps the raw header value (ENVELOPE) and its UTC instant;
//! this reads the written date from the raw value (RFC 5322 §3.3, with the
//! obsolete two- and three-digit years of §4.3), falls back to the UTC
//! instant, and, for a message without a usable `Date:`, to INTERNALDATE
//! (as RFC 5256 does for SORT).

use pillarbox_imap_proto::Date;
use pillarbox_message::summary::Summary;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Days since 1970-01-01 of the message's sent date.
pub(super) fn sent_day(summary: &Summary, internal_date: i64) -> i64 {
    summary
        .envelope
        .date
        .as_deref()
        .and_then(written_day)
        .or_else(|| summary.date.map(|t| t.div_euclid(86_400)))
        .unwrap_or_else(|| internal_date.div_euclid(86_400))
}

/// `[day-of-week ","] day month year ...` → days since the epoch.
fn written_day(raw: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(raw).ok()?;
    let s = match s.find(',') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    let mut words = s.split_ascii_whitespace();
    let day: u8 = words.next()?.parse().ok()?;
    let month = words.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month)? as u8 + 1;
    let y = words.next()?;
    if !y.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = y.parse().ok()?;
    let year = match y.len() {
        // RFC 5322 §4.3: 00-49 are 2000-2049, 50-99 are 1950-1999;
        // three digits add 1900.
        2 if n < 50 => 2000 + n,
        2 | 3 => 1900 + n,
        4 => n,
        _ => return None,
    };
    Date::new(year, month, day).map(|d| d.days_since_epoch())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: u16, m: u8, d: u8) -> i64 {
        Date::new(y, m, d).unwrap().days_since_epoch()
    }

    #[test]
    fn written_dates() {
        assert_eq!(
            written_day(b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)"),
            Some(day(1994, 2, 7))
        );
        // Late evening in a western zone: still the written day.
        assert_eq!(
            written_day(b"Tue, 31 Dec 2024 23:30:00 -0500"),
            Some(day(2024, 12, 31))
        );
        assert_eq!(written_day(b"1 jan 99 00:00 +0000"), Some(day(1999, 1, 1)));
        assert_eq!(written_day(b"1 Jan 07 00:00 +0000"), Some(day(2007, 1, 1)));
        assert_eq!(written_day(b"1 Jan 107 00:00 +0000"), Some(day(2007, 1, 1)));
        assert_eq!(written_day(b"31 Feb 2024"), None);
        assert_eq!(written_day(b"garbage"), None);
        assert_eq!(written_day(b""), None);
    }

    #[test]
    fn fallbacks() {
        let mut s = Summary::default();
        assert_eq!(sent_day(&s, 3 * 86_400 + 5), 3);
        s.date = Some(86_400 * 10);
        assert_eq!(sent_day(&s, 0), 10);
        s.envelope.date = Some(b"Thu, 1 Jan 1970 23:00:00 -0500".to_vec());
        assert_eq!(sent_day(&s, 0), 0);
    }
}
